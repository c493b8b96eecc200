// Workspaces and authentication: keys are shown once and stored hashed; one workspace never sees another's.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { apiKeys, auditEvents } from '../db/schema.ts';
import { type ApiHarness, adminToken, callerWith, createWorkspace, startApiHarness } from './support/api.ts';

let harness: ApiHarness;
before(async () => {
  harness = await startApiHarness();
});
after(async () => harness?.close());

describe('workspaces and auth', () => {
  it('creates a workspace with the admin token and returns its key once, storing only a hash', async () => {
    const response = await callerWith(harness.app, adminToken).post('/v1/workspaces', {
      name: 'Acme',
      plan: 'growth',
    });
    assert.equal(response.statusCode, 201);
    const body = response.json();
    assert.deepEqual(Object.keys(body).sort(), ['apiKey', 'id', 'name', 'plan']);
    assert.equal(body.plan, 'growth');
    assert.match(body.apiKey, /^gw_[a-z0-9]{10}_[A-Za-z0-9_-]{43}$/);
    const rows = await harness.database.db.select().from(apiKeys).where(eq(apiKeys.workspaceId, body.id));
    assert.equal(rows.length, 1);
    assert.ok(!rows[0]!.hash.toString('latin1').includes(body.apiKey));
    const dump = JSON.stringify(await harness.database.sql`select * from api_keys`);
    assert.ok(!dump.includes(body.apiKey.slice(14)), 'the secret part of the key is nowhere in the table');
    const audit = await harness.database.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.subjectId, body.id));
    assert.equal(audit[0]?.actor, 'admin');
    const api = callerWith(harness.app, body.apiKey);
    assert.equal((await api.get('/v1/epics')).statusCode, 200);
  });

  it('answers 401 without a token or with a bad one, in the error format', async () => {
    for (const token of [null, 'nope', 'gw_abcdefghij_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
      const response = await callerWith(harness.app, token).get('/v1/epics');
      assert.equal(response.statusCode, 401, `token ${token}`);
      assert.equal(response.json().error.code, 'UNAUTHENTICATED');
    }
    const noAdmin = await callerWith(harness.app, null).post('/v1/workspaces', { name: 'x' });
    assert.equal(noAdmin.statusCode, 401);
    const wrongAdmin = await callerWith(harness.app, 'wrong-admin-token-123').post('/v1/workspaces', {
      name: 'x',
    });
    assert.equal(wrongAdmin.statusCode, 401);
  });

  it('refuses the admin route to a workspace key (403) and the workspace routes to the admin token (401)', async () => {
    const workspace = await createWorkspace(harness);
    const response = await workspace.api.post('/v1/workspaces', { name: 'Sneaky' });
    assert.equal(response.statusCode, 403);
    assert.equal(response.json().error.code, 'FORBIDDEN');
    assert.equal((await callerWith(harness.app, adminToken).get('/v1/epics')).statusCode, 401);
  });

  it("never shows one workspace another's epics and tasks: read, patch, delete and list", async () => {
    const alpha = await createWorkspace(harness, 'Alpha');
    const beta = await createWorkspace(harness, 'Beta');
    const epic = (await alpha.api.post('/v1/epics', { title: 'Alpha launch' })).json();
    const target = await alpha.connectorFor('meta');
    const task = (
      await alpha.api.post(`/v1/epics/${epic.id}/tasks`, {
        channel: 'facebook_post',
        ...target,
        content: { text: 'hi' },
      })
    ).json();

    const attempts = [
      await beta.api.get(`/v1/epics/${epic.id}`),
      await beta.api.patch(`/v1/epics/${epic.id}`, { title: 'Stolen' }),
      await beta.api.delete(`/v1/epics/${epic.id}`),
      await beta.api.post(`/v1/epics/${epic.id}/review`),
      await beta.api.post(`/v1/epics/${epic.id}/duplicate`),
      await beta.api.post(`/v1/epics/${epic.id}/edit`, { confirm: true }),
      await beta.api.patch(`/v1/epics/${epic.id}/tasks/${task.id}`, { content: { text: 'x' } }),
      await beta.api.post(`/v1/epics/${epic.id}/tasks/${task.id}/approve`),
      await beta.api.delete(`/v1/epics/${epic.id}/tasks/${task.id}`),
      await beta.api.post(`/v1/epics/${epic.id}/tasks`, {
        channel: 'facebook_post',
        ...target,
        content: { text: 'x' },
      }),
    ];
    for (const response of attempts) {
      assert.equal(response.statusCode, 404, response.body);
      assert.equal(response.json().error.code, 'NOT_FOUND');
    }
    // Beta cannot point its own task at Alpha's connector either.
    const betaEpic = (await beta.api.post('/v1/epics', { title: 'Beta' })).json();
    const borrowed = await beta.api.post(`/v1/epics/${betaEpic.id}/tasks`, {
      channel: 'facebook_post',
      ...target,
      content: { text: 'x' },
    });
    assert.equal(borrowed.statusCode, 400);
    assert.match(borrowed.json().error.message, /body\.connectorId/);

    const list = (await beta.api.get('/v1/epics?limit=100')).json();
    assert.deepEqual(
      list.items.map((item: { id: string }) => item.id),
      [betaEpic.id],
    );
    const untouched = (await alpha.api.get(`/v1/epics/${epic.id}`)).json();
    assert.equal(untouched.title, 'Alpha launch');
    assert.equal(untouched.tasks.length, 1);
    assert.equal(untouched.tasks[0].approved, false);
  });
  it('rotations of one workspace at once leave exactly one key valid beside the grace of the one in use', async () => {
    const workspace = await createWorkspace(harness, 'Racing rotations');
    const key = callerWith(harness.app, workspace.apiKey);
    const answers = await Promise.all(
      [0, 1, 2].map(() => key.post('/v1/workspaces/current/api-keys', { graceSeconds: 3_600 })),
    );
    // The first to lock rotates; the others read the key as being retired by then and are refused.
    assert.deepEqual(answers.map((answer) => answer.statusCode).sort(), [201, 403, 403]);
    const valid = await harness.database.sql`
      select count(*)::int as count from api_keys
      where workspace_id = ${workspace.id} and (revoked_at is null or revoked_at > now())`;
    assert.equal(valid[0]!.count, 2, 'the new key and the one in use, in its grace');
  });

  it('rotates the API key: the old one works for its grace period only, and cannot rotate the new one away', async () => {
    const workspace = await createWorkspace(harness, 'Rotating');
    const oldKey = callerWith(harness.app, workspace.apiKey);
    const rotated = await oldKey.post('/v1/workspaces/current/api-keys', { graceSeconds: 3_600 });
    assert.equal(rotated.statusCode, 201, rotated.body);
    const { apiKey, prefix, previousKeysValidUntil } = rotated.json();
    assert.match(apiKey, /^gw_[a-z0-9]{10}_/);
    assert.ok(apiKey.startsWith(`gw_${prefix}_`));
    const validFor = Date.parse(previousKeysValidUntil) - Date.now();
    assert.ok(validFor > 3_500_000 && validFor <= 3_600_000, `${validFor} ms of grace`);
    const newKey = callerWith(harness.app, apiKey);
    assert.equal((await newKey.get('/v1/epics')).statusCode, 200);
    assert.equal((await oldKey.get('/v1/epics')).statusCode, 200, 'the old key works during its grace');
    // The key being retired (perhaps the leaked one) cannot rotate the new key away.
    const hijack = await oldKey.post('/v1/workspaces/current/api-keys', { graceSeconds: 0 });
    assert.equal(hijack.statusCode, 403, hijack.body);
    assert.equal(hijack.json().error.code, 'KEY_BEING_RETIRED');
    assert.equal((await newKey.get('/v1/epics')).statusCode, 200);

    // Rotating again with a grace: the key in use gets it, the one already being retired stops at once, so a
    // workspace never holds more than two valid keys.
    const third = await newKey.post('/v1/workspaces/current/api-keys', { graceSeconds: 3_600 });
    assert.equal(third.statusCode, 201, third.body);
    assert.equal((await oldKey.get('/v1/epics')).statusCode, 401, 'the key already being retired stopped');
    assert.equal((await newKey.get('/v1/epics')).statusCode, 200, 'the key in use has its grace');
    const thirdKey = callerWith(harness.app, third.json().apiKey);
    // Without grace: every earlier key stops at once, the newest works; only hashes are kept.
    const again = await thirdKey.post('/v1/workspaces/current/api-keys', { graceSeconds: 0 });
    assert.equal(again.statusCode, 201, again.body);
    for (const retired of [oldKey, newKey, thirdKey]) {
      const refused = await retired.get('/v1/epics');
      assert.equal(refused.statusCode, 401, refused.body);
    }
    assert.equal((await callerWith(harness.app, again.json().apiKey).get('/v1/epics')).statusCode, 200);
    const rows = await harness.database
      .sql`select encode(hash, 'hex') as hash from api_keys where workspace_id = ${workspace.id}`;
    assert.equal(rows.length, 4);
    assert.ok(
      rows.every((row) => !JSON.stringify(row).includes(again.json().apiKey.slice(14))),
      'no key stored in clear',
    );
    const audit = await harness.database
      .sql`select actor, details from audit_events where workspace_id = ${workspace.id} and action = 'rotate_api_key' order by created_at`;
    assert.equal(audit.length, 3);
    assert.ok(!JSON.stringify(audit).includes(apiKey), 'the audit names prefixes, never a key');
    // Another workspace's keys are not touched.
    const other = await createWorkspace(harness, 'Bystander');
    await callerWith(harness.app, other.apiKey).post('/v1/workspaces/current/api-keys', { graceSeconds: 0 });
    assert.equal((await callerWith(harness.app, again.json().apiKey).get('/v1/epics')).statusCode, 200);
    const bad = await callerWith(harness.app, again.json().apiKey).post('/v1/workspaces/current/api-keys', {
      graceSeconds: 8 * 86_400,
    });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error.message, /body\.graceSeconds/);
  });
});
