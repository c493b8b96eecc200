// Data connectors' syncs (SPEC §6): each enabled account of a Shopify, Google Analytics or Canva connector is
// read through its adapter; the account records Completed or Failed with the last and next sync, and GA4
// sessions by source/medium and campaign are stored for analytics.
import { ApplicationFailure, activityInfo } from '@temporalio/activity';
import { and, eq, sql } from 'drizzle-orm';
import type { CredentialsKeys } from '../config.ts';
import { catalogEntry } from '../connectors/catalog.ts';
import type { AdapterRegistry } from '../connectors/registry.ts';
import { auditConnector } from '../db/audit.ts';
import type { Database } from '../db/client.ts';
import { openConnectorCredentials } from '../db/connectors/credentials.ts';
import { flagReconnectRequired } from '../db/connectors/transitions.ts';
import { analyticsSessions, connectorAccounts, connectors } from '../db/schema.ts';
import { PlatformError, reconnectClasses } from '../domain/publication-errors.ts';
import { expiredButRenewable } from './connector-token.ts';

export interface ConnectorSyncActivityDependencies {
  db: Database;
  credentialsKeys: CredentialsKeys;
  adapters: AdapterRegistry;
  now?: () => Date;
}

/** How far back a sync reads when the account has no completed sync to continue from. */
const firstSyncDays = 28;
const dayMs = 86_400_000;
/** Attempts of one account's sync before it is recorded as failed until the next scheduled run. */
export const syncAttempts = 3;

export function createConnectorSyncActivities({
  db,
  credentialsKeys,
  adapters,
  now = () => new Date(),
}: ConnectorSyncActivityDependencies) {
  return {
    /** The enabled accounts to sync (none when the connector is not connected: nothing is read then). */
    async listSyncAccounts({ connectorId }: { connectorId: string }): Promise<string[]> {
      const rows = await db
        .select({ id: connectorAccounts.id, kind: connectorAccounts.kind, platform: connectors.platform })
        .from(connectorAccounts)
        .innerJoin(connectors, eq(connectors.id, connectorAccounts.connectorId))
        .where(
          and(
            eq(connectorAccounts.connectorId, connectorId),
            eq(connectorAccounts.enabled, true),
            eq(connectorAccounts.status, 'connected'),
            eq(connectors.status, 'connected'),
          ),
        )
        .orderBy(connectorAccounts.id);
      // Only the kinds that hold data (a Shopify store, not its blogs, which are publication targets).
      return rows
        .filter((row) => catalogEntry(row.platform)?.syncedKinds.includes(row.kind))
        .map((row) => row.id);
    },

    /**
     * Syncs one account. A transient failure is retried by Temporal; the last attempt, or a definitive
     * refusal, records the account as failed (and a refused token flips the connector like any refusal).
     */
    async syncAccount(input: {
      connectorId: string;
      accountId: string;
      intervalMs: number;
    }): Promise<'completed' | 'failed' | 'skipped'> {
      const [row] = await db
        .select({ account: connectorAccounts, connector: connectors })
        .from(connectorAccounts)
        .innerJoin(connectors, eq(connectors.id, connectorAccounts.connectorId))
        .where(and(eq(connectorAccounts.id, input.accountId), eq(connectors.id, input.connectorId)));
      if (
        !row?.connector.credentials ||
        !row.connector.credentialsKeyId ||
        row.connector.status !== 'connected'
      )
        return 'skipped';
      const { account, connector } = row;
      const adapter = adapters[connector.platform];
      if (!adapter?.sync) return 'skipped';
      const startedAt = now();
      // After a completed sync, from the day before it; otherwise (first sync, or the last one failed) the
      // whole window again, so days missed while syncs failed are read once they work (rows are upserted).
      const since =
        account.syncStatus === 'completed' && account.lastSyncAt
          ? new Date(account.lastSyncAt.getTime() - dayMs)
          : new Date(startedAt.getTime() - firstSyncDays * dayMs);
      const record = async (outcome: 'completed' | 'failed', error: string | null) => {
        const finishedAt = now();
        await db
          .update(connectorAccounts)
          .set({
            syncStatus: outcome,
            lastSyncAt: finishedAt,
            nextSyncAt: new Date(finishedAt.getTime() + input.intervalMs),
            lastSyncError: error,
            updatedAt: finishedAt,
          })
          .where(eq(connectorAccounts.id, account.id));
      };
      try {
        const credentials = openConnectorCredentials(credentialsKeys, connector);
        const result = await adapter.sync({
          credentials,
          account: { kind: account.kind, externalId: account.externalId },
          since,
          until: startedAt,
        });
        await db.transaction(async (tx) => {
          for (const session of result.sessions ?? []) {
            await tx
              .insert(analyticsSessions)
              .values({
                workspaceId: connector.workspaceId,
                accountId: account.id,
                day: session.date,
                sourceMedium: session.sourceMedium,
                campaign: session.campaign,
                sessions: session.sessions,
                syncedAt: startedAt,
              })
              .onConflictDoUpdate({
                target: [
                  analyticsSessions.accountId,
                  analyticsSessions.day,
                  analyticsSessions.sourceMedium,
                  analyticsSessions.campaign,
                ],
                set: { sessions: sql`excluded.sessions`, syncedAt: startedAt },
              });
          }
          await auditConnector(tx, connector, {
            action: 'sync',
            actor: `schedule:connector-sync-${connector.id}`,
            details: { accountId: account.id, itemsRead: result.itemsRead },
          });
        });
        await record('completed', null);
        return 'completed';
      } catch (error) {
        const failure = error instanceof PlatformError ? error.failure : null;
        const definitive =
          failure !== null && failure.class !== 'TRANSIENT' && failure.class !== 'RATE_LIMITED';
        if (!definitive && activityInfo().attempt < syncAttempts) {
          throw ApplicationFailure.create({
            type: failure?.class ?? 'TRANSIENT',
            message: (error as Error).message,
            ...(failure?.retryAfterMs !== undefined ? { nextRetryDelay: failure.retryAfterMs } : {}),
          });
        }
        const message = failure?.message ?? (error as Error).message;
        await record('failed', message);
        // A token we know has expired, and that its refresh workflow can still renew (it was late, e.g. the
        // platform's token endpoint was down), says nothing about the connection: the workflow decides.
        const renewable = expiredButRenewable(adapters, credentialsKeys, connector, failure, now());
        if (failure && reconnectClasses.includes(failure.class) && !renewable) {
          await db.transaction((tx) =>
            flagReconnectRequired(tx, connector, failure, `schedule:connector-sync-${connector.id}`, now(), {
              ...(connector.credentials ? { onlyIfCredentials: connector.credentials } : {}),
            }),
          );
        }
        return 'failed';
      }
    },
  };
}

export type ConnectorSyncActivities = ReturnType<typeof createConnectorSyncActivities>;
