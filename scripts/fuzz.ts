// `npm run fuzz`: schemathesis against the API's own /openapi.json on a throwaway stack (the stack of
// `npm start` with every platform simulator, as `npm run demo` wires it), with a workspace whose Meta and
// Klaviyo are connected and two epics, so the document's links reach real objects. Fails on any 5xx and on any
// response the document does not describe. `-- --quick` is CI's size; `-- --seed N` replays a run.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../config.ts';
import { resolveSchemathesis, type Schemathesis } from '../dev/schemathesis.ts';
import { runStack, say } from '../dev/stack.ts';
import { getFreePort } from '../dev/temporal-dev-server.ts';
import { klaviyoSandboxApiKey } from '../sandbox/klaviyo.ts';
import { startSandboxPlatforms } from '../sandbox/platforms.ts';

/** Test cases per operation: the full run generates over 10,000 requests, the quick one a few hundred. */
const fullExamples = 100;
const quickExamples = 6;
/** Fewer requests than this means the run did not really happen (the operations were skipped or errored). */
const fullMinimumRequests = 10_000;
const quickMinimumRequests = 300;
/** How many times at most the workspace run is repeated (with the next seeds) to reach the minimum. */
const maxRounds = 8;

// Failures that say a response is not what the document describes: an undocumented status (ST103), a missing
// or undocumented content type (ST104, ST105, ST106), a missing documented header (ST107), a body violating
// its schema (ST108), malformed or undecodable JSON (ST109, ST110), a discriminator mismatch (ST111).
const schemaViolationCodes = new Set([
  'ST103',
  'ST104',
  'ST105',
  'ST106',
  'ST107',
  'ST108',
  'ST109',
  'ST110',
  'ST111',
]);
const serverErrorCodes = new Set(['ST101', 'ST102']);

const checks = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_headers_conformance',
  'response_schema_conformance',
  'ignored_auth',
  'ensure_resource_availability',
  // Not use_after_free: DELETE /v1/connectors/{id} disconnects, and the connector stays readable as
  // `not_connected` (its accounts and choices kept for a reconnect), which that check counts as a failure.
];

export interface FuzzSummary {
  seed: string;
  maxExamples: number;
  durationMs: number;
  testCases: number;
  requests: number;
  operationsDocumented: number;
  operationsCovered: number;
  serverErrors: number;
  schemaViolations: number;
  /** Failures of the other checks (auth ignored, a deleted resource still readable, …). */
  otherFailures: number;
  failures: { code: string; title: string; count: number; operations: string[] }[];
  /** Per operation (`METHOD /path/{template}`): responses by status code. */
  statuses: Record<string, Record<string, number>>;
  schemathesisExitCode: number;
  minimumRequests: number;
}

const { values: options } = parseArgs({
  options: {
    quick: { type: 'boolean', default: process.env.FUZZ_QUICK === '1' },
    seed: { type: 'string' },
    'max-examples': { type: 'string' },
    /** Where to write the summary as JSON (the test reads it). */
    'summary-json': { type: 'string' },
    /** Where schemathesis's reports go (kept); default: a temporary directory, removed. */
    'report-dir': { type: 'string' },
  },
});
const maxExamples = Number(options['max-examples'] ?? (options.quick ? quickExamples : fullExamples));
const minimumRequests = options.quick ? quickMinimumRequests : fullMinimumRequests;
const seed = options.seed ?? BigInt(`0x${randomBytes(12).toString('hex')}`).toString();
if (!/^\d+$/.test(seed) || !Number.isInteger(maxExamples) || maxExamples < 1) {
  process.stderr.write('usage: npm run fuzz -- [--quick] [--seed <integer>] [--max-examples <n>]\n');
  process.exit(2);
}

const schemathesis = await resolveSchemathesis({ log: say });
const platforms = await startSandboxPlatforms();
const dataDir = await mkdtemp(path.join(tmpdir(), 'glowtify-fuzz-'));
const reportDir = options['report-dir'] ?? path.join(dataDir, 'reports');
const [port, temporalPort, uiPort] = [await getFreePort(), await getFreePort(), await getFreePort()];
const config = loadConfigOrExit({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  DATA_DIR: dataDir,
  HOST: '127.0.0.1',
  PORT: String(port),
  TEMPORAL_DEV_PORT: String(temporalPort),
  TEMPORAL_UI_PORT: String(uiPort),
  // Errors only: a 500 prints its stack; the fuzzer's thousands of 4xx do not.
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
  // The fuzzer is one client sending thousands of requests a minute: the limits would answer it 429 instead
  // of exercising the routes (429 stays documented on every /v1 route, and test/rate-limits.test.ts covers it).
  RATE_LIMIT_PER_WORKSPACE_PER_MINUTE: '1000000',
  RATE_LIMIT_PER_IP_PER_MINUTE: '1000000',
  MEDIA_ALLOW_PRIVATE_HOSTS: 'true',
  HANDOFF_CONFIRMATION_POLL_MS: '1000',
  ...platforms.config,
});
const started = Date.now();
/** The schemathesis run under way: a signal that ends this script ends it too, rather than orphan it. */
let schemathesisChild: ChildProcess | null = null;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    // runStack's own handler stops the stack and exits with this: a run cut short has not passed.
    process.exitCode = 128 + constants.signals[signal];
    schemathesisChild?.kill('SIGTERM');
  });
}
const stack = await runStack(config);
stack.onStop(() => platforms.close());

