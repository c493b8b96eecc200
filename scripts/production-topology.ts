// `npm run topology`: the production topology on this machine, without Docker. The real Temporal server on
// PostgreSQL (dev/temporal-server.ts), one PostgreSQL holding Temporal's two databases and the app's, two API
// processes and two workers run compiled (`npm run build`'s dist/, as the image runs them), and the Meta
// simulator. Epics due at one instant are scheduled through both APIs; one worker is SIGKILLed while their
// posts go out; then every post is checked against the simulator's own record: exactly once each.
//   --epics=N      how many epics (default 200, the issue's count)
//   --skip-build   use dist/ as it is
//   --keep         keep the run's directory (logs, data) even when it passes
// It prints a short report and exits 1 on any duplicate or missed post.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import postgres from 'postgres';
import { type BenchProcess, startNodeProcess } from '../bench/processes.ts';
import { mapLimit, summarize } from '../bench/stats.ts';
import { chaosConfig } from '../chaos/world.ts';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../db/embedded-postgres.ts';
import { resolveTemporalCli } from '../dev/temporal-cli.ts';
import { getFreePort } from '../dev/temporal-dev-server.ts';
import {
  resolveTemporalServer,
  startTemporalServer,
  TEMPORAL_SERVER_VERSION,
  type TemporalServer,
} from '../dev/temporal-server.ts';
import { type MetaSimulator, startMetaSimulator } from '../sandbox/meta.ts';
import { epicWorkflowId } from '../workflows/epic-messages.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const pageId = '1001';
const metaApp = { clientId: 'glowtify-topology-app', clientSecret: randomBytes(16).toString('hex') };

export interface TopologyOptions {
  epics?: number;
  build?: boolean;
  keep?: boolean;
  log?: (line: string) => void;
}

export interface TopologyResult {
  epics: number;
  scheduled: number;
  /** Epics whose row says `published`. */
  published: number;
  /** Publications with exactly one post on the platform, and the violations. */
  publishedOnce: number;
  duplicates: number;
  missed: number;
  /** Publications published in the database with no post, or a post with the publication not published. */
  mismatches: number;
  /** Epic workflows the visibility query `EpicStatus = 'published'` finds (the operators' filter). */
  visibleAsPublished: number;
  kill: {
    worker: string;
    /** Posts on the platform when the worker was killed, and publish attempts it had in flight then. */
    postsBefore: number;
    inFlight: number;
    /** After the due instant. */
    atMs: number;
  } | null;
  /** publishTask completions by worker (their history's ActivityTaskStarted identity), and retried ones. */
  publishedBy: Record<string, number>;
  retriedPublications: number;
  /** Workflow tasks each worker completed. */
  workflowTasksBy: Record<string, number>;
  /** Requests each API answered during set-up and scheduling. */
  requestsBy: Record<string, number>;
  /** Due instant → the platform's post, in ms. */
  lagMs: { p50: number; p95: number; p99: number; max: number } | null;
  phasesMs: Record<string, number>;
  violations: string[];
  /** The run's directory (logs), when it was kept. */
  keptDir: string | null;
}

interface Api {
  name: string;
  url: string;
  requests: number;
}

