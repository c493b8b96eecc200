// The workspace's notifications (SPEC §7): newest first with keyset pagination, and marking one read.
// Reading is idempotent, so a frontend that retries or two tabs that both mark it never fail or re-stamp.
import { and, desc, eq, isNull, type SQL, sql } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { recordAudit } from '../../db/audit.ts';
import type { Database } from '../../db/client.ts';
import { notifications } from '../../db/schema.ts';
import { errorResponses, notFound } from '../errors.ts';
import { decodeCursor, encodeCursor } from '../pagination.ts';
import { IdParams } from '../schemas.ts';

type NotificationRow = typeof notifications.$inferSelect;

/** One sort order whatever the filter: a cursor stays valid when the frontend toggles "unread only". */
const order = 'newest';

export const NotificationView = z
  .object({
    id: z.uuid(),
    kind: z.string().meta({ example: 'connector_disconnected' }),
    title: z.string(),
    message: z.string(),
    data: z.record(z.string(), z.unknown()),
    readAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'Notification' });

const NotificationList = z.object({ items: z.array(NotificationView), nextCursor: z.string().nullable() });

const ListNotificationsQuery = z.strictObject({
  unread: z.enum(['true', 'false'], { error: 'must be true or false' }).optional(),
  cursor: z.string().max(500).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});

function toNotificationView(row: NotificationRow): z.infer<typeof NotificationView> {
  return {
    id: row.id,
    kind: row.kind,
    title: row.title,
    message: row.message,
    data: row.data,
    readAt: row.readAt ? row.readAt.toISOString() : null,
    createdAt: row.createdAt.toISOString(),
  };
}

export const notificationRoutes: FastifyPluginAsyncZod<{ db: Database }> = async (app, { db }) => {
  const tags = ['notifications'];

  app.get(
    '/notifications',
    {
      schema: {
        tags,
        summary: 'List notifications, newest first (keyset pagination; unread=true for unread only)',
        querystring: ListNotificationsQuery,
        response: { 200: NotificationList, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { workspaceId } = request.caller;
      const { unread, cursor, limit } = request.query;
      const conditions: SQL[] = [eq(notifications.workspaceId, workspaceId)];
      if (unread === 'true') conditions.push(isNull(notifications.readAt));
      if (unread === 'false') conditions.push(sql`${notifications.readAt} is not null`);
      if (cursor) {
        const after = decodeCursor(cursor, order);
        conditions.push(
          sql`(${notifications.createdAt}, ${notifications.id}) < (${after.t}::timestamptz, ${after.id}::uuid)`,
        );
      }
      const rows = await db
        .select()
        .from(notifications)
        .where(and(...conditions))
        .orderBy(desc(notifications.createdAt), desc(notifications.id))
        .limit(limit + 1);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        items: page.map(toNotificationView),
        nextCursor:
          rows.length > page.length && last
            ? encodeCursor({ o: order, t: last.createdAt.toISOString(), id: last.id })
            : null,
      };
    },
  );

  app.post(
    '/notifications/:id/read',
    {
      schema: {
        tags,
        summary: 'Mark a notification read (idempotent: the first reading time is kept)',
        params: IdParams,
        response: { 200: NotificationView, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { workspaceId, actor } = request.caller;
      const { id } = request.params;
      return db.transaction(async (tx) => {
        const [marked] = await tx
          .update(notifications)
          .set({ readAt: new Date() })
          .where(
            and(
              eq(notifications.id, id),
              eq(notifications.workspaceId, workspaceId),
              isNull(notifications.readAt),
            ),
          )
          .returning();
        if (marked) {
          // The audit log has no notification subject type; the workspace is the subject, the id in details.
          await recordAudit(tx, {
            workspaceId,
            subjectType: 'workspace',
            subjectId: workspaceId,
            action: 'read_notification',
            actor,
            details: { notificationId: marked.id, kind: marked.kind },
          });
          return toNotificationView(marked);
        }
        const [existing] = await tx
          .select()
          .from(notifications)
          .where(and(eq(notifications.id, id), eq(notifications.workspaceId, workspaceId)));
        if (!existing) throw notFound('notification');
        return toNotificationView(existing);
      });
    },
  );
};
