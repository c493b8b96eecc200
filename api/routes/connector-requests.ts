// Request Connector (SPEC §6): a workspace asks for a platform we lack. Requests are counted per platform
// across workspaces so product can prioritise; a workspace that asks again is heard but counted once.
import { countDistinct, eq } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { catalog, comingSoon } from '../../connectors/catalog.ts';
import { recordAudit } from '../../db/audit.ts';
import type { Database } from '../../db/client.ts';
import { connectorRequests } from '../../db/schema.ts';
import { errorResponses } from '../errors.ts';

const ConnectorRequestBody = z.strictObject({
  platform: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters').meta({
    description: 'A catalog platform id, a Coming Soon key, or the name of any other platform',
    example: 'pinterest',
  }),
  note: z.string().max(1_000, 'must be at most 1,000 characters').optional(),
});

const ConnectorRequestView = z
  .object({
    id: z.uuid(),
    platform: z.string(),
    requestCount: z.number().int().meta({ description: 'How many workspaces asked for this platform' }),
  })
  .meta({ id: 'ConnectorRequest' });

const squash = (text: string) => text.trim().toLowerCase().replace(/\s+/g, ' ');

/**
 * The key requests are counted under: a known platform by its id or key (also when given by its display
 * name, "Pinterest" or "X (Twitter)"), any other name case- and spacing-insensitively, so "Snap chat" and
 * "snap  Chat" add up.
 */
export function connectorRequestKey(platform: string): string {
  const wanted = squash(platform);
  const known = [
    ...catalog.map((entry) => ({ key: entry.platform as string, name: entry.name })),
    ...comingSoon,
  ];
  const match = known.find((entry) => entry.key === wanted || squash(entry.name) === wanted);
  return match?.key ?? wanted;
}

export const connectorRequestRoutes: FastifyPluginAsyncZod<{ db: Database }> = async (app, { db }) => {
  app.post(
    '/connector-requests',
    {
      schema: {
        tags: ['connectors'],
        summary: 'Ask for a connector; answers how many workspaces asked for the same platform',
        body: ConnectorRequestBody,
        response: { 201: ConnectorRequestView, ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => {
      const { workspaceId, actor } = request.caller;
      const platform = connectorRequestKey(request.body.platform);
      const note = request.body.note?.trim() || null;
      const view = await db.transaction(async (tx) => {
        // Every ask is kept (its note may say something new); the count is of workspaces, not of asks.
        const [created] = await tx
          .insert(connectorRequests)
          .values({ workspaceId, platform, note })
          .returning({ id: connectorRequests.id });
        await recordAudit(tx, {
          workspaceId,
          subjectType: 'workspace',
          subjectId: workspaceId,
          action: 'request_connector',
          actor,
          details: { connectorRequestId: created!.id, platform },
        });
        const [counted] = await tx
          .select({ workspaces: countDistinct(connectorRequests.workspaceId) })
          .from(connectorRequests)
          .where(eq(connectorRequests.platform, platform));
        return { id: created!.id, platform, requestCount: counted?.workspaces ?? 1 };
      });
      return reply.code(201).send(view);
    },
  );
};