export async function runProductionTopology(options: TopologyOptions = {}): Promise<TopologyResult> {
  const count = options.epics ?? 200;
  const started = Date.now();
  const log =
    options.log ??
    ((line: string) =>
      process.stderr.write(
        `[topology ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`,
      ));
  const phasesMs: Record<string, number> = {};
  let phaseStart = Date.now();
  const phase = (name: string) => {
    phasesMs[name] = Date.now() - phaseStart;
    phaseStart = Date.now();
  };
  const closers: (() => Promise<unknown>)[] = [];
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'glowtify-topology-'));
  const processLog = path.join(workDir, 'processes.log');
  let passed = false;
  try {
    // ---- tools and the compiled app ---------------------------------------------------------------------
    const install = await resolveTemporalServer({ log });
    const cliPath = await resolveTemporalCli({ log });
    phase('tools');
    if (options.build !== false) {
      await npmRun('build', log);
      log('npm run build: dist/ compiled and the workflow bundle built');
    }
    phase('build');

    // ---- one PostgreSQL, the Temporal server on it ------------------------------------------------------
    const password = randomBytes(18).toString('base64url');
    const pgDataDir = path.join(workDir, 'pg');
    const pgPort = await getFreePort();
    // Durable, as in production (chaos/world.ts says why the tests' throwaway settings would not do).
    const startPostgres = () =>
      startEmbeddedPostgres({ dataDir: pgDataDir, port: pgPort, password, ephemeral: false });
    let pg: EmbeddedPostgres = await startPostgres();
    closers.push(() => pg.stop());
    {
      // Temporal's services keep a pool each beside the app's four processes: measured about 50 + 40
      // connections during a run, close to PostgreSQL's default 100; a production server is sized for it too.
      const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
      await admin`alter system set max_connections = 300`;
      // The app's database, as docker-compose's postgres service creates it on its first start.
      await admin.unsafe(await readFile(path.join(repoRoot, 'docker', 'postgres-init.sql'), 'utf8'));
      await admin.end();
      await pg.stop();
      pg = await startPostgres();
    }
    const databaseUrl = pg.url.replace(/\/postgres$/, '/glowtify');
    log(`PostgreSQL 17 on port ${pg.port}: databases glowtify, then temporal and temporal_visibility`);
    const temporal: TemporalServer = await startTemporalServer({
      install,
      cliPath,
      postgres: { host: '127.0.0.1', port: pg.port, user: 'postgres', password },
      workDir,
      log,
    });
    closers.push(() => temporal.stop());
    phase('temporal');

    // ---- the platform, two APIs, two workers --------------------------------------------------------------
    const meta: MetaSimulator = await startMetaSimulator({
      ...metaApp,
      pages: [{ id: pageId, name: 'Topology Page' }],
    });
    closers.push(() => meta.close());
    const adminToken = randomBytes(24).toString('base64url');
    const environment: Record<string, string> = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      MALLOC_ARENA_MAX: '2',
      DATA_DIR: path.join(workDir, 'data'),
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      TEMPORAL_TASK_QUEUE: 'glowtify',
      CREDENTIALS_KEY: randomBytes(32).toString('base64'),
      ADMIN_TOKEN: adminToken,
      META_API_BASE_URL: meta.url,
      META_AUTH_BASE_URL: meta.url,
      META_CLIENT_ID: metaApp.clientId,
      META_CLIENT_SECRET: metaApp.clientSecret,
      // A killed worker's attempt is taken up 5 s after its last heartbeat rather than 30 s: a shorter run,
      // the same proof.
      ...chaosConfig,
    };
    const tell = (name: string) => (line: string) => appendFileSync(processLog, `${name}: ${line}\n`);
    const crashes: string[] = [];
    const start = async (name: string, script: string, env: Record<string, string>, ready: string) => {
      const started = await startNodeProcess(
        name,
        script,
        { ...environment, ...env },
        ready,
        [],
        120_000,
        tell(name),
        (how) => crashes.push(`${name}: ${how}`),
      );
      closers.push(() => started.stop());
      return started;
    };
    // Every start settles before a failure is thrown, so a process that did start is stopped with the rest.
    const startAll = async <T>(starting: Promise<T>[]) => {
      const settled = await Promise.allSettled(starting);
      const failed = settled.find((outcome) => outcome.status === 'rejected');
      if (failed) throw failed.reason;
      return settled.map((outcome) => (outcome as PromiseFulfilledResult<T>).value);
    };
    const apiPorts = [await getFreePort(), await getFreePort()];
    const apis: Api[] = apiPorts.map((port, index) => ({
      name: `api ${index + 1}`,
      url: `http://127.0.0.1:${port}`,
      requests: 0,
    }));
    await startAll(
      apis.map((api, index) =>
        start(
          api.name,
          'dist/api/server.js',
          // One public address for both, as behind a load balancer: the OAuth redirect_uri is the same
          // whichever API started a consent.
          { HOST: '127.0.0.1', PORT: String(apiPorts[index]), PUBLIC_URL: apis[0]!.url },
          'API listening on',
        ),
      ),
    );
    const bundle = path.join(repoRoot, 'dist', 'workflow-bundle.js');
    const workers: BenchProcess[] = await startAll(
      [1, 2].map(async (index) =>
        start(
          `worker ${index}`,
          'dist/worker.js',
          // Two workers on one host: a metrics port each.
          { WORKFLOW_BUNDLE_PATH: bundle, WORKER_METRICS_PORT: String(await getFreePort()) },
          'worker polling task queue',
        ),
      ),
    );
    log(
      `compiled processes up: ${apis.map((api) => `${api.name} ${api.url}`).join(', ')}; ` +
        `${workers.map((worker) => `${worker.name} (pid ${worker.pid})`).join(', ')}; lines at warn and above in ${processLog}`,
    );
    phase('processes');

    // ---- a workspace, Meta connected, epics in review, through both APIs ------------------------------------
    const call = async <T>(api: Api, method: string, url: string, token: string, body?: unknown) => {
      api.requests += 1;
      const response = await fetch(`${api.url}${url}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${api.name}: ${method} ${url} → ${response.status} ${text}`);
      return { body: (text ? JSON.parse(text) : null) as T, cookies: response.headers.getSetCookie() };
    };
    const [first, second] = apis as [Api, Api];
    const workspace = (
      await call<{ id: string; apiKey: string }>(first, 'POST', '/v1/workspaces', adminToken, {
        name: 'Topology',
      })
    ).body;
    const key = workspace.apiKey;
    // Meta's consent: started on one API, its callback answered by the other (the state is in PostgreSQL).
    const connect = await call<{ authorizeUrl: string }>(
      second,
      'POST',
      '/v1/connectors/meta/connect',
      key,
      {},
    );
    const consent = await fetch(connect.body.authorizeUrl, { redirect: 'manual' });
    const callbackUrl = new URL(consent.headers.get('location') ?? '');
    first.requests += 1;
    const callback = await fetch(`${first.url}${callbackUrl.pathname}${callbackUrl.search}`, {
      headers: { cookie: connect.cookies.map((cookie) => cookie.split(';')[0]).join('; ') },
    });
    if (!callback.ok) throw new Error(`Meta callback: ${callback.status} ${await callback.text()}`);
    const connector = (await callback.json()) as { id: string; accounts: { id: string; kind: string }[] };
    await call(second, 'PUT', `/v1/connectors/${connector.id}/accounts`, key, {
      enabled: connector.accounts.map((account) => account.id),
    });
    const page = connector.accounts.find((account) => account.kind === 'facebook_page');
    if (!page) throw new Error('the Meta connector has no Facebook Page');
    const epicIds = await mapLimit(
      Array.from({ length: count }, (_, index) => index),
      8,
      async (index) => {
        const api = apis[index % 2]!;
        const epic = (
          await call<{ id: string }>(api, 'POST', '/v1/epics', key, { title: `Topology ${index}` })
        ).body;
        const task = (
          await call<{ id: string }>(api, 'POST', `/v1/epics/${epic.id}/tasks`, key, {
            channel: 'facebook_post',
            connectorId: connector.id,
            accountId: page.id,
            content: { text: `Topology post for epic ${epic.id}` },
          })
        ).body;
        await call(api, 'POST', `/v1/epics/${epic.id}/tasks/${task.id}/approve`, key);
        await call(api, 'POST', `/v1/epics/${epic.id}/review`, key);
        return epic.id;
      },
    );
    log(`workspace, Meta connected, ${count} epics in review with one facebook_post each`);
    phase('epics');

    // ---- all due at one instant, scheduled through both APIs ------------------------------------------------
    // Far enough ahead for every schedule call to be answered first on a busy machine (measured: 200 calls
    // in 11 s on 2 cores shared with other work).
    const dueAt = new Date(Date.now() + 15_000 + 100 * count);
    await mapLimit(
      epicIds.map((epicId, index) => ({ epicId, api: apis[index % 2]! })),
      16,
      ({ epicId, api }) =>
        call(api, 'POST', `/v1/epics/${epicId}/schedule`, key, { scheduledAt: dueAt.toISOString() }),
    );
    const scheduledAhead = dueAt.getTime() - Date.now();
    log(
      `${count} epics scheduled, due at ${dueAt.toISOString()} (${(scheduledAhead / 1000).toFixed(1)} s ahead)`,
    );
    phase('scheduling');

    // ---- the posts go out; one worker is SIGKILLed midway -------------------------------------------------
    const connection = await Connection.connect({ address: temporal.address });
    closers.push(() => connection.close());
    const client = new Client({ connection, namespace: temporal.namespace });
    const ours = new Set(epicIds);
    const epicOfPost = (text: string | null) => /epic ([0-9a-f-]{36})/.exec(text ?? '')?.[1];
    const postsNow = () => meta.posts().filter((post) => ours.has(epicOfPost(post.text) ?? '')).length;
    const killAt = Math.max(1, Math.floor(count / 4));
    const victim = workers[0]!;
    let kill: TopologyResult['kill'] = null;
    // A worker names itself `glowtify-worker@<host>:<pid>` to Temporal (worker.ts).
    const workerOf = (identity: string | null | undefined) =>
      workers.find((worker) => identity?.endsWith(`:${worker.pid}`))?.name ?? identity ?? 'unknown';
    const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
    closers.push(() => sql.end());
    const deadline = dueAt.getTime() + 5 * 60_000;
    for (;;) {
      if (kill === null && postsNow() >= killAt) {
        const postsBefore = postsNow();
        await victim.kill();
        const atMs = Date.now() - dueAt.getTime();
        // What the dead worker held: attempts it had started and not finished, as Temporal records them.
        const described = await mapLimit(epicIds, 16, (epicId) =>
          client.workflow
            .getHandle(epicWorkflowId(epicId))
            .describe()
            .catch(() => null),
        );
        const inFlight = described
          .flatMap((description) => description?.raw.pendingActivities ?? [])
          .filter(
            (activity) => workerOf(activity.lastWorkerIdentity) === victim.name && activity.lastStartedTime,
          ).length;
        kill = { worker: victim.name, postsBefore, inFlight, atMs };
        log(
          `${victim.name} SIGKILLed ${(atMs / 1000).toFixed(1)} s after the due instant, with ${postsBefore} of ` +
            `${count} posts out and ${inFlight} publish attempts of its own in flight`,
        );
      }
      const [open] = await sql<{ count: number }[]>`
        select count(*)::int as count from epics e
        where e.id = any(${epicIds}::uuid[])
          and (e.status not in ('published', 'error')
            or exists (select 1 from publications p where p.epic_id = e.id
                       and p.status in ('pending', 'publishing', 'handed_off')))`;
      if (open?.count === 0 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // A duplicate made by a late retry just after the last publication is still counted.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    log(`every epic ended ${((Date.now() - dueAt.getTime()) / 1000).toFixed(1)} s after the due instant`);
    phase('publishing');

    // What an operator's filter in the Temporal UI finds: SQL visibility on PostgreSQL with the search
    // attributes registered above (eventually consistent: asked again for a few seconds).
    const query = `EpicStatus = 'published' AND WorkspaceId = '${workspace.id}'`;
    let visibleAsPublished = 0;
    for (const until = Date.now() + 15_000; Date.now() < until; ) {
      visibleAsPublished = (await client.workflow.count(query)).count;
      if (visibleAsPublished === count) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }

    // ---- the verdict: the platform's own record against the database --------------------------------------
    const postsByEpic = new Map<string, Date[]>();
    for (const post of meta.posts()) {
      const epicId = epicOfPost(post.text);
      if (post.kind !== 'page_post' || !epicId || !ours.has(epicId)) continue;
      postsByEpic.set(epicId, [...(postsByEpic.get(epicId) ?? []), post.publishedAt]);
    }
    const rows = await sql<{ epicId: string; epicStatus: string; status: string | null }[]>`
      select e.id as "epicId", e.status as "epicStatus", p.status
      from epics e left join publications p on p.epic_id = e.id
      where e.id = any(${epicIds}::uuid[])`;
    const violations: string[] = [];
    let duplicates = 0;
    let missed = 0;
    let mismatches = 0;
    let publishedOnce = 0;
    for (const row of rows) {
      const posts = postsByEpic.get(row.epicId)?.length ?? 0;
      if (posts > 1) {
        duplicates += 1;
        violations.push(`epic ${row.epicId}: ${posts} posts on the platform`);
      } else if (posts === 0) {
        missed += 1;
        violations.push(`epic ${row.epicId}: no post on the platform (publication ${row.status})`);
      } else if (row.status !== 'published') {
        mismatches += 1;
        violations.push(`epic ${row.epicId}: posted, but the publication is ${row.status}`);
      } else publishedOnce += 1;
    }
    if (rows.length !== count) violations.push(`${rows.length} publications for ${count} epics`);
    const published = rows.filter((row) => row.epicStatus === 'published').length;
    if (published !== count) violations.push(`${count - published} epics not published`);
    if (visibleAsPublished !== count) {
      violations.push(`${visibleAsPublished} of ${count} epics found by the visibility query ${query}`);
    }
    if (!kill) violations.push(`no worker was killed: fewer than ${killAt} posts went out`);
    if (crashes.length > 0) violations.push(`processes that died unasked: ${crashes.join(', ')}`);

    // Who did the work, from the workflows' histories: each worker's publishes, and the retries the kill made.
    const publishedBy: Record<string, number> = {};
    const workflowTasksBy: Record<string, number> = {};
    let retriedPublications = 0;
    const histories = await mapLimit(epicIds, 16, (epicId) =>
      client.workflow.getHandle(epicWorkflowId(epicId)).fetchHistory(),
    );
    for (const history of histories) {
      const publishTasks = new Set<string>();
      for (const event of history.events ?? []) {
        const scheduled = event.activityTaskScheduledEventAttributes;
        if (scheduled?.activityType?.name === 'publishTask') publishTasks.add(String(event.eventId));
        const activity = event.activityTaskStartedEventAttributes;
        if (activity && publishTasks.has(String(activity.scheduledEventId))) {
          const name = workerOf(activity.identity);
          publishedBy[name] = (publishedBy[name] ?? 0) + 1;
          if ((activity.attempt ?? 1) > 1) retriedPublications += 1;
        }
        const workflowTask = event.workflowTaskCompletedEventAttributes;
        if (workflowTask) {
          const name = workerOf(workflowTask.identity);
          workflowTasksBy[name] = (workflowTasksBy[name] ?? 0) + 1;
        }
      }
    }
    const lags = [...postsByEpic.values()].flatMap((dates) =>
      dates.map((date) => date.getTime() - dueAt.getTime()),
    );
    phase('verdict');
    passed = violations.length === 0;
    return {
      epics: count,
      scheduled: count,
      published,
      publishedOnce,
      duplicates,
      missed,
      mismatches,
      visibleAsPublished,
      kill,
      publishedBy,
      retriedPublications,
      workflowTasksBy,
      requestsBy: Object.fromEntries(apis.map((api) => [api.name, api.requests])),
      lagMs: lags.length > 0 ? summarize(lags) : null,
      phasesMs,
      violations,
      keptDir: passed && !options.keep ? null : workDir,
    };
  } finally {
    for (const close of closers.reverse()) {
      await close().catch((error: unknown) => log(`stopping: ${String(error)}`));
    }
    if (passed && !options.keep) await rm(workDir, { recursive: true, force: true });
    else log(`the run's directory is kept: ${workDir} (temporal-server.log, processes.log, pg/)`);
  }
}

