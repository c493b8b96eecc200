// The CyberImpact adapter against the CyberImpact simulator over real HTTP: connecting with an API token
// (ping, then every group across pages), the periodic check, audiences, and each error class.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  type CyberImpactAdapter,
  createCyberImpactAdapter,
  cyberImpactGroupsPageSize,
  mapCyberImpactError,
} from '../connectors/cyberimpact.ts';
import { CredentialsRejectedError } from '../connectors/types.ts';
import { PlatformError } from '../domain/publication-errors.ts';
import { type CyberImpactSimulator, startCyberImpactSimulator } from '../sandbox/cyberimpact.ts';

const goodToken = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJnb29kIn0.Z29vZC10b2tlbi1zaWduYXR1cmU';
const noGroupsToken = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJuby1ncm91cHMifQ.bm8tZ3JvdXBzLXNpZ25hdHVyZQ';
const noPingToken = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJuby1waW5nIn0.bm8tcGluZy1zaWduYXR1cmU';
// More than two pages, so discovery must follow the pagination to its end.
const groupCount = cyberImpactGroupsPageSize * 2 + 7;
const groups = Array.from({ length: groupCount }, (_, index) => ({
  id: 1000 + index,
  title: `Group ${String(index + 1).padStart(4, '0')}`,
}));

let simulator: CyberImpactSimulator;
let adapter: CyberImpactAdapter;

beforeEach(async () => {
  simulator = await startCyberImpactSimulator({
    groups,
    apiTokens: {
      [goodToken]: {},
      [noGroupsToken]: { forbiddenPaths: ['/groups'] },
      [noPingToken]: { forbiddenPaths: ['/ping'] },
    },
  });
  adapter = createCyberImpactAdapter({ apiBaseUrl: simulator.url });
});

afterEach(async () => {
  await simulator.close();
});

async function failureOf(promise: Promise<unknown>) {
  const error = await promise.then(
    () => assert.fail('expected the call to fail'),
    (reason: unknown) => reason,
  );
  assert.ok(error instanceof PlatformError, `expected a PlatformError, got ${String(error)}`);
  assert.ok(!JSON.stringify(error.failure).includes(goodToken), 'the API token leaked into the failure');
  return error.failure;
}

