// The one interface every platform adapter implements (publish, hand off, cancel, confirm, verify
// credentials, list audiences, map errors). Adapters make ONE HTTP try per call of theirs: retries belong to
// Temporal, so every attempt is visible in the workflow history and in publication.attempts.
import type { Channel, Platform } from '../domain/channels.ts';
import type { AccountMetadata } from '../domain/connectors.ts';
import type { TaskContent } from '../domain/content.ts';
import type { MetricReading } from '../domain/metrics.ts';
import type { PublicationFailure } from '../domain/publication-errors.ts';

/** Where an adapter sends its requests: the platform's real hosts, or the sandbox simulators in tests. */
export interface PlatformHosts {
  apiBaseUrl: string;
  authBaseUrl?: string;
}

/** A sub-account found on the platform (a Page, an Instagram account, a Klaviyo list or segment…). */
export interface DiscoveredAccount {
  kind: string;
  externalId: string;
  name: string;
  /** What the platform says the account offers (TikTok: the creator's privacy levels). */
  metadata?: AccountMetadata;
}

export interface Audience {
  id: string;
  name: string;
  kind: 'list' | 'segment';
}

/**
 * What earlier attempts of one publication left behind (e.g. an Instagram container id, a Klaviyo campaign
 * id): the adapter's own keys, persisted by the caller. It is how a retry after a crash resumes instead of
 * posting twice.
 */
export type PublicationProgress = Record<string, string>;

/** The sub-account a publication goes to, with what its platform said of it when it was discovered. */
export interface TargetAccount {
  kind: string;
  externalId: string;
  /** Google Ads: the manager a client account is reached through (its `login-customer-id`). */
  metadata?: AccountMetadata;
}

/**
 * Waits for a turn at one of the platform's limited requests (its descriptor's `callLimits`, by name) before
 * sending it, so a burst is spread instead of refused; throws RATE_LIMITED, with the wait, when the turn is
 * further off than `maxWaitMs` (by default what one attempt can spare).
 */
export type TakeTurn = (call: string, options?: TurnOptions) => Promise<void>;

export interface TurnOptions {
  /** The longest this request may wait for its turn (by default what one attempt can spare, 75 s). */
  maxWaitMs?: number;
  /**
   * What the caller still needs after its turn, within the attempt's time limit (the checks and the request
   * itself): a turn that would leave less is refused, so a request that must not be cut off (one that posts)
   * never leaves too late to be answered within the attempt.
   */
  needsAfterMs?: number;
}

export interface PublicationContext<Credentials> {
  taskId: string;
  channel: Channel;
  content: TaskContent;
  /**
   * A digest of `content` as it goes out: an adapter keeps it in progress beside what it prepared (a media
   * container, uploaded photos), so a retry after the content was edited does not publish the old one.
   */
  contentDigest: string;
  /** The target sub-account (null for email channels, which address content.audiences). */
  account: TargetAccount | null;
  credentials: Credentials;
  progress: PublicationProgress;
  /** Persists progress the moment a platform answers, before the adapter's next call. */
  saveProgress(update: PublicationProgress): Promise<void>;
  /** Tells Temporal the activity is alive during a wait (e.g. polling a container). */
  heartbeat(): void;
  /** Absent where nothing paces (an adapter on its own in a test): the request then leaves at once. */
  takeTurn?: TakeTurn;
  /** Aborted when the activity is cancelled or times out. */
  signal?: AbortSignal;
  /**
   * Called right before the request that makes the content live (a post, a media_publish, a send job):
   * throws when the publication is no longer wanted (its connector was disconnected, its schedule withdrawn),
   * so nothing decided against while this attempt ran goes out.
   */
  beforeGoingLive(): Promise<void>;
  /**
   * Called right before each request that creates something not live yet (a PAUSED campaign): throws when the
   * publication is no longer wanted (the epic was unscheduled, moved or edited since this attempt started),
   * so nothing is made for a time that no longer holds and that no discard would look for. Set by the
   * activities; a caller without a schedule to check may leave it out.
   */
  beforeCreating?(): Promise<void>;
}

/** What `prepare` gets: a publication's context, without the way to go live. */
export type PrepareContext<Credentials> = Omit<PublicationContext<Credentials>, 'beforeGoingLive'>;

/** What `discardPrepared` gets: where the prepared objects are, and what `prepare` saved of them. */
export interface DiscardContext<Credentials> {
  taskId: string;
  account: TargetAccount | null;
  credentials: Credentials;
  progress: PublicationProgress;
  saveProgress(update: PublicationProgress): Promise<void>;
  signal?: AbortSignal;
}

