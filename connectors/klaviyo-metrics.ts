// Klaviyo's side of reading published campaigns back (SPEC §5 "Analytics"): one campaign values report per
// hundred campaigns, the workspace's "Placed Order" metric as the conversion metric, a campaign missing from
// the report looked up to tell "deleted" from "no data yet". Klaviyo's reporting limits are very low
// (1/s burst, 2/min steady, 225/day), so campaigns are batched and a refusal paces the whole read.
import { z } from 'zod';
import type { MetricName, MetricReading } from '../domain/metrics.ts';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { type HttpAnswer, isSuccess } from './http.ts';
import { type MetricsAnswer, type MetricsContext, throttledRest } from './types.ts';

/** The most campaign ids one values report takes in its filter (Klaviyo's documented limit). */
export const klaviyoCampaignsPerReport = 100;
/** Klaviyo's burst window for the reporting endpoints is one request per second. */
const burstSpacingMs = 1_100;
/** A values report's timeframe may span at most one year and must cover the send date. */
const maxTimeframeMs = 364 * 24 * 3_600_000;
const timeframeMarginMs = 24 * 3_600_000;
const maxMetricPages = 20;

/** Klaviyo's statistic → the normalised name; counts only (its `*_rate` statistics are rates, not metrics). */
const statistics: Record<string, MetricName> = {
  opens: 'opens',
  opens_unique: 'unique_opens',
  clicks: 'clicks',
  delivered: 'delivered',
  bounced: 'bounces',
  unsubscribes: 'unsubscribes',
  conversions: 'conversions',
};
/** The metric Klaviyo's own reports attribute conversions to by default. */
const placedOrder = 'Placed Order';

const MetricsPage = z.object({
  data: z.array(z.object({ id: z.string(), attributes: z.object({ name: z.string().nullish() }) })),
  links: z.object({ next: z.string().nullish() }).nullish(),
});
const ValuesReport = z.object({
  data: z.object({
    attributes: z.object({
      results: z.array(
        z.object({
          groupings: z.object({ campaign_id: z.string() }).passthrough(),
          statistics: z.record(z.string(), z.number().nullable()),
        }),
      ),
    }),
  }),
});

type Send = (
  apiKey: string,
  method: string,
  target: string,
  body?: unknown,
  signal?: AbortSignal,
) => Promise<HttpAnswer>;

/** Klaviyo keys look like ISO instants with an explicit +00:00 offset. */
const klaviyoInstant = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, '+00:00');

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

