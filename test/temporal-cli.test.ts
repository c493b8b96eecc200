// Proves the Temporal toolchain the rest of the suite stands on: the CLI resolves (installing on a cold
// cache), a dev server starts with the project's search attributes, stops cleanly, and persists to its file.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { resolveTemporalCli } from '../dev/temporal-cli.ts';
import {
  searchAttributes,
  startTemporalDevServer,
  type TemporalDevServer,
} from '../dev/temporal-dev-server.ts';

// temporal.api.enums.v1.IndexedValueType wire values, written out independently of the module under test.
const expectedTypes: Record<string, number> = { Keyword: 2, Datetime: 6, KeywordList: 7 };

let cliPath: string;
const servers: TemporalDevServer[] = [];
const tempDirs: string[] = [];

before(async () => {
  cliPath = await resolveTemporalCli({ log: (line) => console.error(line) });
});

after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function start(options: Omit<Parameters<typeof startTemporalDevServer>[0], 'cliPath'>) {
  const server = await startTemporalDevServer({ cliPath, ...options });
  servers.push(server);
  return server;
}

test('a headless in-memory dev server answers, has the search attributes, and stops', async () => {
  const server = await start({ uiPort: false });
  assert.equal(server.uiUrl, null);
  assert.equal(server.namespace, 'default');
  const pid = server.process.pid;
  assert.ok(pid !== undefined && isAlive(pid));

  const connection = await Connection.connect({ address: server.address });
  try {
    const described = await connection.workflowService.describeNamespace({ namespace: 'default' });
    assert.equal(described.namespaceInfo?.name, 'default');
    const { customAttributes } = await connection.operatorService.listSearchAttributes({
      namespace: 'default',
    });
    for (const [name, type] of Object.entries(searchAttributes)) {
      assert.equal(
        customAttributes?.[name],
        expectedTypes[type],
        `search attribute ${name} should be ${type}`,
      );
    }
  } finally {
    await connection.close();
  }

  await server.stop();
  assert.equal(isAlive(pid), false);
  await server.stop(); // idempotent
});

test('a dev server with a database file keeps workflows across a restart', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'glowtify-temporal-'));
  tempDirs.push(dir);
  const dbFile = join(dir, 'nested', 'temporal.sqlite');
  const workflowId = `persist-${Date.now()}`;
  const epicId = defineSearchAttributeKey('EpicId', SearchAttributeType.KEYWORD);

  const first = await start({ uiPort: false, dbFile });
  const firstConnection = await Connection.connect({ address: first.address });
  try {
    // No worker polls this queue: the execution just stays open, which is all persistence needs.
    await new Client({ connection: firstConnection }).workflow.start('notImplementedAnywhere', {
      taskQueue: 'temporal-cli-test-no-worker',
      workflowId,
      typedSearchAttributes: [{ key: epicId, value: 'epic-1' }],
    });
  } finally {
    await firstConnection.close();
  }
  await first.stop();

  const second = await start({ uiPort: false, dbFile });
  const secondConnection = await Connection.connect({ address: second.address });
  try {
    const description = await new Client({ connection: secondConnection }).workflow
      .getHandle(workflowId)
      .describe();
    assert.equal(description.type, 'notImplementedAnywhere');
    assert.equal(description.status.name, 'RUNNING');
    assert.equal(description.typedSearchAttributes.get(epicId), 'epic-1');
  } finally {
    await secondConnection.close();
  }
  await second.stop();
});

test('a dev server with the Web UI serves it', async () => {
  const server = await start({});
  assert.ok(server.uiUrl);
  const response = await fetch(server.uiUrl);
  assert.equal(response.status, 200);
  assert.match(await response.text(), /<html/i);
  await server.stop();
});
