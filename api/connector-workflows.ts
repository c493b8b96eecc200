// The API's side of the connector workflows: (re)connecting a connector with expiring credentials starts its
// token-refresh workflow or tells the running one (`reconnected`); an API-key connector gets a Schedule that
// checks its credentials periodically; disconnecting ends both. Each run starts with a summary naming the
// connector's platform, accounts and workspace (domain/workflow-summaries.ts).
import {
  Client,
  ScheduleAlreadyRunning,
  type ScheduleHandle,
  ScheduleNotFoundError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { connectorSearchAttributes } from '../domain/search-attributes.ts';
import {
  type ConnectorSummaryFacts,
  connectorCheckWorkflowTexts,
  connectorFactsUnknown,
  connectorSyncWorkflowTexts,
  connectorTokenWorkflowTexts,
  type WorkflowTexts,
} from '../domain/workflow-summaries.ts';
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
import type { SummaryFacts } from './workflow-summary-facts.ts';

export interface ConnectorWorkflows {
  connected(connector: { id: string; workspaceId: string; platform: string }): Promise<void>;
  /** Keeps one Schedule per API-key connector checking its credentials. */
  apiKeyConnected(connector: { id: string; workspaceId: string; platform: string }): Promise<void>;
  disconnected(connectorId: string): Promise<void>;
  /** Keeps one Schedule per data connector syncing its enabled accounts. */
  dataConnected(connector: { id: string; workspaceId: string; platform: string }): Promise<void>;
  /** Runs the data connector's sync now (its accounts were just chosen: the runs' summary names them). */
  syncNow(connectorId: string): Promise<void>;
}

/**
 * A run's summary and details, the summary in its memo as well: a run continued as new (the token workflow
 * after each renewal) keeps its memo, not its static summary (the SDK cannot set one on continue-as-new).
 */
const withMemo = (texts: WorkflowTexts) => ({ ...texts, memo: { summary: texts.staticSummary } });

/**
 * Gives the runs a Schedule starts from now on another summary (the accounts changed); a Schedule deleted
 * meanwhile (a disconnect) is left alone.
 */
async function retitle(handle: ScheduleHandle, texts: WorkflowTexts) {
  try {
    await handle.update((previous) => {
      if (previous.action.type !== 'startWorkflow')
        throw new Error(`${handle.scheduleId} starts no workflow`);
      // The action as created, its texts replaced (its priority left out: none is ever set, and the
      // description's empty one would come back as zeros).
      const { priority: _none, ...action } = previous.action;
      return { ...previous, action: { ...action, ...withMemo(texts) } };
    });
  } catch (error) {
    if (!(error instanceof ScheduleNotFoundError)) throw error;
  }
}

export function createConnectorWorkflows(
  temporal: TemporalLink,
  options: {
    namespace: string;
    taskQueue: string;
    checkIntervalMs: number;
    syncIntervalMs: number;
    /** Where a run's summary reads the connector's accounts and workspace; without it, it names ids. */
    summaryFacts?: SummaryFacts;
  },
): ConnectorWorkflows {
  const client = async () =>
    new Client({ connection: await temporal.connection(), namespace: options.namespace });
  const factsOf = async (connector: {
    id: string;
    workspaceId: string;
    platform: string;
  }): Promise<ConnectorSummaryFacts> =>
    (await options.summaryFacts?.connector(connector.id)) ?? connectorFactsUnknown(connector);
  return {
    async connected(connector) {
      const input: ConnectorTokenInput = {
        connectorId: connector.id,
        workspaceId: connector.workspaceId,
        obtainedAt: new Date().toISOString(),
      };
      // Starts the workflow, or signals the one already waiting for a reconnect (which keeps its summary).
      await (await client()).workflow.signalWithStart(connectorTokenWorkflowType, {
        workflowId: connectorTokenWorkflowId(connector.id),
        taskQueue: options.taskQueue,
        args: [input],
        signal: reconnectedSignal,
        ...withMemo(connectorTokenWorkflowTexts(await factsOf(connector))),
        typedSearchAttributes: [
          { key: connectorSearchAttributes.ConnectorId, value: connector.id },
          { key: connectorSearchAttributes.WorkspaceId, value: connector.workspaceId },
          { key: connectorSearchAttributes.ConnectorStatus, value: 'connected' },
        ],
      });
    },
    async apiKeyConnected(connector) {
      const texts = connectorCheckWorkflowTexts(await factsOf(connector), options.checkIntervalMs);
      const temporalClient = await client();
      try {
        await temporalClient.schedule.create({
          scheduleId: connectorCheckScheduleId(connector.id),
          spec: { intervals: [{ every: options.checkIntervalMs }] },
          action: {
            type: 'startWorkflow',
            workflowType: connectorCheckWorkflowType,
            workflowId: connectorCheckScheduleId(connector.id),
            taskQueue: options.taskQueue,
            args: [{ connectorId: connector.id } satisfies ConnectorCheckInput],
            ...withMemo(texts),
          },
          state: { note: `workspace ${connector.workspaceId}, ${connector.platform}` },
        });
      } catch (error) {
        // A reconnect keeps the schedule it already has, its runs named after the accounts found now.
        if (!(error instanceof ScheduleAlreadyRunning)) throw error;
        await retitle(temporalClient.schedule.getHandle(connectorCheckScheduleId(connector.id)), texts);
      }
    },
    async dataConnected(connector) {
      const texts = connectorSyncWorkflowTexts(await factsOf(connector), options.syncIntervalMs);
      const temporalClient = await client();
      try {
        await temporalClient.schedule.create({
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
            ...withMemo(texts),
          },
          state: { note: `workspace ${connector.workspaceId}, ${connector.platform}` },
        });
      } catch (error) {
        if (!(error instanceof ScheduleAlreadyRunning)) throw error;
        await retitle(temporalClient.schedule.getHandle(connectorSyncScheduleId(connector.id)), texts);
      }
    },
    async syncNow(connectorId) {
      const handle = (await client()).schedule.getHandle(connectorSyncScheduleId(connectorId));
      try {
        // The accounts were just chosen: the run triggered now, and those after it, name them.
        const facts = await options.summaryFacts?.connector(connectorId);
        if (facts) await retitle(handle, connectorSyncWorkflowTexts(facts, options.syncIntervalMs));
        await handle.trigger();
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
