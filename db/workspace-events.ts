// The workspace events (written by migration 0010's trigger with every transition) and their webhook
// deliveries: numbering the events in commit order, queueing them for each endpoint, picking what is due.
//
// Sequence numbers are given in commit order without making every transition lock its workspace (that would
// add a lock-order between transactions, and deadlocks in the races this product cares about): an event is
// numbered once every transaction that could precede it has ended. Events are numbered in insertion order
// (`position`), and only up to the first one whose transaction may still be running (its xid not below the
// snapshot's xmin): a transition that waited for another's row lock inserts its event after that one, so
// the events of one epic keep their order.
import type postgres from 'postgres';

/** Numbers the workspace's events whose transactions have all ended; returns its last sequence number. */
export async function sequenceEvents(sql: postgres.Sql, workspaceId: string): Promise<number> {
  return sql.begin(async (tx) => {
    const [workspace] = await tx<{ eventSequence: string }[]>`
      select event_sequence::text as "eventSequence" from workspaces where id = ${workspaceId}
      for no key update`;
    if (!workspace) return 0;
    const before = Number(workspace.eventSequence);
    const numbered = await tx<{ sequence: string }[]>`
      with horizon as (
        select pg_snapshot_xmin(pg_current_snapshot()) as xmin, pg_snapshot_xmax(pg_current_snapshot()) as xmax
      ),
      blocked as (
        select min(workspace_events.position) as position from workspace_events, horizon
        where workspace_id = ${workspaceId} and sequence is null
          and txid >= horizon.xmin and txid < horizon.xmax
      ),
      ready as (
        select id, row_number() over (order by workspace_events.position) as n
        from workspace_events, horizon, blocked
        where workspace_id = ${workspaceId} and sequence is null
          -- Ended before every running transaction, or written under another server's ids (a restore).
          and (txid < horizon.xmin or txid >= horizon.xmax)
          and (blocked.position is null or workspace_events.position < blocked.position)
      )
      update workspace_events set sequence = ${before} + ready.n
      from ready where workspace_events.id = ready.id
      returning workspace_events.sequence::text`;
    if (numbered.length === 0) return before;
    const last = before + numbered.length;
    await tx`update workspaces set event_sequence = ${last} where id = ${workspaceId}`;
    return last;
  });
}

/** Whether the workspace has events not numbered yet (their transactions were still running). */
export async function hasUnsequencedEvents(sql: postgres.Sql, workspaceId: string): Promise<boolean> {
  const [row] = await sql<{ any: boolean }[]>`
    select exists(select 1 from workspace_events where workspace_id = ${workspaceId} and sequence is null) as any`;
  return row?.any ?? false;
}

export interface EndpointRow {
  id: string;
  workspaceId: string;
  url: string;
  events: string[];
  secret: Buffer;
  secretKeyId: string;
}

export async function loadEndpoint(sql: postgres.Sql, endpointId: string): Promise<EndpointRow | null> {
  const [row] = await sql<EndpointRow[]>`
    select id, workspace_id as "workspaceId", url, events, secret, secret_key_id as "secretKeyId"
    from webhook_endpoints where id = ${endpointId}`;
  return row ?? null;
}

/** Queues for the endpoint every numbered event past what it has queued, those it takes; returns how many. */
export async function queueDeliveries(sql: postgres.Sql, endpointId: string): Promise<number> {
  return sql.begin(async (tx) => {
    const [endpoint] = await tx<{ workspaceId: string; queuedThrough: string }[]>`
      select workspace_id as "workspaceId", queued_through::text as "queuedThrough"
      from webhook_endpoints where id = ${endpointId} for update`;
    if (!endpoint) return 0;
    // Read first: every event numbered up to it committed with (or before) this number.
    const [workspace] = await tx<{ eventSequence: string }[]>`
      select event_sequence::text as "eventSequence" from workspaces where id = ${endpoint.workspaceId}`;
    const through = Number(workspace?.eventSequence ?? 0);
    const from = Number(endpoint.queuedThrough);
    if (through <= from) return 0;
    // The endpoint's patterns (`*`, `epic.*`, `epic.published`) matched here, in one statement however many.
    const queued = await tx`
      insert into webhook_deliveries (workspace_id, endpoint_id, event_id, sequence, ordering_key)
      select e.workspace_id, w.id, e.id, e.sequence, e.ordering_key
      from workspace_events e join webhook_endpoints w on w.id = ${endpointId}
      where e.workspace_id = w.workspace_id and e.sequence > ${from} and e.sequence <= ${through}
        and exists (
          select 1 from jsonb_array_elements_text(w.events) as pattern(value)
          where pattern.value in ('*', e.type, split_part(e.type, '.', 1) || '.*'))`;
    await tx`update webhook_endpoints set queued_through = ${through}, updated_at = now() where id = ${endpointId}`;
    return queued.count;
  });
}

export interface DueDelivery {
  id: string;
  /** When it was queued: it is tried for a day from then. */
  createdAt: Date;
  eventId: string;
  sequence: number;
  orderingKey: string;
  attempts: number;
  firstAttemptAt: Date | null;
  type: string;
  data: Record<string, unknown>;
  eventCreatedAt: Date;
}

/**
 * The deliveries to try now: of each ordering key (an epic, a connector) only the first one still pending, so
 * an event of an epic never overtakes an earlier one of the same epic, and a failing one holds back only its
 * own epic's.
 */
