// An operator's check that the whole chain works: a worker picks the task up and its activity reaches
// PostgreSQL. `temporal workflow execute --type workerProbe --task-queue glowtify` prints who answered.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';

const { probeDatabase } = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3 },
  summary: 'Query PostgreSQL from the worker',
});

export async function workerProbe() {
  return probeDatabase();
}
