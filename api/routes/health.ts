// Liveness and readiness: /healthz says the process is up; /readyz is 200 only when PostgreSQL answers and
// the Temporal namespace is reachable, and otherwise names which one is not (503). With the admin token its
// details also report overdue epics — due for longer than the threshold and still not attempted — so a missed
// schedule is seen; anonymous callers (probes, anyone) get no figure about the tenants, and their checks are
// shared for half a second, so a flood of probes costs two checks a second.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { DatabaseConnection } from '../../db/client.ts';
import { overdueEpics, stuckPublications } from '../../db/operations.ts';
import { presentsAdminToken } from '../auth.ts';
import type { RateLimits } from '../rate-limits.ts';
import type { TemporalLink } from '../temporal.ts';

const Dependency = z.object({ ok: z.boolean(), error: z.string().optional() });
const Readiness = z.object({
  status: z.enum(['ready', 'not_ready']),
  checks: z.object({ postgres: Dependency, temporal: Dependency }),
  details: z
    .object({
      overdueEpics: z.number().int(),
      oldestOverdueScheduledAt: z.string().nullable(),
      stuckPublications: z.number().int(),
    })
    .optional(),
});

export const healthRoutes: FastifyPluginAsyncZod<{
  database: DatabaseConnection;
  temporal: TemporalLink;
  overdueThresholdMs: number;
  stuckAfterMs: number;
  adminToken: string;
  limits: RateLimits;
}> = async (app, { database, temporal, overdueThresholdMs, stuckAfterMs, adminToken, limits }) => {
  const overdue = async () => ({
    ...(await overdueEpics(database.sql, overdueThresholdMs)),
    stuckPublications: await stuckPublications(database.sql, stuckAfterMs),
  });

  app.get(
    '/healthz',
    {
      // Probes come from the orchestrator, every few seconds: never refused for their rate.
      config: { rateLimit: false },
      schema: {
        tags: ['health'],
        summary: 'The process is up',
        security: [],
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      // Probes come from the orchestrator, every few seconds: never refused for their rate.
      config: { rateLimit: false },
      schema: {
        tags: ['health'],
        summary: 'Ready when PostgreSQL and the Temporal namespace both answer',
        // Anyone may ask; with the admin token the details count overdue epics (a wrong one counts as refused).
        security: [{}, { bearer: [] }],
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (request, reply) => {
      // The probe itself is never limited, but a wrong token on it counts like one refused anywhere else.
      const asOperator = presentsAdminToken(request, adminToken);
      if (request.headers.authorization !== undefined && !asOperator) {
        await limits.refused(request, reply);
      }
      const checked = await sharedCheck();
      const details =
        checked.checks.postgres.ok && asOperator
          ? await overdue().catch((error: unknown) => {
              request.log.warn({ err: error }, 'could not count overdue epics');
              return undefined;
            })
          : undefined;
      return reply.code(checked.ready ? 200 : 503).send({
        status: checked.ready ? 'ready' : 'not_ready',
        checks: checked.checks,
        ...(details ? { details } : {}),
      });
    },
  );

  /** One check of both dependencies at a time, its answer reused for half a second. */
  let lastCheck: { at: number; result: Promise<Awaited<ReturnType<typeof checkDependencies>>> } | undefined;
  const sharedCheck = () => {
    if (!lastCheck || Date.now() - lastCheck.at > 500)
      lastCheck = { at: Date.now(), result: checkDependencies() };
    return lastCheck.result;
  };
  async function checkDependencies() {
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
    return { ready: postgres.ok && temporalCheck.ok, checks };
  }
};
