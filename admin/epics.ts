// The admin command's epic commands: list epics by status, show one (its row, tasks and publications with
// their last errors, its workflow run and `state` query, the last audit events), and the transitions an
// operator makes with a reason — through the API's own code (api/epic-transition-requests.ts), so the
// workflow decides through the same updates and the audit names the admin.
import { WorkflowNotFoundError } from '@temporalio/client';
import { and, asc, count, desc, eq, inArray, type SQL } from 'drizzle-orm';
import type { EpicRow } from '../api/epic-access.ts';
import { ScheduleBody, type ScheduleRequest } from '../api/epic-transition-requests.ts';
import { recordAudit } from '../db/audit.ts';
import { auditEvents, connectors, epics, publications, tasks, workspaces } from '../db/schema.ts';
import { channelFacts } from '../domain/channels.ts';
import { type EpicStatus, epicStatuses } from '../domain/epic-state-machine.ts';
import { epicWorkflowId, stateQuery } from '../workflows/epic-messages.ts';
import type { AdminContext } from './context.ts';
import { asAdmin, refusal, usageError } from './failures.ts';

export type Print = (line: string) => void;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function checkId(id: string | undefined, what: string): string {
  if (!id) throw usageError(`give the ${what} id`);
  if (!uuidPattern.test(id)) throw usageError(`"${id}" is not a valid ${what} id (a UUID)`);
  return id.toLowerCase();
}

const iso = (value: Date | null | undefined) => (value ? value.toISOString() : '—');
const when = (at: Date | null, zone: string | null) => (at ? `${iso(at)}${zone ? ` (${zone})` : ''}` : '—');

async function findEpic(context: AdminContext, id: string): Promise<EpicRow> {
  const [row] = await context.db.select().from(epics).where(eq(epics.id, id));
  if (!row) throw refusal(`epic ${id} not found`);
  return row;
}

export function checkStatus(status: string): EpicStatus {
  if (!epicStatuses.includes(status as EpicStatus)) {
    throw usageError(`--status must be one of ${epicStatuses.join(', ')}, got "${status}"`);
  }
  return status as EpicStatus;
}

export async function listEpics(
  context: AdminContext,
  print: Print,
  filter: { status?: EpicStatus; workspaceId?: string; limit: number },
) {
  const inWorkspace = filter.workspaceId ? eq(epics.workspaceId, filter.workspaceId) : undefined;
  const conditions: (SQL | undefined)[] = [
    inWorkspace,
    filter.status ? eq(epics.status, filter.status) : undefined,
  ];
  const counts = await context.db
    .select({ status: epics.status, epics: count() })
    .from(epics)
    .where(inWorkspace)
    .groupBy(epics.status);
  const countOf = (status: string) => counts.find((row) => row.status === status)?.epics ?? 0;
  print(
    `epics by status${filter.workspaceId ? ` in workspace ${filter.workspaceId}` : ''}: ` +
      epicStatuses.map((status) => `${status} ${countOf(status)}`).join(' · '),
  );
  // Scheduled epics in the order they are due; the others most recently changed first.
  const order =
    filter.status === 'scheduled'
      ? [asc(epics.scheduledAt), asc(epics.id)]
      : [desc(epics.updatedAt), asc(epics.id)];
  const rows = await context.db
    .select({
      id: epics.id,
      status: epics.status,
      title: epics.title,
      scheduledAt: epics.scheduledAt,
      timeZone: epics.timeZone,
      atRisk: epics.atRisk,
      updatedAt: epics.updatedAt,
      workspace: workspaces.name,
    })
    .from(epics)
    .innerJoin(workspaces, eq(workspaces.id, epics.workspaceId))
    .where(and(...conditions))
    .orderBy(...order)
    .limit(filter.limit);
  if (rows.length === 0) {
    print('no epic matches');
    return;
  }
  const width = (values: string[]) => Math.max(...values.map((value) => value.length));
  const statusWidth = width(rows.map((row) => row.status));
  const timeWidth = width(rows.map((row) => iso(row.scheduledAt)));
  const workspaceWidth = width(rows.map((row) => row.workspace));
  for (const row of rows) {
    print(
      `${row.id}  ${row.status.padEnd(statusWidth)}  ${iso(row.scheduledAt).padEnd(timeWidth)}  ` +
        `${row.workspace.padEnd(workspaceWidth)}  "${row.title}"${row.atRisk ? '  [at risk]' : ''}`,
    );
  }
  const total = filter.status ? countOf(filter.status) : counts.reduce((sum, row) => sum + row.epics, 0);
  if (!filter.workspaceId && total > rows.length) {
    print(`showing ${rows.length} of ${total} (--limit ${filter.limit})`);
  } else if (rows.length === filter.limit) {
    print(`showing the first ${rows.length} (--limit ${filter.limit})`);
  }
}

