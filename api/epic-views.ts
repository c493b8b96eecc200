// Reads epics with their tasks and publications in the shape the frontend relies on (SPEC §7), in two
// queries whatever the number of epics, and maps db rows onto it.
import { and, asc, eq, inArray } from 'drizzle-orm';
import type { z } from 'zod';
import { shopifySeoRevert } from '../connectors/shopify.ts';
import type { Database } from '../db/client.ts';
import { type EpicRow, publications, type TaskRow, tasks } from '../db/schema.ts';
import { channelFacts } from '../domain/channels.ts';
import type { EpicView, PublicationView, TaskView } from './schemas.ts';

type PublicationRow = typeof publications.$inferSelect;

const iso = (value: Date | null) => (value ? value.toISOString() : null);

type PublicationBody = z.infer<typeof PublicationView>;

export function toPublicationView(
  row: PublicationRow,
  revert?: PublicationBody['revert'] | null,
): PublicationBody {
  return {
    status: row.status as PublicationBody['status'],
    attempts: row.attempts,
    externalId: row.externalId,
    externalUrl: row.externalUrl,
    lastError: row.lastError ?? null,
    atRisk: row.atRisk,
    atRiskReason: row.atRisk ? row.atRiskReason : null,
    publishedAt: iso(row.publishedAt),
    lagMs: row.lagMs,
    unconfirmed: row.unconfirmed,
    ...(revert ? { revert } : {}),
  };
}

export function toTaskView(row: TaskRow, publication: PublicationRow | undefined): z.infer<typeof TaskView> {
  const channel = row.channel;
  return {
    id: row.id,
    channel,
    mode: channelFacts(channel).mode,
    connectorId: row.connectorId,
    accountId: row.accountId,
    content: row.content,
    approved: row.approved,
    publication: publication
      ? toPublicationView(
          publication,
          // The values an SEO change replaced, kept in the adapter's progress, so it can be shown and undone.
          channel === 'shopify_product_seo' ? shopifySeoRevert(row.content, publication.progress) : null,
        )
      : null,
  };
}

export function toEpicView(
  row: EpicRow,
  taskRows: TaskRow[],
  publicationByTask: Map<string, PublicationRow>,
): z.infer<typeof EpicView> {
  return {
    id: row.id,
    title: row.title,
    brief: row.brief,
    status: row.status,
    scheduledAt: iso(row.scheduledAt),
    timeZone: row.timeZone,
    atRisk: row.atRisk,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    tasks: taskRows.map((task) => toTaskView(task, publicationByTask.get(task.id))),
  };
}

/** Views of the given epic rows, in their order. */
export async function viewEpics(db: Database, workspaceId: string, rows: EpicRow[]) {
  if (rows.length === 0) return [];
  const ids = rows.map((row) => row.id);
  const [taskRows, publicationRows] = await Promise.all([
    db
      .select()
      .from(tasks)
      .where(and(eq(tasks.workspaceId, workspaceId), inArray(tasks.epicId, ids)))
      .orderBy(asc(tasks.createdAt), asc(tasks.id)),
    db
      .select()
      .from(publications)
      .where(and(eq(publications.workspaceId, workspaceId), inArray(publications.epicId, ids))),
  ]);
  const tasksByEpic = new Map<string, TaskRow[]>();
  for (const task of taskRows) {
    const list = tasksByEpic.get(task.epicId) ?? [];
    list.push(task);
    tasksByEpic.set(task.epicId, list);
  }
  const publicationByTask = new Map(publicationRows.map((row) => [row.taskId, row]));
  return rows.map((row) => toEpicView(row, tasksByEpic.get(row.id) ?? [], publicationByTask));
}

export async function viewEpic(db: Database, workspaceId: string, row: EpicRow) {
  const [view] = await viewEpics(db, workspaceId, [row]);
  return view!;
}
