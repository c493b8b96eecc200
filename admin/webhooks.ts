// The admin command's webhook replay: queues again every event since a time for one endpoint (what
// `POST /v1/webhooks/{id}/replay` does for its workspace) and wakes its delivery workflow.
import type { Client } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { recordAudit } from '../db/audit.ts';
import { webhookEndpoints } from '../db/schema.ts';
import { queueReplay } from '../db/workspace-events.ts';
import { eventsKeptForMs } from '../domain/webhooks.ts';
import { wakeEndpoints } from '../events/webhook-pump.ts';
import type { AdminContext } from './context.ts';
import type { Print } from './epics.ts';
import { refusal, usageError } from './failures.ts';

export function checkSince(raw: string | undefined): Date {
  if (raw === undefined) throw usageError('replay-webhooks needs --since ISO (e.g. 2026-12-01T00:00:00Z)');
  const since = new Date(raw);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(raw) || Number.isNaN(since.getTime())) {
    throw usageError(`--since must be an ISO 8601 date-time, got "${raw}"`);
  }
  if (since.getTime() < Date.now() - eventsKeptForMs) {
    throw usageError('--since must be within the last 30 days (events are kept 30 days)');
  }
  if (since.getTime() > Date.now()) throw usageError('--since must not be in the future');
  return since;
}

export async function replayWebhooks(
  context: AdminContext,
  print: Print,
  webhookId: string,
  options: { since: Date; reason: string },
) {
  const [endpoint] = await context.db
    .select({ id: webhookEndpoints.id, workspaceId: webhookEndpoints.workspaceId, url: webhookEndpoints.url })
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.id, webhookId));
  if (!endpoint) throw refusal(`webhook ${webhookId} not found`);
  const queued = await queueReplay(context.db.$client, endpoint.id, options.since);
  await recordAudit(context.db, {
    workspaceId: endpoint.workspaceId,
    subjectType: 'webhook',
    subjectId: endpoint.id,
    action: 'replay_webhook',
    actor: context.actor,
    details: { since: options.since.toISOString(), queued, reason: options.reason },
  });
  const client: Client = await context.temporal();
  await wakeEndpoints(client, context.config.TEMPORAL_TASK_QUEUE, [endpoint.id]);
  print(
    `webhook ${endpoint.id} (${new URL(endpoint.url).origin}): ${queued} event(s) since ${options.since.toISOString()} queued again by ${context.actor} (reason: ${options.reason}); its delivery workflow was woken`,
  );
}
