// The API's side of the epic workflow: start a run (id `epic-<epicId>`) and ask it for transitions through
// updates, turning the workflow's refusals into 409s with their reason and an unreachable Temporal into 503.
import {
  Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Channel } from '../domain/channels.ts';
import { epicSearchAttributes } from '../domain/search-attributes.ts';
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
import type { TemporalLink } from './temporal.ts';

export type EpicUpdate = 'edit' | 'unschedule' | 'reschedule' | 'retry';

const updates = {
  edit: editBackToDraftUpdate,
  unschedule: unscheduleUpdate,
  reschedule: rescheduleUpdate,
  retry: retryUpdate,
} as const;

export interface EpicWorkflows {
  start(input: EpicWorkflowInput, facts: { title: string; channels: Channel[] }): Promise<void>;
  /** Applies a transition in the running workflow; `not_running` when no run is open for the epic. */
  update(
    epicId: string,
    kind: EpicUpdate,
    request: { requestedBy: string; reason?: string; scheduledAt?: string },
  ): Promise<TransitionResult | 'not_running'>;
}

function unavailable(error: unknown): ApiError {
  return new ApiError(
    503,
    'TEMPORAL_UNAVAILABLE',
    `Temporal is not reachable: ${(error as Error).message.split('\n')[0]}`,
  );
}

export function createEpicWorkflows(
  temporal: TemporalLink,
  options: { namespace: string; taskQueue: string },
): EpicWorkflows {
  const client = async () => {
    try {
      return new Client({ connection: await temporal.connection(), namespace: options.namespace });
    } catch (error) {
      throw unavailable(error);
    }
  };

  return {
    async start(input, facts) {
      const temporalClient = await client();
      try {
        await temporalClient.workflow.start(epicWorkflowType, {
          workflowId: epicWorkflowId(input.epicId),
          taskQueue: options.taskQueue,
          args: [input],
          staticSummary: `Epic "${facts.title.slice(0, 80)}" at ${input.scheduledAt}`,
          staticDetails: `Epic ${input.epicId} of workspace ${input.workspaceId}: ${facts.channels.join(', ')}`,
          typedSearchAttributes: [
            { key: epicSearchAttributes.EpicId, value: input.epicId },
            { key: epicSearchAttributes.EpicStatus, value: 'scheduled' },
            { key: epicSearchAttributes.WorkspaceId, value: input.workspaceId },
            { key: epicSearchAttributes.ScheduledAt, value: new Date(input.scheduledAt) },
            { key: epicSearchAttributes.Channels, value: [...new Set(facts.channels)] },
          ],
        });
      } catch (error) {
        if (error instanceof WorkflowExecutionAlreadyStartedError) {
          throw new ApiError(409, 'ALREADY_SCHEDULED', 'a workflow run is already open for this epic');
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
            ? { scheduledAt: request.scheduledAt!, requestedBy: request.requestedBy }
            : kind === 'retry'
              ? { requestedBy: request.requestedBy }
              : { requestedBy: request.requestedBy, ...(request.reason ? { reason: request.reason } : {}) };
        // biome-ignore lint/suspicious/noExplicitAny: the four updates share one call site; args match by kind.
        return await handle.executeUpdate(updates[kind] as any, { args: [args] });
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return 'not_running';
        if (error instanceof WorkflowUpdateFailedError) {
          const cause = error.cause instanceof ApplicationFailure ? error.cause : null;
          const code = cause?.type ?? 'INVALID_TRANSITION';
          const message = cause?.message ?? error.message;
          throw new ApiError(code === 'INVALID_INPUT' ? 400 : 409, code, message);
        }
        if ((error as Error).message?.includes('workflow execution already completed')) return 'not_running';
        throw unavailable(error);
      }
    },
  };
}
