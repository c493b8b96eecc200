// Connectors (SPEC §6, §7): the connectors page, one connector, connect, reconnect and disconnect. Credentials
// and every change of a connector's state go through the connector store (db/connectors/); OAuth consents and
// their return are in connector-sign-in.ts; settings, account choices and audiences in connector-settings.ts.
import type { FastifyBaseLogger } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { catalog, catalogEntry, comingSoon } from '../../connectors/catalog.ts';
import { normalizeShop as normalizeShopDomain } from '../../connectors/shopify.ts';
import { listConnectors, planOf } from '../../db/connectors/reads.ts';
import { checkPlanLimit, disconnectConnector, waitWhileGoingLive } from '../../db/connectors/transitions.ts';
import { Platform } from '../../domain/channels.ts';
import { ApiError, errorResponses, invalidInput } from '../errors.ts';
import { IdParams } from '../schemas.ts';
import { ConnectBody, checkConnectBody } from './connector-body.ts';
import {
  type ConnectorRouteOptions,
  completeConnection,
  loadConnector,
  logFailure,
  platformFailure,
  storeFailure,
} from './connector-connection.ts';
import { startConsent } from './connector-sign-in.ts';
import { ConnectorsPage, ConnectorView, catalogView, viewConnector, viewOf } from './connector-views.ts';

export const connectorRoutes: FastifyPluginAsyncZod<ConnectorRouteOptions> = async (app, options) => {
  const { db, adapters, config, connectorWorkflows, oauthAppConfigured } = options;
  const tags = ['connectors'];

  /**
   * Connect and reconnect share one path: API-key and WordPress connectors are verified and saved now (then
   * their epics retried and their credentials watched); OAuth platforms get a consent URL whose state names
   * the connector.
   */
  async function connect(
    target: { workspaceId: string; actor: string; platform: Platform; connectorId?: string },
    body: ConnectBody,
    log: FastifyBaseLogger,
  ): Promise<{ view: z.infer<typeof ConnectorView> } | { authorizeUrl: string; setCookie: string }> {
    const entry = catalogEntry(target.platform);
    const connector = adapters[target.platform]?.connector;
    if (!entry || !connector) {
      throw new ApiError(
        400,
        'PLATFORM_NOT_AVAILABLE',
        `${entry?.name ?? target.platform} cannot be connected in this build yet`,
      );
    }
    checkConnectBody(entry, connector.kind === 'oauth' ? connector : null, body);
    await checkPlanLimit(db, target.workspaceId, target.platform).catch(storeFailure);
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
    const view = await completeConnection(
      options,
      {
        workspaceId: target.workspaceId,
        platform: target.platform,
        connectorId: target.connectorId ?? null,
        credentials: connection.credentials,
        tokenExpiresAt: connection.expiresAt,
        accounts: connection.accounts,
        actor: target.actor,
      },
      log,
    );
    return { view };
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
      const rows = await listConnectors(db, workspaceId);
      const shown = rows.filter((row) => row.status !== 'not_connected');
      const plan = await planOf(db, workspaceId);
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
      if ('view' in outcome) return reply.code(201).send(outcome.view);
      return reply
        .code(200)
        .header('set-cookie', outcome.setCookie)
        .send({ authorizeUrl: outcome.authorizeUrl });
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
    async (request, reply) => {
      const { workspaceId, actor } = request.caller;
      const connector = await loadConnector(db, workspaceId, request.params.id);
      const outcome = await connect(
        { workspaceId, actor, platform: connector.platform, connectorId: connector.id },
        request.body ?? {},
        request.log,
      );
      if ('view' in outcome) return outcome.view;
      void reply.header('set-cookie', outcome.setCookie);
      return { authorizeUrl: outcome.authorizeUrl };
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
      const view = viewOf(
        await disconnectConnector(db, {
          workspaceId,
          connectorId: request.params.id,
          actor,
          platformName: (platform) => catalogEntry(platform)?.name ?? platform,
        }).catch(storeFailure),
      );
      // An attempt that passed its last check before the disconnect committed may be making its final
      // request now: the answer waits for it, so nothing publishes after the disconnect answered.
      await waitWhileGoingLive(db, view.id);
      // Nothing is left to refresh: the token workflow ends (a failure to tell it is harmless: it finds the
      // connector without credentials at its next wake-up and ends then).
      await connectorWorkflows
        .disconnected(view.id)
        .catch(logFailure(request.log, 'warn', 'could not tell the token workflow'));
      return view;
    },
  );
};
