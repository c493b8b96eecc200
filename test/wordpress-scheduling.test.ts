// WordPress real scheduling end to end, through HTTP: real Temporal, real PostgreSQL, the API and a worker,
// and the WordPress simulator. An article is handed to WordPress at schedule time as a `future` post for
// exactly the instant; a reschedule leaves one scheduled post at the new time; unschedule takes it back to
// draft; a time under WordPress's one minute goes live at the time; a lost answer never makes two posts; and a
// post already live makes unschedule answer 409 with the epic still scheduled.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  startWordPressSimulator,
  type WordPressPost,
  type WordPressSimulator,
} from '../sandbox/wordpress.ts';
import { createWorkspace, type TestWorkspace } from './support/api.ts';
import { contentExamples } from './support/examples.ts';
import { readEpic, useStack, waitFor, waitForStatus } from './support/stack.ts';

// The simulator is on loopback. The stack stops (its worker first) before the site closes.
const stack = useStack({ config: { WORDPRESS_ALLOW_PRIVATE_HOSTS: 'true' } });
const editor = { username: 'editor-in-chief', applicationPassword: 'AbCd EfGh IjKl MnOp QrSt UvWx' };
let wordpress: WordPressSimulator;
before(async () => {
  wordpress = await startWordPressSimulator({ siteName: 'Glow Journal', users: [editor] });
});
after(async () => wordpress?.close());

const inSeconds = (seconds: number) => new Date(Math.ceil(Date.now() / 1000 + seconds) * 1000);
/** `post_date_gmt` as WordPress writes it. */
const mysqlGmt = (date: Date) =>
  date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, '');

interface Blog {
  workspace: TestWorkspace;
  connectorId: string;
  accountId: string;
}

async function connectedBlog(name: string): Promise<Blog> {
  const workspace = await createWorkspace(stack.harness, name);
  const connected = await workspace.api.post('/v1/connectors/wordpress/connect', {
    siteUrl: wordpress.url,
    ...editor,
  });
  assert.equal(connected.statusCode, 201, connected.body);
  const connector = connected.json() as { id: string; accounts: { id: string }[] };
  const enabled = await workspace.api.request({
    method: 'PUT',
    url: `/v1/connectors/${connector.id}/accounts`,
    payload: { enabled: connector.accounts.map((account) => account.id) },
  });
  assert.equal(enabled.statusCode, 200, enabled.body);
  return { workspace, connectorId: connector.id, accountId: connector.accounts[0]!.id };
}

