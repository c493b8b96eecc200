// Turns at the requests platforms limit (their descriptors' callLimits), shared by every worker through
// PostgreSQL: a burst of publications due at one instant is spread over the platform's windows instead of
// refused with 429s. A turn too far off for one attempt is not kept: the attempt ends RATE_LIMITED with the
// wait, and Temporal's retry comes back for a turn then. Likewise the connections a platform allows at once
// (connectionLimit): a call holds one of them while it runs.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { and, eq, sql } from 'drizzle-orm';
import type { TakeTurn } from '../connectors/types.ts';
import type { Database } from '../db/client.ts';
import { callSlots, callTurns } from '../db/schema.ts';
import { nextTurnAt, withTurn } from '../domain/call-turns.ts';
import {
  type CallLimit,
  type ConnectionLimit,
  type Platform,
  platformDescriptor,
} from '../domain/platforms.ts';
import { PlatformError } from '../domain/publication-errors.ts';

/**
 * What one attempt waits for a turn at most, unless the adapter says otherwise: one more minute-long window and
 * its margin, which leaves a 3-minute publish attempt the time to post and poll; a turn further off is a
 * retry's.
 */
const defaultTurnWaitMs = 75_000;
/** Connections of a platform's limit left to the calls that hold none (see withConnection). */
const connectionHeadroom = 2;
/** Heartbeats while waiting, within the shortest heartbeat time-out the configuration allows (1 s). */
const heartbeatEveryMs = 500;

export interface TurnHolder {
  platform: Platform;
  /** The connector whose token makes the requests (limits per token count per connector). */
  connectorId: string;
  signal?: AbortSignal | undefined;
  heartbeat?: () => void;
  /** When the attempt's time limit ends (epoch ms): no turn is given that the caller could not use before. */
  endsAt?: number;
}

/** An activity's attempt ends this long after it started; a little is kept for what ran before its turns. */
export function attemptEndsAt(startToCloseTimeoutMs: number, nowMs = Date.now()): number {
  return nowMs + startToCloseTimeoutMs - 5_000;
}

/**
 * The running activity's attempt as a holder of turns and connections at a connector's platform: cancelled
 * with the activity, ending with its time limit, and heartbeating while it waits when the activity has a
 * heartbeat time-out.
 */
export function attemptHolder(
  connector: { platform: Platform; id: string },
  options: { heartbeats: boolean },
): TurnHolder {
  const context = Context.current();
  return {
    platform: connector.platform,
    connectorId: connector.id,
    signal: context.cancellationSignal,
    ...(options.heartbeats ? { heartbeat: () => context.heartbeat() } : {}),
    endsAt: attemptEndsAt(context.info.startToCloseTimeoutMs),
  };
}

function callLimitOf(platform: Platform, call: string): CallLimit {
  const limit = platformDescriptor(platform).callLimits?.[call];
  if (!limit) throw new Error(`${platform} declares no limit named ${call}`);
  return limit;
}

/**
 * Where the turns (a request's name) or the slots (`connections`) of one limit are kept: per connector (its
 * token), or one for the whole app.
 */
export function limitKey(
  platform: Platform,
  name: string,
  per: CallLimit['per'] | ConnectionLimit['per'],
  connectorId: string,
): string {
  // An app's limit is shared by the platforms its OAuth app serves (Google Ads and Analytics are one app).
  const app = platformDescriptor(platform).oauthApp ?? platform;
  return per === 'app' ? `${app}:${name}:app` : `${platform}:${name}:${connectorId}`;
}

