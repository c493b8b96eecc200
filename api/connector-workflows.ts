// The API's side of the token-refresh workflow: (re)connecting a connector with expiring credentials starts
// its workflow or tells the running one (`reconnected`); disconnecting tells it to end.
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { connectorSearchAttributes } from '../domain/search-attributes.ts';
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
  disconnected(connectorId: string): Promise<void>;
}

export function createConnectorWorkflows(
  temporal: TemporalLink,
  options: { namespace: string; taskQueue: string },
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
    async disconnected(connectorId) {
      try {
        await (await client()).workflow
          .getHandle(connectorTokenWorkflowId(connectorId))
          .signal(disconnectedSignal);
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
    },
  };
}
