// One workspace never reaches another's epics, tasks, connectors, accounts or notifications, through any
// route: the routes are read from the OpenAPI description the app serves (every route is in it, see
// openapi.test.ts), each is called by one workspace with the other's ids, and a route nobody said how to call
// here fails the test, so a new route cannot be added without being covered.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { notifications, publications, webhookEndpoints } from '../db/schema.ts';
import {
  type ApiHarness,
  createWorkspace,
  startApiHarness,
  type TestWorkspace,
  workspaceTablesDigest,
} from './support/api.ts';
import { contentExamples } from './support/examples.ts';

let harness: ApiHarness;
let alpha: TestWorkspace;
let beta: TestWorkspace;
/** Alpha's ids, which beta tries. */
const theirs = { epic: '', task: '', connector: '', account: '', notification: '', webhook: '' };
/** Beta's own ids, mixed with alpha's where a route takes two. */
const own = { epic: '', task: '' };

before(async () => {
  harness = await startApiHarness();
  alpha = await createWorkspace(harness, 'Alpha');
  beta = await createWorkspace(harness, 'Beta');
  for (const [workspace, ids] of [
    [alpha, theirs],
    [beta, own],
  ] as const) {
    const target = await workspace.connectorFor('meta');
    ids.epic = (await workspace.api.post('/v1/epics', { title: 'Launch' })).json().id;
    const task = await workspace.api.post(`/v1/epics/${ids.epic}/tasks`, {
      channel: 'facebook_post',
      ...target,
      content: contentExamples.facebook_post,
    });
    assert.equal(task.statusCode, 201, task.body);
    ids.task = task.json().id;
    if (ids === theirs) {
      theirs.connector = target.connectorId;
      theirs.account = target.accountId;
    }
  }
  const [notification] = await harness.database.db
    .insert(notifications)
    .values({ workspaceId: alpha.id, kind: 'epic_failed', title: 'Alpha only', message: 'for Alpha' })
    .returning();
  theirs.notification = notification!.id;
  // Written directly: registering through the API resolves the URL's host, and this machine has no DNS.
  const [webhook] = await harness.database.db
    .insert(webhookEndpoints)
    .values({
      workspaceId: alpha.id,
      url: 'https://hooks.alpha.example/in',
      events: ['*'],
      secret: Buffer.from('sealed elsewhere'),
      secretKeyId: 'k',
      queuedThrough: 0,
    })
    .returning();
  theirs.webhook = webhook!.id;
  // A publication, so alpha's task has analytics to read (a task not yet reviewed has none: 404 to anyone).
  await harness.database.db
    .insert(publications)
    .values({ workspaceId: alpha.id, epicId: theirs.epic, taskId: theirs.task });
});
after(async () => harness?.close());

type Call = { url: string; body?: unknown };
/**
 * How each workspace route is tried by beta: `calls` gives the requests carrying alpha's ids in the path
 * (each must answer 404 NOT_FOUND); `list` names a route that lists (alpha's ids must not appear in it);
 * `noIds` a route that takes no id of a workspace's things (said why).
 */
type Coverage = { calls: (ids: typeof theirs) => Call[] } | { list: true } | { noIds: string };

