// What the routes work with — the database, the platform adapters, the ways to reach the epic and connector
// workflows — built once from the configuration (or given by a test) and decorated on the app as `deps`.
import type { FastifyInstance } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import { type Config, epicTransitionWaitMs } from '../../config.ts';
import { type AdapterRegistry, createAdapters, oauthAppConfigured } from '../../connectors/registry.ts';
import type { Database, DatabaseConnection } from '../../db/client.ts';
import { type ConnectorWorkflows, createConnectorWorkflows } from '../connector-workflows.ts';
import { createEpicWorkflows, type EpicWorkflows } from '../epic-workflows.ts';
import type { TemporalLink } from '../temporal.ts';
import { createSummaryFacts } from '../workflow-summary-facts.ts';

export interface ApiDependencies {
  config: Config;
  database: DatabaseConnection;
  db: Database;
  temporal: TemporalLink;
  adapters: AdapterRegistry;
  epicWorkflows: EpicWorkflows;
  connectorWorkflows: ConnectorWorkflows;
  oauthAppConfigured: (platform: string) => boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    deps: ApiDependencies;
  }
}

export interface DependencyOptions {
  config: Config;
  database: DatabaseConnection;
  temporal: TemporalLink;
  /** Platform adapters; built from the configured hosts unless given. */
  adapters?: AdapterRegistry;
  /** How the API reaches epic workflows; built from `temporal` unless given. */
  epicWorkflows?: EpicWorkflows;
}

export const dependenciesPlugin = fastifyPlugin(
  async (app: FastifyInstance, options: DependencyOptions) => {
    const { config, database, temporal } = options;
    // What the workflows' summaries in the Temporal UI name (workspace, accounts), read from the database.
    const summaryFacts = createSummaryFacts(database.db);
    app.decorate('deps', {
      config,
      database,
      db: database.db,
      temporal,
      adapters: options.adapters ?? createAdapters(config),
      epicWorkflows:
        options.epicWorkflows ??
        createEpicWorkflows(temporal, {
          namespace: config.TEMPORAL_NAMESPACE,
          taskQueue: config.TEMPORAL_TASK_QUEUE,
          transitionWaitMs: epicTransitionWaitMs(config),
          summaryFacts,
        }),
      connectorWorkflows: createConnectorWorkflows(temporal, {
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        checkIntervalMs: config.CREDENTIAL_CHECK_INTERVAL_MS,
        syncIntervalMs: config.DATA_SYNC_INTERVAL_MS,
        summaryFacts,
      }),
      oauthAppConfigured: (platform: string) => oauthAppConfigured(config, platform),
    });
  },
  { name: 'dependencies' },
);
