// The Meta adapter against the Meta simulator over real HTTP: OAuth and discovery, one post per publication,
// the Instagram duplicate guard, and every Graph error landing in its publication error class.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import {
  createMetaAdapter,
  type MetaAdapter,
  type MetaCredentials,
  mapMetaError,
  metaGraphVersion,
  metaScopes,
} from '../connectors/meta.ts';
import type { PublicationContext, PublicationProgress } from '../connectors/types.ts';
import type { Channel } from '../domain/channels.ts';
import type { TaskContent } from '../domain/content.ts';
import type { PublicationErrorClass } from '../domain/publication-errors.ts';
import { type MetaFailureKind, type MetaSimulator, startMetaSimulator } from '../sandbox/meta.ts';
import { closedBaseUrl, expectFailure, harnessPerTest } from './support/adapter-harness.ts';

const clientId = 'glowtify-test-app';
const clientSecret = 'glowtify-test-secret-7f3a9c';
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/meta/callback';
const cafe = { id: '1001', name: 'Glow Café', instagram: { id: '17841400000000001', username: 'glowcafe' } };
const outlet = { id: '1002', name: 'Glow Outlet' };
const studio = {
  id: '1003',
  name: 'Glow Studio',
  instagram: { id: '17841400000000003', username: 'glowstudio' },
};
const pageAccount = { kind: 'facebook_page', externalId: cafe.id };
const instagramAccount = { kind: 'instagram_account', externalId: cafe.instagram.id };
const fastPoll = { intervalMs: 20, maxWaitMs: 2000 };

interface Harness {
  sim: MetaSimulator;
  adapter: MetaAdapter;
  /** The simulator's clock, moved by tests that need a container to expire. */
  clock: { now: number };
}

async function startHarness(
  options: Parameters<typeof startMetaSimulator>[0] = {},
  containerPoll = fastPoll,
): Promise<Harness> {
  const clock = { now: Date.now() };
  const sim = await startMetaSimulator({
    clientId,
    clientSecret,
    pages: [cafe, outlet, studio],
    accountsPageLimit: 2,
    now: () => new Date(clock.now),
    ...options,
  });
  const adapter = createMetaAdapter({
    apiBaseUrl: sim.url,
    authBaseUrl: sim.url,
    clientId,
    clientSecret,
    containerPoll,
    // One clock for both sides, so what the adapter dates (token expiry, the /feed marker) lines up with Meta.
    now: () => new Date(clock.now),
  });
  return { sim, adapter, clock };
}

/** The OAuth round trip a user makes: consent page → redirect with a code → exchange → discovery. */
async function connect({ sim, adapter }: Harness) {
  const consent = await fetch(adapter.authorizeUrl({ state: 'state-42', redirectUri }), {
    redirect: 'manual',
  });
  assert.equal(consent.status, 302);
  const location = new URL(consent.headers.get('location') ?? '');
  const code = location.searchParams.get('code');
  assert.ok(code, `no code in ${location}`);
  const token = await adapter.exchangeCode({ code, redirectUri });
  const discovered = await adapter.discover(token.userAccessToken);
  return { code, token, ...discovered, requestsAfterConnect: sim.received.length };
}

interface Publication {
  context: PublicationContext<MetaCredentials>;
  /** Progress as the caller persists it (merged, like the jsonb `||` update). */
  stored: PublicationProgress;
  /** Each save, with how many requests the simulator had received at that moment. */
  saves: { update: PublicationProgress; requestsBefore: number }[];
  heartbeats: () => number;
}

function publication(
  sim: MetaSimulator,
  input: {
    channel: Channel;
    content: TaskContent;
    account: { kind: string; externalId: string };
    credentials: MetaCredentials;
    progress?: PublicationProgress;
    /**
     * The worker dies at the save that carries this key: after the save reached the database (persisted) or
     * before it did. Either way the attempt ends there.
     */
    killAt?: { key: string; persisted: boolean };
  },
): Publication {
  const stored: PublicationProgress = { ...(input.progress ?? {}) };
  const saves: Publication['saves'] = [];
  let heartbeats = 0;
  return {
    stored,
    saves,
    heartbeats: () => heartbeats,
    context: {
      taskId: 'task-1',
      channel: input.channel,
      content: input.content,
      contentDigest: JSON.stringify(input.content),
      account: input.account,
      credentials: input.credentials,
      progress: { ...stored },
      async beforeGoingLive() {},
      async saveProgress(update) {
        saves.push({ update: { ...update }, requestsBefore: sim.received.length });
        const kill = input.killAt && input.killAt.key in update ? input.killAt : undefined;
        if (kill && !kill.persisted) throw new WorkerKilled();
        Object.assign(stored, update);
        if (kill) throw new WorkerKilled();
      },
      heartbeat() {
        heartbeats += 1;
      },
    },
  };
}

class WorkerKilled extends Error {
  override name = 'WorkerKilled';
}

/** Every secret the adapter holds; none may reach an error message. */
function secretsOf(credentials: MetaCredentials): string[] {
  return [
    clientSecret,
    credentials.userAccessToken,
    ...Object.values(credentials.pages).map((page) => page.accessToken),
  ];
}

const requestsTo = (sim: MetaSimulator, pattern: RegExp, method = 'POST') =>
  sim.receivedMatching(pattern, method);

/** The container id must be persisted before media_publish leaves, or a crash in between posts twice. */
function assertContainerSavedBeforePublish(sim: MetaSimulator, run: Publication) {
  const containerSave = run.saves.find((save) => save.update.containerId);
  assert.ok(containerSave, 'the container id was never saved');
  const publishIndex = sim.received.findIndex((request) => request.path.endsWith('/media_publish'));
  assert.ok(publishIndex !== -1, 'media_publish was never sent');
  assert.ok(
    publishIndex >= containerSave.requestsBefore,
    'media_publish was sent before the container was saved',
  );
}

/** The /feed marker must be persisted before the post leaves, or a crash in between could post twice. */
function assertMarkerSavedBeforeFeed(sim: MetaSimulator, run: Publication) {
  const markerSave = run.saves.find((save) => save.update.feedAttemptAt);
  assert.ok(markerSave, 'the feedAttemptAt marker was never saved');
  const feedIndex = sim.received.findIndex(
    (request) => request.method === 'POST' && request.path.endsWith('/feed'),
  );
  assert.ok(feedIndex !== -1, 'the post was never sent');
  assert.ok(feedIndex >= markerSave.requestsBefore, 'the post was sent before the marker was saved');
}

