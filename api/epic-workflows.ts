// The API's side of the epic workflow: start a run (id `epic-<epicId>`) and ask it for transitions through
// updates, turning the workflow's refusals into 409s with their reason and an unreachable or slow Temporal
// into 503. Every call is bounded: no request waits on Temporal longer than its deadline.

import { randomUUID } from 'node:crypto';
import {
  Client,
  type ConnectionLike,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Channel } from '../domain/channels.ts';
import { epicSearchAttributes } from '../domain/search-attributes.ts';
import { epicWorkflowTexts } from '../domain/workflow-summaries.ts';
import {
  type EpicWorkflowInput,
  editBackToDraftUpdate,
  epicWorkflowId,
  epicWorkflowType,
  rescheduleUpdate,
  retryUpdate,
  type TransitionResult,
  unscheduleUpdate,
} from '../workflows/epic-messages.ts';
import { ApiError } from './errors.ts';
import type { SummaryFacts } from './workflow-summary-facts.ts';

export type EpicUpdate = 'edit' | 'unschedule' | 'reschedule' | 'retry';

const updates = {
  edit: editBackToDraftUpdate,
  unschedule: unscheduleUpdate,
  reschedule: rescheduleUpdate,
  retry: retryUpdate,
} as const;

/** Refusals that say "not now, nothing changed" rather than "not allowed": the client may try again. */
const retryableRefusals = new Set(['PLATFORM_UNAVAILABLE']);

export interface EpicWorkflows {
  /**
   * Starts the epic's run, its schedule token in the memo and what it is for in its summary (the workspace's
   * name read when the caller does not give it). Throws 409 ALREADY_SCHEDULED (with `details.openRun`) when
   * another run of the epic is open, 503 when Temporal did not answer — in which case the start may still
   * have happened: `openRunToken` tells.
   */
  start(
    input: EpicWorkflowInput & { scheduleToken: string },
    facts: { title: string; channels: Channel[]; workspaceName?: string },
  ): Promise<void>;
  /** The schedule token of the epic's open run; null when none is open; undefined when Temporal cannot say. */
  openRunToken(epicId: string): Promise<string | null | undefined>;
  /** Applies a transition in the running workflow; `not_running` when no run is open for the epic. */
  update(
    epicId: string,
    kind: EpicUpdate,
    request: { requestedBy: string; reason?: string; scheduledAt?: string; timeZone?: string },
  ): Promise<TransitionResult | 'not_running'>;
  /** Waits, at most `timeoutMs`, until no run of the epic is open; says whether none is. */
  awaitClosed(epicId: string, timeoutMs: number): Promise<boolean>;
}

/** gRPC's status code FAILED_PRECONDITION. */
const failedPrecondition = 9;

/** The server dropped an update because the workflow task delivering it failed (it was never applied). */
function droppedWithWorkflowTask(error: unknown): boolean {
  const cause = (error as { cause?: { code?: number; details?: string } } | undefined)?.cause;
  return (
    cause?.code === failedPrecondition &&
    /update due to unexpected workflow task failure/i.test(cause.details ?? '')
  );
}

function unavailable(error: unknown): ApiError {
  return new ApiError(
    503,
    'TEMPORAL_UNAVAILABLE',
    `Temporal is not reachable: ${(error as Error).message.split('\n')[0]}`,
  );
}

