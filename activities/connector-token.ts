// The token-refresh workflow's activities: read where a connector's token stands, renew it through its
// adapter (sealing the new credentials at once, a rotated refresh token included), and flag the connector
// when the platform refuses for good. A transient failure is thrown as retryable and never flips anything.
import { ApplicationFailure, log } from '@temporalio/activity';
import { eq } from 'drizzle-orm';
import type { CredentialsKeys } from '../config.ts';
import type { AdapterRegistry } from '../connectors/registry.ts';
import { CredentialsRejectedError } from '../connectors/types.ts';
import type { Database } from '../db/client.ts';
import {
  keepRotatedRefreshToken,
  openConnectorCredentials,
  releaseRefreshLease,
  saveRefreshedCredentials,
  takeRefreshLease,
} from '../db/connectors/credentials.ts';
import {
  flagReconnectRequired,
  updateAccountMetadata,
  warnBeyondExpiry,
} from '../db/connectors/transitions.ts';
import { connectors } from '../db/schema.ts';
import { PlatformError, type PublicationFailure, reconnectClasses } from '../domain/publication-errors.ts';
import { createWorkerMetrics, type WorkerMetrics } from '../observability/metrics.ts';

/**
 * How long a refresh may hold the connector before another may start: longer than one attempt of the
 * refresh activity (its start-to-close time-out is a minute), so only a dead attempt's lease runs out.
 */
const refreshLeaseMs = 70_000;
/** How long re-reading the accounts' facts after a refresh may take: it must not outlast the activity. */
const describeAccountsTimeoutMs = 10_000;

export interface ConnectorTokenActivityDependencies {
  db: Database;
  credentialsKeys: CredentialsKeys;
  adapters: AdapterRegistry;
  /** Where renewals are counted by outcome; absent, a registry nobody reads. */
  metrics?: WorkerMetrics;
  now?: () => Date;
}

export interface ConnectorTokenFacts {
  status: string;
  platform: string;
  tokenExpiresAt: string | null;
  /** The platform lets us renew this token without the user (else reconnect is the only way). */
  refreshable: boolean;
}

/**
 * Whether the connector's token can be renewed without the user: its adapter refreshes, and these credentials
 * allow it (LinkedIn gives refresh tokens only to approved partners).
 */
export function isRenewable(
  adapters: AdapterRegistry,
  credentialsKeys: CredentialsKeys,
  connector: Pick<typeof connectors.$inferSelect, 'id' | 'platform' | 'credentials' | 'credentialsKeyId'>,
): boolean {
  const adapter = adapters[connector.platform];
  if (!adapter?.refreshCredentials) return false;
  if (!adapter.canRefresh || !connector.credentials || !connector.credentialsKeyId) return true;
  return adapter.canRefresh(openConnectorCredentials(credentialsKeys, connector));
}

/**
 * A refusal for a token we know has expired while its refresh workflow can still renew it (the renewal is
 * late: the platform's token endpoint was down, or no worker ran): it says nothing about the connection, so it
 * is never a reason to ask for a reconnect.
 */
export function expiredButRenewable(
  adapters: AdapterRegistry,
  credentialsKeys: CredentialsKeys,
  connector: Pick<
    typeof connectors.$inferSelect,
    'id' | 'platform' | 'credentials' | 'credentialsKeyId' | 'tokenExpiresAt'
  >,
  failure: { class: string } | null | undefined,
  now: Date,
): boolean {
  return (
    failure?.class === 'TOKEN_EXPIRED' &&
    connector.tokenExpiresAt !== null &&
    connector.tokenExpiresAt.getTime() <= now.getTime() &&
    isRenewable(adapters, credentialsKeys, connector)
  );
}

