// The transitions that need the epic workflow (SPEC §4): schedule starts a run; reschedule, unschedule,
// edit back to draft and retry are asked of the running workflow through updates, which answer "applied" or
// refuse with a reason (409). The db is read back afterwards: the workflow wrote it through its activities.
import { randomUUID } from 'node:crypto';
import { and, asc, eq, inArray } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { recordAudit } from '../../db/audit.ts';
import type { Database, Executor } from '../../db/client.ts';
import { connectorAccounts, connectors, epics, publications, tasks } from '../../db/schema.ts';
import { type Channel, channelFacts, channelsOfMode } from '../../domain/channels.ts';
import { parseScheduledTime } from '../../domain/time.ts';
import { type EpicRow, loadEpic, lockEpic, refuseUnless } from '../epic-access.ts';
import { viewEpic } from '../epic-views.ts';
import type { EpicUpdate, EpicWorkflows } from '../epic-workflows.ts';
import { ApiError, errorResponses, invalidInput } from '../errors.ts';
import { EditBody, EpicView, IdParams } from '../schemas.ts';

const ScheduleBody = z.strictObject({
  scheduledAt: z.string().min(1).max(40),
  timeZone: z.string().min(1).max(64).optional(),
});
const ReasonBody = z.strictObject({ reason: z.string().max(1_000).optional() });
const EmptyBody = z.strictObject({});

/** A scheduled time more than this far in the past is a mistake, not a "publish now". */
const pastTolerance = 60_000;
/** How long a schedule waits for the epic's previous run to finish ending before it says so (409). */
const previousRunGraceMs = 10_000;

function parseSchedule(body: z.infer<typeof ScheduleBody>, now: Date) {
  const parsed = parseScheduledTime(body.scheduledAt, body.timeZone);
  if (!parsed.ok) throw invalidInput([{ field: parsed.field, message: parsed.message }]);
  if (parsed.instant.getTime() < now.getTime() - pastTolerance) {
    throw invalidInput([{ field: 'body.scheduledAt', message: 'is more than a minute in the past' }]);
  }
  return parsed.instant;
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
    const facts = channelFacts(task.channel as Channel);
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
  return rows.map(({ task }) => task.channel as Channel);
}

