// `npm run demo`: the stack of `npm start` plus every platform simulator (platform hosts pointed at
// them), then a full scenario over the REST API: a workspace, its connections, one epic scheduled a little
// ahead, each state change printed until it is published.
// - default: an Instagram post (soft: published by Glowtify at the time) and a Klaviyo email (real: handed
//   to Klaviyo at once, which sends it at the time);
// - `-- --email-blog`: a CyberImpact email and a WordPress article, both real: handed off at once (the
//   mailing scheduled, the post `future`), sent and published by the platforms, confirmed afterwards.
// The terminal shows the story alone: the stack's log lines (the API's requests, the worker's) go to
// DATA_DIR/demo.log, a warning or an error showing as one line that points there.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../config.ts';
import { type DemoConnector, type DemoTask, demoApi, epicListUrl } from '../dev/demo-api.ts';
import { runStack, say } from '../dev/stack.ts';
import { cyberImpactSandboxApiToken } from '../sandbox/cyberimpact.ts';
import { startSandboxPlatforms } from '../sandbox/platforms.ts';
import { wordPressSandboxApplicationPassword, wordPressSandboxUsername } from '../sandbox/wordpress.ts';

const { values: options } = parseArgs({ options: { 'email-blog': { type: 'boolean', default: false } } });

// Every platform's simulator with the demo's data, so every connector on the page can be connected.
const platforms = await startSandboxPlatforms();

const config = loadConfigOrExit({
  DATA_DIR: '.data/demo',
  ...process.env,
  ...platforms.config,
  HANDOFF_CONFIRMATION_POLL_MS: process.env.HANDOFF_CONFIRMATION_POLL_MS ?? '1000',
  // The first reading of a published item's metrics (an hour after it in production) within seconds.
  METRICS_SCHEDULE_SCALE: process.env.METRICS_SCHEDULE_SCALE ?? '0.002',
});
const logFile = path.join(config.DATA_DIR, 'demo.log');
const stack = await runStack(config, { logFile });
stack.onStop(() => platforms.close());
say(`Log lines of the API and the worker (level ${config.LOG_LEVEL}): ${logFile}`);
say(
  `Simulators: ${Object.entries(platforms.urls)
    .map(([name, url]) => `${name} ${url}`)
    .join(', ')}`,
);

const api = demoApi(stack.apiUrl);
const { call } = api;

interface Scenario {
  title: string;
  brief: string;
  tasks: DemoTask[];
  /** How far ahead it is scheduled: a WordPress post is scheduled (`future`) only a minute ahead or more. */
  leadMs: number;
}

async function instagramAndKlaviyo(key: string): Promise<Scenario> {
  const klaviyoConnector = await api.connectKlaviyo(key);
  say(`Klaviyo connected: ${klaviyoConnector.accounts.map((account) => account.name).join(', ')}.`);

  const metaConnector = await api.connectMeta(key);
  say(
    `Meta connected: ${metaConnector.accounts.map((account) => `${account.kind} ${account.name}`).join(', ')}.`,
  );
  const instagram = metaConnector.accounts.find((account) => account.kind === 'instagram_account')!;
  return {
    title: 'Winter blend launch',
    brief: 'Announce the winter blend on Instagram and by email.',
    leadMs: 10_000,
    tasks: [
      {
        channel: 'instagram_post',
        connectorId: metaConnector.id,
        accountId: instagram.id,
        content: {
          caption: 'Our winter blend is here ☕',
          mediaUrls: ['https://cdn.example.com/winter-blend.jpg'],
        },
      },
      {
        channel: 'klaviyo_email',
        connectorId: klaviyoConnector.id,
        content: {
          subject: 'The winter blend is here',
          fromName: 'Demo Coffee Co.',
          fromEmail: 'hello@democoffee.example',
          html: '<h1>Winter blend</h1><p><a href="https://democoffee.example/winter">Order now</a></p>',
          audiences: { included: ['DemoList1'] },
          smartSending: false,
        },
      },
    ],
  };
}

