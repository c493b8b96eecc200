// Epics and their tasks (SPEC §4, §7): create, read, list, edit in draft, approve, and the transitions that
// need no workflow (review, edit back to draft, duplicate). Every rule of the lifecycle is asked of
// domain/epic-state-machine.ts; every change and its audit entry are written in one transaction.
import { and, asc, eq, gte, lt, type SQL, sql } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { recordAudit } from '../../db/audit.ts';
import type { Database, Executor } from '../../db/client.ts';
import { writeEpicTransition } from '../../db/epic-transitions.ts';
import { connectorAccounts, connectors, type EpicRow, epics, type TaskRow, tasks } from '../../db/schema.ts';
import { type Channel, channelFacts } from '../../domain/channels.ts';
import { parseTaskContent } from '../../domain/content.ts';
import { maxTasksPerEpic } from '../../domain/epic-state-machine.ts';
import type { WorkspaceCaller } from '../auth.ts';
import { loadEpic, lockEpic, refuseUnless } from '../epic-access.ts';
import { toTaskView, viewEpic, viewEpics } from '../epic-views.ts';
import { errorResponses, type FieldIssue, invalidInput, notFound } from '../errors.ts';
import { decodeCursor, encodeCursor } from '../pagination.ts';
import {
  CreateEpicBody,
  CreateTaskBody,
  EpicList,
  EpicView,
  IdParams,
  ListEpicsQuery,
  PatchEpicBody,
  PatchTaskBody,
  TaskParams,
  TaskView,
} from '../schemas.ts';

declare module 'fastify' {
  interface FastifyRequest {
    caller: WorkspaceCaller;
  }
}

/** Checks that a task's target exists in this workspace and fits its channel; returns the validated content. */
async function validateTaskTarget(
  executor: Executor,
  workspaceId: string,
  task: { channel: Channel; connectorId: string; accountId?: string | null | undefined; content: unknown },
) {
  const facts = channelFacts(task.channel);
  const issues: FieldIssue[] = [];
  const [connector] = await executor
    .select({ id: connectors.id, platform: connectors.platform })
    .from(connectors)
    .where(and(eq(connectors.id, task.connectorId), eq(connectors.workspaceId, workspaceId)));
  if (!connector) {
    issues.push({ field: 'body.connectorId', message: 'no connector with this id in the workspace' });
  } else if (connector.platform !== facts.platform) {
    issues.push({
      field: 'body.connectorId',
      message: `${task.channel} publishes through a ${facts.platform} connector, this one is ${connector.platform}`,
    });
  }
  if (facts.target === 'audiences' && task.accountId) {
    issues.push({
      field: 'body.accountId',
      message: `${task.channel} addresses content.audiences, not an account`,
    });
  }
  if (facts.target === 'account') {
    if (!task.accountId) {
      issues.push({ field: 'body.accountId', message: `is required for ${task.channel}` });
    } else if (connector) {
      const [account] = await executor
        .select({ id: connectorAccounts.id, metadata: connectorAccounts.metadata })
        .from(connectorAccounts)
        .where(
          and(
            eq(connectorAccounts.id, task.accountId),
            eq(connectorAccounts.connectorId, connector.id),
            eq(connectorAccounts.workspaceId, workspaceId),
          ),
        );
      if (!account) issues.push({ field: 'body.accountId', message: 'is not an account of this connector' });
      // A Google Ads manager account holds no campaigns of its own.
      else if (account.metadata.manager)
        issues.push({
          field: 'body.accountId',
          message: `is a manager account, which cannot hold a ${task.channel}: choose one of its client accounts`,
        });
    }
  }
  const content = parseTaskContent(task.channel, task.content);
  if (!content.ok) {
    issues.push(...content.issues.map((issue) => ({ field: `body.${issue.field}`, message: issue.message })));
  }
  if (issues.length > 0 || !content.ok) throw invalidInput(issues);
  return content.content as Record<string, unknown>;
}

async function loadTask(executor: Executor, workspaceId: string, epicId: string, taskId: string) {
  const [row] = await executor
    .select()
    .from(tasks)
    .where(and(eq(tasks.id, taskId), eq(tasks.epicId, epicId), eq(tasks.workspaceId, workspaceId)));
  if (!row) throw notFound('task');
  return row;
}

