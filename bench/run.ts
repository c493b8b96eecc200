// `npm run bench`: the scale benchmarks, each measured side by side with its baseline on the same Temporal
// server in the same run, since this machine is shared and noisy and only ratios compare across runs.
//   B1 schedule throughput   epics scheduled through the REST API vs bare workflow.start calls
//   B2 punctuality           epics due at one instant vs bare workflows sleeping to one instant
//   B3 memory                the worker's RSS with few and many sleeping epics
//   B4 list latency          GET /v1/epics, first and deep page, at growing epic counts
//   B5 punctuality, mixed    B2 with Klaviyo hand-offs mixed in and two workers (and two baseline workers)
//   B6 a limited platform    TikTok videos of a few accounts due at one instant, against a simulator that
//                            refuses what goes over TikTok's per-token limits: spread, not refused
// It prints a table on stderr, writes the JSON under bench/results/ (ignored by git) and prints its path.
// `--quick` (about a minute, run by CI) uses small counts and fails only on a missed or duplicate publication,
// never on timings. The workers are processes of their own, configured like `npm start`'s.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { encodeCursor } from '../api/pagination.ts';
import { createWorkspace, type TestWorkspace } from '../test/support/api.ts';
import { contentExamples } from '../test/support/examples.ts';
import { connectOAuth } from '../test/support/platforms.ts';
import {
  type ConnectedWorkspace,
  connectedWorkspace,
  type Stack,
  startStack,
} from '../test/support/stack.ts';
import { epicWorkflowId } from '../workflows/epic-messages.ts';
import { cleanup, onCleanup } from './closers.ts';
import { phasesOf } from './phases.ts';
import { type BenchProcess, settle, startNodeProcess } from './processes.ts';
import { startReceiptServer } from './receipts.ts';
import { mapLimit, progress, summarize } from './stats.ts';

Runtime.install({ logger: new DefaultLogger('WARN') });

