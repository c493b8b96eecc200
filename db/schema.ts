// The database schema as code (drizzle). The db is the read model the API serves; the workflows write every
// state change back through activities. Every row carries workspace_id so tenancy is one WHERE clause.
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { Channel, Platform } from '../domain/channels.ts';
import type { AccountMetadata, ConnectorStatus } from '../domain/connectors.ts';
import type { EpicStatus } from '../domain/epic-state-machine.ts';
import type { MetricName } from '../domain/metrics.ts';
import type { PublicationStatus } from '../domain/publications.ts';

// Millisecond precision so a timestamp read into a JS Date and written back (e.g. in a keyset cursor) is exact.
const instant = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' });
const createdAt = () => instant('created_at').notNull().defaultNow();
const updatedAt = () => instant('updated_at').notNull().defaultNow();
const id = () => uuid('id').primaryKey().defaultRandom();
/** Every row belongs to a workspace and goes with it. */
const workspaceRef = () =>
  uuid('workspace_id')
    .notNull()
    .references(() => workspaces.id, { onDelete: 'cascade' });

const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => 'bytea' });

export const workspaces = pgTable('workspaces', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  plan: text('plan').notNull(),
  /** The last sequence number given to one of its events (db/workspace-events.ts). */
  eventSequence: bigint('event_sequence', { mode: 'number' }).notNull().default(0),
  createdAt: createdAt(),
});

export const apiKeys = pgTable(
  'api_keys',
  {
    id: id(),
    workspaceId: workspaceRef(),
    /** The key's public prefix, to find the row without scanning hashes. */
    prefix: text('prefix').notNull(),
    /** SHA-256 of the whole key: keys are long random strings, so a fast hash is enough and lookups stay cheap. */
    hash: bytea('hash').notNull(),
    createdAt: createdAt(),
    revokedAt: instant('revoked_at'),
  },
  (table) => [uniqueIndex('api_keys_prefix_key').on(table.prefix)],
);