/** What a change to a draft's tasks did: the task to answer with, and its audit entry (none if nothing changed). */
interface TaskChange {
  task: TaskRow;
  audit?: { action: string; details?: Record<string, unknown> };
}

/**
 * Changes a draft's tasks in one transaction: the epic is locked and the task read (so a missing task is a 404
 * before the lifecycle's 409), editing is asked of the lifecycle, then the change is written with the epic's
 * updatedAt and the task's audit entry.
 */
function changeDraftTasks(
  db: Database,
  caller: WorkspaceCaller,
  target: { id: string; taskId: string },
  change: (tx: Executor, epic: EpicRow, current: TaskRow) => Promise<TaskChange>,
): Promise<TaskRow>;
function changeDraftTasks(
  db: Database,
  caller: WorkspaceCaller,
  target: { id: string },
  change: (tx: Executor, epic: EpicRow) => Promise<TaskChange>,
): Promise<TaskRow>;
function changeDraftTasks(
  db: Database,
  caller: WorkspaceCaller,
  target: { id: string; taskId?: string },
  change: (tx: Executor, epic: EpicRow, current: TaskRow) => Promise<TaskChange>,
): Promise<TaskRow> {
  const { workspaceId, actor } = caller;
  return db.transaction(async (tx) => {
    const epic = await lockEpic(tx, workspaceId, target.id);
    const current = target.taskId ? await loadTask(tx, workspaceId, epic.id, target.taskId) : undefined;
    refuseUnless(epic.status, 'editContent');
    const { task, audit } = await change(tx, epic, current as TaskRow);
    if (audit) {
      await tx.update(epics).set({ updatedAt: new Date() }).where(eq(epics.id, epic.id));
      await recordAudit(tx, {
        workspaceId,
        subjectType: 'task',
        subjectId: task.id,
        action: audit.action,
        actor,
        details: { epicId: epic.id, ...audit.details },
      });
    }
    return task;
  });
}

function listQuery(db: Database, workspaceId: string, query: z.infer<typeof ListEpicsQuery>) {
  // With a time window the list is a calendar: ordered by scheduledAt. Otherwise by creation.
  const order = query.from || query.to ? 'scheduled' : 'created';
  const key = order === 'scheduled' ? epics.scheduledAt : epics.createdAt;
  const conditions: SQL[] = [eq(epics.workspaceId, workspaceId)];
  if (query.status) conditions.push(eq(epics.status, query.status));
  if (query.from) conditions.push(gte(epics.scheduledAt, new Date(query.from)));
  if (query.to) conditions.push(lt(epics.scheduledAt, new Date(query.to)));
  if (order === 'scheduled') conditions.push(sql`${epics.scheduledAt} is not null`);
  if (query.cursor) {
    const cursor = decodeCursor(query.cursor, order);
    conditions.push(sql`(${key}, ${epics.id}) > (${cursor.t}::timestamptz, ${cursor.id}::uuid)`);
  }
  return {
    order,
    rows: db
      .select()
      .from(epics)
      .where(and(...conditions))
      .orderBy(asc(key), asc(epics.id))
      .limit(query.limit + 1),
  };
}

