// The baseline's worker, a process of its own like the product's worker: the SDK's defaults except the sticky
// cache, which is bounded the same way as the product's (WORKER_MAX_CACHED_WORKFLOWS) so memory compares.
import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createBaselineActivities } from './activities.ts';

const required = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

Runtime.install({ logger: new DefaultLogger('WARN') });
const connection = await NativeConnection.connect({ address: required('TEMPORAL_ADDRESS') });
const cached = process.env.WORKER_MAX_CACHED_WORKFLOWS;
const worker = await Worker.create({
  connection,
  taskQueue: required('BASELINE_TASK_QUEUE'),
  workflowsPath: path.join(import.meta.dirname, 'workflows.ts'),
  activities: createBaselineActivities(required('RECEIPT_URL')),
  ...(cached ? { maxCachedWorkflows: Number(cached) } : {}),
});
process.stdout.write('baseline worker polling\n');
await worker.run();
await connection.close();
