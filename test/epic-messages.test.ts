// The epic workflow checks its update and signal requests by hand (its bundle carries no zod, for speed). A
// history replays only if every request it holds is accepted or refused as before: these cases hold the checks
// to the zod schemas they replaced, written here as they were.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import {
  checkRescheduleRequest,
  checkRetryRequest,
  checkTransitionRequest,
  type RequestCheck,
} from '../workflows/epic-messages.ts';

const requestedBy = z.string().max(200).optional();
const before = {
  transition: z.object({ reason: z.string().max(1_000).optional(), requestedBy }).strict(),
  reschedule: z
    .object({
      scheduledAt: z.iso.datetime({ offset: true }),
      timeZone: z.string().min(1).max(64).optional(),
      requestedBy,
    })
    .strict(),
  retry: z.object({ requestedBy }).strict(),
};

const texts = ['', 'ops', 'é'.repeat(200), 'x'.repeat(201), 'x'.repeat(1_000), 'x'.repeat(1_001)];
const others = [undefined, null, 3, true, ['a'], { a: 1 }];
const instants = [
  '2026-12-04T10:00:00Z',
  '2026-12-04T10:00:00.123Z',
  '2026-12-04T10:00:00.123456789+02:00',
  '2026-12-04T10:00:00-05:30',
  '2026-12-04T23:59:59+23:59',
  '2026-12-04T10:00Z',
  '2026-12-04T10:00:00',
  '2026-12-04T10:00:00z',
  '2026-12-04T10:00:00+0200',
  '2026-12-04T10:00:00+02',
  '2026-12-04T24:00:00Z',
  '2026-12-04T10:60:00Z',
  '2026-12-04 10:00:00Z',
  '2026-13-01T10:00:00Z',
  '2026-04-31T10:00:00Z',
  '2026-02-29T10:00:00Z',
  '2024-02-29T10:00:00Z',
  '2000-02-29T10:00:00Z',
  '1900-02-29T10:00:00Z',
  '2026-12-04',
  ' 2026-12-04T10:00:00Z',
  '2026-12-04T10:00:00.Z',
];

/** Every request built from the values above for the given fields, one field varied at a time. */
function requests(base: Record<string, unknown>, fields: Record<string, unknown[]>): unknown[] {
  const cases: unknown[] = [
    undefined,
    null,
    [],
    'text',
    7,
    {},
    base,
    { ...base, extra: 'x' },
    { ...base, ...JSON.parse('{"__proto__":{"reason":"x"}}') },
    { ...base, constructor: 'x' },
    // (Inherited keys, which zod's for…in would see, cannot come from a payload: payloads are decoded JSON.)
  ];
  for (const [name, values] of Object.entries(fields)) {
    for (const value of [...values, ...others]) cases.push({ ...base, [name]: value });
  }
  return cases;
}

function agree(check: RequestCheck, schema: z.ZodType, cases: unknown[]) {
  let accepted = 0;
  for (const request of cases) {
    const expected = schema.safeParse(request ?? {}).success;
    const wrong = check(request ?? {});
    assert.equal(
      wrong === null,
      expected,
      `${JSON.stringify(request)}: zod ${expected}, check says ${wrong}`,
    );
    if (expected) accepted += 1;
  }
  // Both outcomes were exercised.
  assert.ok(accepted > 0 && accepted < cases.length);
}

describe('epic request checks', () => {
  it('accept and refuse transition requests as the zod schema did', () => {
    agree(
      checkTransitionRequest,
      before.transition,
      requests({ reason: 'moved', requestedBy: 'ops' }, { reason: texts, requestedBy: texts }),
    );
  });

  it('accept and refuse reschedule requests as the zod schema did', () => {
    agree(
      checkRescheduleRequest,
      before.reschedule,
      requests(
        { scheduledAt: '2026-12-04T10:00:00Z', timeZone: 'Europe/Paris' },
        {
          scheduledAt: instants,
          timeZone: texts.concat('y'.repeat(64), 'y'.repeat(65)),
          requestedBy: texts,
          reason: ['x'],
        },
      ),
    );
  });

  it('accept and refuse retry requests as the zod schema did', () => {
    agree(
      checkRetryRequest,
      before.retry,
      requests({ requestedBy: 'ops' }, { requestedBy: texts, reason: ['x'] }),
    );
  });

  it('name the field that is wrong', () => {
    assert.equal(
      checkTransitionRequest({ reason: 'x'.repeat(1_001) }),
      'reason: must be at most 1000 characters',
    );
    assert.equal(checkRescheduleRequest({}), 'scheduledAt: is required');
    assert.equal(checkRetryRequest({ reason: 'x' }), 'reason: is not a field of this request');
  });
});
