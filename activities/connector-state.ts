// What happens to a connector whose platform refused our access for good: it becomes reconnect_required, the
// upcoming soft publications that depend on it are flagged at risk, and the workspace is notified once.
import { and, eq, gte, inArray, sql } from 'drizzle-orm';
import { recordAudit } from '../db/audit.ts';
import type { Executor } from '../db/client.ts';
import { connectors, epics, notifications, publications, tasks } from '../db/schema.ts';
import { channelsOfMode } from '../domain/channels.ts';
import type { PublicationFailure } from '../domain/publication-errors.ts';

const softChannels = channelsOfMode('soft');

/** Flags the scheduled soft publications (and their epics) that publish through this connector. */
export async function flagUpcomingAtRisk(executor: Executor, connectorId: string, reason: string, now: Date) {
  const affected = await executor
    .select({ taskId: tasks.id, epicId: tasks.epicId })
    .from(tasks)
    .innerJoin(epics, eq(epics.id, tasks.epicId))
    .where(
      and(
        eq(tasks.connectorId, connectorId),
        eq(epics.status, 'scheduled'),
        inArray(tasks.channel, softChannels),
      ),
    );
  if (affected.length === 0) return 0;
  await executor
    .update(publications)
    .set({ atRisk: true, atRiskReason: reason, updatedAt: now })
    .where(
      and(
        inArray(
          publications.taskId,
          affected.map((row) => row.taskId),
        ),
        sql`${publications.status} in ('pending', 'failed')`,
      ),
    );
  await executor
    .update(epics)
    .set({ atRisk: true, updatedAt: now })
    .where(
      inArray(
        epics.id,
        affected.map((row) => row.epicId),
      ),
    );
  return new Set(affected.map((row) => row.epicId)).size;
}

/**
 * Flags, ahead of time, the scheduled soft publications that fall after a token expiry nothing can renew (the
 * platform gives no refresh token): they would fail unless the user reconnects first. Returns the epic ids.
 */
export async function flagBeyondExpiry(
  executor: Executor,
  connectorId: string,
  expiresAt: Date,
  reason: string,
  now: Date,
): Promise<string[]> {
  const affected = await executor
    .select({ taskId: tasks.id, epicId: tasks.epicId })
    .from(tasks)
    .innerJoin(epics, eq(epics.id, tasks.epicId))
    .innerJoin(publications, eq(publications.taskId, tasks.id))
    .where(
      and(
        eq(tasks.connectorId, connectorId),
        eq(epics.status, 'scheduled'),
        gte(epics.scheduledAt, expiresAt),
        inArray(tasks.channel, softChannels),
        eq(publications.atRisk, false),
        sql`${publications.status} in ('pending', 'failed')`,
      ),
    );
  if (affected.length === 0) return [];
  await executor
    .update(publications)
    .set({ atRisk: true, atRiskReason: reason, updatedAt: now })
    .where(
      inArray(
        publications.taskId,
        affected.map((row) => row.taskId),
      ),
    );
  const epicIds = [...new Set(affected.map((row) => row.epicId))];
  await executor.update(epics).set({ atRisk: true, updatedAt: now }).where(inArray(epics.id, epicIds));
  return epicIds;
}

/**
 * Idempotent: only the first refusal flips the connector and notifies. Returns whether it flipped. With
 * `onlyIfCredentials`, only while those are still the connector's credentials (the ones refused).
 */
export async function flagReconnectRequired(
  executor: Executor,
  connector: Pick<typeof connectors.$inferSelect, 'id' | 'workspaceId' | 'platform'>,
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
  await recordAudit(executor, {
    workspaceId: connector.workspaceId,
    subjectType: 'connector',
    subjectId: connector.id,
    action: 'reconnect_required',
    fromStatus: 'connected',
    toStatus: 'reconnect_required',
    actor,
    details: { class: failure.class, platformCode: failure.platformCode, atRiskEpics },
  });
  return true;
}
