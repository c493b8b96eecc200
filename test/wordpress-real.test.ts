// WordPress against a real WordPress (Debian's packages, dev/wordpress.ts), not the simulator: the product
// connects it through the API on the real stack, and the platform facts the adapter's scheduling stands on
// are shown on the real thing. The packages are installed when missing; if they cannot be, this file fails.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RealWordPress, startRealWordPress } from '../dev/wordpress.ts';
import { createWorkspace } from './support/api.ts';
import type { ConnectorBody } from './support/platforms.ts';
import { useStack } from './support/stack.ts';

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
