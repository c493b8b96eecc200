// Histories recorded from real runs of the workflows (test/fixtures/histories, exported with
// `temporal workflow show --output json`) must replay against the current workflow code: a change that would
// break running workflows fails here until it is guarded with patched().
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from '@temporalio/worker';

const directory = path.join(import.meta.dirname, 'fixtures', 'histories');
const files = readdirSync(directory)
  .filter((file) => file.endsWith('.json'))
  .sort();

describe('workflow replay', () => {
  it('has recorded histories to replay', () => {
    assert.ok(files.length >= 8, `expected recorded histories in ${directory}`);
  });

  it('replays every recorded history without a nondeterminism error', async () => {
    const histories = files.map((file) => ({
      workflowId: file.replace(/\.json$/, ''),
      // The SDK converts the CLI's JSON itself (one protobufjs copy: see the direct dependency in package.json).
      history: JSON.parse(readFileSync(path.join(directory, file), 'utf8')) as unknown,
    }));
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories(
      { workflowsPath: path.join(import.meta.dirname, '..', 'workflows', 'index.ts') },
      histories,
    )) {
      replayed += 1;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.equal(replayed, files.length);
    assert.deepEqual(failures, []);
  });
});
