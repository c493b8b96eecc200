// Publication error classes (SPEC §5): every adapter maps each platform answer onto one of them, and the
// epic workflow's retry policy follows from the class alone. No zod here: the workflow bundle imports this
// module, and evaluates its modules again for every workflow it creates or replays.
export const publicationErrorClasses = [
  'TOKEN_EXPIRED',
  'PERMISSION_REVOKED',
  'CONTENT_REJECTED',
  'RATE_LIMITED',
  'TRANSIENT',
  'INVALID_REQUEST',
] as const;
export type PublicationErrorClass = (typeof publicationErrorClasses)[number];

/** Classes Temporal must not retry: trying again cannot succeed without a person acting. */
export const nonRetryableClasses: readonly PublicationErrorClass[] = [
  'TOKEN_EXPIRED',
  'PERMISSION_REVOKED',
  'CONTENT_REJECTED',
  'INVALID_REQUEST',
];

/** Classes after which the connector needs the user to reconnect. */
export const reconnectClasses: readonly PublicationErrorClass[] = ['TOKEN_EXPIRED', 'PERMISSION_REVOKED'];
