// Where a run's time went once its timer fired, read from its history: the wait for a workflow task, the
// task itself, the wait for the activity, the activity, and the same again until the run closed. The bench
// prints it beside each burst's lags (epics and bare workflows alike), so a ratio can be traced to its phase.
import type { Client } from '@temporalio/client';
import { summarize } from './stats.ts';

// Wire values of temporal.api.enums.v1.EventType.
const eventType = {
  workflowTaskScheduled: 5,
  workflowTaskStarted: 6,
  workflowTaskCompleted: 7,
  activityTaskScheduled: 10,
  activityTaskStarted: 11,
  activityTaskCompleted: 12,
  timerFired: 18,
} as const;

export type Phase =
  | 'toFirstTask'
  | 'firstTask'
  | 'toActivity'
  | 'activity'
  | 'toLastTask'
  | 'lastTask'
  | 'timerToClose';

/** An event's time (protobuf's seconds and nanoseconds) in milliseconds. */
function tsToMs(
  time: { seconds?: { toNumber(): number } | number | null; nanos?: number | null } | null | undefined,
) {
  if (!time) return Number.NaN;
  const seconds = typeof time.seconds === 'number' ? time.seconds : (time.seconds?.toNumber() ?? 0);
  return seconds * 1000 + Math.floor((time.nanos ?? 0) / 1e6);
}

/** p50/p95/max of each phase (ms) over the runs given, from the last timer that fired in each history. */
export async function phasesOf(client: Client, workflowIds: string[], concurrency = 8) {
  const samples = new Map<Phase, number[]>();
  const add = (phase: Phase, ms: number | undefined) => {
    if (ms === undefined || !Number.isFinite(ms)) return;
    samples.set(phase, [...(samples.get(phase) ?? []), ms]);
  };
  let slowest: { workflowId: string; closedAfter: number; events: string[] } | undefined;
  const queue = [...workflowIds];
  const readNext = async () => {
    for (let workflowId = queue.shift(); workflowId !== undefined; workflowId = queue.shift()) {
      const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
      const at = (index: number) => tsToMs(events[index]!.eventTime);
      const fired = events.findLastIndex((event) => event.eventType === eventType.timerFired);
      if (fired < 0) continue;
      const after = (type: number, from: number) =>
        events.findIndex((event, index) => index > from && event.eventType === type);
      const firstStarted = after(eventType.workflowTaskStarted, fired);
      const firstCompleted = after(eventType.workflowTaskCompleted, firstStarted);
      const activityScheduled = after(eventType.activityTaskScheduled, firstCompleted - 1);
      const activityStarted = after(eventType.activityTaskStarted, activityScheduled);
      const activityCompleted = after(eventType.activityTaskCompleted, activityStarted);
      const lastStarted = events.findLastIndex((event) => event.eventType === eventType.workflowTaskStarted);
      const lastCompleted = events.findLastIndex(
        (event) => event.eventType === eventType.workflowTaskCompleted,
      );
      if (
        [firstStarted, firstCompleted, activityScheduled, activityStarted, activityCompleted].some(
          (index) => index < 0,
        )
      )
        continue;
      add('toFirstTask', at(firstStarted) - at(fired));
      add('firstTask', at(firstCompleted) - at(firstStarted));
      add('toActivity', at(activityStarted) - at(activityScheduled));
      add('activity', at(activityCompleted) - at(activityStarted));
      if (lastStarted > activityCompleted) add('toLastTask', at(lastStarted) - at(activityCompleted));
      if (lastCompleted > activityCompleted) add('lastTask', at(lastCompleted) - at(lastStarted));
      add('timerToClose', at(events.length - 1) - at(fired));
      const closedAfter = at(events.length - 1) - at(fired);
      if (!slowest || closedAfter > slowest.closedAfter) {
        slowest = {
          workflowId,
          closedAfter,
          // Every event from one before the timer on: its type and when, in ms after the timer fired.
          events: events
            .slice(Math.max(0, fired - 1))
            .map((event) => `${event.eventType}@${at(events.indexOf(event)) - at(fired)}`),
        };
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, readNext));
  const phases = Object.fromEntries(
    [...samples].map(([phase, values]) => {
      const { p50, p95, max } = summarize(values);
      return [phase, { p50: Math.round(p50), p95: Math.round(p95), max: Math.round(max) }];
    }),
  ) as Partial<Record<Phase, { p50: number; p95: number; max: number }>>;
  return { phases, slowest };
}
