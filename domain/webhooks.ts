// Webhooks as the product defines them, free of I/O: the events an endpoint may ask for, how a delivery is signed
// (the Standard Webhooks layout: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256
// of "id.timestamp.body">`, secrets written `whsec_<base64>`), and when a failed delivery is tried again.
import { createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * An event type (`publication.published`), a subject's family (`epic.*`), or every event (`*`); matched in
 * SQL when deliveries are queued (db/workspace-events.ts).
 */
export const EventPattern = z
  .string()
  .regex(/^(\*|(epic|publication|connector)\.(\*|[a-z_]{1,40}))$/, {
    error: 'must be an event type like "publication.published", a family like "epic.*", or "*"',
  })
  .meta({ example: 'publication.*' });

/** How long a delivery is tried before it is given up (it stays replayable for as long as its event is kept). */
export const deliveryGivesUpAfterMs = 24 * 3_600_000;
/** How long events are kept, and so how far back a replay reaches. */
export const eventsKeptForMs = 30 * 86_400_000;

/**
 * The wait before try `attempt + 1` after `attempt` failed ones: 5 s, 30 s, 2 min, 10 min, 30 min, then every
 * hour until the day is over (about 28 tries in 24 h), each shortened by up to a tenth at random so endpoints
 * that failed together are not all tried again in the same second.
 */
export function retryDelayMs(attempt: number, random = Math.random): number {
  const steps = [5_000, 30_000, 120_000, 600_000, 1_800_000];
  const base = steps[attempt - 1] ?? 3_600_000;
  return Math.round(base * (1 - random() * 0.1));
}

export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The key a secret names: the bytes after `whsec_`, base64-encoded. */
function signingKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

/** The headers of one try: the same id on every try and replay of an event, so receivers can drop repeats. */
export function signedHeaders(
  secret: string,
  message: { id: string; body: string },
  at: Date,
): Record<string, string> {
  const timestamp = String(Math.floor(at.getTime() / 1000));
  const signature = createHmac('sha256', signingKey(secret))
    .update(`${message.id}.${timestamp}.${message.body}`)
    .digest('base64');
  return {
    'content-type': 'application/json',
    'webhook-id': message.id,
    'webhook-timestamp': timestamp,
    'webhook-signature': `v1,${signature}`,
  };
}
