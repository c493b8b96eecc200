// Every route registered inside this plugin's scope needs a workspace API key: `request.caller` says whose.
import type { FastifyInstance } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import type { Database } from '../../db/client.ts';
import { authenticateWorkspace } from '../auth.ts';

export const workspaceAuthPlugin = fastifyPlugin(
  async (app: FastifyInstance, { db }: { db: Database }) => {
    app.addHook('onRequest', async (request) => {
      request.caller = await authenticateWorkspace(db, request);
    });
  },
  { name: 'workspace-auth' },
);
