// Scheduled times: an instant (…Z or …±hh:mm), or a wall-clock time in an IANA time zone, converted by the
// TC39 Temporal API (temporal-polyfill) rather than by hand. One rule at daylight-saving changes:
// - a wall time the zone skips (spring forward) does not exist: refused, naming its two valid readings;
// - a wall time the zone repeats (fall back) is its first occurrence; an explicit offset picks the other;
// - an instant given with both an offset and a zone must use an offset the zone has at that wall time.
import { Temporal } from 'temporal-polyfill';

/** A schedule as the product keeps it: the instant, and the zone it was chosen in (null: an instant alone). */
export interface Schedule {
  instant: Date;
  timeZone: string | null;
}

type InstantParse = { ok: true; instant: Date } | { ok: false; field: string; message: string };
export type ScheduleParse = ({ ok: true } & Schedule) | { ok: false; field: string; message: string };

const wallTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?$/;
const withOffset = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)([+-]\d{2}:?\d{2}|Z)$/i;
/** Offsets are not zones: the rule needs a zone's daylight-saving calendar. */
const offsetZone = /^[+-]\d{2}(?::?\d{2})?$/;

export function isValidTimeZone(timeZone: string): boolean {
  if (offsetZone.test(timeZone)) return false;
  try {
    Temporal.Now.zonedDateTimeISO(timeZone);
    return true;
  } catch {
    return false;
  }
}

export function hasOffset(value: string): boolean {
  return /(Z|[+-]\d{2}:?\d{2})$/i.test(value);
}

/** `2027-11-07T01:30:00-05:00` — what a client can send back to choose one reading. */
function withZoneOffset(zoned: Temporal.ZonedDateTime): string {
  return `${zoned.toPlainDateTime().toString({ smallestUnit: 'minute' })}${zoned.offset}`;
}

/** An instant given with an offset (and optionally the zone it must belong to). */
function instantWithOffset(text: string, timeZone: string | undefined): InstantParse {
  const match = withOffset.exec(text);
  if (!match) return { ok: false, field: 'body.scheduledAt', message: 'must be an ISO 8601 date-time' };
  let instant: Temporal.Instant;
  try {
    instant = Temporal.Instant.from(text);
  } catch {
    return { ok: false, field: 'body.scheduledAt', message: 'must be an ISO 8601 date-time' };
  }
  const designator = match[2]!;
  if (timeZone && designator.toUpperCase() !== 'Z') {
    // The offset chooses between the two readings of a repeated wall time; it cannot contradict the zone.
    try {
      Temporal.ZonedDateTime.from(`${match[1]}${designator}[${timeZone}]`, { offset: 'reject' });
    } catch {
      const wall = Temporal.PlainDateTime.from(match[1]!);
      const offsets = new Set(
        (['earlier', 'later'] as const).map(
          (disambiguation) => wall.toZonedDateTime(timeZone, { disambiguation }).offset,
        ),
      );
      return {
        ok: false,
        field: 'body.scheduledAt',
        message: `the offset ${designator} is not ${timeZone}'s at ${match[1]} (it is ${[...offsets].join(' or ')})`,
      };
    }
  }
  return { ok: true, instant: new Date(instant.epochMilliseconds) };
}

/** A wall time in a zone, by the rule above. */
export function wallTimeInZone(local: string, timeZone: string): InstantParse {
  if (!wallTime.test(local)) {
    return { ok: false, field: 'body.scheduledAt', message: 'must be an ISO 8601 date-time' };
  }
  let wall: Temporal.PlainDateTime;
  try {
    wall = Temporal.PlainDateTime.from(local, { overflow: 'reject' });
  } catch {
    return { ok: false, field: 'body.scheduledAt', message: 'must be an ISO 8601 date-time' };
  }
  const earlier = wall.toZonedDateTime(timeZone, { disambiguation: 'earlier' });
  const later = wall.toZonedDateTime(timeZone, { disambiguation: 'later' });
  const exists = earlier.toPlainDateTime().equals(wall) || later.toPlainDateTime().equals(wall);
  if (!exists) {
    return {
      ok: false,
      field: 'body.scheduledAt',
      message:
        `${wall.toString({ smallestUnit: 'minute' })} does not exist in ${timeZone} (the clocks skip it ` +
        `that day): choose ${withZoneOffset(earlier)} or ${withZoneOffset(later)}`,
    };
  }
  // Both readings exist only on a fall-back day; the first occurrence is the one meant unless an offset says.
  return { ok: true, instant: new Date(earlier.epochMilliseconds) };
}

/** `scheduledAt` (+ optional `timeZone`) as the API receives them → the schedule, or why not. */
export function parseScheduledTime(scheduledAt: string, timeZone?: string): ScheduleParse {
  if (timeZone !== undefined && !isValidTimeZone(timeZone)) {
    return { ok: false, field: 'body.timeZone', message: `"${timeZone}" is not an IANA time zone` };
  }
  if (!hasOffset(scheduledAt) && !timeZone) {
    return {
      ok: false,
      field: 'body.scheduledAt',
      message: 'give an instant with an offset (…Z or …+02:00), or a timeZone',
    };
  }
  const parsed = hasOffset(scheduledAt)
    ? instantWithOffset(scheduledAt, timeZone)
    : wallTimeInZone(scheduledAt, timeZone!);
  return parsed.ok ? { ok: true, instant: parsed.instant, timeZone: timeZone ?? null } : parsed;
}

/**
 * Whether a schedule falls on a platform's step (e.g. Mailchimp's quarter-hours, counted in UTC); if not, the
 * two nearest times that do, written as the client wrote it: in its zone with the offset, else in UTC.
 */
export function offStepChoices(schedule: Schedule, stepMinutes: number): [string, string] | null {
  const stepMs = stepMinutes * 60_000;
  const at = schedule.instant.getTime();
  if (at % stepMs === 0) return null;
  const earlier = Math.floor(at / stepMs) * stepMs;
  const write = (epochMilliseconds: number) => {
    const instant = Temporal.Instant.fromEpochMilliseconds(epochMilliseconds);
    return schedule.timeZone
      ? withZoneOffset(instant.toZonedDateTimeISO(schedule.timeZone))
      : instant.toString({ smallestUnit: 'minute' });
  };
  return [write(earlier), write(earlier + stepMs)];
}
