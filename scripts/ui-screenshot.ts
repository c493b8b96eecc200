// `npm run screenshot`: the README's pictures of the Temporal UI, taken in a real headless Chromium. It starts
// the demo's stack on a fresh DATA_DIR (simulators for the platforms), schedules a week of epics for one
// workspace in America/Toronto (one published, one failed), then photographs
// - docs/temporal-ui-epics.png: the workflow list filtered by `EpicStatus`, with the search attributes as
//   columns (what an operator sets once with "Configure Columns");
// - docs/temporal-ui-epic-summary.png: the first scheduled epic's summary and details (its User Metadata).
// Chromium: CHROMIUM_PATH, else one on PATH, else Debian's package installed (dev/chromium.ts).
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { Temporal } from 'temporal-polyfill';
import { loadConfigOrExit } from '../config.ts';
import { resolveChromium } from '../dev/chromium.ts';
import { type DemoTask, demoApi, epicListUrl } from '../dev/demo-api.ts';
import { runStack, say } from '../dev/stack.ts';
import { getFreePort } from '../dev/temporal-dev-server.ts';
import { startSandboxPlatforms } from '../sandbox/platforms.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const listPicture = path.join(repoRoot, 'docs', 'temporal-ui-epics.png');
const summaryPicture = path.join(repoRoot, 'docs', 'temporal-ui-epic-summary.png');
/** The user's zone: the epics are scheduled in it, and the browser shows times in it. */
const timeZone = 'America/Toronto';
const shownStatuses = ['scheduled', 'published', 'error'];
/** The list's columns: the status, the id, then the search attributes that make it read as a schedule. */
const columns = ['Status', 'Workflow ID', 'EpicStatus', 'ScheduledAt', 'Channels'];

const chromiumPath = await resolveChromium({ log: say });
const platforms = await startSandboxPlatforms();
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'glowtify-screenshot-'));
const config = loadConfigOrExit({
  ...process.env,
  ...platforms.config,
  // A stack of its own, with the dev server's UI: the picture shows this run's epics only.
  DATA_DIR: dataDir,
  DATABASE_URL: '',
  TEMPORAL_ADDRESS: '',
  PORT: String(await getFreePort()),
  TEMPORAL_DEV_PORT: String(await getFreePort()),
  TEMPORAL_UI_PORT: String(await getFreePort()),
  HANDOFF_CONFIRMATION_POLL_MS: '1000',
});
const stack = await runStack(config, { logFile: path.join(dataDir, 'stack.log') });
stack.onStop(() => platforms.close());
stack.onStop(() => rm(dataDir, { recursive: true, force: true }));
if (!stack.temporalUiUrl) throw new Error('the stack started no Temporal UI');
const uiUrl = stack.temporalUiUrl;

/** `days` from today at `time`, as a wall time in the user's zone. */
function wallTime(days: number, time: string) {
  const date = Temporal.Now.plainDateISO(timeZone).add({ days });
  return `${date.toString()}T${time}`;
}

