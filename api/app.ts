// Builds the Fastify application (plugins, routes, error handling) without listening, so tests drive it with
// app.inject() and api/server.ts only starts it.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { type Config, epicTransitionWaitMs } from '../config.ts';
import { type AdapterRegistry, createAdapters, oauthAppConfigured } from '../connectors/registry.ts';
import type { DatabaseConnection } from '../db/client.ts';
import { authenticateWorkspace } from './auth.ts';
import { createConnectorWorkflows } from './connector-workflows.ts';
import { createEpicWorkflows, type EpicWorkflows } from './epic-workflows.ts';
import { handleError, sendError } from './errors.ts';
import { connectorRequestRoutes } from './routes/connector-requests.ts';
import { connectorSettingsRoutes } from './routes/connector-settings.ts';
import { oauthCallbackRoutes } from './routes/connector-sign-in.ts';
import { connectorRoutes } from './routes/connectors.ts';
import { epicTransitionRoutes } from './routes/epic-transitions.ts';
import { epicRoutes } from './routes/epics.ts';
import { healthRoutes } from './routes/health.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { workspaceRoutes } from './routes/workspaces.ts';
import type { TemporalLink } from './temporal.ts';

export interface AppDependencies {
  config: Config;
  database: DatabaseConnection;
  temporal: TemporalLink;
  /** Platform adapters; built from the configured hosts unless given. */
  adapters?: AdapterRegistry;
  /** How the API reaches epic workflows; built from `temporal` unless given. */
  epicWorkflows?: EpicWorkflows;
  /** A pino logger (api/server.ts passes one with secret-bearing fields redacted); absent: silent. */
  logger?: FastifyBaseLogger;
}

/** How long a client may take to send a whole request (slow clients must not hold connections). */
export const requestTimeoutMs = 30_000;

/** Large enough for an email's HTML (content allows 1,000,000 characters), small enough to refuse abuse. */
export const bodyLimitBytes = 1_572_864;

export async function buildApp(dependencies: AppDependencies): Promise<FastifyInstance> {
  const { config, database, temporal } = dependencies;
  const app = Fastify({
    ...(dependencies.logger ? { loggerInstance: dependencies.logger } : { logger: false }),
    // Fastify's own request lines carry the full URL; an OAuth callback's query holds a code and a state.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: bodyLimitBytes,
    // A client gets this long to send its request; each handler bounds its own waits (Temporal deadlines).
    requestTimeout: requestTimeoutMs,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
  );
  app.decorateRequest('caller', null as never);
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        path: request.url.split('?')[0],
        statusCode: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Glowtify publishing orchestrator',
        version: '0.1.0',
        description: 'Epics, tasks and connectors; every epic is a durable Temporal workflow.',
      },
      servers: [{ url: config.PUBLIC_URL }],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Workspace API key' } },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes, { database, temporal, overdueThresholdMs: config.OVERDUE_THRESHOLD_MS });

  const adapters = dependencies.adapters ?? createAdapters(config);
  const epicWorkflows =
    dependencies.epicWorkflows ??
    createEpicWorkflows(temporal, {
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      transitionWaitMs: epicTransitionWaitMs(config),
    });
  const connectorWorkflows = createConnectorWorkflows(temporal, {
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    checkIntervalMs: config.CREDENTIAL_CHECK_INTERVAL_MS,
    syncIntervalMs: config.DATA_SYNC_INTERVAL_MS,
  });
  const connectorOptions = {
    db: database.db,
    adapters,
    config,
    workflows: epicWorkflows,
    connectorWorkflows,
    oauthAppConfigured: (platform: string) => oauthAppConfigured(config, platform),
  };
  await app.register(
    async (v1) => {
      await v1.register(workspaceRoutes, { db: database.db, adminToken: config.ADMIN_TOKEN });
      await v1.register(oauthCallbackRoutes, connectorOptions);
      await v1.register(async (workspaceScope) => {
        workspaceScope.addHook('onRequest', async (request) => {
          request.caller = await authenticateWorkspace(database.db, request);
        });
        await workspaceScope.register(epicRoutes, { db: database.db });
        await workspaceScope.register(connectorRoutes, connectorOptions);
        await workspaceScope.register(connectorSettingsRoutes, connectorOptions);
        await workspaceScope.register(epicTransitionRoutes, { db: database.db, workflows: epicWorkflows });
        await workspaceScope.register(notificationRoutes, { db: database.db });
        await workspaceScope.register(connectorRequestRoutes, { db: database.db });
      });
    },
    { prefix: '/v1' },
  );

  return app;
}
