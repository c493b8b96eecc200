// The whole stack for end-to-end tests: a real Temporal dev server, a real PostgreSQL database, the Meta and
// Klaviyo simulators over HTTP, the API (app.inject) and a worker, wired as `npm start` wires them.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { eq } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type { EpicWorkflows } from '../../api/epic-workflows.ts';
import { openCredentials } from '../../db/credentials-codec.ts';
import { connectors } from '../../db/schema.ts';
import { resolveTemporalCli } from '../../dev/temporal-cli.ts';
import { startTemporalDevServer, type TemporalDevServer } from '../../dev/temporal-dev-server.ts';
import { klaviyoScopes, startKlaviyoSimulator } from '../../sandbox/klaviyo.ts';
import { type MetaSimulatorOptions, startMetaSimulator } from '../../sandbox/meta.ts';
import { type StartedWorker, startWorker } from '../../worker.ts';
import { type ApiHarness, createWorkspace, startApiHarness, type TestWorkspace } from './api.ts';
import { contentExamples } from './examples.ts';
import { browserOf, type PlatformSimulators, startPlatformSimulators } from './platforms.ts';

const run = promisify(execFile);
export const klaviyoKey = 'pk_test_glowtify_sandbox_key_0001';
export const repoRoot = path.resolve(import.meta.dirname, '..', '..');

export interface Stack {
  harness: ApiHarness;
  temporal: TemporalDevServer;
  client: Client;
  meta: Awaited<ReturnType<typeof startMetaSimulator>>;
  klaviyo: Awaited<ReturnType<typeof startKlaviyoSimulator>>;
  /** The other platforms' simulators, when asked for. */
  platforms: PlatformSimulators | null;
  worker: StartedWorker | null;
  taskQueue: string;
  /** The environment a worker process needs to join this stack. */
  workerEnv: Record<string, string>;
  startWorker(): Promise<StartedWorker>;
  stopWorker(): Promise<void>;
  temporalCli(...args: string[]): Promise<string>;
  close(): Promise<void>;
}

export type StackOptions = NonNullable<Parameters<typeof startStack>[0]>;

/**
 * The stack of a test file: started before its tests, closed after them. The object answers once started
 * (inside a test or a hook that runs after this one), like the `let stack` it replaces.
 */
export function useStack(options?: StackOptions): Stack {
  let started: Stack | undefined;
  before(async () => {
    started = await startStack(options);
  });
  after(async () => started?.close());
  return new Proxy({} as Stack, {
    get: (_target, key) => {
      if (!started) throw new Error('the test stack is started by before(): use it inside a test');
      return Reflect.get(started, key);
    },
  });
}