const quick = process.argv.includes('--quick');
const only = process.argv
  .find((arg) => arg.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const wanted = (name: string) => !only || only.includes(name);

const sizes = quick
  ? {
      sleeping: [10, 200],
      due: 150,
      mixed: 100,
      lists: [1_000, 10_000],
      listRequests: 50,
      tiktok: { accounts: 1, videosEach: 8 },
    }
  : {
      sleeping: [10, 1_000, 10_000],
      due: 1_000,
      mixed: 1_000,
      lists: [1_000, 10_000, 100_000],
      listRequests: 300,
      tiktok: { accounts: 3, videosEach: 10 },
    };
const clients = 16;
const missedAfterMs = 5 * 60_000;
const baselineQueue = 'bench-baseline';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ratio = (value: number, baseline: number) => Number((value / baseline).toFixed(2));

// ---- the bench's world -------------------------------------------------------------------------------------

interface World {
  stack: Stack;
  setup: ConnectedWorkspace;
  receipts: Awaited<ReturnType<typeof startReceiptServer>>;
  workers: BenchProcess[];
  baselineWorkers: BenchProcess[];
  tiktokWorkspaces: { workspace: TestWorkspace; epicIds: string[] }[];
}

/**
 * What the production image sets for the worker's process (the Dockerfile's ENV): glibc gives each of the
 * process's threads (the SDK's workflow and Rust threads, libuv's) arenas of its own, up to eight per core, and
 * keeps what they free mapped. With two, the worker holding 10,000 sleeping epics holds less (B3-only runs,
 * 2026-12-05: 782 and 783 MiB with the default; 594, 719 and 613 MiB with 2).
 */
const productWorkerProcessEnv = { MALLOC_ARENA_MAX: '2' };

async function startProductWorker(world: Pick<World, 'stack'>, index: number) {
  const worker = await startNodeProcess(
    `worker ${index}`,
    'worker.ts',
    { ...world.stack.workerEnv, ...productWorkerProcessEnv, LOG_LEVEL: 'info' },
    'worker polling task queue',
    // BENCH_PROFILE_DIR=… writes the product workers' CPU profiles there (one per thread): where the time goes.
    process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [],
  );
  onCleanup(worker.name, () => worker.stop());
  return worker;
}

async function startBaselineWorker(world: Pick<World, 'stack' | 'receipts'>, index: number) {
  const worker = await startNodeProcess(
    `baseline worker ${index}`,
    'bench/baseline/worker.ts',
    {
      TEMPORAL_ADDRESS: world.stack.temporal.address,
      BASELINE_TASK_QUEUE: baselineQueue,
      RECEIPT_URL: world.receipts.url,
      WORKER_MAX_CACHED_WORKFLOWS: String(world.stack.harness.config.WORKER_MAX_CACHED_WORKFLOWS),
    },
    'baseline worker polling',
  );
  onCleanup(worker.name, () => worker.stop());
  return worker;
}

/**
 * Epics in review, each with one approved facebook_post whose text names the epic (so the Meta simulator's
 * record tells which epic each post is for), and every `klaviyoEvery`-th also with a Klaviyo email. Written
 * straight to PostgreSQL: what is measured starts at the schedule call.
 */
async function epicsInReview(world: World, count: number, label: string, klaviyoEvery = 0) {
  const { sql } = world.stack.harness.database;
  const page = world.setup.meta.accounts.find((account) => account.kind === 'facebook_page')!;
  const rows = await sql<{ id: string }[]>`
    with created as (
      insert into epics (workspace_id, title, status)
      select ${world.setup.workspace.id}::uuid, ${label} || ' ' || g, 'review' from generate_series(1, ${count}) g
      returning id, title
    ), posts as (
      insert into tasks (workspace_id, epic_id, channel, connector_id, account_id, content, approved)
      select ${world.setup.workspace.id}::uuid, id, 'facebook_post', ${world.setup.meta.id}::uuid, ${page.id}::uuid,
             jsonb_build_object('text', 'Bench post for epic ' || id), true
      from created
    )
    select id from created order by title`;
  const epicIds = rows.map((row) => row.id);
  if (klaviyoEvery > 0) {
    const withEmail = epicIds.filter((_, index) => index % klaviyoEvery === 0);
    const email = { ...contentExamples.klaviyo_email, smartSending: false };
    await sql`
      insert into tasks (workspace_id, epic_id, channel, connector_id, content, approved)
      select ${world.setup.workspace.id}::uuid, id, 'klaviyo_email', ${world.setup.klaviyo.id}::uuid,
             ${JSON.stringify(email)}::jsonb, true
      from unnest(${withEmail}::uuid[]) as id`;
    return { epicIds, emails: withEmail.length };
  }
  return { epicIds, emails: 0 };
}

/** Schedules epics through the REST API, `clients` calls in flight; returns epics per second. */
async function scheduleThroughApi(world: World, epicIds: string[], scheduledAt: Date) {
  const started = performance.now();
  await mapLimit(epicIds, clients, async (epicId) => {
    const response = await world.setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: scheduledAt.toISOString(),
    });
    if (response.statusCode !== 200)
      throw new Error(`schedule ${epicId}: ${response.statusCode} ${response.body}`);
  });
  return (epicIds.length * 1000) / (performance.now() - started);
}

/** Starts bare workflows due at `dueAt`, `clients` calls in flight; returns starts per second. */
async function startBareWorkflows(world: World, keys: string[], dueAt: Date) {
  const started = performance.now();
  await mapLimit(keys, clients, (key) =>
    world.stack.client.workflow.start('bareScheduledWorkflow', {
      taskQueue: baselineQueue,
      workflowId: `bench-bare-${key}`,
      args: [{ key, dueAt: dueAt.toISOString() }],
    }),
  );
  return (keys.length * 1000) / (performance.now() - started);
}

