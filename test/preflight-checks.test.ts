// The pre-flight check before an epic's time, played as its activity against a real database, the Meta
// simulator and a media host: each outcome (a media URL gone, not media, too big; a permission revoked; an
// account disabled; a platform that does not answer), one notification per new reason, the epic left
// scheduled, and a later check that passes lifting only what a check flagged.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { and, eq } from 'drizzle-orm';
import { createEpicActivities } from '../activities/epic.ts';
import { publishPolicyFrom } from '../activities/index.ts';
import { createPreflightActivities, type PreflightSummary } from '../activities/preflight.ts';
import { createMediaProbe } from '../connectors/media.ts';
import { type AdapterRegistry, createAdapters } from '../connectors/registry.ts';
import { connectors, epics, notifications, publications } from '../db/schema.ts';
import { startMediaSimulator } from '../sandbox/media.ts';
import { type MetaSimulator, startMetaSimulator } from '../sandbox/meta.ts';
import { type ApiHarness, createWorkspace, startApiHarness } from './support/api.ts';
import { connectMeta, storedCredentials } from './support/stack.ts';

const jpeg = { contentType: 'image/jpeg', bytes: 120_000 };
const pageId = '1001';
const instagramId = '17841400000000001';

let meta: MetaSimulator;
let media: Awaited<ReturnType<typeof startMediaSimulator>>;
let harness: ApiHarness;
before(async () => {
  meta = await startMetaSimulator({
    clientId: 'glowtify-test-app',
    clientSecret: 'glowtify-test-secret',
    pages: [
      { id: pageId, name: 'Acme Page', instagram: { id: instagramId, username: 'acme' } },
      { id: '1002', name: 'Acme Outlet', instagram: { id: '17841400000000002', username: 'outlet' } },
    ],
  });
  media = await startMediaSimulator();
  harness = await startApiHarness({
    config: {
      META_API_BASE_URL: meta.url,
      META_AUTH_BASE_URL: meta.url,
      META_CLIENT_ID: 'glowtify-test-app',
      META_CLIENT_SECRET: 'glowtify-test-secret',
    },
  });
});
after(async () => {
  await harness?.close();
  await meta?.close();
  await media?.close();
});

const run = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> =>
  new MockActivityEnvironment().run(fn, ...args) as Promise<R>;

function activitiesWith(adapters: AdapterRegistry = createAdapters(harness.config)) {
  const dependencies = {
    db: harness.database.db,
    credentialsKeys: harness.config.CREDENTIALS_KEY,
    adapters,
  };
  // Wired as the worker wires them (activities/index.ts): a refused preparation asks the pre-flight.
  const preflight = createPreflightActivities({
    ...dependencies,
    mediaProbe: createMediaProbe({ allowPrivateHosts: true, timeoutMs: 1_000 }),
  });
  return {
    ...createEpicActivities({
      ...dependencies,
      policy: publishPolicyFrom(harness.config),
      preflightEpic: preflight.preflightEpic,
    }),
    ...preflight,
  };
}

type Channel = 'facebook_post' | 'instagram_post' | 'instagram_story';

/**
 * A workspace with Meta connected and an epic with these tasks, written scheduled an hour ahead as the API
 * would, its publications created by the run's first activity.
 */
async function scheduledEpic(tasks: { channel: Channel; content: Record<string, unknown> }[]) {
  const workspace = await createWorkspace(harness, `Pre-flight ${randomUUID().slice(0, 6)}`);
  const connector = await connectMeta({ harness }, workspace);
  const epic = (await workspace.api.post('/v1/epics', { title: 'Spring launch' })).json() as { id: string };
  const taskIds: string[] = [];
  for (const task of tasks) {
    const kind = task.channel === 'facebook_post' ? 'facebook_page' : 'instagram_account';
    const accountId = connector.accounts.find(
      (account) => account.kind === kind && [pageId, instagramId].includes(account.externalId),
    )!.id;
    const created = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
      ...task,
      connectorId: connector.id,
      accountId,
    });
    assert.equal(created.statusCode, 201, created.body);
    taskIds.push(created.json().id);
  }
  const scheduledAt = new Date(Date.now() + 3_600_000);
  const scheduleToken = randomUUID();
  await harness.database.db
    .update(epics)
    .set({ status: 'scheduled', scheduledAt, scheduleToken })
    .where(eq(epics.id, epic.id));
  const activities = activitiesWith();
  await run(activities.loadEpicPlan, { epicId: epic.id, scheduleToken });
  const check = (occasion: 'scheduled' | 'ahead' = 'ahead', using = activities): Promise<PreflightSummary> =>
    run(using.preflightEpic, {
      epicId: epic.id,
      scheduledAt: scheduledAt.toISOString(),
      scheduleToken,
      occasion,
    });
  const fence = { epicId: epic.id, scheduledAt: scheduledAt.toISOString(), scheduleToken };
  const prepare = (taskId: string) => run(activities.prepareTask, { ...fence, taskId });
  const publish = (taskId: string) => run(activities.publishTask, { ...fence, taskId });
  return { workspace, connector, epicId: epic.id, taskIds, scheduledAt, check, prepare, publish };
}

