// WordPress against a real WordPress (Debian's packages, dev/wordpress.ts), not the simulator: the product
// connects it through the API on the real stack, and the platform facts the adapter's scheduling stands on
// are shown on the real thing. The packages are installed when missing; if they cannot be, this file fails.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RealWordPress, startRealWordPress } from '../dev/wordpress.ts';
import { createWorkspace } from './support/api.ts';
import { contentExamples } from './support/examples.ts';
import type { ConnectorBody } from './support/platforms.ts';
import { readEpic, useStack, waitFor } from './support/stack.ts';

const stack = useStack({ config: { WORDPRESS_ALLOW_PRIVATE_HOSTS: 'true' } });
// Started at once, so it comes up while the stack does; a failure is reported by the hook below.
const starting = startRealWordPress();
starting.catch(() => {});
let wp: RealWordPress;
before(async () => {
  wp = await starting;
});
after(async () => {
  await starting.then((site) => site.close()).catch(() => {});
});

const basic = (username: string, password: string) =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

/** A REST call as the administrator, straight to WordPress (checking the platform, not our adapter). */
async function rest(method: string, route: string, body?: unknown) {
  const answer = await fetch(`${wp.siteUrl}/wp-json/wp/v2${route}`, {
    method,
    headers: {
      Authorization: basic(wp.username, wp.applicationPassword),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: answer.status, json: (await answer.json()) as Record<string, unknown> };
}

/** WordPress's `date_gmt`: UTC without zone or milliseconds. */
const dateGmt = (date: Date) => date.toISOString().slice(0, 19);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a real WordPress connected through the API', () => {
  it('connects with an application password; a wrong one and a Contributor are refused', async () => {
    const workspace = await createWorkspace(stack.harness, 'Real WordPress');
    const connect = (login: { username: string; applicationPassword: string }) =>
      workspace.api.post('/v1/connectors/wordpress/connect', { siteUrl: `${wp.siteUrl}/`, ...login });

    // Well-formed (six groups of four), but not this user's.
    const wrongPassword = wp.applicationPassword.replace(/\S{4}$/, (last) =>
      last === 'aaaa' ? 'bbbb' : 'aaaa',
    );
    const wrong = await connect({ username: wp.username, applicationPassword: wrongPassword });
    assert.equal(wrong.statusCode, 400, wrong.body);
    assert.match(wrong.json().error.message, /Invalid username or application password/);

    const contributor = await connect(wp.contributor);
    assert.equal(contributor.statusCode, 400, contributor.body);
    assert.match(contributor.json().error.message, /cannot publish posts \(publish_posts\)/);

    const connected = await connect(wp.admin);
    assert.equal(connected.statusCode, 201, connected.body);
    assert.ok(!connected.body.includes(wp.applicationPassword), 'no application password in the answer');
    const connector = connected.json() as ConnectorBody;
    assert.equal(connector.status, 'connected');
    assert.deepEqual(
      connector.accounts.map(({ kind, name }) => ({ kind, name })),
      [{ kind: 'wordpress_site', name: wp.siteTitle }],
    );
    const listed = await workspace.api.get(`/v1/connectors/${connector.id}`);
    assert.equal(listed.statusCode, 200, listed.body);
    assert.equal((listed.json() as ConnectorBody).status, 'connected');
  });
});

