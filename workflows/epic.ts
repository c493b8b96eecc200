// The epic workflow (SPEC §4): hands real tasks to their platforms at once, sleeps until scheduledAt, then
// publishes the soft tasks concurrently with capped retries; obeys unschedule / edit / reschedule / retry
// from the API (updates) and from admin tools (signals). Every decision is taken here, so a request racing
// the timer either wins (nothing published) or is refused.
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { z } from 'zod';
import type { EpicActivities, EpicPlan, PlannedTask } from '../activities/epic.ts';
import { decideTransition, type EpicStatus, type EpicTransition } from '../domain/epic-state-machine.ts';
import { nonRetryableClasses } from '../domain/publication-errors.ts';
import { epicSearchAttributes } from '../domain/search-attributes.ts';
import {
  type EpicOutcome,
  type EpicWorkflowInput,
  type EpicWorkflowState,
  editBackToDraftSignal,
  editBackToDraftUpdate,
  type PublicationState,
  RescheduleRequest,
  RetryRequest,
  rescheduleSignal,
  rescheduleUpdate,
  retrySignal,
  retryUpdate,
  stateQuery,
  TransitionRequest,
  type TransitionResult,
  unscheduleSignal,
  unscheduleUpdate,
} from './epic-messages.ts';

const bookkeeping = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
} as const;

const { loadEpicPlan, recordEpicStatus, recordPublicationOutcome } = proxyActivities<EpicActivities>({
  ...bookkeeping,
  summary: 'Read or write the epic in PostgreSQL',
});

type TransitionKind = 'unschedule' | 'edit' | 'reschedule' | 'retry';

