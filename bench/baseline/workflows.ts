// The baseline a scheduled epic is measured against: the least a Temporal workflow can do to publish at an
// instant — sleep until it, then run one activity that makes one HTTP call.
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { BaselineActivities } from './activities.ts';

const { deliver } = proxyActivities<BaselineActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
  summary: 'Deliver to the receipt server',
});

export async function bareScheduledWorkflow(input: { key: string; dueAt: string }): Promise<void> {
  const waitMs = Date.parse(input.dueAt) - Date.now();
  if (waitMs > 0) await sleep(waitMs);
  await deliver(input.key);
}
