// Start order does not matter: /readyz is 503 (naming Temporal) until the namespace answers, and a worker
// started before the Temporal server connects once it comes up, then runs workflows.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Connection, WorkflowClient } from '@temporalio/client';
import { buildApp } from '../api/app.ts';
import { createTemporalLink } from '../api/temporal.ts';
import { connectDatabase } from '../db/client.ts';
import { resolveTemporalCli } from '../dev/temporal-cli.ts';
import { getFreePort, startTemporalDevServer, type TemporalDevServer } from '../dev/temporal-dev-server.ts';
import { type StartedWorker, startWorker } from '../worker.ts';
import { type ApiHarness, adminToken, startApiHarness, testConfig } from './support/api.ts';

let harness: ApiHarness;
let server: TemporalDevServer | undefined;
let worker: StartedWorker | undefined;
let address: string;
const waitingLines: string[] = [];
// Stops a worker still waiting for Temporal if a test fails before it connects (else it retries forever).
const stopWaiting = new AbortController();

before(async () => {
  address = `127.0.0.1:${await getFreePort()}`;
  harness = await startApiHarness({ temporalAddress: address });
});
after(async () => {
  stopWaiting.abort();
  await worker?.shutdown();
  await server?.stop();
  await harness?.close();
});

async function readiness() {
  // As an operator: the overdue figures are for the admin token only.
  const response = await harness.app.inject({
    method: 'GET',
    url: '/readyz',
    headers: { authorization: `Bearer ${adminToken}` },
  });
  return { status: response.statusCode, body: response.json() };
}

describe('readiness and start order', () => {
  it('is live but not ready while Temporal is unreachable, and says which dependency is missing', async () => {
    assert.equal((await harness.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    const { status, body } = await readiness();
    assert.equal(status, 503);
    assert.equal(body.status, 'not_ready');
    assert.equal(body.checks.postgres.ok, true);
    assert.equal(body.checks.temporal.ok, false);
    assert.match(body.checks.temporal.error, new RegExp(`Temporal at ${address}`));
  });

  it('a worker started before the server waits with clear log lines, then connects and runs a workflow', async () => {
    const starting = startWorker(
      {
        ...testConfig({ TEMPORAL_TASK_QUEUE: 'readiness' }),
        TEMPORAL_ADDRESS: address,
        DATABASE_URL: harness.databaseUrl,
      },
      { info: () => {}, warn: (line) => waitingLines.push(line) },
      { identity: 'readiness-test-worker', signal: stopWaiting.signal },
    );
    starting.catch(() => {});
    // The worker is retrying now; wait until it has said so at least once before the server exists.
    while (!waitingLines.some((line) => line.startsWith(`waiting for Temporal at ${address}`))) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const port = Number(address.split(':')[1]);
    server = await startTemporalDevServer({ cliPath: await resolveTemporalCli(), port, uiPort: false });
    worker = await starting;

    let ready = await readiness();
    while (ready.status !== 200) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ready = await readiness();
    }
    assert.deepEqual(ready.body, {
      status: 'ready',
      checks: { postgres: { ok: true }, temporal: { ok: true } },
      details: { overdueEpics: 0, oldestOverdueScheduledAt: null, stuckPublications: 0 },
    });

    const connection = await Connection.connect({ address });
    try {
      const client = new WorkflowClient({ connection });
      const answer = await client.execute('workerProbe', {
        taskQueue: 'readiness',
        workflowId: 'probe-after-late-server',
      });
      assert.equal(answer.workerIdentity, 'readiness-test-worker');
      assert.ok(!Number.isNaN(Date.parse(answer.databaseTime)), 'the activity reached PostgreSQL');
    } finally {
      await connection.close();
    }
  });

  it('turns not ready again when Temporal goes away', async () => {
    await worker?.shutdown();
    worker = undefined;
    await server?.stop();
    server = undefined;
    const { status, body } = await readiness();
    assert.equal(status, 503);
    assert.equal(body.checks.temporal.ok, false);
  });

  it('names PostgreSQL when it is the one that does not answer', async () => {
    // A real connection to a port where no server listens: refused at once.
    const database = connectDatabase(`postgres://glowtify:x@127.0.0.1:${await getFreePort()}/glowtify`, {
      max: 1,
    });
    const temporal = createTemporalLink(`127.0.0.1:${await getFreePort()}`, 'default');
    const app = await buildApp({
      config: testConfig(),
      database,
      temporal,
    });
    try {
      const response = await app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(response.statusCode, 503);
      const body = response.json();
      assert.equal(body.checks.postgres.ok, false);
      assert.match(body.checks.postgres.error, /^PostgreSQL: /);
      assert.equal(body.checks.temporal.ok, false);
    } finally {
      await app.close();
      await temporal.close();
      await database.close();
    }
  });
});
