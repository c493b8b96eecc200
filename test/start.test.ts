// `npm start` smoke test: a fresh DATA_DIR comes up ready, a workspace can be created, Ctrl-C leaves no
// process behind, and a second start on the same DATA_DIR still knows the workspace.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { resolveTemporalCli } from '../dev/temporal-cli.ts';
import { isPortFree, startTemporalDevServer } from '../dev/temporal-dev-server.ts';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'glowtify-start-'));
const running = new Set<ChildProcess>();

after(() => {
  for (const child of running) if (child.pid) process.kill(-child.pid, 'SIGKILL');
});

/** Processes whose command line mentions the DATA_DIR: the dev server's db file, PostgreSQL's -D. */
function processesUsing(directory: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const commandLine = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (commandLine.includes(directory) && !commandLine.includes('node --test'))
        found.push(`${entry}: ${commandLine}`);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/**
 * A free port below the ephemeral range: other test files' servers take ephemeral ports, so one picked there
 * could be taken between this check and the stack binding it.
 */
async function quietPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await isPortFree('127.0.0.1', port)) return port;
  }
}

async function startStack(
  extraEnv: Record<string, string> = {},
  script = 'start',
  readyLine = 'Press Ctrl-C to stop everything.',
) {
  const [port, temporalPort, uiPort] = [await quietPort(), await quietPort(), await quietPort()];
  // Like a terminal: its own process group, so Ctrl-C (SIGINT to the group) reaches npm and its children.
  const child = spawn('npm', script === 'start' ? ['start'] : ['run', script], {
    cwd: path.resolve(import.meta.dirname, '..'),
    detached: true,
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(port),
      TEMPORAL_DEV_PORT: String(temporalPort),
      TEMPORAL_UI_PORT: String(uiPort),
      DATABASE_URL: '',
      TEMPORAL_ADDRESS: '',
      NODE_ENV: 'development',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  // 'close' waits until every process holding the output pipes is gone, not only npm itself.
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (output.includes(readyLine)) return resolve();
      if (child.exitCode !== null) return reject(new Error(`npm start exited early:\n${output}`));
      setTimeout(check, 100);
    };
    check();
  });
  return {
    baseUrl,
    output: () => output,
    /** Ctrl-C; resolves true when the stack said it stopped and npm ended by the interrupt or with 0. */
    async interrupt() {
      process.kill(-child.pid!, 'SIGINT');
      const { code, signal } = await closed;
      running.delete(child);
      return output.includes('stopped; no process left running.') && (code === 0 || signal === 'SIGINT');
    },
  };
}

async function waitUntilReady(baseUrl: string) {
  for (;;) {
    const response = await fetch(`${baseUrl}/readyz`).catch(() => null);
    if (response?.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('npm start', () => {
  let apiKey = '';

  it('brings the stack up on a fresh DATA_DIR, prints what to do next, and Ctrl-C stops every process', async () => {
    const stack = await startStack();
    await waitUntilReady(stack.baseUrl);
    const adminToken = readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
    const printed = stack.output();
    for (const expected of [
      stack.baseUrl,
      `${stack.baseUrl}/docs`,
      'Temporal UI  http://127.0.0.1:',
      adminToken,
      'curl -s -X POST',
    ]) {
      assert.ok(printed.includes(expected), `the banner shows ${expected}`);
    }
    const docs = await fetch(`${stack.baseUrl}/docs/`);
    assert.equal(docs.status, 200);

    const created = await fetch(`${stack.baseUrl}/v1/workspaces`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Smoke' }),
    });
    assert.equal(created.status, 201);
    apiKey = ((await created.json()) as { apiKey: string }).apiKey;
    assert.ok(!stack.output().includes(apiKey), 'the API key is not logged');
    assert.ok(processesUsing(dataDir).length >= 2, 'the dev server and PostgreSQL run on the DATA_DIR');

    assert.equal(await stack.interrupt(), true, stack.output());
    assert.deepEqual(processesUsing(dataDir), []);
  });

  it('keeps the workspace across a restart on the same DATA_DIR', async () => {
    assert.ok(apiKey, 'the first start created a workspace');
    const stack = await startStack();
    assert.ok(!stack.output().includes('WARNING: generated'), 'secrets are generated only once');
    await waitUntilReady(stack.baseUrl);
    const list = await fetch(`${stack.baseUrl}/v1/epics`, { headers: { authorization: `Bearer ${apiKey}` } });
    assert.equal(list.status, 200);
    assert.equal(await stack.interrupt(), true, stack.output());
    assert.deepEqual(processesUsing(dataDir), []);
  });

  it('starts no dev server when TEMPORAL_ADDRESS is set', async () => {
    const external = await startTemporalDevServer({ cliPath: await resolveTemporalCli(), uiPort: false });
    try {
      const stack = await startStack({ TEMPORAL_ADDRESS: external.address });
      await waitUntilReady(stack.baseUrl);
      assert.ok(stack.output().includes(`(external Temporal at ${external.address})`));
      const started = processesUsing(dataDir);
      assert.ok(started.length > 0, 'PostgreSQL runs on the DATA_DIR');
      assert.deepEqual(
        started.filter((line) => line.includes('start-dev')),
        [],
      );
      assert.equal(await stack.interrupt(), true, stack.output());
      assert.deepEqual(processesUsing(dataDir), []);
    } finally {
      await external.stop();
    }
  });
});

describe('npm run demo', () => {
  it('plays the scenario to published against the simulators, and Ctrl-C leaves nothing running', async () => {
    // At info, the API logs every request: none of them may reach the terminal.
    const demo = await startStack({ LOG_LEVEL: 'info' }, 'demo', 'press Ctrl-C to stop everything.');
    const output = demo.output();
    // The story alone: the stack's JSON log lines (the API's requests among them) are in the file it names.
    const logFile = path.join(dataDir, 'demo.log');
    assert.ok(output.includes(`Log lines of the API and the worker (level info): ${logFile}`), output);
    assert.deepEqual(
      output.split('\n').filter((line) => line.trimStart().startsWith('{')),
      [],
      'no JSON log line among the story',
    );
    assert.match(readFileSync(logFile, 'utf8'), /^\{.*"\/v1\/epics".*\}$/m, 'the requests are logged there');
    assert.match(output, /Klaviyo connected: Newsletter, Regulars\./);
    assert.match(output, /Meta connected: .*instagram_account democoffee/);
    assert.match(
      output,
      /Watch it in the Temporal UI: http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\/epic-/,
    );
    assert.match(output, /klaviyo_email handed_off/);
    assert.match(output, /epic published · instagram_post published \(\d+\) · klaviyo_email published/);
    assert.match(output, /First metrics of instagram_post: .*views \d+/);
    assert.equal(await demo.interrupt(), true, demo.output());
    assert.deepEqual(processesUsing(dataDir), []);
  });
});
