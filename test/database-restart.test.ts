// A PostgreSQL server killed under load and started again must cost the processes that use it failed queries,
// never their life: postgres.js 3 wrote to the closed socket of a connection the kill had closed, from a
// deferred write, an uncatchable TypeError that took the whole API or worker down (porsager/postgres#1154,
// #1208; found by the chaos run, which then died of it). The load runs in a process of its own with Node's
// defaults, as the API and the workers do (test/fixtures/database-restart-load.ts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot } from './support/stack.ts';

const run = promisify(execFile);

describe('a PostgreSQL server killed under load', () => {
  it('fails the queries in flight, kills no process, hangs nothing, and serves again once it is back', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'test', 'fixtures', 'database-restart-load.ts')],
      { cwd: repoRoot, timeout: 240_000 },
    ).catch((error: { code?: number; signal?: string; stdout?: string; stderr?: string }) => {
      assert.fail(
        `the process did not survive (exit ${error.code ?? error.signal}):\n${error.stdout}\n${error.stderr}`,
      );
    });
    const outcome = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      answered: number;
      failed: number;
      secondsToAnswerAgain: number[];
      answersAgain: boolean;
      finalQuery: boolean;
    };
    assert.equal(outcome.answersAgain, true, stdout);
    assert.equal(outcome.finalQuery, true, stdout);
    assert.equal(outcome.secondsToAnswerAgain.length, 3, 'three kills, each followed by answers');
    assert.ok(outcome.failed > 0, 'the kills did strike queries in flight');
  });
});