describe('Meta OAuth and discovery', () => {
  const harness = harnessPerTest(startHarness, { longLivedTokenSeconds: 1_234_567 });

  it('authorize → consent → code → long-lived token as Meta dates it → Pages and IG accounts', async () => {
    const { sim, adapter } = harness;
    const url = new URL(adapter.authorizeUrl({ state: 'state-42', redirectUri }));
    assert.equal(url.pathname, `/${metaGraphVersion}/dialog/oauth`);
    assert.equal(url.searchParams.get('client_id'), clientId);
    assert.equal(url.searchParams.get('redirect_uri'), redirectUri);
    assert.equal(url.searchParams.get('state'), 'state-42');
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.deepEqual(url.searchParams.get('scope')?.split(','), [...metaScopes]);

    const before = harness.clock.now;
    const connected = await connect(harness);
    const expiresAt = connected.token.expiresAt?.getTime() ?? 0;
    // Stored as the simulator's expires_in says (1,234,567 s), measured from the exchange.
    assert.ok(expiresAt >= before + 1_234_567_000 && expiresAt <= Date.now() + 1_234_567_000, `${expiresAt}`);

    const exchanges = sim.receivedMatching('/oauth/access_token', 'GET');
    assert.equal(exchanges.length, 2);
    assert.equal(exchanges[0]?.query.code, connected.code);
    assert.equal(exchanges[1]?.query.grant_type, 'fb_exchange_token');

    assert.deepEqual(connected.accounts, [
      { kind: 'facebook_page', externalId: '1001', name: 'Glow Café' },
      { kind: 'instagram_account', externalId: '17841400000000001', name: 'glowcafe' },
      { kind: 'facebook_page', externalId: '1002', name: 'Glow Outlet' },
      { kind: 'facebook_page', externalId: '1003', name: 'Glow Studio' },
      { kind: 'instagram_account', externalId: '17841400000000003', name: 'glowstudio' },
    ]);
    // Three Pages, two per answer: discovery followed paging.next.
    const listings = sim.receivedMatching('/me/accounts', 'GET');
    assert.equal(listings.length, 2);
    for (const listing of listings) assert.equal(listing.query.access_token, undefined, 'a token in a URL');

    const { credentials } = connected;
    assert.equal(credentials.userAccessToken, connected.token.userAccessToken);
    assert.equal(credentials.userTokenExpiresAt, new Date(Math.floor(expiresAt / 1000) * 1000).toISOString());
    assert.deepEqual(Object.keys(credentials.pages), ['1001', '1002', '1003']);
    assert.equal(credentials.pages['1001']?.instagramAccountId, '17841400000000001');
    assert.equal(credentials.pages['1002']?.instagramAccountId, undefined);
    assert.ok(credentials.pages['1001']?.accessToken, 'no Page token for 1001');
    assert.notEqual(credentials.pages['1001']?.accessToken, credentials.userAccessToken);
    assert.deepEqual(connected.grantedScopes, [...metaScopes]);
  });

  it('a replayed code is refused, and the error does not echo it', async () => {
    const connected = await connect(harness);
    const error = await expectFailure(
      harness.adapter.exchangeCode({ code: connected.code, redirectUri }),
      'INVALID_REQUEST',
      [connected.code, clientSecret],
    );
    assert.equal(error.failure.platformCode, '100/36009');
  });

  it('a code is refused for another redirect_uri', async () => {
    const consent = await fetch(harness.adapter.authorizeUrl({ state: 's', redirectUri }), {
      redirect: 'manual',
    });
    const code = new URL(consent.headers.get('location') ?? '').searchParams.get('code') ?? '';
    const error = await expectFailure(
      harness.adapter.exchangeCode({ code, redirectUri: 'http://127.0.0.1:9/elsewhere' }),
      'INVALID_REQUEST',
      [code],
    );
    assert.equal(error.failure.platformCode, '100/36008');
  });

  it('a denied consent comes back as access_denied with the state and no code', async () => {
    harness.sim.consent = 'deny';
    const consent = await fetch(harness.adapter.authorizeUrl({ state: 'state-7', redirectUri }), {
      redirect: 'manual',
    });
    const location = new URL(consent.headers.get('location') ?? '');
    assert.equal(`${location.origin}${location.pathname}`, redirectUri);
    assert.equal(location.searchParams.get('error'), 'access_denied');
    assert.equal(location.searchParams.get('error_reason'), 'user_denied');
    assert.equal(location.searchParams.get('state'), 'state-7');
    assert.equal(location.searchParams.get('code'), null);
  });
});

