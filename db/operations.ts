// What operators watch across every workspace (read by /readyz, /metrics and the overdue sweep): epics past
// their time with nothing attempted, publications left `publishing`, and the counts by status.
import type postgres from 'postgres';

/** Scheduled epics past their time by more than the threshold with a publication never attempted. */
export async function overdueEpics(sql: postgres.Sql, thresholdMs: number, now = new Date()) {
  const [row] = await sql<{ count: number; oldest: string | null }[]>`
    select count(distinct e.id)::int as count, min(e.scheduled_at)::text as oldest
    from epics e
    join tasks t on t.epic_id = e.id
    left join publications p on p.task_id = t.id
    where e.status = 'scheduled'
      and e.scheduled_at < ${new Date(now.getTime() - thresholdMs).toISOString()}::timestamptz
      and coalesce(p.status, 'pending') = 'pending' and coalesce(p.attempts, 0) = 0`;
  return {
    overdueEpics: row?.count ?? 0,
    oldestOverdueScheduledAt: row?.oldest ? new Date(row.oldest).toISOString() : null,
  };
}

/** Publications `publishing` that no try has touched for longer than their time-outs allow. */
export async function stuckPublications(sql: postgres.Sql, stuckAfterMs: number, now = new Date()) {
  const [row] = await sql<{ count: number }[]>`
    select count(*)::int as count from publications
    where status = 'publishing'
      and updated_at < ${new Date(now.getTime() - stuckAfterMs).toISOString()}::timestamptz`;
  return row?.count ?? 0;
}

export async function connectorsByStatus(sql: postgres.Sql) {
  const rows = await sql<{ platform: string; status: string; count: number }[]>`
    select platform, status, count(*)::int as count from connectors group by platform, status`;
  return rows.map(({ platform, status, count }) => ({ labels: { platform, status }, count }));
}

export async function epicsByStatus(sql: postgres.Sql) {
  const rows = await sql<{ status: string; count: number }[]>`
    select status, count(*)::int as count from epics group by status`;
  return rows.map(({ status, count }) => ({ labels: { status }, count }));
}

/** Notification and webhook event for one finding, in the transaction that claimed it. */
async function tell(
  tx: postgres.TransactionSql,
  finding: {
    workspaceId: string;
    kind: string;
    title: string;
    message: string;
    eventType: string;
    subjectType: 'epic' | 'publication';
    subjectId: string;
    epicId: string;
    data: Record<string, unknown>;
  },
) {
  await tx`
    insert into notifications (workspace_id, kind, title, message, data)
    values (${finding.workspaceId}, ${finding.kind}, ${finding.title}, ${finding.message},
      ${JSON.stringify(finding.data)}::jsonb)`;
  // An event only where an endpoint will take it (as the transitions' trigger does, migration 0010).
  const [event] = await tx`
    insert into workspace_events (workspace_id, type, subject_type, subject_id, ordering_key, data)
    select ${finding.workspaceId}, ${finding.eventType}, ${finding.subjectType}, ${finding.subjectId},
      ${finding.epicId}, ${JSON.stringify(finding.data)}::jsonb
    where exists (select 1 from webhook_endpoints where workspace_id = ${finding.workspaceId})
    returning id`;
  if (event) await tx`select pg_notify('workspace_events', ${finding.workspaceId})`;
}

export interface OverdueFinding {
  epicId: string;
  workspaceId: string;
  title: string;
  scheduledAt: string;
}

/** Findings told per transaction. */
const batch = 100;

/**
 * Claims the overdue epics not told yet and tells each workspace: one notification, one `epic.overdue` event, in
 * the claiming transaction. Once per schedule and time: `overdue_notified_token` keeps "<token>@<time>" of the
 * one told (a reschedule that keeps its token still moves its time), and the claim works with no token too.
 */
