// Time zones for scheduling: the API accepts an instant, or a wall-clock time plus an IANA time zone.
export function isValidTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** Milliseconds the zone is ahead of UTC at that instant. */
function zoneOffsetMs(instantMs: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(instantMs));
  const value = (type: string) => Number(parts.find((part) => part.type === type)?.value);
  const asUtc = Date.UTC(
    value('year'),
    value('month') - 1,
    value('day'),
    value('hour'),
    value('minute'),
    value('second'),
  );
  return asUtc - Math.floor(instantMs / 1000) * 1000;
}

const wallTime = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/;

export function hasOffset(value: string): boolean {
  return /(Z|[+-]\d{2}:?\d{2})$/i.test(value);
}

/** `2027-03-01T09:00` in `America/Montreal` → the UTC instant; null when the text is not a wall time. */
export function wallTimeToInstant(local: string, timeZone: string): Date | null {
  const match = wallTime.exec(local);
  if (!match) return null;
  const [, year, month, day, hour, minute, second = '0', millis = '0'] = match;
  const guess = Date.UTC(+year!, +month! - 1, +day!, +hour!, +minute!, +second, +millis.padEnd(3, '0'));
  // Two passes settle the offset around a daylight-saving change.
  let instant = guess - zoneOffsetMs(guess, timeZone);
  instant = guess - zoneOffsetMs(instant, timeZone);
  return new Date(instant);
}
