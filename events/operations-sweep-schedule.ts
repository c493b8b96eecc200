// Keeps the one Schedule that runs the operations sweep (workflows/operations-sweep.ts). Every worker makes
// sure it exists when it starts, and sets its interval and task queue to its own configuration.
import { type Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import {
  operationsSweepScheduleId,
  operationsSweepWorkflowType,
} from '../workflows/operations-sweep-messages.ts';

export async function scheduleOperationsSweep(
  client: Client,
  options: { taskQueue: string; everyMs: number },
): Promise<void> {
  const action = {
    type: 'startWorkflow' as const,
    workflowType: operationsSweepWorkflowType,
    workflowId: operationsSweepScheduleId,
    taskQueue: options.taskQueue,
    args: [],
    staticSummary: 'Operations sweep: overdue epics, stuck publications, missing epic runs',
  };
  try {
    await client.schedule.create({
      scheduleId: operationsSweepScheduleId,
      spec: { intervals: [{ every: options.everyMs }] },
      action,
      // A sweep still running when the next is due: the next is skipped, never queued behind it.
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(operationsSweepScheduleId).update((previous) => ({
      ...previous,
      spec: { intervals: [{ every: options.everyMs }] },
      action: { ...previous.action, ...action },
    }));
  }
}
