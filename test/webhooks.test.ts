// Webhooks on the real stack (Temporal dev server, PostgreSQL, a worker, the Meta simulator) and a receiver
// over HTTP: every transition of an epic and its publications reaches the endpoint signed as Standard Webhooks
// lays out (checked by the `standardwebhooks` package, an independent verifier), numbered per workspace, in
// order per epic; a receiver that is down gets everything once it is back while the epic publishes on time;
// a replay sends the same events again with their ids; a deleted endpoint gets nothing more; URLs inside the
// network are refused.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { sequenceEvents } from '../db/workspace-events.ts';
import { type ApiHarness, createWorkspace, startApiHarness } from './support/api.ts';
import {
  connectedWorkspace,
  repoRoot,
  reviewedEpic,
  useStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

interface Received {
  headers: Record<string, string>;
  body: string;
  event: { id: string; type: string; sequence: number; workspaceId: string; data: Record<string, unknown> };
}

/** A webhook receiver: records what it is sent; answers `answer` (a status, or 'hang'). */
async function startReceiver() {
  const received: Received[] = [];
  let answer: number | 'hang' = 200;
  let refused = 0;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (answer === 'hang') return;
      if (answer >= 300) {
        refused += 1;
        response.writeHead(answer).end();
        return;
      }
      received.push({
        headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, String(v)])),
        body,
        event: JSON.parse(body),
      });
      response.writeHead(answer).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    refusedCount: () => refused,
    answerWith(status: number | 'hang') {
      answer = status;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const stack = useStack({
  config: { PUBLICATION_PREPARE_AHEAD_MS: '0', WEBHOOK_ALLOW_PRIVATE_HOSTS: 'true' },
});
let receiver: Awaited<ReturnType<typeof startReceiver>>;
before(async () => {
  receiver = await startReceiver();
});
after(async () => receiver?.close());

/** `npm run admin -- …` as an operator runs it, with this stack's worker environment. */
function runAdmin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'scripts', 'admin.ts'), ...args],
      { cwd: repoRoot, env: { ...process.env, ...stack.workerEnv }, timeout: 120_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();

async function register(setup: Awaited<ReturnType<typeof connectedWorkspace>>, events: string[] = ['*']) {
  const created = await setup.workspace.api.post('/v1/webhooks', { url: receiver.url, events });
  assert.equal(created.statusCode, 201, created.body);
  return created.json() as { id: string; secret: string; url: string; events: string[] };
}

const ofWorkspace = (workspaceId: string) =>
  receiver.received.filter((entry) => entry.event.workspaceId === workspaceId);

/** What an epic's life sends, in order: its own transitions and its publications'. */
const lifeOf = (entries: Received[], epicId: string) =>
  entries.filter((entry) => entry.event.data.epicId === epicId).map((entry) => entry.event.type);

describe('webhooks', () => {
  it('deliver every transition of an epic, signed, numbered per workspace, in order', async () => {
    const setup = await connectedWorkspace(stack, 'Hooked');
    const webhook = await register(setup);
    assert.match(webhook.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    const shown = await setup.workspace.api.get(`/v1/webhooks/${webhook.id}`);
    assert.equal(shown.statusCode, 200);
    assert.equal(shown.json().secret, undefined, 'the secret is shown once');
    assert.ok(!shown.body.includes(webhook.secret.slice(6)));

    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Signed');
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: inSeconds(2),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    await waitForStatus(setup.workspace, epicId, 'published');
    const entries = await waitFor(
      async () => ofWorkspace(setup.workspace.id),
      (list) => list.some((entry) => entry.event.type === 'epic.published'),
    );

    const verifier = new Webhook(webhook.secret);
    for (const entry of entries) {
      // Throws on a bad signature, a missing header or a timestamp outside five minutes.
      const verified = verifier.verify(entry.body, entry.headers) as { id: string };
      assert.equal(verified.id, entry.event.id);
      assert.equal(entry.headers['webhook-id'], entry.event.id);
    }
    assert.throws(() =>
      new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(
        entries[0]!.body,
        entries[0]!.headers,
      ),
    );
    assert.throws(() => verifier.verify(entries[0]!.body.replace('"type"', '"typ" '), entries[0]!.headers));

    // Numbered from 1 for a workspace that registered before anything happened, without a gap.
    const sequences = entries.map((entry) => entry.event.sequence).sort((a, b) => a - b);
    assert.deepEqual(
      sequences,
      sequences.map((_, index) => sequences[0]! + index),
    );
    assert.deepEqual(lifeOf(entries, epicId), [
      'epic.draft',
      'epic.review',
      'epic.scheduled',
      'publication.publishing',
      'publication.published',
      'epic.published',
    ]);
    // Delivered in the order they were numbered: the receiver saw the epic's events in sequence order.
    const bySequence = entries
      .filter((entry) => entry.event.data.epicId === epicId)
      .map((entry) => entry.event.sequence);
    assert.deepEqual(
      bySequence,
      [...bySequence].sort((a, b) => a - b),
    );
    const published = entries.find((entry) => entry.event.type === 'publication.published')!;
    assert.equal(published.event.data.from, 'publishing');
    assert.match(String(published.event.data.externalId), /\S/);

    const deliveries = await setup.workspace.api.get(`/v1/webhooks/${webhook.id}/deliveries`);
    assert.equal(deliveries.statusCode, 200, deliveries.body);
    const items = deliveries.json().items as { status: string; attempts: number; eventType: string }[];
    assert.equal(items.length, entries.length);
    assert.ok(items.every((item) => item.status === 'delivered' && item.attempts === 1));
  });

  it('keep every epic publishing on time while the receiver is down, then deliver everything in order', async () => {
    const setup = await connectedWorkspace(stack, 'Receiver down');
    const webhook = await register(setup, ['epic.*', 'publication.published']);
    receiver.answerWith(503);
    const epics = await Promise.all(
      ['First', 'Second'].map((title) => reviewedEpic(setup, ['facebook_post'], title)),
    );
    for (const { epicId } of epics) {
      const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
        scheduledAt: inSeconds(2),
      });
      assert.equal(scheduled.statusCode, 200, scheduled.body);
    }
    // The epics do not wait for the receiver.
    for (const { epicId } of epics) await waitForStatus(setup.workspace, epicId, 'published');
    await waitFor(
      async () => receiver.refusedCount(),
      (count) => count >= 2,
    );
    assert.equal(ofWorkspace(setup.workspace.id).length, 0);
    const pending = (
      await setup.workspace.api.get(`/v1/webhooks/${webhook.id}/deliveries?status=pending`)
    ).json().items as {
      attempts: number;
      lastStatusCode: number | null;
      lastError: string | null;
      nextAttemptAt: string;
    }[];
    const tried = pending.filter((item) => item.attempts > 0);
    assert.ok(tried.length >= 1, JSON.stringify(pending));
    assert.equal(tried[0]!.lastStatusCode, 503);
    assert.match(tried[0]!.lastError ?? '', /503/);

    receiver.answerWith(200);
    // The first retry comes 5 s (less a tenth at most) after the refusal.
    const entries = await waitFor(
      async () => ofWorkspace(setup.workspace.id),
      (list) => epics.every(({ epicId }) => lifeOf(list, epicId).includes('epic.published')),
      250,
    );
    for (const { epicId } of epics) {
      // Only the endpoint's choice of events (no publication.publishing), each once, in order.
      assert.deepEqual(lifeOf(entries, epicId), [
        'epic.draft',
        'epic.review',
        'epic.scheduled',
        'publication.published',
        'epic.published',
      ]);
      const sequences = entries
        .filter((entry) => entry.event.data.epicId === epicId)
        .map((entry) => entry.event.sequence);
      assert.deepEqual(
        sequences,
        [...sequences].sort((a, b) => a - b),
        'each epic in order',
      );
    }
    // Each event once, though its first tries were refused.
    const ids = entries.map((entry) => entry.event.id);
    assert.equal(new Set(ids).size, ids.length);
    const delivered = (
      await setup.workspace.api.get(`/v1/webhooks/${webhook.id}/deliveries?status=delivered`)
    ).json().items as { attempts: number }[];
    assert.ok(
      delivered.some((item) => item.attempts > 1),
      'retried after the outage',
    );
  });

  it('replay sends the events since a time again, in order, with their ids; a deleted endpoint gets nothing more', async () => {
    const setup = await connectedWorkspace(stack, 'Replayed');
    const webhook = await register(setup);
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Again');
    await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, { scheduledAt: inSeconds(1) });
    await waitForStatus(setup.workspace, epicId, 'published');
    const first = await waitFor(
      async () => ofWorkspace(setup.workspace.id),
      (list) => lifeOf(list, epicId).includes('epic.published'),
    );
    const firstIds = first.map((entry) => entry.event.id);

    const tooOld = await setup.workspace.api.post(`/v1/webhooks/${webhook.id}/replay`, {
      since: new Date(Date.now() - 31 * 86_400_000).toISOString(),
    });
    assert.equal(tooOld.statusCode, 400);
    assert.match(tooOld.json().error.message, /body\.since: must be within the last 30 days/);
    const replayed = await setup.workspace.api.post(`/v1/webhooks/${webhook.id}/replay`, {
      since: new Date(Date.now() - 3_600_000).toISOString(),
    });
    assert.equal(replayed.statusCode, 202, replayed.body);
    // Every event since then that the endpoint takes: all of them, from its registration on.
    const queued = replayed.json().queued as number;
    assert.equal(queued, firstIds.length);
    const again = await waitFor(
      async () => ofWorkspace(setup.workspace.id).slice(first.length),
      (list) => list.length >= queued,
    );
    assert.deepEqual(
      again.map((entry) => entry.event.id).sort(),
      [...firstIds].sort(),
      'the same events again, with the same ids',
    );
    const replayedSequences = again
      .filter((entry) => entry.event.data.epicId === epicId)
      .map((entry) => entry.event.sequence);
    assert.deepEqual(
      replayedSequences,
      [...replayedSequences].sort((a, b) => a - b),
    );
    const deliveries = (
      await setup.workspace.api.get(`/v1/webhooks/${webhook.id}/deliveries?limit=100`)
    ).json().items as { replay: boolean }[];
    assert.equal(deliveries.filter((item) => item.replay).length, queued);

    // The admin command does the same for an operator, with a reason in the audit log.
    const byAdmin = await runAdmin(
      'replay-webhooks',
      webhook.id,
      '--since',
      new Date(Date.now() - 3_600_000).toISOString(),
      '--reason',
      'the CRM lost a day',
      '--by',
      'ops',
    );
    assert.equal(byAdmin.code, 0, byAdmin.stderr);
    assert.match(
      byAdmin.stdout,
      new RegExp(
        `${firstIds.length} event\\(s\\) since .* queued again by admin:ops \\(reason: the CRM lost a day\\)`,
      ),
    );
    const third = await waitFor(
      async () => ofWorkspace(setup.workspace.id).slice(first.length + again.length),
      (list) => list.length >= firstIds.length,
    );
    assert.deepEqual(third.map((entry) => entry.event.id).sort(), [...firstIds].sort());
    const refused = await runAdmin('replay-webhooks', webhook.id, '--since', 'yesterday', '--reason', 'x');
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--since must be an ISO 8601 date-time/);

    const deleted = await setup.workspace.api.delete(`/v1/webhooks/${webhook.id}`);
    assert.equal(deleted.statusCode, 204);
    const before = ofWorkspace(setup.workspace.id).length;
    const { epicId: later } = await reviewedEpic(setup, ['facebook_post'], 'Unheard');
    await setup.workspace.api.post(`/v1/epics/${later}/schedule`, { scheduledAt: inSeconds(1) });
    await waitForStatus(setup.workspace, later, 'published');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(ofWorkspace(setup.workspace.id).length, before);
    assert.equal((await setup.workspace.api.get(`/v1/webhooks/${webhook.id}`)).statusCode, 404);
  });

  it('are the workspace’s own: another workspace sees none of them', async () => {
    const owner = await connectedWorkspace(stack, 'Owner');
    const stranger = await connectedWorkspace(stack, 'Stranger');
    const webhook = await register(owner, ['connector.*']);
    for (const path of [`/v1/webhooks/${webhook.id}`, `/v1/webhooks/${webhook.id}/deliveries`]) {
      assert.equal((await stranger.workspace.api.get(path)).statusCode, 404, path);
    }
    assert.equal(
      (await stranger.workspace.api.post(`/v1/webhooks/${webhook.id}/replay`, { since: inSeconds(-60) }))
        .statusCode,
      404,
    );
    assert.equal((await stranger.workspace.api.delete(`/v1/webhooks/${webhook.id}`)).statusCode, 404);
    assert.deepEqual((await stranger.workspace.api.get('/v1/webhooks')).json().items, []);
  });
});

