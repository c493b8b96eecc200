// Connectors (SPEC §6, §7): the connectors page (tabs, plan limit, sub-connections, actions per state), every
// connection flow through its adapter (OAuth with a single-use expiring `state` and PKCE where the platform
// takes it, API keys, WordPress site credentials), account choices, email audiences fresh from the platform,
// settings, disconnect and reconnect. Credentials are sealed at rest and never leave this module in a response.
import { createHash, randomBytes } from 'node:crypto';
import { and, asc, eq, gt, inArray, isNull, ne, sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../../config.ts';
import {
  type AuthMethod,
  type CatalogEntry,
  catalog,
  catalogEntry,
  comingSoon,
} from '../../connectors/catalog.ts';
import type { AdapterRegistry } from '../../connectors/registry.ts';
import { normalizeShop as normalizeShopDomain } from '../../connectors/shopify.ts';
import {
  type Connector,
  CredentialsRejectedError,
  type DiscoveredAccount,
  type OAuthConnector,
} from '../../connectors/types.ts';
import { recordAudit } from '../../db/audit.ts';
import type { Database, Executor } from '../../db/client.ts';
import { openCredentials, sealCredentials } from '../../db/credentials-codec.ts';
import {
  connectorAccounts,
  connectors,
  epics,
  notifications,
  oauthStates,
  publications,
  tasks,
  workspaces,
} from '../../db/schema.ts';
import { Platform } from '../../domain/channels.ts';
import { type PlanName, plans } from '../../domain/plans.ts';
import { PlatformError, reconnectClasses } from '../../domain/publication-errors.ts';
import type { ConnectorWorkflows } from '../connector-workflows.ts';
import type { EpicWorkflows } from '../epic-workflows.ts';
import { ApiError, errorResponses, invalidInput, notFound } from '../errors.ts';
import { IdParams } from '../schemas.ts';

type ConnectorRow = typeof connectors.$inferSelect;
type AccountRow = typeof connectorAccounts.$inferSelect;

const stateLifetimeMs = 10 * 60_000;

const AccountView = z.object({
  id: z.uuid(),
  kind: z.string(),
  externalId: z.string(),
  name: z.string(),
  enabled: z.boolean(),
  status: z.enum(['connected', 'not_connected']),
  syncStatus: z.enum(['completed', 'failed']).nullable(),
  lastSyncAt: z.string().nullable(),
  nextSyncAt: z.string().nullable(),
  lastSyncError: z.string().nullable(),
});

export const ConnectorView = z
  .object({
    id: z.uuid(),
    platform: Platform,
    status: z.enum(['connected', 'not_connected', 'reconnect_required', 'partially_connected']),
    connectedCount: z.number().int(),
    totalCount: z.number().int(),
    /** Meta only: its four sub-connections, each connected once an account of its kind is reachable. */
    subConnections: z
      .array(z.object({ kind: z.string(), name: z.string(), connected: z.boolean() }))
      .optional(),
    accounts: z.array(AccountView),
    settings: z.record(z.string(), z.unknown()),
    tokenExpiresAt: z.string().nullable(),
    actions: z.array(z.string()),
    lastError: z
      .object({ class: z.string(), message: z.string(), platformCode: z.string().optional() })
      .nullable(),
  })
  .meta({ id: 'Connector' });

const CatalogView = z
  .object({
    platform: Platform,
    name: z.string(),
    family: z.enum(['publication', 'data', 'both']),
    authMethod: z.enum(['oauth', 'api_key', 'site_credentials']),
    channels: z.array(z.object({ channel: z.string(), mode: z.enum(['soft', 'real']) })),
    scopes: z.array(z.string()),
    accountKinds: z.array(z.string()),
    subConnections: z.array(z.object({ kind: z.string(), name: z.string() })).optional(),
    /** What the connect request needs besides the workspace (Shopify's shop, a key, site credentials). */
    connectWith: z.array(z.string()),
  })
  .meta({ id: 'CatalogEntry' });

const ConnectorsPage = z.object({
  connected: z.array(ConnectorView),
  available: z.array(CatalogView),
  comingSoon: z.array(z.object({ key: z.string(), name: z.string() })),
  counts: z.object({
    connected: z.number().int(),
    available: z.number().int(),
    comingSoon: z.number().int(),
  }),
  plan: z.object({ name: z.string(), connectorLimit: z.number().int(), used: z.number().int() }),
});

const iso = (value: Date | null) => (value ? value.toISOString() : null);

/** What the page offers for a connector in its state (each label maps to one request, see the README). */
function actionsFor(platform: string, status: ConnectorStatus, missingKinds: readonly string[]): string[] {
  if (status === 'not_connected') return ['Connect'];
  if (status === 'reconnect_required') return ['Reconnect', 'Disconnect'];
  const entry = catalogEntry(platform);
  const actions = ['Connect a different account'];
  if (status === 'partially_connected') actions.push('Continue connection');
  if (entry?.extraPermissions && missingKinds.includes(entry.extraPermissions.kind))
    actions.push(entry.extraPermissions.action);
  if (platform === 'google_analytics') actions.push('Select a new view');
  if (platform === 'google_ads') actions.push('Change Customer Account');
  actions.push('Disconnect');
  return actions;
}

type ConnectorStatus = z.infer<typeof ConnectorView>['status'];

export function toConnectorView(
  connector: ConnectorRow,
  accounts: AccountRow[],
): z.infer<typeof ConnectorView> {
  const entry = catalogEntry(connector.platform);
  const reachable = accounts.filter((account) => account.status === 'connected');
  // Meta counts its four sub-connections ("2 / 4"); the others count the accounts chosen among those found.
  const subConnections = entry?.subConnections;
  const missingKinds = subConnections
    ? subConnections
        .filter(({ kind }) => !reachable.some((account) => account.kind === kind))
        .map(({ kind }) => kind)
    : [];
  const connectedCount = subConnections
    ? subConnections.length - missingKinds.length
    : reachable.filter((account) => account.enabled).length;
  const totalCount = subConnections ? subConnections.length : accounts.length;
  let status = connector.status as ConnectorStatus;
  if (status === 'connected' && subConnections && missingKinds.length > 0) status = 'partially_connected';
  return {
    id: connector.id,
    platform: connector.platform as z.infer<typeof Platform>,
    status,
    connectedCount,
    totalCount,
    ...(subConnections
      ? {
          subConnections: subConnections.map(({ kind, name }) => ({
            kind,
            name,
            connected: !missingKinds.includes(kind),
          })),
        }
      : {}),
    accounts: accounts.map((account) => ({
      id: account.id,
      kind: account.kind,
      externalId: account.externalId,
      name: account.name,
      enabled: account.enabled,
      status: account.status as 'connected' | 'not_connected',
      syncStatus: account.syncStatus as 'completed' | 'failed' | null,
      lastSyncAt: iso(account.lastSyncAt),
      nextSyncAt: iso(account.nextSyncAt),
      lastSyncError: account.lastSyncError,
    })),
    settings: connector.settings,
    tokenExpiresAt: iso(connector.tokenExpiresAt),
    actions: actionsFor(connector.platform, status, missingKinds),
    lastError: connector.lastError ?? null,
  };
}

async function viewConnector(executor: Executor, connector: ConnectorRow) {
  const accounts = await executor
    .select()
    .from(connectorAccounts)
    .where(eq(connectorAccounts.connectorId, connector.id))
    .orderBy(asc(connectorAccounts.kind), asc(connectorAccounts.name), asc(connectorAccounts.id));
  return toConnectorView(connector, accounts);
}

async function loadConnector(executor: Executor, workspaceId: string, id: string) {
  const [row] = await executor
    .select()
    .from(connectors)
    .where(and(eq(connectors.id, id), eq(connectors.workspaceId, workspaceId)));
  if (!row) throw notFound('connector');
  return row;
}

/** Several sub-accounts of one platform count once: the limit is on connected platforms. */
async function checkPlanLimit(executor: Executor, workspaceId: string, platform: string) {
  // Locked (inside saveConnection's transaction): two connections saved at once are counted one after the other.
  const [workspace] = await executor
    .select()
    .from(workspaces)
    .where(eq(workspaces.id, workspaceId))
    .for('update');
  const plan = plans[(workspace?.plan ?? 'starter') as PlanName] ?? plans.starter;
  // A platform already counted (reconnecting, another account) is never refused, even after a downgrade.
  const [counted] = await executor
    .select({ id: connectors.id })
    .from(connectors)
    .where(
      and(
        eq(connectors.workspaceId, workspaceId),
        eq(connectors.platform, platform),
        ne(connectors.status, 'not_connected'),
      ),
    );
  if (counted) return;
  const others = await executor
    .select({ id: connectors.id })
    .from(connectors)
    .where(
      and(
        eq(connectors.workspaceId, workspaceId),
        ne(connectors.platform, platform),
        ne(connectors.status, 'not_connected'),
      ),
    );
  if (others.length >= plan.connectorLimit) {
    throw new ApiError(
      403,
      'CONNECTOR_LIMIT_REACHED',
      `the ${plan.name} plan allows ${plan.connectorLimit} connectors and ${others.length} are connected`,
      { connectorLimit: plan.connectorLimit, used: others.length },
    );
  }
}

/** Statuses a successful connection recovers from: what they blocked is unblocked and retried. */
const recoverableStatuses = ['reconnect_required', 'not_connected'];

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Platforms that hand out a refresh token only on the first consent (Google, for one) send none on a
 * reconnect; overwriting the old credentials would then lose it (SPEC §11). Unreadable old credentials (a
 * retired key) hold nothing we could keep, so they do not stop the reconnect.
 */
function keepRefreshToken(
  keys: Config['CREDENTIALS_KEY'],
  existing: ConnectorRow | undefined,
  fresh: unknown,
) {
  if (!existing?.credentials || !existing.credentialsKeyId || !isRecord(fresh)) return fresh;
  if (typeof fresh.refreshToken === 'string' && fresh.refreshToken !== '') return fresh;
  let previous: unknown;
  try {
    previous = openCredentials(keys, existing.id, {
      keyId: existing.credentialsKeyId,
      ciphertext: existing.credentials,
    });
  } catch {
    return fresh;
  }
  if (!isRecord(previous) || typeof previous.refreshToken !== 'string' || previous.refreshToken === '')
    return fresh;
  return { ...fresh, refreshToken: previous.refreshToken };
}

/**
 * Lifts the at-risk flags that depended on this connector (it is connected again, in this transaction). An
 * epic keeps its flag while another of its publications is at risk or another of its targets is still down.
 */
async function clearAtRisk(executor: Executor, connectorId: string, now: Date) {
  const onThisConnector = executor
    .select({ id: tasks.id })
    .from(tasks)
    .where(eq(tasks.connectorId, connectorId));
  const publicationsCleared = await executor
    .update(publications)
    .set({ atRisk: false, atRiskReason: null, updatedAt: now })
    .where(and(eq(publications.atRisk, true), inArray(publications.taskId, onThisConnector)))
    .returning({ id: publications.id });
  const epicsCleared = await executor
    .update(epics)
    .set({ atRisk: false, updatedAt: now })
    .where(
      and(
        eq(epics.atRisk, true),
        inArray(
          epics.id,
          executor.select({ id: tasks.epicId }).from(tasks).where(eq(tasks.connectorId, connectorId)),
        ),
        sql`not exists (select 1 from publications p where p.epic_id = ${epics.id} and p.at_risk)`,
        sql`not exists (
          select 1 from tasks t
          join connectors c on c.id = t.connector_id
          left join publications p on p.task_id = t.id
          where t.epic_id = ${epics.id} and c.status <> 'connected'
            and coalesce(p.status, 'pending') not in ('published', 'handed_off'))`,
      ),
    )
    .returning({ id: epics.id });
  return { publications: publicationsCleared.length, epicIds: epicsCleared.map((row) => row.id) };
}

/** Epics in error whose every failed publication targets this connector and failed for its lost access. */
async function epicsFailedOnAccess(executor: Executor, workspaceId: string, connectorId: string) {
  const accessClasses = sql.join(
    reconnectClasses.map((name) => sql`${name}`),
    sql`, `,
  );
  const rows = await executor
    .select({ id: epics.id })
    .from(epics)
    .where(
      and(
        eq(epics.workspaceId, workspaceId),
        eq(epics.status, 'error'),
        sql`exists (
          select 1 from publications p join tasks t on t.id = p.task_id
          where p.epic_id = ${epics.id} and p.status = 'failed' and t.connector_id = ${connectorId})`,
        sql`not exists (
          select 1 from publications p join tasks t on t.id = p.task_id
          where p.epic_id = ${epics.id} and p.status = 'failed'
            and (t.connector_id <> ${connectorId}
              or coalesce(p.last_error->>'class', '') not in (${accessClasses})))`,
      ),
    )
    .orderBy(asc(epics.id));
  return rows.map((row) => row.id);
}

interface SavedConnection {
  view: z.infer<typeof ConnectorView>;
  /** Epics to retry now that the connector works again (asked of their workflows after the commit). */
  retryEpicIds: string[];
}

/**
 * Creates or refreshes the workspace's connector for a platform (or the given one, for a reconnect), keeping
 * account choices and a refresh token across reconnects. When it recovers a connector that was down, the
 * at-risk flags it caused are lifted and the epics that failed only on its access are returned for retry.
 */
async function saveConnection(
  db: Database,
  keys: Config['CREDENTIALS_KEY'],
  input: {
    workspaceId: string;
    platform: string;
    connectorId?: string | null;
    credentials: unknown;
    tokenExpiresAt: Date | null;
    accounts: DiscoveredAccount[];
    actor: string;
  },
): Promise<SavedConnection> {
  return db.transaction(async (tx) => {
    await checkPlanLimit(tx, input.workspaceId, input.platform);
    const [existing] = await tx
      .select()
      .from(connectors)
      .where(
        and(
          eq(connectors.workspaceId, input.workspaceId),
          input.connectorId ? eq(connectors.id, input.connectorId) : eq(connectors.platform, input.platform),
        ),
      )
      .for('update');
    if (input.connectorId && existing?.platform !== input.platform) throw notFound('connector');
    const id = existing?.id ?? crypto.randomUUID();
    const now = new Date();
    const sealed = sealCredentials(keys, id, keepRefreshToken(keys, existing, input.credentials));
    const values = {
      status: 'connected',
      credentials: sealed.ciphertext,
      credentialsKeyId: sealed.keyId,
      tokenExpiresAt: input.tokenExpiresAt,
      lastError: null,
      updatedAt: now,
    };
    const [connector] = existing
      ? await tx.update(connectors).set(values).where(eq(connectors.id, id)).returning()
      : await tx
          .insert(connectors)
          .values({ id, workspaceId: input.workspaceId, platform: input.platform, ...values })
          .returning();
    for (const account of input.accounts) {
      await tx
        .insert(connectorAccounts)
        .values({
          workspaceId: input.workspaceId,
          connectorId: id,
          kind: account.kind,
          externalId: account.externalId,
          name: account.name,
          status: 'connected',
        })
        .onConflictDoUpdate({
          target: [connectorAccounts.connectorId, connectorAccounts.kind, connectorAccounts.externalId],
          set: { name: account.name, status: 'connected', updatedAt: now },
        });
    }
    // Accounts these credentials no longer reach (another user's Pages, a store that left) stay listed with
    // their choices, but unreachable until a connection finds them again.
    const found = new Set(input.accounts.map((account) => `${account.kind}/${account.externalId}`));
    const known = await tx
      .select({
        id: connectorAccounts.id,
        kind: connectorAccounts.kind,
        externalId: connectorAccounts.externalId,
      })
      .from(connectorAccounts)
      .where(eq(connectorAccounts.connectorId, id));
    const unreachable = known.filter((account) => !found.has(`${account.kind}/${account.externalId}`));
    if (unreachable.length > 0) {
      await tx
        .update(connectorAccounts)
        .set({ status: 'not_connected', updatedAt: now })
        .where(
          inArray(
            connectorAccounts.id,
            unreachable.map((account) => account.id),
          ),
        );
    }
    const recovering = existing !== undefined && recoverableStatuses.includes(existing.status);
    const cleared = recovering ? await clearAtRisk(tx, id, now) : { publications: 0, epicIds: [] };
    const retryEpicIds = recovering ? await epicsFailedOnAccess(tx, input.workspaceId, id) : [];
    await recordAudit(tx, {
      workspaceId: input.workspaceId,
      subjectType: 'connector',
      subjectId: id,
      action: existing ? 'reconnect' : 'connect',
      fromStatus: existing?.status ?? null,
      toStatus: 'connected',
      actor: input.actor,
      details: {
        accounts: input.accounts.length,
        ...(recovering
          ? {
              atRiskCleared: { publications: cleared.publications, epicIds: cleared.epicIds },
              retryEpicIds,
            }
          : {}),
      },
    });
    return { view: await viewConnector(tx, connector!), retryEpicIds };
  });
}

/**
 * Asks each epic's open run to retry, after the connection is committed so the retried publications find
 * it connected. A refusal or an unreachable Temporal does not undo the reconnect: the epic stays in error,
 * where the user can still retry it, and the failure is logged.
 */
async function retryEpics(workflows: EpicWorkflows, epicIds: string[], log: FastifyBaseLogger) {
  await Promise.all(
    epicIds.map(async (epicId) => {
      try {
        const answer = await workflows.update(epicId, 'retry', { requestedBy: 'reconnect' });
        // No open run (its 30-day error window is over): left in error on purpose. Starting a new run
        // belongs to POST /v1/epics/{id}/retry, which re-checks every target; the user can still call it.
        if (answer === 'not_running') log.info({ epicId }, 'reconnect: the epic has no open run to retry');
      } catch (error) {
        log.warn({ epicId, err: error }, 'reconnect: the epic could not be retried');
      }
    }),
  );
}

/**
 * Flags what a disconnect blocks: every publication of a scheduled epic on this connector that has not gone
 * out yet, and its epic. Real hand-offs already on the platform (`handed_off`) will still send and are left
 * alone. The workflow creates publication rows in its first activity; a row it has not created yet is
 * created here (pending) so the task carries its flag, and the workflow adopts it.
 */
async function flagBlockedByDisconnect(executor: Executor, connectorId: string, reason: string, now: Date) {
  const blocked = await executor
    .select({ taskId: tasks.id, epicId: tasks.epicId, workspaceId: tasks.workspaceId })
    .from(tasks)
    .innerJoin(epics, eq(epics.id, tasks.epicId))
    .where(and(eq(tasks.connectorId, connectorId), eq(epics.status, 'scheduled')));
  if (blocked.length === 0) return { publicationIds: [], epicIds: [] };
  const flagged = await executor
    .insert(publications)
    .values(blocked.map((row) => ({ ...row, atRisk: true, atRiskReason: reason, updatedAt: now })))
    .onConflictDoUpdate({
      target: publications.taskId,
      set: { atRisk: true, atRiskReason: reason, updatedAt: now },
      setWhere: sql`${publications.status} in ('pending', 'failed', 'cancelled')`,
    })
    .returning({ id: publications.id, epicId: publications.epicId });
  const epicIds = [...new Set(flagged.map((row) => row.epicId))];
  if (epicIds.length > 0) {
    await executor.update(epics).set({ atRisk: true, updatedAt: now }).where(inArray(epics.id, epicIds));
  }
  return { publicationIds: flagged.map((row) => row.id), epicIds };
}

/** Longer than any adapter's request time-out: a marker older than this belongs to a dead attempt. */
const goingLiveWindowMs = 35_000;

/** Waits until no publication on the connector is making its final platform request (bounded). */
async function waitWhileGoingLive(executor: Executor, connectorId: string) {
  const deadline = Date.now() + goingLiveWindowMs;
  while (Date.now() < deadline) {
    const [row] = await executor
      .select({ count: sql<number>`count(*)::int` })
      .from(publications)
      .innerJoin(tasks, eq(tasks.id, publications.taskId))
      .where(
        and(
          eq(tasks.connectorId, connectorId),
          eq(publications.status, 'publishing'),
          sql`${publications.goingLiveAt} > now() - make_interval(secs => ${goingLiveWindowMs / 1000})`,
        ),
      );
    if ((row?.count ?? 0) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function platformFailure(error: unknown): never {
  if (error instanceof CredentialsRejectedError)
    throw new ApiError(400, 'INVALID_CREDENTIALS', error.message);
  if (error instanceof PlatformError) {
    const status = error.failure.class === 'TRANSIENT' || error.failure.class === 'RATE_LIMITED' ? 503 : 400;
    throw new ApiError(status, `PLATFORM_${error.failure.class}`, error.failure.message);
  }
  throw error;
}

const hashState = (state: string) => createHash('sha256').update(state).digest();

export interface ConnectorRouteOptions {
  db: Database;
  adapters: AdapterRegistry;
  /** Whether this server has the platform's OAuth app (client id and secret) configured. */
  oauthAppConfigured(platform: string): boolean;
  config: Pick<Config, 'CREDENTIALS_KEY' | 'PUBLIC_URL' | 'FRONTEND_URL'>;
  /** How a reconnect asks the epics that failed on the lost access to retry. */
  workflows: EpicWorkflows;
  /** Starts or tells the token-refresh workflow of a connector with expiring credentials. */
  connectorWorkflows: ConnectorWorkflows;
}

/**
 * After the connection is committed: a token that expires gets its refresh workflow (started, or told
 * `reconnected`), an API key its periodic check. If Temporal is unreachable the connection still stands;
 * the failure is logged.
 */
async function watchConnection(
  connectorWorkflows: ConnectorWorkflows,
  connector: { id: string; platform: string; tokenExpiresAt: string | null },
  workspaceId: string,
  log: FastifyBaseLogger,
) {
  const target = { id: connector.id, workspaceId, platform: connector.platform };
  // Expiring tokens get their refresh workflow; keys that never expire get a periodic check instead.
  const watching = connector.tokenExpiresAt
    ? connectorWorkflows.connected(target)
    : connectorWorkflows.apiKeyConnected(target);
  await watching.catch((error: unknown) =>
    log.error({ err: error, connectorId: connector.id }, 'could not start watching the connector'),
  );
  if (catalogEntry(connector.platform)?.syncedKinds.length) {
    await connectorWorkflows
      .dataConnected(target)
      .catch((error: unknown) =>
        log.error({ err: error, connectorId: connector.id }, 'could not schedule the connector syncs'),
      );
  }
}

const callbackUrl = (config: ConnectorRouteOptions['config'], platform: string) =>
  `${config.PUBLIC_URL}/v1/oauth/${platform}/callback`;

/** Starts an OAuth consent; a reconnect's state names its connector so the callback updates that one. */
async function startConsent(
  db: Database,
  oauth: OAuthConnector,
  config: ConnectorRouteOptions['config'],
  input: { workspaceId: string; platform: string; connectorId?: string; shop?: string; extra?: string },
) {
  const state = randomBytes(32).toString('base64url');
  const id = crypto.randomUUID();
  // PKCE (S256): the verifier stays here, sealed; only its hash travels through the browser.
  const codeVerifier = oauth.pkce ? randomBytes(48).toString('base64url') : undefined;
  const sealedVerifier = codeVerifier ? sealCredentials(config.CREDENTIALS_KEY, id, codeVerifier) : null;
  await db.insert(oauthStates).values({
    id,
    workspaceId: input.workspaceId,
    platform: input.platform,
    stateHash: hashState(state),
    connectorId: input.connectorId ?? null,
    codeVerifier: sealedVerifier?.ciphertext ?? null,
    codeVerifierKeyId: sealedVerifier?.keyId ?? null,
    context: {
      ...(input.shop ? { shop: input.shop } : {}),
      ...(input.extra ? { extra: input.extra } : {}),
    },
    expiresAt: new Date(Date.now() + stateLifetimeMs),
  });
  const authorizeUrl = oauth.authorizeUrl({
    state,
    redirectUri: callbackUrl(config, input.platform),
    ...(codeVerifier ? { codeChallenge: createHash('sha256').update(codeVerifier).digest('base64url') } : {}),
    ...(input.shop ? { shop: input.shop } : {}),
    ...(input.extra ? { extra: input.extra } : {}),
  });
  return { authorizeUrl };
}

function catalogView(entry: CatalogEntry, connector: Connector | undefined) {
  return {
    platform: entry.platform,
    name: entry.name,
    family: entry.family,
    authMethod: entry.authMethod,
    channels: entry.channels.map(({ channel, mode }) => ({ channel, mode })),
    scopes: [...entry.scopes],
    accountKinds: [...entry.accountKinds],
    ...(entry.subConnections
      ? { subConnections: entry.subConnections.map(({ kind, name }) => ({ kind, name })) }
      : {}),
    connectWith:
      entry.authMethod === 'oauth'
        ? connector?.kind === 'oauth' && connector.needsShop
          ? ['shop']
          : []
        : [...connectFieldsByMethod[entry.authMethod]],
  };
}

/** The connect and reconnect body: which fields apply depends on how the platform connects. */
const ConnectBody = z
  .strictObject({
    apiKey: z.string().trim().min(1).max(500).optional(),
    siteUrl: z.string().trim().min(1).max(2_000).optional(),
    username: z.string().min(1).max(200).optional(),
    applicationPassword: z.string().min(1).max(200).optional(),
    shop: z.string().trim().min(1).max(200).optional(),
    /** A second consent round for more permissions (Meta: "ads", Enable Ad Account permissions). */
    permissions: z.enum(['ads']).optional(),
  })
  .nullish();
type ConnectBody = NonNullable<z.infer<typeof ConnectBody>>;

const connectFieldsByMethod = {
  api_key: ['apiKey'],
  site_credentials: ['siteUrl', 'username', 'applicationPassword'],
  oauth: ['shop', 'permissions'],
} as const satisfies Record<AuthMethod, readonly (keyof ConnectBody)[]>;

/** Refuses the fields that do not belong to the platform's way of connecting, and names the missing ones. */
function checkConnectBody(entry: CatalogEntry, oauth: OAuthConnector | null, body: ConnectBody) {
  const allowed: readonly string[] = connectFieldsByMethod[entry.authMethod];
  const problems: { field: string; message: string }[] = [];
  for (const [field, value] of Object.entries(body)) {
    if (value === undefined) continue;
    if (!allowed.includes(field)) {
      problems.push({ field: `body.${field}`, message: `does not apply to ${entry.name}` });
    }
  }
  const required: string[] =
    entry.authMethod === 'oauth'
      ? oauth?.needsShop
        ? ['shop']
        : []
      : [...connectFieldsByMethod[entry.authMethod]];
  for (const field of required) {
    if (body[field as keyof ConnectBody] === undefined)
      problems.push({ field: `body.${field}`, message: `is required for ${entry.name}` });
  }
  if (body.shop !== undefined && !oauth?.needsShop)
    problems.push({ field: 'body.shop', message: `does not apply to ${entry.name}` });
  if (body.permissions !== undefined && entry.extraPermissions?.name !== body.permissions)
    problems.push({
      field: 'body.permissions',
      message: `${entry.name} has no "${body.permissions}" permissions`,
    });
  if (problems.length > 0) throw invalidInput(problems);
}

export const connectorRoutes: FastifyPluginAsyncZod<ConnectorRouteOptions> = async (
  app,
  { db, adapters, config, workflows, connectorWorkflows, oauthAppConfigured },
) => {
  const tags = ['connectors'];

  /**
   * Connect and reconnect share one path: API-key and WordPress connectors are verified and saved now (then
   * their epics retried and their credentials watched); OAuth platforms get a consent URL whose state names
   * the connector.
   */
  async function connect(
    target: { workspaceId: string; actor: string; platform: string; connectorId?: string },
    body: ConnectBody,
    log: FastifyBaseLogger,
  ): Promise<{ view: z.infer<typeof ConnectorView> } | { authorizeUrl: string }> {
    const entry = catalogEntry(target.platform);
    const connector = adapters[target.platform as Platform]?.connector;
    if (!entry || !connector) {
      throw new ApiError(
        400,
        'PLATFORM_NOT_AVAILABLE',
        `${entry?.name ?? target.platform} cannot be connected in this build yet`,
      );
    }
    checkConnectBody(entry, connector.kind === 'oauth' ? connector : null, body);
    await checkPlanLimit(db, target.workspaceId, target.platform);
    if (connector.kind === 'oauth') {
      if (!oauthAppConfigured(target.platform)) {
        throw new ApiError(
          503,
          'PLATFORM_NOT_CONFIGURED',
          `${entry.name} has no OAuth app configured on this server (its client id and secret)`,
        );
      }
      let shop: string | undefined;
      if (connector.needsShop) {
        shop = normalizeShopDomain(body.shop ?? '') ?? undefined;
        if (!shop)
          throw invalidInput([
            {
              field: 'body.shop',
              message: 'must be the store\'s subdomain, e.g. "acme" or "acme.myshopify.com"',
            },
          ]);
      }
      return startConsent(db, connector, config, {
        workspaceId: target.workspaceId,
        platform: target.platform,
        ...(target.connectorId ? { connectorId: target.connectorId } : {}),
        ...(shop ? { shop } : {}),
        ...(body.permissions ? { extra: body.permissions } : {}),
      });
    }
    const connection =
      connector.kind === 'api_key'
        ? await connector.connectWithApiKey(body.apiKey!).catch(platformFailure)
        : await connector
            .connectWithSite({
              siteUrl: body.siteUrl!,
              username: body.username!,
              applicationPassword: body.applicationPassword!,
            })
            .catch(platformFailure);
    const saved = await saveConnection(db, config.CREDENTIALS_KEY, {
      workspaceId: target.workspaceId,
      platform: target.platform,
      connectorId: target.connectorId ?? null,
      credentials: connection.credentials,
      tokenExpiresAt: connection.expiresAt,
      accounts: connection.accounts,
      actor: target.actor,
    });
    await retryEpics(workflows, saved.retryEpicIds, log);
    await watchConnection(connectorWorkflows, saved.view, target.workspaceId, log);
    return { view: saved.view };
  }

  app.get(
    '/connectors',
    {
      schema: {
        tags,
        summary: 'The connectors page: connected, available and coming soon',
        response: { 200: ConnectorsPage, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { workspaceId } = request.caller;
      const rows = await db
        .select()
        .from(connectors)
        .where(eq(connectors.workspaceId, workspaceId))
        .orderBy(asc(connectors.platform));
      const shown = rows.filter((row) => row.status !== 'not_connected');
      const [workspace] = await db.select().from(workspaces).where(eq(workspaces.id, workspaceId));
      const plan = plans[(workspace?.plan ?? 'starter') as PlanName] ?? plans.starter;
      const connected = await Promise.all(shown.map((row) => viewConnector(db, row)));
      const available = catalog
        .filter(
          (entry) =>
            plan.platforms.includes(entry.platform) &&
            adapters[entry.platform]?.connector !== undefined &&
            !shown.some((row) => row.platform === entry.platform),
        )
        .map((entry) => catalogView(entry, adapters[entry.platform]?.connector));
      return {
        connected,
        available,
        comingSoon: [...comingSoon],
        counts: { connected: connected.length, available: available.length, comingSoon: comingSoon.length },
        plan: { name: plan.name, connectorLimit: plan.connectorLimit, used: connected.length },
      };
    },
  );

  app.get(
    '/connectors/:id',
    {
      schema: {
        tags,
        summary: 'One connector',
        params: IdParams,
        response: { 200: ConnectorView, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) =>
      viewConnector(db, await loadConnector(db, request.caller.workspaceId, request.params.id)),
  );

  app.post(
    '/connectors/:platform/connect',
    {
      schema: {
        tags,
        summary:
          'Connect a platform: API-key platforms → the connector (201); OAuth platforms → {authorizeUrl}',
        params: z.strictObject({ platform: Platform }),
        body: ConnectBody,
        response: {
          200: z.object({ authorizeUrl: z.string() }),
          201: ConnectorView,
          ...errorResponses(400, 401, 403, 503),
        },
      },
    },
    async (request, reply) => {
      const { workspaceId, actor } = request.caller;
      const outcome = await connect(
        { workspaceId, actor, platform: request.params.platform },
        request.body ?? {},
        request.log,
      );
      return 'view' in outcome ? reply.code(201).send(outcome.view) : reply.code(200).send(outcome);
    },
  );

  app.post(
    '/connectors/:id/reconnect',
    {
      schema: {
        tags,
        summary:
          'Reconnect: OAuth platforms → {authorizeUrl} (the same connector on return); API-key platforms ' +
          'take {apiKey} → the connector. Account choices are kept; blocked epics are unblocked and retried',
        params: IdParams,
        body: ConnectBody,
        response: {
          200: z.union([ConnectorView, z.object({ authorizeUrl: z.string() })]),
          ...errorResponses(400, 401, 403, 404, 503),
        },
      },
    },
    async (request) => {
      const { workspaceId, actor } = request.caller;
      const connector = await loadConnector(db, workspaceId, request.params.id);
      const outcome = await connect(
        { workspaceId, actor, platform: connector.platform, connectorId: connector.id },
        request.body ?? {},
        request.log,
      );
      return 'view' in outcome ? outcome.view : outcome;
    },
  );

  app.delete(
    '/connectors/:id',
    {
      schema: {
        tags,
        summary:
          'Disconnect: credentials forgotten, accounts and history kept; scheduled publications on it are ' +
          'flagged at risk (hand-offs already on the platform still send)',
        params: IdParams,
        response: { 200: ConnectorView, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { workspaceId, actor } = request.caller;
      const view = await db.transaction(async (tx) => {
        const [connector] = await tx
          .select()
          .from(connectors)
          .where(and(eq(connectors.id, request.params.id), eq(connectors.workspaceId, workspaceId)))
          .for('update');
        if (!connector) throw notFound('connector');
        // Disconnecting twice changes nothing the second time, and says so by not auditing it.
        if (connector.status === 'not_connected' && !connector.credentials)
          return viewConnector(tx, connector);
        const now = new Date();
        const [disconnected] = await tx
          .update(connectors)
          .set({
            status: 'not_connected',
            credentials: null,
            credentialsKeyId: null,
            tokenExpiresAt: null,
            lastError: null,
            updatedAt: now,
          })
          .where(eq(connectors.id, connector.id))
          .returning();
        // The choices (`enabled`) stay so a reconnect restores them; the accounts are just unreachable now.
        await tx
          .update(connectorAccounts)
          .set({ status: 'not_connected', updatedAt: now })
          .where(eq(connectorAccounts.connectorId, connector.id));
        const name = catalogEntry(connector.platform)?.name ?? connector.platform;
        const flagged = await flagBlockedByDisconnect(tx, connector.id, 'connector disconnected', now);
        const [handedOff] = await tx
          .select({ count: sql<number>`count(*)::int` })
          .from(publications)
          .innerJoin(tasks, eq(tasks.id, publications.taskId))
          .innerJoin(epics, eq(epics.id, publications.epicId))
          .where(
            and(
              eq(tasks.connectorId, connector.id),
              eq(publications.status, 'handed_off'),
              eq(epics.status, 'scheduled'),
            ),
          );
        const stillSending = handedOff?.count ?? 0;
        if (flagged.publicationIds.length > 0) {
          const count = flagged.publicationIds.length;
          await tx.insert(notifications).values({
            workspaceId,
            kind: 'connector_disconnected',
            title: `${name} disconnected`,
            message:
              `${count} scheduled publication${count === 1 ? '' : 's'} in ${flagged.epicIds.length} ` +
              `epic${flagged.epicIds.length === 1 ? '' : 's'} will not go out until you reconnect ${name}.` +
              (stillSending > 0 ? ` ${stillSending} already handed to ${name} will still send.` : ''),
            data: {
              connectorId: connector.id,
              platform: connector.platform,
              atRiskPublications: count,
              epicIds: flagged.epicIds,
              handedOffStillSending: stillSending,
            },
          });
        }
        await recordAudit(tx, {
          workspaceId,
          subjectType: 'connector',
          subjectId: connector.id,
          action: 'disconnect',
          fromStatus: connector.status,
          toStatus: 'not_connected',
          actor,
          details: {
            atRiskPublicationIds: flagged.publicationIds,
            atRiskEpicIds: flagged.epicIds,
            handedOffStillSending: stillSending,
          },
        });
        return viewConnector(tx, disconnected!);
      });
      // An attempt that passed its last check before the disconnect committed may be making its final
      // request now: the answer waits for it, so nothing publishes after the disconnect answered.
      await waitWhileGoingLive(db, view.id);
      // Nothing is left to refresh: the token workflow ends (a failure to tell it is harmless: it finds the
      // connector without credentials at its next wake-up and ends then).
      await connectorWorkflows
        .disconnected(view.id)
        .catch((error: unknown) => request.log.warn({ err: error }, 'could not tell the token workflow'));
      return view;
    },
  );

  app.patch(
    '/connectors/:id',
    {
      schema: {
        tags,
        summary: "Change a connector's settings (Google Analytics: autoUtm, on unless turned off)",
        params: IdParams,
        body: z.strictObject({
          settings: z.strictObject({
            autoUtm: z.boolean({ error: 'must be true or false' }).optional(),
          }),
        }),
        response: { 200: ConnectorView, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { workspaceId, actor } = request.caller;
      return db.transaction(async (tx) => {
        const [connector] = await tx
          .select()
          .from(connectors)
          .where(and(eq(connectors.id, request.params.id), eq(connectors.workspaceId, workspaceId)))
          .for('update');
        if (!connector) throw notFound('connector');
        const { settings } = request.body;
        if (settings.autoUtm !== undefined && connector.platform !== 'google_analytics') {
          throw invalidInput([
            {
              field: 'body.settings.autoUtm',
              message: 'belongs to the Google Analytics connector (it tags links for its reports)',
            },
          ]);
        }
        const merged = { ...connector.settings, ...settings };
        const [updated] = await tx
          .update(connectors)
          .set({ settings: merged, updatedAt: new Date() })
          .where(eq(connectors.id, connector.id))
          .returning();
        await recordAudit(tx, {
          workspaceId,
          subjectType: 'connector',
          subjectId: connector.id,
          action: 'settings',
          actor,
          details: { settings },
        });
        return viewConnector(tx, updated!);
      });
    },
  );

  app.put(
    '/connectors/:id/accounts',
    {
      schema: {
        tags,
        summary: 'Choose the accounts to publish to',
        params: IdParams,
        body: z.strictObject({ enabled: z.array(z.uuid({ error: 'must be a UUID' })).max(500) }),
        response: { 200: ConnectorView, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { workspaceId, actor } = request.caller;
      const view = await db.transaction(async (tx) => {
        const connector = await loadConnector(tx, workspaceId, request.params.id);
        const accounts = await tx
          .select()
          .from(connectorAccounts)
          .where(eq(connectorAccounts.connectorId, connector.id));
        const known = new Set(accounts.map((account) => account.id));
        const unknown = request.body.enabled.filter((id) => !known.has(id));
        if (unknown.length > 0) {
          throw invalidInput(
            unknown.map((id) => ({
              field: 'body.enabled',
              message: `${id} is not an account of this connector`,
            })),
          );
        }
        const wanted = new Set(request.body.enabled);
        for (const account of accounts) {
          if (account.enabled !== wanted.has(account.id)) {
            await tx
              .update(connectorAccounts)
              .set({ enabled: wanted.has(account.id), updatedAt: new Date() })
              .where(eq(connectorAccounts.id, account.id));
          }
        }
        await recordAudit(tx, {
          workspaceId,
          subjectType: 'connector',
          subjectId: connector.id,
          action: 'select_accounts',
          actor,
          details: { enabled: [...wanted] },
        });
        return viewConnector(tx, connector);
      });
      // A data connector reads the accounts just chosen now rather than at its next scheduled run.
      if (catalogEntry(view.platform)?.syncedKinds.length && view.status === 'connected') {
        await connectorWorkflows
          .syncNow(view.id)
          .catch((error: unknown) => request.log.warn({ err: error }, 'could not start the sync now'));
      }
      return view;
    },
  );

  app.get(
    '/connectors/:id/audiences',
    {
      schema: {
        tags,
        summary: "The email platform's lists and segments, fetched fresh",
        params: IdParams,
        response: {
          200: z.object({
            items: z.array(z.object({ id: z.string(), name: z.string(), kind: z.enum(['list', 'segment']) })),
          }),
          ...errorResponses(400, 401, 404, 409, 503),
        },
      },
    },
    async (request) => {
      const connector = await loadConnector(db, request.caller.workspaceId, request.params.id);
      const adapter = adapters[connector.platform as Platform];
      if (!adapter?.listAudiences) {
        throw new ApiError(400, 'NOT_AN_EMAIL_CONNECTOR', `${connector.platform} has no email audiences`);
      }
      if (connector.status !== 'connected' || !connector.credentials || !connector.credentialsKeyId) {
        throw new ApiError(
          409,
          'CONNECTOR_NOT_CONNECTED',
          `the connector is ${connector.status.replace('_', ' ')}`,
        );
      }
      const credentials = openCredentials(config.CREDENTIALS_KEY, connector.id, {
        keyId: connector.credentialsKeyId,
        ciphertext: connector.credentials,
      });
      const items = await adapter.listAudiences(credentials).catch(platformFailure);
      return { items };
    },
  );
};

/** The OAuth return: no bearer (the browser comes back from the platform); the `state` binds the workspace. */
export const oauthCallbackRoutes: FastifyPluginAsyncZod<ConnectorRouteOptions> = async (
  app,
  { db, adapters, config, workflows, connectorWorkflows },
) => {
  app.get(
    '/oauth/:platform/callback',
    {
      schema: {
        tags: ['connectors'],
        summary: 'OAuth return from the platform’s consent page',
        security: [],
        params: z.strictObject({ platform: Platform }),
        // Loose: platforms add their own parameters (Shopify signs the whole query with `hmac`).
        querystring: z.looseObject({
          state: z.string().max(200).optional(),
          code: z.string().max(2_000).optional(),
          error: z.string().max(200).optional(),
          error_reason: z.string().max(200).optional(),
          error_description: z.string().max(1_000).optional(),
        }),
        response: { 200: ConnectorView, 302: z.null(), ...errorResponses(400, 403, 503) },
      },
    },
    async (request, reply) => {
      const { platform } = request.params;
      const { state, code, error } = request.query;
      if (!state) throw invalidInput([{ field: 'querystring.state', message: 'is required' }]);
      // Consumed atomically: a replayed, expired or unknown state finds no row.
      const [consumed] = await db
        .update(oauthStates)
        .set({ usedAt: new Date() })
        .where(
          and(
            eq(oauthStates.stateHash, hashState(state)),
            eq(oauthStates.platform, platform),
            isNull(oauthStates.usedAt),
            gt(oauthStates.expiresAt, new Date()),
          ),
        )
        .returning();
      if (!consumed)
        throw new ApiError(
          400,
          'INVALID_STATE',
          'this sign-in link is unknown, expired or already used: start again',
        );
      if (error || !code) {
        throw new ApiError(
          400,
          'CONSENT_DENIED',
          `the consent was not given on ${platform}${error ? ` (${error})` : ''}`,
        );
      }
      const oauth = adapters[platform]?.connector;
      if (oauth?.kind !== 'oauth')
        throw new ApiError(
          400,
          'PLATFORM_NOT_AVAILABLE',
          `${platform} cannot be connected in this build yet`,
        );
      const codeVerifier =
        consumed.codeVerifier && consumed.codeVerifierKeyId
          ? openCredentials<string>(config.CREDENTIALS_KEY, consumed.id, {
              keyId: consumed.codeVerifierKeyId,
              ciphertext: consumed.codeVerifier,
            })
          : undefined;
      const query = Object.fromEntries(
        Object.entries(request.query).filter(
          (entry): entry is [string, string] => typeof entry[1] === 'string',
        ),
      );
      const connection = await oauth
        .completeConsent({
          code,
          redirectUri: callbackUrl(config, platform),
          query,
          ...(codeVerifier ? { codeVerifier } : {}),
          ...(consumed.context.shop ? { shop: consumed.context.shop } : {}),
        })
        .catch(platformFailure);
      const saved = await saveConnection(db, config.CREDENTIALS_KEY, {
        workspaceId: consumed.workspaceId,
        platform,
        connectorId: consumed.connectorId,
        credentials: connection.credentials,
        tokenExpiresAt: connection.expiresAt,
        accounts: connection.accounts,
        actor: `oauth:${platform}`,
      });
      await retryEpics(workflows, saved.retryEpicIds, request.log);
      const { view } = saved;
      await watchConnection(connectorWorkflows, view, consumed.workspaceId, request.log);
      if (config.FRONTEND_URL) return reply.redirect(`${config.FRONTEND_URL}/connectors/${view.id}`, 302);
      return reply.code(200).send(view);
    },
  );
};
