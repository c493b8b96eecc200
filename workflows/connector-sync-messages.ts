// The data sync's contract, shared by the workflow and the API that schedules it.
export const connectorSyncWorkflowType = 'connectorSync';
/** The Schedule's id, which is also the id of the runs it starts. */
export const connectorSyncScheduleId = (connectorId: string) => `connector-sync-${connectorId}`;

export interface ConnectorSyncInput {
  connectorId: string;
  intervalMs: number;
}

/** How many enabled accounts the run read, failed to read, or skipped (not due yet). */
export interface ConnectorSyncOutcome {
  completed: number;
  failed: number;
  skipped: number;
}