async function emailAndBlog(key: string, wordPressUrl: string): Promise<Scenario> {
  const cyberImpact = await call<DemoConnector>('POST', '/v1/connectors/cyberimpact/connect', key, {
    apiKey: cyberImpactSandboxApiToken,
  });
  say(`CyberImpact connected: ${cyberImpact.accounts.map((account) => account.name).join(', ')}.`);
  const wordPress = await call<DemoConnector>('POST', '/v1/connectors/wordpress/connect', key, {
    siteUrl: wordPressUrl,
    username: wordPressSandboxUsername,
    applicationPassword: wordPressSandboxApplicationPassword,
  });
  await call('PUT', `/v1/connectors/${wordPress.id}/accounts`, key, {
    enabled: wordPress.accounts.map((account) => account.id),
  });
  say(`WordPress connected: ${wordPress.accounts.map((account) => account.name).join(', ')}.`);
  const group = cyberImpact.accounts[0]!;
  return {
    title: 'Harvest notes',
    brief: 'The harvest story on the blog, and an email to our clients pointing to it.',
    leadMs: 75_000,
    tasks: [
      {
        channel: 'cyberimpact_email',
        connectorId: cyberImpact.id,
        content: {
          subject: 'Notes from this year’s harvest',
          fromName: 'Demo Coffee Co.',
          fromEmail: 'hello@democoffee.example',
          html: '<h1>Harvest notes</h1><p><a href="https://democoffee.example/journal/harvest">Read the story</a></p>',
          text: 'Harvest notes: https://democoffee.example/journal/harvest',
          audiences: { included: [group.externalId] },
        },
      },
      {
        channel: 'wordpress_article',
        connectorId: wordPress.id,
        accountId: wordPress.accounts[0]!.id,
        content: {
          title: 'Notes from this year’s harvest',
          html: '<p>Three farms, one winter blend: how this year’s beans were picked.</p>',
          excerpt: 'How this year’s beans were picked.',
        },
      },
    ],
  };
}

try {
  const workspace = await api.createWorkspace(config.ADMIN_TOKEN, 'Demo Coffee Co.');
  const key = workspace.apiKey;
  say(`Workspace ${workspace.id} created.`);

  const scenario = options['email-blog']
    ? await emailAndBlog(key, platforms.urls.wordpress!)
    : await instagramAndKlaviyo(key);
  const scheduledAt = new Date(Date.now() + scenario.leadMs).toISOString();
  const epic = { id: await api.scheduleEpic(key, { ...scenario, scheduledAt }) };
  say(`Epic ${epic.id} scheduled for ${scheduledAt}.`);
  if (stack.temporalUiUrl) {
    say(
      `Watch it in the Temporal UI: ${stack.temporalUiUrl}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/epic-${epic.id}`,
    );
    say(
      `Every scheduled epic there, by EpicStatus: ${epicListUrl(stack.temporalUiUrl, config.TEMPORAL_NAMESPACE, ['scheduled'])}`,
    );
  }

  let last = '';
  for (;;) {
    const current = await call<{
      status: string;
      tasks: { channel: string; publication: { status: string; externalId: string | null } | null }[];
    }>('GET', `/v1/epics/${epic.id}`, key);
    const line = `epic ${current.status} · ${current.tasks
      .map(
        (task) =>
          `${task.channel} ${task.publication?.status ?? 'pending'}${task.publication?.externalId ? ` (${task.publication.externalId})` : ''}`,
      )
      .join(' · ')}`;
    if (line !== last) say(`${new Date().toISOString()}  ${line}`);
    last = line;
    if (current.status === 'published' || current.status === 'error') break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  // The published items' first metrics, read back from their platforms.
  for (let polls = 0; polls < 120; polls += 1) {
    const analytics = await call<{
      tasks: { channel: string; metrics: Record<string, { value: number }> }[];
    }>('GET', `/v1/epics/${epic.id}/analytics`, key);
    const read = analytics.tasks.filter((task) => Object.keys(task.metrics).length > 0);
    if (read.length > 0) {
      for (const task of read) {
        const values = Object.entries(task.metrics).map(([name, { value }]) => `${name} ${value}`);
        say(`First metrics of ${task.channel}: ${values.join(', ')}`);
      }
      say(`The epic's analytics: GET ${stack.apiUrl}/v1/epics/${epic.id}/analytics`);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  say('Done. The stack stays up for you to explore; press Ctrl-C to stop everything.');
} catch (error) {
  stack.logger.error({ err: error }, 'the demo scenario failed');
  await stack.stopAll('demo failure');
  process.exit(1);
}
