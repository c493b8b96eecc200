// Builds the Fastify application without listening, so tests drive it with app.inject() and api/server.ts only
// starts it: the plugins (api/plugins/: OpenAPI, dependencies, workspace auth), the routes, error handling.
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { stuckPublicationAfterMs } from '../config.ts';
import {
  connectorsByStatus,
  epicsByStatus,
  notifyOverdueEpics,
  notifyStuckPublications,
  overdueEpics,
  stuckPublications,
} from '../db/operations.ts';
import { createApiMetrics } from '../observability/metrics.ts';
import {
  errorResponses,
  handleClientError,
  handleError,
  handleFrameworkError,
  invalidInput,
  maxPathParameterLength,
  sendError,
} from './errors.ts';
import { nulCharacterIssues } from './nul-characters.ts';
import { workspaceAuthPlugin } from './plugins/auth.ts';
import { type DependencyOptions, dependenciesPlugin } from './plugins/dependencies.ts';
import { openApiPlugin } from './plugins/swagger.ts';
import { registerRateLimits } from './rate-limits.ts';
import { analyticsRoutes } from './routes/analytics.ts';
import { connectorRequestRoutes } from './routes/connector-requests.ts';
import { connectorSettingsRoutes } from './routes/connector-settings.ts';
import { oauthCallbackRoutes } from './routes/connector-sign-in.ts';
import { connectorRoutes } from './routes/connectors.ts';
import { epicTransitionRoutes } from './routes/epic-transitions.ts';
import { epicRoutes } from './routes/epics.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { currentWorkspaceRoutes, workspaceRoutes } from './routes/workspaces.ts';
import { createWebhookWorkflows } from './webhook-workflows.ts';

export interface AppDependencies extends DependencyOptions {
  /** A pino logger (api/server.ts passes one with secret-bearing fields redacted); absent: silent. */
  logger?: FastifyBaseLogger;
  /** /metrics also reports the process's CPU, memory and event loop (api/server.ts; not in tests' shared processes). */
  processMetrics?: boolean;
}

/** How long a client may take to send a whole request (slow clients must not hold connections). */
export const requestTimeoutMs = 30_000;

/** Large enough for an email's HTML (content allows 1,000,000 characters), small enough to refuse abuse. */
export const bodyLimitBytes = 1_572_864;