export function createConnectorTokenActivities({
  db,
  credentialsKeys,
  adapters,
  metrics = createWorkerMetrics(),
  now = () => new Date(),
}: ConnectorTokenActivityDependencies) {
  const load = async (connectorId: string) => {
    const [connector] = await db.select().from(connectors).where(eq(connectors.id, connectorId));
    return connector;
  };

  return {
    async loadConnectorToken({ connectorId }: { connectorId: string }): Promise<ConnectorTokenFacts> {
      const connector = await load(connectorId);
      if (!connector)
        return { status: 'not_connected', platform: 'unknown', tokenExpiresAt: null, refreshable: false };
      return {
        status: connector.credentials ? connector.status : 'not_connected',
        platform: connector.platform,
        tokenExpiresAt: connector.tokenExpiresAt?.toISOString() ?? null,
        refreshable: isRenewable(adapters, credentialsKeys, connector),
      };
    },

    /** Flags the publications scheduled after an expiry nothing can renew; notifies once per connector. */
    async flagPublicationsBeyondExpiry({ connectorId }: { connectorId: string }): Promise<number> {
      const connector = await load(connectorId);
      if (!connector?.tokenExpiresAt || connector.status !== 'connected') return 0;
      const flagged = await db.transaction((tx) =>
        warnBeyondExpiry(tx, connector, connector.tokenExpiresAt!, now()),
      );
      return flagged.length;
    },

    /**
     * Renews the token without holding a database transaction (or a pooled connection) while the platform
     * answers: a lease on the connector row keeps a second refresh from spending the same refresh token, and
     * the new credentials are written only if the ones refreshed are still the connector's (compare-and-set),
     * so a reconnect made meanwhile wins. A definitive refusal flips the connector only under the same
     * condition: a refusal of credentials already replaced says nothing about the new ones.
     */
    async refreshConnectorToken({
      connectorId,
    }: {
      connectorId: string;
    }): Promise<{ tokenExpiresAt: string | null }> {
      const leaseUntil = new Date(now().getTime() + refreshLeaseMs);
      const connector = await takeRefreshLease(db, connectorId, leaseUntil, now());
      if (!connector?.credentials || !connector.credentialsKeyId) {
        const current = await load(connectorId);
        if (!current?.credentials || current.status !== 'connected') {
          throw ApplicationFailure.create({
            type: 'NOT_CONNECTED',
            message: 'the connector has no live credentials any more',
            nonRetryable: true,
          });
        }
        // Another attempt (one that timed out but still runs) holds the lease: wait for it, then read again.
        throw ApplicationFailure.create({
          type: 'REFRESH_IN_PROGRESS',
          message: 'another refresh of this connector is calling the platform',
        });
      }
      const refreshedFrom = connector.credentials;
      const releaseLease = () => releaseRefreshLease(db, connector.id, leaseUntil);
      const adapter = adapters[connector.platform];
      if (!adapter?.refreshCredentials) {
        await releaseLease();
        throw ApplicationFailure.create({
          type: 'NOT_REFRESHABLE',
          message: `${connector.platform} tokens cannot be renewed`,
          nonRetryable: true,
        });
      }
      const current = openConnectorCredentials<Record<string, unknown>>(credentialsKeys, connector) ?? {};
      let refreshed: Awaited<ReturnType<NonNullable<typeof adapter.refreshCredentials>>>;
      try {
        refreshed = await adapter.refreshCredentials(current);
      } catch (error) {
        await releaseLease();
        if (error instanceof PlatformError && reconnectClasses.includes(error.failure.class)) {
          const failure = error.failure;
          const flipped = await db.transaction((tx) =>
            flagReconnectRequired(tx, connector, failure, `workflow:connector-token-${connector.id}`, now(), {
              onlyIfCredentials: refreshedFrom,
            }),
          );
          const afterwards = await load(connectorId);
          const fields = { connectorId: connector.id, platform: connector.platform };
          if (!flipped && afterwards?.credentials && !afterwards.credentials.equals(refreshedFrom)) {
            // Refused, but for credentials a reconnect has replaced meanwhile: those are not in question.
            metrics.tokenRefresh(connector.platform, 'superseded');
            log.info('token refresh refused for credentials a reconnect replaced', fields);
            return { tokenExpiresAt: afterwards.tokenExpiresAt?.toISOString() ?? null };
          }
          metrics.tokenRefresh(connector.platform, 'refused');
          log.warn('token refresh refused: reconnect required', {
            ...fields,
            failureClass: failure.class,
            reason: failure.message,
          });
          throw ApplicationFailure.create({
            type: 'REFRESH_REFUSED',
            message: failure.message,
            nonRetryable: true,
            details: [{ class: failure.class, platformCode: failure.platformCode }],
          });
        }
        // Network errors, 5xx, time-outs, rate limits: Temporal retries with backoff; nothing is flagged.
        metrics.tokenRefresh(connector.platform, 'transient_error');
        log.warn('token refresh failed; retrying', {
          connectorId: connector.id,
          platform: connector.platform,
          reason: (error as Error).message,
        });
        throw ApplicationFailure.create({
          type: error instanceof PlatformError ? error.failure.class : 'TRANSIENT',
          message: (error as Error).message,
          ...(error instanceof PlatformError && error.failure.retryAfterMs !== undefined
            ? { nextRetryDelay: error.failure.retryAfterMs }
            : {}),
        });
      }
      const written = await saveRefreshedCredentials(db, credentialsKeys, {
        connector,
        refreshedFrom,
        current,
        refreshed: refreshed.credentials as Record<string, unknown>,
        expiresAt: refreshed.expiresAt,
        leaseUntil,
        actor: `workflow:connector-token-${connector.id}`,
        now,
      });
      if (!written) {
        // A reconnect replaced the credentials while the platform answered: its credentials stay — but if they
        // still hold the refresh token this refresh just spent (a reconnect that kept it), the rotated one
        // takes its place, or the next renewal would be refused.
        await keepRotatedRefreshToken(db, credentialsKeys, {
          connectorId: connector.id,
          spent: current,
          refreshed: refreshed.credentials as Record<string, unknown>,
          now: now(),
        });
        await releaseLease();
        metrics.tokenRefresh(connector.platform, 'superseded');
        const replaced = await load(connectorId);
        return { tokenExpiresAt: replaced?.tokenExpiresAt?.toISOString() ?? null };
      }
      metrics.tokenRefresh(connector.platform, 'renewed');
      log.info('token renewed', { connectorId: connector.id, platform: connector.platform });
      if (adapter.describeAccounts) {
        // The new token is saved: what the accounts offer (TikTok's privacy levels) is read with it, at best.
        // A failure here leaves the facts of the last read and never fails the refresh.
        try {
          const accounts = await adapter.describeAccounts(
            refreshed.credentials,
            AbortSignal.timeout(describeAccountsTimeoutMs),
          );
          await updateAccountMetadata(db, connector.id, accounts, now());
        } catch (error) {
          // Read again at the next refresh or connection.
          log.warn('could not read the accounts again after the refresh', {
            connectorId: connector.id,
            reason: (error as Error).message,
          });
        }
      }
      return { tokenExpiresAt: refreshed.expiresAt?.toISOString() ?? null };
    },

    /** The periodic check of credentials that do not expire (API keys): flips only on the platform's refusal. */
    async checkConnectorCredentials({
      connectorId,
    }: {
      connectorId: string;
    }): Promise<'ok' | 'refused' | 'not_connected'> {
      const connector = await load(connectorId);
      if (!connector?.credentials || !connector.credentialsKeyId || connector.status !== 'connected') {
        return 'not_connected';
      }
      const adapter = adapters[connector.platform];
      if (!adapter?.verifyCredentials) return 'ok';
      const credentials = openConnectorCredentials(credentialsKeys, connector);
      let failure: PublicationFailure | null = null;
      try {
        await adapter.verifyCredentials(credentials);
      } catch (error) {
        if (error instanceof CredentialsRejectedError) {
          const scopes = error.message === 'Scopes insufficient';
          failure = { class: scopes ? 'PERMISSION_REVOKED' : 'TOKEN_EXPIRED', message: error.message };
        } else if (error instanceof PlatformError && reconnectClasses.includes(error.failure.class)) {
          failure = error.failure;
        } else {
          // A transient answer says nothing about the key: retried, and never flips the connector.
          throw ApplicationFailure.create({ type: 'TRANSIENT', message: (error as Error).message });
        }
      }
      if (!failure) return 'ok';
      const refused = failure;
      await db.transaction((tx) =>
        flagReconnectRequired(tx, connector, refused, `schedule:connector-check-${connector.id}`, now(), {
          // A refusal of the key a reconnect replaced meanwhile says nothing about the new one.
          ...(connector.credentials ? { onlyIfCredentials: connector.credentials } : {}),
        }),
      );
      return 'refused';
    },

    async markReconnectRequired(input: { connectorId: string; failure: PublicationFailure }): Promise<void> {
      const connector = await load(input.connectorId);
      if (!connector) return;
      await db.transaction((tx) =>
        flagReconnectRequired(
          tx,
          connector,
          input.failure,
          `workflow:connector-token-${connector.id}`,
          now(),
        ),
      );
    },
  };
}

export type ConnectorTokenActivities = ReturnType<typeof createConnectorTokenActivities>;
