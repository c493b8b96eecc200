// After publication, per post the platform names only later (TikTok after moderation): asks for its public id
// at growing intervals until it comes, the platform says it never will, or the follow-up's time is up. Started
// by the epic run as an abandoned child, so an epic that ends (published) does not end it.
import { log, proxyActivities, sleep } from '@temporalio/workflow';
import type { FollowUpActivities, FollowUpOutcome } from '../activities/follow-up.ts';

export interface PublicationFollowUpInput {
  epicId: string;
  taskId: string;
  /** The first wait; each next one doubles, up to `maxDelayMs`. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** How long after the start the post is still asked about. */
  forMs: number;
}

export const publicationFollowUpWorkflowId = (taskId: string) => `publication-follow-up-${taskId}`;

const { followUpPublished } = proxyActivities<FollowUpActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute', maximumAttempts: 3 },
  summary: 'Ask the platform for the public id of the published post',
});

export async function publicationFollowUp(
  input: PublicationFollowUpInput,
): Promise<FollowUpOutcome | 'gave_up'> {
  const until = Date.now() + input.forMs;
  let delayMs = input.firstDelayMs;
  while (Date.now() + delayMs <= until) {
    await sleep(delayMs, { summary: 'Wait before asking the platform again for the public id' });
    delayMs = Math.min(delayMs * 2, input.maxDelayMs);
    try {
      const outcome = await followUpPublished({ taskId: input.taskId });
      if (outcome !== 'pending') return outcome;
    } catch (error) {
      // The platform could not be asked this time: the next interval asks again.
      log.warn(`following up task ${input.taskId}: ${(error as Error).message}`);
    }
  }
  log.warn(`task ${input.taskId} of epic ${input.epicId}: the platform never named the post publicly`);
  return 'gave_up';
}