export interface HandOffContext<Credentials> extends PublicationContext<Credentials> {
  /** When the platform must send it (UTC). */
  scheduledAt: Date;
  /** The epic's title, to name things on the platform so people recognise them. */
  epicTitle: string;
  /**
   * Unique per hand-off of this task (a re-schedule after a cancel gets a new one): adapters put it in what
   * they create (e.g. a campaign name) and look it up before creating, so a retry never creates twice.
   */
  handOffKey: string;
}

export interface Published {
  externalId: string;
  externalUrl: string | null;
  /**
   * Published, but the platform names the post publicly only later (TikTok, after moderation): `externalId`
   * is the platform's interim id, and `completePublished` is asked for the public one at growing intervals.
   */
  followUp?: true;
}

/** What `completePublished` gets: the publication as it was recorded published. */
export interface FollowUpContext<Credentials> {
  taskId: string;
  account: { kind: string; externalId: string } | null;
  credentials: Credentials;
  /** The interim id `publish` returned. */
  externalId: string;
  progress: PublicationProgress;
  signal?: AbortSignal;
  takeTurn?: TakeTurn;
}

/** Where a published post stands after `publish` returned `followUp`. */
export type FollowUpAnswer =
  | { state: 'final'; externalId: string; externalUrl: string | null }
  | { state: 'pending' }
  /** The platform will never name it (e.g. taken down in moderation): asking again is pointless. */
  | { state: 'ended'; reason: string };

export type HandOffStatus =
  | { state: 'sent'; sentAt: Date | null }
  | { state: 'pending'; platformStatus: string }
  | { state: 'cancelled'; platformStatus: string }
  | { state: 'failed'; platformStatus: string; message: string };

/**
 * A batch read stopped by a throttle part-way: what was read is kept, and every item not answered yet waits
 * the time the platform named (not the delay of a failure).
 */
export function throttledRest(
  answers: Record<string, MetricsAnswer>,
  items: readonly { publicationId: string }[],
  failure: PublicationFailure,
): Record<string, MetricsAnswer> {
  for (const item of items) answers[item.publicationId] ??= { state: 'not_read', failure };
  return answers;
}

/** One published item whose performance is read (see `collectMetrics`). */
export interface MetricsItem {
  publicationId: string;
  taskId: string;
  channel: Channel;
  account: TargetAccount | null;
  /** The platform's id of what was published (a post, a campaign, an ad, a mailing). */
  externalId: string;
  publishedAt: Date;
  /** What publishing saved (e.g. Meta's ad set and campaign ids beside the ad id). */
  progress: PublicationProgress;
}

/** What reading one item gave. */
export type MetricsAnswer =
  | { state: 'read'; metrics: MetricReading[] }
  /**
   * Not read this time: the platform refused part-way through the batch (a throttle, with the wait it named).
   * Asked again after that wait, like a whole read refused.
   */
  | { state: 'not_read'; failure: PublicationFailure }
  /** Gone from the platform (deleted, removed): recorded as such and never read again. */
  | { state: 'deleted' }
  /**
   * The platform would not give it this time for a reason of this item (no data yet, a Page under 100 likes,
   * a grant without the insights scope): nothing is stored, and the next reading asks again.
   */
  | {
      state: 'unavailable';
      reason: string;
      /**
       * The grant lacks these scopes (connected before Glowtify asked for them, or unticked on the consent
       * page): the connector shows "Reconnect to read insights". Never a reason to ask for a reconnect to publish.
       */
      missingScopes?: string[];
    };

export interface MetricsContext<Credentials> {
  credentials: Credentials;
  /** Items of one connector due for a reading: an adapter batches them as its platform allows. */
  items: MetricsItem[];
  signal?: AbortSignal;
}

/** What a pre-flight check of one soft publication gets: the content and target as they stand, no progress. */
export interface PreflightContext<Credentials> {
  taskId: string;
  channel: Channel;
  content: TaskContent;
  account: TargetAccount | null;
  credentials: Credentials;
  /** When it is due to publish. */
  scheduledAt: Date;
  signal?: AbortSignal;
  takeTurn?: TakeTurn;
}

