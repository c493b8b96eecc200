// A connector's status as stored, and what a platform tells about one of its accounts beyond its name (the
// choices it offers a post), with the rule that a task may only ask for a choice its account offers.
import { z } from 'zod';
import type { Channel } from './channels.ts';
import { contentSchemas } from './content.ts';

// "Partially connected" is not stored: the view reads it from the accounts.
export const connectorStatuses = ['connected', 'reconnect_required', 'not_connected'] as const;
export type ConnectorStatus = (typeof connectorStatuses)[number];

/**
 * Facts a platform gives about an account, read when the connector connects and again when its token is
 * renewed. TikTok: the privacy levels the creator offers (an app TikTok has not audited is offered SELF_ONLY
 * alone); Google Ads: which accounts are managers, and through which manager a client is reached. Kept as the platform's strings, so a level TikTok adds later is shown rather than dropped.
 */
export const AccountMetadata = z.object({
  privacyLevelOptions: z.array(z.string()).optional(),
  /** Google Ads: a manager account, which holds no campaigns of its own. */
  manager: z.boolean().optional(),
  /** Google Ads: the manager a client account is reached through, sent as `login-customer-id`. */
  loginCustomerId: z.string().optional(),
});
export type AccountMetadata = z.infer<typeof AccountMetadata>;

/**
 * Which field of a task asks its account for something the account does not offer, and why in the user's
 * words (null: nothing), so scheduling refuses it rather than the platform at the time. Unknown facts refuse
 * nothing.
 */
export function unofferedChoice(
  channel: Channel,
  content: unknown,
  account: { name: string; metadata: AccountMetadata } | null,
): { field: string; message: string } | null {
  if (channel !== 'tiktok_video' || !account) return null;
  const offered = account.metadata.privacyLevelOptions;
  const wanted = contentSchemas.tiktok_video.safeParse(content).data?.privacyLevel;
  if (!offered || !wanted || offered.includes(wanted)) return null;
  const why =
    offered.length === 1 && offered[0] === 'SELF_ONLY'
      ? ' (TikTok lets an app it has not audited yet post privately only)'
      : '';
  return {
    field: 'content.privacyLevel',
    message:
      `the TikTok account "${account.name}" offers the privacy levels ${offered.join(', ') || 'none'}${why}, ` +
      `not ${wanted}: choose one it offers`,
  };
}
