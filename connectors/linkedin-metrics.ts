// Reading LinkedIn's published posts back (PLATFORMS.md "Analytics"): organizationalEntityShareStatistics, one
// call per organization for many posts (shares=List(…)&ugcPosts=List(…)), lifetime totals under the normalised
// names of domain/metrics.ts. Organic statistics only; LinkedIn keeps a rolling 12 months.
import { z } from 'zod';
import type { MetricReading } from '../domain/metrics.ts';
import { PlatformError } from '../domain/publication-errors.ts';
import type { HttpAnswer } from './http.ts';
import type { MetricsAnswer, MetricsContext, MetricsItem } from './types.ts';

/** The scope only reading share statistics needs (ADMINISTRATOR role): never required to connect or publish. */
export const linkedinInsightsScopes = ['rw_organization_admin'] as const;

/** Posts per statistics call: LinkedIn names no maximum; this keeps the URL well within bounds. */
export const linkedinStatisticsBatch = 50;

const statisticNames = {
  impressionCount: 'impressions',
  uniqueImpressionsCount: 'reach',
  clickCount: 'clicks',
  likeCount: 'likes',
  commentCount: 'comments',
  shareCount: 'shares',
} as const satisfies Record<string, MetricReading['metric']>;

const ShareStatistics = z.object({
  elements: z.array(
    z.object({
      share: z.string().optional(),
      ugcPost: z.string().optional(),
      totalShareStatistics: z.record(z.string(), z.unknown()).default({}),
    }),
  ),
});

/** One REST call of the LinkedIn adapter (its version pin, Rest.li 2.0 headers, error mapping). */
export type LinkedInRestCall = (request: {
  method: 'GET';
  path: string;
  query?: string;
  accessToken: string;
  signal?: AbortSignal | undefined;
}) => Promise<HttpAnswer>;

interface StatisticsCredentials {
  accessToken: string;
  scopes: string[];
}

/** LinkedIn's limits are per day (reset at midnight UTC) and it documents no Retry-After. */
function untilMidnightUtc(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(60_000, next - now.getTime());
}

export function createLinkedInMetrics(input: { restCall: LinkedInRestCall; now: () => Date }) {
  const { restCall, now } = input;

  const list = (urns: string[]) => `List(${urns.map(encodeURIComponent).join(',')})`;

  /** The whole read is refused: a throttle without Retry-After waits for LinkedIn's daily reset. */
  function rethrow(error: unknown): never {
    if (
      error instanceof PlatformError &&
      error.failure.class === 'RATE_LIMITED' &&
      error.failure.retryAfterMs === undefined
    )
      throw new PlatformError({ ...error.failure, retryAfterMs: untilMidnightUtc(now()) });
    throw error;
  }

  /** A post the statistics left out: gone (the Posts API's 404) or not counted yet. */
  async function absent(
    urn: string,
    credentials: StatisticsCredentials,
    signal: AbortSignal | undefined,
  ): Promise<MetricsAnswer> {
    try {
      await restCall({
        method: 'GET',
        path: `/rest/posts/${encodeURIComponent(urn)}`,
        accessToken: credentials.accessToken,
        signal,
      });
    } catch (error) {
      // The Posts API's 404 (NOT_FOUND): the post was deleted.
      if (
        error instanceof PlatformError &&
        (error.failure.platformCode === 'NOT_FOUND' ||
          (error.failure.class === 'INVALID_REQUEST' &&
            /not found|does not exist/i.test(error.failure.message)))
      )
        return { state: 'deleted' };
      if (error instanceof PlatformError && error.failure.class === 'PERMISSION_REVOKED')
        return { state: 'unavailable', reason: `LinkedIn will not show this post: ${error.failure.message}` };
      return rethrow(error);
    }
    return { state: 'unavailable', reason: 'LinkedIn has no statistics for this post yet' };
  }

  async function readOrganization(
    organization: string,
    items: MetricsItem[],
    credentials: StatisticsCredentials,
    signal: AbortSignal | undefined,
    answers: Record<string, MetricsAnswer>,
  ) {
    for (let start = 0; start < items.length; start += linkedinStatisticsBatch) {
      const batch = items.slice(start, start + linkedinStatisticsBatch);
      const shares = batch
        .filter((item) => item.externalId.startsWith('urn:li:share:'))
        .map((item) => item.externalId);
      const ugcPosts = batch
        .filter((item) => item.externalId.startsWith('urn:li:ugcPost:'))
        .map((item) => item.externalId);
      const query = [
        'q=organizationalEntity',
        `organizationalEntity=${encodeURIComponent(organization)}`,
        ...(shares.length > 0 ? [`shares=${list(shares)}`] : []),
        ...(ugcPosts.length > 0 ? [`ugcPosts=${list(ugcPosts)}`] : []),
      ].join('&');
      let answer: HttpAnswer;
      try {
        answer = await restCall({
          method: 'GET',
          path: '/rest/organizationalEntityShareStatistics',
          query,
          accessToken: credentials.accessToken,
          signal,
        });
      } catch (error) {
        // 403 with the scope granted: the member is not an ADMINISTRATOR of this organization (a content admin
        // posts but cannot read statistics). These posts only; publishing is untouched.
        if (error instanceof PlatformError && error.failure.class === 'PERMISSION_REVOKED') {
          for (const item of batch)
            answers[item.publicationId] = {
              state: 'unavailable',
              reason: `LinkedIn shows this organization's statistics to its administrators only: ${error.failure.message}`,
            };
          continue;
        }
        rethrow(error);
      }
      const parsed = ShareStatistics.safeParse(answer.body);
      if (!parsed.success)
        throw new PlatformError({
          class: 'TRANSIENT',
          message: 'LinkedIn answered the share statistics in an odd shape',
        });
      const byPost = new Map(
        parsed.data.elements.map((element) => [element.share ?? element.ugcPost ?? '', element]),
      );
      for (const item of batch) {
        const element = byPost.get(item.externalId);
        if (!element) {
          answers[item.publicationId] = await absent(item.externalId, credentials, signal);
          continue;
        }
        const metrics: MetricReading[] = [];
        for (const [platformMetric, metric] of Object.entries(statisticNames)) {
          const value = element.totalShareStatistics[platformMetric];
          if (typeof value === 'number' && Number.isFinite(value))
            metrics.push({ metric, platformMetric, value });
        }
        answers[item.publicationId] = { state: 'read', metrics };
      }
    }
  }

  async function collectMetrics(
    context: MetricsContext<StatisticsCredentials>,
  ): Promise<Record<string, MetricsAnswer>> {
    const { credentials, signal } = context;
    const answers: Record<string, MetricsAnswer> = {};
    const byOrganization = new Map<string, MetricsItem[]>();
    for (const item of context.items) {
      const organization = item.account?.externalId;
      if (!credentials.scopes.includes('rw_organization_admin')) {
        answers[item.publicationId] = {
          state: 'unavailable',
          reason: 'The LinkedIn grant lacks rw_organization_admin',
          missingScopes: ['rw_organization_admin'],
        };
      } else if (
        !organization?.startsWith('urn:li:organization:') ||
        !/^urn:li:(share|ugcPost):/.test(item.externalId)
      ) {
        answers[item.publicationId] = {
          state: 'unavailable',
          reason: 'Not an organization’s post: LinkedIn gives no statistics for it',
        };
      } else {
        byOrganization.set(organization, [...(byOrganization.get(organization) ?? []), item]);
      }
    }
    for (const [organization, items] of byOrganization)
      await readOrganization(organization, items, credentials, signal, answers);
    return answers;
  }

  return { collectMetrics };
}
