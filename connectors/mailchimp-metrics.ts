// Mailchimp's side of reading published campaigns back (SPEC §5 "Analytics"): `GET /reports/{campaign_id}`
// per campaign, opens without Apple Mail Privacy Protection's machine opens when Mailchimp gives them
// (`proxy_excluded_*`), a report that is not found told apart as a deleted campaign or one with no report yet.
import { z } from 'zod';
import type { MetricReading } from '../domain/metrics.ts';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { type HttpAnswer, isSuccess } from './http.ts';
import { type MetricsAnswer, type MetricsContext, throttledRest } from './types.ts';

const count = z.coerce.number().nullish();
/** Only the counts read; the report carries rates and much more. */
const CampaignReport = z.object({
  emails_sent: count,
  unsubscribed: count,
  bounces: z.object({ hard_bounces: count, soft_bounces: count }).nullish(),
  opens: z
    .object({
      opens_total: count,
      unique_opens: count,
      proxy_excluded_opens: count,
      proxy_excluded_unique_opens: count,
    })
    .nullish(),
  clicks: z.object({ clicks_total: count }).nullish(),
  ecommerce: z.object({ total_orders: count }).nullish(),
});

type Call<Credentials> = (
  credentials: Credentials,
  method: string,
  path: string,
  json?: unknown,
  signal?: AbortSignal,
) => Promise<HttpAnswer>;

/** The readings of one report: counts only, under the normalised names, Mailchimp's field kept. */
export function mailchimpReadings(report: z.infer<typeof CampaignReport>): MetricReading[] {
  const readings: MetricReading[] = [];
  const add = (metric: MetricReading['metric'], platformMetric: string, value: number | null | undefined) => {
    if (typeof value === 'number' && Number.isFinite(value)) readings.push({ metric, platformMetric, value });
  };
  const { opens, bounces } = report;
  // Apple Mail Privacy Protection opens every message it receives: the proxy-excluded counts are real opens.
  if (typeof opens?.proxy_excluded_opens === 'number') {
    add('opens', 'opens.proxy_excluded_opens', opens.proxy_excluded_opens);
  } else add('opens', 'opens.opens_total', opens?.opens_total);
  if (typeof opens?.proxy_excluded_unique_opens === 'number') {
    add('unique_opens', 'opens.proxy_excluded_unique_opens', opens.proxy_excluded_unique_opens);
  } else add('unique_opens', 'opens.unique_opens', opens?.unique_opens);
  add('clicks', 'clicks.clicks_total', report.clicks?.clicks_total);
  if (bounces && (typeof bounces.hard_bounces === 'number' || typeof bounces.soft_bounces === 'number')) {
    add(
      'bounces',
      'bounces.hard_bounces+soft_bounces',
      (bounces.hard_bounces ?? 0) + (bounces.soft_bounces ?? 0),
    );
  }
  add('unsubscribes', 'unsubscribed', report.unsubscribed);
  add('conversions', 'ecommerce.total_orders', report.ecommerce?.total_orders);
  return readings;
}

export function createMailchimpMetrics<Credentials>(input: {
  call: Call<Credentials>;
  /** The adapter's own mapping of an answer that is not a success (secrets scrubbed). */
  failureOf: (answer: HttpAnswer, credentials: Credentials) => PublicationFailure;
}) {
  const { call, failureOf } = input;
  return async function collectMetrics(
    context: MetricsContext<Credentials>,
  ): Promise<Record<string, MetricsAnswer>> {
    const { credentials, signal } = context;
    const answers: Record<string, MetricsAnswer> = {};
    // One report per campaign, one at a time: Mailchimp refuses more than 10 simultaneous connections.
    for (const item of context.items) {
      const id = encodeURIComponent(item.externalId);
      const answer = await call(credentials, 'GET', `/reports/${id}`, undefined, signal);
      if (answer.status === 404) {
        // No report: the campaign was deleted, or it has not gone out (its report appears once it sends).
        const campaign = await call(
          credentials,
          'GET',
          `/campaigns/${id}?fields=id,status`,
          undefined,
          signal,
        );
        if (campaign.status === 404) answers[item.publicationId] = { state: 'deleted' };
        else if (isSuccess(campaign.status)) {
          answers[item.publicationId] = { state: 'unavailable', reason: 'Mailchimp has no report yet' };
        } else throw new PlatformError(failureOf(campaign, credentials));
        continue;
      }
      if (!isSuccess(answer.status)) {
        const failure = failureOf(answer, credentials);
        if (failure.class === 'RATE_LIMITED' && Object.keys(answers).length > 0)
          return throttledRest(answers, context.items, failure);
        throw new PlatformError(failure);
      }
      const report = CampaignReport.safeParse(answer.body);
      if (!report.success) {
        throw new PlatformError({ class: 'TRANSIENT', message: 'Unexpected answer from Mailchimp (report)' });
      }
      answers[item.publicationId] = { state: 'read', metrics: mailchimpReadings(report.data) };
    }
    return answers;
  };
}