export const epicRoutes: FastifyPluginAsyncZod<{ db: Database }> = async (app, { db }) => {
  const tags = ['epics'];

  app.post(
    '/epics',
    {
      schema: {
        tags,
        summary: 'Create an epic (a draft)',
        body: CreateEpicBody,
        response: { 201: EpicView, ...errorResponses(400, 401, 413) },
      },
    },
    async (request, reply) => {
      const { workspaceId, actor } = request.caller;
      const row = await db.transaction(async (tx) => {
        const [created] = await tx
          .insert(epics)
          .values({ workspaceId, title: request.body.title, brief: request.body.brief ?? null })
          .returning();
        await recordAudit(tx, {
          workspaceId,
          subjectType: 'epic',
          subjectId: created!.id,
          action: 'create',
          toStatus: 'draft',
          actor,
        });
        return created!;
      });
      return reply.code(201).send(await viewEpic(db, workspaceId, row));
    },
  );

  app.get(
    '/epics',
    {
      schema: {
        tags,
        summary: 'List epics (keyset pagination; with from/to, a calendar ordered by scheduledAt)',
        querystring: ListEpicsQuery,
        response: { 200: EpicList, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { workspaceId } = request.caller;
      const { order, rows: query } = listQuery(db, workspaceId, request.query);
      const rows = await query;
      const page = rows.slice(0, request.query.limit);
      const last = page.at(-1);
      const hasMore = rows.length > page.length;
      const lastKey = last ? (order === 'scheduled' ? last.scheduledAt : last.createdAt) : null;
      return {
        items: await viewEpics(db, workspaceId, page),
        nextCursor:
          hasMore && last && lastKey
            ? encodeCursor({ o: order, t: lastKey.toISOString(), id: last.id })
            : null,
      };
    },
  );

  app.get(
    '/epics/:id',
    {
      schema: {
        tags,
        summary: 'Read an epic with its tasks and publications',
        params: IdParams,
        response: { 200: EpicView, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { workspaceId } = request.caller;
      return viewEpic(db, workspaceId, await loadEpic(db, workspaceId, request.params.id));
    },
  );

  app.patch(
    '/epics/:id',
    {
      schema: {
        tags,
        summary: 'Edit an epic (draft only)',
        params: IdParams,
        body: PatchEpicBody,
        response: { 200: EpicView, ...errorResponses(400, 401, 404, 409, 413) },
      },
    },
    async (request) => {
      const { workspaceId, actor } = request.caller;
      const row = await db.transaction(async (tx) => {
        const epic = await lockEpic(tx, workspaceId, request.params.id);
        refuseUnless(epic.status, 'editContent');
        const [updated] = await tx
          .update(epics)
          .set({ ...request.body, updatedAt: new Date() })
          .where(eq(epics.id, epic.id))
          .returning();
        await recordAudit(tx, {
          workspaceId,
          subjectType: 'epic',
          subjectId: epic.id,
          action: 'edit_fields',
          actor,
          details: { fields: Object.keys(request.body) },
        });
        return updated!;
      });
      return viewEpic(db, workspaceId, row);
    },
  );

  app.delete(
    '/epics/:id',
    {
      schema: {
        tags,
        summary: 'Delete an epic (draft or review)',
        params: IdParams,
        response: { 204: z.null(), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const { workspaceId, actor } = request.caller;
      await db.transaction(async (tx) => {
        const epic = await lockEpic(tx, workspaceId, request.params.id);
        refuseUnless(epic.status, 'delete');
        await tx.delete(epics).where(eq(epics.id, epic.id));
        await recordAudit(tx, {
          workspaceId,
          subjectType: 'epic',
          subjectId: epic.id,
          action: 'delete',
          fromStatus: epic.status,
          actor,
          details: { title: epic.title },
        });
      });
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/epics/:id/tasks',
    {
      schema: {
        tags,
        summary: "Add a task (one channel's content) to a draft epic",
        params: IdParams,
        body: CreateTaskBody,
        response: { 201: TaskView, ...errorResponses(400, 401, 404, 409, 413) },
      },
    },
    async (request, reply) => {
      const { workspaceId } = request.caller;
      const task = await changeDraftTasks(db, request.caller, request.params, async (tx, epic) => {
        const [count] = await tx
          .select({ tasks: sql<number>`count(*)::int` })
          .from(tasks)
          .where(eq(tasks.epicId, epic.id));
        if ((count?.tasks ?? 0) >= maxTasksPerEpic) {
          throw invalidInput([
            { field: 'body', message: `an epic holds at most ${maxTasksPerEpic} tasks; this one is full` },
          ]);
        }
        const content = await validateTaskTarget(tx, workspaceId, request.body);
        const [created] = await tx
          .insert(tasks)
          .values({
            workspaceId,
            epicId: epic.id,
            channel: request.body.channel,
            connectorId: request.body.connectorId,
            accountId: request.body.accountId ?? null,
            content,
          })
          .returning();
        return { task: created!, audit: { action: 'create', details: { channel: request.body.channel } } };
      });
      return reply.code(201).send(toTaskView(task, undefined));
    },
  );

  app.patch(
    '/epics/:id/tasks/:taskId',
    {
      schema: {
        tags,
        summary: 'Edit a task (draft only); its approval is withdrawn',
        params: TaskParams,
        body: PatchTaskBody,
        response: { 200: TaskView, ...errorResponses(400, 401, 404, 409, 413) },
      },
    },
    async (request) => {
      const { workspaceId } = request.caller;
      const task = await changeDraftTasks(db, request.caller, request.params, async (tx, _epic, current) => {
        const next = {
          channel: current.channel,
          connectorId: request.body.connectorId ?? current.connectorId,
          accountId: request.body.accountId === undefined ? current.accountId : request.body.accountId,
          content: request.body.content ?? current.content,
        };
        const content = await validateTaskTarget(tx, workspaceId, next);
        const [updated] = await tx
          .update(tasks)
          .set({
            connectorId: next.connectorId,
            accountId: next.accountId,
            content,
            approved: false,
            updatedAt: new Date(),
          })
          .where(eq(tasks.id, current.id))
          .returning();
        return {
          task: updated!,
          audit: {
            action: 'edit',
            details: { fields: Object.keys(request.body), approvalWithdrawn: current.approved },
          },
        };
      });
      return toTaskView(task, undefined);
    },
  );

  app.delete(
    '/epics/:id/tasks/:taskId',
    {
      schema: {
        tags,
        summary: 'Remove a task (draft only)',
        params: TaskParams,
        response: { 204: z.null(), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      await changeDraftTasks(db, request.caller, request.params, async (tx, _epic, task) => {
        await tx.delete(tasks).where(eq(tasks.id, task.id));
        return { task, audit: { action: 'delete', details: { channel: task.channel } } };
      });
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/epics/:id/tasks/:taskId/approve',
    {
      schema: {
        tags,
        summary: 'Approve a task (draft only)',
        params: TaskParams,
        response: { 200: TaskView, ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request) => {
      const task = await changeDraftTasks(db, request.caller, request.params, async (tx, _epic, current) => {
        if (current.approved) return { task: current };
        const [updated] = await tx
          .update(tasks)
          .set({ approved: true, updatedAt: new Date() })
          .where(eq(tasks.id, current.id))
          .returning();
        return { task: updated!, audit: { action: 'approve' } };
      });
      return toTaskView(task, undefined);
    },
  );

  app.post(
    '/epics/:id/review',
    {
      schema: {
        tags,
        summary: 'Send a draft to review (every task approved)',
        params: IdParams,
        response: { 200: EpicView, ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request) => {
      const { workspaceId, actor } = request.caller;
      const row = await db.transaction(async (tx) => {
        const epic = await lockEpic(tx, workspaceId, request.params.id);
        const epicTasks = await tx
          .select({ id: tasks.id, approved: tasks.approved })
          .from(tasks)
          .where(and(eq(tasks.epicId, epic.id), eq(tasks.workspaceId, workspaceId)))
          .orderBy(asc(tasks.createdAt), asc(tasks.id));
        const to = refuseUnless(epic.status, 'review', { tasks: epicTasks });
        const moved = await writeEpicTransition(tx, {
          epicId: epic.id,
          from: epic.status,
          to,
          action: 'review',
          actor,
          now: new Date(),
        });
        return moved!;
      });
      return viewEpic(db, workspaceId, row);
    },
  );

  app.post(
    '/epics/:id/duplicate',
    {
      schema: {
        tags,
        summary: 'Copy an epic into a new draft (approvals reset)',
        params: IdParams,
        response: { 201: EpicView, ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const { workspaceId, actor } = request.caller;
      const row = await db.transaction(async (tx) => {
        const source = await loadEpic(tx, workspaceId, request.params.id);
        refuseUnless(source.status, 'duplicate');
        const [copy] = await tx
          .insert(epics)
          .values({ workspaceId, title: source.title, brief: source.brief })
          .returning();
        const sourceTasks = await tx
          .select()
          .from(tasks)
          .where(and(eq(tasks.epicId, source.id), eq(tasks.workspaceId, workspaceId)))
          .orderBy(asc(tasks.createdAt), asc(tasks.id));
        // One timestamp per task, increasing, so the copy lists its tasks in the source's order.
        const base = Date.now();
        if (sourceTasks.length > 0) {
          await tx.insert(tasks).values(
            sourceTasks.map((task, index) => ({
              workspaceId,
              epicId: copy!.id,
              channel: task.channel,
              connectorId: task.connectorId,
              accountId: task.accountId,
              content: task.content,
              approved: false,
              createdAt: new Date(base + index),
            })),
          );
        }
        await recordAudit(tx, {
          workspaceId,
          subjectType: 'epic',
          subjectId: copy!.id,
          action: 'duplicate',
          toStatus: 'draft',
          actor,
          details: { sourceEpicId: source.id },
        });
        return copy!;
      });
      return reply.code(201).send(await viewEpic(db, workspaceId, row));
    },
  );
};