export async function startStack(
  options: {
    config?: Record<string, string>;
    withWorker?: boolean;
    klaviyoEditLockSeconds?: number;
    /** E.g. short-lived tokens for the token-refresh tests, ad accounts for the Facebook ads tests. */
    meta?: Pick<MetaSimulatorOptions, 'longLivedTokenSeconds' | 'adAccounts'>;
    /** The API's logger (the secrets test reads every line it writes). */
    logger?: FastifyBaseLogger;
    /** The worker's log lines (the secrets test reads them too). */
    workerLog?: (line: string) => void;
    /** Also start every other platform's simulator (LinkedIn, TikTok, Google, Mailchimp, Canva, Shopify…). */
    platforms?: Parameters<typeof startPlatformSimulators>[0];
    /** Puts a failure between the API and Temporal. */
    wrapEpicWorkflows?: (real: EpicWorkflows) => EpicWorkflows;
    /** The dev server's dynamic config (e.g. a low continue-as-new suggestion). */
    temporalDynamicConfig?: Record<string, string | number | boolean>;
    /** Keeps Temporal's state in this file, so a server killed mid-run can be started again on it. */
    temporalDbFile?: string;
  } = {},
): Promise<Stack> {
  const cliPath = await resolveTemporalCli();
  const temporal = await startTemporalDevServer({
    cliPath,
    uiPort: false,
    ...(options.temporalDynamicConfig ? { dynamicConfig: options.temporalDynamicConfig } : {}),
    ...(options.temporalDbFile ? { dbFile: options.temporalDbFile } : {}),
  });
  const meta = await startMetaSimulator({
    clientId: 'glowtify-test-app',
    clientSecret: 'glowtify-test-secret',
    pages: [{ id: '1001', name: 'Acme Page', instagram: { id: '17841400000000001', username: 'acme' } }],
    ...(options.meta ?? {}),
  });
  const klaviyo = await startKlaviyoSimulator({
    apiKeys: {
      [klaviyoKey]: {
        scopes: klaviyoScopes,
      },
    },
    lists: [{ id: 'Y6nRLr', name: 'Newsletter' }],
    segments: [{ id: 'Xb2Kq9', name: 'VIP' }],
    editLockSeconds: options.klaviyoEditLockSeconds ?? 0,
  });
  const platformSims = options.platforms ? await startPlatformSimulators(options.platforms) : null;
  const taskQueue = 'glowtify-test';
  const overrides: Record<string, string> = {
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    META_API_BASE_URL: meta.url,
    META_AUTH_BASE_URL: meta.url,
    META_CLIENT_ID: 'glowtify-test-app',
    META_CLIENT_SECRET: 'glowtify-test-secret',
    KLAVIYO_API_BASE_URL: klaviyo.url,
    PUBLICATION_ATTEMPTS_LIMIT: '3',
    PUBLICATION_RETRY_INITIAL_INTERVAL_MS: '100',
    PUBLICATION_RETRY_MAX_INTERVAL_MS: '400',
    PUBLICATION_HEARTBEAT_TIMEOUT_MS: '3000',
    HANDOFF_CONFIRMATION_POLL_MS: '250',
    HANDOFF_CONFIRMATION_WINDOW_MS: '120000',
    ...(platformSims?.config ?? {}),
    ...(options.config ?? {}),
  };
  const harness = await startApiHarness({
    temporalAddress: temporal.address,
    config: overrides,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.wrapEpicWorkflows ? { wrapEpicWorkflows: options.wrapEpicWorkflows } : {}),
  });
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  const workerEnv = {
    ...overrides,
    DATABASE_URL: harness.databaseUrl,
    NODE_ENV: 'test',
    ADMIN_TOKEN: harness.config.ADMIN_TOKEN,
    CREDENTIALS_KEY: Buffer.alloc(32, 7).toString('base64'),
    LOG_LEVEL: 'warn',
    // Several worker processes share this machine in a test: none serves /metrics unless a test asks.
    WORKER_METRICS_PORT: '0',
  };

  const stack: Stack = {
    harness,
    temporal,
    client,
    meta,
    klaviyo,
    platforms: platformSims,
    worker: null,
    taskQueue,
    workerEnv,
    async startWorker() {
      stack.worker = await startWorker(
        { ...harness.config, TEMPORAL_ADDRESS: temporal.address, DATABASE_URL: harness.databaseUrl },
        { info: options.workerLog ?? (() => {}), warn: options.workerLog ?? (() => {}) },
      );
      return stack.worker;
    },
    async stopWorker() {
      await stack.worker?.shutdown();
      stack.worker = null;
    },
    async temporalCli(...args) {
      const { stdout } = await run(cliPath, [
        ...args,
        '--address',
        temporal.address,
        '--namespace',
        'default',
      ]);
      return stdout;
    },
    async close() {
      await stack.stopWorker();
      await connection.close();
      await harness.close();
      await temporal.stop();
      await meta.close();
      await klaviyo.close();
      await platformSims?.close();
    },
  };
  if (options.withWorker !== false) await stack.startWorker();
  return stack;
}

