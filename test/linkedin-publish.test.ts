// The LinkedIn adapter publishing against the LinkedIn simulator over real HTTP: one post per publication as
// the organization, images through the Images API (kept and reused on retry), the duplicate guard after a lost
// answer, every LinkedIn refusal in its publication error class, and the linkedin_post content rules.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  createLinkedInAdapter,
  type LinkedInAdapter,
  type LinkedInCredentials,
  linkedinApiVersion,
  mapLinkedInError,
  toLittleText,
} from '../connectors/linkedin.ts';
import type { PublicationContext, PublicationProgress } from '../connectors/types.ts';
import { parseTaskContent, type TaskContent } from '../domain/content.ts';
import type { PublicationErrorClass } from '../domain/publication-errors.ts';
import { type LinkedInSimulator, startLinkedInSimulator } from '../sandbox/linkedin.ts';
import { expectFailureHiding, followConsent, harnessPerTest } from './support/adapter-harness.ts';

const clientId = 'glowtify-test-linkedin';
const clientSecret = 'glowtify-test-linkedin-secret-9c1d';
const expectFailure = expectFailureHiding([clientSecret]);
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/linkedin/callback';
const cafe = 'urn:li:organization:1001';
const journal = 'urn:li:organization:1006';
const sponsored = 'urn:li:organization:1007';
const fans = 'urn:li:organization:1004';

// Media as a CDN serves it. GIFs written in ASCII arrive byte for byte in the simulator's text record.
const gif = (label: string) => `GIF89a-${label}-pixels`;
const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.alloc(300, 7),
]);
let mediaServer: Server;
let media = '';
const mediaHits: string[] = [];

