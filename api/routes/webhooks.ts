// A workspace's webhook endpoints (`/v1/webhooks`): register one (its signing secret is shown once), list,
// read and delete them, replay what was sent since a time (up to 30 days back), and read the deliveries with
// their tries. The URL is a host the customer names, so it passes the same guard as a WordPress site: https,
// no private, loopback or metadata address (WEBHOOK_ALLOW_PRIVATE_HOSTS lifts it for tests and the demo).
import { and, count, desc, eq, type SQL, sql } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { secretBinding } from '../../activities/webhooks.ts';
import type { Config } from '../../config.ts';
import { guardHost, type HostGuard, HostRefusedError, systemLookup } from '../../connectors/public-hosts.ts';
import { recordAudit } from '../../db/audit.ts';
import type { Database } from '../../db/client.ts';
import { sealCredentials } from '../../db/credentials-codec.ts';
import { webhookDeliveries, webhookEndpoints, workspaceEvents } from '../../db/schema.ts';
import { queueReplay, sequenceEvents } from '../../db/workspace-events.ts';
import { EventPattern, eventsKeptForMs, newSigningSecret } from '../../domain/webhooks.ts';
import { ApiError, errorResponses, invalidInput, notFound } from '../errors.ts';
import { decodeCursor, encodeCursor } from '../pagination.ts';
import { IdParams } from '../schemas.ts';
import type { WebhookWorkflows } from '../webhook-workflows.ts';

/** Endpoints one workspace may register. */
const endpointsPerWorkspace = 20;

const CreateWebhookBody = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2_048),
  events: z.array(EventPattern).min(1).max(50),
  description: z.string().trim().max(500).optional(),
});

const WebhookView = z
  .object({
    id: z.uuid(),
    url: z.string(),
    events: z.array(z.string()),
    description: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'Webhook' });

const CreatedWebhook = WebhookView.extend({
  secret: z.string().meta({ description: 'The signing secret (whsec_…), shown once, here.' }),
}).meta({ id: 'CreatedWebhook' });

const ReplayBody = z.strictObject({
  since: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with an offset' }),
});

