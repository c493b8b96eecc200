// TikTok Direct Post through the adapter against the TikTok simulator over real HTTP: creator_info before one
// video/init pulling from the URL, status polling to PUBLISH_COMPLETE and the public id after moderation;
// what the creator offers and turns off; every error class from TikTok's own bodies (the direct-post refusals
// never ask for a reconnect); a crash after video/init resumes the same publish_id (one video), and a
// video/init whose answer was lost is never sent again.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createTikTokAdapter,
  type TikTokAdapterOptions,
  type TikTokCredentials,
} from '../connectors/tiktok.ts';
import type { PublicationContext, PublicationProgress } from '../connectors/types.ts';
import type { TaskContent } from '../domain/content.ts';
import { PlatformError, type PublicationErrorClass } from '../domain/publication-errors.ts';
import {
  startTikTokSimulator,
  type TikTokFailureKind,
  type TikTokSimulator,
  tiktokDirectPostRefusals,
} from '../sandbox/tiktok.ts';
import { expectFailureHiding, followConsent, harnessPerTest } from './support/adapter-harness.ts';

const clientKey = 'glowtifytestkey';
const clientSecret = 'glowtify-test-tiktok-secret-7e2a';
const expectFailure = expectFailureHiding([clientSecret]);
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/tiktok/callback';
const openId = '-000PublishOpenId0123456789abcd';
const paths = {
  creatorInfo: '/v2/post/publish/creator_info/query/',
  init: '/v2/post/publish/video/init/',
  status: '/v2/post/publish/status/fetch/',
};
// Quick stages and polls; the simulator holds each token to TikTok's per-minute limits all the same.
const fastPolls: Partial<TikTokAdapterOptions> = {
  statusPoll: { intervalMs: 30, maxWaitMs: 2_000 },
  moderationWaitMs: 1_500,
};

interface Harness {
  sim: TikTokSimulator;
  credentials: TikTokCredentials;
  adapter(options?: Partial<TikTokAdapterOptions>): ReturnType<typeof createTikTokAdapter>;
}

async function startHarness(): Promise<Harness> {
  const sim = await startTikTokSimulator({
    clientKey,
    clientSecret,
    redirectUris: [redirectUri],
    user: { openId, unionId: 'u-1', displayName: 'Glow Café', avatarUrl: 'https://p16.example.test/a.jpeg' },
    publishing: { downloadMs: 100, processingMs: 50, moderationMs: 200 },
  });
  const adapter = (options: Partial<TikTokAdapterOptions> = {}) =>
    createTikTokAdapter({
      apiBaseUrl: sim.url,
      authBaseUrl: sim.url,
      clientId: clientKey,
      clientSecret,
      ...fastPolls,
      ...options,
    });
  const { query } = await followConsent(adapter().connector.authorizeUrl({ state: 's', redirectUri }));
  const { credentials } = await adapter().connector.completeConsent({
    code: query.code ?? '',
    redirectUri,
    query,
  });
  return { sim, credentials, adapter };
}

const video = (changes: Partial<TaskContent<'tiktok_video'>> = {}): TaskContent<'tiktok_video'> => ({
  title: 'Behind the scenes at the roastery',
  videoUrl: 'https://cdn.acme.example/roastery.mp4',
  privacyLevel: 'PUBLIC_TO_EVERYONE',
  ...changes,
});

class WorkerKilled extends Error {
  override name = 'WorkerKilled';
}

/**
 * One attempt's context as the activity gives it: saves land in `stored` (which a retry starts from), each
 * with the number of requests TikTok had received by then. `killAt` names a progress key whose save kills the
 * worker, after the save (`persisted`) or before it.
 */
