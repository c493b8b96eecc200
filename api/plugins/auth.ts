// Every route registered inside this plugin's scope needs a workspace API key: `request.caller` says whose.
// A caller whose key is refused counts against its IP address's limit, so keys cannot be guessed at speed.
import type { FastifyInstance, onRequestAsyncHookHandler } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import type { Database } from '../../db/client.ts';
import { authenticateWorkspace } from '../auth.ts';

export const workspaceAuthPlugin = fastifyPlugin(
  async (
    app: FastifyInstance,
    { db, failedAuthentications }: { db: Database; failedAuthentications?: onRequestAsyncHookHandler },
  ) => {
    app.addHook('onRequest', async function authenticate(request, reply) {
      try {
        request.caller = await authenticateWorkspace(db, request);
      } catch (error) {
        // Over the limit, this throws the 429 instead of the 401.
        await failedAuthentications?.call(this, request, reply);
        throw error;
      }
    });
  },
  { name: 'workspace-auth' },
);
