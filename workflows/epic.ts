// The epic workflow (SPEC §4): hands real tasks to their platforms at once, sleeps until scheduledAt, then
// publishes the soft tasks concurrently with capped retries; obeys unschedule / edit / reschedule / retry
// from the API (updates) and from admin tools (signals). Every decision is taken here, so a request racing
// the timer either wins (nothing published) or is refused. A transition is applied whole or not at all:
// hand-offs still being attempted are stopped and cancelled with the live ones, and a platform's refusal
// half-way hands the cancelled ones off again, so what is on the platforms always matches the answer.

import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  TimeoutFailure,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  EpicActivities,
  EpicPlan,
  HandOffCheck,
  PlannedTask,
  PublishOutcome,
} from '../activities/epic.ts';
import type { PreflightActivities, PreflightInput } from '../activities/preflight.ts';
import {
  decideTransition,
  type EpicStatus,
  type EpicTransition,
  scheduleTooLate,
} from '../domain/epic-state-machine.ts';
import { nonRetryableClasses } from '../domain/publication-error-classes.ts';
import { epicSearchAttributes } from '../domain/search-attributes.ts';
import {
  checkRescheduleRequest,
  checkRetryRequest,
  checkTransitionRequest,
  type EpicOutcome,
  type EpicWorkflowInput,
  type EpicWorkflowState,
  editBackToDraftSignal,
  editBackToDraftUpdate,
  type PublicationState,
  type PublicationStatus,
  type RequestCheck,
  rescheduleSignal,
  rescheduleUpdate,
  retrySignal,
  retryUpdate,
  stateQuery,
  type TransitionResult,
  unscheduleSignal,
  unscheduleUpdate,
} from './epic-messages.ts';
import type { epicMetrics } from './epic-metrics.ts';
import {
  epicMetricsSummary,
  epicMetricsWorkflowId,
  epicMetricsWorkflowType,
  itemsPublishedSignal,
} from './epic-metrics-messages.ts';
import { type publicationFollowUp, publicationFollowUpWorkflowId } from './publication-follow-up.ts';

const bookkeeping = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
} as const;

const {
  loadEpicPlan: loadEpicPlanRemotely,
  recordEpicStatus,
  recordPublicationOutcome,
  withdrawSchedule,
} = proxyActivities<EpicActivities>({
  ...bookkeeping,
  summary: 'Read or write the epic in PostgreSQL',
});
/**
 * The plan is read inside the run's first workflow task: no task for the server to match and dispatch, and no
 * extra workflow task for its answer. Only this read: a write made by a local activity inside an update's
 * workflow task would stay in the database if the server then dropped that task (and the update with it).
 */
const { loadEpicPlan: loadEpicPlanLocally } = proxyLocalActivities<EpicActivities>({
  ...bookkeeping,
  summary: 'Read the epic and its tasks from PostgreSQL',
});

/**
 * Changes of what the workflow does, guarded so that histories recorded before them replay as they ran
 * (test/fixtures/histories). `in-flight-hand-offs`: hand-offs being attempted are part of every transition,
 * schedules are fenced, refusals undone, confirmations asked in one activity per poll.
 */
export const epicPatches = {
  inFlightHandOffs: 'in-flight-hand-offs',
  /** A reschedule up to a minute in the past means "now", as at the API; before, anything not ahead was refused. */
  reschedulePastTolerance: 'reschedule-past-tolerance',
  /**
   * The soft publications are checked against their platforms when the epic is scheduled (or moved) and again
   * PREFLIGHT_AHEAD_MS before the time; runs from before slept straight to the time.
   */
  preflight: 'preflight',
  /**
   * Soft publications whose adapter can prepare them are prepared PUBLICATION_PREPARE_AHEAD_MS before the time
   * (or when scheduled, if closer), and what was prepared is discarded by an unschedule, an edit back to draft
   * or a reschedule; runs from before published everything at the time.
   */
  prepareAhead: 'prepare-ahead',
  /**
   * A soft publication published under an interim id (TikTok before moderation) gets a child workflow that
   * records its public id when the platform gives it; runs from before kept the interim id.
   */
  followUpPublished: 'follow-up-published',
  /**
   * Once an epic's round of publishing ends with something published, a child workflow reads the items'
   * performance back on their channels' schedules; runs from before read nothing back.
   */
  readMetrics: 'read-metrics',
  /**
   * A prepared publication that failed for good is removed from its platform at once, and a transition removes
   * what was prepared before withdrawing hand-offs, refused when what a failed publish may have made live
   * could not be removed; runs from before only logged a removal that failed.
   */
  discardWhenFailed: 'discard-when-failed',
  /**
   * An item published while the epic's metrics workflow already runs (a retry) is announced to it, so its first
   * reading is not held until that workflow's next round; runs from before left it to that round.
   */
  announcePublished: 'announce-published',
  /** The plan is read by a local activity at the start; runs from before read it with an activity. */
  localPlanLoad: 'local-plan-load',
  /**
   * The publish activity that records the epic's last publication records the epic published in the same
   * transaction and starts its metrics reading (delayed to the first reading): the run then writes nothing
   * more and starts nothing at the time. Runs from before wrote the status and started the reading themselves.
   */
  publishedByLastPost: 'published-by-last-post',
  /**
   * Stands for every patch above: a run that records it records one marker (and the one search-attribute
   * upsert the SDK adds to each patch's marker) instead of one per patch, which made the history of every epic
   * 18 events longer and cost the server as many visibility writes when it was scheduled. Runs from before
   * replay through their own markers. A patch added after it is asked on its own.
   */
  allUntilDecember2026: 'all-patches-until-2026-12-05',
} as const;

