// The epic workflow's activities: every db write of its state changes, and every platform call through
// the adapters. The duplicate guards live here: a publication with an external id is never sent again, and
// what an adapter learns mid-way (an Instagram container, a Klaviyo campaign) is saved before its next call
// and survives every transition. The fences live here too: an attempt whose schedule was withdrawn, or whose
// connector was disconnected, stops before the request that would make it live.
import { createHash, randomUUID } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { and, asc, eq, inArray, isNull, lt, ne, notInArray, sql } from 'drizzle-orm';
import type { CredentialsKeys } from '../config.ts';
import type { AdapterRegistry } from '../connectors/registry.ts';
import type { PlatformAdapter, PublicationContext, PublicationProgress } from '../connectors/types.ts';
import { recordAudit } from '../db/audit.ts';
import type { Database, Executor } from '../db/client.ts';
import { clearPreflightRisk, flagPreflightRisk, notifyAtRisk } from '../db/connectors/at-risk.ts';
import { openConnectorCredentials } from '../db/connectors/credentials.ts';
import { flagReconnectRequired, warnBeyondExpiry } from '../db/connectors/transitions.ts';
import {
  completeEpicWithLastPublication,
  everyPublicationPublished,
  writeEpicTransition,
} from '../db/epic-transitions.ts';
import {
  type ConnectorRow,
  connectorAccounts,
  connectors,
  type EpicRow,
  epics,
  publications,
  type TaskRow,
  tasks,
} from '../db/schema.ts';
import { type Channel, channelFacts, type Platform } from '../domain/channels.ts';
import type { TaskContent } from '../domain/content.ts';
import type { EpicStatus } from '../domain/epic-state-machine.ts';
import {
  HandOffLockedError,
  nonRetryableClasses,
  PlatformError,
  type PublicationFailure,
  reconnectClasses,
} from '../domain/publication-errors.ts';
import type { PublicationStatus } from '../domain/publications.ts';
import { isValidTimeZone } from '../domain/time.ts';
import { applyUtm, epicSlug, utmCampaignKey } from '../domain/utm.ts';
import { createWorkerMetrics, type WorkerMetrics } from '../observability/metrics.ts';
import { attemptHolder, createCallTurns } from './call-turns.ts';
import { expiredButRenewable, isRenewable } from './connector-token.ts';
import { awaitingFinalId } from './follow-up.ts';
import { metricsEnrolment, startEpicMetrics } from './metrics.ts';

export interface PublishPolicy {
  attemptsLimit: number;
  initialIntervalMs: number;
  maxIntervalMs: number;
  backoff: number;
  heartbeatTimeoutMs: number;
  confirmationWindowMs: number;
  confirmPollMs: number;
  /** Past its time by this much, a hand-off still waiting on the platform's scheduler is published by request. */
  missedScheduleGraceMs: number;
  errorRunOpenMs: number;
  /** A rate-limit wait that would publish later than scheduledAt + this fails instead (RATE_LIMITED). */
  maxLatenessMs: number;
  /** The longest an unschedule, edit or reschedule may take in the workflow. */
  transitionTimeoutMs: number;
  /** How long before the time the soft publications are checked again (absent from plans of older workers). */
  preflightAheadMs?: number;
  /**
   * How long before the time soft publications whose adapter can `prepare` are prepared (absent from plans of
   * older workers, and then never prepared ahead).
   */
  prepareAheadMs?: number;
  /**
   * How a post published under an interim id is asked about until the platform names it (absent from plans of
   * older workers, and then never asked).
   */
  followUp?: { firstDelayMs: number; maxDelayMs: number; forMs: number };
  /** The reading schedules' delays are multiplied by this (METRICS_SCHEDULE_SCALE; 1 when absent). */
  metricsScheduleScale?: number;
}

export interface PlannedTask {
  taskId: string;
  channel: Channel;
  mode: 'soft' | 'real';
  /** Where the task stands for this run: failed, cancelled or interrupted work is pending again. */
  status: PublicationStatus;
  /** A soft task whose adapter prepares it before the time (absent from plans of older workers). */
  prepares?: boolean;
}

export interface EpicPlan {
  policy: PublishPolicy;
  tasks: PlannedTask[];
  /** The schedule this run serves (absent from plans recorded before schedules carried one). */
  scheduleToken?: string;
  /**
   * The epic is not scheduled by this run's schedule (a start whose transaction rolled back, a run left over
   * from an ambiguous start): the run ends without acting. Absent when the run is current.
   */
  superseded?: { status: string };
}

export interface HandOffInput {
  epicId: string;
  taskId: string;
  scheduledAt: string;
  /** The schedule the attempt serves; absent in runs started before schedules carried one. */
  scheduleToken?: string;
  /** What runs from before the key lived on the publication row passed. */
  handOffKey?: string;
  /** Ask the platform even when the row says handed off (a cancel whose answer was lost). */
  verify?: boolean;
}

/** Where one real hand-off stands on its platform, as one confirmation poll saw it. */
export type HandOffCheck =
  | 'sent'
  | 'pending'
  | 'cancelled'
  | 'failed'
  /** We can no longer ask (the connector was disconnected): the platform still holds the send. */
  | 'unreachable'
  /** The question failed this time (a 5xx, a time-out): ask again at the next poll. */
  | 'error';

export interface EpicActivityDependencies {
  db: Database;
  credentialsKeys: CredentialsKeys;
  adapters: AdapterRegistry;
  policy: PublishPolicy;
  /**
   * The pre-flight check of an epic (activities/preflight.ts), asked when a preparation is refused: it names
   * the cause of most refusals (the account disabled, a permission removed), so one cause is told once, in
   * its words, though both checks run at the same moments.
   */
  preflightEpic?: (input: {
    epicId: string;
    scheduledAt: string;
    scheduleToken?: string;
    occasion: 'scheduled' | 'ahead';
  }) => Promise<{ atRisk: string[] }>;
  /** Where tries and publications are counted; absent, a registry nobody reads. */
  metrics?: WorkerMetrics;
  now?: () => Date;
}

const workflowActor = () => {
  try {
    return `workflow:${Context.current().info.workflowExecution?.workflowId ?? 'unknown'}`;
  } catch {
    return 'workflow';
  }
};

/** What a publish attempt reports to the run. */
export interface PublishOutcome {
  status: PublicationStatus;
  /** The platform has not named the post yet: the run hands it to a follow-up. */
  followUp?: true;
  /** This publication was the epic's last: the epic is recorded published with it. */
  epicPublished?: true;
  /** …and its metrics reading is started (or has nothing to read). */
  metricsStarted?: true;
}

/** How long the publish activity waits for the server to start an epic's metrics workflow. */
const metricsStartDeadlineMs = 5_000;

/** `work`, or a rejection once `ms` have passed (the work itself goes on, its outcome unheeded). */
async function withDeadline<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** One confirmation poll asks this many platforms at once, for at most this long. */
const confirmationConcurrency = 4;
const confirmationBudgetMs = 120_000;

/** Names a hand-off on its platform (Klaviyo puts it in the campaign name) for as long as it may exist there. */
const newHandOffKey = (epicId: string, taskId: string) =>
  `${epicId.slice(0, 8)}-${taskId.slice(0, 8)}-${randomUUID().slice(0, 8)}`;

