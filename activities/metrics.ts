// Reading published items' performance back (SPEC §5 "Analytics"): each publication of an epic is read on its
// channel's schedule (domain/metrics.ts), its connector's items in one batched call, and every value stored as
// one row per metric and reading. A platform that says an item is gone stops its readings; a rate limit
// delays them; a failure never touches the connector's status unless the platform refused the token for good.
import { Context } from '@temporalio/activity';
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { and, asc, eq, isNotNull, isNull, lte, sql } from 'drizzle-orm';
import type { CredentialsKeys } from '../config.ts';
import type { AdapterRegistry } from '../connectors/registry.ts';
import type { MetricsAnswer, MetricsItem } from '../connectors/types.ts';
import type { Database } from '../db/client.ts';
import { openConnectorCredentials } from '../db/connectors/credentials.ts';
import { flagReconnectRequired } from '../db/connectors/transitions.ts';
import {
  type ConnectorRow,
  connectorAccounts,
  connectors,
  publicationMetrics,
  publications,
  tasks,
} from '../db/schema.ts';
import type { Channel } from '../domain/channels.ts';
import { readingSchedules } from '../domain/metrics.ts';
import { PlatformError, type PublicationFailure, reconnectClasses } from '../domain/publication-errors.ts';
import type { epicMetrics } from '../workflows/epic-metrics.ts';
import {
  epicMetricsSummary,
  epicMetricsWorkflowId,
  epicMetricsWorkflowType,
  itemsPublishedSignal,
} from '../workflows/epic-metrics-messages.ts';
import { expiredButRenewable } from './connector-token.ts';
import type { PublishPolicy } from './epic.ts';

const minuteMs = 60_000;
const hourMs = 60 * minuteMs;
const dayMs = 24 * hourMs;
/** A read that failed (or an item the platform left out) is first asked again this much later. */
const retryReadingMs = 15 * minuteMs;
/** Failures in a row, for a reason that will not pass by itself, before a reading is given up. */
const failuresBeforeGivingUp = 4;
/** The most items one adapter call gets; adapters split further as their platform allows. */
const itemsPerCall = 100;

export interface MetricsActivityDependencies {
  db: Database;
  credentialsKeys: CredentialsKeys;
  adapters: AdapterRegistry;
  policy?: Pick<PublishPolicy, 'metricsScheduleScale'>;
}

export interface EpicMetricsRound {
  /** Items read this round (with values, deleted, or unavailable). */
  read: number;
  /** When the next reading of the epic is due; null when none is left. */
  nextDueAt: string | null;
}

/** When a publication's reading number `index` (0-based) is due, or null when its schedule has ended. */
function dueAt(channel: Channel, since: Date, index: number, scale: number): Date | null {
  const delay = readingSchedules[channel][index];
  return delay === undefined ? null : new Date(since.getTime() + Math.round(delay * scale));
}

/**
 * What enrols a publication published at `since` in the readings (the columns a round's enrolment writes),
 * or null when its channel is not read.
 */
export function metricsEnrolment(channel: Channel, since: Date, scale: number) {
  const first = dueAt(channel, since, 0, scale);
  return first ? { metricsState: 'reading' as const, metricsSince: since, metricsDueAt: first } : null;
}

/**
 * Starts an epic's metrics workflow from an activity, its first round delayed until the first reading is due
 * (`delayMs`): at the instant a burst publishes, the workflow costs the server one start and the workers
 * nothing. Already running (a retry published more): it is told, as the epic run's own start would do (a round
 * runs at once; one still waiting for its first reading keeps waiting, and the items enrolled at their
 * publication are due then). Throws when neither could be done; the caller then leaves the start to the run.
 */
