// A TikTok video published by Glowtify at the time, end to end through the API on the real stack (Temporal,
// PostgreSQL, the worker, the TikTok simulator): posted once at the time, with the public post id moderation
// gave and its URL on the publication; a public video on an app TikTok has not audited refused with a 400
// when the epic is scheduled or moved, the creator's levels shown on the connector and read again at each
// token refresh; a burst of one account's videos spread over TikTok's per-token limit instead of refused;
// TikTok throttling the post at the time tried three times (the limit), then the epic in error.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createConnectorTokenActivities } from '../activities/connector-token.ts';
import { createAdapters } from '../connectors/registry.ts';
import type { TaskContent } from '../domain/content.ts';
import type { TikTokSimulator } from '../sandbox/tiktok.ts';
import { createWorkspace, type TestWorkspace } from './support/api.ts';
import { type ConnectorBody, connectOAuth } from './support/platforms.ts';
import {
  isoInSeconds,
  readEpic,
  replayAndRecord,
  useStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

// The attempt waits 8 s for moderation; what comes later is followed up 2 s, then 6 s… after publication.
const stack = useStack({
  platforms: {},
  config: { TIKTOK_MODERATION_WAIT_MS: '8000', PUBLICATION_FOLLOW_UP_FIRST_MS: '2000' },
});
const tiktok = (): TikTokSimulator => stack.platforms!.tiktok;

type TikTokAccount = ConnectorBody['accounts'][number] & { privacyLevelOptions?: string[] };
interface VideoPublication {
  status: string;
  attempts: number;
  externalId: string | null;
  externalUrl: string | null;
  lastError: { class: string; message: string; platformCode?: string } | null;
  publishedAt: string | null;
}

const video = (title: string, privacyLevel: TaskContent<'tiktok_video'>['privacyLevel']) => ({
  title,
  videoUrl: `https://cdn.acme.example/${encodeURIComponent(title)}.mp4`,
  privacyLevel,
});

/** A workspace with TikTok connected and a reviewed epic with one tiktok_video task. */
async function reviewedVideo(name: string, privacyLevel: TaskContent<'tiktok_video'>['privacyLevel']) {
  const workspace = await createWorkspace(stack.harness, name);
  const connector = await connectOAuth(stack.harness.app, workspace, 'tiktok');
  const account = connector.accounts[0] as TikTokAccount;
  const epic = (await workspace.api.post('/v1/epics', { title: name })).json() as { id: string };
  const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
    channel: 'tiktok_video',
    connectorId: connector.id,
    accountId: account.id,
    content: video(name, privacyLevel),
  });
  assert.equal(task.statusCode, 201, task.body);
  await workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.json().id}/approve`);
  assert.equal((await workspace.api.post(`/v1/epics/${epic.id}/review`)).statusCode, 200);
  return { workspace, connector, account, epicId: epic.id, taskId: task.json().id as string };
}

const publicationOf = async (workspace: TestWorkspace, epicId: string) =>
  (await readEpic(workspace, epicId)).tasks[0]?.publication as unknown as VideoPublication;
const postsTitled = (title: string) =>
  tiktok()
    .posts()
    .filter((post) => post.title === title);

describe('a TikTok video published by Glowtify at the time', () => {
  it('is posted once at the time; the public id moderation gave and its URL are on the publication', async () => {
    // Moderation outlasts the first status read after PUBLISH_COMPLETE: the id is recorded when it comes.
    tiktok().setPublishing({ downloadMs: 500, processingMs: 0, moderationMs: 4_000 });
    const { workspace, epicId } = await reviewedVideo('Roastery tour', 'PUBLIC_TO_EVERYONE');
    const scheduledAt = isoInSeconds(3);
    const scheduled = await workspace.api.post(`/v1/epics/${epicId}/schedule`, { scheduledAt });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    assert.equal(postsTitled('Roastery tour').length, 0, 'nothing is posted before the time');

    await waitForStatus(workspace, epicId, 'published');
    const publication = await publicationOf(workspace, epicId);
    const [post, ...others] = postsTitled('Roastery tour');
    assert.equal(others.length, 0, 'one video');
    assert.ok(post && post.createdAt.getTime() >= Date.parse(scheduledAt), 'not before the time');
    assert.equal(post.privacyLevel, 'PUBLIC_TO_EVERYONE');
    assert.ok(post.postId, 'moderation gave the public id');
    assert.equal(publication.status, 'published');
    assert.equal(publication.attempts, 1);
    assert.equal(publication.externalId, post.postId);
    assert.equal(publication.externalUrl, `https://www.tiktok.com/@glowcafe/video/${post.postId}`);
    assert.equal(tiktok().receivedMatching('/v2/post/publish/video/init/').length, 1);
  });

  it('moderation slower than the attempt: published with the publish_id, then the public id and URL recorded when they come', async () => {
    tiktok().setPublishing({ downloadMs: 200, processingMs: 0, moderationMs: 12_000 });
    const { workspace, epicId, taskId } = await reviewedVideo('Harvest notes', 'PUBLIC_TO_EVERYONE');
    const scheduled = await workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: isoInSeconds(2),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);

    await waitForStatus(workspace, epicId, 'published');
    const [post, ...others] = postsTitled('Harvest notes');
    assert.equal(others.length, 0, 'one video');
    const interim = await publicationOf(workspace, epicId);
    assert.equal(post?.postId, null, 'moderation has not named it yet');
    assert.equal(interim.status, 'published');
    assert.equal(interim.externalId, post?.publishId, 'published under its publish_id meanwhile');
    assert.equal(interim.externalUrl, null);

    const named = await waitFor(
      () => publicationOf(workspace, epicId),
      (publication) => publication.externalUrl !== null,
      250,
    );
    const moderated = postsTitled('Harvest notes')[0];
    assert.ok(moderated?.postId);
    assert.equal(named.externalId, moderated.postId);
    assert.equal(named.externalUrl, `https://www.tiktok.com/@glowcafe/video/${moderated.postId}`);
    assert.equal(named.status, 'published');
    assert.equal(postsTitled('Harvest notes').length, 1, 'posted once');

    const followUp = stack.client.workflow.getHandle(`publication-follow-up-${taskId}`);
    assert.equal(await followUp.result(), 'final');
    const { failures } = await replayAndRecord(stack, {
      'epic-follow-up-01': `epic-${epicId}`,
      'publication-follow-up-01': `publication-follow-up-${taskId}`,
    });
    assert.deepEqual(failures, []);
  });

  it('a public video on an app TikTok has not audited is refused (400) when the epic is scheduled or moved, not at the time', async () => {
    tiktok().setAudited(false);
    try {
      const { workspace, connector, account, epicId, taskId } = await reviewedVideo(
        'Unaudited launch',
        'PUBLIC_TO_EVERYONE',
      );
      assert.deepEqual(account.privacyLevelOptions, ['SELF_ONLY'], 'the connector shows what TikTok offers');

      const refused = await workspace.api.post(`/v1/epics/${epicId}/schedule`, {
        scheduledAt: isoInSeconds(60),
      });
      assert.equal(refused.statusCode, 400, refused.body);
      const error = refused.json().error as { code: string; message: string; details: { issues: unknown[] } };
      assert.equal(error.code, 'INVALID_INPUT');
      assert.match(error.message, new RegExp(`task ${taskId} \\(tiktok_video\\)`));
      assert.match(
        error.message,
        /offers the privacy levels SELF_ONLY .*not audited.*not PUBLIC_TO_EVERYONE/,
      );
      assert.equal((await readEpic(workspace, epicId)).status, 'review', 'nothing was scheduled');

      // TikTok audits the app: the token's refresh reads the creator's levels again, and the epic schedules.
      tiktok().setAudited(true);
      const activities = createConnectorTokenActivities({
        db: stack.harness.database.db,
        credentialsKeys: stack.harness.config.CREDENTIALS_KEY,
        adapters: createAdapters(stack.harness.config),
      });
      const refreshToken = async () => {
        await new MockActivityEnvironment().run(activities.refreshConnectorToken, {
          connectorId: connector.id,
        });
        const view = (await workspace.api.get(`/v1/connectors/${connector.id}`)).json() as ConnectorBody;
        return (view.accounts[0] as TikTokAccount).privacyLevelOptions;
      };
      assert.deepEqual(await refreshToken(), ['PUBLIC_TO_EVERYONE', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY']);
      const scheduledAt = isoInSeconds(60);
      const accepted = await workspace.api.post(`/v1/epics/${epicId}/schedule`, { scheduledAt });
      assert.equal(accepted.statusCode, 200, accepted.body);

      // TikTok restricts the app again (it says so at the next refresh): moving the epic is refused alike.
      tiktok().setAudited(false);
      assert.deepEqual(await refreshToken(), ['SELF_ONLY']);
      const moved = await workspace.api.post(`/v1/epics/${epicId}/reschedule`, {
        scheduledAt: isoInSeconds(120),
      });
      assert.equal(moved.statusCode, 400, moved.body);
      assert.match(moved.json().error.message, /offers the privacy levels SELF_ONLY/);
      const still = await readEpic(workspace, epicId);
      assert.equal(still.status, 'scheduled');
      assert.equal(Date.parse(still.scheduledAt ?? ''), Date.parse(scheduledAt), 'still at its time');
      assert.equal((await workspace.api.post(`/v1/epics/${epicId}/unschedule`)).statusCode, 200);
      assert.equal(postsTitled('Unaudited launch').length, 0);
    } finally {
      tiktok().setAudited(true);
    }
  });

  it('eight videos of one account due at one instant are spread over TikTok’s 6 video/init a minute: each posted once, on its first attempt, none refused', {
    timeout: 240_000,
  }, async () => {
    const refusedBefore = tiktok().rateLimitRefusals().length;
    const initsBefore = tiktok().videoInitTimes().length;
    const workspace = await createWorkspace(stack.harness, 'Burst');
    const connector = await connectOAuth(stack.harness.app, workspace, 'tiktok');
    const titles = Array.from({ length: 8 }, (_, index) => `Burst video ${index + 1}`);
    const epicIds: string[] = [];
    for (const title of titles) {
      const epic = (await workspace.api.post('/v1/epics', { title })).json() as { id: string };
      const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
        channel: 'tiktok_video',
        connectorId: connector.id,
        accountId: connector.accounts[0]!.id,
        content: video(title, 'SELF_ONLY'),
      });
      assert.equal(task.statusCode, 201, task.body);
      await workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.json().id}/approve`);
      assert.equal((await workspace.api.post(`/v1/epics/${epic.id}/review`)).statusCode, 200);
      epicIds.push(epic.id);
    }
    const scheduledAt = isoInSeconds(8);
    for (const epicId of epicIds) {
      const scheduled = await workspace.api.post(`/v1/epics/${epicId}/schedule`, { scheduledAt });
      assert.equal(scheduled.statusCode, 200, scheduled.body);
    }
    for (const epicId of epicIds) {
      const settled = await waitFor(
        () => readEpic(workspace, epicId),
        (epic) => ['published', 'error'].includes(epic.status),
        250,
      );
      assert.equal(settled.status, 'published', JSON.stringify(settled.tasks[0]?.publication));
    }

    for (const title of titles) assert.equal(postsTitled(title).length, 1, `${title} posted once`);
    for (const epicId of epicIds) assert.equal((await publicationOf(workspace, epicId)).attempts, 1);
    assert.deepEqual(tiktok().rateLimitRefusals().slice(refusedBefore), [], 'TikTok refused no request');
    const inits = tiktok()
      .videoInitTimes()
      .slice(initsBefore)
      .map((at) => at.getTime());
    assert.equal(inits.length, 8, 'one video/init per video');
    assert.ok(
      inits[6]! - inits[0]! >= 60_000,
      `the 7th video/init ${inits[6]! - inits[0]!} ms after the 1st`,
    );
    assert.ok(inits[5]! - inits[0]! < 10_000, 'the first six at the time');
  });

  it('a disconnect while the video waits for its turn at video/init: the turn comes, nothing is posted, the epic is in error', async () => {
    const { workspace, connector, epicId } = await reviewedVideo('Waiting its turn', 'SELF_ONLY');
    // Six inits 45 s ago fill this token's minute: the next turn is about 16 s away.
    const filledAt = Date.now() - 45_000;
    await stack.harness.database.sql`
      insert into call_turns (key, given)
      values (${`tiktok:videoInit:${connector.id}`}, ${Array.from({ length: 6 }, () => filledAt)}::float8[])`;
    const inits = tiktok().receivedMatching('/v2/post/publish/video/init/').length;
    const scheduled = await workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: isoInSeconds(2),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    // The attempt runs, and soon waits for its turn (about 16 s away).
    await waitFor(
      () => publicationOf(workspace, epicId),
      (publication) => (publication?.attempts ?? 0) >= 1,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const disconnected = await workspace.api.delete(`/v1/connectors/${connector.id}`);
    assert.equal(disconnected.statusCode, 200, disconnected.body);

    await waitForStatus(workspace, epicId, 'error');
    const publication = await publicationOf(workspace, epicId);
    assert.equal(publication.lastError?.class, 'TOKEN_EXPIRED');
    // Refused by the check after the turn, not by a new attempt that found no credentials.
    assert.match(publication.lastError?.message ?? '', /disconnected/);
    assert.equal(publication.attempts, 1);
    assert.equal(tiktok().receivedMatching('/v2/post/publish/video/init/').length, inits, 'no video/init');
    assert.equal(postsTitled('Waiting its turn').length, 0);
  });

  it('TikTok throttling the post at the time: three attempts (the limit), then the epic is in error and no video', async () => {
    tiktok().failWith('rate_limited', { path: '/v2/post/publish/video/init/', times: 10 });
    try {
      const { workspace, epicId } = await reviewedVideo('Throttled', 'SELF_ONLY');
      const inits = tiktok().receivedMatching('/v2/post/publish/video/init/').length;
      const scheduled = await workspace.api.post(`/v1/epics/${epicId}/schedule`, {
        scheduledAt: isoInSeconds(2),
      });
      assert.equal(scheduled.statusCode, 200, scheduled.body);
      await waitForStatus(workspace, epicId, 'error');
      const publication = await publicationOf(workspace, epicId);
      assert.equal(publication.status, 'failed');
      assert.equal(publication.attempts, 3);
      assert.equal(publication.lastError?.class, 'RATE_LIMITED');
      assert.equal(tiktok().receivedMatching('/v2/post/publish/video/init/').length - inits, 3);
      assert.equal(postsTitled('Throttled').length, 0);
    } finally {
      tiktok().clearFailures();
    }
  });
});
