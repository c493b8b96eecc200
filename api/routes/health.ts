// Liveness and readiness: /healthz says the process is up; /readyz is 200 only when PostgreSQL answers and
// the Temporal namespace is reachable, and otherwise names which one is not (503).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { DatabaseConnection } from '../../db/client.ts';
import type { TemporalLink } from '../temporal.ts';

const Dependency = z.object({ ok: z.boolean(), error: z.string().optional() });
const Readiness = z.object({
  status: z.enum(['ready', 'not_ready']),
  checks: z.object({ postgres: Dependency, temporal: Dependency }),
});

export const healthRoutes: FastifyPluginAsyncZod<{
  database: DatabaseConnection;
  temporal: TemporalLink;
}> = async (app, { database, temporal }) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'The process is up',
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Ready when PostgreSQL and the Temporal namespace both answer',
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_request, reply) => {
      const [postgres, temporalCheck] = await Promise.all([
        Promise.race([
          database.sql`select 1`.then(() => ({ ok: true as const })),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error('no answer within 2 s')), 2_000).unref(),
          ),
        ]).catch((error: Error) => ({ ok: false as const, error: `PostgreSQL: ${error.message}` })),
        temporal.check(),
      ]);
      const checks = {
        postgres,
        temporal: temporalCheck.ok ? { ok: true } : { ok: false, error: temporalCheck.reason },
      };
      const ready = postgres.ok && temporalCheck.ok;
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
    },
  );
};
