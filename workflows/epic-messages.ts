// The epic workflow's contract, shared by the workflow, the API (client) and admin tools: its input, the
// signals (for admin tools), the updates (for the API, which needs a definite answer) and the query `state`.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import type { EpicStatus } from '../domain/epic-state-machine.ts';
import type { PublicationStatus } from '../domain/publications.ts';

export const epicWorkflowType = 'epic';
export const epicWorkflowId = (epicId: string) => `epic-${epicId}`;

/** Ids and times only: content and credentials are loaded by activities, never carried in the history. */
export interface EpicWorkflowInput {
  epicId: string;
  workspaceId: string;
  /** ISO instant (UTC). */
  scheduledAt: string;
  /** The IANA zone the time was chosen in (shown to operators; kept across reschedules); absent: an instant. */
  timeZone?: string;
  /**
   * The schedule this run serves (the epic row's `scheduleToken`, written in the same transaction that
   * started the run): a run whose token is not the epic's acts on nothing. Absent in runs started before.
   */
  scheduleToken?: string;
}

const requestedBy = z.string().max(200).optional();

export const TransitionRequest = z.object({ reason: z.string().max(1_000).optional(), requestedBy }).strict();
export type TransitionRequest = z.infer<typeof TransitionRequest>;

export const RescheduleRequest = z
  .object({
    scheduledAt: z.iso.datetime({ offset: true }),
    /** The zone the new time was chosen in (the API parsed the two together: domain/time.ts). */
    timeZone: z.string().min(1).max(64).optional(),
    requestedBy,
  })
  .strict();
export type RescheduleRequest = z.infer<typeof RescheduleRequest>;

export const RetryRequest = z.object({ requestedBy }).strict();
export type RetryRequest = z.infer<typeof RetryRequest>;

export type { PublicationStatus };

export interface PublicationState {
  channel: string;
  mode: 'soft' | 'real';
  status: PublicationStatus;
  lastError?: { class: string; message: string };
}

export interface EpicWorkflowState {
  status: EpicStatus;
  scheduledAt: string;
  /** True once soft publications have started: edit and unschedule are refused from then on. */
  publishingStarted: boolean;
  /** A transition (unschedule, edit, reschedule, retry) being applied right now. */
  transitionInFlight: string | null;
  publications: Record<string, PublicationState>;
  /** Signals that were malformed or untimely: recorded here (and in the worker log), never applied. */
  ignoredSignals: { signal: string; reason: string; at: string }[];
}

/** What an update answers once applied. */
export interface TransitionResult {
  status: EpicStatus;
  scheduledAt: string;
}

export interface EpicOutcome {
  status: EpicStatus;
  /** The error run's waiting window ran out without retry, edit or unschedule. */
  expired?: boolean;
  /** The epic was not scheduled by this run's schedule when it started: it did nothing. */
  superseded?: boolean;
}

// Signals: the exact names operators type in `temporal workflow signal --name …`. Payloads arrive unchecked.
export const editBackToDraftSignal = defineSignal<[unknown?]>('editBackToDraft');
export const unscheduleSignal = defineSignal<[unknown?]>('unschedule');
export const rescheduleSignal = defineSignal<[unknown?]>('reschedule');
export const retrySignal = defineSignal<[unknown?]>('retry');

// Updates: the same transitions with a validator, so the API gets "applied" or a refusal with its reason.
export const editBackToDraftUpdate = defineUpdate<TransitionResult, [TransitionRequest]>(
  'editBackToDraftUpdate',
);
export const unscheduleUpdate = defineUpdate<TransitionResult, [TransitionRequest]>('unscheduleUpdate');
export const rescheduleUpdate = defineUpdate<TransitionResult, [RescheduleRequest]>('rescheduleUpdate');
export const retryUpdate = defineUpdate<TransitionResult, [RetryRequest]>('retryUpdate');

export const stateQuery = defineQuery<EpicWorkflowState>('state');