function attempt(
  harness: Harness,
  input: {
    content?: TaskContent<'tiktok_video'>;
    progress?: PublicationProgress;
    contentDigest?: string;
    killAt?: { key: string; persisted: boolean };
  } = {},
) {
  const stored: PublicationProgress = { ...(input.progress ?? {}) };
  const saves: { update: PublicationProgress; requestsBefore: number }[] = [];
  const goingLive: number[] = [];
  let heartbeats = 0;
  const context: PublicationContext<TikTokCredentials> = {
    taskId: 'task-tt-1',
    channel: 'tiktok_video',
    content: input.content ?? video(),
    contentDigest: input.contentDigest ?? 'digest-1',
    account: { kind: 'tiktok_account', externalId: openId },
    credentials: harness.credentials,
    progress: { ...stored },
    async saveProgress(update) {
      saves.push({ update: { ...update }, requestsBefore: harness.sim.received.length });
      const kill = input.killAt && input.killAt.key in update ? input.killAt : undefined;
      if (kill && !kill.persisted) throw new WorkerKilled();
      Object.assign(stored, update);
      if (kill) throw new WorkerKilled();
    },
    heartbeat() {
      heartbeats += 1;
    },
    async beforeGoingLive() {
      goingLive.push(harness.sim.receivedMatching(paths.init).length);
    },
  };
  return { context, stored, saves, goingLive, heartbeats: () => heartbeats };
}

const secretsOf = (credentials: TikTokCredentials) => [credentials.accessToken, credentials.refreshToken];