describe('webhook sequence numbers', () => {
  it('wait for a transaction still writing: a later commit is not numbered before it', async () => {
    const setup = await connectedWorkspace(stack, 'Commit order');
    const { sql: pool } = stack.harness.database;
    const workspaceId = setup.workspace.id;
    const last = await sequenceEvents(pool, workspaceId);
    const insertEvent = (executor: typeof pool, type: string) =>
      executor`insert into workspace_events (workspace_id, type, subject_type, subject_id, ordering_key)
               values (${workspaceId}, ${type}, 'epic', ${workspaceId}, ${workspaceId})`;
    // An earlier transaction still open, holding its event; a later one commits first.
    const open = await pool.reserve();
    try {
      await open`begin`;
      await insertEvent(open as unknown as typeof pool, 'epic.first');
      await insertEvent(pool, 'epic.second');
      assert.equal(await sequenceEvents(pool, workspaceId), last, 'nothing numbered past a running writer');
      await open`commit`;
    } finally {
      open.release();
    }
    // Numbered once nothing older runs (a worker's or the API's own transaction may still, for an instant).
    await waitFor(
      () => sequenceEvents(pool, workspaceId),
      (through) => through === last + 2,
    );
    const rows = await stack.harness.database.db.execute<{ type: string; sequence: string }>(
      sql`select type, sequence::text from workspace_events where workspace_id = ${workspaceId} and sequence > ${last} order by sequence`,
    );
    assert.deepEqual(
      rows.map((row) => row.type),
      ['epic.first', 'epic.second'],
    );
  });
});

