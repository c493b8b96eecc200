// The one place an epic changes status (SPEC §4): the API's routes and the workflow's activities decide a
// transition with domain/epic-state-machine.ts, then write it here — the epic row, what leaving the schedule
// does to its publications, the notification of an error and the audit entry — in the caller's transaction.
import { and, eq, inArray, type SQL, sql } from 'drizzle-orm';
import { channelsOfMode } from '../domain/channels.ts';
import type { EpicStatus } from '../domain/epic-state-machine.ts';
import { recordAudit } from './audit.ts';
import type { Executor } from './client.ts';
import { type EpicRow, epics, notifications, publications, tasks } from './schema.ts';

export type { EpicRow };

export interface EpicTransitionWrite {
  epicId: string;
  /** The status the caller decided from (what the audit records). */
  from: EpicStatus;
  to: EpicStatus;
  /** The transition's name in the audit log (`schedule`, `publish`, …). */
  action: string;
  actor: string;
  details?: Record<string, unknown>;
  /** A new time (and the zone it was chosen in); with `scheduleToken`, the schedule a new run serves. */
  schedule?: { scheduledAt?: Date; timeZone?: string | null; scheduleToken?: string };
  /**
   * No run is open to cancel anything: a real hand-off never confirmed live is forgotten (a draft it left on
   * the platform never sends), so the next schedule hands the content off afresh.
   */
  forgetUnconfirmedHandOffs?: boolean;
  /** A further condition on the epic row: when it does not hold, nothing is written. */
  onlyIf?: SQL;
  now: Date;
}

const leavesSchedule = (status: EpicStatus) => status === 'draft' || status === 'review';

/** Writes a decided transition; the updated epic, or undefined when it no longer exists (or `onlyIf` failed). */
export async function writeEpicTransition(
  executor: Executor,
  write: EpicTransitionWrite,
): Promise<EpicRow | undefined> {
  // Draft → review leaves nothing: only an epic that was scheduled (or in review, by the edit fallback) does.
  const leaving = leavesSchedule(write.to) && write.from !== 'draft';
  const [epic] = await executor
    .update(epics)
    .set({
      status: write.to,
      updatedAt: write.now,
      ...(write.schedule
        ? {
            ...(write.schedule.scheduledAt ? { scheduledAt: write.schedule.scheduledAt } : {}),
            ...(write.schedule.timeZone !== undefined ? { timeZone: write.schedule.timeZone } : {}),
            ...(write.schedule.scheduleToken ? { scheduleToken: write.schedule.scheduleToken } : {}),
          }
        : {}),
      ...(leaving ? { scheduledAt: null, timeZone: null, scheduleToken: null } : {}),
    })
    .where(write.onlyIf ? and(eq(epics.id, write.epicId), write.onlyIf) : eq(epics.id, write.epicId))
    .returning();
  if (!epic) return undefined;
  if (leaving && write.forgetUnconfirmedHandOffs) {
    await executor
      .update(publications)
      .set({ status: 'cancelled', handOffKey: null, progress: {}, externalId: null, updatedAt: write.now })
      .where(
        and(
          eq(publications.epicId, epic.id),
          inArray(publications.status, ['pending', 'failed', 'cancelled']),
          inArray(
            publications.taskId,
            executor
              .select({ id: tasks.id })
              .from(tasks)
              .where(and(eq(tasks.epicId, epic.id), inArray(tasks.channel, channelsOfMode('real')))),
          ),
        ),
      );
  } else if (leaving) {
    // Nothing that had not gone out will go out. What the publications did on the platforms stays recorded
    // (progress, external ids): the next schedule asks the platform before creating anything.
    await executor
      .update(publications)
      .set({ status: 'cancelled', goingLiveAt: null, updatedAt: write.now })
      .where(
        and(
          eq(publications.epicId, epic.id),
          sql`${publications.status} in ('pending', 'failed', 'publishing')`,
        ),
      );
  }
  if (write.to === 'error') {
    await executor.insert(notifications).values({
      workspaceId: epic.workspaceId,
      kind: 'publication_error',
      title: `"${epic.title}" could not be published`,
      message: 'A publication failed after its retries. Retry it, or edit the epic back to draft.',
      data: { epicId: epic.id, ...(write.details ?? {}) },
    });
  }
  await recordAudit(executor, {
    workspaceId: epic.workspaceId,
    subjectType: 'epic',
    subjectId: epic.id,
    action: write.action,
    fromStatus: write.from,
    toStatus: write.to,
    actor: write.actor,
    details: write.details ?? {},
  });
  return epic;
}

/** The epic row's condition that every one of its publications is recorded live. */
export const everyPublicationPublished = sql`not exists (select 1 from ${publications} where ${publications.epicId} = ${epics.id} and ${publications.status} <> 'published')`;

/**
 * Records the epic published with its last publication, in the transaction that records that publication
 * (already written published): so the epic never says "scheduled" for a post already live, and its run has
 * nothing left to write at the time. Only from `scheduled`, and only under the schedule the run serves (its
 * token and time). Of two publications of one epic recorded at once, the one whose condition still holds
 * after the other committed completes it; two that commit unseen by each other both write nothing, and the
 * run writes the status itself. Gives the earliest reading due among the epic's publications (for the start of
 * its metrics workflow), or null when nothing was written.
 */
export async function completeEpicWithLastPublication(
  executor: Executor,
  write: { epicId: string; scheduleToken: string | undefined; scheduledAt: Date; now: Date },
): Promise<{ firstReadingAt: Date | null } | null> {
  const epic = await writeEpicTransition(executor, {
    epicId: write.epicId,
    from: 'scheduled',
    to: 'published',
    action: 'publish',
    actor: 'workflow',
    onlyIf: and(
      eq(epics.status, 'scheduled'),
      eq(epics.scheduledAt, write.scheduledAt),
      write.scheduleToken === undefined ? undefined : eq(epics.scheduleToken, write.scheduleToken),
      everyPublicationPublished,
    ),
    now: write.now,
  });
  if (!epic) return null;
  const [reading] = await executor
    .select({
      firstReadingAt: sql<Date | null>`min(${publications.metricsDueAt})`.mapWith(publications.metricsDueAt),
    })
    .from(publications)
    .where(and(eq(publications.epicId, epic.id), eq(publications.metricsState, 'reading')));
  return { firstReadingAt: reading?.firstReadingAt ?? null };
}
