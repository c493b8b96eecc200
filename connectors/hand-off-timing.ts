// A hand-off whose time is too close for the platform's own scheduler (WordPress's minute, Mailchimp's lead)
// goes live by our request at the time: this waits for that instant, never returning before it, heartbeating
// all along, and stops when the hand-off is cancelled.
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitForInstant(
  at: number,
  context: { heartbeat(): void; signal?: AbortSignal | undefined },
  now: () => Date,
): Promise<void> {
  for (let left = at - now().getTime(); left > 0; left = at - now().getTime()) {
    context.heartbeat();
    await sleep(Math.min(left, 1_000), undefined, context.signal ? { signal: context.signal } : {});
  }
}