interface Punctuality {
  count: number;
  received: number;
  missed: number;
  duplicates: number;
  lag: ReturnType<typeof summarize> | null;
}

/** Waits until every key was received (or the missed threshold passed) and reads the lags. */
async function punctuality(
  keys: string[],
  dueAt: Date,
  receivedAt: () => Map<string, number[]>,
): Promise<Punctuality> {
  const deadline = dueAt.getTime() + missedAfterMs;
  for (;;) {
    const received = receivedAt();
    if (keys.every((key) => received.has(key)) || Date.now() > deadline) break;
    await pause(250);
  }
  await pause(3_000); // a duplicate sent just after the last first delivery is still counted
  const received = receivedAt();
  const lags: number[] = [];
  let missed = 0;
  let duplicates = 0;
  for (const key of keys) {
    const times = received.get(key) ?? [];
    duplicates += Math.max(0, times.length - 1);
    const first = times.length > 0 ? Math.min(...times) : undefined;
    if (first === undefined || first - dueAt.getTime() > missedAfterMs) missed += 1;
    if (first !== undefined) lags.push(first - dueAt.getTime());
  }
  return {
    count: keys.length,
    received: lags.length,
    missed,
    duplicates,
    lag: lags.length > 0 ? summarize(lags) : null,
  };
}

/** What the Meta simulator received, by the epic its text names. */
function metaReceipts(world: World) {
  const byEpic = new Map<string, number[]>();
  for (const post of world.stack.meta.posts()) {
    const epicId = /Bench post for epic (\S+)/.exec(post.text ?? '')?.[1];
    if (epicId) byEpic.set(epicId, [...(byEpic.get(epicId) ?? []), post.publishedAt.getTime()]);
  }
  return byEpic;
}

/** Klaviyo campaigns that will send or sent, counted by the hand-off key in their name. */
function klaviyoSends(world: World) {
  const live = world.stack.klaviyo
    .campaigns()
    .filter((campaign) => campaign.sendJob === 'queued' || campaign.sendJob === 'complete');
  const byName = new Map<string, number>();
  for (const campaign of live) byName.set(campaign.name, (byName.get(campaign.name) ?? 0) + 1);
  return { live: live.length, duplicates: [...byName.values()].reduce((sum, n) => sum + n - 1, 0) };
}

async function epicStatuses(world: World, epicIds: string[]) {
  const rows = await world.stack.harness.database.sql<{ status: string; count: number }[]>`
    select status, count(*)::int as count from epics where id = any(${epicIds}::uuid[]) group by status`;
  return Object.fromEntries(rows.map((row) => [row.status, row.count]));
}

// ---- B1 + B3: scheduling epics a day ahead, and the memory of keeping them ---------------------------------

