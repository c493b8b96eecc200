// The API's side of the webhook delivery workflows: a new endpoint, a replay or a deletion wakes (or starts)
// its workflow. A wake-up that fails (Temporal unreachable) is not an error for the caller: the workers'
// pump wakes every endpoint with work within a minute (events/webhook-pump.ts).
import { Client } from '@temporalio/client';
import { wakeEndpoints } from '../events/webhook-pump.ts';
import type { TemporalLink } from './temporal.ts';

export interface WebhookWorkflows {
  /** Resolves whether or not the wake-up reached Temporal; says which. */
  wake(endpointId: string): Promise<boolean>;
}

export function createWebhookWorkflows(
  temporal: TemporalLink,
  options: { namespace: string; taskQueue: string },
): WebhookWorkflows {
  return {
    async wake(endpointId) {
      try {
        const client = new Client({ connection: await temporal.connection(), namespace: options.namespace });
        await Promise.race([
          wakeEndpoints(client, options.taskQueue, [endpointId]),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out')), 5_000).unref()),
        ]);
        return true;
      } catch {
        return false;
      }
    },
  };
}
