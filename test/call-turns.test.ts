// Turns at a platform's limited requests (domain/call-turns.ts, activities/call-turns.ts): the rule keeps
// every window within the limit while giving each turn as early as it can, and the turns kept in a real
// PostgreSQL hold it for requests from two workers at once; a turn too far off for an attempt is RATE_LIMITED
// with the wait, and a cancelled attempt stops waiting.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { attemptEndsAt, createCallTurns, limitKey } from '../activities/call-turns.ts';
import { connectDatabase, type DatabaseConnection, runMigrations } from '../db/client.ts';
import { nextTurnAt, turnMarginMs, withTurn } from '../domain/call-turns.ts';
import type { CallLimit } from '../domain/platforms.ts';
import { PlatformError } from '../domain/publication-errors.ts';
import { type TestDatabase, useTestDatabase } from './support/postgres.ts';

/** The most turns any window of `limit.windowMs` (plus the margin) holds. */
function busiestWindow(turns: readonly number[], limit: CallLimit): number {
  const sorted = [...turns].sort((a, b) => a - b);
  const span = limit.windowMs + turnMarginMs(limit);
  let most = 0;
  for (let start = 0; start < sorted.length; start += 1) {
    let end = start;
    while (end < sorted.length && sorted[end]! < sorted[start]! + span) end += 1;
    most = Math.max(most, end - start);
  }
  return most;
}

/** A seeded generator, so a failing run can be replayed. */
function lcg(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

/** `count` turns asked one after another at `now`, each kept: the turns given and what the limit holds after. */
function turnsInARow(count: number, now: number, limit: CallLimit) {
  let given: number[] = [];
  const turns: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const turn = nextTurnAt(given, now, limit);
    turns.push(turn);
    given = withTurn(given, turn, limit);
  }
  return { turns, given };
}

describe('the turn rule', () => {
  const tiktokInits: CallLimit = { per: 'token', requests: 6, windowMs: 60_000 };

  it('gives the first `requests` turns at once, the next one window (and the margin) after the oldest', () => {
    const { turns, given } = turnsInARow(8, 1_000, tiktokInits);
    assert.deepEqual(turns.slice(0, 6), [1_000, 1_000, 1_000, 1_000, 1_000, 1_000]);
    assert.deepEqual(turns.slice(6), [64_000, 64_000], 'one window and a 3 s margin after the first');
    assert.equal(given.length, 6, 'only the last `requests` turns are kept');
  });

  it('leaves the reserved part of a limit to calls that take no turn', () => {
    const creatorInfo: CallLimit = { per: 'token', requests: 20, windowMs: 60_000, reserved: 2 };
    const { turns } = turnsInARow(19, 0, creatorInfo);
    assert.equal(turns.filter((turn) => turn === 0).length, 18, '18 of 20 at once');
    assert.equal(turns[18], 60_000 + turnMarginMs(creatorInfo));
  });

  for (const seed of [1, 2, 3, 42, 2026]) {
    it(`never puts more than the limit in a window, and never holds a request longer than it must (seed ${seed})`, () => {
      const random = lcg(seed);
      const limit: CallLimit = { per: 'token', requests: 1 + Math.floor(random() * 10), windowMs: 10_000 };
      let given: number[] = [];
      const turns: number[] = [];
      let now = 0;
      for (let index = 0; index < 300; index += 1) {
        // Bursts and lulls: several requests at one instant, then gaps up to two windows.
        if (random() < 0.3) now += Math.floor(random() * 2 * limit.windowMs);
        const turn = nextTurnAt(given, now, limit);
        assert.ok(turn >= now, 'a turn is never before its request');
        assert.ok(turns.length === 0 || turn >= turns.at(-1)!, 'turns are given in order');
        if (turn > now) {
          // Held back only because the window before its turn is full.
          const span = limit.windowMs + turnMarginMs(limit);
          const inWindow = turns.filter((other) => other > turn - span - 1 && other < turn).length;
          assert.ok(inWindow >= limit.requests, `held back with ${inWindow} in the window`);
        }
        turns.push(turn);
        given = withTurn(given, turn, limit);
      }
      assert.ok(busiestWindow(turns, limit) <= limit.requests, 'no window over the limit');
    });
  }
});