before(async () => {
  mediaServer = createServer((request, response) => {
    const path = request.url ?? '/';
    mediaHits.push(path);
    const file = /^\/(\w+)\.gif$/.exec(path)?.[1];
    if (file) {
      response.writeHead(200, { 'content-type': 'image/gif' });
      response.end(gif(file));
    } else if (path === '/photo.png') {
      // A CDN that does not say what it serves: the bytes decide.
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.end(png);
    } else if (path === '/page.html') {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end('<html>not an image</html>');
    } else if (path === '/busy.jpg') {
      response.writeHead(503);
      response.end();
    } else {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise<void>((resolve) => mediaServer.listen(0, '127.0.0.1', resolve));
  media = `http://127.0.0.1:${(mediaServer.address() as AddressInfo).port}`;
});
after(
  () =>
    new Promise<void>((resolve) => {
      mediaServer.closeAllConnections();
      mediaServer.close(() => resolve());
    }),
);

interface Harness {
  sim: LinkedInSimulator;
  adapter: LinkedInAdapter;
  /** One clock for both sides: what the adapter dates (its marker) lines up with LinkedIn's createdAt. */
  clock: { now: number };
  credentials: LinkedInCredentials;
}

async function startHarness(
  options: Parameters<typeof startLinkedInSimulator>[0] = {},
  postsLookup?: { pageSize: number; maxPages: number },
): Promise<Harness> {
  const clock = { now: Date.now() };
  const sim = await startLinkedInSimulator({
    clientId,
    clientSecret,
    redirectUris: [redirectUri],
    organizations: [
      { id: 1001, localizedName: 'Glow Café', vanityName: 'glow-cafe' },
      { id: 1004, localizedName: 'Glow Fans', vanityName: 'glow-fans', role: 'ANALYST' },
      { id: 1006, localizedName: 'Glow Journal', vanityName: 'glow-journal', role: 'CONTENT_ADMINISTRATOR' },
      {
        id: 1007,
        localizedName: 'Glow Ads',
        vanityName: 'glow-ads',
        role: 'DIRECT_SPONSORED_CONTENT_POSTER',
      },
    ],
    now: () => new Date(clock.now),
    ...options,
  });
  const adapter = createLinkedInAdapter({
    apiBaseUrl: sim.url,
    authBaseUrl: sim.url,
    clientId,
    clientSecret,
    now: () => new Date(clock.now),
    // The media host of these tests is on loopback.
    allowPrivateMediaHosts: true,
    ...(postsLookup ? { postsLookup } : {}),
  });
  const { query } = await followConsent(adapter.connector.authorizeUrl({ state: 's', redirectUri }));
  const connection = await adapter.connector.completeConsent({ code: query.code ?? '', redirectUri, query });
  return { sim, adapter, clock, credentials: connection.credentials };
}

class WorkerKilled extends Error {
  override name = 'WorkerKilled';
}

interface Run {
  context: PublicationContext<LinkedInCredentials>;
  /** Progress as the caller persists it (merged, like the jsonb `||` update). */
  stored: PublicationProgress;
  /** Each save, with how many requests the simulator had received at that moment. */
  saves: { update: PublicationProgress; requestsBefore: number }[];
  goingLive: () => number;
}

/**
 * One attempt of a publication. `killAt`: the worker dies at the save that carries this key, after the save
 * reached the database (persisted) or before it did; either way the attempt ends there.
 */
function attempt(
  harness: Harness,
  content: TaskContent,
  progress: PublicationProgress = {},
  options: { account?: string; killAt?: { key: string; persisted: boolean } } = {},
): Run {
  const { sim } = harness;
  const stored: PublicationProgress = { ...progress };
  const saves: Run['saves'] = [];
  let goingLive = 0;
  return {
    stored,
    saves,
    goingLive: () => goingLive,
    context: {
      taskId: 'task-1',
      channel: 'linkedin_post',
      content,
      contentDigest: JSON.stringify(content),
      account: { kind: 'linkedin_organization', externalId: options.account ?? cafe },
      credentials: harness.credentials,
      progress: { ...stored },
      async beforeGoingLive() {
        goingLive += 1;
      },
      async saveProgress(update) {
        saves.push({ update: { ...update }, requestsBefore: sim.received.length });
        const kill = options.killAt && options.killAt.key in update ? options.killAt : undefined;
        if (kill && !kill.persisted) throw new WorkerKilled();
        Object.assign(stored, update);
        if (kill) throw new WorkerKilled();
      },
      heartbeat() {},
    },
  };
}

const secretsOf = (credentials: LinkedInCredentials) =>
  [credentials.accessToken, credentials.refreshToken].filter((value): value is string => Boolean(value));
const postRequests = (sim: LinkedInSimulator) => sim.receivedMatching(/^\/rest\/posts$/, 'POST');
const lookups = (sim: LinkedInSimulator) => sim.receivedMatching(/^\/rest\/posts$/, 'GET');
const initializations = (sim: LinkedInSimulator) => sim.receivedMatching('/rest/images', 'POST');
const uploads = (sim: LinkedInSimulator) => sim.receivedMatching('/dms-uploads/', 'PUT');

/** The marker must be persisted before the post leaves, or a crash in between could post twice. */
function assertMarkerSavedBeforePost(sim: LinkedInSimulator, run: Run) {
  const markerSave = run.saves.find((save) => save.update.postAttemptAt);
  assert.ok(markerSave, 'the postAttemptAt marker was never saved');
  const postIndex = sim.received.findIndex(
    (request) => request.method === 'POST' && request.path === '/rest/posts',
  );
  assert.ok(postIndex !== -1, 'the post was never sent');
  assert.ok(postIndex >= markerSave.requestsBefore, 'the post was sent before the marker was saved');
}

const linkPost = { text: 'Autumn menu (new)', link: 'https://acme.example/autumn' };

describe('LinkedIn publishing', () => {
  const harness = harnessPerTest(startHarness);

  it('a text post goes out once as the organization, with the pinned version; a retry with its progress sends nothing', async () => {
    const { sim, adapter, clock, credentials } = harness;
    const first = attempt(harness, linkPost);
    const published = await adapter.publish!(first.context);

    const [post, ...others] = sim.posts();
    assert.ok(post, 'no post on LinkedIn');
    assert.deepEqual(others, []);
    assert.deepEqual(post.body, {
      author: cafe,
      // The link rides at the end of the commentary; parentheses are escaped as little text wants.
      commentary: 'Autumn menu \\(new\\)\n\nhttps://acme.example/autumn',
      visibility: 'PUBLIC',
      distribution: { feedDistribution: 'MAIN_FEED', targetEntities: [], thirdPartyDistributionChannels: [] },
      lifecycleState: 'PUBLISHED',
      isReshareDisabledByAuthor: false,
    });
    assert.match(post.id, /^urn:li:share:\d{19}$/);
    assert.deepEqual(published, {
      externalId: post.id,
      externalUrl: `https://www.linkedin.com/feed/update/${post.id}/`,
    });
    const [request] = postRequests(sim);
    assert.equal(request?.headers['linkedin-version'], linkedinApiVersion);
    assert.equal(request?.headers['x-restli-protocol-version'], '2.0.0');
    assert.equal(request?.headers.authorization, `Bearer ${credentials.accessToken}`);
    assert.equal(first.goingLive(), 1);
    assert.equal(first.stored.postUrn, post.id);
    assert.equal(first.stored.postAttemptAt, new Date(clock.now).toISOString());
    assert.match(
      first.stored.postCommentaries ?? '',
      /^[\w-]{16}$/,
      'the text sent is remembered as a digest',
    );
    assertMarkerSavedBeforePost(sim, first);
    // A first attempt has nothing to look up.
    assert.equal(lookups(sim).length, 0);

    const before = sim.received.length;
    assert.deepEqual(await adapter.publish!(attempt(harness, linkPost, first.stored).context), published);
    assert.equal(sim.received.length, before, 'the retry sent a request');
    assert.equal(sim.posts().length, 1);
  });

  it('posts for every role that may post (content administrator, sponsored content poster); another role is refused', async () => {
    const { sim, adapter, credentials } = harness;
    for (const account of [journal, sponsored]) {
      const published = await adapter.publish!(attempt(harness, { text: 'Hello' }, {}, { account }).context);
      assert.equal(sim.posts().find((post) => post.id === published.externalId)?.author, account);
    }
    // An analyst may read the page's numbers but not post: LinkedIn's 403, a role to fix then a reconnect.
    const error = await expectFailure(
      adapter.publish!(attempt(harness, { text: 'Hello' }, {}, { account: fans }).context),
      'PERMISSION_REVOKED',
      secretsOf(credentials),
    );
    assert.equal(error.failure.platformCode, '100');
    assert.equal(sim.posts().length, 2);
  });

  it('one image: fetched, registered as the organization’s, uploaded, then referenced by content.media.id', async () => {
    const { sim, adapter, credentials } = harness;
    const content = { text: 'Our new shop', mediaUrls: [`${media}/front.gif`] };
    const run = attempt(harness, content);
    const published = await adapter.publish!(run.context);

    const [image, ...moreImages] = sim.images();
    assert.deepEqual(moreImages, []);
    assert.equal(image?.owner, cafe);
    assert.equal(image?.status, 'AVAILABLE');
    assert.equal(image?.uploaded?.text, gif('front'), 'the bytes LinkedIn got are the media’s');
    assert.deepEqual(initializations(sim)[0]?.body, { initializeUploadRequest: { owner: cafe } });
    assert.equal(initializations(sim)[0]?.query.action, 'initializeUpload');
    const [put] = uploads(sim);
    assert.equal(put?.headers.authorization, `Bearer ${credentials.accessToken}`);
    const [post] = sim.posts();
    assert.deepEqual(post?.content, { media: { id: image?.urn } });
    assert.match(published.externalId, /^urn:li:ugcPost:\d+$/);
    assert.equal(run.stored.imageUrns, image?.urn);
    assert.equal(run.stored.contentDigest, run.context.contentDigest);
  });

  it('several images make one multi-image post, in the task’s order; binary files go up intact', async () => {
    const { sim, adapter } = harness;
    const mediaUrls = [`${media}/one.gif`, `${media}/photo.png`, `${media}/three.gif`];
    const run = attempt(harness, { text: 'Three views', mediaUrls });
    await adapter.publish!(run.context);
    const registered = sim.images();
    assert.equal(registered.length, 3);
    assert.equal(registered[1]?.uploaded?.bytes, png.length);
    const [post, ...others] = sim.posts();
    assert.deepEqual(others, []);
    assert.deepEqual(post?.content, {
      multiImage: { images: registered.map((image) => ({ id: image.urn })) },
    });
    assert.equal(run.stored.imageUrns, registered.map((image) => image.urn).join(','));
  });

  it('a retry reuses the images already up (saved as each arrived) and uploads only the rest', async () => {
    const { sim, adapter } = harness;
    const content = { text: 'Two views', mediaUrls: [`${media}/left.gif`, `${media}/right.gif`] };
    // Killed right after the first image's URN was saved.
    const first = attempt(harness, content, {}, { killAt: { key: 'imageUrns', persisted: true } });
    await assert.rejects(adapter.publish!(first.context), WorkerKilled);
    const [kept] = sim.images();
    assert.equal(first.stored.imageUrns, kept?.urn);

    const retry = attempt(harness, content, first.stored);
    await adapter.publish!(retry.context);
    const registered = sim.images();
    assert.equal(registered.length, 2, 'the first image was uploaded again');
    assert.deepEqual(sim.posts()[0]?.content, {
      multiImage: { images: [{ id: kept?.urn }, { id: registered[1]?.urn }] },
    });
    assert.equal(mediaHits.filter((path) => path === '/left.gif').length, 1);
  });

  it('images uploaded for content since edited are not reused', async () => {
    const { sim, adapter } = harness;
    const old = { text: 'Old', mediaUrls: [`${media}/old.gif`] };
    const first = attempt(harness, old, {}, { killAt: { key: 'imageUrns', persisted: true } });
    await assert.rejects(adapter.publish!(first.context), WorkerKilled);
    const edited = { text: 'New', mediaUrls: [`${media}/new.gif`] };
    const retry = attempt(harness, edited, first.stored);
    await adapter.publish!(retry.context);
    const [, fresh] = sim.images();
    assert.equal(fresh?.uploaded?.text, gif('new'));
    assert.deepEqual(sim.posts()[0]?.content, { media: { id: fresh?.urn } });
    assert.equal(retry.stored.contentDigest, retry.context.contentDigest);
  });

  it('a media file that is missing or not an image is the task’s to fix; a busy media host may be tried again', async () => {
    const { sim, adapter, credentials } = harness;
    const cases: [string, PublicationErrorClass, string][] = [
      ['/missing.jpg', 'INVALID_REQUEST', 'media:404'],
      ['/page.html', 'INVALID_REQUEST', 'media:not_an_image'],
      ['/busy.jpg', 'TRANSIENT', 'media:503'],
    ];
    for (const [path, expected, code] of cases) {
      const run = attempt(harness, { text: 'Look', mediaUrls: [`${media}${path}`] });
      const error = await expectFailure(adapter.publish!(run.context), expected, secretsOf(credentials));
      assert.equal(error.failure.platformCode, code);
      assert.match(error.message, /media/);
    }
    assert.equal(initializations(sim).length, 0, 'an image was registered for a file that never came');
    assert.equal(postRequests(sim).length, 0);
  });

  it('a media URL on a private or loopback address is refused unless the deployment allows it: the task’s to fix', async () => {
    const { sim, credentials } = harness;
    const guarded = createLinkedInAdapter({
      apiBaseUrl: sim.url,
      authBaseUrl: sim.url,
      clientId,
      clientSecret,
    });
    const hitsBefore = mediaHits.length;
    for (const url of [`${media}/front.gif`, 'http://10.0.0.7/photo.jpg', 'http://[::1]:9/photo.jpg']) {
      const run = attempt(harness, { text: 'Look', mediaUrls: [url] });
      const error = await expectFailure(
        guarded.publish!(run.context),
        'INVALID_REQUEST',
        secretsOf(credentials),
      );
      assert.equal(error.failure.platformCode, 'media:private_host');
    }
    assert.equal(mediaHits.length, hitsBefore, 'the loopback media host was never asked');
    assert.equal(postRequests(sim).length, 0);
  });

  it('a target that is not a LinkedIn organization is refused before any request', async () => {
    const { sim, adapter } = harness;
    const run = attempt(harness, { text: 'Hi' });
    const before = sim.received.length;
    await expectFailure(
      adapter.publish!({ ...run.context, account: { kind: 'facebook_page', externalId: '1001' } }),
      'INVALID_REQUEST',
    );
    assert.equal(sim.received.length, before);
  });
});

describe('the LinkedIn duplicate guard', () => {
  const harness = harnessPerTest(startHarness);

  const variants = [
    { name: 'a text post', content: (): TaskContent => linkPost },
    {
      name: 'a post with images',
      content: (): TaskContent => ({ ...linkPost, mediaUrls: [`${media}/a.gif`, `${media}/b.gif`] }),
    },
    // LinkedIn reads hashtags back as templates ({hashtag|\#|menu}): the look-up must still see the text sent.
    {
      name: 'a post with hashtags',
      content: (): TaskContent => ({ ...linkPost, text: 'Our #autumn #menu is here' }),
    },
  ];
  for (const variant of variants) {
    it(`${variant.name}: the answer to the post lost, the retry finds the post and sends no second one`, async () => {
      const { sim, adapter, clock, credentials } = harness;
      const content = variant.content();
      sim.dropAnswerNext({ path: /^\/rest\/posts$/, method: 'POST' });
      const first = attempt(harness, content);
      await expectFailure(adapter.publish!(first.context), 'TRANSIENT', secretsOf(credentials));
      const [post, ...others] = sim.posts();
      assert.ok(post, 'the post was not made');
      assert.deepEqual(others, []);
      assert.equal(first.stored.postUrn, undefined);
      assertMarkerSavedBeforePost(sim, first);

      // Temporal's backoff before the next attempt, which gets only what the first one saved.
      clock.now += 90_000;
      const retry = attempt(harness, content, first.stored);
      const published = await adapter.publish!(retry.context);
      assert.deepEqual(published, {
        externalId: post.id,
        externalUrl: `https://www.linkedin.com/feed/update/${post.id}/`,
      });
      assert.equal(retry.stored.postUrn, post.id);
      assert.equal(retry.goingLive(), 0, 'the retry went live again');
      assert.equal(postRequests(sim).length, 1, 'a second POST /rest/posts');
      assert.equal(sim.posts().length, 1);
      assert.equal(uploads(sim).length, 'mediaUrls' in content ? 2 : 0, 'images uploaded again');

      const [read, ...moreReads] = lookups(sim);
      assert.deepEqual(moreReads, []);
      assert.equal(read?.query.q, 'author');
      assert.equal(read?.query.author, cafe);
      assert.equal(read?.query.sortBy, 'CREATED');
      assert.equal(read?.headers['linkedin-version'], linkedinApiVersion);
      assert.equal(read?.headers['x-restli-protocol-version'], '2.0.0');
      assert.equal(read?.headers.authorization, `Bearer ${credentials.accessToken}`);
    });
  }

  it('killed right after LinkedIn answered (the URN never saved): the retry adopts that post', async () => {
    const { sim, adapter, clock } = harness;
    const first = attempt(harness, linkPost, {}, { killAt: { key: 'postUrn', persisted: false } });
    await assert.rejects(adapter.publish!(first.context), WorkerKilled);
    clock.now += 60_000;
    const published = await adapter.publish!(attempt(harness, linkPost, first.stored).context);
    assert.equal(published.externalId, sim.posts()[0]?.id);
    assert.equal(postRequests(sim).length, 1);
  });

  it('a post an earlier attempt made is adopted even when the text was edited before the retry', async () => {
    const { sim, adapter, clock } = harness;
    const first = attempt(harness, linkPost, {}, { killAt: { key: 'postUrn', persisted: false } });
    await assert.rejects(adapter.publish!(first.context), WorkerKilled);
    clock.now += 60_000;
    const edited = { ...linkPost, text: 'Autumn menu, now with soups', mediaUrls: [`${media}/soup.gif`] };
    const published = await adapter.publish!(attempt(harness, edited, first.stored).context);
    assert.equal(published.externalId, sim.posts()[0]?.id);
    assert.equal(postRequests(sim).length, 1, 'a second POST /rest/posts');
    // Looked up before anything went up: the post found needs no image.
    assert.equal(initializations(sim).length, 0);
  });

  it('a marker without a matching post (killed before the post left) → the retry posts exactly once', async () => {
    const { sim, adapter, clock } = harness;
    // Last week's post in the very same words is older than the window: it is not this publication's.
    await adapter.publish!(attempt(harness, linkPost).context);
    clock.now += 7 * 24 * 60 * 60 * 1000;
    const first = attempt(harness, linkPost, {}, { killAt: { key: 'postAttemptAt', persisted: true } });
    await assert.rejects(adapter.publish!(first.context), WorkerKilled);
    assert.equal(postRequests(sim).length, 1, 'the killed attempt posted');
    // Another post inside the window, in other words.
    clock.now += 30_000;
    await adapter.publish!(attempt(harness, { text: 'Open late tonight' }).context);

    clock.now += 60_000;
    const retry = attempt(harness, linkPost, first.stored);
    const published = await adapter.publish!(retry.context);
    assert.equal(lookups(sim).length, 1);
    assert.equal(postRequests(sim).length, 3);
    assert.equal(published.externalId, sim.posts().at(-1)?.id);
    assert.equal(retry.stored.postAttemptAt, first.stored.postAttemptAt, 'the first marker must stay');
  });

  it('pages through the organization’s newer posts to reach the one it made', async () => {
    await harness.restart({}, { pageSize: 2, maxPages: 5 });
    const { sim, adapter, clock } = harness;
    const first = attempt(harness, linkPost, {}, { killAt: { key: 'postUrn', persisted: false } });
    await assert.rejects(adapter.publish!(first.context), WorkerKilled);
    const ours = sim.posts()[0]?.id;
    for (const text of ['One', 'Two', 'Three']) {
      clock.now += 10_000;
      await adapter.publish!(attempt(harness, { text }).context);
    }
    const published = await adapter.publish!(attempt(harness, linkPost, first.stored).context);
    assert.equal(published.externalId, ours);
    assert.deepEqual(
      lookups(sim).map((request) => [request.query.start, request.query.count]),
      [
        ['0', '2'],
        ['2', '2'],
      ],
    );
    assert.equal(postRequests(sim).length, 4);
  });

  it('a look-up LinkedIn does not answer fails the attempt and posts nothing; the next attempt posts once', async () => {
    const { sim, adapter, credentials } = harness;
    const first = attempt(harness, linkPost, {}, { killAt: { key: 'postAttemptAt', persisted: true } });
    await assert.rejects(adapter.publish!(first.context), WorkerKilled);
    sim.failWith('transient', { path: /^\/rest\/posts$/, method: 'GET' });
    const retry = attempt(harness, linkPost, first.stored);
    await expectFailure(adapter.publish!(retry.context), 'TRANSIENT', secretsOf(credentials));
    assert.equal(postRequests(sim).length, 0);

    await adapter.publish!(attempt(harness, linkPost, retry.stored).context);
    assert.equal(lookups(sim).length, 2);
    assert.equal(sim.posts().length, 1);
  });

  it('a look-up LinkedIn forbids (a connection without r_organization_social) stops this post without a reconnect and posts nothing', async () => {
    const { sim, adapter, credentials } = harness;
    const first = attempt(harness, linkPost, {}, { killAt: { key: 'postAttemptAt', persisted: true } });
    await assert.rejects(adapter.publish!(first.context), WorkerKilled);
    sim.failNext({
      path: /^\/rest\/posts$/,
      method: 'GET',
      response: {
        status: 403,
        body: {
          status: 403,
          serviceErrorCode: 100,
          code: 'ACCESS_DENIED',
          message: 'Not enough permissions to access: partnerApiPostsExternal.FINDER-author',
        },
      },
    });
    const retry = attempt(harness, linkPost, first.stored);
    const error = await expectFailure(
      adapter.publish!(retry.context),
      'INVALID_REQUEST',
      secretsOf(credentials),
    );
    assert.equal(error.failure.platformCode, 'lookup_forbidden');
    assert.equal(postRequests(sim).length, 0, 'nothing posted blind');
  });

  it('LinkedIn calling the retry a duplicate of the post the lost answer made (not yet listed) → that post is adopted', async () => {
    const { sim, adapter, clock } = harness;
    sim.dropAnswerNext({ path: /^\/rest\/posts$/, method: 'POST' });
    const first = attempt(harness, linkPost);
    await assert.rejects(adapter.publish!(first.context));
    const made = sim.posts()[0]?.id;
    // The finder does not list it yet.
    sim.failNext({
      path: /^\/rest\/posts$/,
      method: 'GET',
      response: { status: 200, body: { paging: { start: 0, count: 0, links: [], total: 0 }, elements: [] } },
    });
    clock.now += 30_000;
    const published = await adapter.publish!(attempt(harness, linkPost, first.stored).context);
    assert.equal(published.externalId, made);
    assert.equal(postRequests(sim).length, 2, 'the second POST was refused as a duplicate');
    assert.equal(sim.posts().length, 1);
    assert.equal(sim.receivedMatching(`/rest/posts/${encodeURIComponent(made ?? '')}`, 'GET').length, 1);
  });

  it('a duplicate of a post this publication did not make is CONTENT_REJECTED (DUPLICATE_POST), nothing adopted', async () => {
    const { sim, adapter, credentials } = harness;
    await adapter.publish!(attempt(harness, linkPost).context);
    const error = await expectFailure(
      adapter.publish!(attempt(harness, linkPost).context),
      'CONTENT_REJECTED',
      secretsOf(credentials),
    );
    assert.equal(error.failure.platformCode, 'DUPLICATE_POST');
    assert.match(error.message, /duplicate of urn:li:share:\d+/);
    assert.equal(sim.receivedMatching(/^\/rest\/posts\/urn/, 'GET').length, 0);
    assert.equal(sim.posts().length, 1);
  });
});

describe('LinkedIn publishing errors', () => {
  const harness = harnessPerTest(startHarness);

  const cases: { kind: Parameters<LinkedInSimulator['failWith']>[0]; expected: PublicationErrorClass }[] = [
    { kind: 'token_expired', expected: 'TOKEN_EXPIRED' },
    { kind: 'permission_revoked', expected: 'PERMISSION_REVOKED' },
    { kind: 'rate_limited', expected: 'RATE_LIMITED' },
    { kind: 'transient', expected: 'TRANSIENT' },
  ];
  for (const { kind, expected } of cases) {
    it(`${kind} on the post → ${expected}, after exactly one request, nothing posted`, async () => {
      const { sim, adapter, credentials } = harness;
      sim.failWith(kind, { path: /^\/rest\/posts$/, method: 'POST' });
      const before = sim.received.length;
      await expectFailure(
        adapter.publish!(attempt(harness, { text: 'Hi' }).context),
        expected,
        secretsOf(credentials),
      );
      assert.equal(sim.received.length, before + 1);
      assert.equal(sim.posts().length, 0);
    });
  }

  it('a token past its end → LinkedIn’s 401 EXPIRED_ACCESS_TOKEN (65602) → TOKEN_EXPIRED', async () => {
    const { adapter, clock, credentials } = harness;
    // LinkedIn's access tokens live 60 days.
    clock.now += 5_184_001_000;
    const error = await expectFailure(
      adapter.publish!(attempt(harness, { text: 'Late' }).context),
      'TOKEN_EXPIRED',
      secretsOf(credentials),
    );
    assert.equal(error.failure.platformCode, '65602');
  });

  it('a 429 with a Retry-After → RATE_LIMITED after that delay; without one, no delay is made up', async () => {
    const { sim, adapter } = harness;
    sim.failNext({
      path: /^\/rest\/images$/,
      method: 'POST',
      response: {
        status: 429,
        headers: { 'retry-after': '120' },
        body: { status: 429, serviceErrorCode: 101, code: 'TOO_MANY_REQUESTS', message: 'Throttled' },
      },
    });
    const run = attempt(harness, { text: 'Pic', mediaUrls: [`${media}/pic.gif`] });
    const error = await expectFailure(adapter.publish!(run.context), 'RATE_LIMITED');
    assert.equal(error.failure.retryAfterMs, 120_000);
    sim.failWith('rate_limited', { path: /^\/rest\/posts$/, method: 'POST' });
    const plain = await expectFailure(
      adapter.publish!(attempt(harness, { text: 'Hi' }).context),
      'RATE_LIMITED',
    );
    assert.equal(plain.failure.retryAfterMs, undefined);
  });

  it('a sunset version → 426 → INVALID_REQUEST naming the version: a reconnect cannot fix it', async () => {
    const { sim, adapter } = harness;
    sim.serveVersions({ oldest: '202608', newest: '202707' });
    const error = await expectFailure(
      adapter.publish!(attempt(harness, { text: 'Hi' }).context),
      'INVALID_REQUEST',
    );
    assert.equal(error.failure.platformCode, 'NONEXISTENT_VERSION');
    assert.match(error.message, new RegExp(`LinkedIn-Version ${linkedinApiVersion}`));
    assert.equal(sim.posts().length, 0);
  });

  it('a refused commentary is CONTENT_REJECTED; a refused field of ours, or a 400, is INVALID_REQUEST', async () => {
    const { sim, adapter } = harness;
    const refusal = (status: number, field: string) => ({
      status,
      body: {
        status,
        message: `com.linkedin.restli.server.RestLiServiceException [HTTP Status:${status}]: ERROR :: ${field} :: invalid\n`,
      },
    });
    const expectations: [number, string, PublicationErrorClass][] = [
      [422, '/commentary', 'CONTENT_REJECTED'],
      [422, '/distribution', 'INVALID_REQUEST'],
      [400, '/visibility', 'INVALID_REQUEST'],
    ];
    for (const [status, field, expected] of expectations) {
      sim.failNext({ path: /^\/rest\/posts$/, method: 'POST', response: refusal(status, field) });
      await expectFailure(adapter.publish!(attempt(harness, { text: 'Hi' }).context), expected);
    }
    assert.equal(sim.posts().length, 0);
  });

  it('the simulator is as strict as LinkedIn: served versions, Rest.li 2.0, scopes and roles', async () => {
    const { sim, credentials } = harness;
    const headers = (extra: Record<string, string> = {}) => ({
      authorization: `Bearer ${credentials.accessToken}`,
      'LinkedIn-Version': linkedinApiVersion,
      'X-Restli-Protocol-Version': '2.0.0',
      ...extra,
    });
    const find = (author: string, extra?: Record<string, string>) =>
      fetch(`${sim.url}/rest/posts?author=${encodeURIComponent(author)}&q=author`, {
        headers: headers(extra),
      });
    assert.equal((await find(cafe)).status, 200);
    assert.equal((await find(cafe, { 'LinkedIn-Version': '202510' })).status, 200, 'the oldest served');
    const newer = await find(cafe, { 'LinkedIn-Version': '202608' });
    assert.equal(newer.status, 426);
    assert.equal(((await newer.json()) as { code?: string }).code, 'NONEXISTENT_VERSION');
    assert.equal((await find(cafe, { 'X-Restli-Protocol-Version': '1.0.0' })).status, 400);
    assert.equal((await find(fans)).status, 403, 'an analyst reads no posts');
    const asPerson = await fetch(`${sim.url}/rest/posts`, {
      method: 'POST',
      headers: { ...headers(), 'content-type': 'application/json' },
      body: JSON.stringify({
        author: 'urn:li:person:someone',
        commentary: 'Hi',
        visibility: 'PUBLIC',
        distribution: { feedDistribution: 'MAIN_FEED' },
        lifecycleState: 'PUBLISHED',
      }),
    });
    assert.equal(asPerson.status, 403);
    assert.equal(sim.posts().length, 0);
  });
});

describe('mapLinkedInError on publishing answers', () => {
  const none = new Headers();
  it('reads LinkedIn’s duplicate body as CONTENT_REJECTED DUPLICATE_POST', () => {
    const duplicate = {
      errorDetailType: 'com.linkedin.common.error.BadRequest',
      message:
        'com.linkedin.content.common.exception.BadRequestResponseException: Content is a duplicate of urn:li:share:7141138937766391808',
      errorDetails: {
        inputErrors: [{ description: 'Duplicate post is detected', input: {}, code: 'DUPLICATE_POST' }],
      },
      status: 422,
    };
    assert.deepEqual(mapLinkedInError(422, duplicate, none), {
      class: 'CONTENT_REJECTED',
      message: duplicate.message,
      platformCode: 'DUPLICATE_POST',
    });
    assert.equal(
      mapLinkedInError(401, { status: 401, serviceErrorCode: 65602, code: 'EXPIRED_ACCESS_TOKEN' }, none)
        .class,
      'TOKEN_EXPIRED',
    );
    assert.equal(
      mapLinkedInError(422, { status: 422, message: 'ERROR :: /author :: bad' }, none).class,
      'INVALID_REQUEST',
    );
  });
});

describe('linkedin_post content', () => {
  it('keeps a post within LinkedIn’s 3,000 characters, the link at its end included', () => {
    const refused = (content: Record<string, unknown>) => {
      const result = parseTaskContent('linkedin_post', content);
      assert.equal(result.ok, false, JSON.stringify(content).slice(0, 80));
      return result.ok ? [] : result.issues;
    };
    assert.deepEqual(
      refused({ text: 'x'.repeat(3001) }).map((issue) => issue.field),
      ['content.text'],
    );
    const withLink = refused({ text: 'x'.repeat(2990), link: 'https://acme.example/a-long-enough-path' });
    assert.equal(withLink[0]?.field, 'content.text');
    assert.match(withLink[0]?.message ?? '', /3000/);
    assert.equal(parseTaskContent('linkedin_post', { text: 'x'.repeat(3000) }).ok, true);
    // A link already in the text is not added again, so it does not count twice.
    const inText = `${'x'.repeat(2970)} https://acme.example/a`;
    assert.equal(
      parseTaskContent('linkedin_post', { text: inText, link: 'https://acme.example/a' }).ok,
      true,
    );
    const images = (count: number) => Array.from({ length: count }, (_, i) => `https://cdn.example/${i}.jpg`);
    assert.equal(parseTaskContent('linkedin_post', { text: 'x', mediaUrls: images(20) }).ok, true);
    assert.equal(refused({ text: 'x', mediaUrls: images(21) })[0]?.field, 'content.mediaUrls');
  });

  it('escapes what little text reserves, keeps hashtags', () => {
    assert.equal(
      toLittleText('Sale (today) #spring @team_a [x] {y} <z> *b* ~c~ a|b \\ # alone'),
      'Sale \\(today\\) #spring \\@team\\_a \\[x\\] \\{y\\} \\<z\\> \\*b\\* \\~c\\~ a\\|b \\\\ \\# alone',
    );
  });
});