let exitCode = 1;
try {
  const keys = await seedWorkspace(stack.apiUrl, config.ADMIN_TOKEN);
  await mkdir(reportDir, { recursive: true });
  say(
    `fuzzing ${stack.apiUrl}/openapi.json: schemathesis ${schemathesis.version}, ${maxExamples} examples per operation, seed ${seed}`,
  );
  say(`  replay: npm run fuzz -- ${options.quick ? '--quick ' : ''}--seed ${seed}`);
  // Three runs, each with the credential its operations take: the workspace routes with the workspace's key;
  // workspace creation with the admin token; key rotation last, on the second workspace.
  const runs: FuzzRun[] = [
    {
      name: 'workspace',
      token: keys.apiKey,
      filters: ['--exclude-path-regex', '^/v1/workspaces'],
      phases: 'examples,coverage,fuzzing,stateful',
    },
    // One operation each, which no link reaches: no stateful phase.
    {
      name: 'admin',
      token: config.ADMIN_TOKEN,
      filters: ['--include-path', '/v1/workspaces'],
      phases: 'examples,coverage,fuzzing',
    },
    {
      name: 'rotation',
      token: keys.rotatingKey,
      filters: ['--include-path', '/v1/workspaces/current/api-keys'],
      phases: 'examples,coverage,fuzzing',
    },
  ];
  const exitCodes: number[] = [];
  for (const run of runs) {
    say(`\n== ${run.name}: schemathesis run ${run.filters.join(' ')}`);
    exitCodes.push(await runSchemathesis(schemathesis, stack.apiUrl, run, reportDir));
  }
  // Schemathesis stops an operation's generation once it runs out of new cases, well before 10,000 requests
  // at any --max-examples: the workspace run is repeated with the next seeds (seed + 1, …) until the run has
  // sent the minimum, so `--seed N` still replays every round.
  for (
    let round = 1;
    round < maxRounds && (await harRequests(reportDir, runs)) < minimumRequests;
    round += 1
  ) {
    const again: FuzzRun = { ...runs[0]!, name: `workspace-${round + 1}`, seedOffset: round };
    say(
      `\n== ${again.name}: schemathesis run ${again.filters.join(' ')} --seed ${BigInt(seed) + BigInt(round)}`,
    );
    runs.push(again);
    exitCodes.push(await runSchemathesis(schemathesis, stack.apiUrl, again, reportDir));
  }
  const schemathesisExitCode = Math.max(...exitCodes);
  const summary = await summarize(
    stack.apiUrl,
    reportDir,
    runs.map((run) => run.name),
    schemathesisExitCode,
    Date.now() - started,
  );
  report(summary);
  if (options['summary-json'])
    await writeFile(options['summary-json'], `${JSON.stringify(summary, null, 2)}\n`);
  const passed =
    summary.serverErrors === 0 &&
    summary.schemaViolations === 0 &&
    summary.otherFailures === 0 &&
    summary.requests >= minimumRequests &&
    summary.schemathesisExitCode === 0;
  if (!passed && summary.requests < minimumRequests) {
    say(`FAILED: only ${summary.requests} requests were sent (at least ${minimumRequests} expected)`);
  }
  exitCode = passed ? 0 : 1;
} catch (error) {
  stack.logger.error({ err: error }, 'the fuzz run failed');
} finally {
  await stack.stopAll(exitCode === 0 ? 'fuzz run passed' : 'fuzz run failed');
  await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
}
process.exit(exitCode);

/**
 * A workspace with Meta (its Page and Instagram account enabled) and Klaviyo connected, an epic in draft with
 * an approved task on each, and one in review: the links from the lists (`items/0`, `connected/0`) lead the
 * stateful phase to them. Returns its API key, and the key of a second workspace whose key rotations are fuzzed.
 */