describe('where turns are kept', () => {
  it('per token: one key per connector; per app: one key for every platform of the OAuth app', () => {
    assert.equal(limitKey('tiktok', 'videoInit', 'token', 'c1'), 'tiktok:videoInit:c1');
    assert.notEqual(
      limitKey('tiktok', 'videoInit', 'token', 'c1'),
      limitKey('tiktok', 'videoInit', 'token', 'c2'),
    );
    assert.equal(limitKey('mailchimp', 'connections', 'token', 'c1'), 'mailchimp:connections:c1');
    assert.equal(limitKey('google_ads', 'report', 'app', 'c1'), 'GOOGLE:report:app');
    assert.equal(
      limitKey('google_ads', 'report', 'app', 'c1'),
      limitKey('google_analytics', 'report', 'app', 'c2'),
    );
    assert.equal(limitKey('klaviyo', 'send', 'app', 'c1'), 'klaviyo:send:app', 'no OAuth app: the platform');
  });
});

describe('turns kept in PostgreSQL', () => {
  let database: TestDatabase;
  let workers: DatabaseConnection[];

  before(async () => {
    database = await useTestDatabase();
    workers = [connectDatabase(database.url, { max: 4 }), connectDatabase(database.url, { max: 4 })];
    await runMigrations(workers[0]!);
  });
  after(async () => {
    for (const worker of workers ?? []) await worker.close();
    await database?.close();
  });

  it('two workers taking turns at once on one token keep every window within the limit', async () => {
    const limit: CallLimit = { per: 'token', requests: 3, windowMs: 4_000 };
    const [first, second] = workers.map((worker) => createCallTurns(worker.db));
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, index) =>
        (index % 2 === 0 ? first! : second!).reserve('test:shared:connector-a', limit, 60_000),
      ),
    );
    assert.ok(
      answers.every((answer) => answer.given),
      'every turn within the wait is given',
    );
    // The instants given, by PostgreSQL's clock: no window of the limit (plus its margin) holds more than 3.
    const turns = answers.map((answer) => answer.turnAt).sort((a, b) => a - b);
    assert.equal(busiestWindow(turns, limit), 3, turns.join(', '));
    assert.ok(turns[2]! - turns[0]! < 1_000, 'three at once');
    const span = limit.windowMs + turnMarginMs(limit);
    for (let index = 3; index < turns.length; index += 1)
      assert.ok(
        turns[index]! - turns[index - 3]! >= span,
        `turn ${index + 1} a window after turn ${index - 2}`,
      );

    // Another token's turns are its own.
    const other = await first!.reserve('test:shared:connector-b', limit, 0);
    assert.deepEqual(other.given, true);
    assert.ok(other.waitMs <= 0, `${other.waitMs}`);
  });

  it('a turn further off than the attempt may wait is not kept: RATE_LIMITED with the wait, worded for the user', async () => {
    const turns = createCallTurns(workers[0]!.db);
    const takeTurn = turns.forHolder({ platform: 'tiktok', connectorId: 'connector-full' });
    for (let index = 0; index < 6; index += 1) await takeTurn('videoInit');
    await assert.rejects(
      takeTurn('videoInit', { maxWaitMs: 1_000 }),
      (error: unknown) =>
        error instanceof PlatformError &&
        error.failure.class === 'RATE_LIMITED' &&
        error.failure.retryAfterMs !== undefined &&
        error.failure.retryAfterMs > 55_000 &&
        error.failure.retryAfterMs <= 63_000 &&
        /TikTok allows 6 videoInit requests every 1 min per account: this one waits its turn, in 6\d s/.test(
          error.failure.message,
        ),
    );
    // Refused turns are not kept: the next one is still a window after the first six.
    const next = await turns.reserve(
      'tiktok:videoInit:connector-full',
      { per: 'token', requests: 6, windowMs: 60_000 },
      0,
    );
    assert.equal(next.given, false);
    await assert.rejects(takeTurn('postEverything'), /tiktok declares no limit named postEverything/);
  });

  it('a turn that would leave the request too little of the attempt is refused, and kept by no one', async () => {
    const turns = createCallTurns(workers[0]!.db);
    // Six turns 45 s ago: the next is about 19 s away.
    const key = 'tiktok:videoInit:connector-late';
    await workers[0]!
      .sql`insert into call_turns (key, given) values (${key}, ${Array.from({ length: 6 }, () => Date.now() - 45_000)}::float8[])`;
    // 30 s left in the attempt, 20 s needed after the turn: only 10 s to wait, not 19.
    const late = turns.forHolder({
      platform: 'tiktok',
      connectorId: 'connector-late',
      endsAt: Date.now() + 30_000,
    });
    await assert.rejects(late('videoInit', { needsAfterMs: 20_000 }), (error: unknown) => {
      assert.ok(error instanceof PlatformError);
      assert.equal(error.failure.class, 'RATE_LIMITED');
      return true;
    });
    // No time left at all: not even an immediate turn is taken.
    const spent = turns.forHolder({
      platform: 'tiktok',
      connectorId: 'connector-spent',
      endsAt: Date.now() + 5_000,
    });
    await assert.rejects(spent('videoInit', { needsAfterMs: 20_000 }), (error: unknown) => {
      assert.ok(error instanceof PlatformError);
      assert.equal(error.failure.class, 'TRANSIENT');
      return true;
    });
    const [row] = await workers[0]!.sql<
      { given: number[] }[]
    >`select given from call_turns where key = ${key}`;
    assert.equal(row!.given.length, 6, 'the refused turn was not kept');
    assert.equal(
      (await workers[0]!.sql`select 1 from call_turns where key = 'tiktok:videoInit:connector-spent'`).length,
      0,
    );
    // An attempt of 3 minutes that started now ends a little before 3 minutes from now.
    const endsAt = attemptEndsAt(180_000, 1_000_000);
    assert.ok(endsAt < 1_180_000 && endsAt > 1_170_000);
  });

  it('connections: two workers never hold more at once than the platform allows, and every call runs', async () => {
    const limited = workers.map((worker) => createCallTurns(worker.db));
    let open = 0;
    let most = 0;
    const call = async () => {
      open += 1;
      most = Math.max(most, open);
      await new Promise((resolve) => setTimeout(resolve, 300));
      open -= 1;
      return 'done';
    };
    const holder = { platform: 'mailchimp' as const, connectorId: 'connector-busy' };
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, index) => limited[index % 2]!.withConnection(holder, call)),
    );
    assert.deepEqual(new Set(results), new Set(['done']));
    // Mailchimp allows 10 at once; two are left to calls that hold none (a cancel).
    assert.ok(most <= 8 && most >= 4, `${most} at once`);
    const [{ held } = { held: -1 }] = await workers[0]!.sql<{ held: number }[]>`
      select count(*)::int as held from call_slots where key = 'mailchimp:connections:connector-busy' and holder is not null`;
    assert.equal(held, 0, 'every slot released');
    // A platform without a connection limit runs the call at once.
    assert.equal(await limited[0]!.withConnection({ platform: 'meta', connectorId: 'c' }, call), 'done');
  });

  it('connections: a slot held by a dead worker frees when its lease ends; all held too long is RATE_LIMITED', async () => {
    const turns = createCallTurns(workers[0]!.db);
    const fill = async (key: string, leaseMs: number) => {
      for (let slot = 0; slot < 8; slot += 1)
        await workers[0]!.sql`
          insert into call_slots (key, slot, holder, held_until)
          values (${key}, ${slot}, 'dead worker', extract(epoch from clock_timestamp()) * 1000 + ${leaseMs})`;
    };
    await fill('mailchimp:connections:connector-dead', 1_500);
    const started = Date.now();
    const ran = await turns.withConnection(
      { platform: 'mailchimp', connectorId: 'connector-dead' },
      async () => 'ran',
    );
    assert.equal(ran, 'ran');
    assert.ok(Date.now() - started >= 1_000, 'it waited for a lease to end');

    await fill('mailchimp:connections:connector-stuck', 60_000);
    await assert.rejects(
      turns.withConnection({ platform: 'mailchimp', connectorId: 'connector-stuck' }, async () => 'ran', 500),
      (error: unknown) =>
        error instanceof PlatformError &&
        error.failure.class === 'RATE_LIMITED' &&
        /Mailchimp allows 10 requests at once per account, and all Glowtify may use were in use/.test(
          error.failure.message,
        ),
    );
  });

  it('a cancelled attempt stops waiting for its turn, heartbeating while it waited', async () => {
    const turns = createCallTurns(workers[0]!.db);
    const limit: CallLimit = { per: 'token', requests: 20, windowMs: 60_000 };
    for (let index = 0; index < 20; index += 1)
      await turns.reserve('tiktok:creatorInfo:connector-c', limit, 0);
    const cancel = new AbortController();
    let beats = 0;
    const takeTurn = turns.forHolder({
      platform: 'tiktok',
      connectorId: 'connector-c',
      signal: cancel.signal,
      heartbeat: () => {
        beats += 1;
      },
    });
    const waiting = takeTurn('creatorInfo');
    setTimeout(() => cancel.abort(), 1_600);
    await assert.rejects(waiting, { name: 'AbortError' });
    assert.ok(beats >= 3, `${beats} heartbeats`);
  });
});