describe('the real WordPress behaves as PLATFORMS.md says', () => {
  it('a due future post stays future until wp-cron.php is requested, which publishes it', async () => {
    const created = await rest('POST', '/posts', {
      title: 'Due soon',
      content: 'Published by WP-Cron',
      status: 'future',
      date_gmt: dateGmt(new Date(Date.now() + 120_000)),
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.equal(created.json.status, 'future');
    const id = created.json.id as number;
    // WordPress will not schedule less than a minute ahead: move the post and its cron event instead.
    const due = new Date(Math.ceil((Date.now() + 2_000) / 1000) * 1000);
    await wp.makeDue(id, due);
    await sleep(due.getTime() - Date.now() + 1_000);

    const idle = await rest('GET', `/posts/${id}?context=edit`);
    assert.equal(idle.json.status, 'future', 'past its time, the post waits for a request to WP-Cron');
    assert.equal(idle.json.date_gmt, dateGmt(due));
    assert.equal(await wp.postStatus(id), 'future');

    const cron = await fetch(`${wp.siteUrl}/wp-cron.php`);
    await cron.arrayBuffer();
    assert.equal(cron.status, 200);
    // wp-cron.php runs the due jobs before it answers: the very next read sees the post published.
    const published = await rest('GET', `/posts/${id}?context=edit`);
    assert.equal(published.json.status, 'publish');
    assert.equal(published.json.date_gmt, dateGmt(due));
  });

  it('a future post less than 60 s ahead is published at once', async () => {
    const at = new Date(Date.now() + 30_000);
    const created = await rest('POST', '/posts', {
      title: 'Too soon',
      content: 'Thirty seconds ahead',
      status: 'future',
      date_gmt: dateGmt(at),
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.equal(created.json.status, 'publish');
    assert.equal(created.json.date_gmt, dateGmt(at), 'published now, dated as asked');
  });
});

describe('an article scheduled on a real WordPress', () => {
  it('is a future post at the instant; unschedule makes it a draft; scheduled again, WP-Cron publishes it at the time and the epic is published', async () => {
    const workspace = await createWorkspace(stack.harness, 'Real WordPress schedule');
    const connected = await workspace.api.post('/v1/connectors/wordpress/connect', {
      siteUrl: wp.siteUrl,
      ...wp.admin,
    });
    assert.equal(connected.statusCode, 201, connected.body);
    const connector = connected.json() as ConnectorBody;
    const enabled = await workspace.api.request({
      method: 'PUT',
      url: `/v1/connectors/${connector.id}/accounts`,
      payload: { enabled: connector.accounts.map((account) => account.id) },
    });
    assert.equal(enabled.statusCode, 200, enabled.body);

    const epic = (await workspace.api.post('/v1/epics', { title: 'Harvest notes' })).json() as { id: string };
    const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
      channel: 'wordpress_article',
      connectorId: connector.id,
      accountId: connector.accounts[0]!.id,
      content: { ...contentExamples.wordpress_article, title: 'Harvest notes' },
    });
    assert.equal(task.statusCode, 201, task.body);
    await workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.json().id}/approve`);
    assert.equal((await workspace.api.post(`/v1/epics/${epic.id}/review`)).statusCode, 200);

    const publication = async () => (await readEpic(workspace, epic.id)).tasks[0]!.publication;
    // WordPress schedules (`future`) only a minute ahead or more; the adapter wants 70 s of margin.
    const schedule = async () => {
      const at = new Date(Math.ceil((Date.now() + 75_000) / 1000) * 1000);
      const scheduled = await workspace.api.post(`/v1/epics/${epic.id}/schedule`, {
        scheduledAt: at.toISOString(),
      });
      assert.equal(scheduled.statusCode, 200, scheduled.body);
      const handedOff = await waitFor(publication, (current) => current?.status === 'handed_off');
      return { at, postId: Number(handedOff!.externalId) };
    };

    const first = await schedule();
    const future = await rest('GET', `/posts/${first.postId}?context=edit`);
    assert.equal(future.json.status, 'future', 'scheduled in WordPress itself');
    assert.equal(future.json.date_gmt, dateGmt(first.at), 'for exactly the epic instant');
    assert.equal((future.json.title as { raw: string }).raw, 'Harvest notes');

    const unscheduled = await workspace.api.post(`/v1/epics/${epic.id}/unschedule`);
    assert.equal(unscheduled.statusCode, 200, unscheduled.body);
    assert.equal(await wp.postStatus(first.postId), 'draft', 'unschedule took it back to draft');

    const second = await schedule();
    assert.equal(await wp.postStatus(second.postId), 'future');
    // The site has no visitors (WP-Cron does not run on page loads here): only the confirmation poll's
    // request to wp-cron.php, once the time has passed, publishes the post.
    const published = await waitFor(
      () => readEpic(workspace, epic.id),
      (current) => current.status === 'published' || current.status === 'error',
      500,
    );
    assert.equal(published.status, 'published');
    assert.equal(await wp.postStatus(second.postId), 'publish');
    const done = published.tasks[0]!.publication!;
    assert.equal(done.status, 'published');
    assert.ok(done.lagMs !== null && done.lagMs >= 0, 'how late the site published is recorded');
    assert.ok(Date.parse(done.publishedAt!) >= second.at.getTime(), 'never before the time');
    // The hand-off key in each slug begins with the epic's id: one post of this epic is live, the first a draft.
    const posts = (await rest('GET', '/posts?status=publish,future,draft&context=edit&per_page=100'))
      .json as unknown as { id: number; slug: string; status: string }[];
    const ofEpic = posts.filter((post) => post.slug.includes(epic.id.slice(0, 8)));
    assert.deepEqual(
      ofEpic.filter((post) => post.status !== 'draft').map((post) => [post.id, post.status]),
      [[second.postId, 'publish']],
    );
  });
});
