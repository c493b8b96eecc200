// A connector's settings (Google Analytics' autoUtm), the accounts chosen to publish to or sync, and an email
// connector's audiences read fresh from its platform.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { catalogEntry } from '../../connectors/catalog.ts';
import { changeSettings, chooseAccounts } from '../../db/connectors/choices.ts';
import { openConnectorCredentials } from '../../db/connectors/credentials.ts';
import { ApiError, errorResponses, invalidInput } from '../errors.ts';
import { IdParams } from '../schemas.ts';
import {
  type ConnectorRouteOptions,
  loadConnector,
  logFailure,
  platformFailure,
  storeFailure,
} from './connector-connection.ts';
import { ConnectorView, viewOf } from './connector-views.ts';

export const connectorSettingsRoutes: FastifyPluginAsyncZod<ConnectorRouteOptions> = async (
  app,
  { db, adapters, config, connectorWorkflows },
) => {
  const tags = ['connectors'];

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
      const { settings } = request.body;
      const changed = await changeSettings(db, {
        workspaceId,
        connectorId: request.params.id,
        actor,
        settings,
        refuse: (connector) => {
          if (settings.autoUtm !== undefined && connector.platform !== 'google_analytics') {
            throw invalidInput([
              {
                field: 'body.settings.autoUtm',
                message: 'belongs to the Google Analytics connector (it tags links for its reports)',
              },
            ]);
          }
        },
      }).catch(storeFailure);
      return viewOf(changed);
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
      const chosen = await chooseAccounts(db, {
        workspaceId,
        connectorId: request.params.id,
        actor,
        enabled: request.body.enabled,
      }).catch(storeFailure);
      if ('unknown' in chosen) {
        throw invalidInput(
          chosen.unknown.map((id) => ({
            field: 'body.enabled',
            message: `${id} is not an account of this connector`,
          })),
        );
      }
      const view = viewOf(chosen);
      // A data connector reads the accounts just chosen now rather than at its next scheduled run.
      if (catalogEntry(view.platform)?.syncedKinds.length && view.status === 'connected') {
        await connectorWorkflows
          .syncNow(view.id)
          .catch(logFailure(request.log, 'warn', 'could not start the sync now'));
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
      const adapter = adapters[connector.platform];
      if (!adapter?.listAudiences) {
        throw new ApiError(400, 'NOT_AN_EMAIL_CONNECTOR', `${connector.platform} has no email audiences`);
      }
      const credentials =
        connector.status === 'connected'
          ? openConnectorCredentials(config.CREDENTIALS_KEY, connector)
          : undefined;
      if (credentials === undefined) {
        throw new ApiError(
          409,
          'CONNECTOR_NOT_CONNECTED',
          `the connector is ${connector.status.replace('_', ' ')}`,
        );
      }
      const items = await adapter.listAudiences(credentials).catch(platformFailure);
      return { items };
    },
  );
};
