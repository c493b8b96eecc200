// LinkedIn posts published by us at their time, end to end through the API on the real stack (Temporal,
// PostgreSQL, the worker, the LinkedIn simulator): once at the time with the post's URN and URL on the
// publication, retries capped at the attempts limit, a lost answer that never becomes a second post, and a
// post over LinkedIn's length refused when it is written.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { LinkedInSimulator } from '../sandbox/linkedin.ts';
import { createWorkspace, type TestWorkspace } from './support/api.ts';
import { connectOAuth } from './support/platforms.ts';
import { readEpic, useStack, waitForStatus } from './support/stack.ts';

// The image's host is on loopback.
const stack = useStack({ platforms: {}, config: { MEDIA_ALLOW_PRIVATE_HOSTS: 'true' } });
const linkedin = (): LinkedInSimulator => stack.platforms!.linkedin;
const postsTo = () => linkedin().receivedMatching(/^\/rest\/posts$/, 'POST');

// A CDN for the post's image.
const image = 'GIF89a-storefront';
let cdn: Server;
let cdnUrl = '';
before(async () => {
  cdn = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'image/gif' });
    response.end(image);
  });
  await new Promise<void>((resolve) => cdn.listen(0, '127.0.0.1', resolve));
  cdnUrl = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`;
});
after(
  () =>
    new Promise<void>((resolve) => {
      cdn.closeAllConnections();
      cdn.close(() => resolve());
    }),
);

interface Setup {
  workspace: TestWorkspace;
  connectorId: string;
  /** Our id of the organization account, and its URN on LinkedIn. */
  account: { id: string; urn: string };
}

async function connectedLinkedIn(name: string): Promise<Setup> {
  const workspace = await createWorkspace(stack.harness, name);
  const connector = await connectOAuth(stack.harness.app, workspace, 'linkedin');
  const organization = connector.accounts.find((account) => account.kind === 'linkedin_organization')!;
  return {
    workspace,
    connectorId: connector.id,
    account: { id: organization.id, urn: organization.externalId },
  };
}

/** An epic of one LinkedIn post in review, then scheduled `secondsAhead` from now. */
async function scheduledPost(setup: Setup, content: Record<string, unknown>, secondsAhead = 3) {
  const { workspace } = setup;
  const epic = (await workspace.api.post('/v1/epics', { title: 'LinkedIn launch' })).json() as { id: string };
  const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
    channel: 'linkedin_post',
    connectorId: setup.connectorId,
    accountId: setup.account.id,
    content,
  });
  assert.equal(task.statusCode, 201, task.body);
  await workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.json().id}/approve`);
  assert.equal((await workspace.api.post(`/v1/epics/${epic.id}/review`)).statusCode, 200);
  const scheduledAt = new Date(Date.now() + secondsAhead * 1000);
  const scheduled = await workspace.api.post(`/v1/epics/${epic.id}/schedule`, {
    scheduledAt: scheduledAt.toISOString(),
  });
  assert.equal(scheduled.statusCode, 200, scheduled.body);
  return { epicId: epic.id, scheduledAt };
}

const postsBy = (urn: string, text: string) =>
  linkedin()
    .posts()
    .filter((post) => post.author === urn && post.commentary.startsWith(text));

