// An epic's performance (SPEC §5 "Analytics", §7): the latest value of every metric per published item, the
// epic's totals, and the GA4 sessions of its UTM campaign; and one item's time series.
import { and, asc, desc, eq, gte, inArray, lte, sql } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { analyticsSessions, publicationMetrics, publications, tasks } from '../../db/schema.ts';
import { Channel } from '../../domain/channels.ts';
import { MetricName, readingSchedules } from '../../domain/metrics.ts';
import { epicSlug, utmCampaignKey } from '../../domain/utm.ts';
import { loadEpic } from '../epic-access.ts';
import { errorResponses, invalidInput, notFound } from '../errors.ts';
import { IdParams, TaskParams } from '../schemas.ts';

const MetricValue = z.object({
  value: z.number(),
  /** The platform's own name for it. */
  platformMetric: z.string(),
  /** What a money value (`spend_minor`, in minor units) is in, ISO 4217; null for counts. */
  currency: z.string().nullable(),
  readAt: z.iso.datetime(),
});

const TaskAnalytics = z
  .object({
    taskId: z.uuid(),
    channel: Channel,
    publicationId: z.uuid(),
    /** reading: on its schedule; done: its schedule ended; deleted: gone from the platform; null: not read. */
    state: z.enum(['reading', 'done', 'deleted']).nullable(),
    /** How it is measured: read from its platform, or through the GA4 sessions of the epic's campaign. */
    measuredBy: z.enum(['platform', 'ga4_sessions']),
    readings: z.number().int(),
    lastReadAt: z.iso.datetime().nullable(),
    nextReadingAt: z.iso.datetime().nullable(),
    /** Why the last reading gave nothing (no data yet, a scope the connector lacks). */
    note: z.string().nullable(),
    metrics: z.partialRecord(MetricName, MetricValue),
  })
  .meta({ id: 'TaskAnalytics' });

export const EpicAnalytics = z
  .object({
    epicId: z.uuid(),
    tasks: z.array(TaskAnalytics),
    /**
     * The sum over the published items of each metric's latest value; `spend_minor` only when every spend is
     * in one currency (else see `spendByCurrency`).
     */
    totals: z.partialRecord(MetricName, z.number()),
    /** The spend in each currency, in its minor units (an ad account bills in its own currency). */
    spendByCurrency: z.record(z.string(), z.number()),
    /** Visits Google Analytics credits to the epic's UTM campaign (the workspace's synced GA4 properties). */
    sessions: z.object({
      /** The UTM campaign of the epic's title now. */
      campaign: z.string(),
      /** Every campaign counted: this one, and those its links carried when they went out (a title edited since). */
      campaigns: z.array(z.string()),
      total: z.number().int(),
      byDay: z.array(z.object({ day: z.string(), sessions: z.number().int() })),
    }),
  })
  .meta({ id: 'EpicAnalytics' });

/**
 * An ISO 8601 instant PostgreSQL can hold and a reading can have: written in the years 1970–9999. A pattern
 * rather than a refinement, so the OpenAPI description states the bound too.
 */
const ReadingInstant = z.iso
  .datetime({ offset: true, error: 'must be an ISO 8601 instant' })
  .regex(/^(?:19[7-9]\d|[2-9]\d{3})-/, 'must be between 1970 and 9999')
  // The pattern reads the year as written; its offset can still carry the instant past 9999 (a 500 from
  // PostgreSQL, found by review) or before 1970.
  .refine((value) => {
    const year = new Date(value).getUTCFullYear();
    return year >= 1970 && year <= 9999;
  }, 'must be between 1970 and 9999');
const SeriesQuery = z.strictObject({ from: ReadingInstant.optional(), to: ReadingInstant.optional() });

export const TaskAnalyticsSeries = z
  .object({
    taskId: z.uuid(),
    channel: Channel,
    series: z.array(
      z.object({
        metric: MetricName,
        platformMetric: z.string(),
        points: z.array(z.object({ readAt: z.iso.datetime(), value: z.number() })),
      }),
    ),
  })
  .meta({ id: 'TaskAnalyticsSeries' });

const tags = ['analytics'];

