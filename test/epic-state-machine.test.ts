// The epic lifecycle's rules (SPEC §4), asked of the one pure module the API and the workflow share.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideTransition, type EpicStatus, type EpicTransition } from '../domain/epic-state-machine.ts';

const table: [EpicStatus, EpicTransition, EpicStatus | string][] = [
  ['draft', 'editContent', 'draft'],
  ['review', 'editContent', 'EPIC_NOT_EDITABLE'],
  ['scheduled', 'editContent', 'EPIC_NOT_EDITABLE'],
  ['published', 'editContent', 'EPIC_NOT_EDITABLE'],
  ['review', 'schedule', 'scheduled'],
  ['draft', 'schedule', 'INVALID_TRANSITION'],
  ['scheduled', 'reschedule', 'scheduled'],
  ['review', 'reschedule', 'INVALID_TRANSITION'],
  ['scheduled', 'unschedule', 'review'],
  ['error', 'unschedule', 'review'],
  ['review', 'unschedule', 'INVALID_TRANSITION'],
  ['review', 'edit', 'draft'],
  ['scheduled', 'edit', 'draft'],
  ['error', 'edit', 'draft'],
  ['draft', 'edit', 'INVALID_TRANSITION'],
  ['published', 'edit', 'INVALID_TRANSITION'],
  ['error', 'retry', 'scheduled'],
  ['scheduled', 'retry', 'INVALID_TRANSITION'],
  ['published', 'duplicate', 'draft'],
  ['scheduled', 'duplicate', 'draft'],
  ['draft', 'delete', 'draft'],
  ['review', 'delete', 'review'],
  ['scheduled', 'delete', 'INVALID_TRANSITION'],
  ['published', 'delete', 'INVALID_TRANSITION'],
  ['scheduled', 'publish', 'published'],
  ['scheduled', 'fail', 'error'],
  ['published', 'fail', 'INVALID_TRANSITION'],
];

describe('epic state machine', () => {
  for (const [from, transition, expected] of table) {
    it(`${transition} from ${from} → ${expected}`, () => {
      const tasks = [{ id: 't1', approved: true }];
      const decision = decideTransition(from, transition, { tasks });
      if (decision.allowed) assert.equal(decision.to, expected);
      else {
        assert.equal(decision.code, expected);
        assert.ok(decision.message.length > 0);
      }
    });
  }

  it('refuses review naming each unapproved task', () => {
    const decision = decideTransition('draft', 'review', {
      tasks: [
        { id: 'a', approved: true },
        { id: 'b', approved: false },
        { id: 'c', approved: false },
      ],
    });
    assert.equal(decision.allowed, false);
    if (!decision.allowed) {
      assert.equal(decision.code, 'TASKS_NOT_APPROVED');
      assert.deepEqual(decision.details, { unapprovedTaskIds: ['b', 'c'] });
      assert.match(decision.message, /b, c/);
    }
  });

  it('refuses review of an epic without tasks', () => {
    const decision = decideTransition('draft', 'review', { tasks: [] });
    assert.equal(decision.allowed ? 'allowed' : decision.code, 'NO_TASKS');
  });

  it('refuses edit, unschedule and reschedule once publishing has started', () => {
    for (const transition of ['edit', 'unschedule', 'reschedule'] as const) {
      const decision = decideTransition('scheduled', transition, { publishingInProgress: true });
      assert.equal(decision.allowed ? 'allowed' : decision.code, 'PUBLISHING_IN_PROGRESS');
    }
  });
});
