// The API's side of the connector workflows: (re)connecting a connector with expiring credentials starts its
// token-refresh workflow or tells the running one (`reconnected`); an API-key connector gets a Schedule that
// checks its credentials periodically; disconnecting ends both.
import {
  Client,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { connectorSearchAttributes } from '../domain/search-attributes.ts';
import {
  type ConnectorCheckInput,
  connectorCheckScheduleId,
  connectorCheckWorkflowType,
} from '../workflows/connector-check-messages.ts';
import {
  type ConnectorSyncInput,
  connectorSyncScheduleId,
  connectorSyncWorkflowType,
} from '../workflows/connector-sync-messages.ts';
import {
  type ConnectorTokenInput,
  connectorTokenWorkflowId,
  connectorTokenWorkflowType,
  disconnectedSignal,
  reconnectedSignal,
} from '../workflows/connector-token-messages.ts';
import type { TemporalLink } from './temporal.ts';

export interface ConnectorWorkflows {
  connected(connector: { id: string; workspaceId: string; platform: string }): Promise<void>;
  /** Keeps one Schedule per API-key connector checking its credentials. */
  apiKeyConnected(connector: { id: string; workspaceId: string; platform: string }): Promise<void>;
  disconnected(connectorId: string): Promise<void>;
  /** Keeps one Schedule per data connector syncing its enabled accounts. */
  dataConnected(connector: { id: string; workspaceId: string; platform: string }): Promise<void>;
  /** Runs the data connector's sync now (its accounts were just chosen). */
  syncNow(connectorId: string): Promise<void>;
}

export function createConnectorWorkflows(
  temporal: TemporalLink,
  options: { namespace: string; taskQueue: string; checkIntervalMs: number; syncIntervalMs: number },
): ConnectorWorkflows {
  const client = async () =>
    new Client({ connection: await temporal.connection(), namespace: options.namespace });
  return {
    async connected(connector) {
      const input: ConnectorTokenInput = {
        connectorId: connector.id,
        workspaceId: connector.workspaceId,
        obtainedAt: new Date().toISOString(),
      };
      // Starts the workflow, or signals the one already waiting for a reconnect.
      await (await client()).workflow.signalWithStart(connectorTokenWorkflowType, {
        workflowId: connectorTokenWorkflowId(connector.id),
        taskQueue: options.taskQueue,
        args: [input],
        signal: reconnectedSignal,
        staticSummary: `Keeps the ${connector.platform} connector's token fresh`,
        typedSearchAttributes: [
          { key: connectorSearchAttributes.ConnectorId, value: connector.id },
          { key: connectorSearchAttributes.WorkspaceId, value: connector.workspaceId },
          { key: connectorSearchAttributes.ConnectorStatus, value: 'connected' },
        ],
      });
    },
    async apiKeyConnected(connector) {
      try {
        await (await client()).schedule.create({
          scheduleId: connectorCheckScheduleId(connector.id),
          spec: { intervals: [{ every: options.checkIntervalMs }] },
          action: {
            type: 'startWorkflow',
            workflowType: connectorCheckWorkflowType,
            workflowId: connectorCheckScheduleId(connector.id),
            taskQueue: options.taskQueue,
            args: [{ connectorId: connector.id } satisfies ConnectorCheckInput],
            staticSummary: `Checks the ${connector.platform} connector's API key`,
          },
          state: { note: `workspace ${connector.workspaceId}, ${connector.platform}` },
        });
      } catch (error) {
        // A reconnect keeps the schedule it already has.
        if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      }
    },
    async dataConnected(connector) {
      try {
        await (await client()).schedule.create({
          scheduleId: connectorSyncScheduleId(connector.id),
          spec: { intervals: [{ every: options.syncIntervalMs }] },
          action: {
            type: 'startWorkflow',
            workflowType: connectorSyncWorkflowType,
            workflowId: connectorSyncScheduleId(connector.id),
            taskQueue: options.taskQueue,
            args: [
              { connectorId: connector.id, intervalMs: options.syncIntervalMs } satisfies ConnectorSyncInput,
            ],
            staticSummary: `Syncs the ${connector.platform} connector's data`,
          },
          state: { note: `workspace ${connector.workspaceId}, ${connector.platform}` },
        });
      } catch (error) {
        if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      }
    },
    async syncNow(connectorId) {
      try {
        await (await client()).schedule.getHandle(connectorSyncScheduleId(connectorId)).trigger();
      } catch (error) {
        if (!(error instanceof ScheduleNotFoundError)) throw error;
      }
    },
    async disconnected(connectorId) {
      const temporalClient = await client();
      // Each step on its own: a failure to signal must not leave the schedules running, nor the reverse.
      const steps = [
        temporalClient.workflow
          .getHandle(connectorTokenWorkflowId(connectorId))
          .signal(disconnectedSignal)
          .catch((error: unknown) => {
            if (!(error instanceof WorkflowNotFoundError)) throw error;
          }),
        ...[connectorCheckScheduleId(connectorId), connectorSyncScheduleId(connectorId)].map((scheduleId) =>
          temporalClient.schedule
            .getHandle(scheduleId)
            .delete()
            .catch((error: unknown) => {
              if (!(error instanceof ScheduleNotFoundError)) throw error;
            }),
        ),
      ];
      const failed = (await Promise.allSettled(steps)).find((step) => step.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
