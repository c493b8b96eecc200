// Workspaces (tenants): created by an operator with the admin token; the API key is returned once and only
// its hash is kept.
import { and, eq, gt, isNull, ne, or, sql } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { recordAudit } from '../../db/audit.ts';
import type { Database } from '../../db/client.ts';
import { apiKeys, workspaces } from '../../db/schema.ts';
import { authenticateAdmin, issueApiKey } from '../auth.ts';
import { ApiError, errorResponses } from '../errors.ts';
import type { RateLimits } from '../rate-limits.ts';
import { CreatedWorkspace, CreateWorkspaceBody } from '../schemas.ts';

export const workspaceRoutes: FastifyPluginAsyncZod<{
  db: Database;
  adminToken: string;
  limits: RateLimits;
}> = async (app, { db, adminToken, limits }) => {
  app.post(
    '/workspaces',
    {
      // A refused token counts against the caller's address, like a refused workspace key.
      onRequest: async (request, reply) => {
        await authenticateAdmin(db, request, adminToken).catch(async (error: unknown) => {
          await limits.refused(request, reply);
          throw error;
        });
      },
      schema: {
        tags: ['workspaces'],
        summary: 'Create a workspace (admin token); its API key is shown once',
        security: [{ bearer: [] }],
        body: CreateWorkspaceBody,
        response: { 201: CreatedWorkspace, ...errorResponses(400, 401, 403, 413) },
      },
    },
    async (request, reply) => {
      const issued = issueApiKey();
      const workspace = await db.transaction(async (tx) => {
        const [created] = await tx
          .insert(workspaces)
          .values({ name: request.body.name, plan: request.body.plan })
          .returning();
        await tx
          .insert(apiKeys)
          .values({ workspaceId: created!.id, prefix: issued.prefix, hash: issued.hash });
        await recordAudit(tx, {
          workspaceId: created!.id,
          subjectType: 'workspace',
          subjectId: created!.id,
          action: 'create',
          actor: 'admin',
          details: { plan: request.body.plan, apiKeyPrefix: issued.prefix },
        });
        return created!;
      });
      return reply.code(201).send({
        id: workspace.id,
        name: workspace.name,
        plan: request.body.plan,
        apiKey: issued.key,
      });
    },
  );
};

const RotateApiKeyBody = z.strictObject({
  graceSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(86_400)
    .meta({
      description: 'How long the keys in use stay valid beside the new one (default a day, at most 7)',
    }),
});
const RotatedApiKey = z
  .object({
    apiKey: z.string(),
    prefix: z.string(),
    previousKeysValidUntil: z.iso.datetime(),
  })
  .meta({ id: 'RotatedApiKey', description: 'The new key is shown once, here.' });

/** The caller's own workspace: its API keys. */
export const currentWorkspaceRoutes: FastifyPluginAsyncZod<{ db: Database }> = async (app, { db }) => {
  app.post(
    '/workspaces/current/api-keys',
    {
      schema: {
        tags: ['workspaces'],
        summary:
          'Rotate the API key: a new key (shown once); the keys in use stay valid for the grace period, then stop',
        body: RotateApiKeyBody.nullish(),
        response: { 201: RotatedApiKey, ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { workspaceId, actor, apiKeyId } = request.caller;
      const graceSeconds = request.body?.graceSeconds ?? 86_400;
      const issued = issueApiKey();
      const until = await db.transaction(async (tx) => {
        // One rotation of a workspace at a time: two at once would each leave its own key unretired.
        await tx.execute(sql`select 1 from ${workspaces} where ${workspaces.id} = ${workspaceId} for update`);
        // Read again under the lock: a rotation that committed since this key was checked retired it, and a key
        // being retired (perhaps the leaked one) cannot rotate the new key away.
        const [caller] = await tx
          .select({ revokedAt: apiKeys.revokedAt })
          .from(apiKeys)
          .where(eq(apiKeys.id, apiKeyId));
        if (caller?.revokedAt) {
          throw new ApiError(
            403,
            'KEY_BEING_RETIRED',
            `this key stops working at ${caller.revokedAt.toISOString()}: rotate with the newest key`,
          );
        }
        const [created] = await tx
          .insert(apiKeys)
          .values({ workspaceId, prefix: issued.prefix, hash: issued.hash })
          .returning({
            id: apiKeys.id,
            validUntil: sql<string>`(now() + make_interval(secs => ${graceSeconds}))::text`,
          });
        // The key in use gets the grace; keys already being retired stop now, so a workspace holds at most two
        // valid keys (each rotation would otherwise add one more for up to a week).
        const retired = await tx
          .update(apiKeys)
          .set({
            revokedAt: sql`case when ${apiKeys.revokedAt} is null then now() + make_interval(secs => ${graceSeconds}) else now() end`,
          })
          .where(
            and(
              eq(apiKeys.workspaceId, workspaceId),
              ne(apiKeys.id, created!.id),
              or(isNull(apiKeys.revokedAt), gt(apiKeys.revokedAt, sql`now()`)),
            ),
          )
          .returning({ prefix: apiKeys.prefix });
        const validUntil = new Date(created!.validUntil).toISOString();
        await recordAudit(tx, {
          workspaceId,
          subjectType: 'workspace',
          subjectId: workspaceId,
          action: 'rotate_api_key',
          actor,
          details: {
            apiKeyPrefix: issued.prefix,
            retiring: retired.map((key) => key.prefix),
            previousKeysValidUntil: validUntil,
          },
        });
        return validUntil;
      });
      return reply.code(201).send({
        apiKey: issued.key,
        prefix: issued.prefix,
        previousKeysValidUntil: until,
      });
    },
  );
};
