// When one more request of a limited kind may leave (a platform's CallLimit): pure, so the activity that
// keeps the turns in PostgreSQL and the tests agree on one rule.
import type { CallLimit } from './platforms.ts';

/**
 * Added to each window: a request leaves a little after its turn (the checks before it, the network), and the
 * platform counts by its own clock, so turns exactly one window apart could still land in one window there.
 */
export function turnMarginMs(limit: CallLimit): number {
  return Math.max(2_000, Math.ceil(limit.windowMs * 0.05));
}

/**
 * The earliest instant, from `nowMs` on, at which one more request keeps every window of `limit.windowMs`
 * (plus the margin) within `limit.requests`, given the turns already given in ascending order. Turns are
 * given in ascending order by construction, so only the last `requests` of them matter.
 */
export function nextTurnAt(given: readonly number[], nowMs: number, limit: CallLimit): number {
  const counted = turnsPerWindow(limit);
  if (given.length < counted) return nowMs;
  const oldestCounted = given[given.length - counted]!;
  return Math.max(nowMs, oldestCounted + limit.windowMs + turnMarginMs(limit));
}

/** The turns given in one window: the limit, less what is left to calls that take none. */
export function turnsPerWindow(limit: CallLimit): number {
  return Math.max(1, limit.requests - (limit.reserved ?? 0));
}

/** The turns to keep after giving one at `turnAt`: the last of a window's count, all a next turn depends on. */
export function withTurn(given: readonly number[], turnAt: number, limit: CallLimit): number[] {
  return [...given, turnAt].slice(-turnsPerWindow(limit));
}