/** Thrown when an attempt's schedule was withdrawn: not a failure of the publication, nothing to retry. */
/** What an attempt serves: the epic's schedule (its token, or — in runs from before tokens — its time). */
interface ScheduleFence {
  scheduleToken?: string;
  scheduledAt?: string;
  /** The epic must also still be scheduled (not in error, where it keeps its token). */
  whileScheduled?: boolean;
  /**
   * A preparation, with the number of publish tries when it began: it holds only until another try starts. A
   * preparation Temporal gave up on (its heartbeats stopped) may still be running then, and must neither
   * create nor overwrite what a try saves (a container it would publish a second time).
   */
  beforeTry?: number;
}

/**
 * The UTM campaign the epic's links carried when this went out (progress `utmCampaign`): the epic's GA4
 * sessions are matched by it, also after the title was edited.
 */
const campaignMark = (title: string) =>
  sql`jsonb_build_object(${utmCampaignKey}::text, ${epicSlug(title)}::text)`;

/** No publish try has started since a preparation began, and none is under way or has published. */
const noTrySince = (attempts: number) =>
  and(eq(publications.attempts, attempts), notInArray(publications.status, ['publishing', 'published']));

const withdrawn = (message: string) =>
  ApplicationFailure.create({ type: 'WITHDRAWN', message, nonRetryable: true });

/**
 * Runs an attempt with heartbeats in the background (the worker sends them on at most every 2 s), so a
 * cancellation from the workflow (an unschedule while the attempt runs or waits) reaches it in seconds. Once
 * cancelled they stop: an attempt that cannot stop at once is then bounded by its heartbeat time-out. A
 * cancelled attempt ends as cancelled.
 */
async function withHeartbeats<T>(heartbeatTimeoutMs: number, attempt: () => Promise<T>): Promise<T> {
  const context = Context.current();
  const beat = setInterval(() => context.heartbeat(), Math.min(1_000, Math.floor(heartbeatTimeoutMs / 3)));
  context.cancellationSignal.addEventListener('abort', () => clearInterval(beat), { once: true });
  try {
    return await attempt();
  } catch (error) {
    if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason ?? error;
    throw error;
  } finally {
    clearInterval(beat);
  }
}

/** The publication row still names this hand-off (its key), or any row when there is no hand-off. */
const namesHandOff = (handOffKey: string | null | undefined) =>
  handOffKey === undefined
    ? undefined
    : handOffKey === null
      ? isNull(publications.handOffKey)
      : eq(publications.handOffKey, handOffKey);

/** Set in progress right before the request that makes a publication live; only a confirmed cancel clears it. */
const liveRequested = 'liveRequestedAt';
/**
 * Set in progress when an attempt that made a live request ends without recording its answer (a time-out, a
 * dropped connection): the platform may have applied that request up to this moment.
 */
const liveEnded = 'liveEndedAt';
/** Set in progress by the first confirmation poll that finds a hand-off still waiting after its time. */
const dueSeen = 'dueSeenAt';

/** Progress plus "the live request ended now", when this attempt had made one (its marker is still set). */
const progressMarkingLiveEnded = sql`case when ${publications.goingLiveAt} is null then ${publications.progress}
  else ${publications.progress} || jsonb_build_object(${liveEnded}::text, now()::text) end`;

/**
 * A soft publication due after its connector's token expires, when nothing can renew that token, is at risk
 * from the moment it is scheduled (the user has until then to reconnect): flagged, with one notification. Run
 * when the epic is scheduled and again by its pre-flight check before the time; it flags nothing twice.
 */
export async function flagTargetsExpiringBefore(
  dependencies: Pick<EpicActivityDependencies, 'adapters' | 'credentialsKeys'> & { now: () => Date },
  tx: Executor,
  epic: EpicRow,
  epicTasks: TaskRow[],
) {
  if (!epic.scheduledAt || epic.status !== 'scheduled') return;
  const connectorIds = [
    ...new Set(
      epicTasks.filter((task) => channelFacts(task.channel).mode === 'soft').map((task) => task.connectorId),
    ),
  ];
  if (connectorIds.length === 0) return;
  const expiring = await tx
    .select()
    .from(connectors)
    .where(and(inArray(connectors.id, connectorIds), lt(connectors.tokenExpiresAt, epic.scheduledAt)));
  for (const connector of expiring) {
    if (
      connector.status !== 'connected' ||
      isRenewable(dependencies.adapters, dependencies.credentialsKeys, connector)
    )
      continue;
    await warnBeyondExpiry(tx, connector, connector.tokenExpiresAt!, dependencies.now(), {
      epicTitle: epic.title,
    });
  }
}