export async function startEpicMetrics(
  client: Client,
  input: { epicId: string; taskQueue: string; delayMs: number },
) {
  const workflowId = epicMetricsWorkflowId(input.epicId);
  try {
    await client.workflow.start<typeof epicMetrics>(epicMetricsWorkflowType, {
      workflowId,
      taskQueue: input.taskQueue,
      args: [{ epicId: input.epicId }],
      startDelay: Math.max(0, Math.round(input.delayMs)),
      staticSummary: epicMetricsSummary(input.epicId),
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    await client.workflow.getHandle(workflowId).signal(itemsPublishedSignal);
  }
}

export function createMetricsActivities({
  db,
  credentialsKeys,
  adapters,
  policy,
}: MetricsActivityDependencies) {
  const scale = policy?.metricsScheduleScale ?? 1;
  /** Publications published since the last round join the schedule (those whose channel is read at all). */
  async function enrol(epicId: string, at: Date) {
    const fresh = await db
      .select({ id: publications.id, channel: tasks.channel })
      .from(publications)
      .innerJoin(tasks, eq(tasks.id, publications.taskId))
      .where(
        and(
          eq(publications.epicId, epicId),
          eq(publications.status, 'published'),
          isNotNull(publications.externalId),
          isNull(publications.metricsState),
        ),
      );
    for (const row of fresh) {
      // Counted from the round that found it, on the workflow's clock (right after its publication).
      const enrolment = metricsEnrolment(row.channel, at, scale);
      if (!enrolment) continue;
      await db
        .update(publications)
        .set(enrolment)
        .where(and(eq(publications.id, row.id), isNull(publications.metricsState)));
    }
  }

  type DueItem = MetricsItem & { readings: number; since: Date; failures: number };

  /**
   * Where an item's schedule goes after a reading at `at`: to its first point still ahead, so readings missed
   * while it could not be read (an outage, a disconnection) are not fired back to back.
   */
  function advance(item: DueItem, at: Date) {
    let index = item.readings + 1;
    let next = dueAt(item.channel, item.since, index, scale);
    while (next && next.getTime() <= at.getTime()) {
      index += 1;
      next = dueAt(item.channel, item.since, index, scale);
    }
    return { index, next };
  }

  /** What one reading gave an item: its values stored, its next reading set (or its schedule ended). */
  async function record(item: DueItem, answer: MetricsAnswer | undefined, at: Date) {
    if (answer === undefined) {
      // Left out of the answer (the platform stopped part-way): asked again, as after a failed read.
      await failed(item, { class: 'TRANSIENT', message: 'the platform did not answer for it' }, at);
      return;
    }
    if (answer.state === 'not_read') {
      // A throttle part-way through the batch: asked again after the wait it named.
      await failed(item, answer.failure, at);
      return;
    }
    if (answer.state === 'deleted') {
      await db
        .update(publications)
        .set({
          metricsState: 'deleted',
          metricsDueAt: null,
          metricsReadAt: at,
          metricsFailures: 0,
          metricsNote: 'deleted on the platform',
        })
        .where(eq(publications.id, item.publicationId));
      return;
    }
    const { index, next } = advance(item, at);
    await db.transaction(async (tx) => {
      const [publication] = await tx
        .update(publications)
        .set({
          metricsState: next ? 'reading' : 'done',
          metricsDueAt: next,
          metricsReadings: index,
          metricsReadAt: at,
          metricsFailures: 0,
          metricsNote: answer.state === 'unavailable' ? answer.reason : null,
        })
        .where(eq(publications.id, item.publicationId))
        .returning({ workspaceId: publications.workspaceId, epicId: publications.epicId });
      if (!publication || answer.state !== 'read' || answer.metrics.length === 0) return;
      await tx
        .insert(publicationMetrics)
        .values(
          answer.metrics.map((reading) => ({
            workspaceId: publication.workspaceId,
            epicId: publication.epicId,
            publicationId: item.publicationId,
            metric: reading.metric,
            platformMetric: reading.platformMetric,
            value: reading.value,
            currency: reading.currency ?? null,
            readAt: at,
          })),
        )
        .onConflictDoNothing();
    });
  }

  /**
   * A read of this item failed: it waits longer after each failure in a row (a throttle at least the time
   * the platform names), and a reading that keeps failing for a reason that will not pass by itself (a
   * refusal, a connector left disconnected) is given up for its next point of the schedule.
   */
  async function failed(item: DueItem, failure: PublicationFailure, at: Date) {
    const failures = item.failures + 1;
    const passing = failure.class === 'TRANSIENT' || failure.class === 'RATE_LIMITED';
    if (!passing && failures >= failuresBeforeGivingUp) {
      const { index, next } = advance(item, at);
      await db
        .update(publications)
        .set({
          metricsState: next ? 'reading' : 'done',
          metricsDueAt: next,
          metricsReadings: index,
          metricsFailures: 0,
          metricsNote: `not read: ${failure.message}`,
        })
        .where(eq(publications.id, item.publicationId));
      return;
    }
    const backoffMs =
      failure.class === 'RATE_LIMITED'
        ? Math.max(failure.retryAfterMs ?? 0, Math.min(hourMs, minuteMs * 2 ** (failures - 1)))
        : Math.min(dayMs, retryReadingMs * 4 ** (failures - 1));
    await db
      .update(publications)
      .set({ metricsDueAt: new Date(at.getTime() + backoffMs), metricsFailures: failures })
      .where(eq(publications.id, item.publicationId));
  }

  /** The whole read refused: each item waits (see `failed`); the connector shows why. */
  async function readFailed(
    connector: ConnectorRow,
    items: DueItem[],
    failure: PublicationFailure,
    at: Date,
  ) {
    for (const item of items) await failed(item, failure, at);
    const now = new Date();
    await db.transaction(async (tx) => {
      await tx
        .update(connectors)
        .set({ metricsError: { class: failure.class, message: failure.message, at: now.toISOString() } })
        .where(eq(connectors.id, connector.id));
      // A token refused for good is a dead connection whatever call learnt it; a token that merely expired
      // before its renewal (which its refresh workflow still makes) is not. Judged on the real clock: a
      // retried round carries the time it was first scheduled for.
      const definitive =
        reconnectClasses.includes(failure.class) &&
        !expiredButRenewable(adapters, credentialsKeys, connector, failure, now);
      if (definitive) {
        await flagReconnectRequired(tx, connector, failure, 'metrics', now, {
          ...(connector.credentials ? { onlyIfCredentials: connector.credentials } : {}),
        });
      }
    });
  }

  /** Reads one connector's due items of the epic, in calls of at most `itemsPerCall`. */
  async function readConnector(connector: ConnectorRow, items: DueItem[], at: Date) {
    const adapter = adapters[connector.platform];
    if (!adapter?.collectMetrics) {
      // Nothing reads this platform's items in this build: their schedule ends rather than spinning.
      for (const item of items) {
        await record(
          item,
          { state: 'unavailable', reason: `${connector.platform} metrics are not read` },
          at,
        );
      }
      return;
    }
    if (connector.status !== 'connected' || !connector.credentials) {
      await readFailed(
        connector,
        items,
        {
          class: 'TRANSIENT',
          message: `the ${connector.platform} connector is ${connector.status.replace('_', ' ')}`,
        },
        at,
      );
      return;
    }
    const credentials = openConnectorCredentials(credentialsKeys, connector);
    for (let start = 0; start < items.length; start += itemsPerCall) {
      const batch = items.slice(start, start + itemsPerCall);
      let answers: Record<string, MetricsAnswer>;
      try {
        answers = await adapter.collectMetrics({
          credentials,
          items: batch.map(({ readings: _readings, since: _since, failures: _failures, ...item }) => item),
          signal: Context.current().cancellationSignal,
        });
      } catch (error) {
        if (!(error instanceof PlatformError)) throw error;
        await readFailed(connector, items.slice(start), error.failure, at);
        return;
      }
      const missingScopes = new Set<string>();
      for (const item of batch) {
        const answer = answers[item.publicationId];
        if (answer?.state === 'unavailable')
          for (const scope of answer.missingScopes ?? []) missingScopes.add(scope);
        await record(item, answer, at);
      }
      // Scopes found missing are added, never dropped by a batch that did not need them: only a new grant
      // (a reconnect) clears them.
      const known = (
        await db
          .select({ scopes: connectors.insightsMissingScopes })
          .from(connectors)
          .where(eq(connectors.id, connector.id))
      )[0]?.scopes;
      await db
        .update(connectors)
        .set({
          metricsSyncedAt: at,
          metricsError: null,
          insightsMissingScopes: [...new Set([...(known ?? []), ...missingScopes])].sort(),
        })
        .where(eq(connectors.id, connector.id));
    }
  }

  return {
    /**
     * One round of an epic's readings: enrols what was published since the last round, reads every item due
     * (grouped by connector), and says when the next reading is due.
     */
    async collectEpicMetrics(input: {
      epicId: string;
      /** The workflow's time: readings fall due by it (so a time-skipping test server runs the 30 days). */
      at: string;
    }): Promise<EpicMetricsRound> {
      const at = new Date(input.at);
      await enrol(input.epicId, at);
      const due = await db
        .select({ publication: publications, task: tasks, connector: connectors, account: connectorAccounts })
        .from(publications)
        .innerJoin(tasks, eq(tasks.id, publications.taskId))
        .innerJoin(connectors, eq(connectors.id, tasks.connectorId))
        .leftJoin(connectorAccounts, eq(connectorAccounts.id, tasks.accountId))
        .where(
          and(
            eq(publications.epicId, input.epicId),
            eq(publications.metricsState, 'reading'),
            lte(publications.metricsDueAt, at),
          ),
        )
        .orderBy(asc(publications.metricsDueAt));
      const byConnector = new Map<string, { connector: ConnectorRow; items: DueItem[] }>();
      for (const { publication, task, connector, account } of due) {
        const group = byConnector.get(connector.id) ?? { connector, items: [] };
        group.items.push({
          publicationId: publication.id,
          taskId: task.id,
          channel: task.channel,
          account: account
            ? { kind: account.kind, externalId: account.externalId, metadata: account.metadata }
            : null,
          externalId: publication.externalId!,
          publishedAt: publication.publishedAt!,
          progress: publication.progress,
          readings: publication.metricsReadings,
          failures: publication.metricsFailures,
          since: publication.metricsSince ?? publication.publishedAt!,
        });
        byConnector.set(connector.id, group);
      }
      for (const { connector, items } of byConnector.values()) await readConnector(connector, items, at);
      const [next] = await db
        .select({ at: sql<Date | null>`min(${publications.metricsDueAt})` })
        .from(publications)
        .where(and(eq(publications.epicId, input.epicId), eq(publications.metricsState, 'reading')));
      const nextDueAt = next?.at ? new Date(next.at) : null;
      return { read: due.length, nextDueAt: nextDueAt ? nextDueAt.toISOString() : null };
    },
  };
}

export type MetricsActivities = ReturnType<typeof createMetricsActivities>;