async function scheduleAndMemory(world: World) {
  const steps: {
    sleeping: number;
    epicsPerSecond: number | null;
    barePerSecond: number | null;
    workerRssMiB: number;
    baselineRssMiB: number;
  }[] = [];
  let sleeping = 0;
  const dueAt = new Date(Date.now() + 86_400_000);
  for (const target of sizes.sleeping) {
    const count = target - sleeping;
    progress(`B1/B3: scheduling ${count} epics and starting ${count} bare workflows a day ahead`);
    const bareKeys = Array.from({ length: count }, (_, index) => `sleep-${sleeping + index}`);
    const barePerSecond = await startBareWorkflows(world, bareKeys, dueAt);
    const { epicIds } = await epicsInReview(world, count, `Sleeping ${target}`);
    const epicsPerSecond = await scheduleThroughApi(world, epicIds, dueAt);
    sleeping = target;
    // The schedule-time work (first workflow tasks, pre-flights) finishes before the memory is read.
    const settledMs = await settle([...world.workers, ...world.baselineWorkers], 600_000);
    progress(`B1/B3: settled in ${(settledMs / 1000).toFixed(0)} s`);
    const step = {
      sleeping,
      epicsPerSecond: count >= 100 ? Number(epicsPerSecond.toFixed(1)) : null,
      barePerSecond: count >= 100 ? Number(barePerSecond.toFixed(1)) : null,
      workerRssMiB: world.workers[0]!.rssMiB(),
      baselineRssMiB: world.baselineWorkers[0]!.rssMiB(),
    };
    progress(`B1/B3: ${JSON.stringify(step)}`);
    steps.push(step);
  }
  const measured = steps.filter((step) => step.epicsPerSecond !== null);
  const epicRate = measured.reduce((sum, step) => sum + step.epicsPerSecond!, 0) / measured.length;
  const bareRate = measured.reduce((sum, step) => sum + step.barePerSecond!, 0) / measured.length;
  const first = steps[0]!;
  const last = steps.at(-1)!;
  return {
    b1: {
      epicsPerSecond: Number(epicRate.toFixed(1)),
      barePerSecond: Number(bareRate.toFixed(1)),
      ratio: ratio(epicRate, bareRate),
      target: '>= 0.8',
      notes: `POST /v1/epics/{id}/schedule (API in process, ${clients} in flight) vs client.workflow.start, same server`,
    },
    b3: {
      steps,
      ratio: ratio(last.workerRssMiB, first.workerRssMiB),
      baselineRatio: ratio(last.baselineRssMiB, first.baselineRssMiB),
      target: '<= 1.2',
      notes: `worker RSS with ${first.sleeping} and ${last.sleeping} sleeping epics (VmRSS of the worker process)`,
    },
  };
}

// ---- B2 and B5: many due at one instant --------------------------------------------------------------------

async function dueAtOnce(world: World, count: number, label: string, klaviyoEvery = 0) {
  // The baseline first, on the same server, so its figures are not slowed by the epics' tail; each starts on
  // idle workers.
  await settle([...world.workers, ...world.baselineWorkers], 600_000);
  const bareKeys = Array.from({ length: count }, (_, index) => `${label}-${index}`);
  const bareDue = new Date(Date.now() + 8_000 + count * 20);
  progress(`${label}: ${count} bare workflows due at ${bareDue.toISOString()}`);
  await startBareWorkflows(world, bareKeys, bareDue);
  const bare = await punctuality(bareKeys, bareDue, () => world.receipts.receipts);
  progress(`${label}: baseline ${JSON.stringify(bare)}`);
  const barePhases = await phasesOf(
    world.stack.client,
    bareKeys.map((key) => `bench-bare-${key}`),
  );
  progress(`${label}: baseline phases ${JSON.stringify(barePhases.phases)}`);
  progress(`${label}: slowest baseline run ${JSON.stringify(barePhases.slowest)}`);

  const { epicIds, emails } = await epicsInReview(world, count, label, klaviyoEvery);
  await settle([...world.workers, ...world.baselineWorkers], 600_000);
  // Far enough ahead for every schedule call (and hand-off) to land first, at the rate B1 sees (~30/s before).
  const dueAt = new Date(Date.now() + 10_000 + count * (klaviyoEvery ? 80 : 50));
  progress(`${label}: ${count} epics (${emails} Klaviyo emails) due at ${dueAt.toISOString()}`);
  await scheduleThroughApi(world, epicIds, dueAt);
  const scheduledAhead = dueAt.getTime() - Date.now();
  if (scheduledAhead <= 0)
    throw new Error(`${label}: scheduling ended ${-scheduledAhead} ms after the due time`);
  const epics = await punctuality(epicIds, dueAt, () => metaReceipts(world));
  const klaviyo = emails > 0 ? klaviyoSends(world) : null;
  const statuses = await epicStatuses(world, epicIds);
  progress(
    `${label}: epics ${JSON.stringify(epics)} klaviyo ${JSON.stringify(klaviyo)} ${JSON.stringify(statuses)}`,
  );
  const phases = await phasesOf(world.stack.client, epicIds.map(epicWorkflowId));
  progress(`${label}: epic phases ${JSON.stringify(phases.phases)}`);
  progress(`${label}: slowest epic run ${JSON.stringify(phases.slowest)}`);
  return {
    epics,
    bare,
    p99Ratio: epics.lag && bare.lag ? ratio(epics.lag.p99, bare.lag.p99) : null,
    target: '<= 1.25, 0 missed, 0 duplicates',
    klaviyo: klaviyo ? { emails, live: klaviyo.live, duplicates: klaviyo.duplicates } : null,
    statuses,
    phases: { epics: phases.phases, bare: barePhases.phases },
    notes:
      `lag = the platform's receipt - the due time (Meta simulator's post time; the receipt server's for the ` +
      `bare workflows); scheduled ${(scheduledAhead / 1000).toFixed(1)} s ahead; missed = not received ` +
      `${missedAfterMs / 60_000} min after`,
  };
}