export const analyticsRoutes: FastifyPluginAsyncZod<{ db: Database }> = async (app, { db }) => {
  app.get(
    '/epics/:id/analytics',
    {
      schema: {
        tags,
        summary: "An epic's performance: the latest value per item and metric, totals, and its GA4 sessions",
        params: IdParams,
        response: { 200: EpicAnalytics, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { workspaceId } = request.caller;
      const epic = await loadEpic(db, workspaceId, request.params.id);
      const items = await db
        .select({ publication: publications, task: tasks })
        .from(publications)
        .innerJoin(tasks, eq(tasks.id, publications.taskId))
        .where(and(eq(publications.epicId, epic.id), eq(publications.workspaceId, workspaceId)))
        .orderBy(asc(tasks.createdAt), asc(tasks.id));
      // The latest reading of each publication × metric.
      const latest = await db
        .selectDistinctOn([publicationMetrics.publicationId, publicationMetrics.metric], {
          publicationId: publicationMetrics.publicationId,
          metric: publicationMetrics.metric,
          platformMetric: publicationMetrics.platformMetric,
          value: publicationMetrics.value,
          currency: publicationMetrics.currency,
          readAt: publicationMetrics.readAt,
        })
        .from(publicationMetrics)
        .where(and(eq(publicationMetrics.epicId, epic.id), eq(publicationMetrics.workspaceId, workspaceId)))
        .orderBy(
          publicationMetrics.publicationId,
          publicationMetrics.metric,
          desc(publicationMetrics.readAt),
        );
      const totals: Partial<Record<MetricName, number>> = {};
      const spendByCurrency: Record<string, number> = {};
      const spendCurrencies = new Set<string | null>();
      for (const row of latest) {
        if (row.metric === 'spend_minor') {
          spendCurrencies.add(row.currency);
          if (row.currency) spendByCurrency[row.currency] = (spendByCurrency[row.currency] ?? 0) + row.value;
        }
        totals[row.metric] = (totals[row.metric] ?? 0) + row.value;
      }
      // Cents and yen do not add up: a total spend only in one currency (a spend whose currency is not known
      // counts as another one).
      if (spendCurrencies.size > 1) delete totals.spend_minor;

      // The campaign its links carry now, and the ones they carried when they went out (a title edited since).
      const campaign = epicSlug(epic.title);
      const campaigns = [
        ...new Set([
          campaign,
          ...items.map(({ publication }) => publication.progress[utmCampaignKey]).filter((name) => !!name),
        ]),
      ] as string[];
      const days = await db
        .select({
          day: analyticsSessions.day,
          sessions: sql<number>`sum(${analyticsSessions.sessions})::int`,
        })
        .from(analyticsSessions)
        .where(
          and(eq(analyticsSessions.workspaceId, workspaceId), inArray(analyticsSessions.campaign, campaigns)),
        )
        .groupBy(analyticsSessions.day)
        .orderBy(asc(analyticsSessions.day));

      return {
        epicId: epic.id,
        tasks: items.map(({ publication, task }) => ({
          taskId: task.id,
          channel: task.channel,
          publicationId: publication.id,
          state: publication.metricsState,
          measuredBy:
            readingSchedules[task.channel].length > 0 ? ('platform' as const) : ('ga4_sessions' as const),
          readings: publication.metricsReadings,
          lastReadAt: publication.metricsReadAt?.toISOString() ?? null,
          nextReadingAt: publication.metricsDueAt?.toISOString() ?? null,
          note: publication.metricsNote,
          metrics: Object.fromEntries(
            latest
              .filter((row) => row.publicationId === publication.id)
              .map((row) => [
                row.metric,
                {
                  value: row.value,
                  platformMetric: row.platformMetric,
                  currency: row.currency,
                  readAt: row.readAt.toISOString(),
                },
              ]),
          ),
        })),
        totals,
        spendByCurrency,
        sessions: {
          campaign,
          campaigns,
          total: days.reduce((sum, row) => sum + row.sessions, 0),
          byDay: days,
        },
      };
    },
  );

  app.get(
    '/epics/:id/tasks/:taskId/analytics',
    {
      schema: {
        tags,
        summary: "One published item's metrics over time (from/to bound the readings)",
        params: TaskParams,
        querystring: SeriesQuery,
        response: { 200: TaskAnalyticsSeries, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { workspaceId } = request.caller;
      const epic = await loadEpic(db, workspaceId, request.params.id);
      const { from, to } = request.query;
      if (from && to && Date.parse(from) > Date.parse(to)) {
        throw invalidInput([{ field: 'querystring.from', message: 'must not be after to' }]);
      }
      const [item] = await db
        .select({ publication: publications, task: tasks })
        .from(tasks)
        .innerJoin(publications, eq(publications.taskId, tasks.id))
        .where(
          and(
            eq(tasks.id, request.params.taskId),
            eq(tasks.epicId, epic.id),
            eq(tasks.workspaceId, workspaceId),
          ),
        );
      if (!item) throw notFound('task');
      const rows = await db
        .select()
        .from(publicationMetrics)
        .where(
          and(
            eq(publicationMetrics.publicationId, item.publication.id),
            eq(publicationMetrics.workspaceId, workspaceId),
            from ? gte(publicationMetrics.readAt, new Date(from)) : undefined,
            to ? lte(publicationMetrics.readAt, new Date(to)) : undefined,
          ),
        )
        .orderBy(asc(publicationMetrics.metric), asc(publicationMetrics.readAt));
      const series = new Map<
        MetricName,
        { metric: MetricName; platformMetric: string; points: { readAt: string; value: number }[] }
      >();
      for (const row of rows) {
        const entry = series.get(row.metric) ?? {
          metric: row.metric,
          platformMetric: row.platformMetric,
          points: [],
        };
        entry.points.push({ readAt: row.readAt.toISOString(), value: row.value });
        series.set(row.metric, entry);
      }
      return { taskId: item.task.id, channel: item.task.channel, series: [...series.values()] };
    },
  );
};