describe('TikTok Direct Post', () => {
  const harness = harnessPerTest(startHarness);

  it('creator_info, one video/init from the URL, polls to PUBLISH_COMPLETE, then the public id and its URL', async () => {
    const { sim } = harness;
    const { context, stored, saves, goingLive, heartbeats } = attempt(harness);
    const connected = sim.received.length;
    const published = await harness.adapter().publish(context);

    const [post, ...others] = sim.posts();
    assert.equal(others.length, 0, 'one video');
    assert.ok(post?.postId, 'moderation gave the post its public id');
    assert.match(post.postId, /^\d{19}$/);
    // 19 digits sent as a JSON number: kept exact, not rounded to a double.
    assert.deepEqual(published, {
      externalId: post.postId,
      externalUrl: `https://www.tiktok.com/@glowcafe/video/${post.postId}`,
    });

    const order = sim.received.slice(connected).map((request) => request.path);
    assert.equal(order[0], paths.creatorInfo, 'creator_info first');
    assert.equal(order[1], paths.init);
    assert.ok(order.slice(2).every((path) => path === paths.status) && order.length > 3, 'then polls');
    const [init] = sim.receivedMatching(paths.init, 'POST');
    assert.match(init?.headers['content-type'] ?? '', /^application\/json; charset=UTF-8$/);
    assert.deepEqual(init?.body, {
      post_info: {
        title: 'Behind the scenes at the roastery',
        privacy_level: 'PUBLIC_TO_EVERYONE',
        disable_comment: false,
        disable_duet: false,
        disable_stitch: false,
      },
      source_info: { source: 'PULL_FROM_URL', video_url: 'https://cdn.acme.example/roastery.mp4' },
    });
    assert.deepEqual(goingLive, [0], 'the last check ran right before the video/init, once');
    // The marker before the video/init, the publish_id before any status read.
    const markerSave = saves.findIndex((save) => save.update.initSentAt);
    const idSave = saves.findIndex((save) => save.update.publishId);
    assert.equal(saves[markerSave]?.requestsBefore, sim.received.indexOf(init!));
    assert.equal(saves[idSave]?.requestsBefore, sim.received.indexOf(init!) + 1);
    assert.equal(stored.publishId, post.publishId);
    assert.ok(heartbeats() > 0, 'the polling heartbeats');
  });

  it('a SELF_ONLY post is published at PUBLISH_COMPLETE with its publish_id: no public id comes for it', async () => {
    const { sim } = harness;
    const { context } = attempt(harness, { content: video({ privacyLevel: 'SELF_ONLY' }) });
    const published = await harness.adapter({ moderationWaitMs: 10_000 }).publish(context);
    const [post] = sim.posts();
    assert.equal(post?.status, 'PUBLISH_COMPLETE');
    assert.deepEqual(published, { externalId: post.publishId, externalUrl: null });
  });

  it('moderation slower than the wait: published with the publish_id, no URL yet, and followed up', async () => {
    const { sim } = harness;
    sim.setPublishing({ moderationMs: 60_000 });
    const { context } = attempt(harness);
    const started = Date.now();
    const published = await harness.adapter({ moderationWaitMs: 400 }).publish(context);
    const [post] = sim.posts();
    assert.equal(post?.postId, null);
    assert.deepEqual(published, { externalId: post?.publishId, externalUrl: null, followUp: true });
    assert.ok(Date.now() - started < 3_000, 'the wait for moderation is bounded');
  });

  it('the follow-up asks status/fetch only: pending until moderation names the post, then its id and URL', async () => {
    const { sim } = harness;
    sim.setPublishing({ moderationMs: 1_500 });
    const { context, stored } = attempt(harness);
    const adapter = harness.adapter({ moderationWaitMs: 0 });
    const published = await adapter.publish(context);
    assert.equal(published.followUp, true);
    const followUp = {
      taskId: 'task-1',
      account: context.account,
      credentials: harness.credentials,
      externalId: published.externalId,
      progress: stored,
    };
    const before = sim.received.length;
    assert.deepEqual(await adapter.completePublished(followUp), { state: 'pending' });
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    const [post] = sim.posts();
    assert.ok(post?.postId);
    assert.deepEqual(await adapter.completePublished(followUp), {
      state: 'final',
      externalId: post.postId,
      externalUrl: `https://www.tiktok.com/@glowcafe/video/${post.postId}`,
    });
    const asked = sim.received.slice(before).map((request) => request.path);
    assert.ok(
      asked.every((path) => path === paths.status || path === paths.creatorInfo),
      `only reads: ${asked.join(', ')}`,
    );
    assert.equal(sim.posts().length, 1, 'nothing posted again');
  });

  it('the follow-up of a post TikTok failed ends it; a refused read throws the class', async () => {
    const { sim } = harness;
    const adapter = harness.adapter();
    const followUp = {
      taskId: 'task-1',
      account: null,
      credentials: harness.credentials,
      externalId: 'v_pub_url~v2-1.123',
      progress: {},
    };
    sim.failNext({
      path: paths.status,
      response: {
        status: 200,
        body: {
          data: {
            status: 'FAILED',
            fail_reason: 'spam_risk_too_many_posts',
            publicaly_available_post_id: [],
          },
          error: { code: 'ok', message: '', log_id: 'l-1' },
        },
      },
    });
    assert.deepEqual(await adapter.completePublished(followUp), {
      state: 'ended',
      reason: 'TikTok: spam_risk_too_many_posts',
    });
    sim.failWith('rate_limited', { path: paths.status });
    await expectFailure(adapter.completePublished(followUp), 'RATE_LIMITED', secretsOf(harness.credentials));
  });

  it('what the creator turned off stays off; a video longer than the creator may post is refused before any video/init', async () => {
    const { sim } = harness;
    sim.setCreator({ commentDisabled: true, stitchDisabled: true, maxVideoPostDurationSec: 60 });
    const { context } = attempt(harness, { content: video({ disableDuet: true, disableComment: false }) });
    await harness.adapter().publish(context);
    const [post] = sim.posts();
    assert.equal(post?.disableComment, true, 'the creator turned comments off');
    assert.equal(post?.disableDuet, true, 'the task turned duets off');
    assert.equal(post?.disableStitch, true);

    const long = attempt(harness, { content: video({ durationSec: 61 }) });
    const error = await expectFailure(harness.adapter().publish(long.context), 'INVALID_REQUEST');
    assert.match(error.message, /61 s.*60 s at most/);
    assert.equal(sim.posts().length, 1, 'nothing more was posted');
    assert.equal(long.stored.initSentAt, undefined, 'no video/init was even prepared');
  });

  it('pre-flight reads creator_info only: what the creator offers passes; an unoffered level, a video too long or a 503 are told apart', async () => {
    const { sim, credentials } = harness;
    const adapter = harness.adapter();
    const check = (content: TaskContent<'tiktok_video'>) =>
      adapter.preflight({
        taskId: 'task-1',
        channel: 'tiktok_video',
        content,
        account: { kind: 'tiktok_account', externalId: openId },
        credentials,
        scheduledAt: new Date(Date.now() + 3_600_000),
      });
    const before = sim.received.length;
    await check(video());
    sim.setCreator({ maxVideoPostDurationSec: 60 });
    await expectFailure(check(video({ durationSec: 61 })), 'INVALID_REQUEST');
    sim.setAudited(false);
    const refused = await expectFailure(check(video()), 'INVALID_REQUEST');
    assert.equal(refused.failure.platformCode, 'privacy_level_option_mismatch');
    await check(video({ privacyLevel: 'SELF_ONLY' }));
    sim.failNext({ path: paths.creatorInfo, response: { status: 503, body: 'upstream unavailable' } });
    await expectFailure(check(video({ privacyLevel: 'SELF_ONLY' })), 'TRANSIENT');
    const asked = sim.received.slice(before).map((request) => request.path);
    assert.ok(
      asked.every((path) => path === paths.creatorInfo),
      `only creator_info: ${asked.join(', ')}`,
    );
    assert.equal(sim.posts().length, 0, 'nothing posted');
  });

  it('a privacy level the creator does not offer: INVALID_REQUEST privacy_level_option_mismatch naming what is offered', async () => {
    const { sim } = harness;
    sim.setAudited(false);
    const { context } = attempt(harness);
    const error = await expectFailure(harness.adapter().publish(context), 'INVALID_REQUEST');
    assert.equal(error.failure.platformCode, 'privacy_level_option_mismatch');
    assert.match(
      error.message,
      /^The TikTok account "Glow Café" offers the privacy levels SELF_ONLY \(.*not audited.*\), not PUBLIC_TO_EVERYONE/,
    );
    assert.equal(sim.receivedMatching(paths.init).length, 0);
    // The same creator's accounts, as discovery reads them for the connector.
    const account = await harness.adapter().discover(harness.credentials.accessToken);
    assert.deepEqual(account.metadata, { privacyLevelOptions: ['SELF_ONLY'] });
  });

  it('TikTok refusing the URL (url_ownership_unverified, its own check): INVALID_REQUEST, no reconnect, nothing kept', async () => {
    const { sim } = harness;
    const { context, stored } = attempt(harness, {
      content: video({ videoUrl: 'https://elsewhere.example/v.mp4' }),
    });
    const error = await expectFailure(harness.adapter().publish(context), 'INVALID_REQUEST');
    assert.equal(error.failure.platformCode, 'url_ownership_unverified');
    assert.equal(sim.posts().length, 0);
    assert.equal(stored.initSentAt, '', 'a refusal made no post: the marker is cleared');
  });

  it('FAILED → CONTENT_REJECTED with the fail_reason; the publish_id is forgotten so a later attempt starts afresh', async () => {
    const { sim } = harness;
    sim.failNextPost('video_pull_failed');
    const first = attempt(harness);
    const error = await expectFailure(harness.adapter().publish(first.context), 'CONTENT_REJECTED');
    assert.equal(error.failure.platformCode, 'video_pull_failed');
    assert.match(error.message, /video_pull_failed/);
    assert.equal(first.stored.publishId, '');
    assert.equal(first.stored.initSentAt, '');

    const again = attempt(harness, { progress: first.stored });
    await harness.adapter().publish(again.context);
    assert.deepEqual(
      sim.posts().map((post) => post.status),
      ['FAILED', 'PUBLISH_COMPLETE'],
      'the failed post never appeared; one video',
    );
  });
});