/** An epic with one approved wordpress_article task, in review. */
async function reviewedArticle(blog: Blog, title: string) {
  const { workspace } = blog;
  const epic = (await workspace.api.post('/v1/epics', { title })).json() as { id: string };
  const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
    channel: 'wordpress_article',
    connectorId: blog.connectorId,
    accountId: blog.accountId,
    content: { ...contentExamples.wordpress_article, title },
  });
  assert.equal(task.statusCode, 201, task.body);
  await workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.json().id}/approve`);
  const review = await workspace.api.post(`/v1/epics/${epic.id}/review`);
  assert.equal(review.statusCode, 200, review.body);
  return epic.id;
}

async function schedule(blog: Blog, epicId: string, at: Date) {
  const response = await blog.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
    scheduledAt: at.toISOString(),
  });
  assert.equal(response.statusCode, 200, response.body);
}

const publicationOf = async (blog: Blog, epicId: string) =>
  (await readEpic(blog.workspace, epicId)).tasks[0]?.publication ?? null;
const handedOff = (blog: Blog, epicId: string, other?: string | null) =>
  waitFor(
    () => publicationOf(blog, epicId),
    (publication) => publication?.status === 'handed_off' && publication.externalId !== other,
  );
/** The posts of one epic: their slugs carry the hand-off key, which begins with the epic's id. */
const postsOf = (epicId: string): WordPressPost[] =>
  wordpress.posts().filter((post) => post.slug.includes(epicId.slice(0, 8)));

describe('WordPress real scheduling', () => {
  it('hands the article off at schedule time for exactly the instant; a reschedule moves it; unschedule takes it back to draft', async () => {
    const blog = await connectedBlog('Blog moves');
    const epicId = await reviewedArticle(blog, 'Spring routine');
    const first = inSeconds(2 * 3600);
    await schedule(blog, epicId, first);
    const handed = await handedOff(blog, epicId);
    const [post, ...others] = postsOf(epicId);
    assert.equal(others.length, 0, 'exactly one post');
    assert.equal(post?.status, 'future');
    assert.equal(post.dateGmt, mysqlGmt(first), 'scheduled for exactly the epic instant');
    assert.equal(post.title, 'Spring routine');
    assert.equal(handed?.externalId, String(post.id));

    const second = inSeconds(3 * 3600);
    const moved = await blog.workspace.api.post(`/v1/epics/${epicId}/reschedule`, {
      scheduledAt: second.toISOString(),
    });
    assert.equal(moved.statusCode, 200, moved.body);
    const rehanded = await handedOff(blog, epicId, handed?.externalId);
    const scheduled = postsOf(epicId).filter((candidate) => candidate.status === 'future');
    assert.equal(scheduled.length, 1, 'exactly one scheduled copy');
    assert.equal(scheduled[0]?.dateGmt, mysqlGmt(second), 'at the new time');
    assert.equal(rehanded?.externalId, String(scheduled[0]?.id));
    assert.equal(wordpress.posts().find((candidate) => candidate.id === post.id)?.status, 'draft');

    const unscheduled = await blog.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(unscheduled.statusCode, 200, unscheduled.body);
    assert.equal(unscheduled.json().status, 'review');
    assert.deepEqual(
      postsOf(epicId).map((candidate) => candidate.status),
      ['draft', 'draft'],
      'nothing is left scheduled, nothing was published',
    );
    assert.equal((await publicationOf(blog, epicId))?.status, 'cancelled');
  });

  it('a time under a minute away goes live at the time, never before, and the epic ends published', async () => {
    const blog = await connectedBlog('Blog soon');
    const epicId = await reviewedArticle(blog, 'Flash sale');
    const at = inSeconds(4);
    await schedule(blog, epicId, at);
    const published = await waitForStatus(blog.workspace, epicId, 'published');
    const [post, ...others] = postsOf(epicId);
    assert.equal(others.length, 0);
    assert.equal(post?.status, 'publish');
    assert.ok(post.publishedAt!.getTime() >= at.getTime(), 'not published before its time');
    const publication = published.tasks[0]?.publication;
    assert.equal(publication?.status, 'published');
    assert.equal(publication?.externalId, String(post.id));
    assert.ok(Date.parse(publication!.publishedAt!) >= at.getTime());
  });

  it('an unschedule while the hand-off waits for its time publishes nothing', async () => {
    const blog = await connectedBlog('Blog waits');
    const epicId = await reviewedArticle(blog, 'Never mind');
    await schedule(blog, epicId, inSeconds(40));
    await waitFor(
      () => publicationOf(blog, epicId),
      (publication) => publication?.status === 'publishing',
    );
    const unscheduled = await blog.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(unscheduled.statusCode, 200, unscheduled.body);
    await stack.client.workflow.getHandle(`epic-${epicId}`).result();
    assert.deepEqual(postsOf(epicId), [], 'no post was created');
  });

  it('an unschedule while the create is on its way: the post WordPress makes after it goes back to draft', async () => {
    const blog = await connectedBlog('Blog mid-create');
    const epicId = await reviewedArticle(blog, 'Caught in flight');
    const held = wordpress.holdNext({ method: 'POST', path: /^\/wp-json\/wp\/v2\/posts$/ });
    await schedule(blog, epicId, inSeconds(2 * 3600));
    await held.reached;
    const unscheduled = await blog.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(unscheduled.statusCode, 200, unscheduled.body);
    // WordPress applies the create only now: the attempt waiting for its answer finds its schedule withdrawn
    // and cancels what it made.
    held.release();
    const [post, ...others] = await waitFor(
      async () => postsOf(epicId),
      (posts) => posts.length > 0 && posts.every((one) => one.status === 'draft'),
    );
    assert.equal(others.length, 0, 'exactly one post');
    assert.equal(post?.status, 'draft', 'nothing stays scheduled after the unschedule');
    assert.equal((await readEpic(blog.workspace, epicId)).status, 'review');
  });

  it('a lost answer on the create, then the retry: exactly one post', async () => {
    const blog = await connectedBlog('Blog lost answer');
    const epicId = await reviewedArticle(blog, 'Lost and found');
    wordpress.dropAnswerNext({ method: 'POST', path: /^\/wp-json\/wp\/v2\/posts$/ });
    const at = inSeconds(2 * 3600);
    await schedule(blog, epicId, at);
    const publication = await handedOff(blog, epicId);
    const posts = postsOf(epicId);
    assert.equal(posts.length, 1, 'exactly one post');
    assert.equal(posts[0]?.status, 'future');
    assert.equal(posts[0]?.dateGmt, mysqlGmt(at));
    assert.equal(publication?.externalId, String(posts[0]?.id));
    assert.equal(publication?.attempts, 2, 'the first attempt lost its answer');
    await blog.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
  });

  it('an article someone already published in WordPress: unschedule answers 409 and the epic stays scheduled', async () => {
    const blog = await connectedBlog('Blog published early');
    const epicId = await reviewedArticle(blog, 'Out already');
    await schedule(blog, epicId, inSeconds(2 * 3600));
    const publication = await handedOff(blog, epicId);
    // An editor clicked "Publish now" in WordPress.
    const now = await fetch(`${wordpress.url}/wp-json/wp/v2/posts/${publication?.externalId}`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${editor.username}:${editor.applicationPassword}`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ status: 'publish', date_gmt: new Date().toISOString().slice(0, 19) }),
    });
    assert.equal(now.status, 200);
    assert.equal(postsOf(epicId)[0]?.status, 'publish');

    const refused = await blog.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(refused.statusCode, 409, refused.body);
    assert.match(refused.body, /already published on WordPress/);
    const epic = await readEpic(blog.workspace, epicId);
    assert.equal(epic.status, 'scheduled');
    assert.equal(epic.tasks[0]?.publication?.status, 'handed_off');
    assert.equal(postsOf(epicId)[0]?.status, 'publish', 'the live article is left as it is');
  });
});
