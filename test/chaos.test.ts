// The CI-sized chaos run (`npm run chaos -- --quick`): 14 epics on Meta, LinkedIn and Klaviyo come due while one
// fault of each kind strikes the real servers (workers SIGKILLed before the call, after the answer and before
// the db write; Temporal and PostgreSQL SIGKILLed and started again; a platform down, slow, dropping an answer).
// Every publication ends published exactly once or failed with nothing on the platform, by the simulators' own
// records, and every late one has its lateness on record. CHAOS_SEED=N runs another plan.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { drawPlan, faultKinds, fullSize, platformFaults, quickSize } from '../chaos/plan.ts';
import { describeResult } from '../chaos/report.ts';
import { type ChaosResult, chaosPassed, runChaos } from '../chaos/run-chaos.ts';
import { type ChaosWorld, startChaosWorld } from '../chaos/world.ts';
import { apiKeyShape, collectIssuedCredentials, metaTokenShape } from './support/secrets.ts';
import { klaviyoKey, repoRoot } from './support/stack.ts';

describe('the chaos plan', () => {
  it('is drawn from its seed alone: the same seed gives the same plan, another seed another', () => {
    assert.deepEqual(drawPlan(7, fullSize), drawPlan(7, fullSize));
    assert.notDeepEqual(drawPlan(7, fullSize), drawPlan(8, fullSize));
  });

  it("has the issue's size: 100 epics and at least 20 faults, every kind as often as the others", () => {
    const plan = drawPlan(20261205, fullSize);
    assert.equal(plan.epics.length, 100);
    assert.ok(plan.faults.length >= 20);
    for (const kind of faultKinds) {
      assert.equal(plan.faults.filter((fault) => fault.kind === kind).length, 3, kind);
    }
    for (const fault of plan.faults) {
      assert.equal(fault.platform !== null, platformFaults.has(fault.kind), `${fault.kind} and its target`);
    }
    const lastDue = Math.max(...plan.epics.map((epic) => epic.dueAtMs));
    assert.ok(plan.epics.every((epic) => epic.dueAtMs > epic.scheduleAtMs && epic.channels.length >= 1));
    assert.ok(
      plan.faults.every((fault) => fault.atMs < lastDue),
      'every fault falls while epics come due',
    );
  });
});

describe('a chaos run on the real stack', () => {
  const seed = Number(process.env.CHAOS_SEED ?? 20261205);
  const plan = drawPlan(seed, quickSize);
  let world: ChaosWorld;
  let result: ChaosResult;
  const workerLogFile = path.join(
    repoRoot,
    'chaos',
    'results',
    `test-seed-${seed}-${process.pid}-workers.log`,
  );
  before(async () => {
    world = await startChaosWorld({ workers: 2, log: () => {}, workerLogFile });
  });
  after(async () => world?.close());

  // Its own bound: the run waits up to 5 minutes past the last due time for every epic to end.
  it('one fault of each kind: nothing duplicated, nothing lost, every lateness reported', {
    timeout: 900_000,
  }, async (t) => {
    result = await runChaos(world, plan, (line) => t.diagnostic(line));
    const report = describeResult(result);
    t.diagnostic(report);
    assert.deepEqual(plan.faults.map((fault) => fault.kind).sort(), [...faultKinds].sort());
    assert.equal(result.duplicates, 0, report);
    assert.equal(result.lost, 0, report);
    assert.equal(result.mismatches, 0, report);
    assert.equal(result.late.unreported, 0, report);
    assert.equal(result.missed, 0, report);
    assert.deepEqual(result.workerCrashes, [], report);
    assert.deepEqual(result.violations, [], report);
    assert.deepEqual(result.connectorsNotConnected, [], 'a transient failure never asks for a reconnect');
    assert.ok(chaosPassed(result));
    // It proved something: the epics were scheduled and ended, and the faults struck while they came due.
    assert.equal(result.epics.scheduled, plan.epics.length, report);
    assert.equal(result.epics.notFinal, 0, report);
    assert.equal(result.tasks.published, result.tasks.total, report);
    assert.ok(
      result.faultsInjected >= plan.faults.length - 1,
      `faults struck: ${result.faultsInjected}\n${report}`,
    );
    const struckOnEpics = result.faults.filter(
      (fault) => platformFaults.has(fault.kind) && fault.struckAtMs !== null && fault.epics.length > 0,
    );
    assert.ok(struckOnEpics.length >= 4, `platform faults that struck an epic's request\n${report}`);
  });

  it('leaves no credential in what faults make the most of: worker logs, its report, workflow histories', async () => {
    assert.ok(result, 'the chaos run ran');
    const issued = await collectIssuedCredentials(world.stack.harness, new Set<string>());
    assert.ok(issued.size >= 3, `the scan knows the credentials the connectors hold (${issued.size})`);
    const histories: string[] = [];
    for await (const execution of world.stack.client.workflow.list()) {
      const history = await world.stack.client.workflow
        .getHandle(execution.workflowId, execution.runId)
        .fetchHistory();
      histories.push(JSON.stringify(history));
    }
    assert.ok(histories.length >= plan.epics.length, "every epic's workflow history is scanned");
    const places: [string, string][] = [
      ["the workers' log", await readFile(workerLogFile, 'utf8').catch(() => '')],
      ['the report', `${describeResult(result)}\n${JSON.stringify(result)}`],
      ['workflow histories', histories.join('\n')],
    ];
    assert.ok(places[0]![1].length > 0, 'the workers logged their failed attempts');
    for (const [where, text] of places) {
      assert.doesNotMatch(text, apiKeyShape, `no workspace API key in ${where}`);
      assert.doesNotMatch(text, metaTokenShape, `no Meta access token in ${where}`);
      assert.ok(!text.includes(klaviyoKey), `no Klaviyo key in ${where}`);
      for (const secret of issued) assert.ok(!text.includes(secret), `no issued credential in ${where}`);
      for (const [name, value] of Object.entries(world.stack.platforms!.config)) {
        if (name.endsWith('_CLIENT_SECRET')) assert.ok(!text.includes(value), `no ${name} in ${where}`);
      }
    }
  });
});