async function publicationOf(taskId: string) {
  const [row] = await harness.database.db.select().from(publications).where(eq(publications.taskId, taskId));
  return row!;
}

async function epicRow(epicId: string) {
  const [row] = await harness.database.db.select().from(epics).where(eq(epics.id, epicId));
  return row!;
}

const atRiskNotices = (workspaceId: string) =>
  harness.database.db
    .select()
    .from(notifications)
    .where(and(eq(notifications.workspaceId, workspaceId), eq(notifications.kind, 'publications_at_risk')));

describe('the pre-flight check before the time', () => {
  it('flags a media URL that answers 404 once, keeps the epic scheduled, and lifts the flag once it is back', async () => {
    const good = media.put(`/${randomUUID()}/1.jpg`, jpeg);
    const goneUrl = media.urlOf(`/${randomUUID()}/2.jpg`);
    const { workspace, epicId, taskIds, check } = await scheduledEpic([
      { channel: 'instagram_post', content: { caption: 'Spring!', mediaUrls: [good, goneUrl] } },
    ]);

    const first = await check('scheduled');
    assert.deepEqual(first.atRisk, taskIds);
    const flagged = await publicationOf(taskIds[0]!);
    assert.equal(flagged.atRisk, true);
    assert.equal(flagged.atRiskReason, `Pre-flight: the media URL ${goneUrl} answers 404`);
    assert.equal(flagged.status, 'pending', 'nothing was published');
    const epic = await epicRow(epicId);
    assert.equal(epic.atRisk, true);
    assert.equal(epic.status, 'scheduled', 'the epic stays scheduled');
    const notices = await atRiskNotices(workspace.id);
    assert.equal(notices.length, 1);
    assert.match(notices[0]!.message, /instagram_post: the media URL .* answers 404/);
    assert.deepEqual(notices[0]!.data.epicIds, [epicId]);
    const heads = media.receivedMatching(new URL(goneUrl).pathname, 'HEAD');
    assert.equal(heads.length, 1, 'one HEAD, nothing downloaded');

    const again = await check('ahead');
    assert.deepEqual(again.atRisk, taskIds);
    assert.equal((await atRiskNotices(workspace.id)).length, 1, 'the same reason is not told twice');

    media.put(new URL(goneUrl).pathname, jpeg);
    const fixed = await check('ahead');
    assert.deepEqual(fixed.cleared, taskIds);
    const cleared = await publicationOf(taskIds[0]!);
    assert.equal(cleared.atRisk, false);
    assert.equal(cleared.atRiskReason, null);
    assert.equal((await epicRow(epicId)).atRisk, false);
    assert.equal(meta.posts().length, 0, 'a check never publishes');
  });

  it('flags media that is not what the channel takes: a page for a photo, an image over Instagram’s 8 MiB', async () => {
    const html = media.put(`/${randomUUID()}/landing.jpg`, { contentType: 'text/html', bytes: 2_000 });
    const video = media.put(`/${randomUUID()}/clip.mp4`, { contentType: 'video/mp4', bytes: 9_000_000 });
    const huge = media.put(`/${randomUUID()}/huge.jpg`, { contentType: 'image/jpeg', bytes: 9 * 1_048_576 });
    const { taskIds, check } = await scheduledEpic([
      { channel: 'facebook_post', content: { text: 'New', mediaUrls: [html] } },
      { channel: 'facebook_post', content: { text: 'Clip', mediaUrls: [video] } },
      { channel: 'instagram_story', content: { mediaUrl: huge } },
      { channel: 'instagram_story', content: { mediaUrl: video } },
    ]);
    const summary = await check();
    assert.deepEqual(summary.atRisk, taskIds.slice(0, 3), 'a video story is fine');
    assert.match((await publicationOf(taskIds[0]!)).atRiskReason!, /holds text\/html, not an image$/);
    assert.match((await publicationOf(taskIds[1]!)).atRiskReason!, /holds video\/mp4, not an image$/);
    assert.match(
      (await publicationOf(taskIds[2]!)).atRiskReason!,
      /the image at .*huge\.jpg is 9\.0 MiB; the platform takes at most 8\.0 MiB/,
    );
    assert.equal((await publicationOf(taskIds[3]!)).atRisk, false);
  });

  it('asks with a one-byte ranged GET where HEAD is refused', async () => {
    const path = `/${randomUUID()}/get-only.jpg`;
    const url = media.put(path, jpeg);
    const { taskIds, check } = await scheduledEpic([
      { channel: 'instagram_story', content: { mediaUrl: url } },
    ]);
    media.refuseHead = true;
    try {
      const summary = await check();
      assert.deepEqual(summary.atRisk, []);
      assert.deepEqual(summary.unknown, []);
      const [get] = media.receivedMatching(path, 'GET');
      assert.equal(get?.headers.range, 'bytes=0-0');
      media.remove(path);
      await check();
      assert.match((await publicationOf(taskIds[0]!)).atRiskReason!, /answers 404$/);
    } finally {
      media.refuseHead = false;
    }
  });

  it('flags nothing when the media host or Meta do not answer (503), and leaves an earlier flag as it was', async () => {
    const path = `/${randomUUID()}/flaky.jpg`;
    const url = media.urlOf(path);
    const { workspace, taskIds, check } = await scheduledEpic([
      { channel: 'facebook_post', content: { text: 'Flaky', mediaUrls: [url] } },
    ]);
    media.failNext({ path, method: 'HEAD', response: { status: 503 } });
    meta.failWith('transient', { path: '/me/permissions', method: 'GET' });
    const unknown = await check('scheduled');
    assert.deepEqual(unknown.atRisk, []);
    assert.deepEqual(unknown.unknown, taskIds);
    assert.equal((await publicationOf(taskIds[0]!)).atRisk, false);
    assert.equal((await atRiskNotices(workspace.id)).length, 0);

    await check();
    assert.equal((await publicationOf(taskIds[0]!)).atRisk, true, 'the 404 behind the 503 is found');
    media.failNext({ path, method: 'HEAD', response: { status: 503 } });
    const still = await check();
    assert.deepEqual(still.cleared, [], 'a check that could not tell lifts nothing');
    assert.equal((await publicationOf(taskIds[0]!)).atRisk, true);
  });

  it('flags a Meta permission revoked since the connection, with Meta’s own answer on the permissions', async () => {
    const { workspace, connector, taskIds, check } = await scheduledEpic([
      { channel: 'facebook_post', content: { text: 'Hello' } },
      { channel: 'instagram_story', content: { mediaUrl: media.put(`/${randomUUID()}/s.jpg`, jpeg) } },
    ]);
    assert.deepEqual((await check('scheduled')).atRisk, []);
    const { userAccessToken } = await storedCredentials({ harness }, connector.id);
    meta.revokePermission('pages_manage_posts', { userToken: userAccessToken! });
    const summary = await check();
    assert.deepEqual(summary.atRisk, [taskIds[0]]);
    assert.equal(
      (await publicationOf(taskIds[0]!)).atRiskReason,
      'Pre-flight: Meta no longer grants pages_manage_posts: reconnect Meta and allow it',
    );
    assert.equal((await publicationOf(taskIds[1]!)).atRisk, false, 'Instagram needs other permissions');
    const [connectorRow] = await harness.database.db
      .select()
      .from(connectors)
      .where(eq(connectors.id, connector.id));
    assert.equal(connectorRow?.status, 'connected', 'a check flags; it does not flip the connector');
    assert.equal((await atRiskNotices(workspace.id)).length, 1);
  });

  it('flags a Facebook Page or an Instagram account Meta no longer serves', async () => {
    const { taskIds, check } = await scheduledEpic([
      { channel: 'facebook_post', content: { text: 'Hello' } },
      { channel: 'instagram_story', content: { mediaUrl: media.put(`/${randomUUID()}/s.jpg`, jpeg) } },
    ]);
    meta.deactivateAccount(pageId);
    meta.deactivateAccount(instagramId);
    try {
      const summary = await check();
      assert.deepEqual(summary.atRisk, taskIds);
      assert.match(
        (await publicationOf(taskIds[0]!)).atRiskReason!,
        /^Pre-flight: The Facebook Page Acme Page cannot be published to: Unsupported get request/,
      );
      assert.match(
        (await publicationOf(taskIds[1]!)).atRiskReason!,
        /^Pre-flight: The Instagram account cannot be published to: The Instagram account is inactive/,
      );
    } finally {
      meta.reactivateAccount(pageId);
      meta.reactivateAccount(instagramId);
    }
  });

  it('keeps an at-risk reason a check did not put, and still flags a token that expires before the time', async () => {
    const { workspace, connector, epicId, taskIds, scheduledAt, check } = await scheduledEpic([
      { channel: 'facebook_post', content: { text: 'Hello' } },
    ]);
    // A Meta app whose token nothing renews, expiring half-way to the time.
    const adapters = createAdapters(harness.config);
    const noRenewal: AdapterRegistry = {
      ...adapters,
      meta: { ...adapters.meta, refreshCredentials: undefined },
    };
    const expiresAt = new Date((Date.now() + scheduledAt.getTime()) / 2);
    await harness.database.db
      .update(connectors)
      .set({ tokenExpiresAt: expiresAt })
      .where(eq(connectors.id, connector.id));
    const summary = await check('ahead', activitiesWith(noRenewal));
    assert.deepEqual(summary.atRisk, [], 'Meta itself finds nothing wrong');
    const flagged = await publicationOf(taskIds[0]!);
    assert.equal(flagged.atRisk, true);
    assert.equal(
      flagged.atRiskReason,
      `the meta token expires at ${expiresAt.toISOString()} and cannot be renewed`,
    );
    assert.equal((await epicRow(epicId)).atRisk, true);
    const notices = await atRiskNotices(workspace.id);
    assert.equal(notices.length, 1);
    assert.match(notices[0]!.title, /^Reconnect meta before/);

    // A media problem found now does not replace the reason the user must act on first.
    await harness.database.db
      .update(connectors)
      .set({ tokenExpiresAt: null })
      .where(eq(connectors.id, connector.id));
    meta.deactivateAccount(pageId);
    try {
      assert.deepEqual((await check()).atRisk, taskIds);
    } finally {
      meta.reactivateAccount(pageId);
    }
    assert.match((await publicationOf(taskIds[0]!)).atRiskReason!, /^the meta token expires/);
    assert.equal((await atRiskNotices(workspace.id)).length, 1);
  });

  it('acts on nothing for a time the epic no longer has', async () => {
    const url = media.urlOf(`/${randomUUID()}/gone.jpg`);
    const { workspace, epicId, taskIds, check } = await scheduledEpic([
      { channel: 'instagram_story', content: { mediaUrl: url } },
    ]);
    await harness.database.db
      .update(epics)
      .set({ scheduledAt: new Date(Date.now() + 7_200_000) })
      .where(eq(epics.id, epicId));
    const summary = await check();
    assert.equal(summary.skipped, 'the epic is no longer scheduled for this time');
    assert.equal((await publicationOf(taskIds[0]!)).atRisk, false);
    assert.equal((await atRiskNotices(workspace.id)).length, 0);
    assert.equal(media.receivedMatching(new URL(url).pathname).length, 0);
  });
});