export async function buildApp(dependencies: AppDependencies): Promise<FastifyInstance> {
  const { config, database, temporal } = dependencies;
  const trustProxy = config.TRUST_PROXY;
  const app = Fastify({
    ...(dependencies.logger ? { loggerInstance: dependencies.logger } : { logger: false }),
    // Fastify's own request lines carry the full URL; an OAuth callback's query holds a code and a state.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: bodyLimitBytes,
    // A client gets this long to send its request; each handler bounds its own waits (Temporal deadlines).
    requestTimeout: requestTimeoutMs,
    // What Node's HTTP parser refuses before any route runs (headers over 16 KiB, a timeout, malformed HTTP)
    // is answered in the error format too.
    clientErrorHandler: handleClientError,
    // And what the router refuses before a route is chosen (a path parameter too long, broken encoding).
    maxParamLength: maxPathParameterLength,
    frameworkErrors: handleFrameworkError,
    ...(trustProxy === undefined
      ? {}
      : {
          trustProxy:
            typeof trustProxy === 'number' ? (_address: string, hop: number) => hop < trustProxy : trustProxy,
        }),
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
  );
  app.decorateRequest('caller', null as never);
  // What the layers in front of the handlers can answer on a route, so the OpenAPI description lists every
  // status a route can give (each in the error format): the HTTP server's 408 and 431 (clientErrorHandler),
  // the NUL check's 400, the body parser's 413 and 415 wherever a body is read, the rate limits' 429 on /v1.
  app.addHook('onRoute', (route) => {
    if (!route.schema?.response) return;
    const methods = [route.method].flat();
    const readsBody = methods.some((method) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method));
    route.schema.response = {
      ...errorResponses(400, 408, 431),
      ...(readsBody ? errorResponses(413, 415) : {}),
      ...(route.url.startsWith('/v1') ? errorResponses(429) : {}),
      ...(route.schema.response as object),
    };
  });
  const limits = await registerRateLimits(app, config);
  app.addHook('preValidation', async (request) => {
    const issues = [
      ...nulCharacterIssues(request.params, 'params'),
      ...nulCharacterIssues(request.query, 'querystring'),
      ...nulCharacterIssues(request.body, 'body'),
    ];
    if (issues.length > 0) throw invalidInput(issues);
  });
  const metrics = createApiMetrics(
    {
      connectorsByStatus: () => connectorsByStatus(database.sql),
      epicsByStatus: () => epicsByStatus(database.sql),
      overdueEpics: async () => (await overdueEpics(database.sql, config.OVERDUE_THRESHOLD_MS)).overdueEpics,
      stuckPublications: () => stuckPublications(database.sql, stuckPublicationAfterMs(config)),
    },
    { processMetrics: dependencies.processMetrics ?? false },
  );
  app.addHook('onResponse', async (request, reply) => {
    // The route's pattern, never its ids: one series per route whatever the traffic.
    metrics.request(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
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

  await app.register(openApiPlugin, { publicUrl: config.PUBLIC_URL });
  const { logger: _logger, processMetrics: _processMetrics, ...dependencyOptions } = dependencies;
  await app.register(dependenciesPlugin, dependencyOptions);
  const { db, adapters, epicWorkflows, connectorWorkflows } = app.deps;

  await app.register(healthRoutes, {
    database,
    temporal,
    overdueThresholdMs: config.OVERDUE_THRESHOLD_MS,
    stuckAfterMs: stuckPublicationAfterMs(config),
    adminToken: config.ADMIN_TOKEN,
    limits,
  });
  await app.register(metricsRoutes, { metrics, adminToken: config.ADMIN_TOKEN, limits });
  // Overdue epics and stuck publications are told from here too, not only by the operations sweep a worker
  // runs: the usual cause of an overdue epic is that no worker runs. Each is claimed once (db/operations.ts),
  // so several API processes tell it once between them.
  const watch = setInterval(() => {
    Promise.all([
      notifyOverdueEpics(database.sql, config.OVERDUE_THRESHOLD_MS),
      notifyStuckPublications(database.sql, stuckPublicationAfterMs(config)),
    ]).then(
      ([overdue, stuck]) => {
        for (const epic of overdue) app.log.warn({ ...epic }, 'epic overdue: told its workspace');
        for (const publication of stuck)
          app.log.warn({ ...publication }, 'publication stuck: told its workspace');
      },
      (error: Error) => app.log.warn({ err: error }, 'could not look for overdue epics'),
    );
  }, config.OPERATIONS_SWEEP_INTERVAL_MS);
  watch.unref();
  app.addHook('onClose', async () => clearInterval(watch));
  const connectorOptions = {
    db,
    adapters,
    config,
    workflows: epicWorkflows,
    connectorWorkflows,
    oauthAppConfigured: app.deps.oauthAppConfigured,
  };
  await app.register(
    async (v1) => {
      await v1.register(workspaceRoutes, { db, adminToken: config.ADMIN_TOKEN, limits });
      await v1.register(oauthCallbackRoutes, connectorOptions);
      await v1.register(async (workspaceScope) => {
        await workspaceScope.register(workspaceAuthPlugin, { db, limits });
        await workspaceScope.register(epicRoutes, { db });
        await workspaceScope.register(analyticsRoutes, { db });
        await workspaceScope.register(connectorRoutes, connectorOptions);
        await workspaceScope.register(connectorSettingsRoutes, connectorOptions);
        await workspaceScope.register(epicTransitionRoutes, { db, workflows: epicWorkflows });
        await workspaceScope.register(notificationRoutes, { db });
        await workspaceScope.register(connectorRequestRoutes, { db });
        await workspaceScope.register(currentWorkspaceRoutes, { db });
        await workspaceScope.register(webhookRoutes, {
          db,
          config,
          workflows: createWebhookWorkflows(temporal, {
            namespace: config.TEMPORAL_NAMESPACE,
            taskQueue: config.TEMPORAL_TASK_QUEUE,
          }),
        });
      });
    },
    { prefix: '/v1' },
  );

  return app;
}