describe('a LinkedIn post published by us at its time', () => {
  it('goes out once at the time as the organization, with its image; the URN and URL land on the publication', async () => {
    const setup = await connectedLinkedIn('LinkedIn full path');
    const text = 'Our new storefront is open';
    const { epicId, scheduledAt } = await scheduledPost(setup, {
      text,
      link: 'https://acme.example/store',
      mediaUrls: [`${cdnUrl}/storefront.gif`],
    });

    const published = await waitForStatus(setup.workspace, epicId, 'published');
    const [post, ...others] = postsBy(setup.account.urn, text);
    assert.ok(post, 'nothing on LinkedIn');
    assert.deepEqual(others, [], 'more than one post');
    assert.ok(post.createdAt.getTime() >= scheduledAt.getTime(), 'posted before its time');
    assert.equal(post.commentary, `${text}\n\nhttps://acme.example/store`);
    const uploaded = linkedin()
      .images()
      .find((candidate) => candidate.urn === (post.content?.media as { id?: string } | undefined)?.id);
    assert.equal(uploaded?.uploaded?.text, image, 'the image on the post is the task’s');
    assert.equal(uploaded?.owner, setup.account.urn);

    const publication = published.tasks[0]!.publication! as (typeof published.tasks)[0]['publication'] & {
      externalUrl: string | null;
    };
    assert.equal(publication.status, 'published');
    assert.equal(publication.externalId, post.id);
    assert.equal(publication.externalUrl, `https://www.linkedin.com/feed/update/${post.id}/`);
    assert.equal(publication.attempts, 1);
    assert.ok(Date.parse(publication.publishedAt ?? '') >= scheduledAt.getTime());
  });

  it('a LinkedIn that keeps failing is tried exactly PUBLICATION_ATTEMPTS_LIMIT times, then the retry posts once', async () => {
    const setup = await connectedLinkedIn('LinkedIn flaky');
    const limit = stack.harness.config.PUBLICATION_ATTEMPTS_LIMIT;
    const before = postsTo().length;
    linkedin().failWith('transient', { path: /^\/rest\/posts$/, method: 'POST', times: limit });
    const text = 'Flaky day announcement';
    const { epicId } = await scheduledPost(setup, { text }, 2);

    const failed = await waitForStatus(setup.workspace, epicId, 'error');
    const publication = failed.tasks[0]!.publication!;
    assert.equal(publication.status, 'failed');
    assert.equal(publication.attempts, limit);
    assert.equal(publication.lastError?.class, 'TRANSIENT');
    assert.equal(postsTo().length - before, limit, 'LinkedIn saw exactly the limit of attempts');
    assert.deepEqual(postsBy(setup.account.urn, text), []);

    assert.equal((await setup.workspace.api.post(`/v1/epics/${epicId}/retry`)).statusCode, 200);
    const published = await waitForStatus(setup.workspace, epicId, 'published');
    const posts = postsBy(setup.account.urn, text);
    assert.equal(posts.length, 1);
    assert.equal(published.tasks[0]!.publication!.externalId, posts[0]!.id);
  });

  it('an answer lost on its way back: the next attempt finds the post made, and there is still only one', async () => {
    const setup = await connectedLinkedIn('LinkedIn lost answer');
    linkedin().dropAnswerNext({ path: /^\/rest\/posts$/, method: 'POST' });
    const before = postsTo().length;
    const text = 'Answer lost in transit';
    const { epicId } = await scheduledPost(setup, { text }, 2);

    const published = await waitForStatus(setup.workspace, epicId, 'published');
    const posts = postsBy(setup.account.urn, text);
    assert.equal(posts.length, 1, 'posted twice');
    assert.equal(postsTo().length - before, 1, 'a second POST /rest/posts');
    const publication = published.tasks[0]!.publication!;
    assert.equal(publication.externalId, posts[0]!.id);
    assert.equal(publication.attempts, 2);
  });

  it('a post longer than LinkedIn takes is refused when it is written, naming the field', async () => {
    const setup = await connectedLinkedIn('LinkedIn too long');
    const epic = (await setup.workspace.api.post('/v1/epics', { title: 'Long' })).json() as { id: string };
    const task = await setup.workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
      channel: 'linkedin_post',
      connectorId: setup.connectorId,
      accountId: setup.account.id,
      content: { text: 'x'.repeat(3001) },
    });
    assert.equal(task.statusCode, 400, task.body);
    assert.match(task.body, /content\.text/);
    assert.equal((await readEpic(setup.workspace, epic.id)).tasks.length, 0);
  });
});