describe('TikTok errors from its own bodies', () => {
  const harness = harnessPerTest(startHarness);

  const cases: { kind: TikTokFailureKind; path: string; expected: PublicationErrorClass }[] = [
    { kind: 'token_expired', path: paths.creatorInfo, expected: 'TOKEN_EXPIRED' },
    { kind: 'permission_revoked', path: paths.creatorInfo, expected: 'PERMISSION_REVOKED' },
    { kind: 'rate_limited', path: paths.init, expected: 'RATE_LIMITED' },
    { kind: 'invalid_params', path: paths.init, expected: 'INVALID_REQUEST' },
    { kind: 'transient', path: paths.creatorInfo, expected: 'TRANSIENT' },
    { kind: 'token_expired', path: paths.status, expected: 'TOKEN_EXPIRED' },
    { kind: 'rate_limited', path: paths.status, expected: 'RATE_LIMITED' },
    ...tiktokDirectPostRefusals.map((kind) => ({
      kind,
      path: paths.init,
      expected: (kind.startsWith('spam_risk')
        ? 'CONTENT_REJECTED'
        : 'INVALID_REQUEST') as PublicationErrorClass,
    })),
  ];
  for (const { kind, path, expected } of cases) {
    it(`${kind} on ${path.split('/').slice(-3, -1).join('/')} → ${expected}`, async () => {
      const { sim, credentials } = harness;
      sim.failWith(kind, { path });
      const { context, stored } = attempt(harness);
      const error = await expectFailure(harness.adapter().publish(context), expected, secretsOf(credentials));
      assert.ok(error.failure.platformCode, 'TikTok’s code is kept');
      if (path === paths.init) {
        assert.equal(sim.posts().length, 0);
        // TikTok refused: no post exists, so the next attempt may send the video/init again.
        assert.equal(stored.initSentAt, '');
        await harness.adapter().publish(attempt(harness, { progress: stored }).context);
        assert.equal(sim.posts().length, 1, 'the retry posts it, once');
      }
    });
  }

  it('the direct-post refusals never ask for a reconnect, even as HTTP 403', async () => {
    const { sim } = harness;
    for (const kind of tiktokDirectPostRefusals) {
      sim.failWith(kind, { path: paths.init });
      const error = await expectFailure(
        harness.adapter().publish(attempt(harness).context),
        kind.startsWith('spam_risk') ? 'CONTENT_REJECTED' : 'INVALID_REQUEST',
      );
      assert.equal(error.failure.platformCode, kind);
    }
    const answers = sim.receivedMatching(paths.init);
    assert.equal(answers.length, tiktokDirectPostRefusals.length);
  });
});