export const epicTransitionRoutes: FastifyPluginAsyncZod<{
  db: Database;
  workflows: EpicWorkflows;
  now?: () => Date;
}> = async (app, { db, workflows, now = () => new Date() }) => {
  const tags = ['epic transitions'];
  const responses = { 200: EpicView, ...errorResponses(400, 401, 404, 409, 503) };

  /** Asks the running workflow; if no run is open, `fallback` decides (or the request is refused). */
  async function throughWorkflow(
    workspaceId: string,
    epicId: string,
    kind: EpicUpdate,
    request: { requestedBy: string; reason?: string; scheduledAt?: string },
    fallback?: () => Promise<void>,
  ) {
    const answer = await workflows.update(epicId, kind, request);
    if (answer === 'not_running') {
      if (!fallback) throw new ApiError(409, 'NOT_RUNNING', 'the epic has no open workflow run');
      await fallback();
    }
    return viewEpic(db, workspaceId, await loadEpic(db, workspaceId, epicId));
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
    write: (tx: Executor, epic: EpicRow, scheduleToken: string) => Promise<Date>,
  ) {
    for (let attempt = 1; ; attempt += 1) {
      const scheduleToken = randomUUID();
      try {
        await db.transaction(async (tx) => {
          const epic = await lockEpic(tx, workspaceId, epicId);
          const scheduledAt = await write(tx, epic, scheduleToken);
          const channels = await checkTargets(tx, epic.id);
          try {
            await workflows.start(
              { epicId: epic.id, workspaceId, scheduledAt: scheduledAt.toISOString(), scheduleToken },
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

  app.post(
    '/epics/:id/schedule',
    {
      schema: {
        tags,
        summary: 'Schedule a reviewed epic: real tasks are handed to their platforms now, soft ones wait',
        params: IdParams,
        body: ScheduleBody,
        response: { ...responses, 200: EpicView },
      },
    },
    async (request) => {
      const { workspaceId, actor } = request.caller;
      const scheduledAt = parseSchedule(request.body, now());
      await scheduleAndStart(workspaceId, request.params.id, async (tx, epic, scheduleToken) => {
        refuseUnless(epic.status, 'schedule');
        await tx
          .update(epics)
          .set({
            status: 'scheduled',
            scheduledAt,
            timeZone: request.body.timeZone ?? null,
            scheduleToken,
            updatedAt: now(),
          })
          .where(eq(epics.id, epic.id));
        await recordAudit(tx, {
          workspaceId,
          subjectType: 'epic',
          subjectId: epic.id,
          action: 'schedule',
          fromStatus: epic.status,
          toStatus: 'scheduled',
          actor,
          details: { scheduledAt: scheduledAt.toISOString(), timeZone: request.body.timeZone ?? null },
        });
        return scheduledAt;
      });
      return viewEpic(db, workspaceId, await loadEpic(db, workspaceId, request.params.id));
    },
  );

  app.post(
    '/epics/:id/reschedule',
    {
      schema: {
        tags,
        summary: 'Move a scheduled epic (and its hand-offs) to a new time',
        params: IdParams,
        body: ScheduleBody,
        response: responses,
      },
    },
    async (request) => {
      const { workspaceId, actor } = request.caller;
      const scheduledAt = parseSchedule(request.body, now());
      const epic = await loadEpic(db, workspaceId, request.params.id);
      refuseUnless(epic.status, 'reschedule');
      const view = await throughWorkflow(workspaceId, epic.id, 'reschedule', {
        requestedBy: actor,
        scheduledAt: scheduledAt.toISOString(),
      });
      await db
        .update(epics)
        .set({ timeZone: request.body.timeZone ?? null })
        .where(eq(epics.id, epic.id));
      return { ...view, timeZone: request.body.timeZone ?? null };
    },
  );

  app.post(
    '/epics/:id/unschedule',
    {
      schema: {
        tags,
        summary: 'Back to review: nothing will be published; hand-offs are cancelled',
        params: IdParams,
        body: ReasonBody.nullish(),
        response: responses,
      },
    },
    async (request) => {
      const { workspaceId, actor } = request.caller;
      const epic = await loadEpic(db, workspaceId, request.params.id);
      refuseUnless(epic.status, 'unschedule');
      return throughWorkflow(workspaceId, epic.id, 'unschedule', {
        requestedBy: actor,
        reason: request.body?.reason,
      });
    },
  );

  app.post(
    '/epics/:id/edit',
    {
      schema: {
        tags,
        summary: 'Edit back to draft (needs {confirm: true}); content is kept',
        params: IdParams,
        body: EditBody,
        response: responses,
      },
    },
    async (request) => {
      const { workspaceId, actor } = request.caller;
      const epic = await loadEpic(db, workspaceId, request.params.id);
      refuseUnless(epic.status, 'edit');
      const toDraft = async () => {
        await db.transaction(async (tx) => {
          const locked = await lockEpic(tx, workspaceId, epic.id);
          refuseUnless(locked.status, 'edit');
          await tx
            .update(epics)
            .set({
              status: 'draft',
              scheduledAt: null,
              timeZone: null,
              scheduleToken: null,
              updatedAt: now(),
            })
            .where(eq(epics.id, epic.id));
          // No run is open to cancel anything: a hand-off never confirmed live is forgotten (a draft it
          // left on the platform never sends), so the next schedule hands the edited content off afresh.
          await tx
            .update(publications)
            .set({ status: 'cancelled', handOffKey: null, progress: {}, externalId: null, updatedAt: now() })
            .where(
              and(
                eq(publications.epicId, epic.id),
                inArray(publications.status, ['pending', 'failed', 'cancelled']),
                inArray(
                  publications.taskId,
                  tx
                    .select({ id: tasks.id })
                    .from(tasks)
                    .where(and(eq(tasks.epicId, epic.id), inArray(tasks.channel, channelsOfMode('real')))),
                ),
              ),
            );
          await recordAudit(tx, {
            workspaceId,
            subjectType: 'epic',
            subjectId: epic.id,
            action: 'edit',
            fromStatus: locked.status,
            toStatus: 'draft',
            actor,
            details: request.body.reason ? { reason: request.body.reason } : {},
          });
        });
      };
      if (epic.status === 'review') {
        await toDraft();
        return viewEpic(db, workspaceId, await loadEpic(db, workspaceId, epic.id));
      }
      // An epic in error whose run has closed (after its waiting window) has nothing left on any platform.
      return throughWorkflow(
        workspaceId,
        epic.id,
        'edit',
        { requestedBy: actor, reason: request.body.reason },
        epic.status === 'error' ? toDraft : undefined,
      );
    },
  );

  app.post(
    '/epics/:id/retry',
    {
      schema: {
        tags,
        summary: 'Retry the failed publications of an epic in error (the others are not sent again)',
        params: IdParams,
        body: EmptyBody.nullish(),
        response: responses,
      },
    },
    async (request) => {
      const { workspaceId, actor } = request.caller;
      const epic = await loadEpic(db, workspaceId, request.params.id);
      refuseUnless(epic.status, 'retry');
      return throughWorkflow(workspaceId, epic.id, 'retry', { requestedBy: actor }, async () => {
        // The error run has closed: a new run publishes only what is not published yet.
        await scheduleAndStart(workspaceId, epic.id, async (tx, locked, scheduleToken) => {
          refuseUnless(locked.status, 'retry');
          await tx
            .update(epics)
            .set({ status: 'scheduled', scheduleToken, updatedAt: now() })
            .where(eq(epics.id, epic.id));
          await recordAudit(tx, {
            workspaceId,
            subjectType: 'epic',
            subjectId: epic.id,
            action: 'retry',
            fromStatus: 'error',
            toStatus: 'scheduled',
            actor,
          });
          return locked.scheduledAt ?? now();
        });
      });
    },
  );
};
