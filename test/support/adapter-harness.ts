// What the adapter suites share: expecting a failure in its class with no secret in it, expecting a refusal
// in the user's words, the consent round trip, PKCE, the two ways a platform can fail to answer, and a fresh
// simulator for every test.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach } from 'node:test';
import {
  CredentialsRejectedError,
  type HandOffContext,
  type PublicationProgress,
} from '../../connectors/types.ts';
import { PlatformError, type PublicationErrorClass } from '../../domain/publication-errors.ts';

/** Awaits a call that must fail: a PlatformError of the expected class that holds none of the secrets. */
export async function expectFailure(
  promise: Promise<unknown>,
  expected: PublicationErrorClass,
  secrets: readonly string[] = [],
): Promise<PlatformError> {
  const error = await promise.then(
    () => assert.fail(`expected ${expected}, the call succeeded`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof PlatformError, `expected a PlatformError, got ${String(error)}`);
  assert.equal(error.failure.class, expected, error.message);
  for (const secret of secrets) {
    assert.ok(!error.message.includes(secret), `an error message holds a secret: ${error.message}`);
    assert.ok(!JSON.stringify(error.failure).includes(secret), `an error holds a secret: ${error.message}`);
  }
  return error;
}

/** expectFailure that also checks secrets every call of a suite holds (the app's client secret). */
export function expectFailureHiding(always: readonly string[]) {
  return (promise: Promise<unknown>, expected: PublicationErrorClass, secrets: readonly string[] = []) =>
    expectFailure(promise, expected, [...always, ...secrets]);
}

/** Awaits a call that must be refused in the user's words (CredentialsRejectedError). */
export async function expectRejected(
  promise: Promise<unknown>,
  message: string | RegExp,
): Promise<CredentialsRejectedError> {
  const error = await promise.then(
    () => assert.fail('expected CredentialsRejectedError, the call succeeded'),
    (caught: unknown) => caught,
  );
  assert.ok(
    error instanceof CredentialsRejectedError,
    `expected CredentialsRejectedError, got ${String(error)}`,
  );
  if (typeof message === 'string') assert.equal(error.message, message);
  else assert.match(error.message, message);
  return error;
}

/** The user's trip to a consent page, which answers with a redirect to our callback. */
export async function followConsent(authorizeUrl: string) {
  const response = await fetch(authorizeUrl, { redirect: 'manual' });
  assert.equal(response.status, 302, 'the consent page did not redirect');
  const location = new URL(response.headers.get('location') ?? '');
  return { location, query: Object.fromEntries(location.searchParams) };
}

/** What the connect route does: a fresh verifier, its S256 challenge. */
export function pkce() {
  const verifier = randomBytes(48).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** A base URL where nothing listens any more: a request there gets no answer at all. */
export async function closedBaseUrl(): Promise<string> {
  const idle = createServer();
  await new Promise<void>((resolve) => idle.listen(0, '127.0.0.1', resolve));
  const { port } = idle.address() as AddressInfo;
  await new Promise<void>((resolve) => idle.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** Runs `use` against a server that accepts connections and never answers, then closes it. */
export async function withHungServer(use: (baseUrl: string) => Promise<void>): Promise<void> {
  const hung = createServer(() => {});
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  try {
    await use(`http://127.0.0.1:${(hung.address() as AddressInfo).port}`);
  } finally {
    hung.closeAllConnections();
    await new Promise<void>((resolve) => hung.close(() => resolve()));
  }
}

/**
 * A refresh against a host that does not answer (nothing listening, or a server that never replies) must be
 * TRANSIENT with the reason said, never a dead token: a network hiccup must not flip a connector.
 */
export async function expectRefreshOutagesTransient<Credentials>(input: {
  /** The adapter under test, pointed at `baseUrl` for every host it uses. */
  adapterAt: (
    baseUrl: string,
    requestTimeoutMs?: number,
  ) => { refreshCredentials(credentials: Credentials): Promise<unknown> };
  credentials: Credentials;
  secrets: readonly string[];
}): Promise<void> {
  const offline = input.adapterAt(await closedBaseUrl());
  const unreachable = await expectFailure(
    offline.refreshCredentials(input.credentials),
    'TRANSIENT',
    input.secrets,
  );
  assert.match(unreachable.message, /could not be reached/);
  // A server that accepts and never answers: the request's own time limit ends it.
  await withHungServer(async (base) => {
    const slow = input.adapterAt(base, 200);
    const timedOut = await expectFailure(
      slow.refreshCredentials(input.credentials),
      'TRANSIENT',
      input.secrets,
    );
    assert.match(timedOut.message, /no answer within/);
  });
}

/**
 * A simulator and its adapter started for each test of the describe block this is called in, and closed after
 * it, so no test sees another's tokens or failures. Read it inside a test, or a hook declared after this call;
 * `restart` swaps it, mid-test, for one started with other options.
 */
export function harnessPerTest<
  Start extends (...args: never[]) => Promise<{ sim: { close(): Promise<void> } }>,
>(start: Start, ...initial: Parameters<Start>) {
  type Harness = Awaited<ReturnType<Start>>;
  let current: Harness | undefined;
  const restart = async (...args: Parameters<Start>) => {
    await current?.sim.close();
    current = (await start(...args)) as Harness;
  };
  beforeEach(async () => {
    current = (await start(...initial)) as Harness;
  });
  afterEach(() => current?.sim.close());
  return new Proxy({} as Harness & { restart: typeof restart }, {
    get: (_target, key) => {
      if (key === 'restart') return restart;
      if (!current) throw new Error('the harness is started by beforeEach(): use it inside a test');
      return Reflect.get(current, key);
    },
  });
}

/**
 * A hand-off context as the activity gives one, whose saved progress lands in `stored` as the publication row
 * keeps it. `crashOn` names a progress key whose save fails: a worker killed right after the platform
 * answered, so the answer is never persisted. `onGoingLive` sees the last check before the request that
 * makes the content live.
 */
export function recordingHandOffContext<Credentials>(
  base: Omit<HandOffContext<Credentials>, 'saveProgress' | 'heartbeat' | 'beforeGoingLive'>,
  overrides: Partial<HandOffContext<Credentials>> = {},
  options: { crashOn?: string | undefined; onGoingLive?: () => void } = {},
): { context: HandOffContext<Credentials>; stored: PublicationProgress } {
  const stored: PublicationProgress = { ...(overrides.progress ?? {}) };
  const context: HandOffContext<Credentials> = {
    ...base,
    async saveProgress(update) {
      if (options.crashOn && options.crashOn in update) throw new Error('worker killed');
      Object.assign(stored, update);
    },
    heartbeat() {},
    async beforeGoingLive() {
      options.onGoingLive?.();
    },
    ...overrides,
  };
  return { context, stored };
}

/**
 * The `overdue` the epic activity gives a confirmation poll once the grace has passed: `mayGoLive` answers
 * `allowed`, and each time it is asked is counted in `asked`.
 */
export function recordingOverdue(scheduledAt: Date, allowed = true) {
  const asked: true[] = [];
  return {
    asked,
    overdue: {
      scheduledAt,
      mayGoLive: async () => {
        asked.push(true);
        return allowed;
      },
    },
  };
}