// ---- B6: a burst on a platform with per-token limits ---------------------------------------------------------

async function limitedPlatformBurst(world: World) {
  const { accounts, videosEach } = sizes.tiktok;
  const tiktok = world.stack.platforms!.tiktok;
  const refusedBefore = tiktok.rateLimitRefusals().length;
  const initsBefore = tiktok.videoInitTimes().length;
  const epicIds: string[] = [];
  const titles: string[] = [];
  for (let account = 1; account <= accounts; account += 1) {
    const workspace = await createWorkspace(world.stack.harness, `Bench TikTok ${account}`);
    const connector = await connectOAuth(world.stack.harness.app, workspace, 'tiktok');
    for (let index = 1; index <= videosEach; index += 1) {
      const title = `Bench video ${account}-${index}`;
      const epic = (await workspace.api.post('/v1/epics', { title })).json() as { id: string };
      const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
        channel: 'tiktok_video',
        connectorId: connector.id,
        accountId: connector.accounts[0]!.id,
        content: {
          title,
          videoUrl: `https://cdn.acme.example/bench-${account}-${index}.mp4`,
          privacyLevel: 'SELF_ONLY',
        },
      });
      if (task.statusCode !== 201) throw new Error(`B6 task: ${task.statusCode} ${task.body}`);
      await workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.json().id}/approve`);
      await workspace.api.post(`/v1/epics/${epic.id}/review`);
      epicIds.push(epic.id);
      titles.push(title);
    }
    world.tiktokWorkspaces.push({ workspace, epicIds: epicIds.slice(-videosEach) });
  }
  await settle([...world.workers, ...world.baselineWorkers], 600_000);
  // Far enough ahead for every schedule call to land first.
  const dueAt = new Date(Date.now() + 5_000 + epicIds.length * 300);
  progress(`B6: ${accounts} TikTok accounts × ${videosEach} videos due at ${dueAt.toISOString()}`);
  for (const { workspace, epicIds: ids } of world.tiktokWorkspaces) {
    for (const epicId of ids) {
      const scheduled = await workspace.api.post(`/v1/epics/${epicId}/schedule`, {
        scheduledAt: dueAt.toISOString(),
      });
      if (scheduled.statusCode !== 200)
        throw new Error(`B6 schedule: ${scheduled.statusCode} ${scheduled.body}`);
    }
  }
  const postTimes = () => {
    const byTitle = new Map<string, number[]>();
    for (const { title, createdAt } of tiktok.posts())
      if (title !== undefined && titles.includes(title))
        byTitle.set(title, [...(byTitle.get(title) ?? []), createdAt.getTime()]);
    return byTitle;
  };
  const epics = await punctuality(titles, dueAt, postTimes);
  const refusals = tiktok.rateLimitRefusals().slice(refusedBefore);
  const inits = tiktok
    .videoInitTimes()
    .slice(initsBefore)
    .map((at) => at.getTime() - dueAt.getTime());
  // TikTok takes 6 video/init a minute per token: the last of `videosEach` cannot go before this.
  const leastSpreadMs = (Math.ceil(videosEach / 6) - 1) * 60_000;
  const statuses = await epicStatuses(world, epicIds);
  progress(`B6: ${JSON.stringify(epics)} refusals ${refusals.length} ${JSON.stringify(statuses)}`);
  return {
    epics,
    refusals: refusals.length,
    refusedEndpoints: [...new Set(refusals.map((refusal) => refusal.endpoint))],
    lastInitMs: inits.length > 0 ? Math.max(...inits) : null,
    leastSpreadMs,
    statuses,
    target: '0 refused by the platform, 0 missed, 0 duplicates',
    notes:
      `${accounts} accounts × ${videosEach} videos; TikTok allows 6 video/init, 20 creator_info and 30 ` +
      `status/fetch a minute per token (the simulator refuses what goes over); lag = the post's creation ` +
      `at TikTok - the due time; lastInitMs vs leastSpreadMs: how close to the limit the burst went out`,
  };
}