async function scenario() {
  const api = demoApi(stack.apiUrl);
  const { apiKey: key } = await api.createWorkspace(config.ADMIN_TOKEN, 'Demo Coffee Co.');
  const klaviyo = await api.connectKlaviyo(key);
  const meta = await api.connectMeta(key);
  const instagram = meta.accounts.find((account) => account.kind === 'instagram_account')!;
  const page = meta.accounts.find((account) => account.kind === 'facebook_page')!;
  const tasks = {
    instagramPost: (caption: string, image = 'https://cdn.example.com/coffee.jpg'): DemoTask => ({
      channel: 'instagram_post',
      connectorId: meta.id,
      accountId: instagram.id,
      content: { caption, mediaUrls: [image] },
    }),
    instagramStory: (): DemoTask => ({
      channel: 'instagram_story',
      connectorId: meta.id,
      accountId: instagram.id,
      content: { mediaUrl: 'https://cdn.example.com/story.jpg' },
    }),
    facebookPost: (text: string): DemoTask => ({
      channel: 'facebook_post',
      connectorId: meta.id,
      accountId: page.id,
      content: { text },
    }),
    email: (subject: string): DemoTask => ({
      channel: 'klaviyo_email',
      connectorId: klaviyo.id,
      content: {
        subject,
        fromName: 'Demo Coffee Co.',
        fromEmail: 'hello@democoffee.example',
        html: `<h1>${subject}</h1>`,
        audiences: { included: ['DemoList1'] },
        smartSending: false,
      },
    }),
  };
  const soon = () => new Date(Date.now() + 8_000).toISOString();

  // What already happened: one published, one refused by Instagram (its image cannot be downloaded).
  platforms.meta.rejectMediaMatching = /unreachable/;
  const past = [
    await api.scheduleEpic(key, {
      title: 'Winter blend launch',
      brief: 'The winter blend on Instagram and by email.',
      tasks: [tasks.instagramPost('Our winter blend is here'), tasks.email('The winter blend is here')],
      scheduledAt: soon(),
    }),
    await api.scheduleEpic(key, {
      title: 'Holiday gift guide',
      brief: 'Gift ideas for coffee lovers.',
      tasks: [tasks.instagramPost('Gifts for coffee lovers', 'https://cdn.example.com/unreachable.jpg')],
      scheduledAt: soon(),
    }),
  ];
  say('Two epics due in 8 s: one to be published, one to fail…');
  for (const epicId of past) {
    for (;;) {
      const { status } = await api.call<{ status: string }>('GET', `/v1/epics/${epicId}`, key);
      if (status === 'published' || status === 'error') break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  // The week ahead, latest first: the list shows the newest runs on top, so it reads soonest first.
  const week = [
    {
      title: 'Spring roast teaser',
      tasks: [tasks.instagramPost('Something bright is roasting')],
      at: wallTime(7, '08:15'),
    },
    {
      title: 'Weekend brunch menu',
      tasks: [tasks.facebookPost('Brunch is back on Saturdays'), tasks.instagramStory()],
      at: wallTime(4, '10:00'),
    },
    {
      title: 'Barista workshop reminder',
      tasks: [tasks.email('See you at the workshop')],
      at: wallTime(2, '17:30'),
    },
    {
      title: 'Valentine blend pre-orders',
      tasks: [tasks.instagramPost('Pre-order the Valentine blend'), tasks.email('Pre-orders are open')],
      at: wallTime(1, '09:00'),
    },
  ];
  let first = '';
  for (const epic of week) {
    first = await api.scheduleEpic(key, {
      title: epic.title,
      brief: epic.title,
      tasks: epic.tasks,
      scheduledAt: epic.at,
      timeZone,
    });
  }
  return { count: past.length + week.length, firstScheduled: first };
}

async function photograph(count: number, firstScheduled: string) {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    // As root (containers, CI) Chromium runs only without its sandbox.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  try {
    const context = await browser.newContext({
      viewport: { width: 1600, height: 600 },
      timezoneId: timeZone,
      locale: 'en-US',
      colorScheme: 'light',
    });
    // The columns an operator picks once with "Configure Columns" (the UI keeps them in local storage).
    const chosen = JSON.stringify({ default: columns.map((label) => ({ label })) });
    await context.addInitScript({
      content: `localStorage.setItem('namespace-workflow-table-columns', ${JSON.stringify(chosen)});`,
    });
    const page = await context.newPage();

    const listUrl = epicListUrl(uiUrl, config.TEMPORAL_NAMESPACE, shownStatuses);
    say(`Opening ${listUrl}`);
    await page.goto(listUrl);
    // The SPA loads the list after the page: wait for every epic's row, then for the columns chosen.
    const epicRows = page.locator('a[href*="/workflows/epic-"]');
    for (const deadline = Date.now() + 60_000; ; ) {
      const links = await Promise.all((await epicRows.all()).map((link) => link.getAttribute('href')));
      if (new Set(links).size === count) break;
      if (Date.now() > deadline) throw new Error(`the list shows ${new Set(links).size} epics, not ${count}`);
      await page.waitForTimeout(250);
    }
    await page.getByRole('columnheader', { name: 'ScheduledAt' }).waitFor({ timeout: 10_000 });
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: listPicture });

    await page.setViewportSize({ width: 1440, height: 960 });
    await page.goto(`${uiUrl}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/epic-${firstScheduled}`);
    await page.getByRole('tab', { name: 'User Metadata' }).click();
    // The UI renders the summary and the details (Markdown) in frames of their own; the page itself keeps
    // polling the history, so it is never idle: wait for both texts.
    const rendered = page.frameLocator('iframe[src*="render?content="]');
    await rendered.first().getByText('Valentine blend pre-orders').waitFor({ timeout: 30_000 });
    await rendered.nth(1).getByText('Publishes at').waitFor({ timeout: 30_000 });
    await page.screenshot({ path: summaryPicture });
  } finally {
    await browser.close();
  }
}

try {
  const { count, firstScheduled } = await scenario();
  await mkdir(path.dirname(listPicture), { recursive: true });
  await photograph(count, firstScheduled);
  for (const picture of [listPicture, summaryPicture]) {
    say(`Saved ${path.relative(repoRoot, picture)} (${Math.round((await stat(picture)).size / 1024)} KB)`);
  }
  await stack.stopAll('screenshots taken');
  process.exit(0);
} catch (error) {
  process.stderr.write(`the screenshots failed: ${(error as Error).stack ?? String(error)}\n`);
  await stack.stopAll('screenshot failure');
  process.exit(1);
}
