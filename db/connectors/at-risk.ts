// The at-risk flags a connector's state puts on publications and their epics: set when it loses access (or
// will, at a token expiry nothing can renew) or is disconnected, lifted when it is connected again.
import { and, asc, eq, gte, inArray, type SQL, sql } from 'drizzle-orm';
import { channelsOfMode } from '../../domain/channels.ts';
import { reconnectClasses } from '../../domain/publication-errors.ts';
import type { Executor } from '../client.ts';
import { epics, notifications, publications, tasks } from '../schema.ts';

const softChannels = channelsOfMode('soft');
const notYetOut = sql`${publications.status} in ('pending', 'failed')`;

/** The tasks of scheduled epics that publish through this connector (and meet the extra conditions). */
function scheduledTasksOn(executor: Executor, connectorId: string, ...conditions: (SQL | undefined)[]) {
  return executor
    .select({ taskId: tasks.id, epicId: tasks.epicId, workspaceId: tasks.workspaceId })
    .from(tasks)
    .innerJoin(epics, eq(epics.id, tasks.epicId))
    .where(and(eq(tasks.connectorId, connectorId), eq(epics.status, 'scheduled'), ...conditions));
}

async function flagEpics(executor: Executor, epicIds: string[], now: Date) {
  await executor.update(epics).set({ atRisk: true, updatedAt: now }).where(inArray(epics.id, epicIds));
}

