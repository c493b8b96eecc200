// A connector's transitions, written once for the API and the activities: connected (or reconnected, which
// lifts the at-risk flags it caused and names the epics to retry), reconnect required (flags + one
// notification), disconnected. "Partially connected" is not stored: it is read from which accounts are reachable.
import { and, eq, inArray, ne, type SQL, sql } from 'drizzle-orm';
import type { Platform } from '../../domain/channels.ts';
import type { AccountMetadata } from '../../domain/connectors.ts';
import type { PublicationFailure } from '../../domain/publication-errors.ts';
import { auditConnector } from '../audit.ts';
import type { Database, Executor } from '../client.ts';
import type { CredentialsKeys } from '../credentials-codec.ts';
import {
  type AccountRow,
  type ConnectorRow,
  connectorAccounts,
  connectors,
  notifications,
  publications,
  tasks,
} from '../schema.ts';
import {
  clearAtRisk,
  countHandedOff,
  epicsFailedOnAccess,
  flagBeyondExpiry,
  flagBlockedByDisconnect,
  flagUpcomingAtRisk,
} from './at-risk.ts';
import { keepRefreshToken, sealedColumns } from './credentials.ts';
import { listAccounts, planOf, selectConnector } from './reads.ts';

/** A connection would take the workspace past its plan's number of platforms. */
export class ConnectorLimitReached extends Error {
  override name = 'ConnectorLimitReached';
  constructor(
    readonly planName: string,
    readonly connectorLimit: number,
    readonly used: number,
  ) {
    super(`the ${planName} plan allows ${connectorLimit} connectors and ${used} are connected`);
  }
}

/** The connector named is not the workspace's (or not of the platform the connection is for). */
export class ConnectorNotFound extends Error {
  override name = 'ConnectorNotFound';
}

/** Several sub-accounts of one platform count once: the limit is on connected platforms. */
export async function checkPlanLimit(executor: Executor, workspaceId: string, platform: Platform) {
  // Locked (inside saveConnection's transaction): two connections saved at once are counted one after the other.
  const plan = await planOf(executor, workspaceId, { lock: true });
  const connectedOf = (platformCondition: SQL) =>
    executor
      .select({ id: connectors.id })
      .from(connectors)
      .where(
        and(
          eq(connectors.workspaceId, workspaceId),
          platformCondition,
          ne(connectors.status, 'not_connected'),
        ),
      );
  // A platform already counted (reconnecting, another account) is never refused, even after a downgrade.
  const [counted] = await connectedOf(eq(connectors.platform, platform));
  if (counted) return;
  const others = await connectedOf(ne(connectors.platform, platform));
  if (others.length >= plan.connectorLimit) {
    throw new ConnectorLimitReached(plan.name, plan.connectorLimit, others.length);
  }
}

/**
 * Idempotent: only the first refusal flips the connector, flags what it puts at risk and notifies. Returns
 * whether it flipped. With `onlyIfCredentials`, only while those are still the connector's credentials (the
 * ones refused): a refusal of credentials replaced meanwhile says nothing about the new ones.
 */
export async function flagReconnectRequired(
  executor: Executor,
  connector: Pick<ConnectorRow, 'id' | 'workspaceId' | 'platform'>,
  failure: PublicationFailure,
  actor: string,
  now: Date,
  options: { onlyIfCredentials?: Buffer } = {},
): Promise<boolean> {
  const flipped = await executor
    .update(connectors)
    .set({ status: 'reconnect_required', lastError: failure, updatedAt: now })
    .where(
      and(
        eq(connectors.id, connector.id),
        eq(connectors.status, 'connected'),
        options.onlyIfCredentials ? eq(connectors.credentials, options.onlyIfCredentials) : undefined,
      ),
    )
    .returning({ id: connectors.id });
  if (flipped.length === 0) return false;
  const atRiskEpics = await flagUpcomingAtRisk(
    executor,
    connector.id,
    `${connector.platform} needs reconnecting`,
    now,
  );
  await executor.insert(notifications).values({
    workspaceId: connector.workspaceId,
    kind: 'reconnect_required',
    title: `Reconnect ${connector.platform}`,
    message:
      `${connector.platform} refused our access (${failure.message}). Reconnect it to publish again` +
      (atRiskEpics > 0 ? `; ${atRiskEpics} scheduled epic(s) are at risk.` : '.'),
    data: { connectorId: connector.id, platform: connector.platform, class: failure.class, atRiskEpics },
  });
  await auditConnector(executor, connector, {
    action: 'reconnect_required',
    fromStatus: 'connected',
    toStatus: 'reconnect_required',
    actor,
    details: { class: failure.class, platformCode: failure.platformCode, atRiskEpics },
  });
  return true;
}

/**
 * Flags the publications scheduled after an expiry nothing can renew and notifies the workspace (each
 * publication is flagged once, so it is never announced twice), in the caller's transaction. With `epicTitle`,
 * the one epic being scheduled is named. Returns the epics flagged.
 */
