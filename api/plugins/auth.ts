// Every route registered inside this plugin's scope needs a workspace API key: `request.caller` says whose.
// A caller whose key is refused counts against its address's limit, so keys cannot be guessed at speed.
import type { FastifyInstance } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import type { Database } from '../../db/client.ts';
import { authenticateWorkspace } from '../auth.ts';
import type { RateLimits } from '../rate-limits.ts';

export const workspaceAuthPlugin = fastifyPlugin(
  async (app: FastifyInstance, { db, limits }: { db: Database; limits: RateLimits }) => {
    app.addHook('onRequest', async (request, reply) => {
      try {
        request.caller = await authenticateWorkspace(db, request);
      } catch (error) {
        // Over the limit, this throws the 429 instead of the 401.
        await limits.refused(request, reply);
        throw error;
      }
    });
  },
  { name: 'workspace-auth' },
);
