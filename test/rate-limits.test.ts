// The API's rate limits (SPEC §7's 429): per workspace API key, per IP address for the routes without a key
// and for keys that are refused, malformed requests counted too; the answer is 429 in the error format with
// Retry-After, and one caller over its limit leaves the others alone. The probes are never limited.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addressGroup } from '../api/rate-limits.ts';
import {
  type ApiHarness,
  adminToken,
  callerWith,
  createWorkspace,
  startApiHarness,
  type TestWorkspace,
  testConfig,
} from './support/api.ts';

const perWorkspace = 5;
const perIp = 4;
let harness: ApiHarness;
/** Made before the tests, from the harness's own address (whose per-IP count they use up): one each. */
const workspaces = {} as Record<'busy' | 'calm' | 'honest' | 'curious', TestWorkspace>;

before(async () => {
  harness = await startApiHarness({
    config: {
      RATE_LIMIT_PER_WORKSPACE_PER_MINUTE: String(perWorkspace),
      RATE_LIMIT_PER_IP_PER_MINUTE: String(perIp),
    },
  });
  for (const name of ['busy', 'calm', 'honest', 'curious'] as const)
    workspaces[name] = await createWorkspace(harness, name);
});
after(async () => harness?.close());

function assertLimited(response: { statusCode: number; headers: Record<string, unknown>; json(): unknown }) {
  assert.equal(response.statusCode, 429);
  const body = response.json() as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'RATE_LIMITED');
  assert.match(body.error.message, /try again in/);
  const retryAfter = Number(response.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 60, `Retry-After ${retryAfter}`);
}

/** A caller from its own address, so each test's per-IP count starts at zero. */
const from = (address: string, token: string | null) => {
  const caller = callerWith(harness.app, token);
  return {
    get: (url: string) => caller.request({ method: 'GET', url, remoteAddress: address }),
    post: (url: string, body?: unknown) =>
      caller.request({
        method: 'POST',
        url,
        remoteAddress: address,
        ...(body === undefined ? {} : { payload: body as object }),
      }),
  };
};