export async function warnBeyondExpiry(
  executor: Executor,
  connector: Pick<ConnectorRow, 'id' | 'workspaceId' | 'platform'>,
  expiresAt: Date,
  now: Date,
  about: { epicTitle?: string } = {},
): Promise<string[]> {
  const epicIds = await flagBeyondExpiry(
    executor,
    connector.id,
    expiresAt,
    `the ${connector.platform} token expires at ${expiresAt.toISOString()} and cannot be renewed`,
    now,
  );
  if (epicIds.length > 0) {
    const expiry = expiresAt.toISOString();
    const who =
      about.epicTitle !== undefined
        ? `"${about.epicTitle}" publishes`
        : `${epicIds.length} scheduled epic${epicIds.length === 1 ? '' : 's'} publish`;
    const where = about.epicTitle !== undefined ? ` (${expiry})` : '';
    const what = about.epicTitle !== undefined ? 'it goes out' : 'they go out';
    await executor.insert(notifications).values({
      workspaceId: connector.workspaceId,
      kind: 'publications_at_risk',
      title: `Reconnect ${connector.platform} before ${expiry.slice(0, 10)}`,
      message: `${who} after the ${connector.platform} access expires${where}; reconnect before then so ${what}.`,
      data: { connectorId: connector.id, epicIds, tokenExpiresAt: expiry },
    });
  }
  return epicIds;
}

export interface Connection {
  workspaceId: string;
  platform: Platform;
  /** A reconnect names its connector; a connect updates the workspace's connector of the platform, if any. */
  connectorId?: string | null;
  credentials: unknown;
  tokenExpiresAt: Date | null;
  accounts: { kind: string; externalId: string; name: string; metadata?: AccountMetadata }[];
  actor: string;
}

export interface SavedConnection {
  connector: ConnectorRow;
  accounts: AccountRow[];
  /** Epics to retry now that the connector works again (asked of their workflows after the commit). */
  retryEpicIds: string[];
}

/** Statuses a successful connection recovers from: what they blocked is unblocked and retried. */
const recoverableStatuses = ['reconnect_required', 'not_connected'];

/**
 * Creates or refreshes the workspace's connector for a platform (or the given one, for a reconnect), keeping
 * account choices and a refresh token across reconnects. When it recovers a connector that was down, the
 * at-risk flags it caused are lifted and the epics that failed only on its access are returned for retry.
 */
export async function saveConnection(
  db: Database,
  keys: CredentialsKeys,
  input: Connection,
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
    if (input.connectorId && existing?.platform !== input.platform) throw new ConnectorNotFound('connector');
    const id = existing?.id ?? crypto.randomUUID();
    const now = new Date();
    const values = {
      status: 'connected' as const,
      ...sealedColumns(keys, id, keepRefreshToken(keys, existing, input.credentials)),
      tokenExpiresAt: input.tokenExpiresAt,
      lastError: null,
      // A new grant: what the old one lacked for reading insights is asked again at the next reading.
      insightsMissingScopes: [],
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
          metadata: account.metadata ?? {},
        })
        .onConflictDoUpdate({
          target: [connectorAccounts.connectorId, connectorAccounts.kind, connectorAccounts.externalId],
          set: {
            name: account.name,
            status: 'connected',
            ...(account.metadata ? { metadata: account.metadata } : {}),
            updatedAt: now,
          },
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
    await auditConnector(tx, connector!, {
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
    return { connector: connector!, accounts: await listAccounts(tx, id), retryEpicIds };
  });
}

/**
 * Disconnects: credentials forgotten, accounts (with their choices) and history kept, scheduled publications
 * on it flagged at risk, one notification when any are. Disconnecting twice changes nothing the second time,
 * and says so by not auditing it. Throws ConnectorNotFound for another workspace's connector.
 */
export async function disconnectConnector(
  db: Database,
  input: {
    workspaceId: string;
    connectorId: string;
    actor: string;
    platformName: (platform: string) => string;
  },
): Promise<{ connector: ConnectorRow; accounts: AccountRow[] }> {
  const { workspaceId, actor } = input;
  return db.transaction(async (tx) => {
    const [connector] = await selectConnector(tx, workspaceId, input.connectorId).for('update');
    if (!connector) throw new ConnectorNotFound('connector');
    if (connector.status === 'not_connected' && !connector.credentials)
      return { connector, accounts: await listAccounts(tx, connector.id) };
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
    const name = input.platformName(connector.platform);
    const flagged = await flagBlockedByDisconnect(tx, connector.id, 'connector disconnected', now);
    const stillSending = await countHandedOff(tx, connector.id);
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
    await auditConnector(tx, connector, {
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
    return { connector: disconnected!, accounts: await listAccounts(tx, connector.id) };
  });
}

/** Longer than any adapter's request time-out: a marker older than this belongs to a dead attempt. */
const goingLiveWindowMs = 35_000;

/** Waits until no publication on the connector is making its final platform request (bounded). */
export async function waitWhileGoingLive(executor: Executor, connectorId: string) {
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

/**
 * Writes what the platform now says about the connector's accounts (after a token refresh): only the accounts
 * named, only their metadata. Accounts the connector no longer has are left alone.
 */
export async function updateAccountMetadata(
  executor: Executor,
  connectorId: string,
  accounts: { kind: string; externalId: string; metadata?: AccountMetadata }[],
  now: Date,
): Promise<void> {
  for (const account of accounts) {
    if (!account.metadata) continue;
    await executor
      .update(connectorAccounts)
      .set({ metadata: account.metadata, updatedAt: now })
      .where(
        and(
          eq(connectorAccounts.connectorId, connectorId),
          eq(connectorAccounts.kind, account.kind),
          eq(connectorAccounts.externalId, account.externalId),
        ),
      );
  }
}