export const connectors = pgTable(
  'connectors',
  {
    id: id(),
    workspaceId: workspaceRef(),
    platform: text('platform').$type<Platform>().notNull(),
    status: text('status').$type<ConnectorStatus>().notNull().default('not_connected'),
    /** AES-256-GCM ciphertext of the credentials JSON (db/credentials-codec.ts); null once disconnected. */
    credentials: bytea('credentials'),
    credentialsKeyId: text('credentials_key_id'),
    tokenExpiresAt: instant('token_expires_at'),
    settings: jsonb('settings').$type<Record<string, unknown>>().notNull().default({}),
    lastError: jsonb('last_error').$type<{ class: string; message: string; platformCode?: string } | null>(),
    /** A token refresh is calling the platform until then: no second refresh spends the same refresh token. */
    refreshLeaseUntil: instant('refresh_lease_until'),
    /** The last reading of its published items' performance, and why the last one failed (null once one works). */
    metricsSyncedAt: instant('metrics_synced_at'),
    metricsError: jsonb('metrics_error').$type<{ class: string; message: string; at: string } | null>(),
    /** Read scopes the grant lacks (connected before Glowtify asked for them): "Reconnect to read insights". */
    insightsMissingScopes: jsonb('insights_missing_scopes').$type<string[]>().notNull().default([]),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (table) => [uniqueIndex('connectors_workspace_platform_key').on(table.workspaceId, table.platform)],
);

export const connectorAccounts = pgTable(
  'connector_accounts',
  {
    id: id(),
    workspaceId: workspaceRef(),
    connectorId: uuid('connector_id')
      .notNull()
      .references(() => connectors.id, { onDelete: 'cascade' }),
    kind: text('kind').notNull(),
    externalId: text('external_id').notNull(),
    name: text('name').notNull(),
    enabled: boolean('enabled').notNull().default(false),
    status: text('status').notNull().default('connected'),
    syncStatus: text('sync_status'),
    lastSyncAt: instant('last_sync_at'),
    nextSyncAt: instant('next_sync_at'),
    /** Why the last sync failed (the platform's message, never a credential). */
    lastSyncError: text('last_sync_error'),
    /** What the platform says the account offers (TikTok: privacy levels), as of the last connect or refresh. */
    metadata: jsonb('metadata').$type<AccountMetadata>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (table) => [
    uniqueIndex('connector_accounts_external_key').on(table.connectorId, table.kind, table.externalId),
    index('connector_accounts_workspace_idx').on(table.workspaceId),
  ],
);

export const epics = pgTable(
  'epics',
  {
    id: id(),
    workspaceId: workspaceRef(),
    title: text('title').notNull(),
    brief: text('brief'),
    status: text('status').$type<EpicStatus>().notNull().default('draft'),
    scheduledAt: instant('scheduled_at'),
    timeZone: text('time_zone'),
    /**
     * Names the schedule now in force: written with every schedule (and by the workflow when it withdraws
     * hand-offs). A run, or a hand-off attempt, carrying another token is stale and creates nothing.
     */
    scheduleToken: text('schedule_token'),
    atRisk: boolean('at_risk').notNull().default(false),
    /** The schedule an overdue notification was sent for, "<token>@<time>": one per schedule (db/operations.ts). */
    overdueNotifiedToken: text('overdue_notified_token'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (table) => [
    // The list query's two keyset orders, with and without a status filter.
    index('epics_workspace_created_idx').on(table.workspaceId, table.createdAt, table.id),
    index('epics_workspace_status_created_idx').on(
      table.workspaceId,
      table.status,
      table.createdAt,
      table.id,
    ),
    index('epics_workspace_scheduled_idx')
      .on(table.workspaceId, table.scheduledAt, table.id)
      .where(sql`${table.scheduledAt} is not null`),
  ],
);

export const tasks = pgTable(
  'tasks',
  {
    id: id(),
    workspaceId: workspaceRef(),
    epicId: uuid('epic_id')
      .notNull()
      .references(() => epics.id, { onDelete: 'cascade' }),
    channel: text('channel').$type<Channel>().notNull(),
    connectorId: uuid('connector_id')
      .notNull()
      .references(() => connectors.id, { onDelete: 'restrict' }),
    accountId: uuid('account_id').references(() => connectorAccounts.id, { onDelete: 'restrict' }),
    content: jsonb('content').$type<Record<string, unknown>>().notNull(),
    approved: boolean('approved').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (table) => [index('tasks_epic_idx').on(table.epicId, table.createdAt, table.id)],
);

export const publications = pgTable(
  'publications',
  {
    id: id(),
    workspaceId: workspaceRef(),
    epicId: uuid('epic_id')
      .notNull()
      .references(() => epics.id, { onDelete: 'cascade' }),
    taskId: uuid('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    status: text('status').$type<PublicationStatus>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    externalId: text('external_id'),
    externalUrl: text('external_url'),
    lastError: jsonb('last_error').$type<{ class: string; message: string; platformCode?: string } | null>(),
    atRisk: boolean('at_risk').notNull().default(false),
    atRiskReason: text('at_risk_reason'),
    publishedAt: instant('published_at'),
    /** The adapter's resume points (e.g. an Instagram container id): what makes a retry after a crash safe. */
    progress: jsonb('progress').$type<Record<string, string>>().notNull().default({}),
    /** Names the current hand-off on the platform; a new one after a cancel gets a new key. */
    handOffKey: text('hand_off_key'),
    /**
     * Set just before the request that makes the publication live, cleared once it is answered: a disconnect
     * waits for these so that no attempt it did not stop can publish after it answered.
     */
    goingLiveAt: instant('going_live_at'),
    /** A real hand-off the platform never confirmed within the confirmation window (not an error). */
    unconfirmed: boolean('unconfirmed').notNull().default(false),
    /** How late the publication went out compared with the epic's scheduledAt (a missed worker shows here). */
    lagMs: integer('lag_ms'),
    /**
     * Reading its performance back: `reading` until its channel's schedule ends (`done`) or the platform says
     * it is gone (`deleted`); null for what is not read (not published, or measured through GA4).
     */
    metricsState: text('metrics_state').$type<'reading' | 'done' | 'deleted'>(),
    /** When its readings started (the first round after it was published): its schedule counts from there. */
    metricsSince: instant('metrics_since'),
    /** When its next reading is due. */
    metricsDueAt: instant('metrics_due_at'),
    /** How far along its channel's schedule it is (readings taken, and points passed while it could not be read). */
    metricsReadings: integer('metrics_readings').notNull().default(0),
    /** Reads of it that failed in a row: each waits longer, and a reading that keeps failing is given up. */
    metricsFailures: integer('metrics_failures').notNull().default(0),
    metricsReadAt: instant('metrics_read_at'),
    /** Why the last reading gave nothing (no data yet, a scope missing), shown beside the values. */
    metricsNote: text('metrics_note'),
    /** The try (its number) a stuck notification was sent for: one per try (db/operations.ts). */
    stuckNotifiedAttempt: integer('stuck_notified_attempt'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (table) => [
    uniqueIndex('publications_task_key').on(table.taskId),
    index('publications_epic_idx').on(table.epicId),
  ],
);

export const notifications = pgTable(
  'notifications',
  {
    id: id(),
    workspaceId: workspaceRef(),
    kind: text('kind').notNull(),
    title: text('title').notNull(),
    message: text('message').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    readAt: instant('read_at'),
    createdAt: createdAt(),
  },
  (table) => [index('notifications_workspace_created_idx').on(table.workspaceId, table.createdAt, table.id)],
);

export const connectorRequests = pgTable(
  'connector_requests',
  {
    id: id(),
    workspaceId: workspaceRef(),
    platform: text('platform').notNull(),
    note: text('note'),
    createdAt: createdAt(),
  },
  (table) => [index('connector_requests_platform_idx').on(table.platform)],
);

export const auditEvents = pgTable(
  'audit_events',
  {
    id: id(),
    workspaceId: workspaceRef(),
    subjectType: text('subject_type').notNull(),
    subjectId: uuid('subject_id').notNull(),
    action: text('action').notNull(),
    fromStatus: text('from_status'),
    toStatus: text('to_status'),
    /** Who or what caused it: `api-key:<prefix>`, `admin`, `workflow:<id>`, `signal:<name>`. */
    actor: text('actor').notNull(),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
  },
  (table) => [index('audit_events_subject_idx').on(table.workspaceId, table.subjectType, table.subjectId)],
);

/** OAuth `state` values: single-use, expiring, and bound to the workspace that asked (stored as hashes). */
export const oauthStates = pgTable(
  'oauth_states',
  {
    id: id(),
    workspaceId: workspaceRef(),
    platform: text('platform').notNull(),
    stateHash: bytea('state_hash').notNull(),
    /** PKCE verifier where the platform supports it, sealed like credentials (AAD = this row's id). */
    codeVerifier: bytea('code_verifier'),
    codeVerifierKeyId: text('code_verifier_key_id'),
    /** What the callback needs besides the code: Shopify's shop, a second round's extra permissions. */
    context: jsonb('context').$type<{ shop?: string; extra?: string }>().notNull().default({}),
    /** Set for a reconnect: the callback updates this connector instead of creating one. */
    connectorId: uuid('connector_id').references(() => connectors.id, { onDelete: 'cascade' }),
    /**
     * The hash of the nonce in the cookie set on the browser that started the consent: the callback must come
     * back in that browser. Null for consents started before it existed.
     */
    browserBindingHash: bytea('browser_binding_hash'),
    expiresAt: instant('expires_at').notNull(),
    usedAt: instant('used_at'),
    createdAt: createdAt(),
  },
  (table) => [uniqueIndex('oauth_states_hash_key').on(table.stateHash)],
);

/** GA4 sessions by source/medium and campaign, one row per property, day and pair (upserted by each sync). */
export const analyticsSessions = pgTable(
  'analytics_sessions',
  {
    id: id(),
    workspaceId: workspaceRef(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => connectorAccounts.id, { onDelete: 'cascade' }),
    day: text('day').notNull(),
    sourceMedium: text('source_medium').notNull(),
    campaign: text('campaign').notNull(),
    sessions: integer('sessions').notNull(),
    syncedAt: instant('synced_at').notNull(),
  },
  (table) => [
    uniqueIndex('analytics_sessions_key').on(table.accountId, table.day, table.sourceMedium, table.campaign),
    index('analytics_sessions_workspace_idx').on(table.workspaceId, table.day),
  ],
);

/** Performance read back: one row per publication × metric × reading (SPEC §5 "Analytics"). */
export const publicationMetrics = pgTable(
  'publication_metrics',
  {
    id: id(),
    workspaceId: workspaceRef(),
    epicId: uuid('epic_id')
      .notNull()
      .references(() => epics.id, { onDelete: 'cascade' }),
    publicationId: uuid('publication_id')
      .notNull()
      .references(() => publications.id, { onDelete: 'cascade' }),
    metric: text('metric').$type<MetricName>().notNull(),
    /** The platform's own name for it (e.g. Instagram `saved`, Klaviyo `opens_unique`). */
    platformMetric: text('platform_metric').notNull(),
    value: doublePrecision('value').notNull(),
    /** What a money value is in (ISO 4217; `spend_minor` in its minor units); null for counts. */
    currency: text('currency'),
    readAt: instant('read_at').notNull(),
  },
  (table) => [
    uniqueIndex('publication_metrics_reading_key').on(table.publicationId, table.metric, table.readAt),
    index('publication_metrics_epic_idx').on(table.epicId, table.readAt),
  ],
);

/**
 * The turns given at one limited kind of request (a platform's CallLimit) for one token, or for the app: the
 * last `requests` instants in epoch milliseconds, ascending, shared by every worker (activities/call-turns.ts).
 */
export const callTurns = pgTable('call_turns', {
  /** `{platform}:{request}:{connector id, or "app"}`. */
  key: text('key').primaryKey(),
  given: doublePrecision('given').array().notNull(),
});

/**
 * The connections a platform allows at once (its ConnectionLimit), one row per slot: a slot is held by one
 * adapter call until it ends, or until `held_until` (epoch ms) if its worker died holding it.
 */
export const callSlots = pgTable(
  'call_slots',
  {
    /** `{platform}:connections:{connector id, or "app"}`. */
    key: text('key').notNull(),
    slot: integer('slot').notNull(),
    holder: text('holder'),
    heldUntil: doublePrecision('held_until').notNull(),
  },
  (table) => [primaryKey({ columns: [table.key, table.slot] })],
);

/** Rows as the queries return them, named once for every module that passes them around. */
export type EpicRow = typeof epics.$inferSelect;
export type TaskRow = typeof tasks.$inferSelect;
export type ConnectorRow = typeof connectors.$inferSelect;
export type AccountRow = typeof connectorAccounts.$inferSelect;

/** A transaction id (PostgreSQL's xid8): which transaction wrote a row, to tell when all before it ended. */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => 'xid8' });

/**
 * Every transition of an epic, a publication or a connector, written by a trigger in the transaction that made
 * it (migration 0010), so no write path can change a status without its event. The per-workspace `sequence` is
 * given afterwards, in commit order (db/workspace-events.ts), by whoever delivers the workspace's webhooks.
 */
export const workspaceEvents = pgTable(
  'workspace_events',
  {
    id: id(),
    /** Insertion order: among the events of ended transactions, the order their sequence numbers follow. */
    position: bigserial('position', { mode: 'number' }).notNull(),
    txid: xid8('txid').notNull().default(sql`pg_current_xact_id()`),
    workspaceId: workspaceRef(),
    sequence: bigint('sequence', { mode: 'number' }),
    type: text('type').notNull(),
    subjectType: text('subject_type').notNull(),
    subjectId: uuid('subject_id').notNull(),
    /** What deliveries are ordered by: the epic (of an epic or publication event) or the connector. */
    orderingKey: uuid('ordering_key').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
  },
  (table) => [
    uniqueIndex('workspace_events_sequence_key').on(table.workspaceId, table.sequence),
    index('workspace_events_unsequenced_idx')
      .on(table.workspaceId, table.position)
      .where(sql`${table.sequence} is null`),
    index('workspace_events_created_idx').on(table.workspaceId, table.createdAt),
    // What the hourly pruning reads (db/workspace-events.ts pruneEvents).
    index('workspace_events_age_idx').on(table.createdAt),
  ],
);

/** A workspace's webhook endpoint: where its events go, which ones, and the secret they are signed with. */
export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    id: id(),
    workspaceId: workspaceRef(),
    url: text('url').notNull(),
    /** Event types (`epic.published`), families (`epic.*`) or `*`. */
    events: jsonb('events').$type<string[]>().notNull(),
    description: text('description'),
    /** The signing secret, sealed like credentials (db/credentials-codec.ts); shown once, at creation. */
    secret: bytea('secret').notNull(),
    secretKeyId: text('secret_key_id').notNull(),
    /** The workspace sequence up to which events were queued for it: later ones are its to queue. */
    queuedThrough: bigint('queued_through', { mode: 'number' }).notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (table) => [index('webhook_endpoints_workspace_idx').on(table.workspaceId, table.createdAt, table.id)],
);

/** One sending of one event to one endpoint, with its tries (a replay is a sending of its own). */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: id(),
    workspaceId: workspaceRef(),
    endpointId: uuid('endpoint_id')
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
    eventId: uuid('event_id')
      .notNull()
      .references(() => workspaceEvents.id, { onDelete: 'cascade' }),
    sequence: bigint('sequence', { mode: 'number' }).notNull(),
    orderingKey: uuid('ordering_key').notNull(),
    replay: boolean('replay').notNull().default(false),
    status: text('status').$type<'pending' | 'delivered' | 'failed'>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    nextAttemptAt: instant('next_attempt_at').notNull().defaultNow(),
    firstAttemptAt: instant('first_attempt_at'),
    deliveredAt: instant('delivered_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (table) => [
    index('webhook_deliveries_pending_idx')
      .on(table.endpointId, table.sequence)
      .where(sql`${table.status} = 'pending'`),
    index('webhook_deliveries_endpoint_created_idx').on(table.endpointId, table.createdAt, table.id),
  ],
);