export async function showEpic(context: AdminContext, print: Print, epicId: string, auditLimit: number) {
  const epic = await findEpic(context, epicId);
  const [workspace] = await context.db
    .select({ name: workspaces.name })
    .from(workspaces)
    .where(eq(workspaces.id, epic.workspaceId));
  print(`epic ${epic.id} "${epic.title}"`);
  print(`  workspace  ${epic.workspaceId} (${workspace?.name ?? '?'})`);
  print(`  status     ${epic.status}${epic.atRisk ? ' (at risk)' : ''}`);
  print(`  scheduled  ${when(epic.scheduledAt, epic.timeZone)}`);
  print(`  created    ${iso(epic.createdAt)} · updated ${iso(epic.updatedAt)}`);

  const rows = await context.db
    .select({ task: tasks, publication: publications, connector: connectors })
    .from(tasks)
    .leftJoin(publications, eq(publications.taskId, tasks.id))
    .innerJoin(connectors, eq(connectors.id, tasks.connectorId))
    .where(eq(tasks.epicId, epic.id))
    .orderBy(asc(tasks.createdAt), asc(tasks.id));
  print(`tasks (${rows.length})`);
  for (const { task, publication, connector } of rows) {
    print(
      `  ${task.id} ${task.channel} (${channelFacts(task.channel).mode}) · ${connector.platform} connector ` +
        `${connector.id} (${connector.status})${task.approved ? ' · approved' : ' · not approved'}`,
    );
    if (!publication) {
      print('    publication: none yet');
      continue;
    }
    const facts = [
      `${publication.status}`,
      `${publication.attempts} attempt${publication.attempts === 1 ? '' : 's'}`,
      publication.externalId ? `external id ${publication.externalId}` : null,
      publication.publishedAt ? `published ${iso(publication.publishedAt)}` : null,
      publication.unconfirmed ? 'unconfirmed' : null,
    ].filter(Boolean);
    print(`    publication ${publication.id}: ${facts.join(' · ')}`);
    if (publication.externalUrl) print(`    url: ${publication.externalUrl}`);
    if (publication.atRisk) print(`    at risk: ${publication.atRiskReason ?? 'yes'}`);
    if (publication.lastError) {
      const { class: errorClass, message, platformCode } = publication.lastError;
      print(
        `    last error: ${errorClass}: ${message}${platformCode ? ` (platform code ${platformCode})` : ''}`,
      );
    }
  }

  await showWorkflow(context, print, epic.id);

  const subjects = [
    epic.id,
    ...rows.map(({ task }) => task.id),
    ...rows.flatMap(({ publication }) => (publication ? [publication.id] : [])),
  ];
  const events = await context.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.workspaceId, epic.workspaceId), inArray(auditEvents.subjectId, subjects)))
    .orderBy(desc(auditEvents.createdAt), desc(auditEvents.id))
    .limit(auditLimit);
  print(`audit (last ${events.length})`);
  for (const event of events.reverse()) {
    const change = event.toStatus
      ? ` ${event.fromStatus ? `${event.fromStatus} ` : ''}→ ${event.toStatus}`
      : event.fromStatus
        ? ` from ${event.fromStatus}`
        : '';
    const details = Object.keys(event.details).length > 0 ? ` ${JSON.stringify(event.details)}` : '';
    print(
      `  ${iso(event.createdAt)} ${event.subjectType} ${event.action}${change} by ${event.actor}${details}`,
    );
  }
}