export function createKlaviyoMetrics(input: {
  send: Send;
  /** The adapter's own mapping of an answer that is not a success (keys scrubbed). */
  failureOf: (answer: HttpAnswer, apiKey: string) => PublicationFailure;
  now: () => Date;
  /** Between two reports of one read; Klaviyo's burst window (tests lower it). */
  reportSpacingMs?: number;
}) {
  const { send, failureOf, now } = input;
  const spacingMs = input.reportSpacingMs ?? burstSpacingMs;

  const refused = (answer: HttpAnswer, apiKey: string) => new PlatformError(failureOf(answer, apiKey));

  /**
   * The metric conversions are counted on: "Placed Order" when the workspace has it, else any metric, since
   * Klaviyo requires one (`conversions` is then not asked for). Null when the key lacks `metrics:read`.
   */
  async function conversionMetric(apiKey: string, signal?: AbortSignal) {
    const all: { id: string; name: string }[] = [];
    let next: string | null | undefined = '/api/metrics';
    for (let page = 0; next && page < maxMetricPages; page += 1) {
      const answer = await send(apiKey, 'GET', next, undefined, signal);
      if (answer.status === 403) return null;
      if (!isSuccess(answer.status)) throw refused(answer, apiKey);
      const body = MetricsPage.safeParse(answer.body);
      if (!body.success) {
        throw new PlatformError({ class: 'TRANSIENT', message: 'Unexpected answer from Klaviyo (metrics)' });
      }
      all.push(...body.data.data.map((metric) => ({ id: metric.id, name: metric.attributes.name ?? '' })));
      next = body.data.links?.next;
    }
    const placed = all.find((metric) => metric.name === placedOrder);
    return { id: placed?.id ?? all[0]?.id ?? null, conversions: placed !== undefined };
  }

  /** Whether Klaviyo still has the campaign: its campaign endpoint answers 404 once it is deleted. */
  async function exists(apiKey: string, campaignId: string, signal?: AbortSignal) {
    const answer = await send(
      apiKey,
      'GET',
      `/api/campaigns/${encodeURIComponent(campaignId)}`,
      undefined,
      signal,
    );
    if (answer.status === 404) return false;
    if (!isSuccess(answer.status)) throw refused(answer, apiKey);
    return true;
  }

  return async function collectMetrics(
    context: MetricsContext<{ apiKey: string }>,
  ): Promise<Record<string, MetricsAnswer>> {
    const { apiKey } = context.credentials;
    const { signal } = context;
    const answers: Record<string, MetricsAnswer> = {};
    const items = context.items.filter((item) => item.externalId !== '');
    if (items.length === 0) return answers;

    const metric = await conversionMetric(apiKey, signal);
    if (!metric?.id) {
      for (const item of items) {
        answers[item.publicationId] = metric
          ? { state: 'unavailable', reason: 'Klaviyo has no metric to report conversions on yet' }
          : {
              state: 'unavailable',
              reason: 'The Klaviyo API key cannot read metrics (a values report needs a conversion metric)',
              missingScopes: ['metrics:read'],
            };
      }
      return answers;
    }
    const asked = Object.keys(statistics).filter((name) => name !== 'conversions' || metric.conversions);

    for (let start = 0; start < items.length; start += klaviyoCampaignsPerReport) {
      const batch = items.slice(start, start + klaviyoCampaignsPerReport);
      if (start > 0) await sleep(spacingMs, signal);
      const end = now();
      const earliest = Math.min(...batch.map((item) => item.publishedAt.getTime())) - timeframeMarginMs;
      const ids = [...new Set(batch.map((item) => item.externalId))];
      const answer = await send(
        apiKey,
        'POST',
        '/api/campaign-values-reports',
        {
          data: {
            type: 'campaign-values-report',
            attributes: {
              statistics: asked,
              timeframe: {
                start: klaviyoInstant(new Date(Math.max(earliest, end.getTime() - maxTimeframeMs))),
                end: klaviyoInstant(end),
              },
              conversion_metric_id: metric.id,
              filter: `contains-any(campaign_id,[${ids.map((id) => JSON.stringify(id)).join(',')}])`,
            },
          },
        },
        signal,
      );
      if (answer.status === 403) {
        for (const item of batch) {
          answers[item.publicationId] = {
            state: 'unavailable',
            reason: 'The Klaviyo API key cannot read campaign reports',
            missingScopes: ['campaigns:read'],
          };
        }
        continue;
      }
      if (!isSuccess(answer.status)) {
        const failure = failureOf(answer, apiKey);
        if (failure.class === 'RATE_LIMITED' && start > 0) return throttledRest(answers, items, failure);
        throw new PlatformError(failure);
      }
      const report = ValuesReport.safeParse(answer.body);
      if (!report.success) {
        throw new PlatformError({
          class: 'TRANSIENT',
          message: 'Unexpected answer from Klaviyo (values report)',
        });
      }
      // One row per campaign message (and send channel): a campaign's counts are their sum.
      const totals = new Map<string, Map<string, number>>();
      for (const row of report.data.data.attributes.results) {
        const sums = totals.get(row.groupings.campaign_id) ?? new Map<string, number>();
        for (const name of asked) {
          const value = row.statistics[name];
          if (typeof value === 'number') sums.set(name, (sums.get(name) ?? 0) + value);
        }
        totals.set(row.groupings.campaign_id, sums);
      }
      for (const item of batch) {
        const sums = totals.get(item.externalId);
        if (sums) {
          const metrics: MetricReading[] = [...sums].map(([name, value]) => ({
            metric: statistics[name] as MetricName,
            platformMetric: name,
            value,
          }));
          answers[item.publicationId] = { state: 'read', metrics };
        } else {
          // Not in the report: not sent yet or no data yet, unless Klaviyo no longer has the campaign.
          answers[item.publicationId] = (await exists(apiKey, item.externalId, signal))
            ? { state: 'unavailable', reason: 'Klaviyo has no report for this campaign yet' }
            : { state: 'deleted' };
        }
      }
    }
    return answers;
  };
}
