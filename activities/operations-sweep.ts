// The operations sweep's work: overdue epics and stuck publications are told once each (a notification and a
// webhook event, db/operations.ts); a scheduled epic whose run is missing — terminated from outside, or lost
// with a server's data — gets a run again, with the same input and schedule token as the one the API started,
// so it publishes once: its publications' rows say what is already done.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { createEpicWorkflows } from '../api/epic-workflows.ts';
import { ApiError } from '../api/errors.ts';
import { createSummaryFacts } from '../api/workflow-summary-facts.ts';
import { recordAudit } from '../db/audit.ts';
import type { Database } from '../db/client.ts';
import { notifyOverdueEpics, notifyStuckPublications, scheduledEpics } from '../db/operations.ts';
import { tasks } from '../db/schema.ts';
import { pruneEvents } from '../db/workspace-events.ts';
import type { Channel } from '../domain/channels.ts';
import { eventsKeptForMs } from '../domain/webhooks.ts';
import { epicWorkflowId, epicWorkflowType } from '../workflows/epic-messages.ts';
import type { SweepReport } from '../workflows/operations-sweep-messages.ts';

export interface OperationsSweepDependencies {
  db: Database;
  overdueThresholdMs: number;
  stuckAfterMs: number;
}

/** A schedule this recent may still be starting its run (the API starts it inside the schedule's transaction). */
const settledMs = 30_000;

export function createOperationsSweepActivities({
  db,
  overdueThresholdMs,
  stuckAfterMs,
}: OperationsSweepDependencies) {
  const sql = db.$client;
  const summaryFacts = createSummaryFacts(db);
  return {
    async sweepOperations(): Promise<SweepReport> {
      const context = Context.current();
      context.heartbeat();
      const overdue = await notifyOverdueEpics(sql, overdueThresholdMs);
      const stuck = await notifyStuckPublications(sql, stuckAfterMs);
      // Events past the replay window go, their deliveries with them (an index range: cheap when none are).
      const pruned = await pruneEvents(sql, new Date(Date.now() - eventsKeptForMs));
      if (pruned > 0) context.log.info('webhook events past the replay window removed', { pruned });
      for (const epic of overdue) context.log.warn('epic overdue: told its workspace', { ...epic });
      for (const publication of stuck)
        context.log.warn('publication stuck: told its workspace', { ...publication });

      const { client } = context;
      const scheduled = await scheduledEpics(sql, { settledMs, tryMayRunMs: stuckAfterMs });
      const restarted: string[] = [];
      if (scheduled.length > 0) {
        // One listing of the open runs (visibility), then each candidate confirmed by its own description.
        const open = new Set<string>();
        for await (const run of client.workflow.list({
          query: `WorkflowType = '${epicWorkflowType}' AND ExecutionStatus = 'Running'`,
        })) {
          open.add(run.workflowId);
          if (open.size % 500 === 0) context.heartbeat();
        }
        const workflows = createEpicWorkflows(
          { connection: async () => client.connection },
          {
            namespace: client.options.namespace,
            taskQueue: context.info.taskQueue,
            transitionWaitMs: 30_000,
            summaryFacts,
          },
        );
        for (const epic of scheduled) {
          if (open.has(epicWorkflowId(epic.epicId)) || !epic.scheduleToken) continue;
          context.heartbeat();
          let previous: string;
          try {
            const description = await client.workflow.getHandle(epicWorkflowId(epic.epicId)).describe();
            if (description.status.name === 'RUNNING') continue;
            previous = description.status.name.toLowerCase();
          } catch (error) {
            if (!(error instanceof WorkflowNotFoundError)) throw error;
            previous = 'missing';
          }
          const channels = await db
            .select({ channel: tasks.channel })
            .from(tasks)
            .where(eq(tasks.epicId, epic.epicId));
          try {
            await workflows.start(
              {
                epicId: epic.epicId,
                workspaceId: epic.workspaceId,
                scheduledAt: epic.scheduledAt,
                ...(epic.timeZone ? { timeZone: epic.timeZone } : {}),
                scheduleToken: epic.scheduleToken,
              },
              { title: epic.title, channels: channels.map((row) => row.channel as Channel) },
            );
          } catch (error) {
            // Started meanwhile (by the API, or another sweep): nothing is missing any more.
            if (error instanceof ApiError && error.statusCode === 409) continue;
            throw error;
          }
          restarted.push(epic.epicId);
          await recordAudit(db, {
            workspaceId: epic.workspaceId,
            subjectType: 'epic',
            subjectId: epic.epicId,
            action: 'restart_workflow',
            actor: 'sweep:operations',
            details: { previousRun: previous, scheduleToken: epic.scheduleToken },
          });
          context.log.warn('epic run was missing: started again', {
            epicId: epic.epicId,
            workflowId: epicWorkflowId(epic.epicId),
            previousRun: previous,
          });
        }
      }
      return { overdue: overdue.length, stuck: stuck.length, restarted };
    },
  };
}

export type OperationsSweepActivities = ReturnType<typeof createOperationsSweepActivities>;
