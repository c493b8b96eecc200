// Delivering a webhook endpoint's events: number the workspace's new events, queue those the endpoint takes,
// then send what is due, the first pending event of each epic (or connector) at a time, signed as Standard
// Webhooks lays out. The receiver is a URL a customer typed: every request goes through the host guard
// WordPress uses (no private, loopback or metadata address, checked as the socket connects), redirects are not
// followed, and each answer is bounded in time.
import { Context } from '@temporalio/activity';
import type postgres from 'postgres';
import type { CredentialsKeys } from '../config.ts';
import { type HostGuard, HostRefusedError, pinnedFetch, systemLookup } from '../connectors/public-hosts.ts';
import { openCredentials } from '../db/credentials-codec.ts';
import {
  type DueDelivery,
  dueDeliveries,
  hasUnsequencedEvents,
  loadEndpoint,
  nextDeliveryDue,
  queueDeliveries,
  recordDelivered,
  recordFailedTry,
  sequenceEvents,
} from '../db/workspace-events.ts';
import { deliveryGivesUpAfterMs, retryDelayMs, signedHeaders } from '../domain/webhooks.ts';
import type { WorkerMetrics } from '../observability/metrics.ts';
import type { DeliveryRound } from '../workflows/webhook-delivery-messages.ts';

export interface WebhookActivityDependencies {
  sql: postgres.Sql;
  credentialsKeys: CredentialsKeys;
  allowPrivateHosts: boolean;
  metrics: WorkerMetrics;
  /** Tests stub DNS; default: the system resolver. */
  lookup?: HostGuard['lookup'];
}

/** A receiver gets this long to answer one delivery. */
const answerWithinMs = 10_000;
/** One round sends for at most this long, then reports, so the workflow's history shows progress. */
const roundBudgetMs = 30_000;
/** Deliveries of different epics sent at once to one endpoint. */
const concurrency = 4;

/** What a signing secret is bound to when sealed: its endpoint. */
export const secretBinding = (endpointId: string) => `webhook-endpoint:${endpointId}`;

export function createWebhookActivities({
  sql,
  credentialsKeys,
  allowPrivateHosts,
  metrics,
  lookup = systemLookup,
}: WebhookActivityDependencies) {
  const send = pinnedFetch({ allowPrivateHosts, lookup })({
    message: 'the webhook URL resolves to a private, loopback or link-local address',
    unknownHost: 'transient',
  });

  async function deliverOne(
    endpoint: { id: string; workspaceId: string; url: string },
    secret: string,
    delivery: DueDelivery,
  ): Promise<boolean> {
    const body = JSON.stringify({
      id: delivery.eventId,
      type: delivery.type,
      timestamp: delivery.eventCreatedAt.toISOString(),
      workspaceId: endpoint.workspaceId,
      sequence: delivery.sequence,
      data: delivery.data,
    });
    let failure: { statusCode: number | null; error: string };
    try {
      // Stored while WEBHOOK_ALLOW_PRIVATE_HOSTS was on: plain http is not sent where it is off.
      if (!allowPrivateHosts && new URL(endpoint.url).protocol !== 'https:') {
        throw new HostRefusedError('the webhook URL is not https');
      }
      const response = await send(endpoint.url, {
        method: 'POST',
        headers: {
          ...signedHeaders(secret, { id: delivery.eventId, body }, new Date()),
          'user-agent': 'Glowtify-Webhooks/1',
        },
        body,
        signal: AbortSignal.timeout(answerWithinMs),
      });
      // Never read: the answer's body means nothing here, and a large or compressed one must not cost memory.
      await response.body?.cancel().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) {
        await recordDelivered(sql, delivery.id, response.status);
        metrics.webhookDelivery('delivered');
        return true;
      }
      failure = { statusCode: response.status, error: `the receiver answered ${response.status}` };
    } catch (error) {
      const reason =
        error instanceof HostRefusedError
          ? error.message
          : (error as Error).name === 'TimeoutError'
            ? `no answer within ${answerWithinMs / 1000} s`
            : (((error as Error).cause as Error | undefined)?.message ?? (error as Error).message);
      failure = { statusCode: null, error: reason };
    }
    // A day from when it was queued, however long an earlier event of its epic held it back.
    const giveUp = Date.now() - delivery.createdAt.getTime() >= deliveryGivesUpAfterMs;
    await recordFailedTry(sql, delivery.id, {
      ...failure,
      retryInMs: retryDelayMs(delivery.attempts + 1),
      giveUp,
    });
    metrics.webhookDelivery(giveUp ? 'failed' : 'retrying');
    Context.current().log.warn('webhook delivery failed', {
      endpointId: endpoint.id,
      workspaceId: endpoint.workspaceId,
      epicId: delivery.data.epicId,
      eventType: delivery.type,
      sequence: delivery.sequence,
      attempt: delivery.attempts + 1,
      reason: failure.error,
      gaveUp: giveUp,
    });
    return false;
  }

  return {
    async deliverWebhooks({ endpointId }: { endpointId: string }): Promise<DeliveryRound> {
      const context = Context.current();
      const endpoint = await loadEndpoint(sql, endpointId);
      if (!endpoint)
        return { gone: true, nextAttemptAt: null, unnumbered: false, delivered: 0, failedTries: 0 };
      const secret = openCredentials<string>(credentialsKeys, secretBinding(endpoint.id), {
        keyId: endpoint.secretKeyId,
        ciphertext: endpoint.secret,
      });
      await sequenceEvents(sql, endpoint.workspaceId);
      await queueDeliveries(sql, endpoint.id);
      const endsAt = Date.now() + roundBudgetMs;
      let delivered = 0;
      let failedTries = 0;
      while (Date.now() < endsAt && !context.cancellationSignal.aborted) {
        const due = await dueDeliveries(sql, endpoint.id, concurrency);
        if (due.length === 0) break;
        context.heartbeat();
        // Each is the first pending delivery of its epic: sending them together keeps every epic's order.
        const results = await Promise.all(due.map((delivery) => deliverOne(endpoint, secret, delivery)));
        delivered += results.filter(Boolean).length;
        failedTries += results.filter((ok) => !ok).length;
      }
      const next = await nextDeliveryDue(sql, endpoint.id);
      return {
        gone: false,
        nextAttemptAt: next?.toISOString() ?? null,
        unnumbered: await hasUnsequencedEvents(sql, endpoint.workspaceId),
        delivered,
        failedTries,
      };
    },
  };
}

export type WebhookActivities = ReturnType<typeof createWebhookActivities>;
