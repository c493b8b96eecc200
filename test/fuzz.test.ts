// The quick API fuzz run (`npm run fuzz -- --quick`): schemathesis against /openapi.json on a throwaway stack
// finds no 5xx and no response the document does not describe, and its requests reach past 404s. Needs the
// cached schemathesis (`npm run tools`): without it this fails, saying so, rather than skip.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findSchemathesis } from '../dev/schemathesis.ts';
import { klaviyoSandboxApiKey } from '../sandbox/klaviyo.ts';
import type { FuzzSummary } from '../scripts/fuzz.ts';
import { apiKeyShape, metaTokenShape } from './support/secrets.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
let dir: string;
let summary: FuzzSummary;
let output = '';
let exitCode: number | null;

before(async () => {
  const installed = await findSchemathesis();
  assert.ok(installed, 'schemathesis is not installed: run `npm run tools` (it installs it from PyPI)');
  dir = await mkdtemp(path.join(tmpdir(), 'glowtify-fuzz-test-'));
  exitCode = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'scripts/fuzz.ts', '--quick', '--summary-json', path.join(dir, 'summary.json')],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    );
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
  summary = JSON.parse(
    await readFile(path.join(dir, 'summary.json'), 'utf8').catch(() => 'null'),
  ) as FuzzSummary;
  assert.ok(summary, `the fuzz run wrote no summary (exit ${exitCode}):\n${output.slice(-4_000)}`);
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The tail of the run's output, for a failing assertion's message. */
const tail = () => output.slice(-6_000);

describe('API fuzzing (quick)', () => {
  it('answers no request with a 5xx', () => {
    assert.equal(summary.serverErrors, 0, tail());
  });

  it('answers every request as the OpenAPI document describes it (status, content type, body schema)', () => {
    assert.equal(summary.schemaViolations, 0, tail());
    assert.equal(summary.otherFailures, 0, tail());
    assert.equal(exitCode, 0, tail());
  });

  it('sends hundreds of requests to every documented operation', () => {
    assert.ok(summary.requests >= summary.minimumRequests, `${summary.requests} requests`);
    assert.equal(summary.operationsCovered, summary.operationsDocumented, tail());
  });

  it('gets past the 404s: the links lead to real epics, tasks and connectors', () => {
    const successes = (operation: string) =>
      Object.entries(summary.statuses[operation] ?? {})
        .filter(([status]) => status.startsWith('2'))
        .reduce((sum, [, count]) => sum + count, 0);
    for (const operation of [
      'GET /v1/epics/{id}',
      'PATCH /v1/epics/{id}',
      'DELETE /v1/epics/{id}',
      'POST /v1/epics/{id}/duplicate',
      'GET /v1/epics/{id}/analytics',
      'GET /v1/connectors/{id}',
      'PATCH /v1/connectors/{id}',
      'PUT /v1/connectors/{id}/accounts',
      'POST /v1/epics',
      'POST /v1/connector-requests',
      'POST /v1/workspaces',
    ]) {
      assert.ok(
        successes(operation) > 0,
        `${operation}: no 2xx among ${JSON.stringify(summary.statuses[operation])}`,
      );
    }
    const operationsWithSuccess = Object.keys(summary.statuses).filter(
      (operation) => successes(operation) > 0,
    );
    assert.ok(operationsWithSuccess.length >= 18, `2xx on ${operationsWithSuccess.length} operations only`);
  });

  it('leaves no credential in its output: neither the keys it made nor the platform credentials', async () => {
    const text = `${output}\n${JSON.stringify(summary)}`;
    assert.ok(output.length > 0, 'the run printed its figures');
    assert.doesNotMatch(text, apiKeyShape, 'no workspace API key');
    assert.doesNotMatch(text, metaTokenShape, 'no Meta access token');
    assert.ok(!text.includes(klaviyoSandboxApiKey), 'no Klaviyo key');
  });
});
