// Disconnect, reconnect and Request Connector end to end (SPEC §6, §11): what a disconnect blocks and what it
// leaves to send, a reconnect that restores the same connector and retries what failed on its lost access,
// and the notifications the workspace reads about it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { and, eq } from 'drizzle-orm';
import { openCredentials, sealCredentials } from '../db/credentials-codec.ts';
import { auditEvents, connectors, notifications, publications } from '../db/schema.ts';
import { createWorkspace, type TestWorkspace } from './support/api.ts';
import { browserOf } from './support/platforms.ts';
import {
  connectedWorkspace,
  klaviyoKey,
  readEpic,
  reviewedEpic,
  useStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

const stack = useStack();

const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000);

interface NotificationBody {
  id: string;
  kind: string;
  title: string;
  message: string;
  data: Record<string, unknown>;
  readAt: string | null;
  createdAt: string;
}

/** Reconnect through the consent page of the simulator, returning what the callback answers. */
async function reconnectMeta(workspace: TestWorkspace, connectorId: string) {
  const started = await workspace.api.post(`/v1/connectors/${connectorId}/reconnect`, {});
  assert.equal(started.statusCode, 200, started.body);
  const authorizeUrl = new URL(started.json().authorizeUrl);
  assert.ok((authorizeUrl.searchParams.get('state') ?? '').length >= 32, 'an unguessable state');
  const consent = await fetch(authorizeUrl, { redirect: 'manual' });
  assert.equal(consent.status, 302);
  const location = new URL(consent.headers.get('location')!);
  const callback = await stack.harness.app.inject({
    method: 'GET',
    url: `${location.pathname}${location.search}`,
    cookies: browserOf(started),
  });
  assert.equal(callback.statusCode, 200, callback.body);
  return callback.json();
}

const enabledIds = (connector: { accounts: { id: string; enabled: boolean }[] }) =>
  connector.accounts
    .filter((account) => account.enabled)
    .map((account) => account.id)
    .sort();

