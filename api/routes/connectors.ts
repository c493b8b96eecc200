// Connectors (SPEC §6, §7): connect Klaviyo by API key and Meta by OAuth (single-use, expiring `state`),
// choose which accounts to publish to, list email audiences fresh from the platform. Credentials are sealed
// at rest and never leave this module in a response.
import { createHash, randomBytes } from 'node:crypto';
import { and, asc, eq, gt, isNull, ne } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../../config.ts';
import { catalog, catalogEntry, comingSoon } from '../../connectors/catalog.ts';
import type { Adapters } from '../../connectors/registry.ts';
import { CredentialsRejectedError, type DiscoveredAccount } from '../../connectors/types.ts';
import { recordAudit } from '../../db/audit.ts';
import type { Database, Executor } from '../../db/client.ts';
import { openCredentials, sealCredentials } from '../../db/credentials-codec.ts';
import { connectorAccounts, connectors, oauthStates, workspaces } from '../../db/schema.ts';
import { Platform } from '../../domain/channels.ts';
import { type PlanName, plans } from '../../domain/plans.ts';
import { PlatformError } from '../../domain/publication-errors.ts';
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
});

export const ConnectorView = z
  .object({
    id: z.uuid(),
    platform: Platform,
    status: z.enum(['connected', 'not_connected', 'reconnect_required', 'partially_connected']),
    connectedCount: z.number().int(),
    totalCount: z.number().int(),
    accounts: z.array(AccountView),
    settings: z.record(z.string(), z.unknown()),
    tokenExpiresAt: z.string().nullable(),
    actions: z.array(z.string()),
    lastError: z
      .object({ class: z.string(), message: z.string(), platformCode: z.string().optional() })
      .nullable(),
  })
  .meta({ id: 'Connector' });

const ConnectorsPage = z.object({
  connected: z.array(ConnectorView),
  available: z.array(
    z.object({ platform: Platform, name: z.string(), family: z.string(), authMethod: z.string() }),
  ),
  comingSoon: z.array(z.object({ key: z.string(), name: z.string() })),
  counts: z.object({
    connected: z.number().int(),
    available: z.number().int(),
    comingSoon: z.number().int(),
  }),
  plan: z.object({ name: z.string(), connectorLimit: z.number().int(), used: z.number().int() }),
});

const iso = (value: Date | null) => (value ? value.toISOString() : null);

function actionsFor(status: string): string[] {
  if (status === 'reconnect_required') return ['Reconnect', 'Disconnect'];
  if (status === 'connected' || status === 'partially_connected')
    return ['Connect a different account', 'Disconnect'];
  return ['Connect'];
}

export function toConnectorView(
  connector: ConnectorRow,
  accounts: AccountRow[],
): z.infer<typeof ConnectorView> {
  return {
    id: connector.id,
    platform: connector.platform as z.infer<typeof Platform>,
    status: connector.status as z.infer<typeof ConnectorView>['status'],
    connectedCount: accounts.filter((account) => account.enabled).length,
    totalCount: accounts.length,
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
    })),
    settings: connector.settings,
    tokenExpiresAt: iso(connector.tokenExpiresAt),
    actions: actionsFor(connector.status),
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
  const [workspace] = await executor.select().from(workspaces).where(eq(workspaces.id, workspaceId));
  const plan = plans[(workspace?.plan ?? 'starter') as PlanName] ?? plans.starter;
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

/** Creates or refreshes the workspace's connector for a platform, keeping account choices across reconnects. */
async function saveConnection(
  db: Database,
  keys: Config['CREDENTIALS_KEY'],
  input: {
    workspaceId: string;
    platform: string;
    credentials: unknown;
    tokenExpiresAt: Date | null;
    accounts: DiscoveredAccount[];
    actor: string;
  },
) {
  return db.transaction(async (tx) => {
    await checkPlanLimit(tx, input.workspaceId, input.platform);
    const [existing] = await tx
      .select()
      .from(connectors)
      .where(and(eq(connectors.workspaceId, input.workspaceId), eq(connectors.platform, input.platform)))
      .for('update');
    const id = existing?.id ?? crypto.randomUUID();
    const sealed = sealCredentials(keys, id, input.credentials);
    const values = {
      status: 'connected',
      credentials: sealed.ciphertext,
      credentialsKeyId: sealed.keyId,
      tokenExpiresAt: input.tokenExpiresAt,
      lastError: null,
      updatedAt: new Date(),
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
          set: { name: account.name, status: 'connected', updatedAt: new Date() },
        });
    }
    await recordAudit(tx, {
      workspaceId: input.workspaceId,
      subjectType: 'connector',
      subjectId: id,
      action: existing ? 'reconnect' : 'connect',
      fromStatus: existing?.status ?? null,
      toStatus: 'connected',
      actor: input.actor,
      details: { accounts: input.accounts.length },
    });
    return viewConnector(tx, connector!);
  });
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
  adapters: Adapters;
  config: Pick<Config, 'CREDENTIALS_KEY' | 'PUBLIC_URL' | 'FRONTEND_URL'>;
}

