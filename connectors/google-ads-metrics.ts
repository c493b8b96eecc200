// Google Ads' side of reading published campaigns back (SPEC §5 "Analytics"): one GAQL search per customer
// and hundred campaigns (`campaign.resource_name IN (…)`) for impressions, clicks, cost and conversions, a
// REMOVED campaign recorded as deleted. The search goes through the adapter's own request (its headers,
// among them `login-customer-id` for a client reached through a manager, and its error mapping).

import { z } from 'zod';
import type { MetricReading } from '../domain/metrics.ts';
import { microsPerMinorUnit } from '../domain/money.ts';
import { PlatformError } from '../domain/publication-errors.ts';
import { type MetricsAnswer, type MetricsContext, type MetricsItem, throttledRest } from './types.ts';

/** Campaigns named in one query: GAQL's IN takes many; this keeps a query short and its answer one page. */
export const googleAdsCampaignsPerQuery = 100;
const adwordsScope = 'https://www.googleapis.com/auth/adwords';

// proto3 JSON: int64 come as strings, and zero values are left out.
const int64 = z.union([z.string(), z.number()]).transform(Number).optional();
const SearchAnswer = z.object({
  results: z
    .array(
      z.object({
        campaign: z.object({ resourceName: z.string(), status: z.string().optional() }),
        customer: z.object({ currencyCode: z.string().optional() }).optional(),
        metrics: z
          .object({
            impressions: int64,
            clicks: int64,
            costMicros: int64,
            conversions: z.coerce.number().optional(),
          })
          .optional(),
      }),
    )
    .optional(),
});

type Search = (
  account: NonNullable<MetricsItem['account']>,
  accessToken: string,
  query: string,
  signal: AbortSignal | undefined,
) => Promise<unknown>;

const campaignOf = (item: MetricsItem) =>
  item.progress.googleAdsCampaign || `customers/${item.account?.externalId}/campaigns/${item.externalId}`;

export function createGoogleAdsMetrics(input: { search: Search }) {
  return async function collectMetrics(
    context: MetricsContext<{ accessToken: string }>,
  ): Promise<Record<string, MetricsAnswer>> {
    const answers: Record<string, MetricsAnswer> = {};
    const byCustomer = new Map<string, MetricsItem[]>();
    for (const item of context.items) {
      if (item.account?.kind !== 'ads_customer' || !/^\d+$/.test(item.account.externalId)) {
        answers[item.publicationId] = {
          state: 'unavailable',
          reason: 'No Google Ads customer to read it from',
        };
        continue;
      }
      byCustomer.set(item.account.externalId, [...(byCustomer.get(item.account.externalId) ?? []), item]);
    }
    for (const items of byCustomer.values()) {
      for (let start = 0; start < items.length; start += googleAdsCampaignsPerQuery) {
        const batch = items.slice(start, start + googleAdsCampaignsPerQuery);
        const names = [...new Set(batch.map(campaignOf))];
        const query =
          'SELECT campaign.resource_name, campaign.status, customer.currency_code, metrics.impressions, ' +
          'metrics.clicks, metrics.cost_micros, metrics.conversions FROM campaign ' +
          `WHERE campaign.resource_name IN (${names.map((name) => `'${name.replace(/'/g, '')}'`).join(', ')})`;
        let body: unknown;
        try {
          body = await input.search(
            batch[0]?.account as NonNullable<MetricsItem['account']>,
            context.credentials.accessToken,
            query,
            context.signal,
          );
        } catch (error) {
          if (!(error instanceof PlatformError)) throw error;
          if (error.failure.platformCode === 'ACCESS_TOKEN_SCOPE_INSUFFICIENT') {
            for (const item of batch) {
              answers[item.publicationId] = {
                state: 'unavailable',
                reason: 'The Google grant does not include Google Ads',
                missingScopes: [adwordsScope],
              };
            }
            continue;
          }
          if (error.failure.class === 'RATE_LIMITED' && Object.keys(answers).length > 0)
            return throttledRest(answers, context.items, error.failure);
          throw error;
        }
        const parsed = SearchAnswer.safeParse(body);
        if (!parsed.success) {
          throw new PlatformError({
            class: 'TRANSIENT',
            message: 'Google answered googleAds:search in an odd shape',
          });
        }
        const rows = new Map((parsed.data.results ?? []).map((row) => [row.campaign.resourceName, row]));
        for (const item of batch) {
          const row = rows.get(campaignOf(item));
          if (!row) {
            answers[item.publicationId] = {
              state: 'unavailable',
              reason: 'Google Ads returned no row for this campaign',
            };
            continue;
          }
          if (row.campaign.status === 'REMOVED') {
            answers[item.publicationId] = { state: 'deleted' };
            continue;
          }
          const metrics = row.metrics ?? {};
          const currency = row.customer?.currencyCode;
          // In the currency's minor units (domain/money.ts), like every other platform's spend (KWD has 1000).
          const microsPerMinor = microsPerMinorUnit(currency ?? 'USD');
          const readings: MetricReading[] = [
            { metric: 'impressions', platformMetric: 'metrics.impressions', value: metrics.impressions ?? 0 },
            { metric: 'clicks', platformMetric: 'metrics.clicks', value: metrics.clicks ?? 0 },
            {
              metric: 'spend_minor',
              platformMetric: 'metrics.cost_micros',
              value: Math.round((metrics.costMicros ?? 0) / microsPerMinor),
              ...(currency ? { currency } : {}),
            },
            { metric: 'conversions', platformMetric: 'metrics.conversions', value: metrics.conversions ?? 0 },
          ];
          answers[item.publicationId] = { state: 'read', metrics: readings };
        }
      }
    }
    return answers;
  };
}