describe('an Instagram container prepared ahead', () => {
  it('a refusal the pre-flight explains (the account disabled) is told once, in the pre-flight’s words', async () => {
    const { workspace, taskIds, check, prepare } = await scheduledEpic([
      { channel: 'instagram_story', content: { mediaUrl: media.put(`/${randomUUID()}/s.jpg`, jpeg) } },
    ]);
    meta.deactivateAccount(instagramId);
    try {
      // Both checks run at the same moments (when scheduled, and an hour ahead): in either order, one notice.
      await assert.rejects(prepare(taskIds[0]!));
      await check('scheduled');
      const flagged = await publicationOf(taskIds[0]!);
      assert.match(flagged.atRiskReason!, /^Pre-flight: The Instagram account cannot be published to/);
      assert.equal((await atRiskNotices(workspace.id)).length, 1);
      await assert.rejects(prepare(taskIds[0]!));
      assert.equal((await atRiskNotices(workspace.id)).length, 1, 'one cause, told once');
    } finally {
      meta.reactivateAccount(instagramId);
    }
  });

  it('media Meta cannot process is flagged by the preparation an hour ahead, and a stale pre-flight flag does not hide it', async () => {
    const goneUrl = media.urlOf(`/${randomUUID()}/broken.jpg`);
    const { workspace, taskIds, check, prepare } = await scheduledEpic([
      { channel: 'instagram_story', content: { mediaUrl: goneUrl } },
    ]);
    await check('scheduled');
    assert.match(
      (await publicationOf(taskIds[0]!)).atRiskReason!,
      /^Pre-flight: the media URL .* answers 404/,
    );
    // The user puts the file back, but it is not one Meta can process.
    media.put(new URL(goneUrl).pathname, jpeg);
    meta.rejectMediaMatching = /broken/;
    try {
      await assert.rejects(prepare(taskIds[0]!), /could not process the media/);
      await check('ahead');
      const flagged = await publicationOf(taskIds[0]!);
      assert.equal(flagged.atRisk, true);
      assert.match(flagged.atRiskReason!, /^Preparation: .*Instagram could not process the media/);
      const notices = await atRiskNotices(workspace.id);
      assert.equal(notices.length, 2, 'the new cause is told');
      assert.match(notices[1]!.message, /could not process the media/);
    } finally {
      meta.rejectMediaMatching = null;
    }
  });

  it('a preparation a publish try overtook saves nothing: the try’s container is the one published, once', async () => {
    const { taskIds, prepare, publish } = await scheduledEpic([
      { channel: 'instagram_story', content: { mediaUrl: media.put(`/${randomUUID()}/s.jpg`, jpeg) } },
    ]);
    const postsBefore = meta.posts().length;
    // The preparation's create reaches Meta, which makes the container; its answer is slow to come back (a
    // worker cut off from Temporal, whose attempt Temporal gave up on).
    const held = meta.holdNext({ path: new RegExp(`/${instagramId}/media$`), method: 'POST', acted: true });
    const preparation = prepare(taskIds[0]!);
    await held.reached;
    // Meanwhile the time came: a publish try makes its own container and publishes it.
    assert.deepEqual(await publish(taskIds[0]!), { status: 'published' });
    const published = await publicationOf(taskIds[0]!);

    held.release();
    await assert.rejects(preparation, /publishing has started/);
    const after = await publicationOf(taskIds[0]!);
    assert.equal(after.progress.containerId, published.progress.containerId, 'the try’s container stays');
    assert.equal(after.status, 'published');
    assert.equal(meta.posts().length, postsBefore + 1, 'published once');
  });
});

describe('the media look', () => {
  it('refuses a private address unless allowed, and cannot tell about a host that does not resolve or answer', async () => {
    const url = media.put(`/${randomUUID()}/p.jpg`, jpeg);
    const strict = createMediaProbe();
    assert.deepEqual(await strict(url, { kind: 'image' }), {
      state: 'unusable',
      reason: `the media URL ${url} points at a private or loopback address`,
    });
    const unknownHost = await strict('https://cdn.nowhere.invalid/p.jpg', { kind: 'image' });
    assert.equal(unknownHost.state, 'unknown');

    const path = `/${randomUUID()}/slow.jpg`;
    const slow = media.put(path, jpeg);
    const held = media.holdNext({ path, method: 'HEAD' });
    const impatient = createMediaProbe({ allowPrivateHosts: true, timeoutMs: 200 });
    const answer = await impatient(`${slow}?signature=s3cr3t`, { kind: 'image' });
    held.release();
    assert.equal(answer.state, 'unknown');
    assert.match((answer as { reason: string }).reason, /no answer within 200 ms/);
    assert.doesNotMatch((answer as { reason: string }).reason, /s3cr3t/, 'a signed URL’s query is not shown');
  });
});