export async function dueDeliveries(
  sql: postgres.Sql,
  endpointId: string,
  limit: number,
): Promise<DueDelivery[]> {
  const rows = await sql<(Omit<DueDelivery, 'sequence'> & { sequence: string })[]>`
    select d.id, d.created_at as "createdAt", d.event_id as "eventId", d.sequence::text, d.ordering_key as "orderingKey", d.attempts,
      d.first_attempt_at as "firstAttemptAt", e.type, e.data, e.created_at as "eventCreatedAt"
    from webhook_deliveries d join workspace_events e on e.id = d.event_id
    where d.endpoint_id = ${endpointId} and d.status = 'pending' and d.next_attempt_at <= now()
      and not exists (
        select 1 from webhook_deliveries earlier
        where earlier.endpoint_id = d.endpoint_id and earlier.status = 'pending'
          and earlier.ordering_key = d.ordering_key
          and (earlier.sequence, earlier.created_at, earlier.id) < (d.sequence, d.created_at, d.id)
      )
    order by d.sequence, d.created_at
    limit ${limit}`;
  // postgres.js may hand timestamps back as text from hand-written SQL: read them as dates here, once.
  return rows.map((row) => ({
    ...row,
    sequence: Number(row.sequence),
    createdAt: new Date(row.createdAt),
    firstAttemptAt: row.firstAttemptAt === null ? null : new Date(row.firstAttemptAt),
    eventCreatedAt: new Date(row.eventCreatedAt),
  }));
}

/** When the endpoint's next try is due: the earliest first pending delivery of any ordering key. */
export async function nextDeliveryDue(sql: postgres.Sql, endpointId: string): Promise<Date | null> {
  const [row] = await sql<{ due: Date | null }[]>`
    select min(d.next_attempt_at) as due from webhook_deliveries d
    where d.endpoint_id = ${endpointId} and d.status = 'pending'
      and not exists (
        select 1 from webhook_deliveries earlier
        where earlier.endpoint_id = d.endpoint_id and earlier.status = 'pending'
          and earlier.ordering_key = d.ordering_key
          and (earlier.sequence, earlier.created_at, earlier.id) < (d.sequence, d.created_at, d.id)
      )`;
  return row?.due ? new Date(row.due) : null;
}

export async function recordDelivered(sql: postgres.Sql, deliveryId: string, statusCode: number) {
  await sql`
    update webhook_deliveries set status = 'delivered', attempts = attempts + 1, last_status_code = ${statusCode},
      last_error = null, first_attempt_at = coalesce(first_attempt_at, now()), delivered_at = now(), updated_at = now()
    where id = ${deliveryId} and status = 'pending'`;
}

/** A failed try: tried again after `retryInMs`, or given up (`failed`) when `giveUp`. */
export async function recordFailedTry(
  sql: postgres.Sql,
  deliveryId: string,
  failure: { statusCode: number | null; error: string; retryInMs: number; giveUp: boolean },
) {
  await sql`
    update webhook_deliveries set attempts = attempts + 1, last_status_code = ${failure.statusCode},
      last_error = ${failure.error.slice(0, 500)}, first_attempt_at = coalesce(first_attempt_at, now()),
      status = ${failure.giveUp ? 'failed' : 'pending'},
      next_attempt_at = now() + make_interval(secs => ${failure.retryInMs / 1000}), updated_at = now()
    where id = ${deliveryId} and status = 'pending'`;
}

/** Queues again every numbered event since `since` the endpoint takes and has queued (a replay). */
export async function queueReplay(sql: postgres.Sql, endpointId: string, since: Date): Promise<number> {
  return sql.begin(async (tx) => {
    const [endpoint] = await tx<{ queuedThrough: string }[]>`
      select queued_through::text as "queuedThrough" from webhook_endpoints where id = ${endpointId} for update`;
    if (!endpoint) return 0;
    // Past what it has queued, events are queued the usual way (once): a replay never sends them twice.
    const queued = await tx`
      insert into webhook_deliveries (workspace_id, endpoint_id, event_id, sequence, ordering_key, replay)
      select e.workspace_id, w.id, e.id, e.sequence, e.ordering_key, true
      from workspace_events e join webhook_endpoints w on w.id = ${endpointId}
      where e.workspace_id = w.workspace_id and e.sequence is not null
        and e.sequence <= ${Number(endpoint.queuedThrough)} and e.created_at >= ${since.toISOString()}::timestamptz
        and exists (
          select 1 from jsonb_array_elements_text(w.events) as pattern(value)
          where pattern.value in ('*', e.type, split_part(e.type, '.', 1) || '.*'))`;
    return queued.count;
  });
}

/** Endpoints with something to do: events not numbered or not queued yet, or a try due. */
export async function endpointsWithWork(sql: postgres.Sql, workspaceId?: string): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select e.id from webhook_endpoints e join workspaces w on w.id = e.workspace_id
    where (${workspaceId ?? null}::uuid is null or e.workspace_id = ${workspaceId ?? null}::uuid)
      and (e.queued_through < w.event_sequence
        or exists (select 1 from workspace_events v where v.workspace_id = e.workspace_id and v.sequence is null)
        or exists (select 1 from webhook_deliveries d
                   where d.endpoint_id = e.id and d.status = 'pending' and d.next_attempt_at <= now()))`;
  return rows.map((row) => row.id);
}

/** Every endpoint of a workspace (a transition there wakes them all). */
export async function endpointsOf(sql: postgres.Sql, workspaceId: string): Promise<string[]> {
  const rows = await sql<
    { id: string }[]
  >`select id from webhook_endpoints where workspace_id = ${workspaceId}`;
  return rows.map((row) => row.id);
}

/** Drops events older than the replay window (their deliveries go with them). */
export async function pruneEvents(sql: postgres.Sql, olderThan: Date): Promise<number> {
  const deleted =
    await sql`delete from workspace_events where created_at < ${olderThan.toISOString()}::timestamptz`;
  return deleted.count;
}
