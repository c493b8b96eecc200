// Shopify articles scheduled for real, end to end through the API on the real stack (Temporal, PostgreSQL, the
// worker, the Shopify simulator): the hand-off at schedule time for exactly the instant, confirmation once
// Shopify shows the article, unschedule and reschedule leaving no second copy able to go visible, a lost answer
// to the create, an unschedule while the create is on its way, and an article the merchant already published
// refusing the unschedule (409).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ShopifySimulator } from '../sandbox/shopify.ts';
import { createWorkspace, type TestWorkspace } from './support/api.ts';
import { contentExamples } from './support/examples.ts';
import { connectOAuth } from './support/platforms.ts';
import { isoInSeconds, readEpic, useStack, waitFor, waitForStatus } from './support/stack.ts';

// A lead and a grace of seconds, so the paths they choose run within a test.
const stack = useStack({
  platforms: {},
  config: { SHOPIFY_SCHEDULE_LEAD_MS: '3000', HANDOFF_MISSED_SCHEDULE_GRACE_MS: '3000' },
});

const shopify = (): ShopifySimulator => stack.platforms!.shopify;
/** The epic's articles on Shopify, deleted ones too: their handles carry the hand-off key, which starts with the epic's id. */
const articlesOf = (epicId: string) =>
  shopify()
    .articles()
    .filter((article) => article.handle.includes(epicId.slice(0, 8)));
const liveArticlesOf = (epicId: string) => articlesOf(epicId).filter((article) => article.deletedAt === null);
const creates = () =>
  shopify()
    .receivedMatching('/graphql.json', 'POST')
    .filter((request) => JSON.stringify(request.body).includes('articleCreate')).length;