const window = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`);

export function createCallTurns(db: Database) {
  /** Gives the next turn when it is within `maxWaitMs`; answers how long until it either way. */
  async function reserve(key: string, limit: CallLimit, maxWaitMs: number) {
    return db.transaction(async (tx) => {
      await tx.insert(callTurns).values({ key, given: [] }).onConflictDoNothing();
      const [row] = await tx
        .select({ given: callTurns.given, nowMs: sql<number>`extract(epoch from clock_timestamp()) * 1000` })
        .from(callTurns)
        .where(eq(callTurns.key, key))
        .for('update');
      const given = row!.given;
      const nowMs = Number(row!.nowMs);
      const turnAt = nextTurnAt(given, nowMs, limit);
      const waitMs = Math.ceil(turnAt - nowMs);
      if (waitMs > maxWaitMs) return { waitMs, turnAt, given: false };
      await tx
        .update(callTurns)
        .set({ given: withTurn(given, turnAt, limit) })
        .where(eq(callTurns.key, key));
      return { waitMs, turnAt, given: true };
    });
  }

  /** The turn-taker one attempt's adapter gets (PublicationContext.takeTurn). */
  function forHolder(holder: TurnHolder): TakeTurn {
    return async (call, options) => {
      const limit = callLimitOf(holder.platform, call);
      const key = limitKey(holder.platform, call, limit.per, holder.connectorId);
      const left =
        holder.endsAt === undefined ? Infinity : holder.endsAt - Date.now() - (options?.needsAfterMs ?? 0);
      if (left < 0) {
        throw new PlatformError({
          class: 'TRANSIENT',
          message: `this attempt has no time left for ${call}; the next attempt makes it`,
        });
      }
      const maxWaitMs = Math.min(options?.maxWaitMs ?? defaultTurnWaitMs, left);
      const turn = await reserve(key, limit, maxWaitMs);
      if (!turn.given) {
        const { name } = platformDescriptor(holder.platform);
        const per = limit.per === 'app' ? 'for this app' : 'per account';
        throw new PlatformError({
          class: 'RATE_LIMITED',
          message:
            `${name} allows ${limit.requests} ${call} requests every ${window(limit.windowMs)} ${per}: ` +
            `this one waits its turn, in ${Math.ceil(turn.waitMs / 1000)} s`,
          retryAfterMs: turn.waitMs,
        });
      }
      let waiting = turn.waitMs;
      while (waiting > 0) {
        holder.heartbeat?.();
        const step = Math.min(waiting, heartbeatEveryMs);
        await sleep(step, undefined, holder.signal ? { signal: holder.signal } : undefined);
        waiting -= step;
      }
    };
  }

  /** Takes a free slot (one whose holder ended or whose lease ran out), or none. */
  async function takeSlot(key: string, slots: number, holder: string, leaseMs: number) {
    const take = async () =>
      (
        await db.execute<{ slot: number }>(sql`
          update call_slots set holder = ${holder},
            held_until = extract(epoch from clock_timestamp()) * 1000 + ${leaseMs}
          where (key, slot) = (
            select key, slot from call_slots
            where key = ${key} and slot < ${slots}
              and held_until < extract(epoch from clock_timestamp()) * 1000
            order by slot limit 1 for update skip locked)
          returning slot`)
      )[0]?.slot;
    const slot = await take();
    if (slot !== undefined) return slot;
    // The first call for this key (or a limit raised since): its slots are made, then taken.
    const [{ made } = { made: 0 }] = await db.execute<{ made: number }>(
      sql`select count(*)::int as made from call_slots where key = ${key} and slot < ${slots}`,
    );
    if (made >= slots) return undefined;
    await db
      .insert(callSlots)
      .values(Array.from({ length: slots }, (_, index) => ({ key, slot: index, heldUntil: 0 })))
      .onConflictDoNothing();
    return take();
  }

  /**
   * Runs `work` holding one of the connections the platform allows at once (its descriptor's
   * connectionLimit), shared by every worker; a platform without one runs it at once. Two of them are left
   * to calls that hold none (a cancel, the connection's own checks, the user's other apps), so a burst of
   * hand-offs never makes an unschedule's cancel the 429. Waits for a free one (heartbeating, abortable) at
   * most `maxWaitMs` (and within the attempt's time), then fails RATE_LIMITED. A worker that dies holding a
   * slot holds it no longer than its attempt's time limit.
   */
  async function withConnection<T>(
    holder: TurnHolder,
    work: () => Promise<T>,
    maxWaitMs = defaultTurnWaitMs,
  ): Promise<T> {
    const limit = platformDescriptor(holder.platform).connectionLimit;
    if (!limit) return work();
    const key = limitKey(holder.platform, 'connections', limit.per, holder.connectorId);
    const slots = Math.max(1, limit.connections - connectionHeadroom);
    const holderId = randomUUID();
    const endsAt = Number.isFinite(holder.endsAt) ? holder.endsAt! : Date.now() + 10 * 60_000;
    // The lease ends with the attempt, however long it waited for its slot.
    const leaseMs = () => Math.max(1_000, endsAt - Date.now() + 5_000);
    const waitedMs = Math.min(maxWaitMs, Math.max(0, endsAt - Date.now()));
    const giveUpAt = Date.now() + waitedMs;
    let slot = await takeSlot(key, slots, holderId, leaseMs());
    while (slot === undefined) {
      if (Date.now() >= giveUpAt) {
        const { name } = platformDescriptor(holder.platform);
        throw new PlatformError({
          class: 'RATE_LIMITED',
          message: `${name} allows ${limit.connections} requests at once per account, and all Glowtify may use were in use for ${Math.round(waitedMs / 1000)} s`,
          retryAfterMs: 5_000,
        });
      }
      holder.heartbeat?.();
      await sleep(
        100 + Math.random() * 200,
        undefined,
        holder.signal ? { signal: holder.signal } : undefined,
      );
      slot = await takeSlot(key, slots, holderId, leaseMs());
    }
    try {
      return await work();
    } finally {
      // A release that fails leaves the slot to its lease.
      await db
        .update(callSlots)
        .set({ holder: null, heldUntil: 0 })
        .where(and(eq(callSlots.key, key), eq(callSlots.slot, slot), eq(callSlots.holder, holderId)))
        .catch(() => undefined);
    }
  }

  return { forHolder, reserve, withConnection };
}

export type CallTurns = ReturnType<typeof createCallTurns>;
