// GET /metrics in Prometheus's text format. Its figures cover every workspace, so it asks for the admin
// token, like /readyz's details (Prometheus sends it with `authorization: {credentials: ...}`).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiMetrics } from '../../observability/metrics.ts';
import { presentsAdminToken } from '../auth.ts';
import { errorResponses, sendError } from '../errors.ts';
import type { RateLimits } from '../rate-limits.ts';

export const metricsRoutes: FastifyPluginAsyncZod<{
  metrics: ApiMetrics;
  adminToken: string;
  limits: RateLimits;
}> = async (app, { metrics, adminToken, limits }) => {
  app.get(
    '/metrics',
    {
      // Scrapes come every few seconds from one collector: never refused for their rate.
      config: { rateLimit: false },
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics of the API and of the whole deployment (admin token)',
        security: [{ bearer: [] }],
        // The figures in Prometheus's text format; a refusal in the API's error format.
        produces: ['text/plain', 'application/json'],
        response: { 200: z.string().describe('Prometheus text exposition format'), ...errorResponses(401) },
      },
    },
    async (request, reply) => {
      if (!presentsAdminToken(request, adminToken)) {
        if (request.headers.authorization !== undefined) await limits.refused(request, reply);
        return sendError(
          reply,
          401,
          'UNAUTHENTICATED',
          'send the admin token as "Authorization: Bearer <token>"',
        );
      }
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );
};