export function createEpicActivities({
  db,
  credentialsKeys,
  adapters,
  policy,
  preflightEpic,
  metrics = createWorkerMetrics(),
  now = () => new Date(),
}: EpicActivityDependencies) {
  const turns = createCallTurns(db);

  /**
   * Counts what became of a try or a publication and says it in one log line that names the epic, the
   * publication, its connector and platform (the SDK's logger adds the workflow's id).
   */
  function observe(
    target: {
      epic: { id: string };
      publication: { id: string };
      task: { channel: string };
      connector: { id: string; platform: string };
    },
    event:
      | { kind: 'published' | 'handed_off'; lagMs: number | null; attempt?: number }
      | { kind: 'confirmed'; lagMs: number | null }
      | { kind: 'try_failed'; failureClass: string; message: string; attempt?: number }
      | { kind: 'ended'; outcome: 'failed' | 'unconfirmed'; message?: string },
  ) {
    const { platform } = target.connector;
    const { channel } = target.task;
    const fields = {
      epicId: target.epic.id,
      publicationId: target.publication.id,
      connectorId: target.connector.id,
      platform,
      channel,
    };
    let log: Context['log'] | undefined;
    try {
      log = Context.current().log;
    } catch {
      // Called outside an activity (a unit test): counted, not logged.
    }
    // Counting and telling never fail a try: what it did on the platform is done and recorded already.
    try {
      tell(event);
    } catch {
      // A figure or a line lost is better than a publication retried.
    }
    function tell(event: Parameters<typeof observe>[1]) {
      switch (event.kind) {
        case 'published':
          metrics.attempt(platform, channel, 'published');
          metrics.published(platform, channel, event.lagMs);
          log?.info('publication published', { ...fields, lagMs: event.lagMs, attempt: event.attempt });
          return;
        case 'confirmed':
          // A hand-off the platform reports sent: its try was counted when it was handed off.
          metrics.published(platform, channel, event.lagMs);
          log?.info('publication published (the platform sent the hand-off)', {
            ...fields,
            lagMs: event.lagMs,
          });
          return;
        case 'handed_off':
          metrics.attempt(platform, channel, 'handed_off');
          log?.info('publication handed off to the platform', {
            ...fields,
            lagMs: event.lagMs,
            attempt: event.attempt,
          });
          return;
        case 'try_failed':
          metrics.attempt(platform, channel, event.failureClass);
          log?.warn('publication try failed', {
            ...fields,
            failureClass: event.failureClass,
            reason: event.message,
            attempt: event.attempt,
          });
          return;
        case 'ended':
          metrics.ended(platform, channel, event.outcome);
          (event.outcome === 'failed' ? log?.warn : log?.info)?.call(log, `publication ${event.outcome}`, {
            ...fields,
            ...(event.message ? { reason: event.message } : {}),
          });
      }
    }
  }

  async function loadTarget(taskId: string) {
    const [row] = await db
      .select({
        task: tasks,
        publication: publications,
        connector: connectors,
        account: connectorAccounts,
        epic: epics,
      })
      .from(tasks)
      .innerJoin(epics, eq(epics.id, tasks.epicId))
      .innerJoin(connectors, eq(connectors.id, tasks.connectorId))
      .leftJoin(publications, eq(publications.taskId, tasks.id))
      .leftJoin(connectorAccounts, eq(connectorAccounts.id, tasks.accountId))
      .where(eq(tasks.id, taskId));
    if (!row?.publication) {
      throw ApplicationFailure.create({
        type: 'INVALID_REQUEST',
        message: `task ${taskId} has no publication`,
        nonRetryable: true,
      });
    }
    return { ...row, publication: row.publication };
  }
  type Target = Awaited<ReturnType<typeof loadTarget>>;

  function adapterFor(platform: Platform): PlatformAdapter<unknown> {
    const adapter = adapters[platform];
    if (!adapter) {
      throw ApplicationFailure.create({
        type: 'INVALID_REQUEST',
        message: `no adapter for ${platform} in this build`,
        nonRetryable: true,
      });
    }
    return adapter;
  }

  function credentialsOf(connector: ConnectorRow): unknown {
    if (connector.status !== 'connected' || !connector.credentials || !connector.credentialsKeyId) {
      throw ApplicationFailure.create({
        type: 'TOKEN_EXPIRED',
        message: `the ${connector.platform} connector is ${connector.status.replace('_', ' ')}: reconnect it`,
        nonRetryable: true,
      });
    }
    return openConnectorCredentials(credentialsKeys, connector);
  }

  /**
   * Persists an adapter's progress. A hand-off's progress is written only while the row still names that
   * hand-off (its key): an attempt outlived by a newer hand-off cannot write over the newer one's record.
   */
  const saveProgress =
    (publicationId: string, handOffKey?: string, beforeTry?: number) =>
    async (update: PublicationProgress) => {
      const saved = await db
        .update(publications)
        .set({
          progress: sql`${publications.progress} || ${JSON.stringify(update)}::jsonb`,
          updatedAt: now(),
        })
        .where(
          and(
            eq(publications.id, publicationId),
            handOffKey === undefined ? undefined : eq(publications.handOffKey, handOffKey),
            beforeTry === undefined ? undefined : noTrySince(beforeTry),
          ),
        )
        .returning({ id: publications.id });
      if (beforeTry !== undefined && saved.length === 0)
        throw withdrawn('publishing has started: this preparation stops without saving');
    };

  const clearGoingLive = (publicationId: string, handOffKey?: string) =>
    db
      .update(publications)
      .set({ goingLiveAt: null, progress: progressMarkingLiveEnded })
      .where(and(eq(publications.id, publicationId), namesHandOff(handOffKey)));

  /**
   * "This attempt's schedule is still the epic's", as a condition: its token, or — for runs started before
   * schedules carried one — the epic still scheduled at this attempt's time.
   */
  function fenceHolds(epicId: string, fence: ScheduleFence) {
    if (fence.scheduleToken !== undefined) {
      // An epic in error keeps its token until it is retried or left: a try from before may not go live then.
      const scheduled = fence.whileScheduled ? sql`and ${epics.status} = 'scheduled'` : sql``;
      return sql`exists (select 1 from ${epics} where ${epics.id} = ${epicId} and ${epics.scheduleToken} = ${fence.scheduleToken} ${scheduled})`;
    }
    if (fence.scheduledAt !== undefined) {
      return sql`exists (select 1 from ${epics} where ${epics.id} = ${epicId} and ${epics.status} = 'scheduled'
        and ${epics.scheduledAt} = ${new Date(fence.scheduledAt).toISOString()}::timestamptz)`;
    }
    return sql`true`;
  }

  async function scheduleStillHolds(epicId: string, fence: ScheduleFence) {
    const [row] = await db.execute<{ holds: boolean }>(sql`select ${fenceHolds(epicId, fence)} as holds`);
    return row?.holds === true;
  }

  /** This attempt's publication row, while its hand-off, its schedule and (for a publish try) its number hold. */
  const attemptStillHolds = (
    target: Target,
    fence: ScheduleFence & { handOffKey?: string; attempt?: number },
  ) =>
    and(
      eq(publications.id, target.publication.id),
      namesHandOff(fence.handOffKey),
      fenceHolds(target.epic.id, fence),
      // A try Temporal gave up on may still be running: once its failure is recorded (the row is no longer
      // publishing) or a newer try started, it may neither go live nor create.
      fence.attempt === undefined
        ? undefined
        : and(eq(publications.attempts, fence.attempt), eq(publications.status, 'publishing')),
      fence.beforeTry === undefined ? undefined : noTrySince(fence.beforeTry),
    );

  /**
   * The last check before the request that makes a publication live, in one write: the marker is set only
   * while the row still names this hand-off and its schedule holds (else the attempt is withdrawn), and the
   * progress keeps a durable trace that a live request may have left. The connector is read after: a
   * disconnect committed after this read sees the marker and waits for the request to be answered (see the
   * connector routes), and one committed before is seen here, so no attempt publishes after a disconnect
   * answered.
   */
  const beforeGoingLive =
    (target: Target, fence: ScheduleFence & { handOffKey?: string; attempt?: number }) => async () => {
      const [marked] = await db
        .update(publications)
        .set({
          goingLiveAt: sql`now()`,
          progress: sql`${publications.progress} || jsonb_build_object(${liveRequested}::text, now()::text)`,
        })
        .where(attemptStillHolds(target, fence))
        .returning({ id: publications.id });
      if (!marked) throw withdrawn('the schedule was withdrawn before this went out');
      const [connector] = await db
        .select({ status: connectors.status })
        .from(connectors)
        .where(eq(connectors.id, target.connector.id));
      if (connector?.status !== 'connected') {
        throw ApplicationFailure.create({
          type: 'TOKEN_EXPIRED',
          message: `the ${target.connector.platform} connector was disconnected before this went out: reconnect it`,
          nonRetryable: true,
        });
      }
    };

  async function flagRefusedPreparation(target: Target, scheduledAt: Date, failure: PublicationFailure) {
    // A token that only expired before its renewal (which its refresh workflow still makes) is no refusal.
    if (expiredButRenewable(adapters, credentialsKeys, target.connector, failure, now())) return;
    const reason = `the platform refused to prepare it: ${failure.message}`;
    await db.transaction(async (tx) => {
      const flagged = await flagPreflightRisk(tx, {
        publicationId: target.publication.id,
        epicId: target.epic.id,
        scheduledAt,
        reason,
        now: now(),
        check: 'prepare',
      });
      if (!flagged) return;
      await notifyAtRisk(tx, {
        epic: target.epic,
        scheduledAt,
        check: 'prepare',
        told: [
          {
            taskId: target.task.id,
            publicationId: target.publication.id,
            channel: target.task.channel,
            reason,
          },
        ],
      });
    });
  }

  /** What an adapter gets for one try: the content as it goes out, the target, credentials and progress. */
  async function publicationContext(
    target: Target,
    progress: PublicationProgress,
    fence: ScheduleFence & { handOffKey?: string; attempt?: number },
  ): Promise<PublicationContext<unknown>> {
    const context = Context.current();
    const content = await outgoingContent(target);
    return {
      taskId: target.task.id,
      channel: target.task.channel,
      content,
      contentDigest: createHash('sha256').update(JSON.stringify(content)).digest('base64url').slice(0, 22),
      account: target.account
        ? {
            kind: target.account.kind,
            externalId: target.account.externalId,
            metadata: target.account.metadata,
          }
        : null,
      credentials: credentialsOf(target.connector),
      progress,
      saveProgress: saveProgress(target.publication.id, fence.handOffKey, fence.beforeTry),
      heartbeat: () => context.heartbeat(),
      signal: context.cancellationSignal,
      takeTurn: turns.forHolder(attemptHolder(target.connector, { heartbeats: true })),
      beforeGoingLive: beforeGoingLive(target, fence),
      beforeCreating: async () => {
        const [holds] = await db
          .select({ id: publications.id })
          .from(publications)
          .where(attemptStillHolds(target, fence));
        if (!holds) throw withdrawn('the schedule was withdrawn before this was prepared');
      },
    };
  }

  /**
   * A platform's "wait" within bounds: one attempt is never delayed past the retry policy's longest interval,
   * and a wait that would publish later than the lateness budget fails now, so the epic shows the error
   * instead of going out hours late without anyone knowing.
   */
  function boundRateLimit(failure: PublicationFailure, scheduledAt: Date | null, platform: string) {
    if (failure.class !== 'RATE_LIMITED' || failure.retryAfterMs === undefined) {
      return { failure, nonRetryable: nonRetryableClasses.includes(failure.class) };
    }
    const resumesAt = now().getTime() + failure.retryAfterMs;
    if (scheduledAt && resumesAt > scheduledAt.getTime() + policy.maxLatenessMs) {
      const minutes = (ms: number) => `${Math.round(ms / 60_000)} min`;
      return {
        failure: {
          ...failure,
          message:
            `${platform} asks to wait ${Math.ceil(failure.retryAfterMs / 1000)} s before the next try: that ` +
            `would publish more than ${minutes(policy.maxLatenessMs)} late, so it was not sent (${failure.message})`,
        },
        nonRetryable: true,
      };
    }
    return {
      failure: { ...failure, retryAfterMs: Math.min(failure.retryAfterMs, policy.maxIntervalMs) },
      nonRetryable: false,
    };
  }

  /** Records a failed try and turns it into the failure Temporal's retry policy understands. */
  async function failTry(
    target: Target,
    error: unknown,
    scheduledAt: Date | null,
    handOffKey?: string,
    /** The try's number (publish tries): a try outlived by a newer one writes nothing and flags nothing. */
    attempt?: number,
  ): Promise<never> {
    let failure: PublicationFailure =
      error instanceof PlatformError
        ? error.failure
        : { class: 'TRANSIENT', message: `unexpected: ${(error as Error).message}` };
    // Refused with a token we know has expired but its refresh workflow can still renew (it is late: the
    // platform's token endpoint was down, or no worker ran): not a dead connection, so no reconnect is asked;
    // the attempt is retried, by when the token is renewed.
    if (expiredButRenewable(adapters, credentialsKeys, target.connector, failure, now())) {
      failure = {
        class: 'TRANSIENT',
        message: `the ${target.connector.platform} token expired before it was renewed; retrying after the renewal`,
        ...(failure.platformCode ? { platformCode: failure.platformCode } : {}),
      };
    }
    const bounded = boundRateLimit(failure, scheduledAt, target.connector.platform);
    failure = bounded.failure;
    await db.transaction(async (tx) => {
      const recorded = await tx
        .update(publications)
        .set({
          lastError: {
            class: failure.class,
            message: failure.message,
            ...(failure.platformCode ? { platformCode: failure.platformCode } : {}),
          },
          goingLiveAt: null,
          progress: progressMarkingLiveEnded,
          updatedAt: now(),
        })
        .where(
          and(
            eq(publications.id, target.publication.id),
            namesHandOff(handOffKey),
            attempt === undefined
              ? undefined
              : and(eq(publications.attempts, attempt), ne(publications.status, 'published')),
          ),
        )
        .returning({ id: publications.id });
      // A stale try's refusal says nothing of the connector a newer try is using (or has published with).
      if (attempt !== undefined && recorded.length === 0) return;
      if (reconnectClasses.includes(failure.class)) {
        await flagReconnectRequired(tx, target.connector, failure, workflowActor(), now(), {
          ...(target.connector.credentials ? { onlyIfCredentials: target.connector.credentials } : {}),
        });
      }
    });
    observe(target, {
      kind: 'try_failed',
      failureClass: failure.class,
      message: failure.message,
      attempt: target.publication.attempts + 1,
    });
    throw ApplicationFailure.create({
      type: failure.class,
      message: failure.message,
      nonRetryable: bounded.nonRetryable,
      ...(!bounded.nonRetryable && failure.class === 'RATE_LIMITED' && failure.retryAfterMs !== undefined
        ? { nextRetryDelay: failure.retryAfterMs }
        : {}),
    });
  }

  /**
   * The content as the platform gets it. Auto-UTM (SPEC §5) belongs to the workspace's Google Analytics
   * connector: without one there is nothing to credit visits to, and its `autoUtm` setting is on unless set
   * to false. The stored content stays as written; the tags are computed again, identically, on each try.
   */
  async function outgoingContent(target: Target): Promise<TaskContent> {
    const content = target.task.content as TaskContent;
    const [analytics] = await db
      .select({ settings: connectors.settings })
      .from(connectors)
      .where(
        and(eq(connectors.workspaceId, target.task.workspaceId), eq(connectors.platform, 'google_analytics')),
      );
    if (!analytics || analytics.settings.autoUtm === false) return content;
    return applyUtm(target.task.channel, content, {
      epicTitle: target.epic.title,
      taskId: target.task.id,
    });
  }

  /** Counts a new try; gives its number and the progress as it stands now (an earlier try may have saved since). */
  async function startTry(publicationId: string, status: PublicationStatus = 'publishing') {
    const [row] = await db
      .update(publications)
      .set({ status, attempts: sql`${publications.attempts} + 1`, updatedAt: now() })
      .where(eq(publications.id, publicationId))
      .returning({ attempts: publications.attempts, progress: publications.progress });
    return row!;
  }

  /** The platform's answer about one hand-off; throws when it cannot be asked. */
  async function askHandOff(
    epicId: string,
    taskId: string,
  ): Promise<'sent' | 'pending' | 'cancelled' | 'failed'> {
    const target = await loadTarget(taskId);
    const { publication } = target;
    if (publication.status === 'published') return 'sent';
    if (publication.status !== 'handed_off' || !publication.externalId) return 'failed';
    const adapter = adapterFor(target.connector.platform);
    if (!adapter.handOffStatus) return 'pending';
    const [epic] = await db
      .select({ scheduledAt: epics.scheduledAt })
      .from(epics)
      .where(eq(epics.id, epicId));
    // The grace runs from the first poll that found it still waiting after its time (that poll asked the
    // platform's scheduler to run, e.g. WP-Cron), so a publish by request never races a scheduler run the
    // same poll triggered.
    const seenDueAt = Date.parse(publication.progress[dueSeen] ?? '');
    const overdue =
      epic?.scheduledAt != null && now().getTime() - seenDueAt >= policy.missedScheduleGraceMs
        ? {
            scheduledAt: epic.scheduledAt,
            mayGoLive: async () => {
              // Still this hand-off, still waiting, its connector still connected: else nothing goes live.
              const [row] = await db
                .select({ id: publications.id })
                .from(publications)
                .innerJoin(connectors, eq(connectors.id, target.connector.id))
                .where(
                  and(
                    eq(publications.id, publication.id),
                    eq(publications.status, 'handed_off'),
                    namesHandOff(publication.handOffKey),
                    eq(connectors.status, 'connected'),
                  ),
                );
              return row !== undefined;
            },
          }
        : undefined;
    // A question that finds no free connection soon is asked again at the next poll.
    const state = await turns.withConnection(
      attemptHolder(target.connector, { heartbeats: true }),
      () =>
        adapter.handOffStatus!({
          externalId: publication.externalId!,
          credentials: credentialsOf(target.connector),
          ...(overdue ? { overdue } : {}),
        }),
      10_000,
    );
    if (
      state.state === 'pending' &&
      Number.isNaN(seenDueAt) &&
      epic?.scheduledAt != null &&
      now().getTime() >= epic.scheduledAt.getTime()
    ) {
      await saveProgress(
        publication.id,
        publication.handOffKey ?? undefined,
      )({ [dueSeen]: now().toISOString() });
    }
    if (state.state === 'pending') return 'pending';
    const sentAt = state.state === 'sent' ? (state.sentAt ?? now()) : null;
    const lagMs =
      sentAt && epic?.scheduledAt ? Math.max(0, sentAt.getTime() - epic.scheduledAt.getTime()) : null;
    await db
      .update(publications)
      .set(
        state.state === 'sent'
          ? {
              status: 'published',
              publishedAt: sentAt,
              lagMs,
              updatedAt: now(),
            }
          : {
              status: 'failed',
              lastError: {
                class: 'INVALID_REQUEST',
                message: `the platform reports the send as ${state.platformStatus}`,
              },
              updatedAt: now(),
            },
      )
      .where(eq(publications.id, publication.id));
    // Counted once: asked again (its answer lost), the row is no longer handed off and returns above.
    if (state.state === 'sent') observe(target, { kind: 'confirmed', lagMs });
    else
      observe(target, {
        kind: 'ended',
        outcome: 'failed',
        message: `the platform reports ${state.platformStatus}`,
      });
    return state.state;
  }

  /**
   * One attempt of a hand-off. The hand-off key lives on the publication row from the first attempt until a
   * cancel the platform confirmed: every attempt, retry and new run reuses it, so the adapter finds what a
   * lost answer created instead of creating it twice. Every write names the key it read, so an attempt that
   * outlived its schedule (or another attempt) changes nothing of a newer hand-off; `scheduleToken` fences
   * it to its schedule, and runs started before tokens are fenced by the epic's status and time.
   */
  async function handOff(input: HandOffInput): Promise<{ status: PublicationStatus }> {
    const target = await loadTarget(input.taskId);
    const { publication } = target;
    const fence = {
      ...(input.scheduleToken === undefined ? {} : { scheduleToken: input.scheduleToken }),
      ...(input.scheduleToken === undefined && input.handOffKey !== undefined
        ? { scheduledAt: input.scheduledAt }
        : {}),
    };
    const key = input.handOffKey ?? publication.handOffKey ?? newHandOffKey(input.epicId, input.taskId);
    if (
      !input.verify &&
      publication.status === 'handed_off' &&
      publication.externalId &&
      publication.handOffKey === key
    ) {
      if (!(await scheduleStillHolds(input.epicId, fence))) {
        throw withdrawn('the schedule was withdrawn before this hand-off started');
      }
      return { status: 'handed_off' };
    }
    const adapter = adapterFor(target.connector.platform);
    if (!adapter.handOff) {
      throw ApplicationFailure.create({
        type: 'INVALID_REQUEST',
        message: `${target.task.channel} cannot be handed off now`,
        nonRetryable: true,
      });
    }
    // Progress belongs to one hand-off: a new key (after a confirmed cancel) must not resume the old one.
    const progress = publication.handOffKey === key ? publication.progress : {};
    const [started] = await db
      .update(publications)
      .set({
        status: 'publishing',
        handOffKey: key,
        progress,
        attempts: sql`${publications.attempts} + 1`,
        updatedAt: now(),
      })
      .where(
        and(
          eq(publications.id, publication.id),
          namesHandOff(publication.handOffKey),
          fenceHolds(input.epicId, fence),
        ),
      )
      .returning({ id: publications.id });
    if (!started) {
      if (!(await scheduleStillHolds(input.epicId, fence))) {
        throw withdrawn('the schedule was withdrawn before this hand-off started');
      }
      // Another attempt changed the row between our read and this write: read it again next attempt.
      throw ApplicationFailure.create({
        type: 'TRANSIENT',
        message: 'another attempt changed this hand-off meanwhile; trying again',
      });
    }
    const scheduledAt = new Date(input.scheduledAt);
    let handedOff: Awaited<ReturnType<NonNullable<PlatformAdapter['handOff']>>>;
    try {
      handedOff = await turns.withConnection(
        attemptHolder(target.connector, { heartbeats: true }),
        async () =>
          adapter.handOff!({
            ...(await publicationContext(target, progress, { ...fence, handOffKey: key })),
            scheduledAt,
            epicTitle: target.epic.title,
            handOffKey: key,
          }),
      );
    } catch (error) {
      if (error instanceof ApplicationFailure || Context.current().cancellationSignal.aborted) {
        await clearGoingLive(publication.id, key);
        throw error;
      }
      return failTry(target, error, scheduledAt, key);
    }
    // Handed over after its time (the platform was down at scheduling): it sends as soon as the platform
    // allows, and how late is on record.
    const lateByMs = Math.max(0, now().getTime() - scheduledAt.getTime());
    const recorded = await db.transaction(async (tx) => {
      // Recorded only if this hand-off is still the one the row names and its schedule still holds.
      const [row] = await tx
        .update(publications)
        .set({
          status: 'handed_off',
          externalId: handedOff.externalId,
          externalUrl: handedOff.externalUrl,
          progress: sql`${publications.progress} || ${campaignMark(target.epic.title)}`,
          lastError: null,
          goingLiveAt: null,
          ...(lateByMs > 0 ? { lagMs: lateByMs } : {}),
          updatedAt: now(),
        })
        .where(and(eq(publications.id, publication.id), namesHandOff(key), fenceHolds(input.epicId, fence)))
        .returning({ id: publications.id });
      if (!row) return false;
      await recordAudit(tx, {
        workspaceId: target.task.workspaceId,
        subjectType: 'publication',
        subjectId: publication.id,
        action: 'hand_off',
        fromStatus: 'publishing',
        toStatus: 'handed_off',
        actor: workflowActor(),
        details: {
          taskId: target.task.id,
          externalId: handedOff.externalId,
          scheduledAt: input.scheduledAt,
          ...(lateByMs > 0 ? { lateByMs } : {}),
        },
      });
      return true;
    });
    if (!recorded) {
      // The schedule was withdrawn while the platform was answering. A refused transition may have handed
      // the same key off again since, and that newer hand-off may have found and recorded this very object
      // (a look-up by key): then it is its to keep. Anything else that was just created goes.
      const [current] = await db
        .select({ handOffKey: publications.handOffKey, externalId: publications.externalId })
        .from(publications)
        .where(eq(publications.id, publication.id));
      if (current?.handOffKey === key && current.externalId === handedOff.externalId) {
        throw withdrawn('the schedule was withdrawn while the platform answered; a newer hand-off holds it');
      }
      await cancelOnPlatform(
        target,
        { ...publication, status: 'publishing', externalId: handedOff.externalId, handOffKey: key },
        'workflow:withdrawn-schedule',
      );
      throw withdrawn(
        'the schedule was withdrawn while the platform accepted the hand-off; it was cancelled',
      );
    }
    observe(target, { kind: 'handed_off', lagMs: lateByMs > 0 ? lateByMs : null });
    return { status: 'handed_off' };
  }

  return {
    /**
     * The run's first activity: reads the epic under a share lock, so a run started by the API inside its
     * still-open transaction sees what that transaction committed, or that it rolled back. A run whose
     * schedule is not the epic's (the commit failed, or a later schedule replaced it) acts on nothing.
     */
    async loadEpicPlan({
      epicId,
      scheduleToken,
    }: {
      epicId: string;
      scheduleToken?: string;
    }): Promise<EpicPlan> {
      return db.transaction(async (tx) => {
        const [epic] = await tx.select().from(epics).where(eq(epics.id, epicId)).for('share');
        if (
          !epic ||
          (scheduleToken !== undefined &&
            (epic.status !== 'scheduled' || epic.scheduleToken !== scheduleToken))
        ) {
          return { policy, tasks: [], superseded: { status: epic?.status ?? 'deleted' } };
        }
        const epicTasks = await tx
          .select()
          .from(tasks)
          .where(eq(tasks.epicId, epicId))
          .orderBy(asc(tasks.createdAt), asc(tasks.id));
        const existing = await tx.select().from(publications).where(eq(publications.epicId, epicId));
        const byTask = new Map(existing.map((row) => [row.taskId, row]));
        const planned: PlannedTask[] = [];
        for (const task of epicTasks) {
          const channel = task.channel;
          let publication = byTask.get(task.id);
          if (!publication) {
            [publication] = await tx
              .insert(publications)
              .values({ workspaceId: task.workspaceId, epicId, taskId: task.id })
              .returning();
          } else if (publication.status === 'cancelled') {
            // Pending again, with everything it did on the platform kept (a container, a feed marker, a
            // hand-off key): the adapter asks the platform before creating anything. A hand-off the platform
            // confirmed cancelled was already cleared by that cancel, so only it starts afresh.
            [publication] = await tx
              .update(publications)
              .set({ status: 'pending', lastError: null, updatedAt: now() })
              .where(eq(publications.id, publication.id))
              .returning();
          }
          const stored = publication!.status;
          const status: PublicationStatus =
            stored === 'published' || stored === 'handed_off' ? stored : 'pending';
          const facts = channelFacts(channel);
          const prepares =
            facts.mode === 'soft' &&
            facts.preparedAhead === true &&
            adapters[facts.platform]?.prepare !== undefined;
          planned.push({
            taskId: task.id,
            channel,
            mode: facts.mode,
            status,
            ...(prepares ? { prepares } : {}),
          });
        }
        await flagTargetsExpiringBefore({ adapters, credentialsKeys, now }, tx, epic, epicTasks);
        return {
          policy,
          tasks: planned,
          ...(epic.scheduleToken ? { scheduleToken: epic.scheduleToken } : {}),
        };
      });
    },

    /**
     * Withdraws the epic's schedule before its hand-offs are cancelled: from this write on, no attempt still
     * running for the old schedule creates anything (each checks before its last request, and once more when
     * it records its result). The new token comes from the workflow, so a retried write writes the same.
     */
    async withdrawSchedule({
      epicId,
      scheduleToken,
    }: {
      epicId: string;
      scheduleToken: string;
    }): Promise<void> {
      await db.update(epics).set({ scheduleToken, updatedAt: now() }).where(eq(epics.id, epicId));
    },

    async recordEpicStatus(input: {
      epicId: string;
      from: EpicStatus;
      status: EpicStatus;
      action: string;
      actor: string;
      details?: Record<string, unknown>;
      scheduledAt?: string;
      /** With `scheduledAt` (a reschedule): the zone the new time was chosen in. */
      timeZone?: string | null;
    }): Promise<void> {
      await db.transaction(async (tx) => {
        if (input.status === 'error' && input.action === 'fail') {
          // Every publication was recorded live (a try's answer was lost after its record, and the run counted
          // it failed): the epic is published, not in error, and nobody is told of an error. The run stays
          // open in error until its window ends, with nothing left to do (the API refuses a published epic's
          // retry, edit and unschedule).
          const published = await writeEpicTransition(tx, {
            epicId: input.epicId,
            from: input.from,
            to: 'published',
            action: 'publish',
            actor: input.actor,
            onlyIf: and(eq(epics.status, input.from), everyPublicationPublished),
            now: now(),
          });
          if (published) return;
        }
        await writeEpicTransition(tx, {
          epicId: input.epicId,
          from: input.from,
          to: input.status,
          action: input.action,
          actor: input.actor,
          ...(input.details ? { details: input.details } : {}),
          ...(input.scheduledAt
            ? {
                schedule: {
                  scheduledAt: new Date(input.scheduledAt),
                  // The API checked its zone; an admin tool's signal may name none that exists: kept as none.
                  ...(input.timeZone !== undefined
                    ? { timeZone: input.timeZone && isValidTimeZone(input.timeZone) ? input.timeZone : null }
                    : {}),
                },
              }
            : {}),
          now: now(),
        });
      });
    },

    async publishTask(input: {
      epicId: string;
      taskId: string;
      scheduledAt: string;
      /** The schedule the run serves (absent in runs started before publish tries carried it). */
      scheduleToken?: string;
      /**
       * Asked by runs that let the publication completing the epic record it published and start its metrics
       * reading (patch `published-by-last-post`); runs from before write the status themselves.
       */
      completesEpic?: true;
    }): Promise<PublishOutcome> {
      const startedLocally = Date.now();
      const target = await loadTarget(input.taskId);
      if (target.publication.status === 'published' && target.publication.externalId) {
        // Recorded by a try whose answer was lost: the follow-up it owed is owed still, and the epic it
        // completed is published already (the run starts the metrics reading, which may be started: it is told).
        return {
          status: 'published',
          ...(target.publication.progress[awaitingFinalId] ? { followUp: true as const } : {}),
          ...(input.completesEpic && target.epic.status === 'published'
            ? { epicPublished: true as const }
            : {}),
        };
      }
      const adapter = adapterFor(target.connector.platform);
      if (!adapter.publish) {
        throw ApplicationFailure.create({
          type: 'INVALID_REQUEST',
          message: `${target.task.channel} cannot be published now`,
          nonRetryable: true,
        });
      }
      // A try Temporal gave up on (its heartbeats stopped) may still be running: only the newest try may make
      // the content live, so its number fences the last request, and it starts from what the others saved.
      const started = await startTry(target.publication.id);
      let published: Awaited<ReturnType<NonNullable<PlatformAdapter['publish']>>>;
      try {
        published = await withHeartbeats(policy.heartbeatTimeoutMs, async () =>
          adapter.publish!(
            // Only the newest try may go live, and only while the epic is still scheduled for this time: a try
            // Temporal gave up on must not publish after the epic went to error and was unscheduled.
            await publicationContext(target, started.progress, {
              attempt: started.attempts,
              scheduledAt: input.scheduledAt,
              ...(input.scheduleToken === undefined ? {} : { scheduleToken: input.scheduleToken }),
              whileScheduled: true,
            }),
          ),
        );
      } catch (error) {
        if (error instanceof ApplicationFailure || Context.current().cancellationSignal.aborted) {
          await clearGoingLive(target.publication.id);
          throw error;
        }
        return failTry(target, error, new Date(input.scheduledAt), undefined, started.attempts);
      }
      const publishedAt = now();
      // The readings count from the publication on the server's clock, the clock the metrics workflow reads by.
      const context = Context.current();
      const readingSince = new Date(
        context.info.currentAttemptScheduledTimestampMs + (Date.now() - startedLocally),
      );
      const enrolment =
        input.completesEpic && target.publication.metricsState === null
          ? metricsEnrolment(target.task.channel, readingSince, policy.metricsScheduleScale ?? 1)
          : null;
      const completed = await db.transaction(async (tx) => {
        const [recorded] = await tx
          .update(publications)
          .set({
            status: 'published',
            externalId: published.externalId,
            externalUrl: published.externalUrl,
            publishedAt,
            lagMs: Math.max(0, publishedAt.getTime() - Date.parse(input.scheduledAt)),
            lastError: null,
            goingLiveAt: null,
            updatedAt: publishedAt,
            progress: published.followUp
              ? sql`${publications.progress} || ${campaignMark(target.epic.title)} || jsonb_build_object(${awaitingFinalId}::text, now()::text)`
              : sql`${publications.progress} || ${campaignMark(target.epic.title)}`,
            ...(enrolment ?? {}),
          })
          .where(eq(publications.id, target.publication.id))
          .returning({ attempts: publications.attempts });
        await recordAudit(tx, {
          workspaceId: target.task.workspaceId,
          subjectType: 'publication',
          subjectId: target.publication.id,
          action: 'publish',
          fromStatus: 'publishing',
          toStatus: 'published',
          actor: workflowActor(),
          details: { taskId: target.task.id, externalId: published.externalId },
        });
        // A try Temporal gave up on (a newer one started since) records what it made live, and leaves the
        // epic to the run, which has counted this publication failed or is waiting for the newer try.
        if (!input.completesEpic || recorded?.attempts !== started.attempts) return null;
        return completeEpicWithLastPublication(tx, {
          epicId: target.epic.id,
          scheduleToken: input.scheduleToken,
          scheduledAt: new Date(input.scheduledAt),
          now: publishedAt,
        });
      });
      observe(target, {
        kind: 'published',
        lagMs: Math.max(0, publishedAt.getTime() - Date.parse(input.scheduledAt)),
        attempt: started.attempts,
      });
      const outcome: PublishOutcome = {
        status: 'published',
        ...(published.followUp ? { followUp: true as const } : {}),
      };
      if (!completed) return outcome;
      outcome.epicPublished = true;
      if (completed.firstReadingAt === null) {
        // No channel of the epic is read back: there is nothing for a metrics workflow to do.
        outcome.metricsStarted = true;
        return outcome;
      }
      try {
        // Bounded well within the heartbeat time-out: a server slow to answer in a burst must not time the
        // attempt out after its post went live. Not started in time, the run starts it (or finds it started).
        await withHeartbeats(policy.heartbeatTimeoutMs, () =>
          withDeadline(
            metricsStartDeadlineMs,
            startEpicMetrics(context.client, {
              epicId: input.epicId,
              taskQueue: context.info.taskQueue,
              delayMs: completed.firstReadingAt!.getTime() - readingSince.getTime(),
            }),
          ),
        );
        outcome.metricsStarted = true;
      } catch (error) {
        context.log.warn(`starting the metrics of epic ${input.epicId}: ${(error as Error).message}`);
      }
      return outcome;
    },

    /**
     * Prepares a soft publication before its time (the adapter's `prepare`: everything that can exist without
     * going live), while the schedule it was asked for still holds. It never records a failure on the
     * publication: publishing at the time prepares whatever is missing itself.
     */
    async prepareTask(input: {
      epicId: string;
      taskId: string;
      scheduledAt: string;
      scheduleToken?: string;
    }): Promise<{ prepared: boolean }> {
      const target = await loadTarget(input.taskId);
      const adapter = adapterFor(target.connector.platform);
      if (
        !adapter.prepare ||
        !channelFacts(target.task.channel).preparedAhead ||
        target.publication.status === 'published'
      )
        return { prepared: false };
      const fence = {
        ...(input.scheduleToken === undefined ? {} : { scheduleToken: input.scheduleToken }),
        scheduledAt: input.scheduledAt,
      };
      if (!(await scheduleStillHolds(input.epicId, fence))) return { prepared: false };
      try {
        await withHeartbeats(policy.heartbeatTimeoutMs, async () => {
          const { beforeGoingLive: _never, ...context } = await publicationContext(
            target,
            target.publication.progress,
            { ...fence, whileScheduled: true, beforeTry: target.publication.attempts },
          );
          await adapter.prepare!(context);
        });
      } catch (error) {
        if (error instanceof PlatformError) {
          // The platform refused for good, an hour ahead: the time would fail the same way, so the user is told
          // now (at risk, one notification) while the epic stays scheduled. The flag is the pre-flight's, which
          // a later check that passes lifts.
          if (nonRetryableClasses.includes(error.failure.class)) {
            const nothingNamed: { atRisk: string[] } = { atRisk: [] };
            const named = preflightEpic
              ? await withHeartbeats(policy.heartbeatTimeoutMs, () =>
                  preflightEpic({ ...input, occasion: 'ahead' }),
                ).catch(() => nothingNamed)
              : nothingNamed;
            if (!named.atRisk.includes(target.task.id))
              await flagRefusedPreparation(target, new Date(input.scheduledAt), error.failure);
          }
          throw ApplicationFailure.create({
            type: error.failure.class,
            message: error.failure.message,
            nonRetryable: nonRetryableClasses.includes(error.failure.class),
          });
        }
        throw error;
      }
      // Prepared: a refusal an earlier preparation flagged no longer stands.
      await clearPreflightRisk(db, {
        epicId: input.epicId,
        scheduledAt: new Date(input.scheduledAt),
        publicationIds: [target.publication.id],
        now: now(),
        check: 'prepare',
      });
      return { prepared: true };
    },

    /**
     * Deletes what `prepareTask` made for a soft publication that will not go out at its time (unscheduled,
     * edited back to draft, moved). A published one is never touched.
     */
    async discardPrepared(input: { epicId: string; taskId: string }): Promise<{ discarded: boolean }> {
      const target = await loadTarget(input.taskId);
      const adapter = adapterFor(target.connector.platform);
      if (
        !adapter.discardPrepared ||
        !channelFacts(target.task.channel).preparedAhead ||
        target.publication.status === 'published'
      )
        return { discarded: false };
      const context = Context.current();
      try {
        // Heartbeating, so a worker that died is noticed within the transition's bound and the removal tried
        // again, and an attempt the workflow no longer waits for is told to stop.
        await withHeartbeats(policy.heartbeatTimeoutMs, () =>
          adapter.discardPrepared!({
            taskId: target.task.id,
            account: target.account
              ? {
                  kind: target.account.kind,
                  externalId: target.account.externalId,
                  metadata: target.account.metadata,
                }
              : null,
            credentials: credentialsOf(target.connector),
            progress: target.publication.progress,
            saveProgress: saveProgress(target.publication.id),
            signal: context.cancellationSignal,
          }),
        );
      } catch (error) {
        if (error instanceof PlatformError) {
          throw ApplicationFailure.create({
            type: error.failure.class,
            message: error.failure.message,
            nonRetryable: nonRetryableClasses.includes(error.failure.class),
          });
        }
        throw error;
      }
      return { discarded: true };
    },

    /** Hands a real task to its platform for `scheduledAt` (see `handOff`), heartbeating all along. */
    async handOffTask(input: HandOffInput): Promise<{ status: PublicationStatus }> {
      return withHeartbeats(policy.heartbeatTimeoutMs, () => handOff(input));
    },

    /**
     * Cancels what a real task's hand-off left on its platform (found by its id, or by its key when an answer
     * was lost) and records the publication cancelled with its key cleared: only such a confirmed cancel lets
     * a later hand-off start afresh. The platform's refusal (too close to the send) keeps it handed off.
     */
    async cancelHandOff(input: { epicId: string; taskId: string; actor: string }): Promise<void> {
      const target = await loadTarget(input.taskId);
      await cancelOnPlatform(target, target.publication, input.actor);
    },

    /** Legacy runs asked one task per activity; kept for them. A throw means "we can no longer ask". */
    async checkHandOff(input: {
      epicId: string;
      taskId: string;
    }): Promise<'sent' | 'pending' | 'cancelled' | 'failed'> {
      return askHandOff(input.epicId, input.taskId);
    },

    /**
     * One confirmation poll for every hand-off of the epic still waiting: one activity, whatever the count.
     * A few questions at a time, within a time budget: a question not asked in time is asked at the next poll.
     */
    async checkHandOffs(input: { epicId: string; taskIds: string[] }): Promise<Record<string, HandOffCheck>> {
      const context = Context.current();
      const answerBy = Date.now() + confirmationBudgetMs;
      const answers: Record<string, HandOffCheck> = Object.fromEntries(
        input.taskIds.map((taskId) => [taskId, 'error' as const]),
      );
      const queue = [...input.taskIds];
      const askNext = async (): Promise<void> => {
        for (
          let taskId = queue.shift();
          taskId !== undefined && Date.now() < answerBy;
          taskId = queue.shift()
        ) {
          context.heartbeat();
          try {
            answers[taskId] = await askHandOff(input.epicId, taskId);
          } catch (error) {
            // A refusal nobody can fix by waiting (the connector is gone) ends the questions; anything else
            // is asked again at the next poll.
            answers[taskId] =
              error instanceof ApplicationFailure && error.nonRetryable ? 'unreachable' : 'error';
          }
        }
      };
      await Promise.all(Array.from({ length: confirmationConcurrency }, askNext));
      return answers;
    },

    async recordPublicationOutcome(input: {
      epicId: string;
      taskId: string;
      status: 'failed' | 'published';
      failure?: { class: string; message: string };
      unconfirmed?: boolean;
    }): Promise<void> {
      // Read first so that a call repeated after a lost answer counts nothing twice.
      const before = await loadTarget(input.taskId).catch(() => null);
      await db
        .update(publications)
        .set({
          status: input.status,
          ...(input.failure ? { lastError: input.failure } : {}),
          ...(input.unconfirmed ? { unconfirmed: true } : {}),
          goingLiveAt: null,
          updatedAt: now(),
        })
        .where(
          and(
            eq(publications.taskId, input.taskId),
            eq(publications.epicId, input.epicId),
            // What a platform confirmed live stays published: a failure counted after a try whose answer
            // was lost does not undo it (a retry finds it published and sends nothing).
            input.status === 'failed' ? ne(publications.status, 'published') : undefined,
          ),
        );
      const outcome = input.status === 'failed' ? 'failed' : input.unconfirmed ? 'unconfirmed' : null;
      if (before && outcome && !['failed', 'published'].includes(before.publication.status)) {
        observe(before, {
          kind: 'ended',
          outcome,
          ...(input.failure ? { message: input.failure.message } : {}),
        });
      }
    },
  };

  /** How long ago the last live request was sent, and ended without an answer, by the database's clock alone. */
  async function lastLiveRequest(publicationId: string) {
    const msAgo = (key: string) =>
      sql`(extract(epoch from now() - (${publications.progress} ->> ${key})::timestamptz) * 1000)::float8`;
    const [row] = await db.execute<{ sent: number | null; ended: number | null }>(sql`
      select ${msAgo(liveRequested)} as sent, ${msAgo(liveEnded)} as ended
      from ${publications} where ${publications.id} = ${publicationId}`);
    if (row?.sent == null) return null;
    return { sentMsAgo: Number(row.sent), endedMsAgo: row.ended == null ? null : Number(row.ended) };
  }

  async function cancelOnPlatform(
    target: Target,
    publication: Target['publication'],
    actor: string,
  ): Promise<void> {
    if (publication.status === 'published') {
      throw ApplicationFailure.create({
        type: 'LOCKED_BY_PLATFORM',
        message: 'the platform has already sent it',
        nonRetryable: true,
      });
    }
    const cancelled = async () => {
      await db.transaction(async (tx) => {
        const [row] = await tx
          .update(publications)
          .set({
            status: 'cancelled',
            externalId: null,
            externalUrl: null,
            handOffKey: null,
            progress: {},
            goingLiveAt: null,
            updatedAt: now(),
          })
          // Only while the row still names this hand-off: a newer one is not ours to clear.
          .where(and(eq(publications.id, publication.id), namesHandOff(publication.handOffKey)))
          .returning({ id: publications.id });
        if (!row) return;
        await recordAudit(tx, {
          workspaceId: target.task.workspaceId,
          subjectType: 'publication',
          subjectId: publication.id,
          action: 'cancel_hand_off',
          fromStatus: publication.status,
          toStatus: 'cancelled',
          actor,
          details: { taskId: target.task.id, externalId: publication.externalId },
        });
      });
    };
    // Never attempted: nothing of it can be on the platform.
    if (!publication.handOffKey && !publication.externalId) return cancelled();
    const adapter = adapterFor(target.connector.platform);
    if (!adapter.cancelHandOff) {
      throw ApplicationFailure.create({
        type: 'LOCKED_BY_PLATFORM',
        message: `${target.connector.platform} hand-offs cannot be cancelled from here`,
        nonRetryable: true,
      });
    }
    if (target.connector.status !== 'connected') {
      // Without credentials nothing can be asked of the platform. A hand-off that never made a request that
      // could make it live is forgotten (at most a draft lingers there, which nothing sends); one that may
      // be live would still send, so the transition is refused until the connector is reconnected.
      const mayBeLive = publication.status === 'handed_off' || Boolean(publication.progress[liveRequested]);
      if (!mayBeLive) return cancelled();
      throw ApplicationFailure.create({
        type: 'LOCKED_BY_PLATFORM',
        message: `the ${target.connector.platform} connector is ${target.connector.status.replace('_', ' ')}: reconnect it to cancel what was handed to it`,
        nonRetryable: true,
      });
    }
    try {
      await adapter.cancelHandOff({
        externalId: publication.externalId,
        handOffKey: publication.handOffKey,
        credentials: credentialsOf(target.connector),
        progress: publication.progress,
        liveRequest: await lastLiveRequest(publication.id),
      });
    } catch (error) {
      if (error instanceof HandOffLockedError) {
        // It stays live on the platform: the publication says so, with the id a look-up may have found.
        await db
          .update(publications)
          .set({
            status: 'handed_off',
            ...(error.externalId ? { externalId: error.externalId } : {}),
            updatedAt: now(),
          })
          .where(and(eq(publications.id, publication.id), namesHandOff(publication.handOffKey)));
        throw ApplicationFailure.create({
          type: 'LOCKED_BY_PLATFORM',
          message: error.message,
          nonRetryable: true,
        });
      }
      if (error instanceof PlatformError) {
        const bounded = boundRateLimit(error.failure, null, target.connector.platform);
        throw ApplicationFailure.create({
          type: error.failure.class,
          message: error.failure.message,
          nonRetryable: bounded.nonRetryable,
          ...(bounded.failure.retryAfterMs !== undefined
            ? { nextRetryDelay: bounded.failure.retryAfterMs }
            : {}),
        });
      }
      throw error;
    }
    await cancelled();
  }
}

export type EpicActivities = ReturnType<typeof createEpicActivities>;