describe('Meta publishing', () => {
  const harness = harnessPerTest(startHarness);
  let credentials: MetaCredentials;
  beforeEach(async () => {
    credentials = (await connect(harness)).credentials;
  });

  it('facebook_post publishes exactly one Page post; a retry with its progress posts nothing', async () => {
    const { sim, adapter } = harness;
    const content = { text: 'New collection', link: 'https://acme.example/new' };
    const first = publication(sim, { channel: 'facebook_post', content, account: pageAccount, credentials });
    const published = await adapter.publish!(first.context);

    const posts = sim.posts();
    assert.equal(posts.length, 1);
    assert.equal(posts[0]?.kind, 'page_post');
    assert.equal(posts[0]?.accountId, '1001');
    assert.equal(posts[0]?.text, 'New collection');
    assert.equal(posts[0]?.link, 'https://acme.example/new');
    assert.equal(published.externalId, posts[0]?.id);
    assert.match(published.externalId, /^1001_\d+$/);
    assert.equal(published.externalUrl, `https://www.facebook.com/${published.externalId}`);
    assert.deepEqual(first.stored, {
      feedAttemptAt: new Date(harness.clock.now).toISOString(),
      feedMessages: first.stored.feedMessages,
      postId: published.externalId,
    });
    assert.match(first.stored.feedMessages ?? '', /^[\w-]{16}$/, 'the text sent is remembered as a digest');
    assertMarkerSavedBeforeFeed(sim, first);
    // A first attempt has nothing to look up.
    assert.equal(requestsTo(sim, /\/1001\/(posts|feed)$/, 'GET').length, 0);

    const before = sim.received.length;
    const retry = publication(sim, {
      channel: 'facebook_post',
      content,
      account: pageAccount,
      credentials,
      progress: first.stored,
    });
    assert.deepEqual(await adapter.publish!(retry.context), published);
    assert.equal(sim.received.length, before, 'the retry sent a request');
    assert.equal(sim.posts().length, 1);
  });

  it('facebook_post with media uploads unpublished photos and attaches them to one post', async () => {
    const { sim, adapter } = harness;
    const content = {
      text: 'New collection',
      link: 'https://acme.example/new',
      mediaUrls: ['https://cdn.acme.example/1.jpg', 'https://cdn.acme.example/2.jpg'],
    };
    const run = publication(sim, { channel: 'facebook_post', content, account: pageAccount, credentials });
    const published = await adapter.publish!(run.context);

    const uploads = requestsTo(sim, /\/1001\/photos$/);
    assert.deepEqual(
      uploads.map((request) => (request.body as Record<string, string>).published),
      ['false', 'false'],
    );
    const posts = sim.posts();
    assert.equal(posts.length, 1);
    assert.deepEqual(posts[0]?.mediaUrls, content.mediaUrls);
    assert.equal(posts[0]?.text, 'New collection\n\nhttps://acme.example/new');
    assert.equal(published.externalId, posts[0]?.id);
    assert.equal(run.stored.photoIds?.split(',').length, 2);
  });

  it('instagram_post (one image) saves the container before media_publish, publishes one media', async () => {
    const { sim, adapter } = harness;
    const content = { caption: 'Spring!', mediaUrls: ['https://cdn.acme.example/1.jpg'] };
    const run = publication(sim, {
      channel: 'instagram_post',
      content,
      account: instagramAccount,
      credentials,
    });
    const published = await adapter.publish!(run.context);

    const posts = sim.posts();
    assert.equal(posts.length, 1);
    assert.deepEqual(
      {
        kind: posts[0]?.kind,
        accountId: posts[0]?.accountId,
        text: posts[0]?.text,
        mediaUrls: posts[0]?.mediaUrls,
      },
      {
        kind: 'instagram_media',
        accountId: cafe.instagram.id,
        text: 'Spring!',
        mediaUrls: content.mediaUrls,
      },
    );
    assert.equal(published.externalId, posts[0]?.id);
    assert.match(published.externalUrl ?? '', /^https:\/\/www\.instagram\.com\/p\//);

    assertContainerSavedBeforePublish(sim, run);
    assert.equal(run.saves.at(-1)?.update.mediaId, published.externalId);
    // The simulator's first status read says IN_PROGRESS: the adapter waited, heartbeating.
    assert.ok(run.heartbeats() >= 1, 'no heartbeat while waiting for the container');
    assert.equal(requestsTo(sim, /\/media_publish$/).length, 1);
  });

  it('instagram_post with several images publishes one carousel', async () => {
    const { sim, adapter } = harness;
    const mediaUrls = [
      'https://cdn.acme.example/1.jpg',
      'https://cdn.acme.example/2.jpg',
      'https://cdn.acme.example/3.jpg',
    ];
    const run = publication(sim, {
      channel: 'instagram_post',
      content: { caption: 'Three looks', mediaUrls },
      account: instagramAccount,
      credentials,
    });
    const published = await adapter.publish!(run.context);

    const creations = requestsTo(sim, /\/media$/).map((request) => request.body as Record<string, string>);
    assert.equal(creations.length, 4);
    assert.deepEqual(
      creations.slice(0, 3).map((body) => [body.image_url, body.is_carousel_item]),
      mediaUrls.map((url) => [url, 'true']),
    );
    assert.equal(creations[3]?.media_type, 'CAROUSEL');
    assert.equal(creations[3]?.children?.split(',').length, 3);

    const posts = sim.posts();
    assert.equal(posts.length, 1);
    assert.deepEqual(posts[0]?.mediaUrls, mediaUrls);
    assert.equal(posts[0]?.text, 'Three looks');
    assert.equal(published.externalId, posts[0]?.id);
    assertContainerSavedBeforePublish(sim, run);
  });

  it('instagram_story publishes one story', async () => {
    const { sim, adapter } = harness;
    const run = publication(sim, {
      channel: 'instagram_story',
      content: { mediaUrl: 'https://cdn.acme.example/story.jpg' },
      account: instagramAccount,
      credentials,
    });
    const published = await adapter.publish!(run.context);

    assert.equal(
      (requestsTo(sim, /\/media$/)[0]?.body as Record<string, string> | undefined)?.media_type,
      'STORIES',
    );
    const posts = sim.posts();
    assert.equal(posts.length, 1);
    assert.equal(posts[0]?.kind, 'instagram_story');
    assert.deepEqual(posts[0]?.mediaUrls, ['https://cdn.acme.example/story.jpg']);
    assert.equal(published.externalId, posts[0]?.id);
    assert.equal(
      published.externalUrl,
      `https://www.instagram.com/stories/glowcafe/${published.externalId}/`,
    );
    assertContainerSavedBeforePublish(sim, run);
  });
});

describe('the Instagram duplicate guard', () => {
  const harness = harnessPerTest(startHarness);
  let credentials: MetaCredentials;
  const content = { caption: 'Spring!', mediaUrls: ['https://cdn.acme.example/1.jpg'] };
  const attempt = (progress: PublicationProgress = {}) =>
    publication(harness.sim, {
      channel: 'instagram_post',
      content,
      account: instagramAccount,
      credentials,
      progress,
    });

  beforeEach(async () => {
    credentials = (await connect(harness)).credentials;
  });

  it('with the container and media ids of an attempt that published, a retry publishes nothing', async () => {
    const { sim, adapter } = harness;
    const first = attempt();
    const published = await adapter.publish!(first.context);
    assert.ok(first.stored.containerId && first.stored.mediaId, 'the first attempt left no ids');

    const retry = attempt(first.stored);
    const again = await adapter.publish!(retry.context);
    assert.equal(again.externalId, published.externalId);
    assert.equal(requestsTo(sim, /\/media_publish$/).length, 1);
    assert.equal(requestsTo(sim, /\/media$/).length, 1);
    assert.equal(sim.posts().length, 1);
  });

  it('with only the container id (died before saving the media id), a retry publishes nothing', async () => {
    const { sim, adapter } = harness;
    const first = attempt();
    await adapter.publish!(first.context);
    const containerId = first.stored.containerId ?? '';

    const retry = attempt({ containerId });
    const again = await adapter.publish!(retry.context);
    // Meta links no media id to a container, so the container id is what the guard can return.
    assert.equal(again.externalId, containerId);
    assert.equal(again.externalUrl, null);
    assert.equal(requestsTo(sim, /\/media_publish$/).length, 1);
    assert.equal(requestsTo(sim, /\/media$/).length, 1);
    assert.equal(sim.containerStatus(containerId), 'PUBLISHED');
    assert.equal(sim.posts().length, 1);
  });

  it('a container left FINISHED by a failed attempt is published by the retry, not made again', async () => {
    const { sim, adapter } = harness;
    sim.failWith('transient', { path: /\/media_publish$/ });
    const first = attempt();
    await expectFailure(adapter.publish!(first.context), 'TRANSIENT', secretsOf(credentials));
    assert.ok(first.stored.containerId, 'the failed attempt left no container id');
    assert.equal(sim.posts().length, 0);

    const retry = attempt(first.stored);
    const published = await adapter.publish!(retry.context);
    assert.equal(requestsTo(sim, /\/media$/).length, 1, 'a second container was made');
    assert.equal(requestsTo(sim, /\/media_publish$/).length, 2);
    assert.equal(sim.posts().length, 1);
    assert.equal(published.externalId, sim.posts()[0]?.id);
  });

  it('an expired container is forgotten and a fresh one is published', async () => {
    const { sim, adapter, clock } = harness;
    sim.failWith('transient', { path: /\/media_publish$/ });
    const first = attempt();
    await expectFailure(adapter.publish!(first.context), 'TRANSIENT', secretsOf(credentials));
    const stale = first.stored.containerId ?? '';
    clock.now += 25 * 60 * 60 * 1000;
    assert.equal(sim.containerStatus(stale), 'EXPIRED');

    const retry = attempt(first.stored);
    await adapter.publish!(retry.context);
    assert.deepEqual(retry.saves[0]?.update, { containerId: '' });
    assert.notEqual(retry.stored.containerId, stale);
    assert.equal(requestsTo(sim, /\/media$/).length, 2);
    assert.deepEqual(
      requestsTo(sim, /\/media_publish$/).map(
        (request) => (request.body as Record<string, string>).creation_id,
      ),
      [stale, retry.stored.containerId],
    );
    assert.equal(sim.posts().length, 1);
  });

  it('media_publish answering 9007 "not ready" means wait and publish once, not fail', async () => {
    const { sim, adapter } = harness;
    sim.failWith('media_not_ready', { path: /\/media_publish$/ });
    const run = attempt();
    const published = await adapter.publish!(run.context);
    assert.equal(requestsTo(sim, /\/media_publish$/).length, 2);
    assert.equal(sim.posts().length, 1);
    assert.equal(published.externalId, sim.posts()[0]?.id);
  });

  it('a container in ERROR is CONTENT_REJECTED, never published, and forgotten', async () => {
    const { sim, adapter } = harness;
    sim.rejectMediaMatching = /broken/;
    const run = publication(sim, {
      channel: 'instagram_post',
      content: { caption: 'x', mediaUrls: ['https://cdn.acme.example/broken.jpg'] },
      account: instagramAccount,
      credentials,
    });
    const error = await expectFailure(
      adapter.publish!(run.context),
      'CONTENT_REJECTED',
      secretsOf(credentials),
    );
    assert.match(error.message, /Media download has failed/);
    assert.equal(run.stored.containerId, '');
    assert.equal(requestsTo(sim, /\/media_publish$/).length, 0);
    assert.equal(sim.posts().length, 0);
  });

  it('a container still processing at maxWaitMs is TRANSIENT and kept for the next attempt', async () => {
    await harness.restart({ containerReadyAfterPolls: 1_000_000 }, { intervalMs: 10, maxWaitMs: 60 });
    credentials = (await connect(harness)).credentials;
    const run = attempt();
    const error = await expectFailure(
      harness.adapter.publish!(run.context),
      'TRANSIENT',
      secretsOf(credentials),
    );
    assert.equal(error.failure.platformCode, 'container:IN_PROGRESS');
    assert.ok(run.stored.containerId, 'the container id was not kept');
    assert.ok(run.heartbeats() >= 1, 'no heartbeat while waiting for the container');
    assert.equal(requestsTo(harness.sim, /\/media_publish$/).length, 0);
  });
});

describe('Instagram prepared ahead of the time', () => {
  const harness = harnessPerTest(startHarness);
  let credentials: MetaCredentials;
  const content = { caption: 'Spring!', mediaUrls: ['https://cdn.acme.example/1.jpg'] };
  const attempt = (progress: PublicationProgress = {}, changed: Partial<typeof content> = {}) =>
    publication(harness.sim, {
      channel: 'instagram_post',
      content: { ...content, ...changed },
      account: instagramAccount,
      credentials,
      progress,
    });
  /** The same publication, as `prepare` gets it: no way to go live. */
  const preparing = (run: Publication) => {
    const { beforeGoingLive: _never, ...context } = run.context;
    return context;
  };

  beforeEach(async () => {
    credentials = (await connect(harness)).credentials;
  });

  it('prepare makes the container and waits until Meta has the media, publishing nothing', async () => {
    const { sim, adapter } = harness;
    const ahead = attempt();
    await adapter.prepare!(preparing(ahead));
    const containerId = ahead.stored.containerId ?? '';
    assert.ok(containerId, 'the container id was not saved');
    assert.equal(ahead.stored.contentDigest, ahead.context.contentDigest);
    assert.equal(sim.containerStatus(containerId), 'FINISHED');
    assert.equal(requestsTo(sim, /\/media_publish$/).length, 0);
    assert.equal(sim.posts().length, 0);

    // Prepared twice (a retried preparation): the same container, nothing made again.
    await adapter.prepare!(preparing(attempt(ahead.stored)));
    assert.equal(requestsTo(sim, /\/media$/).length, 1);

    // At the time: only media_publish, on the prepared container.
    const atTheTime = attempt(ahead.stored);
    const published = await adapter.publish!(atTheTime.context);
    assert.equal(requestsTo(sim, /\/media$/).length, 1, 'publishing made a second container');
    assert.deepEqual(
      requestsTo(sim, /\/media_publish$/).map(
        (request) => (request.body as Record<string, string>).creation_id,
      ),
      [containerId],
    );
    assert.equal(sim.posts().length, 1);
    assert.equal(published.externalId, sim.posts()[0]?.id);
  });

  it('content edited after the preparation is published from a new container, the old one never', async () => {
    const { sim, adapter } = harness;
    const ahead = attempt();
    await adapter.prepare!(preparing(ahead));
    const stale = ahead.stored.containerId ?? '';

    const edited = attempt(ahead.stored, { caption: 'Spring, edited' });
    await adapter.publish!(edited.context);
    const published = requestsTo(sim, /\/media_publish$/).map(
      (request) => (request.body as Record<string, string>).creation_id,
    );
    assert.equal(published.length, 1);
    assert.notEqual(published[0], stale);
    assert.equal(sim.containerStatus(stale), 'FINISHED');
    assert.deepEqual(
      sim.posts().map((post) => post.text),
      ['Spring, edited'],
    );
  });

  it('a container made on the account the task named before is not published on the new one', async () => {
    const { sim, adapter } = harness;
    const ahead = attempt();
    await adapter.prepare!(preparing(ahead));
    const stale = ahead.stored.containerId ?? '';

    const moved = publication(sim, {
      channel: 'instagram_post',
      content,
      account: { kind: 'instagram_account', externalId: studio.instagram.id },
      credentials,
      progress: ahead.stored,
    });
    await adapter.publish!(moved.context);
    const live = requestsTo(sim, /\/media_publish$/);
    assert.equal(live.length, 1);
    assert.equal(live[0]?.path, `/${metaGraphVersion}/${studio.instagram.id}/media_publish`);
    assert.notEqual((live[0]!.body as Record<string, string>).creation_id, stale);
    assert.equal(sim.containerStatus(stale), 'FINISHED');
    assert.deepEqual(
      sim.posts().map((post) => post.accountId),
      [studio.instagram.id],
    );
  });

  it('media Meta cannot process is refused at the preparation, an hour ahead, and never published', async () => {
    const { sim, adapter } = harness;
    sim.rejectMediaMatching = /broken/;
    const ahead = attempt({}, { mediaUrls: ['https://cdn.acme.example/broken.jpg'] });
    const error = await expectFailure(
      adapter.prepare!(preparing(ahead)),
      'CONTENT_REJECTED',
      secretsOf(credentials),
    );
    assert.match(error.message, /Media download has failed/);
    assert.equal(ahead.stored.containerId, '');
    assert.equal(requestsTo(sim, /\/media_publish$/).length, 0);
  });

  it('a container still processing when the wait ends is prepared: kept, and published once at the time', async () => {
    await harness.restart({ containerReadyAfterPolls: 5 }, { intervalMs: 10, maxWaitMs: 25 });
    credentials = (await connect(harness)).credentials;
    const { sim } = harness;
    const ahead = attempt();
    await harness.adapter.prepare!(preparing(ahead));
    const containerId = ahead.stored.containerId ?? '';
    assert.ok(containerId, 'the container id was not kept');
    assert.equal(sim.containerStatus(containerId), 'IN_PROGRESS');

    // At the time, a worker with the usual patience waits for that container and publishes it.
    const patient = createMetaAdapter({
      apiBaseUrl: sim.url,
      authBaseUrl: sim.url,
      clientId,
      clientSecret,
      containerPoll: fastPoll,
      now: () => new Date(harness.clock.now),
    });
    await patient.publish!(attempt(ahead.stored).context);
    assert.equal(requestsTo(sim, /\/media$/).length, 1);
    assert.deepEqual(
      requestsTo(sim, /\/media_publish$/).map(
        (request) => (request.body as Record<string, string>).creation_id,
      ),
      [containerId],
    );
    assert.equal(sim.posts().length, 1);
  });

  it('nothing is made once the schedule no longer holds (the fence before each create)', async () => {
    const { sim, adapter } = harness;
    const ahead = attempt(
      {},
      { mediaUrls: ['https://cdn.acme.example/1.jpg', 'https://cdn.acme.example/2.jpg'] },
    );
    let creates = 0;
    const context = {
      ...preparing(ahead),
      async beforeCreating() {
        creates += 1;
        if (creates === 2) throw new Error('the epic was unscheduled');
      },
    };
    await assert.rejects(adapter.prepare!(context), /unscheduled/);
    assert.equal(requestsTo(sim, /\/media$/).length, 1, 'a create went out after the fence refused');
    assert.equal(ahead.stored.containerId, undefined);
  });

  it('discarding keeps the container id, so a publish whose answer was lost is still found', async () => {
    const { sim, adapter } = harness;
    const first = attempt();
    await adapter.prepare!(preparing(first));
    // media_publish goes through, its answer is lost: the publication failed as far as anyone knows.
    sim.dropAnswerNext({ path: /\/media_publish$/ });
    await expectFailure(adapter.publish!(attempt(first.stored).context), 'TRANSIENT', secretsOf(credentials));
    assert.equal(sim.posts().length, 1);

    await adapter.discardPrepared!({
      taskId: 'task-1',
      account: instagramAccount,
      credentials,
      progress: first.stored,
      saveProgress: async (update) => {
        Object.assign(first.stored, update);
      },
    });
    assert.ok(first.stored.containerId, 'the discard forgot the container');

    // Rescheduled with the same content: the retry finds the container published and posts nothing.
    const again = await adapter.publish!(attempt(first.stored).context);
    assert.equal(again.externalId, first.stored.containerId);
    assert.equal(requestsTo(sim, /\/media_publish$/).length, 1);
    assert.equal(sim.posts().length, 1);
  });
});

describe('the Facebook Page post duplicate guard', () => {
  const harness = harnessPerTest(startHarness);
  let credentials: MetaCredentials;
  const linkPost = { text: 'Autumn menu', link: 'https://acme.example/autumn' };
  const attempt = (
    content: TaskContent,
    progress: PublicationProgress = {},
    killAt?: { key: string; persisted: boolean },
  ) =>
    publication(harness.sim, {
      channel: 'facebook_post',
      content,
      account: pageAccount,
      credentials,
      progress,
      ...(killAt ? { killAt } : {}),
    });
  const feedPosts = () => requestsTo(harness.sim, /\/1001\/feed$/);
  const lookups = () => requestsTo(harness.sim, /\/1001\/posts$/, 'GET');
  const pageToken = () => credentials.pages[cafe.id]?.accessToken ?? '';

  beforeEach(async () => {
    credentials = (await connect(harness)).credentials;
  });

  const variants = [
    { name: 'a link post', content: linkPost as TaskContent, message: 'Autumn menu' },
    {
      name: 'a post with photos (the link in its text)',
      content: {
        ...linkPost,
        mediaUrls: ['https://cdn.acme.example/a.jpg', 'https://cdn.acme.example/b.jpg'],
      },
      message: 'Autumn menu\n\nhttps://acme.example/autumn',
    },
  ];
  for (const { name, content, message } of variants) {
    it(`${name}: killed right after Meta answered, the retry adopts that post and sends no second one`, async () => {
      const { sim, adapter, clock } = harness;
      const first = attempt(content, {}, { key: 'postId', persisted: false });
      await assert.rejects(adapter.publish!(first.context), WorkerKilled);
      const [post] = sim.posts();
      assert.equal(sim.posts().length, 1);
      assert.equal(post?.text, message);
      assert.equal(first.stored.postId, undefined, 'the post id was saved after all');
      const marker = first.stored.feedAttemptAt ?? '';
      assert.equal(marker, new Date(clock.now).toISOString());
      assertMarkerSavedBeforeFeed(sim, first);

      // Temporal's backoff before the next attempt, which gets only what the first one managed to save.
      clock.now += 90_000;
      const retry = attempt(content, first.stored);
      const published = await adapter.publish!(retry.context);
      assert.deepEqual(published, {
        externalId: post?.id,
        externalUrl: `https://www.facebook.com/${post?.id}`,
      });
      assert.equal(retry.stored.postId, post?.id);
      assert.equal(feedPosts().length, 1, 'a second /feed POST');
      assert.equal(sim.posts().length, 1);
      assert.equal(requestsTo(sim, /\/1001\/photos$/).length, 'mediaUrls' in content ? 2 : 0);

      const reads = lookups();
      assert.equal(reads.length, 1);
      assert.equal(reads[0]?.query.fields, 'id,message,created_time');
      assert.equal(reads[0]?.query.since, String(Math.floor((Date.parse(marker) - 5 * 60_000) / 1000)));
      assert.equal(reads[0]?.query.limit, '100');
      assert.equal(reads[0]?.query.access_token, undefined, 'a token in a URL');
      assert.equal(reads[0]?.headers.authorization, `Bearer ${pageToken()}`);
    });
  }

  it('a post an earlier attempt made is adopted even when the text was edited before the retry', async () => {
    const { sim, adapter, clock } = harness;
    const first = attempt(linkPost, {}, { key: 'postId', persisted: false });
    await assert.rejects(adapter.publish!(first.context), WorkerKilled);
    assert.equal(sim.posts().length, 1);
    // The task was edited back in draft and scheduled again: the new text never went out, the old one did.
    clock.now += 60_000;
    const retry = attempt({ ...linkPost, text: 'Autumn menu, now with soups' }, first.stored);
    const published = await adapter.publish!(retry.context);
    assert.equal(published.externalId, sim.posts()[0]?.id);
    assert.equal(feedPosts().length, 1, 'a second /feed POST');
  });

  it('a marker without a matching post (killed before /feed left) → the retry posts exactly once', async () => {
    const { sim, adapter, clock } = harness;
    // Last week's post in the very same words is older than the window: it is not this publication's.
    await adapter.publish!(attempt(linkPost).context);
    clock.now += 7 * 24 * 60 * 60 * 1000;
    const first = attempt(linkPost, {}, { key: 'feedAttemptAt', persisted: true });
    await assert.rejects(adapter.publish!(first.context), WorkerKilled);
    assert.ok(first.stored.feedAttemptAt, 'the marker was not kept');
    assert.equal(feedPosts().length, 1, 'the killed attempt posted');
    // Another post inside the window, in other words.
    clock.now += 30_000;
    await adapter.publish!(attempt({ text: 'Open late tonight' }).context);

    clock.now += 60_000;
    const retry = attempt(linkPost, first.stored);
    const published = await adapter.publish!(retry.context);
    assert.equal(lookups().length, 1);
    assert.equal(feedPosts().length, 3);
    const posts = sim.posts();
    assert.equal(posts.filter((post) => post.text === 'Autumn menu').length, 2);
    assert.equal(published.externalId, posts.at(-1)?.id);
    assert.equal(retry.stored.postId, published.externalId);
    assert.equal(retry.stored.feedAttemptAt, first.stored.feedAttemptAt, 'the first marker must stay');
  });

  it('follows paging.next by its cursor (not the token it carries) to reach the post', async () => {
    await harness.restart({ postsPageLimit: 2 });
    credentials = (await connect(harness)).credentials;
    const { sim, adapter, clock } = harness;
    const first = attempt(linkPost, {}, { key: 'postId', persisted: false });
    await assert.rejects(adapter.publish!(first.context), WorkerKilled);
    const ours = sim.posts()[0]?.id;
    // Three newer posts push ours onto the second page of the newest-first listing.
    for (const text of ['One', 'Two', 'Three']) {
      clock.now += 10_000;
      await adapter.publish!(attempt({ text }).context);
    }

    const retry = attempt(linkPost, first.stored);
    const published = await adapter.publish!(retry.context);
    assert.equal(published.externalId, ours);
    assert.equal(feedPosts().length, 4);
    const reads = lookups();
    assert.equal(reads.length, 2);
    assert.ok(reads[1]?.query.after, 'the second read has no cursor');
    assert.equal(reads[1]?.query.since, reads[0]?.query.since);
    assert.equal(reads[1]?.query.access_token, undefined, 'the token from paging.next went into a URL');
    assert.equal(reads[1]?.headers.authorization, `Bearer ${pageToken()}`);
  });

  it('a look-up Meta does not answer fails the attempt and posts nothing; the next attempt posts once', async () => {
    const { sim, adapter } = harness;
    const first = attempt(linkPost, {}, { key: 'feedAttemptAt', persisted: true });
    await assert.rejects(adapter.publish!(first.context), WorkerKilled);
    sim.failWith('transient', { path: /\/1001\/posts$/, method: 'GET' });
    const retry = attempt(linkPost, first.stored);
    await expectFailure(adapter.publish!(retry.context), 'TRANSIENT', secretsOf(credentials));
    assert.equal(feedPosts().length, 0);

    const again = attempt(linkPost, retry.stored);
    await adapter.publish!(again.context);
    assert.equal(lookups().length, 2);
    assert.equal(feedPosts().length, 1);
    assert.equal(sim.posts().length, 1);
  });

  it('the look-up needs the Page token, as Meta does (#210 → PERMISSION_REVOKED), and then posts nothing', async () => {
    const { adapter } = harness;
    const userTokenOnly: MetaCredentials = {
      ...credentials,
      pages: { [cafe.id]: { name: cafe.name, accessToken: credentials.userAccessToken } },
    };
    const run = publication(harness.sim, {
      channel: 'facebook_post',
      content: linkPost,
      account: pageAccount,
      credentials: userTokenOnly,
      progress: { feedAttemptAt: new Date(harness.clock.now).toISOString() },
    });
    const error = await expectFailure(
      adapter.publish!(run.context),
      'PERMISSION_REVOKED',
      secretsOf(credentials),
    );
    assert.equal(error.failure.platformCode, '210');
    assert.equal(feedPosts().length, 0);
  });

  it("the simulator lists a Page's posts in Meta's shape, newest first, with since, limit and paging", async () => {
    const { sim, adapter, clock } = harness;
    for (const text of ['First', 'Second', 'Third']) {
      await adapter.publish!(attempt({ text }).context);
      clock.now += 60_000;
    }
    const [firstPost, secondPost, thirdPost] = sim.posts();
    const graphTime = (date: Date | undefined) => date?.toISOString().replace(/\.\d{3}Z$/, '+0000');
    interface Listing {
      data?: Record<string, string>[];
      paging?: { cursors?: { before?: string; after?: string }; next?: string };
      error?: { code: number };
    }
    const read = async (url: string, token = pageToken()) => {
      const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      return { status: response.status, body: (await response.json()) as Listing };
    };

    // No fields asked: Meta's defaults. `since` leaves the oldest post out.
    const since = Math.floor((secondPost?.publishedAt.getTime() ?? 0) / 1000);
    const page1 = await read(`${sim.url}/${metaGraphVersion}/1001/feed?since=${since}&limit=1`);
    assert.equal(page1.status, 200);
    assert.deepEqual(page1.body.data, [
      { created_time: graphTime(thirdPost?.publishedAt), message: 'Third', id: thirdPost?.id },
    ]);
    assert.ok(page1.body.paging?.cursors?.after, 'no after cursor');
    const page2 = await read(page1.body.paging?.next ?? '');
    assert.deepEqual(page2.body.data, [
      { created_time: graphTime(secondPost?.publishedAt), message: 'Second', id: secondPost?.id },
    ]);
    assert.equal(page2.body.paging?.next, undefined, 'a next link past the posts since `since`');

    const posts = await read(`${sim.url}/${metaGraphVersion}/1001/posts?fields=id,permalink_url`);
    assert.deepEqual(posts.body.data, [
      { id: thirdPost?.id, permalink_url: `https://www.facebook.com/${thirdPost?.id}` },
      { id: secondPost?.id, permalink_url: `https://www.facebook.com/${secondPost?.id}` },
      { id: firstPost?.id, permalink_url: `https://www.facebook.com/${firstPost?.id}` },
    ]);

    const tooMany = await read(`${sim.url}/${metaGraphVersion}/1001/posts?limit=101`);
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.body.error?.code, 100);
    const userToken = await read(`${sim.url}/${metaGraphVersion}/1001/posts`, credentials.userAccessToken);
    assert.equal(userToken.body.error?.code, 210);
  });
});