describe('connector lifecycle', () => {
  it('disconnect forgets the credentials, flags the Instagram post at risk and leaves the Klaviyo send', async () => {
    const setup = await connectedWorkspace(stack, 'Disconnect');
    const { workspace } = setup;
    const { epicId, taskIds } = await reviewedEpic(setup, ['instagram_post', 'klaviyo_email'], 'Summer');
    const scheduled = await workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: inSeconds(3600).toISOString(),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    await waitFor(
      () => readEpic(workspace, epicId),
      (epic) =>
        epic.tasks.find((task) => task.id === taskIds.klaviyo_email)?.publication?.status === 'handed_off',
    );
    const before = (await workspace.api.get(`/v1/connectors/${setup.meta.id}`)).json();

    const response = await workspace.api.delete(`/v1/connectors/${setup.meta.id}`);
    assert.equal(response.statusCode, 200, response.body);
    const connector = response.json();
    assert.equal(connector.id, setup.meta.id);
    assert.equal(connector.status, 'not_connected');
    assert.equal(connector.tokenExpiresAt, null);
    assert.deepEqual(enabledIds(connector), enabledIds(before), 'account choices are kept');

    const [stored] = await stack.harness.database.db
      .select()
      .from(connectors)
      .where(eq(connectors.id, setup.meta.id));
    assert.equal(stored?.credentials, null, 'the credentials are gone from the db');
    assert.equal(stored?.credentialsKeyId, null);

    const epic = (await workspace.api.get(`/v1/epics/${epicId}`)).json();
    assert.equal(epic.status, 'scheduled');
    assert.equal(epic.atRisk, true, 'the epic is at risk');
    const instagram = epic.tasks.find((task: { id: string }) => task.id === taskIds.instagram_post);
    assert.equal(instagram.publication.atRisk, true, 'the Instagram post is at risk');
    assert.equal(instagram.publication.status, 'pending');
    const [row] = await stack.harness.database.db
      .select()
      .from(publications)
      .where(eq(publications.taskId, taskIds.instagram_post!));
    assert.equal(row?.atRiskReason, 'connector disconnected');
    const email = epic.tasks.find((task: { id: string }) => task.id === taskIds.klaviyo_email);
    assert.equal(email.publication.status, 'handed_off', 'the Klaviyo hand-off is untouched');
    assert.equal(email.publication.atRisk, false);
    const campaign = stack.klaviyo
      .campaigns()
      .find((candidate) => candidate.name.includes(epicId.slice(0, 8)));
    assert.equal(campaign?.sendJob, 'queued', 'the campaign already in Klaviyo will still send');

    const audited = await stack.harness.database.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.subjectId, setup.meta.id), eq(auditEvents.action, 'disconnect')));
    assert.equal(audited.length, 1);
    assert.equal(audited[0]?.toStatus, 'not_connected');

    const listed = await workspace.api.get('/v1/notifications');
    assert.equal(listed.statusCode, 200, listed.body);
    const raised = (listed.json().items as NotificationBody[]).filter(
      (item) => item.kind === 'connector_disconnected',
    );
    assert.equal(raised.length, 1, 'one notification');
    assert.equal(raised[0]!.data.atRiskPublications, 1);
    assert.match(raised[0]!.message, /1 scheduled publication/);
    assert.equal(raised[0]!.readAt, null);

    const read = await workspace.api.post(`/v1/notifications/${raised[0]!.id}/read`);
    assert.equal(read.statusCode, 200, read.body);
    assert.ok(read.json().readAt, 'marked read');
    const again = await workspace.api.post(`/v1/notifications/${raised[0]!.id}/read`);
    assert.equal(again.statusCode, 200);
    assert.equal(again.json().readAt, read.json().readAt, 'reading again keeps the first time');
    const unread = (await workspace.api.get('/v1/notifications?unread=true')).json();
    assert.ok(unread.items.every((item: NotificationBody) => item.id !== raised[0]!.id));

    const twice = await workspace.api.delete(`/v1/connectors/${setup.meta.id}`);
    assert.equal(twice.statusCode, 200, 'disconnecting again is harmless');
    const notified = (await workspace.api.get('/v1/notifications')).json().items as NotificationBody[];
    assert.equal(notified.filter((item) => item.kind === 'connector_disconnected').length, 1);

    const other = await createWorkspace(stack.harness, 'Other');
    assert.equal((await other.api.delete(`/v1/connectors/${setup.klaviyo.id}`)).statusCode, 404);
    assert.equal((await other.api.post(`/v1/connectors/${setup.meta.id}/reconnect`, {})).statusCode, 404);

    // Reconnecting lifts the flags and brings the accounts back with their choices.
    const reconnected = await reconnectMeta(workspace, setup.meta.id);
    // Meta without a Business or an Ad Account: two of its four sub-connections.
    assert.equal(reconnected.status, 'partially_connected');
    assert.deepEqual(enabledIds(reconnected), enabledIds(before));
    assert.ok(reconnected.accounts.every((account: { status: string }) => account.status === 'connected'));
    const recovered = (await workspace.api.get(`/v1/epics/${epicId}`)).json();
    assert.equal(recovered.atRisk, false, 'the epic is no longer at risk');
    assert.ok(
      recovered.tasks.every((task: { publication: { atRisk: boolean } }) => !task.publication.atRisk),
    );

    // API-key platforms take their connect body again.
    const missingKey = await workspace.api.post(`/v1/connectors/${setup.klaviyo.id}/reconnect`, {});
    assert.equal(missingKey.statusCode, 400);
    assert.match(missingKey.json().error.message, /body\.apiKey/);
    const klaviyo = await workspace.api.post(`/v1/connectors/${setup.klaviyo.id}/reconnect`, {
      apiKey: klaviyoKey,
    });
    assert.equal(klaviyo.statusCode, 200, klaviyo.body);
    assert.equal(klaviyo.json().id, setup.klaviyo.id);
    assert.equal(klaviyo.json().status, 'connected');
    assert.ok(!klaviyo.body.includes(klaviyoKey), 'no key in the response');

    const unscheduled = await workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(unscheduled.statusCode, 200, unscheduled.body);
  });

  it('reconnect after an expired token restores the same connector and retries the failed epic once', async () => {
    const setup = await connectedWorkspace(stack, 'Reconnect');
    const { workspace } = setup;
    const { epicId, taskIds } = await reviewedEpic(setup, ['instagram_post'], 'Expired token');
    const publishBefore = stack.meta.receivedMatching(/\/media_publish$/, 'POST').length;
    const scheduled = await workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: inSeconds(2).toISOString(),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    stack.meta.expireTokens();
    const failed = await waitForStatus(workspace, epicId, 'error');
    assert.equal(failed.tasks[0]!.publication?.lastError?.class, 'TOKEN_EXPIRED');
    const down = (await workspace.api.get(`/v1/connectors/${setup.meta.id}`)).json();
    assert.equal(down.status, 'reconnect_required');

    // Meta issues no refresh token; one stored by a platform that does must survive the reconnect.
    const keys = stack.harness.config.CREDENTIALS_KEY;
    const [stale] = await stack.harness.database.db
      .select()
      .from(connectors)
      .where(eq(connectors.id, setup.meta.id));
    const staleCredentials = openCredentials<Record<string, unknown>>(keys, setup.meta.id, {
      keyId: stale!.credentialsKeyId!,
      ciphertext: stale!.credentials!,
    });
    const withRefresh = sealCredentials(keys, setup.meta.id, {
      ...staleCredentials,
      refreshToken: 'rt-kept',
    });
    await stack.harness.database.db
      .update(connectors)
      .set({ credentials: withRefresh.ciphertext, credentialsKeyId: withRefresh.keyId })
      .where(eq(connectors.id, setup.meta.id));

    const connector = await reconnectMeta(workspace, setup.meta.id);
    assert.equal(connector.id, setup.meta.id, 'the same connector');
    assert.equal(connector.status, 'partially_connected', 'back to its two of four sub-connections');
    assert.deepEqual(enabledIds(connector), enabledIds(down), 'account selections are kept');

    const published = await waitForStatus(workspace, epicId, 'published');
    const publication = published.tasks.find((task) => task.id === taskIds.instagram_post)!.publication!;
    assert.equal(publication.status, 'published');
    assert.equal(stack.meta.posts().filter((post) => post.id === publication.externalId).length, 1);
    assert.equal(
      stack.meta.receivedMatching(/\/media_publish$/, 'POST').length - publishBefore,
      1,
      'exactly one post',
    );
    const [fresh] = await stack.harness.database.db
      .select()
      .from(connectors)
      .where(eq(connectors.id, setup.meta.id));
    const freshCredentials = openCredentials<Record<string, unknown>>(keys, setup.meta.id, {
      keyId: fresh!.credentialsKeyId!,
      ciphertext: fresh!.credentials!,
    });
    assert.notEqual(freshCredentials.userAccessToken, staleCredentials.userAccessToken, 'a new token');
    assert.equal(freshCredentials.refreshToken, 'rt-kept', 'the refresh token is kept');
    const retried = await stack.harness.database.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.subjectId, epicId), eq(auditEvents.action, 'retry')));
    assert.deepEqual(
      retried.map((event) => event.actor),
      ['reconnect'],
      'retried by the reconnect',
    );
  });

  it('a Klaviyo send handed off before a disconnect still goes out and is published, unconfirmed', async () => {
    const setup = await connectedWorkspace(stack, 'Disconnect after hand-off');
    const { epicId, taskIds } = await reviewedEpic(setup, ['klaviyo_email'], 'Still sends');
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: inSeconds(3).toISOString(),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    await waitFor(
      () => readEpic(setup.workspace, epicId),
      (epic) => epic.tasks[0]?.publication?.status === 'handed_off',
    );
    const disconnected = await setup.workspace.api.delete(`/v1/connectors/${setup.klaviyo.id}`);
    assert.equal(disconnected.statusCode, 200, disconnected.body);
    const published = await waitForStatus(setup.workspace, epicId, 'published');
    const publication = published.tasks.find((task) => task.id === taskIds.klaviyo_email)!
      .publication as unknown as {
      status: string;
      unconfirmed: boolean;
    };
    assert.equal(publication.status, 'published');
    assert.equal(publication.unconfirmed, true, 'we could not ask Klaviyo any more');
    const campaign = stack.klaviyo
      .campaigns()
      .find((candidate) => candidate.name.includes(epicId.slice(0, 8)))!;
    assert.notEqual(campaign.sendJob, 'cancelled', 'the send was left to Klaviyo');
  });

  it('counts connector requests per platform across workspaces, one workspace once', async () => {
    const first = await createWorkspace(stack.harness, 'Requests one');
    const second = await createWorkspace(stack.harness, 'Requests two');
    const one = await first.api.post('/v1/connector-requests', { platform: 'pinterest', note: 'boards' });
    assert.equal(one.statusCode, 201, one.body);
    assert.equal(one.json().platform, 'pinterest');
    assert.equal(one.json().requestCount, 1);
    const two = await second.api.post('/v1/connector-requests', { platform: 'pinterest' });
    assert.equal(two.statusCode, 201, two.body);
    assert.equal(two.json().requestCount, 2);
    assert.notEqual(two.json().id, one.json().id);
    const repeated = await first.api.post('/v1/connector-requests', { platform: ' Pinterest ' });
    assert.equal(repeated.statusCode, 201, repeated.body);
    assert.equal(repeated.json().platform, 'pinterest', 'the display name counts under its key');
    assert.equal(repeated.json().requestCount, 2, 'a workspace asking twice counts once');
    const free = await first.api.post('/v1/connector-requests', { platform: 'Bluesky' });
    assert.equal(free.json().platform, 'bluesky');
    assert.equal(free.json().requestCount, 1);

    for (const [body, field] of [
      [{ platform: '' }, 'body.platform'],
      [{ platform: 'x'.repeat(101) }, 'body.platform'],
      [{ platform: 'pinterest', note: 'n'.repeat(1001) }, 'body.note'],
      [{}, 'body.platform'],
      [{ platform: 'pinterest', priority: 1 }, 'body.priority'],
    ] as const) {
      const refused = await first.api.post('/v1/connector-requests', body);
      assert.equal(refused.statusCode, 400, refused.body);
      assert.equal(refused.json().error.code, 'INVALID_INPUT');
      assert.match(refused.json().error.message, new RegExp(field.replace('.', '\\.')));
    }
  });

  it('pages notifications newest first and hides another workspace’s', async () => {
    const owner = await createWorkspace(stack.harness, 'Notified');
    const stranger = await createWorkspace(stack.harness, 'Stranger');
    const base = Date.now() - 60_000;
    const inserted = await stack.harness.database.db
      .insert(notifications)
      .values(
        Array.from({ length: 5 }, (_, index) => ({
          workspaceId: owner.id,
          kind: 'test',
          title: `Note ${index}`,
          message: `message ${index}`,
          data: { index },
          createdAt: new Date(base + index * 1000),
        })),
      )
      .returning();

    const titles: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await owner.api.get(
        `/v1/notifications?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      assert.equal(page.statusCode, 200, page.body);
      const body = page.json() as { items: NotificationBody[]; nextCursor: string | null };
      assert.ok(body.items.length <= 2);
      titles.push(...body.items.map((item) => item.title));
      cursor = body.nextCursor;
      pages += 1;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(titles, ['Note 4', 'Note 3', 'Note 2', 'Note 1', 'Note 0'], 'newest first, each once');

    const target = inserted.find((row) => row.title === 'Note 3')!;
    const foreign = await stranger.api.post(`/v1/notifications/${target.id}/read`);
    assert.equal(foreign.statusCode, 404, foreign.body);
    assert.equal(foreign.json().error.code, 'NOT_FOUND');
    assert.equal((await stranger.api.get('/v1/notifications')).json().items.length, 0);
    assert.equal((await owner.api.post(`/v1/notifications/${target.id}/read`)).statusCode, 200);
    const unread = (await owner.api.get('/v1/notifications?unread=true')).json();
    assert.deepEqual(
      unread.items.map((item: NotificationBody) => item.title),
      ['Note 4', 'Note 2', 'Note 1', 'Note 0'],
    );
    const read = (await owner.api.get('/v1/notifications?unread=false')).json();
    assert.deepEqual(
      read.items.map((item: NotificationBody) => item.title),
      ['Note 3'],
    );

    for (const [url, field] of [
      ['/v1/notifications?limit=101', 'querystring.limit'],
      ['/v1/notifications?cursor=garbage', 'querystring.cursor'],
      ['/v1/notifications?unread=maybe', 'querystring.unread'],
      ['/v1/notifications/not-a-uuid/read', 'params.id'],
    ] as const) {
      const refused = url.endsWith('/read') ? await owner.api.post(url) : await owner.api.get(url);
      assert.equal(refused.statusCode, 400, refused.body);
      assert.match(refused.json().error.message, new RegExp(field.replace('.', '\\.')));
    }
  });
});
