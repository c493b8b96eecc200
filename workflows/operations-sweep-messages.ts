// The operations sweep's contract, shared by the workflow, its activity and the worker that schedules it.
export const operationsSweepWorkflowType = 'operationsSweep';
/** The Schedule's id, which is also the id of the runs it starts. */
export const operationsSweepScheduleId = 'operations-sweep';

export interface SweepReport {
  /** Epics newly told overdue (one notification and one `epic.overdue` event each). */
  overdue: number;
  /** Publications newly told stuck. */
  stuck: number;
  /** Scheduled epics whose run was missing (terminated from outside, lost) and was started again. */
  restarted: string[];
}
