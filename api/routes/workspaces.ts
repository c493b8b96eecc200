// Workspaces (tenants): created by an operator with the admin token; the API key is returned once and only
// its hash is kept.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { recordAudit } from '../../db/audit.ts';
import type { Database } from '../../db/client.ts';
import { apiKeys, workspaces } from '../../db/schema.ts';
import { authenticateAdmin, issueApiKey } from '../auth.ts';
import { errorResponses } from '../errors.ts';
import { CreatedWorkspace, CreateWorkspaceBody } from '../schemas.ts';

export const workspaceRoutes: FastifyPluginAsyncZod<{ db: Database; adminToken: string }> = async (
  app,
  { db, adminToken },
) => {
  app.post(
    '/workspaces',
    {
      onRequest: async (request) => authenticateAdmin(db, request, adminToken),
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
