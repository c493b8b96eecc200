// `npm run chaos`: 100 epics on Meta, LinkedIn and Klaviyo, due within a few minutes, while at least 20 faults
// drawn from a seed strike the real servers (worker, Temporal, PostgreSQL and platform failures); then the
// faults × outcomes table and the invariants checked against the simulators' own records. It exits 1 when any
// publication is duplicated, lost, contradicted or late without its lateness reported.
//   --seed=N    draw the plan from N (printed by every run, so a failing run can be run again); default: random
//   --quick     the CI size (the test/chaos.test.ts run): 14 epics, 8 faults
// The JSON of the run is written under chaos/results/ (ignored by git).
import { randomInt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { drawPlan, fullSize, quickSize } from './plan.ts';
import { describeResult } from './report.ts';
import { chaosPassed, runChaos } from './run-chaos.ts';
import { startChaosWorld } from './world.ts';

Runtime.install({ logger: new DefaultLogger('WARN') });

const argument = (name: string) =>
  process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const seed = argument('seed') === undefined ? randomInt(1, 2 ** 31) : Number(argument('seed'));
if (!Number.isSafeInteger(seed) || seed < 0) {
  process.stderr.write(`--seed must be a non-negative integer, not ${argument('seed')}\n`);
  process.exit(2);
}
const quick = process.argv.includes('--quick');
const plan = drawPlan(seed, quick ? quickSize : fullSize);
const started = Date.now();
const log = (line: string) =>
  process.stderr.write(`[chaos ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

log(
  `seed ${seed}: ${plan.epics.length} epics, ${plan.faults.length} faults (replay: npm run chaos -- --seed=${seed})`,
);
const resultsDir = path.join(import.meta.dirname, 'results');
const runName = `chaos-${new Date().toISOString().replace(/[:.]/g, '-')}-seed-${seed}`;
const workerLogFile = path.join(resultsDir, `${runName}-workers.log`);
const world = await startChaosWorld({ workers: 2, log, workerLogFile });
log(`the workers' warnings go to ${path.relative(process.cwd(), workerLogFile)}`);
let passed = false;
try {
  const result = await runChaos(world, plan, log);
  process.stdout.write(`${describeResult(result)}\n`);
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${runName}.json`);
  writeFileSync(file, `${JSON.stringify({ plan, result }, null, 2)}\n`);
  log(`written ${path.relative(process.cwd(), file)}`);
  // The bar for a full run: at least 20 faults struck (a fault aimed at a request that never came
  // proves nothing).
  const enoughFaults = quick || result.faultsInjected >= 20;
  if (!enoughFaults) log(`only ${result.faultsInjected} faults struck: fewer than 20`);
  passed = chaosPassed(result) && enoughFaults;
} finally {
  await world.close();
}
process.exit(passed ? 0 : 1);