export async function epic(input: EpicWorkflowInput): Promise<EpicOutcome> {
  let status: EpicStatus = 'scheduled';
  let scheduledAt = Date.parse(input.scheduledAt);
  let publishingStarted = false;
  let transitionInFlight: TransitionKind | null = null;
  let ended: 'review' | 'draft' | null = null;
  let scheduleMoved = false;
  let retryRequested = false;
  const publications: Record<string, PublicationState> = {};
  const ignoredSignals: EpicWorkflowState['ignoredSignals'] = [];
  let tasks: PlannedTask[] = [];
  let plan: EpicPlan | undefined;
  let handOffRound = 0;

  const iso = (ms: number) => new Date(ms).toISOString();
  const result = (): TransitionResult => ({ status, scheduledAt: iso(scheduledAt) });

  setHandler(stateQuery, () => ({
    status,
    scheduledAt: iso(scheduledAt),
    publishingStarted,
    transitionInFlight,
    publications,
    ignoredSignals,
  }));

  const refusal = (kind: TransitionKind, newTime?: string): { code: string; message: string } | null => {
    if (ended) return { code: 'INVALID_TRANSITION', message: `the epic is already ${ended}` };
    if (transitionInFlight) {
      return { code: 'TRANSITION_IN_PROGRESS', message: `a ${transitionInFlight} is being applied` };
    }
    const machineName: EpicTransition = kind;
    const decision = decideTransition(status, machineName, { publishingInProgress: publishingStarted });
    if (!decision.allowed) return { code: decision.code, message: decision.message };
    if (kind === 'reschedule' && newTime !== undefined && Date.parse(newTime) <= Date.now()) {
      return { code: 'INVALID_SCHEDULE', message: 'the new time must be in the future' };
    }
    return null;
  };

  const setStatus = async (
    next: EpicStatus,
    action: string,
    actor: string,
    details: Record<string, unknown> = {},
  ) => {
    const from = status;
    status = next;
    upsertSearchAttributes([{ key: epicSearchAttributes.EpicStatus, value: next }]);
    await recordEpicStatus({ epicId: input.epicId, from, status: next, action, actor, details });
  };

  /** Cancels every hand-off still on a platform. Throws the platform's refusal (e.g. Klaviyo's lock). */
  const cancelHandOffs = async (actor: string) => {
    const handedOff = tasks.filter((task) => publications[task.taskId]?.status === 'handed_off');
    for (const task of handedOff) {
      await proxyActivities<EpicActivities>({
        ...bookkeeping,
        retry: { ...bookkeeping.retry, nonRetryableErrorTypes: ['LOCKED_BY_PLATFORM'] },
        summary: `Cancel the ${task.channel} hand-off on the platform`,
      }).cancelHandOff({ epicId: input.epicId, taskId: task.taskId, actor });
      publications[task.taskId] = { ...publications[task.taskId]!, status: 'cancelled' };
    }
  };

  const handOff = async (task: PlannedTask) => {
    const handOffKey = `${input.epicId.slice(0, 8)}-${task.taskId.slice(0, 8)}-${workflowInfo().runId.slice(0, 8)}-${handOffRound}`;
    await runPublication(task, 'handOffTask', handOffKey);
  };

  /** One publication through its activity; a final failure is recorded, never thrown. */
  const runPublication = async (
    task: PlannedTask,
    activity: 'publishTask' | 'handOffTask',
    handOffKey?: string,
  ) => {
    const policy = plan!.policy;
    const run = proxyActivities<EpicActivities>({
      startToCloseTimeout: '3 minutes',
      heartbeatTimeout: policy.heartbeatTimeoutMs,
      retry: {
        maximumAttempts: policy.attemptsLimit,
        initialInterval: policy.initialIntervalMs,
        maximumInterval: policy.maxIntervalMs,
        backoffCoefficient: policy.backoff,
        nonRetryableErrorTypes: [...nonRetryableClasses],
      },
      summary: `${activity === 'publishTask' ? 'Publish' : 'Hand off'} ${task.channel} (task ${task.taskId})`,
    });
    publications[task.taskId] = { ...publications[task.taskId]!, status: 'publishing' };
    try {
      const outcome =
        activity === 'publishTask'
          ? await run.publishTask({
              epicId: input.epicId,
              taskId: task.taskId,
              scheduledAt: iso(scheduledAt),
            })
          : await run.handOffTask({
              epicId: input.epicId,
              taskId: task.taskId,
              scheduledAt: iso(scheduledAt),
              handOffKey: handOffKey!,
            });
      publications[task.taskId] = { ...publications[task.taskId]!, status: outcome.status };
    } catch (error) {
      const cause = error instanceof ActivityFailure ? error.cause : error;
      const failure =
        cause instanceof ApplicationFailure
          ? { class: cause.type ?? 'TRANSIENT', message: cause.message }
          : { class: 'TRANSIENT', message: (cause as Error).message };
      publications[task.taskId] = { ...publications[task.taskId]!, status: 'failed', lastError: failure };
      await recordPublicationOutcome({
        epicId: input.epicId,
        taskId: task.taskId,
        status: 'failed',
        failure,
      });
    }
  };

  const runTransition = async (
    kind: TransitionKind,
    request: { requestedBy?: string; reason?: string; scheduledAt?: string },
  ) => {
    transitionInFlight = kind;
    const actor = request.requestedBy ?? 'unknown';
    try {
      // A request that arrives while the plan is loading applies once the tasks are known.
      await condition(() => plan !== undefined);
      if (kind === 'unschedule' || kind === 'edit') {
        await cancelHandOffs(actor);
        const next = kind === 'edit' ? 'draft' : 'review';
        await setStatus(next, kind, actor, request.reason ? { reason: request.reason } : {});
        // Only now may the main loop end the run: the db already says so.
        ended = next;
      } else if (kind === 'reschedule') {
        const next = Date.parse(request.scheduledAt!);
        await cancelHandOffs(actor);
        const previous = scheduledAt;
        scheduledAt = next;
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
        });
        handOffRound += 1;
        await Promise.all(
          tasks
            .filter((task) => task.mode === 'real' && publications[task.taskId]?.status === 'cancelled')
            .map(handOff),
        );
      } else {
        retryRequested = true;
        await setStatus('scheduled', 'retry', actor);
      }
      return result();
    } catch (error) {
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

  const validated = <Schema extends z.ZodType>(schema: Schema, kind: TransitionKind) => {
    return (request: unknown) => {
      const parsed = schema.safeParse(request ?? {});
      if (!parsed.success) {
        throw ApplicationFailure.create({
          type: 'INVALID_INPUT',
          message: parsed.error.issues[0]?.message ?? 'invalid',
        });
      }
      const refused = refusal(kind, (parsed.data as { scheduledAt?: string }).scheduledAt);
      if (refused) throw ApplicationFailure.create({ type: refused.code, message: refused.message });
    };
  };

  setHandler(editBackToDraftUpdate, (request) => runTransition('edit', request), {
    validator: validated(TransitionRequest, 'edit'),
  });
  setHandler(unscheduleUpdate, (request) => runTransition('unschedule', request), {
    validator: validated(TransitionRequest, 'unschedule'),
  });
  setHandler(rescheduleUpdate, (request) => runTransition('reschedule', request), {
    validator: validated(RescheduleRequest, 'reschedule'),
  });
  setHandler(retryUpdate, (request) => runTransition('retry', request), {
    validator: validated(RetryRequest, 'retry'),
  });

  // Admin tools' signals: validated the same way; a malformed or untimely one is recorded and ignored.
  const fromSignal = <Schema extends z.ZodType>(name: string, schema: Schema, kind: TransitionKind) => {
    const validate = validated(schema, kind);
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
      const request = schema.parse(payload ?? {}) as { requestedBy?: string };
      try {
        await runTransition(kind, { ...request, requestedBy: request.requestedBy ?? `signal:${name}` });
      } catch (error) {
        ignore(`refused by the platform: ${(error as Error).message}`);
      }
    };
  };
  setHandler(editBackToDraftSignal, fromSignal('editBackToDraft', TransitionRequest, 'edit'));
  setHandler(unscheduleSignal, fromSignal('unschedule', TransitionRequest, 'unschedule'));
  setHandler(rescheduleSignal, fromSignal('reschedule', RescheduleRequest, 'reschedule'));
  setHandler(retrySignal, fromSignal('retry', RetryRequest, 'retry'));

  plan = await loadEpicPlan({ epicId: input.epicId });
  tasks = plan.tasks;
  for (const task of tasks)
    publications[task.taskId] = { channel: task.channel, mode: task.mode, status: task.status };

  // Real tasks go to their platforms at once; the platform holds them until scheduledAt.
  await Promise.all(tasks.filter((task) => task.mode === 'real' && task.status === 'pending').map(handOff));

  for (;;) {
    // Sleep until the time. Updates and signals interrupt the wait; a transition in flight holds it.
    while (ended === null) {
      const remaining = scheduledAt - Date.now();
      if (remaining <= 0 && transitionInFlight === null) break;
      if (remaining > 0) {
        scheduleMoved = false;
        await condition(() => ended !== null || scheduleMoved, remaining, {
          summary: `Sleep until ${iso(scheduledAt)} to publish`,
        });
      } else {
        await condition(() => ended !== null || transitionInFlight === null);
      }
    }
    if (ended !== null) return finish({ status: ended });

    publishingStarted = true;
    const due = tasks.filter(
      (task) => task.mode === 'soft' && !['published'].includes(publications[task.taskId]!.status),
    );
    await Promise.all(due.map((task) => runPublication(task, 'publishTask')));
    const retryHandOffs = tasks.filter(
      (task) => task.mode === 'real' && publications[task.taskId]!.status === 'failed',
    );
    handOffRound += retryHandOffs.length > 0 ? 1 : 0;
    await Promise.all(retryHandOffs.map(handOff));
    await confirmHandOffs();

    const failed = tasks.filter((task) => publications[task.taskId]!.status === 'failed');
    if (failed.length === 0) {
      await setStatus('published', 'publish', 'workflow', {});
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

  /** Waits for the platforms to confirm real hand-offs as sent, up to the confirmation window. */
  async function confirmHandOffs() {
    const deadline = scheduledAt + plan!.policy.confirmationWindowMs;
    const check = proxyActivities<EpicActivities>({
      ...bookkeeping,
      summary: 'Ask the platform whether it sent',
    });
    for (;;) {
      const waiting = tasks.filter((task) => publications[task.taskId]?.status === 'handed_off');
      if (waiting.length === 0) return;
      for (const task of waiting) {
        let state: Awaited<ReturnType<typeof check.checkHandOff>>;
        try {
          state = await check.checkHandOff({ epicId: input.epicId, taskId: task.taskId });
        } catch {
          // We can no longer ask (e.g. the connector was disconnected): the platform still holds the send,
          // so the publication counts as published, unconfirmed — not as an error.
          await recordPublicationOutcome({
            epicId: input.epicId,
            taskId: task.taskId,
            status: 'published',
            unconfirmed: true,
          });
          publications[task.taskId] = { ...publications[task.taskId]!, status: 'published' };
          continue;
        }
        if (state !== 'pending')
          publications[task.taskId] = {
            ...publications[task.taskId]!,
            status: state === 'sent' ? 'published' : 'failed',
          };
      }
      if (tasks.every((task) => publications[task.taskId]?.status !== 'handed_off')) return;
      if (Date.now() >= deadline) {
        for (const task of tasks.filter(
          (candidate) => publications[candidate.taskId]?.status === 'handed_off',
        )) {
          await recordPublicationOutcome({
            epicId: input.epicId,
            taskId: task.taskId,
            status: 'published',
            unconfirmed: true,
          });
          publications[task.taskId] = { ...publications[task.taskId]!, status: 'published' };
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