export function describeTopology(result: TopologyResult): string {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const counts = (record: Record<string, number>) =>
    Object.entries(record)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, value]) => `${name} ${value}`)
      .join(', ');
  const lines = [
    `Production topology: Temporal server ${TEMPORAL_SERVER_VERSION} on PostgreSQL, 2 APIs and 2 workers compiled`,
    `  epics due at one instant      ${result.epics}`,
    `  requests answered             ${counts(result.requestsBy)}`,
    `  published exactly once        ${result.publishedOnce} of ${result.epics}`,
    `  duplicates / missed / mismatched  ${result.duplicates} / ${result.missed} / ${result.mismatches}`,
    `  EpicStatus = 'published'      ${result.visibleAsPublished} workflows (visibility on PostgreSQL)`,
    result.kill
      ? `  SIGKILL                       ${result.kill.worker} at +${seconds(result.kill.atMs)}, ${result.kill.postsBefore} posts out, ${result.kill.inFlight} of its attempts in flight`
      : '  SIGKILL                       none (too few posts went out)',
    `  publishes by worker           ${counts(result.publishedBy)} (${result.retriedPublications} retried after a failed attempt)`,
    `  workflow tasks by worker      ${counts(result.workflowTasksBy)}`,
    result.lagMs
      ? `  due → posted                  p50 ${seconds(result.lagMs.p50)}, p99 ${seconds(result.lagMs.p99)}, max ${seconds(result.lagMs.max)}`
      : '  due → posted                  nothing posted',
    `  phases                        ${Object.entries(result.phasesMs)
      .map(([name, ms]) => `${name} ${seconds(ms)}`)
      .join(', ')}`,
    ...(result.kill?.inFlight === 0
      ? ['NOTE: the kill struck no attempt in flight; a larger --epics makes it strike some']
      : []),
    ...result.violations.slice(0, 20).map((violation) => `VIOLATION: ${violation}`),
  ];
  if (result.violations.length > 20) lines.push(`… and ${result.violations.length - 20} more violations`);
  return lines.join('\n');
}

/** `npm run <script>` in the repository, its output shown only when it fails. */
function npmRun(script: string, log: (line: string) => void): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('npm', ['run', '--silent', script], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    log(`npm run ${script}`);
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolvePromise()
        : reject(new Error(`npm run ${script} failed (${code}):\n${output.slice(-4000)}`)),
    );
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      epics: { type: 'string', default: '200' },
      'skip-build': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
  });
  const epics = Number(values.epics);
  if (!Number.isInteger(epics) || epics < 1) {
    process.stderr.write(`--epics must be a positive integer, not ${values.epics}\n`);
    process.exit(2);
  }
  const result = await runProductionTopology({ epics, build: !values['skip-build'], keep: values.keep });
  process.stdout.write(`${describeTopology(result)}\n`);
  process.exit(result.violations.length === 0 ? 0 : 1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `topology failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