type TransitionKind = 'unschedule' | 'edit' | 'reschedule' | 'retry';

/** Statuses after which a real task's hand-off is (or may be) live on its platform and must be restored. */
const liveBeforeTransition: readonly PublicationStatus[] = ['handed_off', 'publishing', 'pending'];

export async function epic(input: EpicWorkflowInput): Promise<EpicOutcome> {
  // False only while replaying a history from before the change (those runs keep their old behaviour).
  // First of all: a run that has it has every patch before it (see `allUntilDecember2026`).
  const hasAllUntilDecember2026 = patched(epicPatches.allUntilDecember2026);
  const isPatched = (patch: string) => hasAllUntilDecember2026 || patched(patch);
  const inFlightModel = isPatched(epicPatches.inFlightHandOffs);
  // Signals are validated again on replay: a run that ignored one under the old rule must ignore it still.
  const pastTolerance = isPatched(epicPatches.reschedulePastTolerance);
  const preflightModel = isPatched(epicPatches.preflight);
  const prepareModel = isPatched(epicPatches.prepareAhead);
  const followUpModel = isPatched(epicPatches.followUpPublished);
  const metricsModel = isPatched(epicPatches.readMetrics);
  const lastPostModel = isPatched(epicPatches.publishedByLastPost);
  const loadEpicPlan = isPatched(epicPatches.localPlanLoad) ? loadEpicPlanLocally : loadEpicPlanRemotely;

  let status: EpicStatus = 'scheduled';
  let scheduledAt = Date.parse(input.scheduledAt);
  let timeZone = input.timeZone;
  let scheduleToken = input.scheduleToken;
  let publishingStarted = false;
  /** Set by the publish attempt that recorded the epic published with its last publication (this round). */
  let recordedByLastPost: { metricsStarted: boolean } | null = null;
  let transitionInFlight: TransitionKind | null = null;
  let ended: 'review' | 'draft' | null = null;
  let scheduleMoved = false;
  let retryRequested = false;
  const publications: Record<string, PublicationState> = {};
  const ignoredSignals: EpicWorkflowState['ignoredSignals'] = [];
  let tasks: PlannedTask[] = [];
  let plan: EpicPlan | undefined;
  /** Real tasks whose hand-off activity is running or waiting to retry, with the scope that stops it. */
  const inFlight = new Map<string, CancellationScope>();
  /** Histories from before the hand-off key lived on the publication row named it from the run. */
  let legacyHandOffRound = 0;
  /** The time the pre-flight checks last ran for: when the epic was scheduled for it, and in its window. */
  let checkedWhenScheduled: number | null = null;
  let checkedAhead: number | null = null;
  let aheadDeferred = false;
  /** Preparations running (or waiting to retry), each with the scope that stops it; the time they were for. */
  const preparing = new Map<string, CancellationScope>();
  let preparedFor: number | null = null;

  const iso = (ms: number) => new Date(ms).toISOString();
  const result = (): TransitionResult => ({ status, scheduledAt: iso(scheduledAt) });
  const setPublication = (taskId: string, next: Partial<PublicationState>) => {
    publications[taskId] = { ...publications[taskId]!, ...next };
  };
  const realTasks = () => tasks.filter((task) => task.mode === 'real');

  setHandler(stateQuery, () => ({
    status,
    scheduledAt: iso(scheduledAt),
    publishingStarted,
    transitionInFlight,
    publications,
    ignoredSignals,
  }));

  const refusal = (kind: TransitionKind, newTime?: string): { code: string; message: string } | null => {
    if (plan?.superseded) {
      return { code: 'NOT_RUNNING', message: 'this run no longer holds the epic (it was scheduled again)' };
    }
    if (ended) return { code: 'INVALID_TRANSITION', message: `the epic is already ${ended}` };
    if (transitionInFlight) {
      return { code: 'TRANSITION_IN_PROGRESS', message: `a ${transitionInFlight} is being applied` };
    }
    const machineName: EpicTransition = kind;
    const decision = decideTransition(status, machineName, { publishingInProgress: publishingStarted });
    if (!decision.allowed) return { code: decision.code, message: decision.message };
    if (kind === 'reschedule' && newTime !== undefined) {
      const tooLate = pastTolerance
        ? scheduleTooLate(Date.parse(newTime), Date.now())
        : Date.parse(newTime) <= Date.now() && 'is not in the future';
      if (tooLate) return { code: 'INVALID_SCHEDULE', message: `the new time ${tooLate}` };
    }
    return null;
  };

  /** Status writes on their way to the database: a transition's own writes wait for them, in order. */
  let statusWrites = 0;
  const setStatus = async (
    next: EpicStatus,
    action: string,
    actor: string,
    details: Record<string, unknown> = {},
  ) => {
    const from = status;
    status = next;
    upsertSearchAttributes([{ key: epicSearchAttributes.EpicStatus, value: next }]);
    statusWrites += 1;
    try {
      await recordEpicStatus({ epicId: input.epicId, from, status: next, action, actor, details });
    } finally {
      statusWrites -= 1;
    }
  };

  /** One publication through its activity; a final failure is recorded, never thrown. */
  const runPublication = async (
    task: PlannedTask,
    activity: 'publishTask' | 'handOffTask',
    scope?: CancellationScope,
    verify = false,
  ) => {
    const policy = plan!.policy;
    const run = proxyActivities<EpicActivities>({
      startToCloseTimeout: '3 minutes',
      heartbeatTimeout: policy.heartbeatTimeoutMs,
      // A hand-off stopped by a transition is waited for until its worker has let go of it.
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      retry: {
        maximumAttempts: policy.attemptsLimit,
        initialInterval: policy.initialIntervalMs,
        maximumInterval: policy.maxIntervalMs,
        backoffCoefficient: policy.backoff,
        nonRetryableErrorTypes: [...nonRetryableClasses, 'WITHDRAWN'],
      },
      summary: `${activity === 'publishTask' ? 'Publish' : 'Hand off'} ${task.channel} (task ${task.taskId})`,
    });
    setPublication(task.taskId, { status: 'publishing' });
    const attempt = () =>
      activity === 'publishTask'
        ? run.publishTask({
            epicId: input.epicId,
            taskId: task.taskId,
            scheduledAt: iso(scheduledAt),
            ...(scheduleToken === undefined ? {} : { scheduleToken }),
            ...(lastPostModel ? { completesEpic: true as const } : {}),
          })
        : run.handOffTask({
            epicId: input.epicId,
            taskId: task.taskId,
            scheduledAt: iso(scheduledAt),
            ...(verify ? { verify } : {}),
            ...(inFlightModel
              ? scheduleToken === undefined
                ? {}
                : { scheduleToken }
              : {
                  handOffKey: `${input.epicId.slice(0, 8)}-${task.taskId.slice(0, 8)}-${workflowInfo().runId.slice(0, 8)}-${legacyHandOffRound}`,
                }),
          });
    try {
      const outcome = await (scope ? scope.run(attempt) : attempt());
      setPublication(task.taskId, { status: outcome.status });
      if ('epicPublished' in outcome && outcome.epicPublished)
        recordedByLastPost = { metricsStarted: (outcome as PublishOutcome).metricsStarted === true };
      if ('followUp' in outcome && outcome.followUp && followUpModel) await startFollowUp(task);
    } catch (error) {
      const cause = error instanceof ActivityFailure ? error.cause : error;
      // Stopped by us: cancelled, withdrawn by the fence, or timed out after we asked it to stop.
      const withdrawal =
        isCancellation(error) ||
        (cause instanceof ApplicationFailure && cause.type === 'WITHDRAWN') ||
        scope?.consideredCancelled === true;
      if (withdrawal && inFlightModel && transitionInFlight !== null) {
        // Stopped by a transition: what it may have left on the platform is that transition's to cancel.
        setPublication(task.taskId, { status: 'pending' });
        return;
      }
      const failure =
        cause instanceof ApplicationFailure
          ? { class: cause.type ?? 'TRANSIENT', message: cause.message }
          : { class: 'TRANSIENT', message: (cause as Error).message };
      setPublication(task.taskId, { status: 'failed', lastError: failure });
      await recordPublicationOutcome({
        epicId: input.epicId,
        taskId: task.taskId,
        status: 'failed',
        failure,
      });
      // A publication that failed for good leaves nothing on its platform: a switch whose answer was lost may
      // have made the prepared object live, and the epic in error must not be serving it. A retry prepares again.
      if (
        activity === 'publishTask' &&
        task.prepares &&
        prepareModel &&
        isPatched(epicPatches.discardWhenFailed)
      )
        await discardPreparations([task]);
    }
  };

  /**
   * Hands a post the platform has not named yet to its own workflow, which outlives this run. Its failure to
   * start is logged only: the post is out either way.
   */
  const startFollowUp = async (task: PlannedTask) => {
    const followUp = plan!.policy.followUp;
    if (!followUp) return;
    try {
      await startChild<typeof publicationFollowUp>('publicationFollowUp', {
        workflowId: publicationFollowUpWorkflowId(task.taskId),
        args: [{ epicId: input.epicId, taskId: task.taskId, ...followUp }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: `Record the public id of the ${task.channel} post (task ${task.taskId}) once the platform names it`,
      });
    } catch (error) {
      // Already following it (a retried publish that had recorded it): nothing more to start.
      if (!(error instanceof WorkflowExecutionAlreadyStartedError))
        log.warn(`following up task ${task.taskId}: ${(error as Error).message}`);
    }
  };

  /** Reads the published items' performance back, in a workflow of its own that outlives this run. */
  const metricsChild = {
    workflowId: epicMetricsWorkflowId(input.epicId),
    args: [{ epicId: input.epicId }] as [{ epicId: string }],
    parentClosePolicy: ParentClosePolicy.ABANDON,
    staticSummary: epicMetricsSummary(input.epicId),
  };
  const startMetrics = async () => {
    try {
      await startChild<typeof epicMetrics>(epicMetricsWorkflowType, metricsChild);
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) {
        log.warn(`reading the metrics of epic ${input.epicId}: ${(error as Error).message}`);
        return;
      }
      // Already reading (a retry published more): told, it reads the new items at once.
      if (!isPatched(epicPatches.announcePublished)) return;
      try {
        await getExternalWorkflowHandle(epicMetricsWorkflowId(input.epicId)).signal(itemsPublishedSignal);
      } catch (failure) {
        // It ended between the start that found it running and this signal: a new one reads the new items.
        log.warn(`announcing new items to the metrics of ${input.epicId}: ${(failure as Error).message}`);
        await startChild<typeof epicMetrics>(epicMetricsWorkflowType, metricsChild).catch((error: unknown) =>
          log.warn(`reading the metrics of epic ${input.epicId}: ${(error as Error).message}`),
        );
      }
    }
  };

  /**
   * One pre-flight check of the soft publications, alongside the sleep: it never holds back the time, and
   * what it finds is written by the activity (flags, a notification). A check that failed is logged only: the
   * next one, or the time itself, tells.
   */
  const startPreflight = (occasion: PreflightInput['occasion']) => {
    const { preflightEpic } = proxyActivities<PreflightActivities>({
      startToCloseTimeout: '5 minutes',
      retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 3 },
      summary:
        occasion === 'scheduled'
          ? 'Pre-flight: check the soft publications against their platforms (just scheduled)'
          : `Pre-flight: check the soft publications against their platforms before ${iso(scheduledAt)}`,
    });
    preflightEpic({
      epicId: input.epicId,
      scheduledAt: iso(scheduledAt),
      ...(scheduleToken === undefined ? {} : { scheduleToken }),
      occasion,
    }).catch((error: unknown) => log.warn(`pre-flight of epic ${input.epicId}: ${(error as Error).message}`));
  };
  /** A check is owed (the epic was scheduled or moved, or its window opened), once no transition applies. */
  const preflightOwed = () =>
    preflightModel && transitionInFlight === null && (checkedWhenScheduled !== scheduledAt || aheadDeferred);

  const preparable = () =>
    prepareModel
      ? tasks.filter((task) => task.prepares === true && publications[task.taskId]?.status !== 'published')
      : [];
  const prepareAt = () => scheduledAt - (plan?.policy.prepareAheadMs ?? 0);
  /** The preparation for this time is owed: its window is open and no transition applies. */
  const prepareOwed = () =>
    prepareModel &&
    plan?.policy.prepareAheadMs !== undefined &&
    transitionInFlight === null &&
    preparedFor !== scheduledAt &&
    Date.now() >= prepareAt() &&
    preparable().length > 0;

  /**
   * Prepares each preparable soft publication on its platform, alongside the sleep. A failure is logged only:
   * publishing at the time prepares whatever is missing.
   */
  const startPreparations = () => {
    preparedFor = scheduledAt;
    const { prepareTask } = proxyActivities<EpicActivities>({
      startToCloseTimeout: '3 minutes',
      heartbeatTimeout: plan!.policy.heartbeatTimeoutMs,
      // Stopped by the time or a transition: waited for until its worker has let go, so nothing it still
      // creates escapes the publish or the discard that follows.
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      retry: {
        initialInterval: '5 seconds',
        maximumInterval: '1 minute',
        maximumAttempts: 3,
        nonRetryableErrorTypes: [...nonRetryableClasses],
      },
      summary: `Prepare the soft publications before ${iso(scheduledAt)}, without publishing`,
    });
    for (const task of preparable()) {
      if (preparing.has(task.taskId)) continue;
      const scope = new CancellationScope();
      preparing.set(task.taskId, scope);
      scope
        .run(() =>
          prepareTask({
            epicId: input.epicId,
            taskId: task.taskId,
            scheduledAt: iso(scheduledAt),
            ...(scheduleToken === undefined ? {} : { scheduleToken }),
          }),
        )
        .catch((error: unknown) =>
          log.warn(`preparing task ${task.taskId}: ${(error as Error).message}; publishing will prepare it`),
        )
        .finally(() => preparing.delete(task.taskId));
    }
  };

  /** Stops the preparations running and waits until their workers have let go. */
  const stopPreparations = async () => {
    for (const scope of preparing.values()) scope.cancel();
    await condition(() => preparing.size === 0);
  };

  /**
   * Removes what was prepared for a time that no longer holds. Best effort: what stays is PAUSED, never live
   * without the publish at a time, and is reused or removed by the next preparation.
   */
  const discardPreparations = async (
    only?: PlannedTask[],
  ): Promise<{ task: PlannedTask; error: unknown }[]> => {
    if (!prepareModel) return [];
    await stopPreparations();
    preparedFor = null;
    const { discardPrepared } = proxyActivities<EpicActivities>({
      startToCloseTimeout: '1 minute',
      // A worker that died is noticed in seconds, so the removal is tried again within the bound.
      heartbeatTimeout: plan!.policy.heartbeatTimeoutMs,
      scheduleToCloseTimeout: Math.max(5_000, plan!.policy.transitionTimeoutMs),
      retry: {
        initialInterval: '1 second',
        maximumInterval: '10 seconds',
        maximumAttempts: 3,
        nonRetryableErrorTypes: [...nonRetryableClasses],
      },
      summary: 'Remove what was prepared on the platform',
    });
    const failures: { task: PlannedTask; error: unknown }[] = [];
    await Promise.all(
      (only ?? preparable()).map((task) =>
        discardPrepared({ epicId: input.epicId, taskId: task.taskId }).catch((error: unknown) => {
          log.warn(`discarding what was prepared for task ${task.taskId}: ${(error as Error).message}`);
          failures.push({ task, error });
        }),
      ),
    );
    return failures;
  };

  /**
   * Removes what was prepared before a transition. What a failed publish may have made live (its switch sent,
   * its answer lost) must be gone before the transition answers: a failure to remove it refuses the
   * transition, and the epic stays as it was. What never went live is PAUSED and never serves, so a failure
   * to remove it is only logged.
   */
  const discardBeforeTransition = async (): Promise<ApplicationFailure | null> => {
    const failures = await discardPreparations();
    const mayBeLive = failures.find(({ task }) => publications[task.taskId]?.status === 'failed');
    return mayBeLive ? refusalOf(mayBeLive.error) : null;
  };

  /** Starts a real task's hand-off; it counts as in flight until its outcome is recorded. */
  const startHandOff = async (task: PlannedTask, verify = false) => {
    const scope = new CancellationScope();
    inFlight.set(task.taskId, scope);
    return runPublication(task, 'handOffTask', scope, verify).finally(() => inFlight.delete(task.taskId));
  };

  const settled = (taskIds: readonly string[]) => () => taskIds.every((taskId) => !inFlight.has(taskId));
  /** Temporal suggests a new run, and nothing is in flight that a new run would lose. */
  const historyTooLong = () =>
    inFlightModel &&
    workflowInfo().continueAsNewSuggested &&
    transitionInFlight === null &&
    inFlight.size === 0 &&
    // A preparation left behind could still be creating while the next run prepares again.
    preparing.size === 0;

  /** Histories from before `in-flight-hand-offs`: only hand-offs already on the platform were cancelled. */
  const legacyCancelHandOffs = async (actor: string) => {
    const handedOff = tasks.filter((task) => publications[task.taskId]?.status === 'handed_off');
    for (const task of handedOff) {
      await proxyActivities<EpicActivities>({
        ...bookkeeping,
        retry: { ...bookkeeping.retry, nonRetryableErrorTypes: ['LOCKED_BY_PLATFORM'] },
        summary: `Cancel the ${task.channel} hand-off on the platform`,
      }).cancelHandOff({ epicId: input.epicId, taskId: task.taskId, actor });
      setPublication(task.taskId, { status: 'cancelled' });
    }
  };

  /**
   * Takes every hand-off of the epic off its platform: fences the schedule (no attempt still running creates
   * anything from now on), stops the attempts in flight and waits until they have let go, then cancels what
   * each task may have left on its platform, all at once. Returns the first refusal, or null.
   */
  const withdrawHandOffs = async (actor: string): Promise<ApplicationFailure | null> => {
    const candidates = realTasks().filter(
      (task) => !['published', 'cancelled'].includes(publications[task.taskId]!.status),
    );
    if (candidates.length === 0) return null;
    // Generated here, so a retried write of it writes the same token.
    scheduleToken = uuid4();
    await withdrawSchedule({ epicId: input.epicId, scheduleToken });
    for (const scope of inFlight.values()) scope.cancel();
    // Not cut short: cancels may run only once no attempt can still create something. Heartbeats bring the
    // cancellation within seconds; an attempt that cannot stop, or whose worker died, ends at its heartbeat
    // time-out. The transition's own time starts after.
    await condition(() => inFlight.size === 0);
    const deadline = Date.now() + plan!.policy.transitionTimeoutMs;
    const refusals = await Promise.all(
      candidates.map(async (task) => {
        const cancel = proxyActivities<EpicActivities>({
          startToCloseTimeout: '2 minutes',
          scheduleToCloseTimeout: Math.max(5_000, deadline - Date.now()),
          retry: {
            initialInterval: '1 second',
            maximumInterval: '10 seconds',
            maximumAttempts: 5,
            nonRetryableErrorTypes: ['LOCKED_BY_PLATFORM', ...nonRetryableClasses],
          },
          summary: `Cancel the ${task.channel} hand-off on the platform`,
        }).cancelHandOff;
        try {
          await cancel({ epicId: input.epicId, taskId: task.taskId, actor });
          setPublication(task.taskId, { status: 'cancelled' });
          return null;
        } catch (error) {
          const refused = refusalOf(error);
          // Refused: still live. Anything else (no answer, a lost one): unknown, so it is verified and,
          // if the platform did cancel it, handed off again by the undo.
          setPublication(task.taskId, {
            status: refused.type === 'LOCKED_BY_PLATFORM' ? 'handed_off' : 'pending',
          });
          return refused;
        }
      }),
    );
    return refusals.find((refused) => refused !== null) ?? null;
  };

  /**
   * Undoes a refused transition: every real task whose hand-off was live or on its way before it, and is not
   * known live now, is handed off again for the current time — checked against the platform first (its key
   * finds what a lost answer left; a campaign the platform did cancel is replaced). Waits for them within
   * the transition's bound.
   */
  const restoreHandOffs = async (before: Record<string, PublicationStatus>) => {
    const restored = realTasks().filter(
      (task) =>
        liveBeforeTransition.includes(before[task.taskId]!) &&
        publications[task.taskId]!.status !== 'handed_off',
    );
    for (const task of restored) void startHandOff(task, true);
    await condition(settled(restored.map((task) => task.taskId)), plan!.policy.transitionTimeoutMs);
  };

  const runTransition = async (
    kind: TransitionKind,
    request: { requestedBy?: string; reason?: string; scheduledAt?: string; timeZone?: string },
  ) => {
    transitionInFlight = kind;
    const actor = request.requestedBy ?? 'unknown';
    try {
      // A request that arrives while the plan is loading applies once the tasks are known; one accepted
      // while the epic's error is being written applies after that write, so the database ends as answered.
      await condition(() => plan !== undefined && (!inFlightModel || statusWrites === 0));
      if (plan!.superseded) {
        throw ApplicationFailure.create({
          type: 'NOT_RUNNING',
          message: 'this run no longer holds the epic',
        });
      }
      const before = Object.fromEntries(
        tasks.map((task) => [task.taskId, publications[task.taskId]!.status]),
      );
      const withdraw = async () => {
        if (!inFlightModel) return legacyCancelHandOffs(actor);
        const refused = await withdrawHandOffs(actor);
        if (refused) {
          await restoreHandOffs(before);
          throw refused;
        }
      };
      // Runs from before discarded after the hand-offs were withdrawn, whatever it gave.
      const discardFirst = prepareModel && isPatched(epicPatches.discardWhenFailed);
      const discard = async () => {
        const refused = await discardBeforeTransition();
        if (refused) throw refused;
      };
      if (kind === 'unschedule' || kind === 'edit') {
        if (discardFirst) {
          await discard();
          await withdraw();
        } else {
          await withdraw();
          await discardPreparations();
        }
        const next = kind === 'edit' ? 'draft' : 'review';
        await setStatus(next, kind, actor, request.reason ? { reason: request.reason } : {});
        // Only now may the main loop end the run: the db already says so.
        ended = next;
      } else if (kind === 'reschedule') {
        const next = Date.parse(request.scheduledAt!);
        if (discardFirst) {
          await discard();
          await withdraw();
        } else {
          await withdraw();
          await discardPreparations();
        }
        const previous = scheduledAt;
        scheduledAt = next;
        timeZone = request.timeZone;
        scheduleMoved = true;
        upsertSearchAttributes([{ key: epicSearchAttributes.ScheduledAt, value: new Date(next) }]);
        await recordEpicStatus({
          epicId: input.epicId,
          from: status,
          status,
          action: 'reschedule',
          actor,
          details: { from: iso(previous), to: iso(next) },
          scheduledAt: iso(next),
          timeZone: request.timeZone ?? null,
        });
        legacyHandOffRound += 1;
        const moved = realTasks().filter((task) => publications[task.taskId]?.status === 'cancelled');
        if (inFlightModel) {
          for (const task of moved) void startHandOff(task);
          await condition(settled(moved.map((task) => task.taskId)), plan!.policy.transitionTimeoutMs);
        } else {
          await Promise.all(moved.map((task) => startHandOff(task)));
        }
      } else {
        retryRequested = true;
        await setStatus('scheduled', 'retry', actor);
      }
      return result();
    } catch (error) {
      if (error instanceof ApplicationFailure) throw error;
      if (error instanceof ActivityFailure && error.cause instanceof ApplicationFailure) {
        throw ApplicationFailure.create({
          type: error.cause.type ?? 'PLATFORM_REFUSED',
          message: error.cause.message,
          nonRetryable: true,
        });
      }
      throw error;
    } finally {
      transitionInFlight = null;
    }
  };

  const validated = (check: RequestCheck, kind: TransitionKind) => {
    return (request: unknown) => {
      const wrong = check(request ?? {});
      if (wrong) throw ApplicationFailure.create({ type: 'INVALID_INPUT', message: wrong });
      const refused = refusal(kind, (request as { scheduledAt?: string } | undefined)?.scheduledAt);
      if (refused) throw ApplicationFailure.create({ type: refused.code, message: refused.message });
    };
  };

  setHandler(editBackToDraftUpdate, (request) => runTransition('edit', request), {
    validator: validated(checkTransitionRequest, 'edit'),
  });
  setHandler(unscheduleUpdate, (request) => runTransition('unschedule', request), {
    validator: validated(checkTransitionRequest, 'unschedule'),
  });
  setHandler(rescheduleUpdate, (request) => runTransition('reschedule', request), {
    validator: validated(checkRescheduleRequest, 'reschedule'),
  });
  setHandler(retryUpdate, (request) => runTransition('retry', request), {
    validator: validated(checkRetryRequest, 'retry'),
  });

  // Admin tools' signals: validated the same way; a malformed or untimely one is recorded and ignored.
  const fromSignal = (name: string, check: RequestCheck, kind: TransitionKind) => {
    const validate = validated(check, kind);
    return async (payload?: unknown) => {
      const ignore = (reason: string) => {
        ignoredSignals.push({ signal: name, reason, at: iso(Date.now()) });
        log.warn(`ignored signal ${name}: ${reason}`);
      };
      try {
        validate(payload);
      } catch (error) {
        return ignore((error as Error).message);
      }
      const request = (payload ?? {}) as { requestedBy?: string };
      try {
        await runTransition(kind, { ...request, requestedBy: request.requestedBy ?? `signal:${name}` });
      } catch (error) {
        ignore(`refused by the platform: ${(error as Error).message}`);
      }
    };
  };
  setHandler(editBackToDraftSignal, fromSignal('editBackToDraft', checkTransitionRequest, 'edit'));
  setHandler(unscheduleSignal, fromSignal('unschedule', checkTransitionRequest, 'unschedule'));
  setHandler(rescheduleSignal, fromSignal('reschedule', checkRescheduleRequest, 'reschedule'));
  setHandler(retrySignal, fromSignal('retry', checkRetryRequest, 'retry'));

  plan = await loadEpicPlan({
    epicId: input.epicId,
    ...(input.scheduleToken === undefined ? {} : { scheduleToken: input.scheduleToken }),
  });
  if (plan.superseded) {
    // The epic is not scheduled by this run (its start's transaction rolled back, or it was scheduled
    // again): nothing here may act on it.
    log.warn(`epic ${input.epicId} is ${plan.superseded.status} under another schedule: this run ends`);
    return finish({ status: plan.superseded.status as EpicStatus, superseded: true });
  }
  scheduleToken = plan.scheduleToken ?? scheduleToken;
  tasks = plan.tasks;
  for (const task of tasks)
    publications[task.taskId] = { channel: task.channel, mode: task.mode, status: task.status };

  // Real tasks go to their platforms at once; the platform holds them until scheduledAt.
  for (const task of realTasks().filter((candidate) => candidate.status === 'pending'))
    void startHandOff(task);
  // Hand-offs carry on while the workflow sleeps (a Retry-After must not hold the soft posts back); runs
  // from before waited for them here.
  if (!inFlightModel) await condition(() => inFlight.size === 0);

  for (;;) {
    // Sleep until the time. Updates and signals interrupt the wait; a transition in flight holds it.
    while (ended === null) {
      const remaining = scheduledAt - Date.now();
      if (remaining <= 0 && transitionInFlight === null) break;
      if (historyTooLong()) {
        // Many transitions made the history long: a new run carries on from the database, which holds every
        // publication's state; the schedule token goes along so the new run is recognised as current.
        await condition(allHandlersFinished);
        if (historyTooLong() && ended === null) {
          return continueAsNew<typeof epic>({
            ...input,
            scheduledAt: iso(scheduledAt),
            timeZone,
            ...(scheduleToken === undefined ? {} : { scheduleToken }),
          });
        }
        continue;
      }
      if (remaining > 0) {
        let wake = remaining;
        let why = `Sleep until ${iso(scheduledAt)} to publish`;
        if (preflightModel) {
          const aheadAt = scheduledAt - (plan.policy.preflightAheadMs ?? 0);
          const inWindow = Date.now() >= aheadAt;
          if (preflightOwed() && checkedWhenScheduled !== scheduledAt) {
            checkedWhenScheduled = scheduledAt;
            // Scheduled within the window: this check is the one before the time as well.
            if (inWindow) checkedAhead = scheduledAt;
            aheadDeferred = false;
            startPreflight('scheduled');
          } else if (checkedAhead !== scheduledAt && inWindow) {
            // The window opened while a transition was applying: the check waits for it to end.
            aheadDeferred = transitionInFlight !== null;
            if (!aheadDeferred) {
              checkedAhead = scheduledAt;
              startPreflight('ahead');
            }
          }
          if (checkedAhead !== scheduledAt && !inWindow) {
            wake = aheadAt - Date.now();
            why = `Sleep until ${iso(aheadAt)} to check the soft publications before the time`;
          }
        }
        if (prepareOwed()) startPreparations();
        else if (
          prepareModel &&
          plan.policy.prepareAheadMs !== undefined &&
          preparedFor !== scheduledAt &&
          preparable().length > 0 &&
          prepareAt() > Date.now() &&
          prepareAt() - Date.now() < wake
        ) {
          wake = prepareAt() - Date.now();
          why = `Sleep until ${iso(prepareAt())} to prepare the soft publications before the time`;
        }
        scheduleMoved = false;
        await condition(
          () => ended !== null || scheduleMoved || historyTooLong() || preflightOwed() || prepareOwed(),
          wake,
          { summary: why },
        );
      } else {
        await condition(() => ended !== null || transitionInFlight === null);
      }
    }
    if (ended !== null) return finish({ status: ended });

    publishingStarted = true;
    recordedByLastPost = null;
    // A preparation still running is stopped: the publish finds what it made, or makes it.
    if (prepareModel) await stopPreparations();
    const due = tasks.filter(
      (task) => task.mode === 'soft' && !['published'].includes(publications[task.taskId]!.status),
    );
    await Promise.all(due.map((task) => runPublication(task, 'publishTask')));
    // Hand-offs a refused transition restored finish first; then every real task not live is tried again.
    await condition(() => inFlight.size === 0);
    const retryHandOffs = realTasks().filter((task) =>
      inFlightModel
        ? !['handed_off', 'published'].includes(publications[task.taskId]!.status)
        : publications[task.taskId]!.status === 'failed',
    );
    legacyHandOffRound += retryHandOffs.length > 0 ? 1 : 0;
    await Promise.all(retryHandOffs.map((task) => startHandOff(task)));
    await confirmHandOffs();

    const byLastPost = lastPostModel && recordedByLastPost !== null;
    if (
      metricsModel &&
      !(byLastPost && recordedByLastPost!.metricsStarted) &&
      tasks.some((task) => publications[task.taskId]?.status === 'published')
    )
      await startMetrics();

    // Only what the platforms confirmed counts as out.
    const failed = tasks.filter((task) =>
      inFlightModel
        ? publications[task.taskId]!.status !== 'published'
        : publications[task.taskId]!.status === 'failed',
    );
    if (failed.length === 0) {
      if (byLastPost) {
        status = 'published';
        upsertSearchAttributes([{ key: epicSearchAttributes.EpicStatus, value: status }]);
      } else await setStatus('published', 'publish', 'workflow', {});
      return finish({ status: 'published' });
    }
    publishingStarted = false;
    await setStatus('error', 'fail', 'workflow', { failedTaskIds: failed.map((task) => task.taskId) });

    // In error the run stays open for retry, edit back to draft or unschedule.
    retryRequested = false;
    const acted = await condition(() => retryRequested || ended !== null, plan.policy.errorRunOpenMs, {
      summary: 'In error: wait for retry, edit back to draft or unschedule',
    });
    if (ended !== null) return finish({ status: ended });
    if (!acted) return finish({ status: 'error', expired: true });
  }

  /** Lets every update or signal handler finish (and answer) before the run completes. */
  async function finish(outcome: EpicOutcome) {
    await condition(allHandlersFinished);
    return outcome;
  }

  /** A refusal the API can show: the platform's lock (409), or a platform that did not answer (503). */
  function refusalOf(error: unknown): ApplicationFailure {
    const cause = error instanceof ActivityFailure ? error.cause : error;
    if (cause instanceof ApplicationFailure && !['TRANSIENT', 'RATE_LIMITED'].includes(cause.type ?? '')) {
      return ApplicationFailure.create({
        type: cause.type ?? 'PLATFORM_REFUSED',
        message: cause.message,
        nonRetryable: true,
      });
    }
    const why = cause instanceof TimeoutFailure ? 'did not answer in time' : (cause as Error).message;
    return ApplicationFailure.create({
      type: 'PLATFORM_UNAVAILABLE',
      message: `the platform could not cancel the hand-off now (${why}); the epic stays scheduled, try again`,
      nonRetryable: true,
    });
  }

  /** Marks a hand-off published without the platform's word (we can no longer ask, or the window closed). */
  async function publishedUnconfirmed(task: PlannedTask) {
    await recordPublicationOutcome({
      epicId: input.epicId,
      taskId: task.taskId,
      status: 'published',
      unconfirmed: true,
    });
    setPublication(task.taskId, { status: 'published' });
  }

  /** One poll: where each waiting hand-off stands on its platform. */
  async function askPlatforms(waiting: PlannedTask[]): Promise<Record<string, HandOffCheck>> {
    const check = proxyActivities<EpicActivities>({
      ...bookkeeping,
      ...(inFlightModel
        ? { startToCloseTimeout: '5 minutes', retry: { ...bookkeeping.retry, maximumAttempts: 3 } }
        : {}),
      summary: 'Ask the platform whether it sent',
    });
    if (inFlightModel) {
      try {
        return await check.checkHandOffs({
          epicId: input.epicId,
          taskIds: waiting.map((task) => task.taskId),
        });
      } catch {
        // The poll itself failed (the database or the worker): ask again at the next one.
        return Object.fromEntries(waiting.map((task) => [task.taskId, 'error' as const]));
      }
    }
    const answers: Record<string, HandOffCheck> = {};
    for (const task of waiting) {
      try {
        answers[task.taskId] = await check.checkHandOff({ epicId: input.epicId, taskId: task.taskId });
      } catch {
        answers[task.taskId] = 'unreachable';
      }
      // Recorded as it comes, as these runs did.
      if (answers[task.taskId] === 'unreachable') await publishedUnconfirmed(task);
    }
    return answers;
  }

  /** Waits for the platforms to confirm real hand-offs as sent, up to the confirmation window. */
  async function confirmHandOffs() {
    const deadline = scheduledAt + plan!.policy.confirmationWindowMs;
    for (;;) {
      const waiting = tasks.filter((task) => publications[task.taskId]?.status === 'handed_off');
      if (waiting.length === 0) return;
      const answers = await askPlatforms(waiting);
      for (const task of waiting) {
        const answer = answers[task.taskId];
        // We can no longer ask (e.g. the connector was disconnected): the platform still holds the send, so
        // the publication counts as published, unconfirmed — not as an error.
        if (answer === 'unreachable' && inFlightModel) await publishedUnconfirmed(task);
        else if (answer === 'sent') setPublication(task.taskId, { status: 'published' });
        else if (answer === 'failed' || answer === 'cancelled')
          setPublication(task.taskId, { status: 'failed' });
      }
      if (tasks.every((task) => publications[task.taskId]?.status !== 'handed_off')) return;
      if (Date.now() >= deadline) {
        for (const task of tasks.filter(
          (candidate) => publications[candidate.taskId]?.status === 'handed_off',
        )) {
          await publishedUnconfirmed(task);
        }
        return;
      }
      const wait = Math.max(Math.min(plan!.policy.confirmPollMs, deadline - Date.now()), 1_000);
      await condition(() => false, wait, {
        summary: 'Wait before asking the platform again whether it sent',
      });
    }
  }
}