const callbackUrl = (config: ConnectorRouteOptions['config'], platform: string) =>
  `${config.PUBLIC_URL}/v1/oauth/${platform}/callback`;

export const connectorRoutes: FastifyPluginAsyncZod<ConnectorRouteOptions> = async (
  app,
  { db, adapters, config },
) => {
  const tags = ['connectors'];

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
            plan.platforms.includes(entry.platform) && !shown.some((row) => row.platform === entry.platform),
        )
        .map(({ platform, name, family, authMethod }) => ({ platform, name, family, authMethod }));
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
        body: z.strictObject({ apiKey: z.string().min(1).max(500).optional() }).nullish(),
        response: {
          200: z.object({ authorizeUrl: z.string() }),
          201: ConnectorView,
          ...errorResponses(400, 401, 403, 503),
        },
      },
    },
    async (request, reply) => {
      const { workspaceId, actor } = request.caller;
      const { platform } = request.params;
      const entry = catalogEntry(platform);
      if (!entry?.connectable) {
        throw new ApiError(
          400,
          'PLATFORM_NOT_AVAILABLE',
          `${entry?.name ?? platform} cannot be connected in this build yet`,
        );
      }
      await checkPlanLimit(db, workspaceId, platform);
      if (platform === 'klaviyo') {
        const apiKey = request.body?.apiKey;
        if (!apiKey) throw invalidInput([{ field: 'body.apiKey', message: 'is required for Klaviyo' }]);
        const verified = await adapters.klaviyo.verifyApiKey(apiKey).catch(platformFailure);
        const view = await saveConnection(db, config.CREDENTIALS_KEY, {
          workspaceId,
          platform,
          credentials: { apiKey },
          tokenExpiresAt: null,
          accounts: verified.accounts,
          actor,
        });
        return reply.code(201).send(view);
      }
      if (request.body?.apiKey !== undefined) {
        throw invalidInput([
          { field: 'body.apiKey', message: `${entry.name} connects through its consent page, not a key` },
        ]);
      }
      const state = randomBytes(32).toString('base64url');
      await db.insert(oauthStates).values({
        workspaceId,
        platform,
        stateHash: hashState(state),
        expiresAt: new Date(Date.now() + stateLifetimeMs),
      });
      return reply.code(200).send({
        authorizeUrl: adapters.meta.authorizeUrl({ state, redirectUri: callbackUrl(config, platform) }),
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
      return db.transaction(async (tx) => {
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
      if (connector.platform !== 'klaviyo') {
        throw new ApiError(400, 'NOT_AN_EMAIL_CONNECTOR', `${connector.platform} has no email audiences`);
      }
      if (connector.status !== 'connected' || !connector.credentials || !connector.credentialsKeyId) {
        throw new ApiError(
          409,
          'CONNECTOR_NOT_CONNECTED',
          `the connector is ${connector.status.replace('_', ' ')}`,
        );
      }
      const credentials = openCredentials<{ apiKey: string }>(config.CREDENTIALS_KEY, connector.id, {
        keyId: connector.credentialsKeyId,
        ciphertext: connector.credentials,
      });
      const items = await adapters.klaviyo.listAudiences!(credentials).catch(platformFailure);
      return { items };
    },
  );
};

/** The OAuth return: no bearer (the browser comes back from the platform); the `state` binds the workspace. */
export const oauthCallbackRoutes: FastifyPluginAsyncZod<ConnectorRouteOptions> = async (
  app,
  { db, adapters, config },
) => {
  app.get(
    '/oauth/:platform/callback',
    {
      schema: {
        tags: ['connectors'],
        summary: 'OAuth return from the platform’s consent page',
        security: [],
        params: z.strictObject({ platform: Platform }),
        querystring: z.object({
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
      if (platform !== 'meta')
        throw new ApiError(
          400,
          'PLATFORM_NOT_AVAILABLE',
          `${platform} cannot be connected in this build yet`,
        );
      const token = await adapters.meta
        .exchangeCode({ code, redirectUri: callbackUrl(config, platform) })
        .catch(platformFailure);
      const discovered = await adapters.meta.discover(token.userAccessToken).catch(platformFailure);
      const view = await saveConnection(db, config.CREDENTIALS_KEY, {
        workspaceId: consumed.workspaceId,
        platform,
        credentials: discovered.credentials,
        tokenExpiresAt: token.expiresAt,
        accounts: discovered.accounts,
        actor: `oauth:${platform}`,
      });
      if (config.FRONTEND_URL) return reply.redirect(`${config.FRONTEND_URL}/connectors/${view.id}`, 302);
      return reply.code(200).send(view);
    },
  );
};
