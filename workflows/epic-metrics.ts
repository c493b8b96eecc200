// After an epic is published, its items' performance is read back on each channel's schedule for 30 days
// (SPEC §5 "Analytics"): one round per due time, each reading what is due and saying when the next is. Started
// by the publish activity that completes the epic, delayed to the first reading, or else by the epic run as an
// abandoned child; either way it outlives that run. An item published later by a retry is announced by a signal
// and read at once, and the 30 days count from it.
import { condition, patched, proxyActivities, setHandler, sleep } from '@temporalio/workflow';
import type { EpicMetricsRound, MetricsActivities } from '../activities/metrics.ts';
import { type EpicMetricsInput, itemsPublishedSignal } from './epic-metrics-messages.ts';

export {
  type EpicMetricsInput,
  epicMetricsWorkflowId,
  itemsPublishedSignal,
} from './epic-metrics-messages.ts';

/** Runs from before waited for their next round without listening for new items. */
export const epicMetricsPatches = { wakeOnPublished: 'wake-on-published' } as const;

/** Rounds are short; a round that fails is tried again, and past that the next round picks up what is due. */
const { collectEpicMetrics } = proxyActivities<MetricsActivities>({
  // No heartbeat time-out: one platform call may outlast it (Klaviyo's paced reports), and a round retried
  // from the start would read everything again.
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '30 seconds', maximumInterval: '10 minutes', maximumAttempts: 5 },
  summary: "Read the epic's published items' performance from their platforms",
});

/** After a round that failed, the next is tried this much later. */
const afterFailedRoundMs = 60 * 60_000;

/** Every schedule ends by 30 days; rounds that keep failing stop some days after. */
const longestMs = 40 * 24 * 60 * 60_000;

export async function epicMetrics(input: EpicMetricsInput): Promise<{ rounds: number }> {
  let until = Date.now() + longestMs;
  let announced = false;
  setHandler(itemsPublishedSignal, () => {
    announced = true;
    // The new items' schedules run 30 days from now.
    until = Date.now() + longestMs;
  });
  let rounds = 0;
  while (Date.now() < until) {
    announced = false;
    let round: EpicMetricsRound | null = null;
    try {
      round = await collectEpicMetrics({ epicId: input.epicId, at: new Date(Date.now()).toISOString() });
    } catch {
      // Its failure is on the connector (metricsError); the items stay due.
    }
    rounds += 1;
    // Items published while this round read: another round enrols and reads them now.
    if (announced && patched(epicMetricsPatches.wakeOnPublished)) continue;
    if (round && round.nextDueAt === null) return { rounds };
    const waitMs = round ? Math.max(1_000, Date.parse(round.nextDueAt!) - Date.now()) : afterFailedRoundMs;
    const summary = round ? `Sleep until ${round.nextDueAt} to read again` : 'Sleep after a failed round';
    if (patched(epicMetricsPatches.wakeOnPublished)) await condition(() => announced, waitMs, { summary });
    else await sleep(waitMs, { summary });
  }
  return { rounds };
}