/** A workspace with Shopify connected (its store and blogs enabled) and an epic of one article in review. */
async function reviewedArticle(name: string) {
  const workspace = await createWorkspace(stack.harness, name);
  const connector = await connectOAuth(stack.harness.app, workspace, 'shopify', { shop: 'glow-beauty' });
  const blog = connector.accounts.find((account) => account.kind === 'shopify_blog')!;
  const epic = (await workspace.api.post('/v1/epics', { title: name })).json() as { id: string };
  const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
    channel: 'shopify_article',
    connectorId: connector.id,
    accountId: blog.id,
    content: { ...contentExamples.shopify_article, excerpt: 'How to care for it' },
  });
  assert.equal(task.statusCode, 201, task.body);
  await workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.json().id}/approve`);
  const review = await workspace.api.post(`/v1/epics/${epic.id}/review`);
  assert.equal(review.statusCode, 200, review.body);
  return { workspace, epicId: epic.id, blogId: blog.externalId };
}

async function schedule(workspace: TestWorkspace, epicId: string, scheduledAt: string) {
  const response = await workspace.api.post(`/v1/epics/${epicId}/schedule`, { scheduledAt });
  assert.equal(response.statusCode, 200, response.body);
}

/** A time on a whole second: Shopify keeps seconds, and a date is rounded up to the next one. */
const wholeSecondsAhead = (seconds: number) =>
  new Date(Math.ceil(Date.now() / 1000 + seconds) * 1000).toISOString();

const handedOff = (workspace: TestWorkspace, epicId: string) =>
  waitFor(
    () => readEpic(workspace, epicId),
    (epic) => epic.tasks[0]?.publication?.status === 'handed_off',
  );

describe('a Shopify article scheduled on Shopify', () => {
  it('is handed off at schedule time for exactly the instant, then published once Shopify shows it', async () => {
    const { workspace, epicId, blogId } = await reviewedArticle('Shopify full path');
    const scheduledAt = wholeSecondsAhead(6);
    await schedule(workspace, epicId, scheduledAt);

    const handed = await handedOff(workspace, epicId);
    assert.ok(Date.now() < Date.parse(scheduledAt), 'handed off before the time');
    const [article, ...others] = articlesOf(epicId);
    assert.ok(article, 'no article on Shopify');
    assert.deepEqual(others, []);
    assert.equal(article.publishedAt?.toISOString(), scheduledAt, 'dated for exactly scheduledAt');
    assert.equal(article.visible, false, 'hidden until then');
    assert.equal(article.blogId, blogId);
    assert.equal(article.authorName, 'Glow Beauty');
    assert.equal(handed.tasks[0]?.publication?.externalId, article.id);

    const published = await waitForStatus(workspace, epicId, 'published');
    const publication = published.tasks[0]!.publication!;
    assert.equal(publication.status, 'published');
    assert.equal(publication.publishedAt, scheduledAt, 'sent at the time Shopify published it');
    assert.equal(articlesOf(epicId)[0]?.visible, true);
    assert.equal(articlesOf(epicId).length, 1);
  });

  it('unschedule deletes the article on Shopify: nothing can go visible', async () => {
    const { workspace, epicId } = await reviewedArticle('Shopify unschedule');
    await schedule(workspace, epicId, isoInSeconds(3600));
    await handedOff(workspace, epicId);
    assert.equal(liveArticlesOf(epicId).length, 1);

    const response = await workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().status, 'review');
    await stack.client.workflow.getHandle(`epic-${epicId}`).result();
    assert.deepEqual(liveArticlesOf(epicId), []);
    assert.equal(articlesOf(epicId).length, 1, 'the one article was deleted, nothing else made');
    assert.equal((await readEpic(workspace, epicId)).tasks[0]?.publication?.status, 'cancelled');
  });

  it('reschedule leaves exactly one article able to go visible, dated for the new time', async () => {
    const { workspace, epicId } = await reviewedArticle('Shopify reschedule');
    await schedule(workspace, epicId, isoInSeconds(3600));
    await handedOff(workspace, epicId);
    const first = liveArticlesOf(epicId)[0]!;

    const newTime = wholeSecondsAhead(7200);
    const response = await workspace.api.post(`/v1/epics/${epicId}/reschedule`, { scheduledAt: newTime });
    assert.equal(response.statusCode, 200, response.body);
    await handedOff(workspace, epicId);
    const live = liveArticlesOf(epicId);
    assert.equal(live.length, 1, 'exactly one scheduled copy');
    assert.equal(live[0]!.publishedAt?.toISOString(), newTime);
    assert.notEqual(live[0]!.id, first.id, 'moved by cancel and re-create under a new key');
    assert.ok(
      articlesOf(epicId).find((article) => article.id === first.id)?.deletedAt,
      'the old copy is deleted',
    );
    const epic = await readEpic(workspace, epicId);
    assert.equal(epic.tasks[0]?.publication?.externalId, live[0]!.id);
  });

  it('a lost answer to the create, then the retry: exactly one article, which unschedule then deletes', async () => {
    const { workspace, epicId } = await reviewedArticle('Shopify lost answer');
    const createsBefore = creates();
    // Shopify creates the article; its answer never arrives.
    shopify().dropAnswerNext({ path: '/graphql.json', body: 'articleCreate' });
    await schedule(workspace, epicId, isoInSeconds(3600));
    const epic = await handedOff(workspace, epicId);
    assert.ok((epic.tasks[0]?.publication?.attempts ?? 0) >= 2, 'the lost answer cost an attempt');
    assert.equal(articlesOf(epicId).length, 1, 'exactly one article');
    assert.equal(creates(), createsBefore + 1, 'created once');
    assert.equal(epic.tasks[0]?.publication?.externalId, articlesOf(epicId)[0]?.id);

    const response = await workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(liveArticlesOf(epicId), []);
  });

  it('an unschedule while the create is on its way is refused, the epic stays scheduled with one article; later it goes', async () => {
    const { workspace, epicId } = await reviewedArticle('Shopify mid-create');
    const held = shopify().holdNext({ path: '/graphql.json', body: 'articleCreate' });
    await schedule(workspace, epicId, isoInSeconds(3600));
    await held.reached;

    // The create may still be applied (until its time-out) and then not show in search for a while: nothing
    // proves the article is not there, so the unschedule cannot answer that it is cancelled.
    const refused = await workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.notEqual(refused.statusCode, 200, refused.body);
    assert.equal((await readEpic(workspace, epicId)).status, 'scheduled');
    // Shopify applies the first create only now: its handle is taken by the article the epic holds again.
    held.release();
    const epic = await handedOff(workspace, epicId);
    // The first attempt, answered at last, finds its schedule withdrawn and the article the newer hand-off
    // holds: it must leave it. Its few requests take milliseconds; two seconds leave them ample time.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const live = liveArticlesOf(epicId);
    assert.equal(live.length, 1, 'exactly one article can go visible');
    assert.equal(epic.tasks[0]?.publication?.externalId, live[0]!.id);

    const response = await workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(liveArticlesOf(epicId), [], 'nothing left that could go visible');
  });

  it('a time closer than the lead is waited for and published then, never before', async () => {
    const { workspace, epicId } = await reviewedArticle('Shopify short lead');
    const scheduledAt = isoInSeconds(2);
    await schedule(workspace, epicId, scheduledAt);

    const published = await waitForStatus(workspace, epicId, 'published');
    const [article, ...others] = articlesOf(epicId);
    assert.ok(article, 'no article on Shopify');
    assert.deepEqual(others, []);
    assert.equal(article.visible, true);
    assert.ok(article.createdAt.getTime() >= Date.parse(scheduledAt), 'created at its time, not before');
    assert.ok((article.publishedAt?.getTime() ?? 0) >= Date.parse(scheduledAt), 'never visible early');
    assert.equal(published.tasks[0]?.publication?.externalId, article.id);
  });

  it('an article Shopify’s scheduler leaves hidden past its date is published by request after the grace', async () => {
    const { workspace, epicId } = await reviewedArticle('Shopify missed date');
    shopify().stallScheduler(true);
    try {
      const scheduledAt = isoInSeconds(5);
      await schedule(workspace, epicId, scheduledAt);
      await handedOff(workspace, epicId);
      assert.equal(articlesOf(epicId)[0]?.visible, false, 'dated ahead, hidden');

      const published = await waitForStatus(workspace, epicId, 'published');
      const [article, ...others] = articlesOf(epicId);
      assert.deepEqual(others, []);
      assert.equal(article?.visible, true, 'published by request');
      const publication = published.tasks[0]!.publication!;
      assert.ok(
        Date.parse(publication.publishedAt!) >= Date.parse(scheduledAt) + 3_000,
        'published once the grace had passed',
      );
      assert.notEqual(publication.unconfirmed, true, 'seen live, not assumed');
    } finally {
      shopify().stallScheduler(false);
    }
  });

  it('an unschedule right after a lost create answer, while Shopify’s search lags: the cancel waits for the index and deletes it', async () => {
    const { workspace, epicId } = await reviewedArticle('Shopify search lag');
    shopify().setSearchIndexDelay(10_000);
    try {
      // Shopify makes the article and the answer is lost; its search will not show the article for 10 s, so
      // every retry is refused its handle (TAKEN) without finding the article, until the attempts run out.
      shopify().dropAnswerNext({ path: '/graphql.json', body: 'articleCreate' });
      await schedule(workspace, epicId, isoInSeconds(3600));
      await waitFor(
        () => readEpic(workspace, epicId),
        (epic) =>
          (epic.tasks[0]?.publication?.attempts ?? 0) >= 3 &&
          epic.tasks[0]?.publication?.status !== 'publishing',
      );
      assert.equal(liveArticlesOf(epicId).length, 1, 'Shopify made it');

      const response = await workspace.api.post(`/v1/epics/${epicId}/unschedule`);
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(liveArticlesOf(epicId), [], 'deleted by the cancel, before the unschedule answered');
      assert.equal(articlesOf(epicId).length, 1, 'nothing else was made');
    } finally {
      shopify().setSearchIndexDelay(0);
    }
  });

  it('an article the merchant already published is not taken back: 409 and the epic stays scheduled', async () => {
    const { workspace, epicId } = await reviewedArticle('Shopify locked');
    await schedule(workspace, epicId, isoInSeconds(3600));
    await handedOff(workspace, epicId);
    const article = liveArticlesOf(epicId)[0]!;
    shopify().publishArticleNow(article.id);

    for (const [path, body] of [
      ['unschedule', undefined],
      ['edit', { confirm: true }],
    ] as const) {
      const response = await workspace.api.post(`/v1/epics/${epicId}/${path}`, body);
      assert.equal(response.statusCode, 409, response.body);
      assert.equal(response.json().error.code, 'LOCKED_BY_PLATFORM');
    }
    const epic = await readEpic(workspace, epicId);
    assert.equal(epic.status, 'scheduled');
    assert.equal(epic.tasks[0]?.publication?.status, 'handed_off');
    assert.deepEqual(
      liveArticlesOf(epicId).map((live) => [live.id, live.visible]),
      [[article.id, true]],
    );
  });
});
