// One workflow per webhook endpoint (`webhook-<endpointId>`): it delivers the endpoint's events in rounds and
// sleeps until the next try is due or it is woken (a transition, a replay, the endpoint's deletion). It runs
// beside the epics and never blocks one: an epic's transition only writes its event (migration 0010) and a
// notification wakes this workflow; a receiver that is down delays its own deliveries, nothing else.
import { condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { WebhookActivities } from '../activities/webhooks.ts';
import {
  type WebhookDeliveryInput,
  webhookTaskQueue,
  webhookWakeSignal,
} from './webhook-delivery-messages.ts';

/** Looks again at least this often with nothing due, in case a wake-up was lost. */
const idleLookMs = 10 * 60_000;
/** Rounds per run before continuing as new, so a busy endpoint's history stays short. */
const roundsPerRun = 200;
/** While events wait to be numbered (a transaction still running), looked at again after 0.5 s, 1 s, … 10 s. */
const numberingWaitMs = (rounds: number) => Math.min(10_000, 500 * 2 ** rounds);

export async function webhookDelivery(input: WebhookDeliveryInput): Promise<void> {
  const { deliverWebhooks } = proxyActivities<WebhookActivities>({
    taskQueue: webhookTaskQueue(workflowInfo().taskQueue),
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: '30 seconds',
    // The database or the worker may be down for a while: a round is tried again for as long as it takes.
    retry: { initialInterval: '1 second', maximumInterval: '1 minute', backoffCoefficient: 2 },
    summary: 'Deliver the events due to the endpoint',
  });
  let waitingForNumbering = 0;
  let woken = true;
  setHandler(webhookWakeSignal, () => {
    woken = true;
  });
  for (let round = 0; ; round++) {
    woken = false;
    const result = await deliverWebhooks({ endpointId: input.endpointId });
    if (result.gone) return;
    if (round + 1 >= roundsPerRun || workflowInfo().continueAsNewSuggested) {
      // The new run starts with a round, so a wake-up that lands during the hand-over is not lost.
      await continueAsNew<typeof webhookDelivery>(input);
    }
    waitingForNumbering = result.unnumbered ? waitingForNumbering + 1 : 0;
    const waitMs = Math.min(
      result.nextAttemptAt === null ? idleLookMs : Math.max(0, Date.parse(result.nextAttemptAt) - Date.now()),
      result.unnumbered ? numberingWaitMs(waitingForNumbering - 1) : idleLookMs,
    );
    if (!woken && waitMs > 0) await condition(() => woken, waitMs);
  }
}
