// Auto-UTM end to end (SPEC §5): with the workspace's Google Analytics connector's autoUtm on, what Meta and
// Klaviyo receive carries the tags; with it off, the content goes out as written.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { and, eq } from 'drizzle-orm';
import { connectors } from '../db/schema.ts';
import { contentExamples } from './support/examples.ts';
import {
  type ConnectedWorkspace,
  connectedWorkspace,
  useStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

const stack = useStack();

const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000);

const postText = 'Spring is here: https://acme.example/spring?size=m#new. Enjoy!';
const postLink = 'https://acme.example/new';
const emailHtml =
  '<p>Hello <a href="https://acme.example/sale?x=1&amp;y=2&amp;utm_source=newsletter">shop</a>' +
  ' <a href="/about">about</a> <a href="mailto:hello@acme.example">write</a></p>';

/** Inserted directly: the Google Analytics connector has no connect flow in this build. */
async function connectAnalytics(setup: ConnectedWorkspace, settings: Record<string, unknown>) {
  const { db } = stack.harness.database;
  await db.insert(connectors).values({
    workspaceId: setup.workspace.id,
    platform: 'google_analytics',
    status: 'connected',
    settings,
  });
}

/** A reviewed epic with a Facebook post and a Klaviyo email whose content holds links. */
async function epicWithLinks(setup: ConnectedWorkspace, title: string) {
  const { workspace } = setup;
  const epic = (await workspace.api.post('/v1/epics', { title })).json() as { id: string };
  const page = setup.meta.accounts.find((account) => account.kind === 'facebook_page')!;
  const bodies = {
    facebook_post: {
      channel: 'facebook_post',
      connectorId: setup.meta.id,
      accountId: page.id,
      content: { text: postText, link: postLink },
    },
    klaviyo_email: {
      channel: 'klaviyo_email',
      connectorId: setup.klaviyo.id,
      content: { ...contentExamples.klaviyo_email, html: emailHtml },
    },
  };
  const taskIds: Record<keyof typeof bodies, string> = { facebook_post: '', klaviyo_email: '' };
  for (const [kind, body] of Object.entries(bodies) as [keyof typeof bodies, unknown][]) {
    const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, body);
    assert.equal(task.statusCode, 201, task.body);
    taskIds[kind] = task.json().id;
    await workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.json().id}/approve`);
  }
  const review = await workspace.api.post(`/v1/epics/${epic.id}/review`);
  assert.equal(review.statusCode, 200, review.body);
  return { epicId: epic.id, taskIds };
}

/** Schedules the epic, waits for it to be published, and returns what Meta and Klaviyo received for it. */
async function publish(setup: ConnectedWorkspace, epicId: string) {
  const feedBefore = stack.meta.receivedMatching(/\/feed$/, 'POST').length;
  const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
    scheduledAt: inSeconds(3).toISOString(),
  });
  assert.equal(scheduled.statusCode, 200, scheduled.body);
  await waitForStatus(setup.workspace, epicId, 'published');
  const feed = stack.meta.receivedMatching(/\/feed$/, 'POST').slice(feedBefore);
  assert.equal(feed.length, 1, 'one /feed call');
  const campaigns = await waitFor(
    async () => stack.klaviyo.campaigns().filter((campaign) => campaign.name.includes(epicId.slice(0, 8))),
    (list) => list.length > 0,
  );
  assert.equal(campaigns.length, 1, 'one Klaviyo campaign');
  return {
    post: feed[0]!.body as { message: string; link?: string },
    templateHtml: campaigns[0]!.templateHtml ?? '',
  };
}

const paramsOf = (url: string) => Object.fromEntries(new URL(url).searchParams);
const hrefs = (html: string) => [...html.matchAll(/href="([^"]*)"/g)].map((match) => match[1]!);

describe('auto-UTM', () => {
  it('tags the links Meta and Klaviyo receive when the Google Analytics connector has autoUtm on', async () => {
    const setup = await connectedWorkspace(stack, 'UTM on');
    await connectAnalytics(setup, { autoUtm: true });
    const { epicId, taskIds } = await epicWithLinks(setup, 'Spring Launch: Été 2026!');
    const { post, templateHtml } = await publish(setup, epicId);
    const campaign = 'spring-launch-ete-2026';

    const facebook = {
      utm_source: 'facebook',
      utm_medium: 'social',
      utm_campaign: campaign,
      utm_content: taskIds.facebook_post,
    };
    assert.deepEqual(paramsOf(post.link!), facebook);
    const inText = /https:\/\/\S+#new/.exec(post.message)?.[0];
    assert.ok(inText, post.message);
    assert.deepEqual(paramsOf(inText), { size: 'm', ...facebook });
    assert.match(
      post.message,
      /^Spring is here: https:\/\/acme\.example\/spring\?size=m&utm_source=.+#new\. Enjoy!$/,
    );

    const [sale, about, mail] = hrefs(templateHtml);
    assert.deepEqual(paramsOf(sale!.replaceAll('&amp;', '&')), {
      x: '1',
      y: '2',
      utm_source: 'newsletter',
      utm_medium: 'email',
      utm_campaign: campaign,
      utm_content: taskIds.klaviyo_email,
    });
    assert.equal(about, '/about');
    assert.equal(mail, 'mailto:hello@acme.example');

    // The stored content stays as the user wrote it.
    const epic = (await setup.workspace.api.get(`/v1/epics/${epicId}`)).json() as {
      tasks: { channel: string; content: Record<string, unknown> }[];
    };
    const stored = epic.tasks.find((task) => task.channel === 'facebook_post')!.content;
    assert.equal(stored.text, postText);
  });

  it('sends the links as written when autoUtm is off, or when there is no Google Analytics connector', async () => {
    const off = await connectedWorkspace(stack, 'UTM off');
    await connectAnalytics(off, { autoUtm: false });
    const none = await connectedWorkspace(stack, 'No analytics');
    for (const setup of [off, none]) {
      const { epicId } = await epicWithLinks(setup, 'Untagged');
      const { post, templateHtml } = await publish(setup, epicId);
      assert.equal(post.message, postText);
      assert.equal(post.link, postLink);
      assert.equal(templateHtml, emailHtml);
      assert.doesNotMatch(JSON.stringify(post) + templateHtml, /utm_(medium|campaign|content)/);
    }
  });

  it('is on by default once a Google Analytics connector exists, and follows the toggle', async () => {
    const setup = await connectedWorkspace(stack, 'UTM default');
    await connectAnalytics(setup, {});
    const first = await epicWithLinks(setup, 'Default on');
    assert.equal(paramsOf((await publish(setup, first.epicId)).post.link!).utm_campaign, 'default-on');

    await stack.harness.database.db
      .update(connectors)
      .set({ settings: { autoUtm: false } })
      .where(
        and(eq(connectors.workspaceId, setup.workspace.id), eq(connectors.platform, 'google_analytics')),
      );
    const second = await epicWithLinks(setup, 'Turned off');
    const { post } = await publish(setup, second.epicId);
    assert.equal(post.link, postLink);
  });
});