async function seedWorkspace(
  apiUrl: string,
  adminToken: string,
): Promise<{ apiKey: string; rotatingKey: string }> {
  let cookies: string[] = [];
  const call = async <T>(method: string, route: string, token: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${apiUrl}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    cookies.push(...response.headers.getSetCookie().map((cookie) => cookie.split(';')[0]!));
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${route} → ${response.status}: ${text}`);
    return (text ? JSON.parse(text) : null) as T;
  };
  const { apiKey } = await call<{ apiKey: string }>('POST', '/v1/workspaces', adminToken, { name: 'Fuzz' });
  type Connector = { id: string; accounts: { id: string; kind: string; externalId: string }[] };
  const klaviyo = await call<Connector>('POST', '/v1/connectors/klaviyo/connect', apiKey, {
    apiKey: klaviyoSandboxApiKey,
  });
  const { authorizeUrl } = await call<{ authorizeUrl: string }>(
    'POST',
    '/v1/connectors/meta/connect',
    apiKey,
    {},
  );
  const consent = await fetch(authorizeUrl, { redirect: 'manual' });
  const callback = await fetch(new URL(consent.headers.get('location')!, apiUrl), {
    redirect: 'manual',
    headers: { cookie: cookies.join('; ') },
  });
  cookies = [];
  if (callback.status !== 200)
    throw new Error(`Meta's callback → ${callback.status}: ${await callback.text()}`);
  const meta = (await callback.json()) as Connector;
  await call('PUT', `/v1/connectors/${meta.id}/accounts`, apiKey, {
    enabled: meta.accounts.map((account) => account.id),
  });
  const instagram = meta.accounts.find((account) => account.kind === 'instagram_account')!;
  const list = klaviyo.accounts.find((account) => account.kind === 'list') ?? klaviyo.accounts[0]!;
  const tasks = [
    {
      channel: 'instagram_post',
      connectorId: meta.id,
      accountId: instagram.id,
      content: { caption: 'Fuzzing season', mediaUrls: ['https://cdn.example.com/fuzz.jpg'] },
    },
    {
      channel: 'klaviyo_email',
      connectorId: klaviyo.id,
      content: {
        subject: 'Fuzzing season',
        fromName: 'Fuzz Co.',
        fromEmail: 'hello@fuzz.example',
        html: '<p>Hello</p>',
        audiences: { included: [list.externalId] },
      },
    },
  ];
  for (const status of ['draft', 'review']) {
    const epic = await call<{ id: string }>('POST', '/v1/epics', apiKey, { title: `A ${status} epic` });
    for (const task of tasks) {
      const created = await call<{ id: string }>('POST', `/v1/epics/${epic.id}/tasks`, apiKey, task);
      await call('POST', `/v1/epics/${epic.id}/tasks/${created.id}/approve`, apiKey);
    }
    if (status === 'review') await call('POST', `/v1/epics/${epic.id}/review`, apiKey);
  }
  // Rotating a key (with a grace of 0 s it stops at once) would lock the main run out: rotation is fuzzed last,
  // with a workspace of its own.
  const rotating = await call<{ apiKey: string }>('POST', '/v1/workspaces', adminToken, {
    name: 'Fuzz rotation',
  });
  say('seeded a workspace: Meta and Klaviyo connected, an epic in draft and one in review');
  return { apiKey, rotatingKey: rotating.apiKey };
}

interface FuzzRun {
  name: string;
  /** Sent as the bearer token of every request. */
  token: string;
  /** Which operations (schemathesis's --include-… / --exclude-… options). */
  filters: string[];
  phases: string;
  /** Added to the run's seed (the repeated rounds). */
  seedOffset?: number;
}

/** The requests the runs so far have recorded. */
async function harRequests(dir: string, runs: FuzzRun[]): Promise<number> {
  let requests = 0;
  for (const run of runs) {
    const har = JSON.parse(await readFile(path.join(dir, `${run.name}.har`), 'utf8')) as HarLog;
    requests += har.log.entries.length;
  }
  return requests;
}

function runSchemathesis(st: Schemathesis, apiUrl: string, run: FuzzRun, dir: string): Promise<number> {
  const args = [
    ...st.args,
    'run',
    `${apiUrl}/openapi.json`,
    ...run.filters,
    '--url',
    apiUrl,
    '--header',
    `Authorization: Bearer ${run.token}`,
    '--checks',
    checks.join(','),
    '--phases',
    run.phases,
    '--max-examples',
    String(maxExamples),
    '--seed',
    String(BigInt(seed) + BigInt(run.seedOffset ?? 0)),
    // One worker: requests in a reproducible order, and the stack keeps the second core.
    '--workers',
    '1',
    '--request-timeout',
    '60',
    '--report',
    'json,har,junit',
    '--report-dir',
    dir,
    '--report-json-path',
    path.join(dir, `${run.name}.json`),
    '--report-har-path',
    path.join(dir, `${run.name}.har`),
    '--report-junit-path',
    path.join(dir, `${run.name}.junit.xml`),
  ];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(st.python, args, {
      // Its example database (.schemathesis/) goes to the run's directory: nothing in the repository, and no
      // failing examples of earlier runs replayed into this one (the seed decides what is generated).
      cwd: dir,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, NO_COLOR: process.stdout.isTTY ? (process.env.NO_COLOR ?? '') : '1' },
    });
    schemathesisChild = child;
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      schemathesisChild = null;
      resolvePromise(code ?? (signal ? 128 : 1));
    });
  });
}

