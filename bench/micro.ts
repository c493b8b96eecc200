// `npm run bench:micro`: a few benchmarks on the real stack (embedded PostgreSQL, a Temporal dev server, the worker,
// the platform simulators over HTTP, the API through app.inject), printed as ONE JSON document on stdout;
// progress goes to stderr. Nothing is written inside the repository. Every server and process started here is
// stopped before exit, on failure and on Ctrl-C too.
//
// Knobs (environment): BENCH_EPICS (30) epics due at the same instant, BENCH_PAGE_REQUESTS (500) requests of
// the connectors page, BENCH_OAUTH_ROUNDS (20) OAuth connects, BENCH_UTM_ITERATIONS (200) UTM rewrites.
import os from 'node:os';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { TaskContent } from '../domain/content.ts';
import { applyUtm } from '../domain/utm.ts';
import {
  type ApiHarness,
  adminToken,
  callerWith,
  createWorkspace,
  type TestWorkspace,
} from '../test/support/api.ts';
import { contentExamples } from '../test/support/examples.ts';
import {
  browserOf,
  type ConnectorBody,
  connectOAuth,
  cyberImpactToken,
  followConsent,
  wordPressAdmin,
} from '../test/support/platforms.ts';
import {
  connectedWorkspace,
  connectKlaviyo,
  connectMeta,
  readEpic,
  reviewedEpic,
  type Stack,
  startStack,
} from '../test/support/stack.ts';
import { cleanup, onCleanup } from './closers.ts';
import { marketingEmail } from './email.ts';
import {
  type BenchResult,
  envInt,
  mapLimit,
  percentile,
  perSecond,
  progress,
  summarize,
  timed,
} from './stats.ts';

// stdout carries the JSON document alone: anything else that writes there (a library's console.log) is sent
// to stderr, and the document goes through the original writer at the end.
const writeStdout = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;

// The in-process worker's SDK logs (the workflow bundler lists every module at INFO) go to stderr; warnings only.
Runtime.install({ logger: new DefaultLogger('WARN') });

const settings = {
  epics: envInt('BENCH_EPICS', 30),
  pageRequests: envInt('BENCH_PAGE_REQUESTS', 500),
  oauthRounds: envInt('BENCH_OAUTH_ROUNDS', 20),
  utmIterations: envInt('BENCH_UTM_ITERATIONS', 200),
};

// ---- helpers --------------------------------------------------------------------------------------------------

/** A workspace on the `scale` plan, so that every platform can be connected at once. */
async function scaleWorkspace(harness: ApiHarness, name: string): Promise<TestWorkspace> {
  const response = await callerWith(harness.app, adminToken).post('/v1/workspaces', { name, plan: 'scale' });
  if (response.statusCode !== 201) throw new Error(`workspace creation failed: ${response.body}`);
  const { id, apiKey } = response.json() as { id: string; apiKey: string };
  return {
    id,
    apiKey,
    api: callerWith(harness.app, apiKey),
    connectorFor: () => Promise.reject(new Error('the benchmark connects through the platform flows')),
  };
}

const expectStatus = (what: string, response: { statusCode: number; body: string }, status: number) => {
  if (response.statusCode !== status) throw new Error(`${what}: ${response.statusCode} ${response.body}`);
};

// ---- 1. the connectors page -------------------------------------------------------------------------------

async function connectorsPage(stack: Stack): Promise<BenchResult> {
  const workspace = await scaleWorkspace(stack.harness, 'Bench connectors page');
  await connectMeta(stack, workspace);
  await connectKlaviyo(workspace);
  for (const platform of ['linkedin', 'google_analytics', 'google_ads', 'mailchimp', 'tiktok', 'canva']) {
    await connectOAuth(stack.harness.app, workspace, platform);
  }
  expectStatus(
    'CyberImpact connect',
    await workspace.api.post('/v1/connectors/cyberimpact/connect', { apiKey: cyberImpactToken }),
    201,
  );
  expectStatus(
    'WordPress connect',
    await workspace.api.post('/v1/connectors/wordpress/connect', {
      siteUrl: stack.platforms!.wordpress.url,
      ...wordPressAdmin,
    }),
    201,
  );
  const page = await workspace.api.get('/v1/connectors');
  expectStatus('connectors page', page, 200);
  const body = page.json() as { counts: { connected: number }; connected: { accounts: unknown[] }[] };
  const accounts = body.connected.reduce((sum, connector) => sum + connector.accounts.length, 0);
  progress(
    `connectors page: ${body.counts.connected} connectors, ${accounts} accounts, ${page.body.length} B`,
  );

  const warmup = 50;
  for (let i = 0; i < warmup; i++)
    expectStatus('connectors page', await workspace.api.get('/v1/connectors'), 200);
  const latencies: number[] = [];
  const start = performance.now();
  for (let i = 0; i < settings.pageRequests; i++) {
    const { ms, value } = await timed(() => workspace.api.get('/v1/connectors'));
    expectStatus('connectors page', value, 200);
    latencies.push(ms);
  }
  const elapsed = performance.now() - start;
  return {
    name: 'api_connectors_page',
    iterations: settings.pageRequests,
    unit: 'ms',
    ...summarize(latencies),
    opsPerSecond: perSecond(settings.pageRequests, elapsed),
    notes:
      `GET /v1/connectors via app.inject, sequential (one in flight), after ${warmup} warm-up requests; ` +
      `workspace with ${body.counts.connected} connectors / ${accounts} accounts, response ${page.body.length} B; ` +
      'auth (API key hash lookup) + PostgreSQL queries + serialization, no HTTP socket',
  };
}