/** Polls until `read` gives a value `done` accepts; the test's own timeout bounds the wait. */
export async function waitFor<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  intervalMs = 100,
): Promise<T> {
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export async function connectKlaviyo(workspace: TestWorkspace) {
  const response = await workspace.api.post('/v1/connectors/klaviyo/connect', { apiKey: klaviyoKey });
  if (response.statusCode !== 201) throw new Error(`Klaviyo connect failed: ${response.body}`);
  return response.json() as { id: string; accounts: { id: string; kind: string; externalId: string }[] };
}

/** Meta's OAuth dance against the simulator: consent page → callback → every account enabled. */
export async function connectMeta(stack: Pick<Stack, 'harness'>, workspace: TestWorkspace) {
  const started = await workspace.api.post('/v1/connectors/meta/connect', {});
  if (started.statusCode !== 200) throw new Error(`Meta connect failed: ${started.body}`);
  const consent = await fetch(started.json().authorizeUrl, { redirect: 'manual' });
  const location = new URL(consent.headers.get('location')!);
  const callback = await stack.harness.app.inject({
    method: 'GET',
    url: `${location.pathname}${location.search}`,
    cookies: browserOf(started),
  });
  if (callback.statusCode !== 200) throw new Error(`Meta callback failed: ${callback.body}`);
  const connector = callback.json() as { id: string; accounts: { id: string; kind: string }[] };
  const enabled = await workspace.api.request({
    method: 'PUT',
    url: `/v1/connectors/${connector.id}/accounts`,
    payload: { enabled: connector.accounts.map((account) => account.id) },
  });
  return enabled.json() as { id: string; accounts: { id: string; kind: string; externalId: string }[] };
}

export interface ConnectedWorkspace {
  workspace: TestWorkspace;
  meta: Awaited<ReturnType<typeof connectMeta>>;
  klaviyo: Awaited<ReturnType<typeof connectKlaviyo>>;
}

export async function connectedWorkspace(stack: Stack, name = 'Acme'): Promise<ConnectedWorkspace> {
  const workspace = await createWorkspace(stack.harness, name);
  return { workspace, meta: await connectMeta(stack, workspace), klaviyo: await connectKlaviyo(workspace) };
}

type TaskKind = 'instagram_post' | 'facebook_post' | 'instagram_story' | 'klaviyo_email';

/** Creates an epic with the given tasks, approves them and sends it to review. */
export async function reviewedEpic(setup: ConnectedWorkspace, kinds: TaskKind[], title = 'Spring launch') {
  const { workspace } = setup;
  const epic = (await workspace.api.post('/v1/epics', { title })).json() as { id: string };
  const instagram = setup.meta.accounts.find((account) => account.kind === 'instagram_account')!;
  const page = setup.meta.accounts.find((account) => account.kind === 'facebook_page')!;
  const taskIds: Record<string, string> = {};
  /** Every task in creation order (taskIds keeps the last one of each kind). */
  const taskList: { kind: TaskKind; id: string }[] = [];
  for (const kind of kinds) {
    const body =
      kind === 'klaviyo_email'
        ? { channel: kind, connectorId: setup.klaviyo.id, content: contentExamples.klaviyo_email }
        : {
            channel: kind,
            connectorId: setup.meta.id,
            accountId: kind === 'facebook_post' ? page.id : instagram.id,
            content: contentExamples[kind],
          };
    const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, body);
    if (task.statusCode !== 201) throw new Error(`task failed: ${task.body}`);
    taskIds[kind] = task.json().id;
    taskList.push({ kind, id: task.json().id });
    await workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.json().id}/approve`);
  }
  const review = await workspace.api.post(`/v1/epics/${epic.id}/review`);
  if (review.statusCode !== 200) throw new Error(`review failed: ${review.body}`);
  return { epicId: epic.id, taskIds, tasks: taskList };
}

export interface EpicBody {
  id: string;
  status: string;
  scheduledAt: string | null;
  timeZone: string | null;
  tasks: {
    id: string;
    channel: string;
    publication: {
      status: string;
      attempts: number;
      externalId: string | null;
      lastError: { class: string; message: string } | null;
      publishedAt: string | null;
      lagMs: number | null;
      unconfirmed?: boolean;
    } | null;
  }[];
}

export async function readEpic(workspace: TestWorkspace, epicId: string): Promise<EpicBody> {
  return (await workspace.api.get(`/v1/epics/${epicId}`)).json() as EpicBody;
}

export const waitForStatus = (workspace: TestWorkspace, epicId: string, status: string) =>
  waitFor(
    () => readEpic(workspace, epicId),
    (epic) => epic.status === status,
  );

/**
 * Replays these runs against the current workflow code, and with RECORD_HISTORIES=1 saves each as a fixture
 * `test/fixtures/histories/<file>.json` (the CLI's JSON, as operators export it). A fixture is never
 * overwritten by a history of newer code under its old name: name new runs anew.
 */
export async function replayAndRecord(stack: Stack, runs: Record<string, string>) {
  const replayed = await replayEpicHistories(stack, Object.values(runs));
  if (process.env.RECORD_HISTORIES === '1') {
    for (const [file, workflowId] of Object.entries(runs)) {
      const exported = await stack.temporalCli(
        'workflow',
        'show',
        '--workflow-id',
        workflowId,
        '--output',
        'json',
      );
      writeFileSync(path.join(repoRoot, 'test', 'fixtures', 'histories', `${file}.json`), exported);
    }
  }
  return replayed;
}

/** An ISO instant this many seconds from now. */
export const isoInSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();

/** The Klaviyo campaigns of one epic: their names carry the hand-off key, which begins with the epic's id. */
export const epicCampaigns = (stack: Stack, epicId: string) =>
  stack.klaviyo.campaigns().filter((campaign) => campaign.name.includes(epicId.slice(0, 8)));

/**
 * Schedules epics through the API and keeps their runs, so a test file replays them at its end (and saves
 * them as fixtures `<prefix>-NN` with RECORD_HISTORIES=1).
 */
export function recordedRuns(prefix: string) {
  const workflowIds = new Set<string>();
  return {
    schedule(setup: ConnectedWorkspace, epicId: string, scheduledAt: string) {
      workflowIds.add(`epic-${epicId}`);
      return setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, { scheduledAt });
    },
    replay(stack: Stack) {
      const runs = [...workflowIds].map((workflowId, index) => [
        `${prefix}-${String(index + 1).padStart(2, '0')}`,
        workflowId,
      ]);
      return replayAndRecord(stack, Object.fromEntries(runs));
    },
  };
}

/** Replays the recorded histories of the given workflows (any type) against the current workflow code. */
export async function replayEpicHistories(stack: Stack, workflowIds: string[]) {
  const histories = await Promise.all(
    workflowIds.map(async (workflowId) => ({
      workflowId,
      history: await stack.client.workflow.getHandle(workflowId).fetchHistory(),
    })),
  );
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories(
    { workflowsPath: path.join(repoRoot, 'workflows', 'index.ts') },
    histories,
  )) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  return { histories, failures };
}

/** A connector's row as the database holds it now. */
export async function storedConnector(stack: Pick<Stack, 'harness'>, id: string) {
  const [row] = await stack.harness.database.db.select().from(connectors).where(eq(connectors.id, id));
  if (!row) throw new Error(`no connector ${id}`);
  return row;
}

/** The credentials a connector holds now, opened with the stack's key (what the worker would send). */
export async function storedCredentials(stack: Pick<Stack, 'harness'>, id: string) {
  const row = await storedConnector(stack, id);
  return openCredentials<Record<string, string>>(stack.harness.config.CREDENTIALS_KEY, id, {
    keyId: row.credentialsKeyId!,
    ciphertext: row.credentials!,
  });
}