interface HarLog {
  log: { entries: { request: { method: string; url: string }; response: { status: number } }[] };
}

interface JsonReport {
  test_cases: { generated: number };
  failures: { code: string; title: string; count: number; operations: string[] }[];
}

async function summarize(
  apiUrl: string,
  dir: string,
  runNames: string[],
  schemathesisExitCode: number,
  durationMs: number,
): Promise<FuzzSummary> {
  const documentResponse = await fetch(`${apiUrl}/openapi.json`);
  const document = (await documentResponse.json()) as { paths: Record<string, Record<string, unknown>> };
  const routes = Object.entries(document.paths).map(([template, methods]) => ({
    template,
    methods: Object.keys(methods).map((method) => method.toUpperCase()),
    pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
  }));
  const operations = routes.flatMap((route) => route.methods.map((method) => `${method} ${route.template}`));
  const statuses: Record<string, Record<string, number>> = {};
  const failures: FuzzSummary['failures'] = [];
  let requests = 0;
  let testCases = 0;
  let serverErrors = 0;
  for (const name of runNames) {
    const har = JSON.parse(await readFile(path.join(dir, `${name}.har`), 'utf8')) as HarLog;
    const json = JSON.parse(await readFile(path.join(dir, `${name}.json`), 'utf8')) as JsonReport;
    testCases += json.test_cases.generated;
    failures.push(
      ...json.failures.map(({ code, title, count, operations: where }) => ({
        code,
        title,
        count,
        operations: where,
      })),
    );
    for (const { request, response } of har.log.entries) {
      requests += 1;
      const pathname = new URL(request.url).pathname;
      const route = routes.find((candidate) => candidate.pattern.test(pathname));
      // The coverage phase also sends methods a path does not have (404) and paths no route has.
      const label =
        route?.methods.includes(request.method) === true
          ? `${request.method} ${route.template}`
          : `${request.method} (a method or path the document does not have)`;
      const byStatus = statuses[label] ?? {};
      byStatus[response.status] = (byStatus[response.status] ?? 0) + 1;
      statuses[label] = byStatus;
      if (response.status >= 500) serverErrors += 1;
    }
  }
  const failuresOf = (include: (code: string) => boolean) =>
    failures.filter((failure) => include(failure.code)).reduce((sum, failure) => sum + failure.count, 0);
  return {
    seed,
    maxExamples,
    durationMs,
    testCases,
    requests,
    operationsDocumented: operations.length,
    operationsCovered: operations.filter((operation) => statuses[operation]).length,
    serverErrors: Math.max(
      serverErrors,
      failuresOf((code) => serverErrorCodes.has(code)),
    ),
    schemaViolations: failuresOf((code) => schemaViolationCodes.has(code)),
    otherFailures: failuresOf((code) => !schemaViolationCodes.has(code) && !serverErrorCodes.has(code)),
    failures,
    statuses,
    schemathesisExitCode,
    minimumRequests,
  };
}

function report(summary: FuzzSummary) {
  say('');
  say('responses by operation:');
  for (const [label, byStatus] of Object.entries(summary.statuses).sort(([a], [b]) => a.localeCompare(b))) {
    const total = Object.values(byStatus).reduce((sum, n) => sum + n, 0);
    const detail = Object.entries(byStatus)
      .map(([status, n]) => `${status}×${n}`)
      .join(' ');
    say(`  ${label.padEnd(52)} ${String(total).padStart(6)}  ${detail}`);
  }
  for (const failure of summary.failures) {
    say(`  FAILURE ${failure.code} ${failure.title} ×${failure.count}: ${failure.operations.join(', ')}`);
  }
  say('');
  say(
    `requests          ${summary.requests} (${summary.testCases} test cases, ${summary.maxExamples} examples per operation)`,
  );
  say(`operations        ${summary.operationsCovered} of ${summary.operationsDocumented} documented`);
  say(`5xx responses     ${summary.serverErrors}`);
  say(`schema violations ${summary.schemaViolations}`);
  say(`other failures    ${summary.otherFailures}`);
  say(`seed              ${summary.seed}`);
  say(`duration          ${(summary.durationMs / 1000).toFixed(0)} s (stack start-up included)`);
}