export function createEpicWorkflows(
  /** The API's link, or a worker's connection (the operations sweep starts missing runs again). */
  temporal: { connection(): Promise<ConnectionLike> },
  options: {
    namespace: string;
    taskQueue: string;
    /** How long the API waits for a transition's answer (epicTransitionWaitMs in config.ts). */
    transitionWaitMs: number;
    /** How long a start may take before its answer counts as lost. */
    startTimeoutMs?: number;
    /** Where a run's summary reads the workspace's name; without it, the summary names the workspace by id. */
    summaryFacts?: SummaryFacts;
  },
): EpicWorkflows {
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  const updateTimeoutMs = options.transitionWaitMs;

  const client = async () => {
    try {
      return new Client({ connection: await temporal.connection(), namespace: options.namespace });
    } catch (error) {
      throw unavailable(error);
    }
  };

  async function openRunToken(epicId: string): Promise<string | null | undefined> {
    let temporalClient: Client;
    try {
      temporalClient = await client();
    } catch {
      return undefined;
    }
    try {
      const description = await temporalClient.connection.withDeadline(Date.now() + startTimeoutMs, () =>
        temporalClient.workflow.getHandle(epicWorkflowId(epicId)).describe(),
      );
      if (description.status.name !== 'RUNNING') return null;
      return (description.memo?.scheduleToken as string | undefined) ?? undefined;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return null;
      return undefined;
    }
  }

  return {
    async start(input, facts) {
      const temporalClient = await client();
      const texts = epicWorkflowTexts({
        epicId: input.epicId,
        title: facts.title,
        workspaceId: input.workspaceId,
        workspaceName:
          facts.workspaceName ?? (await options.summaryFacts?.workspaceName(input.workspaceId)) ?? null,
        channels: facts.channels,
        scheduledAt: input.scheduledAt,
        timeZone: input.timeZone,
      });
      try {
        await temporalClient.connection.withDeadline(Date.now() + startTimeoutMs, () =>
          temporalClient.workflow.start(epicWorkflowType, {
            workflowId: epicWorkflowId(input.epicId),
            taskQueue: options.taskQueue,
            args: [input],
            // The token in the memo lets a start whose answer was lost be recognised (see openRunToken). The
            // summary there too: a run continued as new keeps its memo, not its static summary.
            memo: { scheduleToken: input.scheduleToken, summary: texts.staticSummary },
            // What the Temporal UI and `temporal workflow describe` show for the run (SPEC §8).
            staticSummary: texts.staticSummary,
            staticDetails: texts.staticDetails,
            typedSearchAttributes: [
              { key: epicSearchAttributes.EpicId, value: input.epicId },
              { key: epicSearchAttributes.EpicStatus, value: 'scheduled' },
              { key: epicSearchAttributes.WorkspaceId, value: input.workspaceId },
              { key: epicSearchAttributes.ScheduledAt, value: new Date(input.scheduledAt) },
              { key: epicSearchAttributes.Channels, value: [...new Set(facts.channels)] },
            ],
          }),
        );
      } catch (error) {
        if (error instanceof WorkflowExecutionAlreadyStartedError) {
          throw new ApiError(409, 'ALREADY_SCHEDULED', 'a workflow run is already open for this epic', {
            openRun: true,
          });
        }
        throw unavailable(error);
      }
    },

    async update(epicId, kind, request) {
      const temporalClient = await client();
      const handle = temporalClient.workflow.getHandle(epicWorkflowId(epicId));
      try {
        const args =
          kind === 'reschedule'
            ? {
                scheduledAt: request.scheduledAt!,
                ...(request.timeZone ? { timeZone: request.timeZone } : {}),
                requestedBy: request.requestedBy,
              }
            : kind === 'retry'
              ? { requestedBy: request.requestedBy }
              : { requestedBy: request.requestedBy, ...(request.reason ? { reason: request.reason } : {}) };
        // One id for every try: a try the workflow did accept is not applied twice.
        const updateId = randomUUID();
        const deadline = Date.now() + updateTimeoutMs;
        for (let attempt = 1; ; attempt += 1) {
          try {
            return await temporalClient.connection.withDeadline(deadline, () =>
              // biome-ignore lint/suspicious/noExplicitAny: the four updates share one call site; args match by kind.
              handle.executeUpdate(updates[kind] as any, { args: [args], updateId }),
            );
          } catch (error) {
            // The workflow task that carried the update failed for a reason of its own (an activity's answer
            // arrived while it ran: "unhandled command") and the server dropped the update with it. Nothing it
            // asked for was applied: the handlers act through activities, scheduled only by a completed task.
            if (!droppedWithWorkflowTask(error)) throw error;
            if (attempt >= 3 || Date.now() >= deadline) {
              throw new ApiError(
                503,
                'TRANSITION_PENDING',
                "the epic's workflow dropped the change three times (its workflow task kept failing); read the " +
                  'epic before trying again',
              );
            }
          }
        }
      } catch (error) {
        if (error instanceof ApiError) throw error;
        if (error instanceof WorkflowNotFoundError) return 'not_running';
        if (error instanceof WorkflowUpdateFailedError) {
          const cause = error.cause instanceof ApplicationFailure ? error.cause : null;
          const code = cause?.type ?? 'INVALID_TRANSITION';
          const message = cause?.message ?? error.message;
          if (code === 'NOT_RUNNING') return 'not_running';
          throw new ApiError(
            code === 'INVALID_INPUT' ? 400 : retryableRefusals.has(code) ? 503 : 409,
            code,
            message,
          );
        }
        if ((error as Error).message?.includes('workflow execution already completed')) return 'not_running';
        // The SDK names a call its deadline ended either way ("Deadline exceeded", "Call cancelled").
        if (
          error instanceof WorkflowUpdateRPCTimeoutOrCancelledError ||
          /deadline/i.test((error as Error).message ?? '')
        ) {
          throw new ApiError(
            503,
            'TRANSITION_PENDING',
            `the epic's workflow did not answer within ${Math.round(updateTimeoutMs / 1000)} s (no worker, or ` +
              'Temporal is slow); the change may still be applied: read the epic before trying again',
          );
        }
        throw unavailable(error);
      }
    },

    openRunToken,

    async awaitClosed(epicId, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if ((await openRunToken(epicId)) === null) return true;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return false;
    },
  };
}