const DeliveryView = z
  .object({
    id: z.uuid(),
    eventId: z.uuid(),
    eventType: z.string(),
    sequence: z.number().int(),
    replay: z.boolean(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    lastStatusCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    nextAttemptAt: z.string().nullable(),
    deliveredAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'WebhookDelivery' });

const DeliveriesQuery = z.strictObject({
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
  cursor: z.string().max(500).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});

type EndpointRow = typeof webhookEndpoints.$inferSelect;

const toView = (row: EndpointRow): z.infer<typeof WebhookView> => ({
  id: row.id,
  url: row.url,
  events: row.events,
  description: row.description,
  createdAt: row.createdAt.toISOString(),
});

export const webhookRoutes: FastifyPluginAsyncZod<{
  db: Database;
  config: Pick<Config, 'CREDENTIALS_KEY' | 'WEBHOOK_ALLOW_PRIVATE_HOSTS'>;
  workflows: WebhookWorkflows;
  /** Tests stub DNS; default: the system resolver. */
  lookup?: HostGuard['lookup'];
}> = async (app, { db, config, workflows, lookup = systemLookup }) => {
  const tags = ['webhooks'];
  const allowPrivateHosts = config.WEBHOOK_ALLOW_PRIVATE_HOSTS;

  async function checkUrl(raw: string) {
    const url = new URL(raw);
    const refuse = (message: string) => invalidInput([{ field: 'body.url', message }]);
    if (url.username || url.password) throw refuse('must not carry a user name or password');
    if (!allowPrivateHosts && url.protocol !== 'https:') throw refuse('must use https');
    try {
      await guardHost(
        url,
        { allowPrivateHosts, lookup },
        {
          message: 'must be on a public host (it resolves to a private, loopback or link-local address)',
          unknownHost: 'reject',
        },
      );
    } catch (error) {
      if (error instanceof HostRefusedError) throw refuse(error.message);
      throw refuse('its host name could not be resolved now; try again');
    }
  }

  async function ownEndpoint(workspaceId: string, id: string) {
    const [row] = await db
      .select()
      .from(webhookEndpoints)
      .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.workspaceId, workspaceId)));
    if (!row) throw notFound('webhook');
    return row;
  }

  app.post(
    '/webhooks',
    {
      schema: {
        tags,
        summary: 'Register a webhook endpoint; its signing secret is in this answer only',
        body: CreateWebhookBody,
        response: { 201: CreatedWebhook, ...errorResponses(400, 401, 409) },
      },
    },
    async (request, reply) => {
      const { workspaceId, actor } = request.caller;
      const { url, events, description } = request.body;
      await checkUrl(url);
      // Events from now on: number what happened so far, and start after it.
      const queuedThrough = await sequenceEvents(db.$client, workspaceId);
      const secret = newSigningSecret();
      const created = await db.transaction(async (tx) => {
        await tx.execute(sql`select 1 from workspaces where id = ${workspaceId} for no key update`);
        const [existing] = await tx
          .select({ n: count() })
          .from(webhookEndpoints)
          .where(eq(webhookEndpoints.workspaceId, workspaceId));
        if ((existing?.n ?? 0) >= endpointsPerWorkspace) {
          throw new ApiError(
            409,
            'LIMIT_REACHED',
            `a workspace has at most ${endpointsPerWorkspace} webhooks`,
          );
        }
        const id = crypto.randomUUID();
        const sealed = sealCredentials(config.CREDENTIALS_KEY, secretBinding(id), secret);
        const [row] = await tx
          .insert(webhookEndpoints)
          .values({
            id,
            workspaceId,
            url,
            events: [...new Set(events)],
            description: description ?? null,
            secret: sealed.ciphertext,
            secretKeyId: sealed.keyId,
            queuedThrough,
          })
          .returning();
        await recordAudit(tx, {
          workspaceId,
          subjectType: 'webhook',
          subjectId: id,
          action: 'create_webhook',
          actor,
          // Its origin only: some receivers (chat tools) carry their credential in the URL's path.
          details: { origin: new URL(url).origin, events },
        });
        return row!;
      });
      await workflows.wake(created.id);
      return reply.code(201).send({ ...toView(created), secret });
    },
  );

  app.get(
    '/webhooks',
    {
      schema: {
        tags,
        summary: 'List the webhook endpoints (oldest first; at most 20)',
        response: { 200: z.object({ items: z.array(WebhookView) }), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const rows = await db
        .select()
        .from(webhookEndpoints)
        .where(eq(webhookEndpoints.workspaceId, request.caller.workspaceId))
        .orderBy(webhookEndpoints.createdAt, webhookEndpoints.id);
      return { items: rows.map(toView) };
    },
  );

  app.get(
    '/webhooks/:id',
    {
      schema: {
        tags,
        summary: 'Read a webhook endpoint (its secret is never shown again)',
        params: IdParams,
        response: { 200: WebhookView, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => toView(await ownEndpoint(request.caller.workspaceId, request.params.id)),
  );

  app.delete(
    '/webhooks/:id',
    {
      schema: {
        tags,
        summary: 'Delete a webhook endpoint: nothing more is sent to it, its deliveries go with it',
        params: IdParams,
        response: { 204: z.null(), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const { workspaceId, actor } = request.caller;
      const { id } = request.params;
      await db.transaction(async (tx) => {
        const [deleted] = await tx
          .delete(webhookEndpoints)
          .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.workspaceId, workspaceId)))
          .returning({ url: webhookEndpoints.url });
        if (!deleted) throw notFound('webhook');
        await recordAudit(tx, {
          workspaceId,
          subjectType: 'webhook',
          subjectId: id,
          action: 'delete_webhook',
          actor,
          details: { origin: new URL(deleted.url).origin },
        });
      });
      // Its workflow finds it gone and ends.
      await workflows.wake(id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/webhooks/:id/replay',
    {
      schema: {
        tags,
        summary: 'Send again every event since a time (at most 30 days back), in order, with their ids',
        params: IdParams,
        body: ReplayBody,
        response: { 202: z.object({ queued: z.number().int() }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const { workspaceId, actor } = request.caller;
      const endpoint = await ownEndpoint(workspaceId, request.params.id);
      const since = new Date(request.body.since);
      if (since.getTime() < Date.now() - eventsKeptForMs) {
        throw invalidInput([
          { field: 'body.since', message: 'must be within the last 30 days (events are kept 30 days)' },
        ]);
      }
      if (since.getTime() > Date.now()) {
        throw invalidInput([{ field: 'body.since', message: 'must not be in the future' }]);
      }
      const queued = await queueReplay(db.$client, endpoint.id, since);
      await recordAudit(db, {
        workspaceId,
        subjectType: 'webhook',
        subjectId: endpoint.id,
        action: 'replay_webhook',
        actor,
        details: { since: since.toISOString(), queued },
      });
      await workflows.wake(endpoint.id);
      return reply.code(202).send({ queued });
    },
  );

  app.get(
    '/webhooks/:id/deliveries',
    {
      schema: {
        tags,
        summary: 'The deliveries to a webhook endpoint, newest first, with their tries (keyset pagination)',
        params: IdParams,
        querystring: DeliveriesQuery,
        response: {
          200: z.object({ items: z.array(DeliveryView), nextCursor: z.string().nullable() }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => {
      const endpoint = await ownEndpoint(request.caller.workspaceId, request.params.id);
      const { status, cursor, limit } = request.query;
      const order = `newest:${status ?? 'all'}`;
      const conditions: SQL[] = [eq(webhookDeliveries.endpointId, endpoint.id)];
      if (status) conditions.push(eq(webhookDeliveries.status, status));
      if (cursor) {
        const after = decodeCursor(cursor, order);
        conditions.push(
          sql`(${webhookDeliveries.createdAt}, ${webhookDeliveries.id}) < (${after.t}::timestamptz, ${after.id}::uuid)`,
        );
      }
      const rows = await db
        .select({ delivery: webhookDeliveries, eventType: workspaceEvents.type })
        .from(webhookDeliveries)
        .innerJoin(workspaceEvents, eq(workspaceEvents.id, webhookDeliveries.eventId))
        .where(and(...conditions))
        .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
        .limit(limit + 1);
      const page = rows.slice(0, limit);
      const last = page.at(-1)?.delivery;
      return {
        items: page.map(({ delivery, eventType }) => ({
          id: delivery.id,
          eventId: delivery.eventId,
          eventType,
          sequence: delivery.sequence,
          replay: delivery.replay,
          status: delivery.status,
          attempts: delivery.attempts,
          lastStatusCode: delivery.lastStatusCode,
          lastError: delivery.lastError,
          nextAttemptAt: delivery.status === 'pending' ? delivery.nextAttemptAt.toISOString() : null,
          deliveredAt: delivery.deliveredAt?.toISOString() ?? null,
          createdAt: delivery.createdAt.toISOString(),
        })),
        nextCursor:
          rows.length > page.length && last
            ? encodeCursor({ o: order, t: last.createdAt.toISOString(), id: last.id })
            : null,
      };
    },
  );
};
