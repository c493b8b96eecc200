// The credential check's contract, shared by the workflow and the API that schedules it.
export const connectorCheckWorkflowType = 'connectorCredentialCheck';
/** The Schedule's id, which is also the id of the runs it starts. */
export const connectorCheckScheduleId = (connectorId: string) => `connector-check-${connectorId}`;

export interface ConnectorCheckInput {
  connectorId: string;
}

/** `unknown`: the platform could not be asked through every attempt; the next run asks again. */
export type ConnectorCheckOutcome = 'ok' | 'refused' | 'not_connected' | 'unknown';