export interface PlatformAdapter<Credentials = unknown> {
  readonly platform: Platform;
  /**
   * Soft channels: publish now. Throws PlatformError for every non-success answer. An adapter with `prepare`
   * only makes live here what `prepare` made (found through `progress`), and prepares first whatever is
   * missing: a preparation that failed or never ran never holds the publication back.
   */
  publish?(context: PublicationContext<Credentials>): Promise<Published>;
  /**
   * Soft channels whose platform can hold the publication unpublished (a PAUSED Google Ads campaign): creates
   * before the time everything that can exist without going live, saving each id in progress as it comes and
   * reusing what progress names on a retry, so that `publish` at the time is one request. Must never make
   * anything live. Throws PlatformError; its caller treats every failure as "publish prepares it".
   */
  prepare?(context: PrepareContext<Credentials>): Promise<void>;
  /**
   * Deletes what `prepare` made (the publication was unscheduled, edited back to draft or moved), including
   * what a preparation whose answer was lost may have made. Resolves when nothing prepared is left.
   */
  discardPrepared?(context: DiscardContext<Credentials>): Promise<void>;
  /**
   * Soft channels whose `publish` may return `followUp`: asks the platform, without changing anything there,
   * for the public id of a post it published under an interim id. Throws PlatformError when it could not ask.
   */
  completePublished?(context: FollowUpContext<Credentials>): Promise<FollowUpAnswer>;
  /**
   * Reads how published items did, without changing anything on the platform: one answer per item, keyed by
   * `publicationId` (an item left out is asked again next time). Values are cumulative totals as the platform
   * gives them now, under the normalised names of domain/metrics.ts with the platform's own name kept. Throws
   * PlatformError when the platform refused the whole read (RATE_LIMITED with retryAfterMs: the caller paces
   * and asks again; TOKEN_EXPIRED / PERMISSION_REVOKED only for a definitive refusal of the token).
   */
  collectMetrics?(context: MetricsContext<Credentials>): Promise<Record<string, MetricsAnswer>>;
  /**
   * Soft channels, before the time: checks against the platform, without publishing or changing anything
   * there, what it can tell in advance of `publish` at `scheduledAt` (the account still reachable and
   * enabled, the permissions still granted, the options still offered). Resolves when nothing stands in the
   * way. Throws PlatformError: TRANSIENT or RATE_LIMITED when it could not tell this time (nothing is
   * flagged), any other class when the publication would fail (its message is the reason shown to the user).
   * Media URLs are checked by the caller, for every platform alike.
   */
  preflight?(context: PreflightContext<Credentials>): Promise<void>;
  /** Real channels: hand the content to the platform, scheduled there for `scheduledAt`. */
  handOff?(context: HandOffContext<Credentials>): Promise<Published>;
  /**
   * Cancels whatever this hand-off left on the platform: the object `externalId` (or `progress`) names, else
   * what carries `handOffKey` (an attempt whose answer was lost). Resolves when nothing of it can send any
   * more; throws HandOffLockedError when the platform refuses because the send is too close.
   */
  cancelHandOff?(context: {
    externalId: string | null;
    handOffKey: string | null;
    credentials: Credentials;
    progress: PublicationProgress;
    /**
     * The last request that could have made it live: how long ago it was sent, and how long ago the attempt
     * that sent it ended without its answer (null: not known to have ended — it may still be on its way, up to
     * the request's time-out). Null: none was made. A platform whose look-up lags (a search index) uses it to
     * tell "nothing there" from "not shown yet".
     */
    liveRequest?: { sentMsAgo: number; endedMsAgo: number | null } | null;
  }): Promise<void>;
  /**
   * Reads where a hand-off stands on the platform. `overdue` is given once a poll found it still waiting past
   * its time and the grace has passed since: a platform whose own scheduler missed it (WP-Cron, Shopify's
   * scheduled article) is asked to publish it now where its API allows — only if it is still dated for
   * `scheduledAt` (a date someone moved is theirs) and `mayGoLive()` answers true right before the request.
   */
  handOffStatus?(context: {
    externalId: string;
    credentials: Credentials;
    overdue?: { scheduledAt: Date; mayGoLive(): Promise<boolean> };
  }): Promise<HandOffStatus>;
  /**
   * Renews expiring credentials where the platform allows it (Meta long-lived exchange, refresh tokens).
   * Throws PlatformError: TOKEN_EXPIRED / PERMISSION_REVOKED when the platform refuses for good.
   */
  refreshCredentials?(
    credentials: Credentials,
  ): Promise<{ credentials: Credentials; expiresAt: Date | null }>;
  /**
   * Reads again what the platform says about the accounts these credentials reach (their `metadata`), after a
   * token refresh, so what an account offers stays current between connections. Best effort: the caller
   * ignores a failure, and `signal` bounds it.
   */
  describeAccounts?(credentials: Credentials, signal?: AbortSignal): Promise<DiscoveredAccount[]>;
  /**
   * Checks credentials that never expire on their own (API keys). Throws CredentialsRejectedError when the
   * platform refuses them, PlatformError otherwise.
   */
  verifyCredentials?(credentials: Credentials): Promise<void>;
  /** Lists the email audiences (lists and segments), fresh from the platform. */
  listAudiences?(credentials: Credentials): Promise<Audience[]>;
  /** How a workspace connects it (OAuth, API key or site credentials). */
  connector?: Connector<Credentials>;
  /**
   * Whether these credentials can be renewed without the user (e.g. LinkedIn gives refresh tokens only to
   * approved partners). Absent: whenever `refreshCredentials` exists.
   */
  canRefresh?(credentials: Credentials): boolean;
  /** Data connectors: reads one account's data (GA4 sessions, Shopify products, Canva designs). */
  sync?(input: {
    credentials: Credentials;
    account: { kind: string; externalId: string };
    since: Date;
    until: Date;
  }): Promise<SyncResult>;
}

