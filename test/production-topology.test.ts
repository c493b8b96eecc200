// The production topology (`npm run topology`) as CI runs it: the real Temporal server (built from the Go module
// proxy, cached) on one PostgreSQL with the app's database, two API processes and two workers run compiled from
// dist/, 200 epics due at one instant scheduled through both APIs, one worker SIGKILLed while their posts go
// out. Every post is out exactly once by the Meta simulator's own record. TOPOLOGY_EPICS=N runs another count.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveTemporalServer } from '../dev/temporal-server.ts';
import { describeTopology, runProductionTopology } from '../scripts/production-topology.ts';

const epics = Number(process.env.TOPOLOGY_EPICS ?? 200);

describe('the production topology', () => {
  it('refuses a TEMPORAL_SERVER_DIR that does not hold a built server, naming what is missing', async () => {
    await assert.rejects(
      resolveTemporalServer({ env: { ...process.env, TEMPORAL_SERVER_DIR: import.meta.dirname } }),
      /TEMPORAL_SERVER_DIR is set to .*bin\/temporal-server, bin\/temporal-sql-tool/,
    );
  });

  // Its own bound: on an empty cache the Temporal server is built first (about 7 minutes on 2 cores).
  it('epics due at one instant are each published exactly once while a worker is SIGKILLed mid-run', {
    timeout: 25 * 60_000,
  }, async (t) => {
    const result = await runProductionTopology({ epics, log: (line) => t.diagnostic(line) });
    const report = describeTopology(result);
    for (const line of report.split('\n')) t.diagnostic(line);
    assert.deepEqual(result.violations, [], report);
    assert.equal(result.publishedOnce, epics, report);
    assert.equal(result.published, epics, report);
    assert.equal(result.duplicates, 0, report);
    assert.equal(result.missed, 0, report);
    assert.equal(result.mismatches, 0, report);
    assert.equal(result.visibleAsPublished, epics, "the operators' EpicStatus filter finds every epic");
    // It proved something: the kill came while posts were going out and struck attempts of its own.
    assert.ok(result.kill, report);
    assert.ok(result.kill.postsBefore < epics, `the worker was killed before every post was out\n${report}`);
    assert.ok(result.kill.inFlight > 0, `the killed worker had publish attempts in flight\n${report}`);
    // Both APIs answered (each takes every other epic) and both workers ran epics.
    for (const [api, requests] of Object.entries(result.requestsBy)) {
      assert.ok(requests >= 2 * epics, `${api} answered ${requests} requests\n${report}`);
    }
    assert.deepEqual(Object.keys(result.workflowTasksBy).sort(), ['worker 1', 'worker 2'], report);
  });
});
