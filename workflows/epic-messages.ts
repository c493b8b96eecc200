// The epic workflow's contract, shared by the workflow, the API (client) and admin tools: its input, the
// signals (for admin tools), the updates (for the API, which needs a definite answer) and the query `state`.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
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

// The requests are checked by hand, not by zod: the workflow bundle evaluates its modules again for every
// workflow it creates or replays, and zod's modules were most of the worker's time when many epics woke at once
// (README "Performance"). test/epic-messages.test.ts holds the checks to the rules zod applied before.

export interface TransitionRequest {
  reason?: string;
  requestedBy?: string;
}

export interface RescheduleRequest {
  scheduledAt: string;
  /** The zone the new time was chosen in (the API parsed the two together: domain/time.ts). */
  timeZone?: string;
  requestedBy?: string;
}

export interface RetryRequest {
  requestedBy?: string;
}

/** What is wrong with a request, or null: one line naming the field, as the workflow's refusal says it. */
export type RequestCheck = (request: unknown) => string | null;

/** RFC 3339 with seconds and a `Z` or `±hh:mm` offset (any fraction), the calendar's real days only. */
const instantPattern = new RegExp(
  '^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|' +
    '\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|02-(?:0[1-9]|1\\d|2[0-8])))' +
    'T(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)$',
);

interface FieldRule {
  required?: true;
  /** What is wrong with a string value, or null. */
  check: (value: string) => string | null;
}

const text =
  (min: number, max: number): FieldRule['check'] =>
  (value) =>
    value.length < min || value.length > max
      ? `must be ${min > 0 ? `${min} to ${max}` : `at most ${max}`} characters`
      : null;

function requestCheck(rules: Record<string, FieldRule>): RequestCheck {
  return (request) => {
    if (typeof request !== 'object' || request === null || Array.isArray(request)) return 'must be an object';
    for (const key of Object.keys(request)) {
      if (!Object.hasOwn(rules, key)) return `${key}: is not a field of this request`;
    }
    for (const [name, rule] of Object.entries(rules)) {
      const value = (request as Record<string, unknown>)[name];
      if (value === undefined) {
        if (rule.required) return `${name}: is required`;
        continue;
      }
      if (typeof value !== 'string') return `${name}: must be a string`;
      const wrong = rule.check(value);
      if (wrong) return `${name}: ${wrong}`;
    }
    return null;
  };
}

const requestedBy: FieldRule = { check: text(0, 200) };

export const checkTransitionRequest = requestCheck({ reason: { check: text(0, 1_000) }, requestedBy });

export const checkRescheduleRequest = requestCheck({
  scheduledAt: {
    required: true,
    check: (value) => (instantPattern.test(value) ? null : 'must be an ISO 8601 instant with an offset'),
  },
  timeZone: { check: text(1, 64) },
  requestedBy,
});

export const checkRetryRequest = requestCheck({ requestedBy });

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