// ---- 2. OAuth connect round trip --------------------------------------------------------------------------

async function oauthRoundTrip(stack: Stack): Promise<BenchResult> {
  const { app } = stack.harness;
  const round = async (index: number) => {
    // A new workspace each round (not timed): every round is a first connection.
    const workspace = await createWorkspace(stack.harness, `Bench OAuth ${index}`);
    return timed(async () => {
      const started = await workspace.api.post('/v1/connectors/google_analytics/connect', {});
      expectStatus('Google Analytics connect', started, 200);
      const authorizeUrl = new URL(started.json().authorizeUrl as string);
      if (!authorizeUrl.searchParams.has('code_challenge')) throw new Error('expected a PKCE code_challenge');
      const callback = await app.inject({
        method: 'GET',
        url: await followConsent(authorizeUrl.toString()),
        cookies: browserOf(started),
      });
      expectStatus('Google Analytics callback', callback, 200);
      const connector = callback.json() as ConnectorBody;
      if (connector.status !== 'connected') throw new Error(`connector is ${connector.status}`);
    });
  };
  const warmup = 2;
  for (let i = 0; i < warmup; i++) await round(-1 - i);
  const latencies: number[] = [];
  const start = performance.now();
  for (let i = 0; i < settings.oauthRounds; i++) latencies.push((await round(i)).ms);
  const elapsed = performance.now() - start;
  return {
    name: 'oauth_connect_roundtrip',
    iterations: settings.oauthRounds,
    unit: 'ms',
    ...summarize(latencies),
    opsPerSecond: perSecond(settings.oauthRounds, elapsed),
    notes:
      `Google Analytics (PKCE), sequential, ${warmup} warm-up rounds, a new workspace per round (its creation ` +
      'not timed): POST /v1/connectors/google_analytics/connect -> consent page on the Google simulator ' +
      '(real HTTP) -> GET callback via app.inject (token exchange + property discovery over HTTP, sealed ' +
      'credentials, token-refresh workflow and sync Schedule created on the real Temporal dev server); ' +
      'opsPerSecond includes the untimed workspace creation',
  };
}

// ---- 3. UTM rewrite ------------------------------------------------------------------------------------------

function utmRewrite(): BenchResult {
  const html = marketingEmail();
  const content = { ...contentExamples.klaviyo_email, html } as TaskContent<'klaviyo_email'>;
  const input = {
    epicTitle: 'Spring sale: linen season is here',
    taskId: '0b8f8d5e-2a41-4c39-9d7e-5f0c7d3f6a11',
  };
  const links = (html.match(/href\s*=/g) ?? []).length;
  const tagged = applyUtm('klaviyo_email', content, input) as { html: string };
  const taggedLinks = (tagged.html.match(/utm_content=/g) ?? []).length;
  if (taggedLinks < 90) throw new Error(`only ${taggedLinks} links tagged`);

  const warmup = 20;
  for (let i = 0; i < warmup; i++) applyUtm('klaviyo_email', content, input);
  const latencies: number[] = [];
  const start = performance.now();
  for (let i = 0; i < settings.utmIterations; i++) {
    const begin = performance.now();
    applyUtm('klaviyo_email', content, input);
    latencies.push(performance.now() - begin);
  }
  const elapsed = performance.now() - start;
  return {
    name: 'utm_rewrite',
    iterations: settings.utmIterations,
    unit: 'ms',
    ...summarize(latencies),
    opsPerSecond: perSecond(settings.utmIterations, elapsed),
    notes:
      `applyUtm('klaviyo_email') on a ${(html.length / 1024).toFixed(1)} KiB HTML email with ${links} hrefs ` +
      `(${taggedLinks} tagged; mailto/tel/placeholders left alone; a VML button in an Outlook conditional ` +
      `comment), plus its text part; parse5 parse + content-schema check; ${warmup} warm-up runs, one thread`,
  };
}

// ---- 4. epic publish lag -----------------------------------------------------------------------------------

