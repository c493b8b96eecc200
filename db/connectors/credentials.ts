// The one place where a connector's credentials (and an OAuth state's PKCE verifier) are opened or sealed:
// every reader and writer of secrets goes through here, so the rules on keeping refresh tokens live once.
import { and, eq, isNotNull, isNull, lt, or } from 'drizzle-orm';
import { auditConnector } from '../audit.ts';
import type { Database, Executor } from '../client.ts';
import { type CredentialsKeys, openCredentials, sealCredentials } from '../credentials-codec.ts';
import { type ConnectorRow, connectors, type oauthStates } from '../schema.ts';

type SealedRow = Pick<ConnectorRow, 'id' | 'credentials' | 'credentialsKeyId'>;
type Credentials = Record<string, unknown>;

const isRecord = (value: unknown): value is Credentials =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The connector's credentials in the clear, or undefined when it holds none (disconnected). */
export function openConnectorCredentials<T = unknown>(keys: CredentialsKeys, row: SealedRow): T | undefined {
  if (!row.credentials || !row.credentialsKeyId) return undefined;
  return openCredentials<T>(keys, row.id, { keyId: row.credentialsKeyId, ciphertext: row.credentials });
}

/** The columns that hold these credentials, sealed for this connector with the current key. */
export function sealedColumns(keys: CredentialsKeys, connectorId: string, credentials: unknown) {
  const sealed = sealCredentials(keys, connectorId, credentials);
  return { credentials: sealed.ciphertext, credentialsKeyId: sealed.keyId };
}

/**
 * Platforms that hand out a refresh token only on the first consent (Google, for one) send none on a
 * reconnect; overwriting the old credentials would then lose it (SPEC §11). Unreadable old credentials (a
 * retired key) hold nothing we could keep, so they do not stop the reconnect.
 */
export function keepRefreshToken(keys: CredentialsKeys, existing: SealedRow | undefined, fresh: unknown) {
  if (!existing || !isRecord(fresh)) return fresh;
  if (typeof fresh.refreshToken === 'string' && fresh.refreshToken !== '') return fresh;
  let previous: unknown;
  try {
    previous = openConnectorCredentials(keys, existing);
  } catch {
    return fresh;
  }
  if (!isRecord(previous) || typeof previous.refreshToken !== 'string' || previous.refreshToken === '')
    return fresh;
  return { ...fresh, refreshToken: previous.refreshToken };
}

/** The PKCE verifier's columns on its oauth_states row (bound to that row's id). */
export function sealedVerifierColumns(
  keys: CredentialsKeys,
  stateId: string,
  codeVerifier: string | undefined,
) {
  const sealed = codeVerifier ? sealCredentials(keys, stateId, codeVerifier) : null;
  return { codeVerifier: sealed?.ciphertext ?? null, codeVerifierKeyId: sealed?.keyId ?? null };
}

export function openCodeVerifier(
  keys: CredentialsKeys,
  state: Pick<typeof oauthStates.$inferSelect, 'id' | 'codeVerifier' | 'codeVerifierKeyId'>,
): string | undefined {
  if (!state.codeVerifier || !state.codeVerifierKeyId) return undefined;
  return openCredentials<string>(keys, state.id, {
    keyId: state.codeVerifierKeyId,
    ciphertext: state.codeVerifier,
  });
}

/**
 * Takes the connector for one refresh: a lease on its row keeps a second refresh from spending the same
 * refresh token while this one waits on the platform (no transaction is held meanwhile).
 */
export async function takeRefreshLease(db: Database, connectorId: string, leaseUntil: Date, now: Date) {
  const [connector] = await db
    .update(connectors)
    .set({ refreshLeaseUntil: leaseUntil })
    .where(
      and(
        eq(connectors.id, connectorId),
        eq(connectors.status, 'connected'),
        isNotNull(connectors.credentials),
        or(isNull(connectors.refreshLeaseUntil), lt(connectors.refreshLeaseUntil, now)),
      ),
    )
    .returning();
  return connector;
}

/** Lets the lease go, unless another refresh has taken the row since (its lease is not ours to drop). */
export async function releaseRefreshLease(db: Database, connectorId: string, leaseUntil: Date) {
  await db
    .update(connectors)
    .set({ refreshLeaseUntil: null })
    .where(and(eq(connectors.id, connectorId), eq(connectors.refreshLeaseUntil, leaseUntil)));
}

export interface RefreshedCredentials {
  connector: Pick<ConnectorRow, 'id' | 'workspaceId'>;
  /** The sealed credentials the refresh started from: the write happens only while they are still held. */
  refreshedFrom: Buffer;
  /** What was refreshed, in the clear. */
  current: Credentials;
  /** What the platform answered (a rotated refresh token included). */
  refreshed: Credentials;
  expiresAt: Date | null;
  leaseUntil: Date;
  actor: string;
  now: () => Date;
}

/**
 * Writes a refresh's credentials in one compare-and-set: only if the ones refreshed are still the connector's,
 * so a reconnect made meanwhile wins. The platform has spent the old refresh token already, so a database
 * that is away is tried again while the lease holds rather than the result lost with the attempt. Returns
 * whether it was written.
 */
export async function saveRefreshedCredentials(
  db: Database,
  keys: CredentialsKeys,
  input: RefreshedCredentials,
): Promise<boolean> {
  const { connector, refreshedFrom, now } = input;
  // A rotated refresh token replaces the old one in the same write as the new access token.
  const sealed = sealedColumns(keys, connector.id, { ...input.current, ...input.refreshed });
  const write = () =>
    db.transaction(async (tx) => {
      const [written] = await tx
        .update(connectors)
        .set({
          ...sealed,
          tokenExpiresAt: input.expiresAt,
          lastError: null,
          refreshLeaseUntil: null,
          updatedAt: now(),
        })
        .where(and(eq(connectors.id, connector.id), eq(connectors.credentials, refreshedFrom)))
        .returning({ id: connectors.id });
      if (!written) return false;
      await auditConnector(tx, connector, {
        action: 'token_refreshed',
        actor: input.actor,
        details: { tokenExpiresAt: input.expiresAt?.toISOString() ?? null },
      });
      return true;
    });
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await write();
    } catch (error) {
      if (Date.now() + 1_000 * 2 ** Math.min(attempt, 3) >= input.leaseUntil.getTime() - 5_000) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** Math.min(attempt, 3)));
    }
  }
}

/**
 * After a reconnect replaced the credentials while a refresh ran: if they still hold the refresh token that
 * refresh spent (a reconnect that kept it), the rotated one takes its place, or the next renewal would be
 * refused. Compare-and-set again: credentials replaced once more meanwhile are left alone.
 */
export async function keepRotatedRefreshToken(
  executor: Executor,
  keys: CredentialsKeys,
  input: { connectorId: string; spent: Credentials; refreshed: Credentials; now: Date },
) {
  const { connectorId, spent, refreshed } = input;
  if (typeof spent.refreshToken !== 'string' || refreshed.refreshToken === spent.refreshToken) return;
  const [latest] = await executor.select().from(connectors).where(eq(connectors.id, connectorId));
  if (!latest?.credentials || !latest.credentialsKeyId) return;
  const held = openConnectorCredentials<Credentials>(keys, latest);
  if (held?.refreshToken !== spent.refreshToken) return;
  await executor
    .update(connectors)
    .set({
      ...sealedColumns(keys, connectorId, { ...held, refreshToken: refreshed.refreshToken }),
      updatedAt: input.now,
    })
    .where(and(eq(connectors.id, connectorId), eq(connectors.credentials, latest.credentials)));
}