// ---- B4: the epics list as the workspace grows -------------------------------------------------------------

async function listLatency(world: World) {
  const { sql } = world.stack.harness.database;
  // A workspace of its own: the epics the other benches scheduled are not counted in its sizes.
  const own = await connectedWorkspace(world.stack, 'Bench lists');
  const steps: {
    epics: number;
    firstPage: ReturnType<typeof summarize>;
    deepPage: ReturnType<typeof summarize>;
  }[] = [];
  const workspace = own.workspace;
  const [{ before } = { before: 0 }] = await sql<{ before: number }[]>`
    select count(*)::int as before from epics where workspace_id = ${workspace.id}::uuid`;
  let total = before;
  for (const target of sizes.lists) {
    if (target > total) {
      const added = target - total;
      progress(`B4: adding ${added} draft epics`);
      await sql`
        with created as (
          insert into epics (workspace_id, title, created_at)
          select ${workspace.id}::uuid, 'Listed ' || g, now() - (g || ' seconds')::interval
          from generate_series(1, ${added}) g
          returning id
        )
        insert into tasks (workspace_id, epic_id, channel, connector_id, account_id, content)
        select ${workspace.id}::uuid, id, 'facebook_post', ${own.meta.id}::uuid,
               ${own.meta.accounts.find((account) => account.kind === 'facebook_page')!.id}::uuid,
               jsonb_build_object('text', 'Listed post')
        from created`;
      await sql`analyze epics`;
      await sql`analyze tasks`;
      total = target;
    }
    const [middle] = await sql<{ id: string; created_at: string }[]>`
      select id, created_at from epics where workspace_id = ${workspace.id}::uuid
      order by created_at, id offset ${Math.floor(total / 2)} limit 1`;
    const deepCursor = encodeCursor({
      o: 'created',
      t: new Date(middle!.created_at).toISOString(),
      id: middle!.id,
    });
    const measure = async (url: string) => {
      for (let i = 0; i < 20; i++) await workspace.api.get(url);
      const latencies: number[] = [];
      for (let i = 0; i < sizes.listRequests; i++) {
        const started = performance.now();
        const response = await workspace.api.get(url);
        latencies.push(performance.now() - started);
        if (response.statusCode !== 200) throw new Error(`${url}: ${response.statusCode} ${response.body}`);
      }
      return summarize(latencies);
    };
    const step = {
      epics: total,
      firstPage: await measure('/v1/epics'),
      deepPage: await measure(`/v1/epics?cursor=${deepCursor}`),
    };
    progress(
      `B4: ${total} epics: first page p95 ${step.firstPage.p95} ms, deep page p95 ${step.deepPage.p95} ms`,
    );
    steps.push(step);
  }
  const first = steps[0]!;
  const last = steps.at(-1)!;
  return {
    steps,
    firstPageRatio: ratio(last.firstPage.p95, first.firstPage.p95),
    deepPageRatio: ratio(last.deepPage.p95, first.deepPage.p95),
    target: '<= 1.5',
    notes: `p95 of ${sizes.listRequests} sequential GET /v1/epics (API in process) after 20 warm-up requests`,
  };
}