describe('webhook URLs', () => {
  let harness: ApiHarness;
  before(async () => {
    harness = await startApiHarness();
  });
  after(async () => harness?.close());

  it('are refused inside the network and over plain http, with the reason', async () => {
    const workspace = await createWorkspace(harness, 'Careful');
    const cases: [string, RegExp][] = [
      ['http://hooks.example.com/in', /body\.url: must use https/],
      ['https://127.0.0.1/in', /body\.url: .*private, loopback or link-local/],
      ['https://169.254.169.254/latest/meta-data', /body\.url: .*private, loopback or link-local/],
      ['https://[::1]:8443/in', /body\.url: .*private, loopback or link-local/],
      ['https://localhost/in', /body\.url: .*private, loopback or link-local/],
      ['https://10.1.2.3/in', /body\.url: .*private, loopback or link-local/],
      ['https://user:pw@hooks.example.com/in', /body\.url: must not carry a user name or password/],
      ['ftp://hooks.example.com/in', /body\.url/],
    ];
    for (const [url, reason] of cases) {
      const refused = await workspace.api.post('/v1/webhooks', { url, events: ['*'] });
      assert.equal(refused.statusCode, 400, `${url}: ${refused.body}`);
      assert.match(refused.json().error.message, reason, url);
    }
    const badEvents = await workspace.api.post('/v1/webhooks', {
      url: 'https://hooks.example.com/in',
      events: ['epic.published', 'nonsense'],
    });
    assert.equal(badEvents.statusCode, 400);
    assert.match(badEvents.json().error.message, /body\.events\.1/);
    assert.deepEqual((await workspace.api.get('/v1/webhooks')).json().items, []);
  });
});