const later = () => new Date(Date.now() + 86_400_000).toISOString();
const coverage: Record<string, Coverage> = {
  'POST /v1/epics': { noIds: 'creates an epic of the caller' },
  'GET /v1/epics': { list: true },
  'GET /v1/epics/{id}': { calls: (ids) => [{ url: `/v1/epics/${ids.epic}` }] },
  'PATCH /v1/epics/{id}': { calls: (ids) => [{ url: `/v1/epics/${ids.epic}`, body: { title: 'Stolen' } }] },
  'DELETE /v1/epics/{id}': { calls: (ids) => [{ url: `/v1/epics/${ids.epic}` }] },
  'GET /v1/epics/{id}/analytics': { calls: (ids) => [{ url: `/v1/epics/${ids.epic}/analytics` }] },
  'GET /v1/epics/{id}/tasks/{taskId}/analytics': {
    calls: (ids) => [
      { url: `/v1/epics/${ids.epic}/tasks/${ids.task}/analytics` },
      { url: `/v1/epics/${own.epic}/tasks/${ids.task}/analytics` },
    ],
  },
  'POST /v1/epics/{id}/tasks': {
    calls: (ids) => [
      {
        url: `/v1/epics/${ids.epic}/tasks`,
        body: {
          channel: 'facebook_post',
          connectorId: ids.connector,
          accountId: ids.account,
          content: { text: 'x' },
        },
      },
    ],
  },
  'PATCH /v1/epics/{id}/tasks/{taskId}': {
    calls: (ids) =>
      [ids.epic, own.epic].map((epic) => ({
        url: `/v1/epics/${epic}/tasks/${ids.task}`,
        body: { content: contentExamples.facebook_post },
      })),
  },
  'DELETE /v1/epics/{id}/tasks/{taskId}': {
    calls: (ids) => [ids.epic, own.epic].map((epic) => ({ url: `/v1/epics/${epic}/tasks/${ids.task}` })),
  },
  'POST /v1/epics/{id}/tasks/{taskId}/approve': {
    calls: (ids) =>
      [ids.epic, own.epic].map((epic) => ({ url: `/v1/epics/${epic}/tasks/${ids.task}/approve` })),
  },
  'POST /v1/epics/{id}/review': { calls: (ids) => [{ url: `/v1/epics/${ids.epic}/review` }] },
  'POST /v1/epics/{id}/edit': {
    calls: (ids) => [{ url: `/v1/epics/${ids.epic}/edit`, body: { confirm: true } }],
  },
  'POST /v1/epics/{id}/duplicate': { calls: (ids) => [{ url: `/v1/epics/${ids.epic}/duplicate` }] },
  'POST /v1/epics/{id}/schedule': {
    calls: (ids) => [{ url: `/v1/epics/${ids.epic}/schedule`, body: { scheduledAt: later() } }],
  },
  'POST /v1/epics/{id}/reschedule': {
    calls: (ids) => [{ url: `/v1/epics/${ids.epic}/reschedule`, body: { scheduledAt: later() } }],
  },
  'POST /v1/epics/{id}/unschedule': { calls: (ids) => [{ url: `/v1/epics/${ids.epic}/unschedule` }] },
  'POST /v1/epics/{id}/retry': { calls: (ids) => [{ url: `/v1/epics/${ids.epic}/retry` }] },
  'GET /v1/connectors': { list: true },
  'GET /v1/connectors/{id}': { calls: (ids) => [{ url: `/v1/connectors/${ids.connector}` }] },
  'PATCH /v1/connectors/{id}': {
    calls: (ids) => [{ url: `/v1/connectors/${ids.connector}`, body: { settings: {} } }],
  },
  'PUT /v1/connectors/{id}/accounts': {
    calls: (ids) => [{ url: `/v1/connectors/${ids.connector}/accounts`, body: { enabled: [ids.account] } }],
  },
  'GET /v1/connectors/{id}/audiences': {
    calls: (ids) => [{ url: `/v1/connectors/${ids.connector}/audiences` }],
  },
  'POST /v1/connectors/{id}/reconnect': {
    calls: (ids) => [{ url: `/v1/connectors/${ids.connector}/reconnect` }],
  },
  'DELETE /v1/connectors/{id}': { calls: (ids) => [{ url: `/v1/connectors/${ids.connector}` }] },
  'POST /v1/connectors/{platform}/connect': { noIds: 'starts a connection of the caller to a platform' },
  'POST /v1/connector-requests': { noIds: 'counts a platform asked for; no id' },
  'POST /v1/workspaces/current/api-keys': { noIds: "rotates the caller's own workspace's keys" },
  'POST /v1/webhooks': { noIds: 'registers an endpoint of the caller' },
  'GET /v1/webhooks': { list: true },
  'GET /v1/webhooks/{id}': { calls: (ids) => [{ url: `/v1/webhooks/${ids.webhook}` }] },
  'DELETE /v1/webhooks/{id}': { calls: (ids) => [{ url: `/v1/webhooks/${ids.webhook}` }] },
  'POST /v1/webhooks/{id}/replay': {
    calls: (ids) => [
      {
        url: `/v1/webhooks/${ids.webhook}/replay`,
        body: { since: new Date(Date.now() - 60_000).toISOString() },
      },
    ],
  },
  'GET /v1/webhooks/{id}/deliveries': { calls: (ids) => [{ url: `/v1/webhooks/${ids.webhook}/deliveries` }] },
  'GET /v1/notifications': { list: true },
  'POST /v1/notifications/{id}/read': {
    calls: (ids) => [{ url: `/v1/notifications/${ids.notification}/read` }],
  },
};

