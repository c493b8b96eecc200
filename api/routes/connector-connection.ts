// What the connect routes and the OAuth callback share once a platform has answered: the connection is saved
// through the connector store, the epics it unblocks are retried, and its credentials are watched. Also how
// the store's and the platforms' refusals read as API errors.
import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config.ts';
import { catalogEntry } from '../../connectors/catalog.ts';
import type { AdapterRegistry } from '../../connectors/registry.ts';
import { CredentialsRejectedError } from '../../connectors/types.ts';
import type { Database, Executor } from '../../db/client.ts';
import { selectConnector } from '../../db/connectors/reads.ts';
import {
  type Connection,
  ConnectorLimitReached,
  ConnectorNotFound,
  saveConnection,
} from '../../db/connectors/transitions.ts';
import { PlatformError } from '../../domain/publication-errors.ts';
import type { ConnectorWorkflows } from '../connector-workflows.ts';
import type { EpicWorkflows } from '../epic-workflows.ts';
import { ApiError, notFound } from '../errors.ts';
import { viewOf } from './connector-views.ts';

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

export function platformFailure(error: unknown): never {
  if (error instanceof CredentialsRejectedError)
    throw new ApiError(400, 'INVALID_CREDENTIALS', error.message);
  if (error instanceof PlatformError) {
    const status = error.failure.class === 'TRANSIENT' || error.failure.class === 'RATE_LIMITED' ? 503 : 400;
    throw new ApiError(status, `PLATFORM_${error.failure.class}`, error.failure.message);
  }
  throw error;
}

/** The connector store's refusals as the API answers them. */
export function storeFailure(error: unknown): never {
  if (error instanceof ConnectorNotFound) throw notFound('connector');
  if (error instanceof ConnectorLimitReached) {
    throw new ApiError(403, 'CONNECTOR_LIMIT_REACHED', error.message, {
      connectorLimit: error.connectorLimit,
      used: error.used,
    });
  }
  throw error;
}

export async function loadConnector(executor: Executor, workspaceId: string, id: string) {
  const [row] = await selectConnector(executor, workspaceId, id);
  if (!row) throw notFound('connector');
  return row;
}

/** Logs a call to Temporal that failed after the change it follows was committed (the change stands). */
export const logFailure =
  (log: FastifyBaseLogger, level: 'warn' | 'error', message: string, context: object = {}) =>
  (error: unknown) =>
    log[level]({ err: error, ...context }, message);

export const hashState = (state: string) => createHash('sha256').update(state).digest();

export const callbackUrl = (config: ConnectorRouteOptions['config'], platform: string) =>
  `${config.PUBLIC_URL}/v1/oauth/${platform}/callback`;

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
  const context = { connectorId: connector.id };
  // Expiring tokens get their refresh workflow; keys that never expire get a periodic check instead.
  const watching = connector.tokenExpiresAt
    ? connectorWorkflows.connected(target)
    : connectorWorkflows.apiKeyConnected(target);
  await watching.catch(logFailure(log, 'error', 'could not start watching the connector', context));
  if (catalogEntry(connector.platform)?.syncedKinds.length) {
    await connectorWorkflows
      .dataConnected(target)
      .catch(logFailure(log, 'error', 'could not schedule the connector syncs', context));
  }
}

/**
 * Saves what a platform answered (a connect, a reconnect or a consent's return), then retries the epics the
 * connection unblocks and watches its credentials. Returns the connector as the API shows it.
 */
export async function completeConnection(
  options: Pick<ConnectorRouteOptions, 'db' | 'config' | 'workflows' | 'connectorWorkflows'>,
  connection: Connection,
  log: FastifyBaseLogger,
) {
  const saved = await saveConnection(options.db, options.config.CREDENTIALS_KEY, connection).catch(
    storeFailure,
  );
  const view = viewOf(saved);
  await retryEpics(options.workflows, saved.retryEpicIds, log);
  await watchConnection(options.connectorWorkflows, view, connection.workspaceId, log);
  return view;
}