describe('Meta errors', () => {
  const harness = harnessPerTest(startHarness);
  let credentials: MetaCredentials;
  const post = () =>
    publication(harness.sim, {
      channel: 'facebook_post',
      content: { text: 'Hello' },
      account: pageAccount,
      credentials,
    });

  beforeEach(async () => {
    credentials = (await connect(harness)).credentials;
  });

  const cases: { kind: MetaFailureKind; expected: PublicationErrorClass; platformCode: string }[] = [
    { kind: 'transient', expected: 'TRANSIENT', platformCode: '2' },
    { kind: 'rate_limited', expected: 'RATE_LIMITED', platformCode: '80001' },
    { kind: 'token_expired', expected: 'TOKEN_EXPIRED', platformCode: '190/463' },
    { kind: 'permission_revoked', expected: 'PERMISSION_REVOKED', platformCode: '200' },
    { kind: 'content_rejected', expected: 'CONTENT_REJECTED', platformCode: '368/1390008' },
  ];
  for (const { kind, expected, platformCode } of cases) {
    it(`${kind} on a Page post → ${expected}, after exactly one request`, async () => {
      const { sim, adapter } = harness;
      sim.failWith(kind, { path: /\/1001\/feed$/ });
      const run = post();
      const error = await expectFailure(adapter.publish!(run.context), expected, secretsOf(credentials));
      assert.equal(error.failure.platformCode, platformCode);
      assert.equal(requestsTo(sim, /\/feed$/).length, 1);
      assert.equal(sim.posts().length, 0);
      if (kind === 'rate_limited') assert.equal(error.failure.retryAfterMs, 5 * 60_000);
      if (kind === 'content_rejected') assert.match(error.message, /Community Standards/);
    });
  }

  it('rate_limited on Instagram → RATE_LIMITED (80002) with the usage header delay', async () => {
    const { sim, adapter } = harness;
    sim.failWith('rate_limited', { path: /\/media$/, method: 'POST' });
    const run = publication(sim, {
      channel: 'instagram_story',
      content: { mediaUrl: 'https://cdn.acme.example/story.jpg' },
      account: instagramAccount,
      credentials,
    });
    const error = await expectFailure(adapter.publish!(run.context), 'RATE_LIMITED', secretsOf(credentials));
    assert.equal(error.failure.platformCode, '80002');
    assert.equal(error.failure.retryAfterMs, 5 * 60_000);
    assert.equal(requestsTo(sim, /\/media$/).length, 1);
  });

  it('tokens the simulator expired → TOKEN_EXPIRED 190, on publishing and on discovery', async () => {
    const { sim, adapter } = harness;
    sim.expireTokens();
    const error = await expectFailure(
      adapter.publish!(post().context),
      'TOKEN_EXPIRED',
      secretsOf(credentials),
    );
    assert.equal(error.failure.platformCode, '190/463');
    await expectFailure(
      adapter.discover(credentials.userAccessToken),
      'TOKEN_EXPIRED',
      secretsOf(credentials),
    );
    assert.equal(requestsTo(sim, /\/feed$/).length, 1);
  });

  it('a user token on a Page post is refused like Meta does → PERMISSION_REVOKED', async () => {
    const { sim, adapter } = harness;
    const userTokenOnly: MetaCredentials = {
      ...credentials,
      pages: { '1001': { name: cafe.name, accessToken: credentials.userAccessToken } },
    };
    const run = publication(sim, {
      channel: 'facebook_post',
      content: { text: 'Hello' },
      account: pageAccount,
      credentials: userTokenOnly,
    });
    const error = await expectFailure(
      adapter.publish!(run.context),
      'PERMISSION_REVOKED',
      secretsOf(credentials),
    );
    assert.equal(error.failure.platformCode, '200');
  });

  it('an error body with is_transient: true is TRANSIENT whatever its code', async () => {
    const { sim, adapter } = harness;
    sim.failNext({
      path: /\/feed$/,
      response: {
        status: 400,
        body: {
          error: {
            message: 'Please reduce the amount of data',
            type: 'OAuthException',
            code: 100,
            is_transient: true,
          },
        },
      },
    });
    await expectFailure(adapter.publish!(post().context), 'TRANSIENT', secretsOf(credentials));
    assert.equal(requestsTo(sim, /\/feed$/).length, 1);
  });

  it('a network error (nothing listening) is TRANSIENT and names no secret', async () => {
    const { port } = new URL(await closedBaseUrl());
    const offline = createMetaAdapter({
      apiBaseUrl: `http://127.0.0.1:${port}`,
      authBaseUrl: `http://127.0.0.1:${port}`,
      clientId,
      clientSecret,
      containerPoll: fastPoll,
    });
    const error = await expectFailure(offline.publish!(post().context), 'TRANSIENT', secretsOf(credentials));
    assert.match(error.message, /could not be reached/);
    await expectFailure(offline.exchangeCode({ code: 'some-code-value', redirectUri }), 'TRANSIENT', [
      clientSecret,
      'some-code-value',
    ]);
  });
});