async function epicPublishLag(stack: Stack): Promise<BenchResult> {
  const count = settings.epics;
  const setup = await connectedWorkspace(stack, 'Bench epics');
  const epicIds: string[] = [];
  for (let i = 0; i < count; i++) {
    epicIds.push((await reviewedEpic(setup, ['facebook_post'], `Bench epic ${i + 1}`)).epicId);
  }
  // Far enough ahead for every schedule call to land first (checked below).
  const leadMs = 4_000 + 100 * count;
  const scheduledAt = new Date(Math.ceil((Date.now() + leadMs) / 1000) * 1000);
  progress(`epic publish lag: ${count} epics due at ${scheduledAt.toISOString()}`);
  const scheduling = await timed(() =>
    mapLimit(epicIds, 4, async (epicId) => {
      const response = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
        scheduledAt: scheduledAt.toISOString(),
      });
      expectStatus('schedule', response, 200);
    }),
  );
  const scheduledBy = Date.now();
  if (scheduledBy >= scheduledAt.getTime()) {
    throw new Error(`scheduling ${count} epics took ${scheduling.ms.toFixed(0)} ms, past the due time`);
  }

  // One light query per 100 ms (the API would add load to the process the worker runs in).
  const deadline = scheduledAt.getTime() + 90_000;
  let observedAllPublishedAt = 0;
  for (;;) {
    const [row] = await stack.harness.database.sql<{ published: number; failed: number }[]>`
      select count(*) filter (where status = 'published')::int as published,
             count(*) filter (where status = 'error')::int as failed
      from epics where id = any(${epicIds}::uuid[])`;
    if (row!.failed > 0) throw new Error(`${row!.failed} epics ended in error`);
    if (row!.published === count) {
      observedAllPublishedAt = Date.now();
      break;
    }
    if (Date.now() > deadline) throw new Error(`only ${row!.published} of ${count} epics published in time`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const lags: number[] = [];
  let lastPublishedAt = 0;
  for (const epicId of epicIds) {
    const epic = await readEpic(setup.workspace, epicId);
    const publishedAt = epic.tasks[0]?.publication?.publishedAt;
    if (!publishedAt || !epic.scheduledAt) throw new Error(`epic ${epicId} has no publishedAt`);
    lags.push(Date.parse(publishedAt) - Date.parse(epic.scheduledAt));
    lastPublishedAt = Math.max(lastPublishedAt, Date.parse(publishedAt));
  }
  const summary = summarize(lags);
  const wallMs = observedAllPublishedAt - scheduledAt.getTime();
  return {
    name: 'epic_publish_lag',
    iterations: count,
    unit: 'ms',
    p50: summary.p50,
    p95: summary.p95,
    max: summary.max,
    notes:
      `${count} epics (one facebook_post each, Meta simulator) all due at the same instant; lag = ` +
      'publication.publishedAt - scheduledAt (recorded by the publish activity after Meta answered). ' +
      `Scheduled through the API ${((scheduledAt.getTime() - scheduledBy) / 1000).toFixed(1)} s ahead ` +
      `(${count} schedule calls took ${scheduling.ms.toFixed(0)} ms, 4 in flight). Wall time from the due ` +
      `instant: last publication ${lastPublishedAt - scheduledAt.getTime()} ms, every epic seen 'published' ` +
      `(DB poll every 100 ms) ${wallMs} ms. One in-process worker (SDK default concurrency), Temporal dev ` +
      `server (SQLite in memory), min ${percentile(lags, 0)} ms`,
  };
}

// ---- main ----------------------------------------------------------------------------------------------------

async function main() {
  const startedAt = new Date().toISOString();
  const results: BenchResult[] = [];

  // Pure CPU first, while nothing else runs.
  progress(`utm_rewrite: ${settings.utmIterations} iterations`);
  results.push(utmRewrite());

  progress('starting the stack: embedded PostgreSQL, Temporal dev server, worker, platform simulators');
  const stack = await timed(() => startStack({ platforms: {} }));
  onCleanup('stack', () => stack.value.close());
  progress(`stack up in ${(stack.ms / 1000).toFixed(1)} s`);

  progress(`api_connectors_page: ${settings.pageRequests} requests`);
  results.push(await connectorsPage(stack.value));
  progress(`oauth_connect_roundtrip: ${settings.oauthRounds} rounds`);
  results.push(await oauthRoundTrip(stack.value));
  progress(`epic_publish_lag: ${settings.epics} epics`);
  results.push(await epicPublishLag(stack.value));

  return { startedAt, node: process.version, cpus: os.cpus().length, results };
}

let exitCode = 0;
let document: string | undefined;
try {
  document = `${JSON.stringify(await main(), null, 2)}\n`;
} catch (error) {
  exitCode = 1;
  progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  progress('stopping everything started');
  await cleanup();
}
if (document) await new Promise((resolve) => writeStdout(document, resolve));
// Exit explicitly: a handle left by a failed start (a simulator, a gRPC channel) must not keep the process up.
process.exit(exitCode);