// ---- main ----------------------------------------------------------------------------------------------------

function table(results: Record<string, unknown>) {
  const rows: [string, string, string, string, string][] = [];
  const r = results as Record<string, Record<string, unknown> | undefined>;
  const b1 = r.b1 as { epicsPerSecond: number; barePerSecond: number; ratio: number } | undefined;
  if (b1)
    rows.push(['B1 schedule', `${b1.epicsPerSecond}/s`, `${b1.barePerSecond}/s`, `${b1.ratio}×`, '≥ 0.8×']);
  for (const key of ['b2', 'b5'] as const) {
    const b = r[key] as { epics: Punctuality; bare: Punctuality; p99Ratio: number | null } | undefined;
    if (!b) continue;
    rows.push([
      `${key.toUpperCase()} ${key === 'b2' ? 'due at once' : 'mixed, 2 workers'}`,
      `p50 ${b.epics.lag?.p50} p99 ${b.epics.lag?.p99} ms; missed ${b.epics.missed}, dup ${b.epics.duplicates}`,
      `p50 ${b.bare.lag?.p50} p99 ${b.bare.lag?.p99} ms`,
      `${b.p99Ratio}×`,
      '≤ 1.25×',
    ]);
  }
  const b3 = r.b3 as { steps: { sleeping: number; workerRssMiB: number }[]; ratio: number } | undefined;
  if (b3)
    rows.push([
      'B3 worker RSS',
      b3.steps.map((step) => `${step.sleeping}: ${step.workerRssMiB} MiB`).join(', '),
      `${b3.steps[0]!.sleeping} epics`,
      `${b3.ratio}×`,
      '≤ 1.2×',
    ]);
  const b4 = r.b4 as
    | {
        steps: { epics: number; firstPage: { p95: number }; deepPage: { p95: number } }[];
        firstPageRatio: number;
        deepPageRatio: number;
      }
    | undefined;
  for (const page of b4 ? (['firstPage', 'deepPage'] as const) : []) {
    rows.push([
      `B4 list p95, ${page === 'firstPage' ? 'first' : 'deep'} page`,
      b4!.steps.map((step) => `${step.epics}: ${step[page].p95} ms`).join(', '),
      `${b4!.steps[0]!.epics} epics`,
      `${page === 'firstPage' ? b4!.firstPageRatio : b4!.deepPageRatio}×`,
      '≤ 1.5×',
    ]);
  }
  const b6 = r.b6 as
    | { epics: Punctuality; refusals: number; lastInitMs: number | null; leastSpreadMs: number }
    | undefined;
  if (b6)
    rows.push([
      'B6 TikTok burst',
      `p50 ${b6.epics.lag?.p50} p99 ${b6.epics.lag?.p99} ms; missed ${b6.epics.missed}, dup ${b6.epics.duplicates}; ` +
        `429s ${b6.refusals}`,
      `last init ${b6.lastInitMs} ms (limit: ≥ ${b6.leastSpreadMs})`,
      '—',
      '0 refused',
    ]);
  const widths = [0, 1, 2, 3, 4].map((column) =>
    Math.max(
      ...[['bench', 'product', 'baseline', 'ratio', 'target'], ...rows].map((row) => row[column]!.length),
    ),
  );
  const line = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ');
  return [line(['bench', 'product', 'baseline', 'ratio', 'target']), ...rows.map(line)].join('\n');
}