/** The epic's run as Temporal describes it, its `state` query while it runs, and its pending activities. */
async function showWorkflow(context: AdminContext, print: Print, epicId: string) {
  const workflowId = epicWorkflowId(epicId);
  print(`workflow ${workflowId}`);
  let client: Awaited<ReturnType<AdminContext['temporal']>>;
  try {
    client = await context.temporal();
  } catch (error) {
    print(`  not known: ${(error as Error).message}`);
    return;
  }
  const handle = client.workflow.getHandle(workflowId);
  let description: Awaited<ReturnType<typeof handle.describe>>;
  try {
    description = await client.connection.withDeadline(Date.now() + 5_000, () => handle.describe());
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) {
      print('  no run (never scheduled, or its history is past the namespace retention)');
    } else {
      print(`  not known: ${(error as Error).message.split('\n')[0]}`);
    }
    return;
  }
  print(
    `  run ${description.runId}: ${description.status.name}, started ${iso(description.startTime)}` +
      `${description.closeTime ? `, closed ${iso(description.closeTime)}` : ''}, ` +
      `${description.historyLength} history events`,
  );
  for (const activity of description.raw.pendingActivities ?? []) {
    const failure = activity.lastFailure?.message ? `; last failure: ${activity.lastFailure.message}` : '';
    print(
      `  pending activity ${activity.activityType?.name ?? '?'} (attempt ${activity.attempt ?? 1}` +
        `${activity.maximumAttempts ? ` of ${activity.maximumAttempts}` : ''})${failure}`,
    );
  }
  if (description.status.name !== 'RUNNING') return;
  try {
    const state = await client.connection.withDeadline(Date.now() + 5_000, () => handle.query(stateQuery));
    print(
      `  state: ${state.status}, at ${state.scheduledAt}, publishing started: ${state.publishingStarted ? 'yes' : 'no'}` +
        `, transition in flight: ${state.transitionInFlight ?? 'none'}`,
    );
    for (const [taskId, publication] of Object.entries(state.publications)) {
      const error = publication.lastError
        ? ` (last error ${publication.lastError.class}: ${publication.lastError.message})`
        : '';
      print(`    ${taskId} ${publication.channel} (${publication.mode}): ${publication.status}${error}`);
    }
    for (const ignored of state.ignoredSignals) {
      print(`    ignored signal ${ignored.signal} at ${ignored.at}: ${ignored.reason}`);
    }
  } catch (error) {
    print(`  state: not answered (${(error as Error).message.split('\n')[0]}; is a worker running?)`);
  }
}

export type EpicCommand = 'unschedule' | 'edit' | 'reschedule' | 'retry';

const done: Record<EpicCommand, string> = {
  unschedule: 'unscheduled',
  edit: 'edited back to draft',
  reschedule: 'rescheduled',
  retry: 'retried',
};

/**
 * A transition asked for by an operator, through the same code as the API's route (the workflow decides
 * through its update); the workflow's audit entry names the admin, and one more entry (`admin_command`)
 * keeps the reason for every command, since reschedule and retry carry none into the workflow.
 */
/** `--at` and `--zone` as the API's schedule body, checked the same way (bad usage when it would be a 400). */
export function checkSchedule(at: string | undefined, zone: string | undefined): ScheduleRequest {
  if (!at) throw usageError('reschedule needs --at <ISO time> (and --zone <IANA zone> for a wall time)');
  const parsed = ScheduleBody.safeParse({
    scheduledAt: at,
    ...(zone !== undefined ? { timeZone: zone } : {}),
  });
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (issue) => `${issue.path[0] === 'timeZone' ? '--zone' : '--at'}: ${issue.message}`,
    );
    throw usageError(`bad usage: ${issues.join('; ')}`);
  }
  return parsed.data;
}

export async function transitionEpic(
  context: AdminContext,
  print: Print,
  command: EpicCommand,
  epicId: string,
  request: { reason: string; schedule?: ScheduleRequest },
) {
  const { schedule } = request;
  if ((command === 'reschedule') !== (schedule !== undefined)) {
    throw usageError(
      command === 'reschedule' ? 'reschedule needs --at' : `${command} takes no --at or --zone`,
    );
  }
  const before = await findEpic(context, epicId);
  const caller = { workspaceId: before.workspaceId, actor: context.actor };
  const after = await asAdmin(() => {
    switch (command) {
      case 'unschedule':
        return context.transitions.unschedule(caller, epicId, request.reason);
      case 'edit':
        return context.transitions.edit(caller, epicId, request.reason);
      case 'reschedule':
        return context.transitions.reschedule(caller, epicId, schedule!);
      case 'retry':
        return context.transitions.retry(caller, epicId);
    }
  });
  await recordAudit(context.db, {
    workspaceId: after.workspaceId,
    subjectType: 'epic',
    subjectId: after.id,
    action: 'admin_command',
    fromStatus: before.status,
    toStatus: after.status,
    actor: context.actor,
    details: {
      command,
      reason: request.reason,
      ...(command === 'reschedule'
        ? { from: before.scheduledAt?.toISOString() ?? null, to: after.scheduledAt?.toISOString() ?? null }
        : {}),
    },
  });
  const moved =
    command === 'reschedule'
      ? `, now at ${when(after.scheduledAt, after.timeZone)} (was ${when(before.scheduledAt, before.timeZone)})`
      : '';
  print(
    `epic ${after.id} ${done[command]} by ${context.actor} (reason: ${request.reason}): ` +
      `${before.status} → ${after.status}${moved}`,
  );
}
