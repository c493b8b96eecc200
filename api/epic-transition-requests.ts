// The transitions that need the epic workflow (SPEC §4), as any caller asks for them — the API's routes and
// the admin command (scripts/admin.ts): schedule starts a run; reschedule, unschedule, edit back to draft and
// retry are asked of the running workflow through updates, which answer "applied" or refuse with a reason
// (ApiError 409). Each gives the epic row read back afterwards: the workflow wrote it through its activities.
import { randomUUID } from 'node:crypto';
import { asc, eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Database, Executor } from '../db/client.ts';
import { writeEpicTransition } from '../db/epic-transitions.ts';
import { connectorAccounts, connectors, tasks } from '../db/schema.ts';
import { channelFacts } from '../domain/channels.ts';
import { unofferedChoice } from '../domain/connectors.ts';
import { scheduleTooLate } from '../domain/epic-state-machine.ts';
import { platformDescriptor } from '../domain/platforms.ts';
import { offStepChoices, parseScheduledTime, type Schedule } from '../domain/time.ts';
import { type EpicRow, loadEpic, lockEpic, refuseUnless } from './epic-access.ts';
import type { EpicUpdate, EpicWorkflows } from './epic-workflows.ts';
import { ApiError, invalidInput } from './errors.ts';

// The shapes domain/time.ts parses, stated as patterns so the OpenAPI description says them too: an instant
// (…Z, …±hh:mm) or a wall time (then with a timeZone), and an IANA zone name (not an offset).
export const ScheduleBody = z.strictObject({
  scheduledAt: z
    .string()
    .max(40)
    .regex(
      /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[Tt](?:[01]\d|2[0-3]):[0-5]\d(?::(?:[0-5]\d|60)(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?$/,
      'must be an ISO 8601 date-time',
    ),
  timeZone: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/, 'is not an IANA time zone')
    .optional(),
});
export type ScheduleRequest = z.infer<typeof ScheduleBody>;

/** How long a schedule waits for the epic's previous run to finish ending before it says so (409). */
const previousRunGraceMs = 10_000;

function parseSchedule(body: ScheduleRequest, now: Date): Schedule {
  const parsed = parseScheduledTime(body.scheduledAt, body.timeZone);
  if (!parsed.ok) throw invalidInput([{ field: parsed.field, message: parsed.message }]);
  const tooLate = scheduleTooLate(parsed.instant.getTime(), now.getTime());
  if (tooLate) throw invalidInput([{ field: 'body.scheduledAt', message: tooLate }]);
  return { instant: parsed.instant, timeZone: parsed.timeZone };
}

/**
 * A platform that schedules only on its steps (Mailchimp: quarter-hours) would refuse the hand-off: the time is
 * refused here instead, naming each task and the two nearest times its platform takes.
 */
async function refuseOffStepTimes(executor: Executor, epicId: string, schedule: Schedule) {
  const rows = await executor
    .select({ id: tasks.id, channel: tasks.channel })
    .from(tasks)
    .where(eq(tasks.epicId, epicId))
    .orderBy(asc(tasks.createdAt), asc(tasks.id));
  const issues = rows.flatMap((task) => {
    const facts = channelFacts(task.channel);
    const choices = facts.scheduleStepMinutes && offStepChoices(schedule, facts.scheduleStepMinutes);
    if (!choices) return [];
    const platform = platformDescriptor(facts.platform).name;
    return [
      {
        field: 'body.scheduledAt',
        message:
          `task ${task.id} (${task.channel}): ${platform} schedules only every ${facts.scheduleStepMinutes} ` +
          `minutes (UTC): choose ${choices[0]} or ${choices[1]}`,
      },
    ];
  });
  if (issues.length > 0) throw invalidInput(issues);
}

/**
 * A task asking its account for what the account does not offer (a TikTok privacy level the creator does not
 * offer, such as public posts on an app TikTok has not audited) would be refused at the time: it is refused
 * here instead, naming each task and what its account offers. Checked at schedule and reschedule.
 */
async function refuseUnofferedChoices(executor: Executor, epicId: string) {
  const rows = await executor
    .select({
      id: tasks.id,
      channel: tasks.channel,
      content: tasks.content,
      account: { name: connectorAccounts.name, metadata: connectorAccounts.metadata },
    })
    .from(tasks)
    .leftJoin(connectorAccounts, eq(connectorAccounts.id, tasks.accountId))
    .where(eq(tasks.epicId, epicId))
    .orderBy(asc(tasks.createdAt), asc(tasks.id));
  const issues = rows.flatMap((task) => {
    const refusal = unofferedChoice(task.channel, task.content, task.account);
    return refusal
      ? [{ field: refusal.field, message: `task ${task.id} (${task.channel}): ${refusal.message}` }]
      : [];
  });
  if (issues.length > 0) throw invalidInput(issues);
}

/** Every task's target must be connected and its account enabled before anything is scheduled. */
async function checkTargets(executor: Executor, epicId: string) {
  const rows = await executor
    .select({ task: tasks, connector: connectors, account: connectorAccounts })
    .from(tasks)
    .innerJoin(connectors, eq(connectors.id, tasks.connectorId))
    .leftJoin(connectorAccounts, eq(connectorAccounts.id, tasks.accountId))
    .where(eq(tasks.epicId, epicId))
    .orderBy(asc(tasks.createdAt), asc(tasks.id));
  const problems: {
    taskId: string;
    channel: string;
    connectorId: string;
    platform: string;
    reason: string;
  }[] = [];
  for (const { task, connector, account } of rows) {
    const facts = channelFacts(task.channel);
    const base = {
      taskId: task.id,
      channel: task.channel,
      connectorId: connector.id,
      platform: connector.platform,
    };
    if (connector.status !== 'connected') {
      problems.push({
        ...base,
        reason: `the ${connector.platform} connector is ${connector.status.replace('_', ' ')}`,
      });
    } else if (facts.target === 'account' && (!account?.enabled || account.status !== 'connected')) {
      problems.push({
        ...base,
        reason: `the account "${account?.name ?? task.accountId}" is not enabled on the connector`,
      });
    }
  }
  if (problems.length > 0) {
    throw new ApiError(
      409,
      'TARGET_NOT_READY',
      problems
        .map(
          (problem) =>
            `task ${problem.taskId} (${problem.channel}): ${problem.reason} (connector ${problem.connectorId})`,
        )
        .join('; '),
      { tasks: problems },
    );
  }
  return rows.map(({ task }) => task.channel);
}

/** Who asks, and why: the actor the audit records (`api-key:<prefix>`, `admin:<name>`), the reason it keeps. */
export interface TransitionCaller {
  workspaceId: string;
  actor: string;
}

export interface EpicTransitionRequests {
  schedule(caller: TransitionCaller, epicId: string, body: ScheduleRequest): Promise<EpicRow>;
  reschedule(caller: TransitionCaller, epicId: string, body: ScheduleRequest): Promise<EpicRow>;
  unschedule(caller: TransitionCaller, epicId: string, reason?: string): Promise<EpicRow>;
  /** Back to draft; the caller has confirmed it (the API's `{confirm: true}`). */
  edit(caller: TransitionCaller, epicId: string, reason?: string): Promise<EpicRow>;
  retry(caller: TransitionCaller, epicId: string): Promise<EpicRow>;
}

export function createEpicTransitionRequests({
  db,
  workflows,
  now = () => new Date(),
}: {
  db: Database;
  workflows: EpicWorkflows;
  now?: () => Date;
}): EpicTransitionRequests {
  /** Asks the running workflow; if no run is open, `fallback` decides (or the request is refused). */
  async function throughWorkflow(
    workspaceId: string,
    epicId: string,
    kind: EpicUpdate,
    request: { requestedBy: string; reason?: string; scheduledAt?: string; timeZone?: string },
    fallback?: () => Promise<void>,
  ) {
    const answer = await workflows.update(epicId, kind, request);
    if (answer === 'not_running') {
      if (!fallback) throw new ApiError(409, 'NOT_RUNNING', 'the epic has no open workflow run');
      await fallback();
    }
    return loadEpic(db, workspaceId, epicId);
  }

  /**
   * Writes the epic scheduled under a fresh schedule token and starts its run, in one transaction: the run's
   * first activity reads the row under a share lock, so it waits for this commit and acts only if it
   * happened (a rollback leaves a run that ends by itself). A run still open from before (one ending after
   * an unschedule, or left by a start whose answer was lost) is waited for once, outside the transaction.
   */
  async function scheduleAndStart(
    workspaceId: string,
    epicId: string,
    write: (tx: Executor, epic: EpicRow, scheduleToken: string) => Promise<Schedule>,
  ) {
    for (let attempt = 1; ; attempt += 1) {
      const scheduleToken = randomUUID();
      try {
        await db.transaction(async (tx) => {
          const epic = await lockEpic(tx, workspaceId, epicId);
          const schedule = await write(tx, epic, scheduleToken);
          const channels = await checkTargets(tx, epic.id);
          try {
            await workflows.start(
              {
                epicId: epic.id,
                workspaceId,
                scheduledAt: schedule.instant.toISOString(),
                ...(schedule.timeZone ? { timeZone: schedule.timeZone } : {}),
                scheduleToken,
              },
              { title: epic.title, channels },
            );
          } catch (error) {
            // No answer from Temporal: the start may have reached it all the same. If a run with this
            // token is open, the schedule holds and is committed; otherwise nothing is.
            const lost = error instanceof ApiError && error.statusCode === 503;
            if (!lost || (await workflows.openRunToken(epic.id)) !== scheduleToken) throw error;
          }
        });
        return;
      } catch (error) {
        const openRun =
          error instanceof ApiError && (error.details as { openRun?: boolean } | undefined)?.openRun === true;
        if (!openRun || attempt > 1 || !(await workflows.awaitClosed(epicId, previousRunGraceMs))) {
          if (error instanceof ApiError) throw error;
          // The commit's answer was lost, or the commit failed: what the epic says is what holds. Failed,
          // the run that started sees the epic unscheduled and ends.
          const saved = await loadEpic(db, workspaceId, epicId).catch(() => undefined);
          if (saved?.scheduleToken === scheduleToken) return;
          throw new ApiError(
            503,
            'SCHEDULE_NOT_SAVED',
            saved === undefined
              ? `the schedule may not have been saved (${(error as Error).message}): read the epic before trying again`
              : `the schedule could not be saved: ${(error as Error).message}`,
          );
        }
      }
    }
  }

  return {
    async schedule({ workspaceId, actor }, epicId, body) {
      const schedule = parseSchedule(body, now());
      await scheduleAndStart(workspaceId, epicId, async (tx, epic, scheduleToken) => {
        const to = refuseUnless(epic.status, 'schedule');
        await refuseOffStepTimes(tx, epic.id, schedule);
        await refuseUnofferedChoices(tx, epic.id);
        await writeEpicTransition(tx, {
          epicId: epic.id,
          from: epic.status,
          to,
          action: 'schedule',
          actor,
          details: { scheduledAt: schedule.instant.toISOString(), timeZone: schedule.timeZone },
          schedule: { scheduledAt: schedule.instant, timeZone: schedule.timeZone, scheduleToken },
          now: now(),
        });
        return schedule;
      });
      return loadEpic(db, workspaceId, epicId);
    },

    async reschedule({ workspaceId, actor }, epicId, body) {
      const schedule = parseSchedule(body, now());
      const epic = await loadEpic(db, workspaceId, epicId);
      refuseUnless(epic.status, 'reschedule');
      await refuseOffStepTimes(db, epic.id, schedule);
      await refuseUnofferedChoices(db, epic.id);
      return throughWorkflow(workspaceId, epic.id, 'reschedule', {
        requestedBy: actor,
        scheduledAt: schedule.instant.toISOString(),
        ...(schedule.timeZone ? { timeZone: schedule.timeZone } : {}),
      });
    },

    async unschedule({ workspaceId, actor }, epicId, reason) {
      const epic = await loadEpic(db, workspaceId, epicId);
      refuseUnless(epic.status, 'unschedule');
      return throughWorkflow(workspaceId, epic.id, 'unschedule', { requestedBy: actor, reason });
    },

    async edit({ workspaceId, actor }, epicId, reason) {
      const epic = await loadEpic(db, workspaceId, epicId);
      refuseUnless(epic.status, 'edit');
      const toDraft = async () => {
        await db.transaction(async (tx) => {
          const locked = await lockEpic(tx, workspaceId, epic.id);
          await writeEpicTransition(tx, {
            epicId: epic.id,
            from: locked.status,
            to: refuseUnless(locked.status, 'edit'),
            action: 'edit',
            actor,
            details: reason ? { reason } : {},
            forgetUnconfirmedHandOffs: true,
            now: now(),
          });
        });
      };
      if (epic.status === 'review') {
        await toDraft();
        return loadEpic(db, workspaceId, epic.id);
      }
      // An epic in error whose run has closed (after its waiting window) has nothing left on any platform.
      return throughWorkflow(
        workspaceId,
        epic.id,
        'edit',
        { requestedBy: actor, reason },
        epic.status === 'error' ? toDraft : undefined,
      );
    },

    async retry({ workspaceId, actor }, epicId) {
      const epic = await loadEpic(db, workspaceId, epicId);
      refuseUnless(epic.status, 'retry');
      return throughWorkflow(workspaceId, epic.id, 'retry', { requestedBy: actor }, async () => {
        // The error run has closed: a new run publishes only what is not published yet.
        await scheduleAndStart(workspaceId, epic.id, async (tx, locked, scheduleToken) => {
          await writeEpicTransition(tx, {
            epicId: epic.id,
            from: 'error',
            to: refuseUnless(locked.status, 'retry'),
            action: 'retry',
            actor,
            schedule: { scheduleToken },
            now: now(),
          });
          return { instant: locked.scheduledAt ?? now(), timeZone: locked.timeZone };
        });
      });
    },
  };
}