/** Routes outside any workspace: the admin's workspace creation, the probes, the OAuth callback. */
const outsideWorkspaces = new Set([
  'POST /v1/workspaces',
  'GET /healthz',
  'GET /readyz',
  // The admin token's: figures across every workspace, none naming one.
  'GET /metrics',
  // No bearer: the state it carries was issued to one workspace (connector-flows tests bind it).
  'GET /v1/oauth/{platform}/callback',
]);

const snapshot = () => workspaceTablesDigest(harness);

describe('tenant isolation, every route', () => {
  it("answers 404 to every route called with another workspace's ids, and lists only the caller's", async (t) => {
    const document = (await harness.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    const routes = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const uncovered = routes.filter((route) => !outsideWorkspaces.has(route) && !(route in coverage));
    assert.deepEqual(
      uncovered,
      [],
      'every workspace route says here how another workspace is kept out of it',
    );
    const gone = Object.keys(coverage).filter((route) => !routes.includes(route));
    assert.deepEqual(gone, [], 'every route covered here still exists');

    const before = await snapshot();
    let tried = 0;
    for (const route of routes.filter((candidate) => candidate in coverage)) {
      const method = route.split(' ')[0] as 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
      const way = coverage[route]!;
      if ('calls' in way) {
        for (const call of way.calls(theirs)) {
          const response = await beta.api.request({
            method,
            url: call.url,
            ...(call.body === undefined ? {} : { payload: call.body as object }),
          });
          assert.equal(response.statusCode, 404, `${route} (${call.url}): ${response.body}`);
          assert.equal(response.json().error.code, 'NOT_FOUND', route);
          tried += 1;
        }
      } else if ('list' in way) {
        const response = await beta.api.get(route.split(' ')[1]!);
        assert.equal(response.statusCode, 200, `${route}: ${response.body}`);
        for (const id of Object.values(theirs))
          assert.ok(!response.body.includes(id), `${route} shows none of another workspace's ids`);
        tried += 1;
      }
    }
    assert.ok(tried >= 30, `tried ${tried} requests`);
    const covered = Object.keys(coverage).length;
    t.diagnostic(`${covered} workspace routes covered (${routes.length} in all), ${tried} requests tried`);
    assert.deepEqual(await snapshot(), before, 'nothing of either workspace changed');

    // Beta's own tasks cannot target alpha's connector or account either (the ids are in the body).
    const borrowed = await beta.api.post(`/v1/epics/${own.epic}/tasks`, {
      channel: 'facebook_post',
      connectorId: theirs.connector,
      accountId: theirs.account,
      content: { text: 'x' },
    });
    assert.equal(borrowed.statusCode, 400, borrowed.body);
    assert.match(borrowed.json().error.message, /body\.connectorId/);
    // Nor can beta enable alpha's account on its own connector.
    const betaConnector = (await beta.connectorFor('meta')).connectorId;
    const enabling = await beta.api.request({
      method: 'PUT',
      url: `/v1/connectors/${betaConnector}/accounts`,
      payload: { enabled: [theirs.account] },
    });
    assert.equal(enabling.statusCode, 400, enabling.body);
    assert.match(enabling.json().error.message, /body\.enabled/);
    assert.deepEqual(await snapshot(), before, "alpha's account is as it was");
    // The control: the same reads by the workspace that owns the ids find them, so each 404 above was
    // ownership, not a URL that leads nowhere.
    const reads = routes
      .filter((route) => route.startsWith('GET ') && coverage[route] && 'calls' in coverage[route])
      .flatMap((route) => (coverage[route] as { calls: (ids: typeof theirs) => Call[] }).calls(theirs))
      .filter((call) => !call.url.includes(own.epic));
    assert.ok(reads.length >= 4);
    for (const call of reads) {
      const response = await alpha.api.get(call.url);
      assert.notEqual(response.statusCode, 404, `${call.url}: ${response.body}`);
    }
  });
});