/** Flags the scheduled soft publications (and their epics) that publish through this connector. */
export async function flagUpcomingAtRisk(executor: Executor, connectorId: string, reason: string, now: Date) {
  const affected = await scheduledTasksOn(executor, connectorId, inArray(tasks.channel, softChannels));
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
        notYetOut,
      ),
    );
  await flagEpics(
    executor,
    affected.map((row) => row.epicId),
    now,
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
  const unflagged = executor
    .select({ taskId: publications.taskId })
    .from(publications)
    .where(and(eq(publications.atRisk, false), notYetOut));
  const affected = await scheduledTasksOn(
    executor,
    connectorId,
    gte(epics.scheduledAt, expiresAt),
    inArray(tasks.channel, softChannels),
    inArray(tasks.id, unflagged),
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
  await flagEpics(executor, epicIds, now);
  return epicIds;
}

/**
 * Flags what a disconnect blocks: every publication of a scheduled epic on this connector that has not gone
 * out yet, and its epic. Real hand-offs already on the platform (`handed_off`) will still send and are left
 * alone. The workflow creates publication rows in its first activity; a row it has not created yet is
 * created here (pending) so the task carries its flag, and the workflow adopts it.
 */
export async function flagBlockedByDisconnect(
  executor: Executor,
  connectorId: string,
  reason: string,
  now: Date,
) {
  const blocked = await scheduledTasksOn(executor, connectorId);
  if (blocked.length === 0) return { publicationIds: [], epicIds: [] };
  const flagged = await executor
    .insert(publications)
    .values(blocked.map((row) => ({ ...row, atRisk: true, atRiskReason: reason, updatedAt: now })))
    .onConflictDoUpdate({
      target: publications.taskId,
      set: { atRisk: true, atRiskReason: reason, updatedAt: now },
      setWhere: sql`${publications.status} in ('pending', 'failed', 'cancelled')`,
    })
    .returning({ id: publications.id, epicId: publications.epicId });
  const epicIds = [...new Set(flagged.map((row) => row.epicId))];
  if (epicIds.length > 0) await flagEpics(executor, epicIds, now);
  return { publicationIds: flagged.map((row) => row.id), epicIds };
}

/** Scheduled publications on the connector already handed to the platform: they send whatever happens here. */
export async function countHandedOff(executor: Executor, connectorId: string) {
  const [handedOff] = await executor
    .select({ count: sql<number>`count(*)::int` })
    .from(publications)
    .innerJoin(tasks, eq(tasks.id, publications.taskId))
    .innerJoin(epics, eq(epics.id, publications.epicId))
    .where(
      and(
        eq(tasks.connectorId, connectorId),
        eq(publications.status, 'handed_off'),
        eq(epics.status, 'scheduled'),
      ),
    );
  return handedOff?.count ?? 0;
}

/** An epic none of whose publications is at risk and none of whose targets not yet out is down. */
const nothingLeftAtRisk = sql`not exists (select 1 from publications p where p.epic_id = ${epics.id} and p.at_risk)
  and not exists (
    select 1 from tasks t
    join connectors c on c.id = t.connector_id
    left join publications p on p.task_id = t.id
    where t.epic_id = ${epics.id} and c.status <> 'connected'
      and coalesce(p.status, 'pending') not in ('published', 'handed_off'))`;

/**
 * Lifts the at-risk flags that depended on this connector (it is connected again, in this transaction). An
 * epic keeps its flag while another of its publications is at risk or another of its targets is still down.
 */
export async function clearAtRisk(executor: Executor, connectorId: string, now: Date) {
  const onThisConnector = executor
    .select({ id: tasks.id })
    .from(tasks)
    .where(eq(tasks.connectorId, connectorId));
  const publicationsCleared = await executor
    .update(publications)
    .set({ atRisk: false, atRiskReason: null, updatedAt: now })
    .where(and(eq(publications.atRisk, true), inArray(publications.taskId, onThisConnector)))
    .returning({ id: publications.id });
  const epicsCleared = await executor
    .update(epics)
    .set({ atRisk: false, updatedAt: now })
    .where(
      and(
        eq(epics.atRisk, true),
        inArray(
          epics.id,
          executor.select({ id: tasks.epicId }).from(tasks).where(eq(tasks.connectorId, connectorId)),
        ),
        nothingLeftAtRisk,
      ),
    )
    .returning({ id: epics.id });
  return { publications: publicationsCleared.length, epicIds: epicsCleared.map((row) => row.id) };
}

/** Epics in error whose every failed publication targets this connector and failed for its lost access. */
export async function epicsFailedOnAccess(executor: Executor, workspaceId: string, connectorId: string) {
  const accessClasses = sql.join(
    reconnectClasses.map((name) => sql`${name}`),
    sql`, `,
  );
  const rows = await executor
    .select({ id: epics.id })
    .from(epics)
    .where(
      and(
        eq(epics.workspaceId, workspaceId),
        eq(epics.status, 'error'),
        sql`exists (
          select 1 from publications p join tasks t on t.id = p.task_id
          where p.epic_id = ${epics.id} and p.status = 'failed' and t.connector_id = ${connectorId})`,
        sql`not exists (
          select 1 from publications p join tasks t on t.id = p.task_id
          where p.epic_id = ${epics.id} and p.status = 'failed'
            and (t.connector_id <> ${connectorId}
              or coalesce(p.last_error->>'class', '') not in (${accessClasses})))`,
      ),
    )
    .orderBy(asc(epics.id));
  return rows.map((row) => row.id);
}

/**
 * The pre-flight check's reasons begin with this, so a later check that passes lifts only what a check put
 * (a token expiry or a disconnect flags for reasons of its own, which their own events lift).
 */
export const preflightReasonPrefix = 'Pre-flight: ';
/** A preparation the platform refused flags with this prefix; only a later preparation that works lifts it. */
export const preparationReasonPrefix = 'Preparation: ';

/** Which check ahead of the time flagged: each lifts only its own flags. */
export type CheckAhead = 'preflight' | 'prepare';
const prefixOf = (check: CheckAhead) =>
  check === 'prepare' ? preparationReasonPrefix : preflightReasonPrefix;
const flaggedBy = (check: CheckAhead) => sql`${publications.atRiskReason} like ${`${prefixOf(check)}%`}`;
const flaggedByPreflight = sql`(${flaggedBy('preflight')} or ${flaggedBy('prepare')})`;

/** The epic is still scheduled for the time a check was made for, and that time has not come. */
const stillScheduledFor = (epicId: string, scheduledAt: Date) =>
  sql`exists (select 1 from ${epics} where ${epics.id} = ${epicId} and ${epics.status} = 'scheduled'
    and ${epics.scheduledAt} = ${scheduledAt.toISOString()}::timestamptz and ${epics.scheduledAt} > now())`;

/**
 * Flags one publication at risk for what a pre-flight check found, while it has not gone out, its epic is
 * still scheduled for `scheduledAt` and that time has not come (all checked in the same statement, so a check
 * that finishes late flags nothing). A flag for another reason is left as it is, and the same reason is not
 * written twice. Answers whether the flag is new (or its reason changed): only then is the user told.
 */
export async function flagPreflightRisk(
  executor: Executor,
  input: {
    publicationId: string;
    epicId: string;
    scheduledAt: Date;
    reason: string;
    now: Date;
    check?: CheckAhead;
  },
): Promise<boolean> {
  const reason = `${prefixOf(input.check ?? 'preflight')}${input.reason}`;
  const flagged = await executor
    .update(publications)
    .set({ atRisk: true, atRiskReason: reason, updatedAt: input.now })
    .where(
      and(
        eq(publications.id, input.publicationId),
        notYetOut,
        sql`(not ${publications.atRisk} or ${flaggedByPreflight})`,
        sql`${publications.atRiskReason} is distinct from ${reason}`,
        stillScheduledFor(input.epicId, input.scheduledAt),
      ),
    )
    .returning({ id: publications.id });
  if (flagged.length === 0) return false;
  await flagEpics(executor, [input.epicId], input.now);
  return true;
}

/**
 * Lifts the flags a pre-flight check put on these publications (a later check found nothing wrong), and
 * their epic's when nothing else keeps it at risk; like a flag, only for the time the epic still has (a
 * check for a time since moved must not lift what a check for the new one found). Answers the publications
 * whose flag was lifted.
 */
export async function clearPreflightRisk(
  executor: Executor,
  input: { epicId: string; scheduledAt: Date; publicationIds: string[]; now: Date; check?: CheckAhead },
): Promise<string[]> {
  if (input.publicationIds.length === 0) return [];
  const cleared = await executor
    .update(publications)
    .set({ atRisk: false, atRiskReason: null, updatedAt: input.now })
    .where(
      and(
        inArray(publications.id, input.publicationIds),
        eq(publications.atRisk, true),
        flaggedBy(input.check ?? 'preflight'),
        stillScheduledFor(input.epicId, input.scheduledAt),
      ),
    )
    .returning({ id: publications.id });
  if (cleared.length > 0) {
    await executor
      .update(epics)
      .set({ atRisk: false, updatedAt: input.now })
      .where(and(eq(epics.id, input.epicId), eq(epics.atRisk, true), nothingLeftAtRisk));
  }
  return cleared.map((row) => row.id);
}

/**
 * One `publications_at_risk` notification for what a check before the time found (the pre-flight, or a
 * preparation the platform refused): the epic stays scheduled, so the user can fix it before then.
 */
export async function notifyAtRisk(
  executor: Executor,
  input: {
    epic: { id: string; workspaceId: string; title: string };
    scheduledAt: Date;
    check: 'preflight' | 'prepare';
    told: { taskId: string; publicationId: string; channel: string; reason: string }[];
  },
) {
  const { epic, told } = input;
  if (told.length === 0) return;
  const at = input.scheduledAt.toISOString();
  const [only] = told;
  await executor.insert(notifications).values({
    workspaceId: epic.workspaceId,
    kind: 'publications_at_risk',
    title: `"${epic.title}" will not publish as it stands`,
    message:
      told.length === 1 && only
        ? `${only.channel}: ${only.reason}. The epic stays scheduled for ${at}: fix this before then.`
        : `${told.length} publications would fail: ${told
            .map(({ channel, reason }) => `${channel}: ${reason}`)
            .join(' — ')}. The epic stays scheduled for ${at}: fix them before then.`,
    data: { epicIds: [epic.id], scheduledAt: at, check: input.check, publications: told },
  });
}
