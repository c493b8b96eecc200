// Publication error classes (SPEC §5): every adapter maps each platform answer onto one of them, and the
// epic workflow's retry policy follows from the class alone.
import { z } from 'zod';
import { publicationErrorClasses } from './publication-error-classes.ts';

export {
  nonRetryableClasses,
  type PublicationErrorClass,
  publicationErrorClasses,
  reconnectClasses,
} from './publication-error-classes.ts';

const PublicationErrorClass = z.enum(publicationErrorClasses);

export const PublicationFailure = z.object({
  class: PublicationErrorClass,
  message: z.string(),
  /** The platform's own code, e.g. Meta "190" or Klaviyo "not_authenticated". */
  platformCode: z.string().optional(),
  /** RATE_LIMITED: how long the platform asked us to wait. */
  retryAfterMs: z.number().int().nonnegative().optional(),
});
export type PublicationFailure = z.infer<typeof PublicationFailure>;

/** What an adapter throws for any platform answer that is not a success. */
export class PlatformError extends Error {
  override name = 'PlatformError';
  constructor(readonly failure: PublicationFailure) {
    super(failure.message);
  }
}

/** A cancel or move the platform refuses because the send is too close (Klaviyo's 15-minute lock). */
export class HandOffLockedError extends Error {
  override name = 'HandOffLockedError';
  /** The platform's id of what stays live (found by a look-up when no earlier answer gave it). */
  constructor(
    message: string,
    readonly externalId?: string,
  ) {
    super(message);
  }
}
