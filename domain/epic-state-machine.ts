// The epic lifecycle (SPEC §4) as one pure decision: which transition is allowed from which state, and why
// not. The API, the epic workflow and the tests all ask this module; none of them re-encodes the rules. It imports
// no zod: the workflow bundle evaluates its modules again for every workflow it creates or replays (the API
// builds its schema from `epicStatuses`).

export const epicStatuses = ['draft', 'review', 'scheduled', 'published', 'error'] as const;

/**
 * The most tasks one epic holds. Each task adds a few events to the epic's workflow history and one pending
 * activity at the time; this keeps the worst case (README: "How big an epic's history gets") far below
 * Temporal's limits (50,000 events, 2,000 pending activities).
 */
export const maxTasksPerEpic = 50;
export type EpicStatus = (typeof epicStatuses)[number];

export type EpicTransition =
  /** Change the epic's fields or its tasks (create, edit, delete, approve). */
  | 'editContent'
  | 'review'
  | 'schedule'
  | 'reschedule'
  | 'unschedule'
  /** Edit back to draft (the request carries a confirmation). */
  | 'edit'
  | 'retry'
  | 'duplicate'
  | 'delete'
  /** Taken by the workflow: every publication confirmed. */
  | 'publish'
  /** Taken by the workflow: a publication failed for good. */
  | 'fail';

export interface TransitionFacts {
  /** Tasks of the epic and whether each is approved; needed by `review`. */
  tasks?: readonly { id: string; approved: boolean }[];
  /** Publishing has started (the time came); edit, unschedule and reschedule are refused then. */
  publishingInProgress?: boolean;
}

export type TransitionDecision =
  | { allowed: true; to: EpicStatus }
  | { allowed: false; code: TransitionRefusal; message: string; details?: Record<string, unknown> };

export type TransitionRefusal =
  | 'INVALID_TRANSITION'
  | 'TASKS_NOT_APPROVED'
  | 'NO_TASKS'
  | 'PUBLISHING_IN_PROGRESS'
  | 'EPIC_NOT_EDITABLE';

const allowedFrom: Record<EpicTransition, { from: readonly EpicStatus[]; to: EpicStatus | 'same' }> = {
  editContent: { from: ['draft'], to: 'same' },
  review: { from: ['draft'], to: 'review' },
  schedule: { from: ['review'], to: 'scheduled' },
  reschedule: { from: ['scheduled'], to: 'scheduled' },
  unschedule: { from: ['scheduled', 'error'], to: 'review' },
  edit: { from: ['review', 'scheduled', 'error'], to: 'draft' },
  retry: { from: ['error'], to: 'scheduled' },
  duplicate: { from: epicStatuses, to: 'same' },
  delete: { from: ['draft', 'review'], to: 'same' },
  publish: { from: ['scheduled'], to: 'published' },
  fail: { from: ['scheduled'], to: 'error' },
};

const whyNot: Partial<Record<EpicTransition, Partial<Record<EpicStatus, string>>>> = {
  editContent: {
    review: 'content can only change in draft: edit the epic back to draft first',
    scheduled: 'content can only change in draft: edit the epic back to draft first',
    error: 'content can only change in draft: edit the epic back to draft first',
    published: 'a published epic cannot change; duplicate it instead',
  },
  edit: {
    draft: 'the epic is already a draft',
    published: 'a published epic cannot go back to draft; duplicate it instead',
  },
  delete: {
    scheduled: 'a scheduled epic must be unscheduled or edited back to draft before it is deleted',
    error: 'an epic in error must be edited back to draft before it is deleted',
    published: 'a published epic is kept as the record of what was sent',
  },
};

/** Once the time has come and publishing started, these would change what is going out: refused. */
const refusedWhilePublishing: Partial<Record<EpicTransition, string>> = {
  edit: 'edit back to draft',
  unschedule: 'unschedule',
  reschedule: 'reschedule',
};

/** A time more than this far in the past is a mistake, not a "publish now". */
export const schedulePastToleranceMs = 60_000;

/**
 * Why a schedule's instant cannot be taken (null: it can). One rule for the API's schedule and reschedule and
 * for the workflow's reschedule update and signal.
 */
export function scheduleTooLate(instantMs: number, nowMs: number): string | null {
  return instantMs < nowMs - schedulePastToleranceMs ? 'is more than a minute in the past' : null;
}

export function decideTransition(
  status: EpicStatus,
  transition: EpicTransition,
  facts: TransitionFacts = {},
): TransitionDecision {
  const rule = allowedFrom[transition];
  if (!rule.from.includes(status)) {
    const message =
      whyNot[transition]?.[status] ??
      `cannot ${transition} an epic in ${status} (allowed from ${rule.from.join(', ')})`;
    return {
      allowed: false,
      code: transition === 'editContent' ? 'EPIC_NOT_EDITABLE' : 'INVALID_TRANSITION',
      message,
      details: { status, transition, allowedFrom: rule.from },
    };
  }
  if (refusedWhilePublishing[transition] && facts.publishingInProgress) {
    return {
      allowed: false,
      code: 'PUBLISHING_IN_PROGRESS',
      message: `cannot ${refusedWhilePublishing[transition]}: publishing has started`,
    };
  }
  if (transition === 'review') {
    const tasks = facts.tasks ?? [];
    if (tasks.length === 0) {
      return { allowed: false, code: 'NO_TASKS', message: 'an epic needs at least one task before review' };
    }
    const unapproved = tasks.filter((task) => !task.approved).map((task) => task.id);
    if (unapproved.length > 0) {
      return {
        allowed: false,
        code: 'TASKS_NOT_APPROVED',
        message: `every task must be approved before review; not approved: ${unapproved.join(', ')}`,
        details: { unapprovedTaskIds: unapproved },
      };
    }
  }
  return {
    allowed: true,
    to: rule.to === 'same' ? (transition === 'duplicate' ? 'draft' : status) : rule.to,
  };
}