async function main() {
  const startedAt = new Date();
  progress(
    `${quick ? 'quick run' : 'full run'}: starting PostgreSQL, the Temporal dev server, the simulators`,
  );
  // The worker's sizing can be tried from the environment (WORKER_*, DATABASE_POOL_SIZE) without editing config.
  const sizing = Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] => /^(WORKER_|DATABASE_POOL_SIZE$)/.test(entry[0]) && !!entry[1],
    ),
  );
  const stack = await startStack({
    withWorker: false,
    config: { PUBLICATION_ATTEMPTS_LIMIT: '5', ...sizing },
    ...(wanted('B6') ? { platforms: {} } : {}),
  });
  onCleanup('stack', () => stack.close());
  const receipts = await startReceiptServer();
  onCleanup('receipt server', () => receipts.close());
  const setup = await connectedWorkspace(stack, 'Bench');
  const world: World = { stack, setup, receipts, workers: [], baselineWorkers: [], tiktokWorkspaces: [] };
  world.workers.push(await startProductWorker(world, 1));
  world.baselineWorkers.push(await startBaselineWorker(world, 1));

  const results: Record<string, unknown> = {};
  if (wanted('B1') || wanted('B3')) Object.assign(results, await scheduleAndMemory(world));
  if (wanted('B2')) results.b2 = await dueAtOnce(world, sizes.due, 'B2');
  if (wanted('B5')) {
    world.workers.push(await startProductWorker(world, 2));
    world.baselineWorkers.push(await startBaselineWorker(world, 2));
    results.b5 = await dueAtOnce(world, sizes.mixed, 'B5', 10);
  }
  if (wanted('B6')) results.b6 = await limitedPlatformBurst(world);
  if (wanted('B4')) results.b4 = await listLatency(world);

  const failures: string[] = [];
  for (const key of ['b2', 'b5']) {
    const b = results[key] as {
      epics: Punctuality;
      klaviyo: { emails: number; live: number; duplicates: number } | null;
    };
    if (!b) continue;
    if (b.epics.missed > 0) failures.push(`${key}: ${b.epics.missed} epics missed`);
    if (b.epics.duplicates > 0) failures.push(`${key}: ${b.epics.duplicates} duplicate posts`);
    if (b.klaviyo && b.klaviyo.duplicates > 0)
      failures.push(`${key}: ${b.klaviyo.duplicates} duplicate emails`);
    if (b.klaviyo && b.klaviyo.live < b.klaviyo.emails)
      failures.push(`${key}: ${b.klaviyo.emails - b.klaviyo.live} emails missed`);
  }
  const b6 = results.b6 as { epics: Punctuality; refusals: number } | undefined;
  if (b6) {
    if (b6.epics.missed > 0) failures.push(`b6: ${b6.epics.missed} videos missed`);
    if (b6.epics.duplicates > 0) failures.push(`b6: ${b6.epics.duplicates} duplicate videos`);
    if (b6.refusals > 0) failures.push(`b6: TikTok refused ${b6.refusals} requests over its limits`);
  }
  return {
    document: {
      startedAt: startedAt.toISOString(),
      mode: quick ? 'quick' : 'full',
      command: `npm run bench${quick ? ' -- --quick' : ''}`,
      node: process.version,
      cpus: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      settings: {
        ...sizes,
        clients,
        worker: Object.fromEntries(
          Object.entries(stack.harness.config).filter(([name]) => /^(WORKER_|DATABASE_POOL)/.test(name)),
        ),
      },
      results,
      failures,
    },
    failures,
  };
}

let exitCode = 0;
try {
  const { document, failures } = await main();
  await cleanup();
  const folder = path.join(import.meta.dirname, 'results');
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, `${document.mode}-${document.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
  process.stderr.write(`\n${table(document.results)}\n\nresults: ${path.relative(process.cwd(), file)}\n`);
  if (failures.length > 0) {
    exitCode = 1;
    progress(`FAILED: ${failures.join('; ')}`);
  }
} catch (error) {
  exitCode = 1;
  progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