/** A port on which nothing listens: the connection is refused. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('connecting a CyberImpact API token', () => {
  it('pings, then discovers every group across pages as cyberimpact_group accounts', async () => {
    const connection = await adapter.connector.connectWithApiKey(goodToken);
    assert.deepEqual(connection.credentials, { apiKey: goodToken });
    assert.equal(connection.expiresAt, null, 'an API token has no expiry');
    assert.deepEqual(
      connection.accounts,
      groups.map((group) => ({ kind: 'cyberimpact_group', externalId: String(group.id), name: group.title })),
    );

    const pings = simulator.receivedMatching(/^\/ping$/, 'GET');
    assert.equal(pings.length, 1);
    assert.equal(pings[0]?.headers.authorization, `Bearer ${goodToken}`);
    const pages = simulator.receivedMatching(/^\/groups$/, 'GET');
    assert.deepEqual(
      pages.map((request) => request.query),
      [1, 2, 3].map((page) => ({ page: String(page), limit: String(cyberImpactGroupsPageSize) })),
    );
    assert.equal(simulator.received[0]?.path, '/ping', 'the ping comes first');
  });

  it('says the connector kind is an API key', () => {
    assert.equal(adapter.platform, 'cyberimpact');
    assert.equal(adapter.connector.kind, 'api_key');
  });

  it('refuses a wrong token with "Invalid API key", after the ping alone', async () => {
    await assert.rejects(adapter.connector.connectWithApiKey('eyJ.wrong.token'), {
      name: 'CredentialsRejectedError',
      message: 'Invalid API key',
    });
    assert.equal(simulator.receivedMatching('/groups').length, 0, 'no group read with a refused token');
  });

  it('refuses an empty token without asking CyberImpact', async () => {
    await assert.rejects(adapter.connector.connectWithApiKey('   '), {
      name: 'CredentialsRejectedError',
      message: 'Invalid API key',
    });
    assert.equal(simulator.received.length, 0, 'nothing was sent');
  });

  it('refuses a token that may not read groups (403) with "Scopes insufficient"', async () => {
    await assert.rejects(adapter.connector.connectWithApiKey(noGroupsToken), {
      name: 'CredentialsRejectedError',
      message: 'Scopes insufficient',
    });
    await assert.rejects(adapter.connector.connectWithApiKey(noPingToken), {
      name: 'CredentialsRejectedError',
      message: 'Scopes insufficient',
    });
  });

  it('reports a 5xx while connecting as TRANSIENT, not as a refused token', async () => {
    simulator.failWith('transient', { path: '/groups' });
    const failure = await failureOf(adapter.connector.connectWithApiKey(goodToken));
    assert.equal(failure.class, 'TRANSIENT');
  });

  it('trims the pasted token before storing it', async () => {
    const connection = await adapter.connector.connectWithApiKey(`  ${goodToken}\n`);
    assert.equal(connection.credentials.apiKey, goodToken);
  });
});

describe('the periodic check of a CyberImpact token', () => {
  it('passes for a working token with one ping', async () => {
    await adapter.verifyCredentials({ apiKey: goodToken });
    assert.equal(simulator.receivedMatching('/ping').length, 1);
    assert.equal(simulator.receivedMatching('/groups').length, 0, 'the check never lists groups');
  });

  it('says "Invalid API key" once the token is revoked', async () => {
    simulator.revokeToken(goodToken);
    await assert.rejects(
      adapter.verifyCredentials({ apiKey: goodToken }),
      (error: unknown) => error instanceof CredentialsRejectedError && error.message === 'Invalid API key',
    );
  });

  it('treats a 5xx as TRANSIENT: a passing outage never flips the connector', async () => {
    simulator.failWith('transient', { path: '/ping' });
    const failure = await failureOf(adapter.verifyCredentials({ apiKey: goodToken }));
    assert.equal(failure.class, 'TRANSIENT');
  });

  it('treats a refused connection as TRANSIENT', async () => {
    const offline = createCyberImpactAdapter({ apiBaseUrl: await deadUrl() });
    const failure = await failureOf(offline.verifyCredentials({ apiKey: goodToken }));
    assert.equal(failure.class, 'TRANSIENT');
    assert.match(failure.message, /could not be reached/);
  });

  it('treats a hung request as TRANSIENT after the request timeout', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const hung: Server = createServer(() => {
      // Never answers.
    });
    hung.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = hung.address() as AddressInfo;
      const slow = createCyberImpactAdapter({
        apiBaseUrl: `http://127.0.0.1:${port}`,
        requestTimeoutMs: 200,
      });
      const failure = await failureOf(slow.verifyCredentials({ apiKey: goodToken }));
      assert.equal(failure.class, 'TRANSIENT');
      assert.match(failure.message, /no answer within/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => hung.close(() => resolve()));
    }
  });
});

describe('CyberImpact groups as audiences', () => {
  it('lists every group as a list, fresh from CyberImpact', async () => {
    const audiences = await adapter.listAudiences({ apiKey: goodToken });
    assert.equal(audiences.length, groupCount);
    assert.deepEqual(audiences[0], { id: '1000', name: 'Group 0001', kind: 'list' });
    assert.deepEqual(audiences.at(-1), {
      id: String(1000 + groupCount - 1),
      name: `Group ${String(groupCount).padStart(4, '0')}`,
      kind: 'list',
    });
  });

  it('maps a revoked token to TOKEN_EXPIRED and a forbidden one to PERMISSION_REVOKED', async () => {
    simulator.revokeToken(goodToken);
    assert.equal((await failureOf(adapter.listAudiences({ apiKey: goodToken }))).class, 'TOKEN_EXPIRED');
    assert.equal(
      (await failureOf(adapter.listAudiences({ apiKey: noGroupsToken }))).class,
      'PERMISSION_REVOKED',
    );
  });

  it('maps a 429 to RATE_LIMITED with the Retry-After delay', async () => {
    simulator.failWith('rate_limited', { path: '/groups', retryAfterSeconds: 7 });
    const failure = await failureOf(adapter.listAudiences({ apiKey: goodToken }));
    assert.equal(failure.class, 'RATE_LIMITED');
    assert.equal(failure.retryAfterMs, 7000);
  });
});

describe('mapCyberImpactError', () => {
  const none = new Headers();
  it('classifies by status', () => {
    assert.deepEqual(mapCyberImpactError(401, { message: 'Invalid credentials.' }, none), {
      class: 'TOKEN_EXPIRED',
      message: 'Invalid API key',
    });
    assert.equal(mapCyberImpactError(403, null, none).class, 'PERMISSION_REVOKED');
    assert.equal(mapCyberImpactError(500, null, none).class, 'TRANSIENT');
    assert.equal(mapCyberImpactError(502, '<html>Bad gateway</html>', none).class, 'TRANSIENT');
    assert.equal(mapCyberImpactError(0, null, none).class, 'TRANSIENT');
    assert.deepEqual(mapCyberImpactError(422, { message: 'The subject is required.' }, none), {
      class: 'INVALID_REQUEST',
      message: 'The subject is required.',
    });
  });

  it('reads Retry-After in seconds, and leaves the delay out when there is none', () => {
    assert.equal(
      mapCyberImpactError(429, null, new Headers({ 'retry-after': '3' })).retryAfterMs,
      3000,
      'seconds become milliseconds',
    );
    assert.equal(mapCyberImpactError(429, null, none).retryAfterMs, undefined);
  });
});