/** Credentials the platform refuses at connection time; the message is shown to the user as is. */
export class CredentialsRejectedError extends Error {
  override name = 'CredentialsRejectedError';
  constructor(message: 'Invalid API key' | 'Scopes insufficient' | string) {
    super(message);
  }
}

/** What a completed connection gives: sealed by the caller, never shown. */
export interface Connection<Credentials = unknown> {
  credentials: Credentials;
  /** When the access token expires, from the platform's own `expires_in` (null: it does not expire). */
  expiresAt: Date | null;
  /** The sub-accounts found (Pages, organizations, properties, customers, blogs…); the user picks which to enable. */
  accounts: DiscoveredAccount[];
  /** The scopes the platform says it granted, when it says. */
  grantedScopes?: string[];
}

/**
 * OAuth 2 authorization-code flows. The route makes the single-use `state` (and the PKCE verifier when
 * `pkce` is true) and stores them; the adapter only builds the URL and completes the exchange.
 */
export interface OAuthConnector<Credentials = unknown> {
  kind: 'oauth';
  /** Whether the platform takes PKCE (S256); the route then sends a challenge and keeps the verifier. */
  pkce: boolean;
  /** What the connect body must carry besides nothing (Shopify: the shop's subdomain). */
  needsShop?: boolean;
  /** The scopes requested by default; `extra` rounds (Meta's Ad Account) add their own. */
  scopes: readonly string[];
  authorizeUrl(input: {
    state: string;
    redirectUri: string;
    codeChallenge?: string;
    shop?: string;
    /** A second round asking for more (Meta: 'ads' → ads_management). */
    extra?: string;
  }): string;
  /**
   * Code → tokens (+ the long-lived exchange where the platform has one) → sub-account discovery. `query` is
   * the whole callback query (Shopify signs it with `hmac`; the adapter checks what its platform sends).
   */
  completeConsent(input: {
    code: string;
    redirectUri: string;
    codeVerifier?: string;
    shop?: string;
    query: Record<string, string>;
  }): Promise<Connection<Credentials>>;
}

/** API keys (Klaviyo, CyberImpact): verified at once; CredentialsRejectedError says why they are refused. */
export interface ApiKeyConnector<Credentials = unknown> {
  kind: 'api_key';
  connectWithApiKey(apiKey: string): Promise<Connection<Credentials>>;
}

/** WordPress: site URL + username + application password, verified with `users/me?context=edit`. */
export interface SiteConnector<Credentials = unknown> {
  kind: 'site_credentials';
  connectWithSite(input: {
    siteUrl: string;
    username: string;
    applicationPassword: string;
  }): Promise<Connection<Credentials>>;
}

export type Connector<Credentials = unknown> =
  | OAuthConnector<Credentials>
  | ApiKeyConnector<Credentials>
  | SiteConnector<Credentials>;

/** One sync of a data connector's account (GA4 property, Shopify store, Canva team). */
export interface SyncResult {
  /** Rows for analytics (GA4 sessions by source/medium/campaign); empty for connectors with nothing to store. */
  sessions?: {
    date: string;
    sourceMedium: string;
    campaign: string;
    sessions: number;
  }[];
  /** A short count shown to operators (e.g. products read). */
  itemsRead: number;
}
