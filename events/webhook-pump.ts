// Wakes the webhook delivery workflows. A transition's trigger notifies `workspace_events` when its
// transaction commits; each worker listens and tells the workflows of that workspace's endpoints (starting any
// that is not running). A notification can be missed (the worker was down, the connection was being
// re-established): every minute the pump also wakes every endpoint that has work, so a missed one delays a
// delivery by a minute at most and loses nothing. Several workers each wake the same workflows: a wake-up is
// idempotent.
import type { Client } from '@temporalio/client';
import type postgres from 'postgres';
import { endpointsOf, endpointsWithWork } from '../db/workspace-events.ts';
import {
  type WebhookDeliveryInput,
  webhookDeliveryWorkflowId,
  webhookDeliveryWorkflowType,
  webhookWakeSignal,
} from '../workflows/webhook-delivery-messages.ts';

export interface WebhookPumpLog {
  warn(message: string): void;
}

/** Wakes (or starts) the delivery workflow of each endpoint. */
export async function wakeEndpoints(client: Client, taskQueue: string, endpointIds: string[]): Promise<void> {
  await Promise.all(
    endpointIds.map((endpointId) =>
      client.workflow.signalWithStart(webhookDeliveryWorkflowType, {
        workflowId: webhookDeliveryWorkflowId(endpointId),
        taskQueue,
        args: [{ endpointId } satisfies WebhookDeliveryInput],
        signal: webhookWakeSignal,
        signalArgs: [],
        staticSummary: `Webhook deliveries of endpoint ${endpointId}`,
      }),
    ),
  );
}

export async function startWebhookPump(options: {
  sql: postgres.Sql;
  client: Client;
  taskQueue: string;
  log: WebhookPumpLog;
  /** How often every endpoint with work is woken whatever the notifications said. */
  sweepEveryMs?: number;
}): Promise<{ stop(): Promise<void> }> {
  const { sql, client, taskQueue, log } = options;
  const waiting = new Set<string>();
  let flushing: Promise<void> | null = null;
  let stopped = false;

  const wake = async (endpointIds: string[]) => {
    try {
      await wakeEndpoints(client, taskQueue, endpointIds);
    } catch (error) {
      // The sweep tries again within a minute.
      if (!stopped) log.warn(`could not wake webhook deliveries: ${(error as Error).message.split('\n')[0]}`);
    }
  };

  // Notifications of one workspace that arrive together wake its endpoints once.
  const flush = async () => {
    while (waiting.size > 0 && !stopped) {
      const workspaces = [...waiting];
      waiting.clear();
      for (const workspaceId of workspaces) {
        const endpoints = await endpointsOf(sql, workspaceId).catch(() => []);
        if (endpoints.length > 0) await wake(endpoints);
      }
    }
  };

  const listening = await sql.listen('workspace_events', (workspaceId) => {
    waiting.add(workspaceId);
    flushing ??= flush().finally(() => {
      flushing = null;
    });
  });

  const sweep = async () => {
    try {
      const endpoints = await endpointsWithWork(sql);
      if (endpoints.length > 0) await wake(endpoints);
    } catch (error) {
      if (!stopped) log.warn(`could not look for webhook work: ${(error as Error).message.split('\n')[0]}`);
    }
  };
  const timer = setInterval(sweep, options.sweepEveryMs ?? 60_000);
  timer.unref();
  void sweep();

  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await listening.unlisten().catch(() => {});
      await flushing;
    },
  };
}
