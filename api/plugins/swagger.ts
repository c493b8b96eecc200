// The OpenAPI document (built from the routes' zod schemas, with the links of api/openapi-links.ts) at
// /openapi.json, and its reader at /docs.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { withLinks } from '../openapi-links.ts';

export const openApiPlugin = fastifyPlugin(
  async (app: FastifyInstance, { publicUrl }: { publicUrl: string }) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Glowtify publishing orchestrator',
          version: '0.1.0',
          description: 'Epics, tasks and connectors; every epic is a durable Temporal workflow.',
        },
        servers: [{ url: publicUrl }],
        components: {
          securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Workspace API key' } },
        },
        security: [{ bearer: [] }],
      },
      transform: jsonSchemaTransform,
      // The components from the zod registry, then the links between operations (api/openapi-links.ts).
      transformObject: (input) => withLinks(jsonSchemaTransformObject(input)),
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  },
  { name: 'openapi' },
);