describe('rate limits', () => {
  it('limits each workspace on its own, all its keys together, malformed requests included, with 429 and Retry-After', async () => {
    const { busy, calm } = workspaces;
    const busyCaller = from('203.0.113.1', busy.apiKey);
    // Malformed requests count: they cost the server the same.
    for (let index = 0; index < 2; index += 1)
      assert.equal((await busyCaller.post('/v1/epics', { title: '' })).statusCode, 400);
    // A rotation (which counts too) does not give the workspace a second allowance.
    const rotated = await busyCaller.post('/v1/workspaces/current/api-keys', { graceSeconds: 600 });
    assert.equal(rotated.statusCode, 201, rotated.body);
    for (let index = 0; index < perWorkspace - 3; index += 1)
      assert.equal((await busyCaller.get('/v1/epics')).statusCode, 200);
    const limited = await busyCaller.get('/v1/epics');
    assertLimited(limited);
    assertLimited(await from('203.0.113.1', rotated.json().apiKey).get('/v1/epics'));
    // Another address does not help a workspace over its limit.
    assertLimited(await from('203.0.113.2', busy.apiKey).get('/v1/epics'));
    // Nothing was written by the refused request, and another workspace's key is not limited by this one.
    assertLimited(await busyCaller.post('/v1/epics', { title: 'Refused' }));
    const calmList = await from('203.0.113.1', calm.apiKey).get('/v1/epics');
    assert.equal(calmList.statusCode, 200);
    assert.equal(Number(calmList.headers['x-ratelimit-remaining']), perWorkspace - 1);
    const written = await harness.database
      .sql`select count(*)::int as count from epics where title = 'Refused'`;
    assert.equal(written[0]!.count, 0);
  });

  it('limits refused keys and the routes without a key by IP address', async () => {
    const guesser = from('198.51.100.7', 'gw_aaaaaaaaaa_notavalidkeynotavalidkeynotavalidkeynotava');
    for (let index = 0; index < perIp; index += 1)
      assert.equal((await guesser.get('/v1/epics')).statusCode, 401);
    assertLimited(await guesser.get('/v1/epics'));
    // No key at all counts the same way.
    assertLimited(await from('198.51.100.7', null).get('/v1/connectors'));
    // A valid key from that address is not held back by the guesses.
    const workspace = workspaces.honest;
    assert.equal((await from('198.51.100.7', workspace.apiKey).get('/v1/epics')).statusCode, 200);

    const stranger = from('198.51.100.8', null);
    for (let index = 0; index < perIp; index += 1)
      assert.equal((await stranger.get('/v1/oauth/meta/callback?code=x&state=y')).statusCode, 400);
    assertLimited(await stranger.get('/v1/oauth/meta/callback?code=x&state=y'));
    const admin = from('198.51.100.9', adminToken);
    for (let index = 0; index < perIp; index += 1)
      assert.equal((await admin.post('/v1/workspaces', { name: `W${index}` })).statusCode, 201);
    assertLimited(await admin.post('/v1/workspaces', { name: 'One too many' }));

    // Guesses of the admin token count too: on its route, and on /readyz (whose figures it unlocks).
    const adminGuesser = from('198.51.100.10', 'not-the-admin-token-0000');
    for (let index = 0; index < perIp - 1; index += 1)
      assert.equal((await adminGuesser.post('/v1/workspaces', { name: 'x' })).statusCode, 401);
    assert.notEqual((await adminGuesser.get('/readyz')).statusCode, 429, 'the last guess allowed');
    assertLimited(await adminGuesser.get('/readyz'));
    assertLimited(await adminGuesser.post('/v1/workspaces', { name: 'x' }));
    // The probe itself, without a token, is still answered from that address.
    assert.notEqual((await from('198.51.100.10', null).get('/readyz')).statusCode, 429);
  });

  it('counts an IPv6 caller by its /64', () => {
    assert.equal(addressGroup('2001:db8:1:2:aaaa::1'), '8193:3512:1:2::/64');
    assert.equal(addressGroup('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '8193:3512:1:2::/64');
    assert.notEqual(addressGroup('2001:db8:1:3::1'), addressGroup('2001:db8:1:2::1'));
    assert.equal(addressGroup('::1'), '0:0:0:0::/64');
    assert.equal(addressGroup('::ffff:203.0.113.9'), '203.0.113.9');
    assert.equal(addressGroup('203.0.113.9'), '203.0.113.9');
  });

  it('/readyz tells anonymous callers and workspace keys nothing about the tenants; the admin token sees the overdue count', async () => {
    const workspace = workspaces.curious;
    for (const token of [null, workspace.apiKey]) {
      const body = (await from('192.0.2.30', token).get('/readyz')).json();
      assert.ok(body.checks, 'the checks are there');
      assert.equal(body.details, undefined, `no overdue figure for ${token ? 'a workspace key' : 'anyone'}`);
    }
    const operator = (await from('192.0.2.30', adminToken).get('/readyz')).json();
    assert.equal(typeof operator.details.overdueEpics, 'number');
  });

  it('never limits the probes', async () => {
    const probe = from('192.0.2.10', null);
    for (let index = 0; index < perIp * 4; index += 1) {
      assert.equal((await probe.get('/healthz')).statusCode, 200);
      assert.notEqual((await probe.get('/readyz')).statusCode, 429);
    }
  });

  it('documents 429 on every /v1 route, and reads its limits and proxies from the environment', async () => {
    const document = (await from('192.0.2.20', null).get('/openapi.json')).json() as {
      paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
    };
    for (const [path, methods] of Object.entries(document.paths)) {
      if (!path.startsWith('/v1')) continue;
      for (const [method, operation] of Object.entries(methods))
        assert.ok(operation.responses?.['429'], `${method.toUpperCase()} ${path} documents 429`);
    }
    const defaults = testConfig();
    assert.equal(defaults.RATE_LIMIT_PER_WORKSPACE_PER_MINUTE, 6_000);
    assert.equal(defaults.RATE_LIMIT_PER_IP_PER_MINUTE, 300);
    assert.equal(defaults.TRUST_PROXY, undefined);
    assert.equal(testConfig({ TRUST_PROXY: '1' }).TRUST_PROXY, 1);
    assert.deepEqual(testConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).TRUST_PROXY, [
      '10.0.0.0/8',
      '127.0.0.1',
    ]);
    assert.throws(
      () => testConfig({ RATE_LIMIT_PER_WORKSPACE_PER_MINUTE: '0' }),
      /RATE_LIMIT_PER_WORKSPACE_PER_MINUTE/,
    );
    assert.throws(() => testConfig({ TRUST_PROXY: 'true' }), /TRUST_PROXY must be .*"true"/);
    assert.throws(() => testConfig({ TRUST_PROXY: '10.0.0.0/33' }), /TRUST_PROXY/);
    assert.deepEqual(testConfig({ TRUST_PROXY: 'loopback, fd00::/8' }).TRUST_PROXY, ['loopback', 'fd00::/8']);
  });

  it('takes the caller address from X-Forwarded-For only behind a proxy it was told to trust', async () => {
    const behindProxy = await startApiHarness({
      config: { RATE_LIMIT_PER_IP_PER_MINUTE: '1', TRUST_PROXY: '1' },
    });
    try {
      const viaProxy = (client: string) =>
        behindProxy.app.inject({
          method: 'GET',
          url: '/v1/epics',
          remoteAddress: '10.0.0.2',
          headers: { 'x-forwarded-for': client },
        });
      assert.equal((await viaProxy('203.0.113.50')).statusCode, 401);
      assertLimited(await viaProxy('203.0.113.50'));
      // Another client behind the same proxy has its own count.
      assert.equal((await viaProxy('203.0.113.51')).statusCode, 401);
    } finally {
      await behindProxy.close();
    }
  });
});
