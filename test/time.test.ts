// Wall times at daylight-saving changes follow one rule in every zone (domain/time.ts): a time the clocks skip
// is refused naming its two valid readings; a repeated time is its first occurrence unless an offset says.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { offStepChoices, parseScheduledTime } from '../domain/time.ts';

const instantOf = (scheduledAt: string, timeZone?: string) => {
  const parsed = parseScheduledTime(scheduledAt, timeZone);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.message);
  return parsed.instant.toISOString();
};

const refusal = (scheduledAt: string, timeZone?: string) => {
  const parsed = parseScheduledTime(scheduledAt, timeZone);
  assert.ok(!parsed.ok, `${scheduledAt} in ${timeZone} was accepted`);
  return parsed;
};

describe('scheduled times at daylight-saving changes', () => {
  it('refuses a wall time the clocks skip, naming both valid readings, in New York, Paris and Sydney', () => {
    const gaps: [string, string, string, string][] = [
      ['2027-03-14T02:30', 'America/New_York', '2027-03-14T01:30-05:00', '2027-03-14T03:30-04:00'],
      ['2027-03-28T02:30', 'Europe/Paris', '2027-03-28T01:30+01:00', '2027-03-28T03:30+02:00'],
      ['2027-10-03T02:30', 'Australia/Sydney', '2027-10-03T01:30+10:00', '2027-10-03T03:30+11:00'],
    ];
    for (const [wall, zone, before, after] of gaps) {
      const refused = refusal(wall, zone);
      assert.equal(refused.field, 'body.scheduledAt');
      assert.ok(refused.message.includes(`does not exist in ${zone}`), refused.message);
      assert.ok(refused.message.includes(before) && refused.message.includes(after), refused.message);
      // Each named reading is accepted as given, and is the instant it says.
      assert.equal(instantOf(before, zone), new Date(before).toISOString());
      assert.equal(instantOf(after, zone), new Date(after).toISOString());
    }
  });

  it('reads a repeated wall time as its first occurrence in every zone', () => {
    assert.equal(instantOf('2027-11-07T01:30', 'America/New_York'), '2027-11-07T05:30:00.000Z');
    assert.equal(instantOf('2027-10-31T02:30', 'Europe/Paris'), '2027-10-31T00:30:00.000Z');
    assert.equal(instantOf('2027-04-04T02:30', 'Australia/Sydney'), '2027-04-03T15:30:00.000Z');
  });

  it('takes an offset to choose the second occurrence, and refuses one the zone does not have', () => {
    assert.equal(instantOf('2027-11-07T01:30-05:00', 'America/New_York'), '2027-11-07T06:30:00.000Z');
    assert.equal(instantOf('2027-10-31T02:30+01:00', 'Europe/Paris'), '2027-10-31T01:30:00.000Z');
    const wrong = refusal('2027-11-07T01:30-03:00', 'America/New_York');
    assert.ok(wrong.message.includes('-04:00 or -05:00'), wrong.message);
    // Z is an instant in its own right, whatever the zone it is displayed in.
    assert.equal(instantOf('2027-11-07T06:30:00Z', 'America/New_York'), '2027-11-07T06:30:00.000Z');
  });

  it('converts ordinary days, and every time in a zone without daylight saving', () => {
    assert.equal(instantOf('2031-01-15T09:00', 'America/Montreal'), '2031-01-15T14:00:00.000Z');
    assert.equal(instantOf('2027-07-01T09:00', 'Europe/Paris'), '2027-07-01T07:00:00.000Z');
    assert.equal(instantOf('2027-03-14T02:30', 'Asia/Tokyo'), '2027-03-13T17:30:00.000Z');
    assert.equal(instantOf('2027-11-07T01:30', 'Asia/Tokyo'), '2027-11-06T16:30:00.000Z');
    assert.equal(instantOf('2027-03-14T02:30:15.250', 'UTC'), '2027-03-14T02:30:15.250Z');
  });

  it('refuses what is not a date-time or a zone, naming the field', () => {
    assert.equal(refusal('2027-02-30T10:00', 'Europe/Paris').field, 'body.scheduledAt');
    assert.equal(refusal('tomorrow', 'UTC').field, 'body.scheduledAt');
    assert.equal(refusal('2027-01-15T09:00').field, 'body.scheduledAt');
    assert.equal(refusal('2027-01-15T09:00', 'Mars/Olympus').field, 'body.timeZone');
    assert.equal(refusal('2027-01-15T09:00', '+02:00').field, 'body.timeZone');
  });

  it('names the two nearest quarter-hours of a time off them, as the client wrote it (UTC or its zone)', () => {
    const quarterHours = (scheduledAt: string, timeZone?: string) => {
      const parsed = parseScheduledTime(scheduledAt, timeZone);
      assert.ok(parsed.ok);
      return offStepChoices(parsed, 15);
    };
    assert.deepEqual(quarterHours('2027-05-10T10:07:00Z'), ['2027-05-10T10:00Z', '2027-05-10T10:15Z']);
    assert.equal(quarterHours('2027-05-10T10:15:00Z'), null);
    assert.deepEqual(quarterHours('2027-05-10T10:15:30Z'), ['2027-05-10T10:15Z', '2027-05-10T10:30Z']);
    assert.deepEqual(quarterHours('2027-05-10T23:50', 'America/Toronto'), [
      '2027-05-10T23:45-04:00',
      '2027-05-11T00:00-04:00',
    ]);
    // Kathmandu is 5:45 ahead of UTC: its quarter-hours are UTC's.
    assert.equal(quarterHours('2027-05-10T10:30', 'Asia/Kathmandu'), null);
    // Across a fall-back change the choices keep the offsets of their own instants.
    assert.deepEqual(quarterHours('2027-11-07T01:59:00-05:00', 'America/New_York'), [
      '2027-11-07T01:45-05:00',
      '2027-11-07T02:00-05:00',
    ]);
  });
});