export async function notifyOverdueEpics(sql: postgres.Sql, thresholdMs: number, now = new Date()) {
  return sql.begin(async (tx) => {
    const claimed = await tx<OverdueFinding[]>`
      update epics e set overdue_notified_token = coalesce(e.schedule_token, '') || '@' || e.scheduled_at::text
      where e.id in (
        -- A batch at a time, skipping rows another teller holds: few row locks, held briefly.
        select candidate.id from epics candidate
        where candidate.status = 'scheduled'
          and candidate.scheduled_at < ${new Date(now.getTime() - thresholdMs).toISOString()}::timestamptz
          and candidate.overdue_notified_token
            is distinct from coalesce(candidate.schedule_token, '') || '@' || candidate.scheduled_at::text
          and exists (
            select 1 from tasks t left join publications p on p.task_id = t.id
            where t.epic_id = candidate.id and coalesce(p.status, 'pending') = 'pending'
              and coalesce(p.attempts, 0) = 0)
        limit ${batch}
        for update skip locked)
      returning e.id as "epicId", e.workspace_id as "workspaceId", e.title,
        to_char(e.scheduled_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "scheduledAt"`;
    for (const epic of claimed) {
      const lateByMs = now.getTime() - Date.parse(epic.scheduledAt);
      await tell(tx, {
        workspaceId: epic.workspaceId,
        kind: 'epic_overdue',
        title: `“${epic.title}” is late`,
        message: `It was due at ${epic.scheduledAt} and nothing has been published yet: no worker has picked it up. It goes out as soon as one does.`,
        eventType: 'epic.overdue',
        subjectType: 'epic',
        subjectId: epic.epicId,
        epicId: epic.epicId,
        data: { epicId: epic.epicId, title: epic.title, scheduledAt: epic.scheduledAt, lateByMs },
      });
    }
    return claimed;
  });
}

export interface StuckFinding {
  publicationId: string;
  epicId: string;
  workspaceId: string;
  attempts: number;
}

/** Claims the stuck publications not told yet (once per try) and tells each workspace. */
export async function notifyStuckPublications(sql: postgres.Sql, stuckAfterMs: number, now = new Date()) {
  return sql.begin(async (tx) => {
    const claimed = await tx<StuckFinding[]>`
      update publications set stuck_notified_attempt = attempts
      where id in (
        select id from publications
        where status = 'publishing'
          and updated_at < ${new Date(now.getTime() - stuckAfterMs).toISOString()}::timestamptz
          and stuck_notified_attempt is distinct from attempts
        limit ${batch}
        for update skip locked)
      returning id as "publicationId", epic_id as "epicId", workspace_id as "workspaceId", attempts`;
    for (const publication of claimed) {
      await tell(tx, {
        workspaceId: publication.workspaceId,
        kind: 'publication_stuck',
        title: 'A publication is stuck',
        message: `Its try ${publication.attempts} has not finished within its time-outs; an operator is looking into it.`,
        eventType: 'publication.stuck',
        subjectType: 'publication',
        subjectId: publication.publicationId,
        epicId: publication.epicId,
        data: {
          publicationId: publication.publicationId,
          epicId: publication.epicId,
          attempts: publication.attempts,
        },
      });
    }
    return claimed;
  });
}

export interface ScheduledEpic {
  epicId: string;
  workspaceId: string;
  title: string;
  scheduledAt: string;
  timeZone: string | null;
  scheduleToken: string | null;
}

/** Epics scheduled (for longer than `settledMs`: a schedule still starting its run is not looked at). */
export async function scheduledEpics(
  sql: postgres.Sql,
  options: { settledMs: number; tryMayRunMs: number },
  now = new Date(),
) {
  // Not one whose publication a try may still be making live: a new run's try would not find what that
  // request creates (it is in flight), and both would go out. A try is over once it has been quiet longer
  // than a try can last (its start-to-close time-out, a retry's wait, a heartbeat time-out).
  return sql<ScheduledEpic[]>`
    select e.id as "epicId", e.workspace_id as "workspaceId", e.title, e.time_zone as "timeZone",
      e.schedule_token as "scheduleToken",
      to_char(e.scheduled_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "scheduledAt"
    from epics e
    where e.status = 'scheduled' and e.scheduled_at is not null
      and e.updated_at < ${new Date(now.getTime() - options.settledMs).toISOString()}::timestamptz
      and not exists (
        select 1 from publications p
        where p.epic_id = e.id and p.status = 'publishing'
          and (p.going_live_at is not null
            or p.updated_at >= ${new Date(now.getTime() - options.tryMayRunMs).toISOString()}::timestamptz))
    order by e.scheduled_at`;
}
