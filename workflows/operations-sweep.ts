// The operations sweep, run every minute by a Temporal Schedule (`operations-sweep`): tells workspaces of
// overdue epics and stuck publications, and starts again the run of every scheduled epic whose run is missing,
// so the no-missed-post guarantee never rests on one workflow start alone.
import { proxyActivities } from '@temporalio/workflow';
import type { OperationsSweepActivities } from '../activities/operations-sweep.ts';
import type { SweepReport } from './operations-sweep-messages.ts';

const { sweepOperations } = proxyActivities<OperationsSweepActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', maximumInterval: '30 seconds', maximumAttempts: 3 },
  summary: 'Tell overdue epics and stuck publications; start missing epic runs again',
});

export async function operationsSweep(): Promise<SweepReport> {
  return sweepOperations();
}