describe('mapMetaError', () => {
  const body = (error: Record<string, unknown>) => ({ error: { type: 'OAuthException', ...error } });
  const none = new Headers();

  it('maps each documented code onto its class', () => {
    const table: [number, PublicationErrorClass][] = [
      [190, 'TOKEN_EXPIRED'],
      [102, 'TOKEN_EXPIRED'],
      [10, 'PERMISSION_REVOKED'],
      [200, 'PERMISSION_REVOKED'],
      [299, 'PERMISSION_REVOKED'],
      [4, 'RATE_LIMITED'],
      [17, 'RATE_LIMITED'],
      [32, 'RATE_LIMITED'],
      [613, 'RATE_LIMITED'],
      [80001, 'RATE_LIMITED'],
      [80002, 'RATE_LIMITED'],
      [368, 'CONTENT_REJECTED'],
      [506, 'CONTENT_REJECTED'],
      [1609005, 'CONTENT_REJECTED'],
      [1, 'TRANSIENT'],
      [2, 'TRANSIENT'],
      [100, 'INVALID_REQUEST'],
    ];
    for (const [code, expected] of table) {
      assert.equal(mapMetaError(400, body({ code, message: 'x' }), none).class, expected, `code ${code}`);
    }
  });

  it('every Business Use Case limit, 80000 to 80014, is RATE_LIMITED (80004: ads management)', () => {
    for (let code = 80000; code <= 80014; code += 1) {
      const failure = mapMetaError(400, body({ code, message: 'x' }), none);
      assert.equal(failure.class, 'RATE_LIMITED', `code ${code}`);
      assert.equal(failure.platformCode, String(code));
    }
    assert.equal(mapMetaError(400, body({ code: 80015, message: 'x' }), none).class, 'INVALID_REQUEST');
  });

  it('falls back on the HTTP status, and is_transient wins over the code', () => {
    assert.equal(mapMetaError(503, null, none).class, 'TRANSIENT');
    assert.equal(mapMetaError(500, body({ code: 12345, message: 'x' }), none).class, 'TRANSIENT');
    assert.equal(mapMetaError(404, 'not json', none).class, 'INVALID_REQUEST');
    assert.equal(
      mapMetaError(400, body({ code: 190, is_transient: true, message: 'x' }), none).class,
      'TRANSIENT',
    );
  });

  it('prefers error_user_msg and names the code with its subcode', () => {
    const failure = mapMetaError(
      400,
      body({ code: 190, error_subcode: 463, message: 'Session has expired', error_user_msg: 'Log in again' }),
      none,
    );
    assert.deepEqual(failure, { class: 'TOKEN_EXPIRED', message: 'Log in again', platformCode: '190/463' });
    assert.equal(mapMetaError(400, body({ code: 100, message: 'Bad param' }), none).message, 'Bad param');
  });

  it('reads the rate-limit delay from X-Business-Use-Case-Usage, else waits a default minute', () => {
    const usage = new Headers({
      'X-Business-Use-Case-Usage': JSON.stringify({
        '1001': [{ type: 'pages', call_count: 100, estimated_time_to_regain_access: 3 }],
        '17841400000000001': [{ type: 'instagram', call_count: 90, estimated_time_to_regain_access: 12 }],
      }),
    });
    assert.equal(mapMetaError(400, body({ code: 80001, message: 'x' }), usage).retryAfterMs, 12 * 60_000);
    assert.equal(mapMetaError(400, body({ code: 4, message: 'x' }), none).retryAfterMs, 60_000);
    const garbled = new Headers({ 'X-Business-Use-Case-Usage': '{nope' });
    assert.equal(mapMetaError(400, body({ code: 17, message: 'x' }), garbled).retryAfterMs, 60_000);
  });
});