describe('TikTok retries never make a second video', () => {
  const harness = harnessPerTest(startHarness);

  it('turns: before creator_info, before video/init and ahead of its last check, before each status read', async () => {
    const { sim } = harness;
    const turns: { call: string; inits: number; checks: number; needsAfterMs?: number }[] = [];
    const first = attempt(harness, { content: video({ privacyLevel: 'SELF_ONLY' }) });
    first.context.takeTurn = async (call, options) => {
      turns.push({
        call,
        inits: sim.receivedMatching(paths.init).length,
        checks: first.goingLive.length,
        ...(options?.needsAfterMs === undefined ? {} : { needsAfterMs: options.needsAfterMs }),
      });
    };
    await harness.adapter().publish(first.context);
    assert.deepEqual(turns.slice(0, 2), [
      { call: 'creatorInfo', inits: 0, checks: 0 },
      // Room for the last check and an init answered within the attempt (two request time-outs).
      { call: 'videoInit', inits: 0, checks: 0, needsAfterMs: 60_000 },
    ]);
    const reads = turns.slice(2);
    assert.ok(reads.length >= 1 && reads.every((turn) => turn.call === 'statusFetch' && turn.inits === 1));
    assert.equal(reads.length, sim.receivedMatching(paths.status).length, 'one turn per status read');
  });

  it('a turn refused before video/init leaves no init marker; one refused after it: the retry resumes the same publish_id', async () => {
    const { sim } = harness;
    const refuse = (call: string) => async (asked: string) => {
      if (asked === call)
        throw new PlatformError({
          class: 'RATE_LIMITED',
          message: `no turn for ${call}`,
          retryAfterMs: 61_000,
        });
    };
    const beforeInit = attempt(harness);
    beforeInit.context.takeTurn = refuse('videoInit');
    await expectFailure(harness.adapter().publish(beforeInit.context), 'RATE_LIMITED');
    assert.equal(sim.receivedMatching(paths.init).length, 0);
    assert.deepEqual(beforeInit.goingLive, [], 'the last check comes after the turn');
    assert.ok(!beforeInit.stored.initSentAt && !beforeInit.stored.publishId, 'nothing says an init left');

    const afterInit = attempt(harness, { progress: beforeInit.stored });
    afterInit.context.takeTurn = refuse('statusFetch');
    await expectFailure(harness.adapter().publish(afterInit.context), 'RATE_LIMITED');
    assert.equal(sim.receivedMatching(paths.init).length, 1);
    assert.ok(afterInit.stored.publishId, 'the publish_id is kept');

    const retry = attempt(harness, { progress: afterInit.stored });
    const published = await harness.adapter().publish(retry.context);
    assert.equal(sim.receivedMatching(paths.init).length, 1, 'no second video/init');
    assert.equal(sim.posts().length, 1);
    assert.equal(published.externalId, sim.posts()[0]?.postId);
  });

  it('a worker killed right after the publish_id was saved: the retry resumes polling it, no second video/init', async () => {
    const { sim } = harness;
    const first = attempt(harness, { killAt: { key: 'publishId', persisted: true } });
    await assert.rejects(harness.adapter().publish(first.context), WorkerKilled);
    const inits = sim.receivedMatching(paths.init).length;
    const creatorInfos = sim.receivedMatching(paths.creatorInfo).length;

    const retry = attempt(harness, { progress: first.stored });
    const published = await harness.adapter().publish(retry.context);
    const [post, ...others] = sim.posts();
    assert.equal(others.length, 0, 'one video');
    assert.equal(published.externalId, post?.postId);
    assert.equal(sim.receivedMatching(paths.init).length, inits, 'no video/init on the retry');
    assert.equal(sim.receivedMatching(paths.creatorInfo).length, creatorInfos, 'nor creator_info');
    assert.deepEqual(retry.goingLive, [], 'nothing went live on the retry');
  });

  it('still processing when the attempt’s wait ends: TRANSIENT, and the retry goes on with the same publish_id', async () => {
    const { sim } = harness;
    sim.setPublishing({ downloadMs: 1_200 });
    const first = attempt(harness);
    const error = await expectFailure(
      harness.adapter({ statusPoll: { intervalMs: 60, maxWaitMs: 300 } }).publish(first.context),
      'TRANSIENT',
    );
    assert.equal(error.failure.platformCode, 'PROCESSING_DOWNLOAD');
    assert.ok(first.stored.publishId);

    const retry = attempt(harness, { progress: first.stored });
    const published = await harness
      .adapter({ statusPoll: { intervalMs: 100, maxWaitMs: 3_000 } })
      .publish(retry.context);
    assert.equal(sim.posts().length, 1);
    assert.equal(published.externalId, sim.posts()[0]?.postId);
    assert.equal(sim.receivedMatching(paths.init).length, 1);
  });

  it('the answer to video/init lost: not sent again, neither now nor on a retry; needs a person (INVALID_REQUEST)', async () => {
    const { sim } = harness;
    sim.dropAnswerNext({ path: paths.init });
    const first = attempt(harness);
    const error = await expectFailure(harness.adapter().publish(first.context), 'INVALID_REQUEST');
    assert.equal(error.failure.platformCode, 'video_init_unconfirmed');
    assert.match(error.message, /may be on the TikTok profile.*duplicate the epic/);
    assert.equal(sim.posts().length, 1, 'TikTok made the post; only its answer was lost');
    assert.ok(first.stored.initSentAt);
    assert.equal(first.stored.publishId, undefined);

    const before = sim.received.length;
    const retry = attempt(harness, { progress: first.stored });
    const again = await expectFailure(harness.adapter().publish(retry.context), 'INVALID_REQUEST');
    assert.equal(again.failure.platformCode, 'video_init_unconfirmed');
    assert.equal(sim.received.length, before, 'the retry asked TikTok nothing and posted nothing');
    assert.equal(sim.posts().length, 1, 'one video');
  });

  it('a worker killed after video/init answered but before its publish_id was saved: the retry posts nothing', async () => {
    const { sim } = harness;
    const first = attempt(harness, { killAt: { key: 'publishId', persisted: false } });
    await assert.rejects(harness.adapter().publish(first.context), WorkerKilled);
    const retry = attempt(harness, { progress: first.stored });
    const error = await expectFailure(harness.adapter().publish(retry.context), 'INVALID_REQUEST');
    assert.equal(error.failure.platformCode, 'video_init_unconfirmed');
    assert.equal(sim.receivedMatching(paths.init).length, 1);
    assert.equal(sim.posts().length, 1, 'one video');
  });

  it('internal_error on video/init says nothing certain: treated as a lost answer, not retried blindly', async () => {
    const { sim } = harness;
    sim.failWith('transient', { path: paths.init });
    const first = attempt(harness);
    const error = await expectFailure(harness.adapter().publish(first.context), 'INVALID_REQUEST');
    assert.equal(error.failure.platformCode, 'video_init_unconfirmed');
    assert.ok(first.stored.initSentAt, 'the marker stays');
  });

  it('a post made for content edited since is not posted again as a second video', async () => {
    const { sim } = harness;
    const first = attempt(harness, { contentDigest: 'before-edit' });
    await harness.adapter().publish(first.context);
    const retry = attempt(harness, {
      progress: first.stored,
      contentDigest: 'after-edit',
      content: video({ title: 'Edited title' }),
    });
    const error = await expectFailure(harness.adapter().publish(retry.context), 'INVALID_REQUEST');
    assert.equal(error.failure.platformCode, 'earlier_version_posted');
    assert.equal(sim.posts().length, 1);
  });
});
