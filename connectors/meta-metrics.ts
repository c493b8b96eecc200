// Reading Meta's published items back (PLATFORMS.md "Analytics"): Instagram media and story insights, Facebook
// Page post insights and Facebook ad insights, one Graph call per item at its documented endpoint, under the
// normalised metric names of domain/metrics.ts.

import { z } from 'zod';
import type { MetricReading } from '../domain/metrics.ts';
import { minorUnitsPer } from '../domain/money.ts';
import { PlatformError } from '../domain/publication-errors.ts';
import type { GraphCall } from './meta-ads.ts';
import type { MetricsAnswer, MetricsContext, MetricsItem } from './types.ts';

/** What reading insights needs of the connection: the user token and the Pages' tokens. */
interface InsightsCredentials {
  userAccessToken: string;
  pages: Record<string, { name: string; accessToken: string; instagramAccountId?: string }>;
}

/**
 * The permissions only reading insights needs: asked at connect, never required to connect or publish. A grant
 * without one answers `unavailable` with it in `missingScopes` ("Reconnect to read insights").
 */
export const metaInsightsScopes = ['instagram_manage_insights', 'read_insights', 'ads_read'] as const;

/**
 * Instagram media insights Meta still serves (impressions, plays and video_views are gone since 2025, and one
 * of them fails the whole call with #100). Stories have no likes, comments nor saves. total_interactions is
 * not read: it sums the others and has no normalised name.
 */
const instagramMetrics = {
  instagram_post: {
    views: 'views',
    reach: 'reach',
    likes: 'likes',
    comments: 'comments',
    shares: 'shares',
    saved: 'saves',
  },
  instagram_story: { views: 'views', reach: 'reach', shares: 'shares' },
} as const satisfies Record<string, Record<string, MetricReading['metric']>>;

/**
 * Page post insights since post_impressions* were removed (2025-11 / 2026-06): views (times on screen), viewers,
 * clicks and reactions by type (all kinds summed as likes, as LinkedIn's likeCount counts every reaction).
 */
const pagePostMetrics = {
  post_media_view: 'views',
  post_total_media_view_unique: 'reach',
  post_clicks: 'clicks',
  post_reactions_by_type_total: 'likes',
} as const satisfies Record<string, MetricReading['metric']>;

/**
 * The ad insights read over the ad's whole life (date_preset=maximum); account_currency says what `spend` is in.
 * Conversions are the website conversions a Meta pixel reports that an epic's ads aim at: purchases, leads and
 * completed registrations (the aggregated `purchase`/`lead` types also count app and on-Facebook ones, and
 * overlap these: not added).
 */
const adFields = 'impressions,reach,clicks,spend,actions,account_currency';
export const metaConversionActionTypes = [
  'offsite_conversion.fb_pixel_purchase',
  'offsite_conversion.fb_pixel_lead',
  'offsite_conversion.fb_pixel_complete_registration',
] as const;

/** Instagram keeps a story's insights for 24 hours after it was posted. */
const storyInsightsLifetimeMs = 24 * 60 * 60_000;

const Permissions = z.object({ data: z.array(z.object({ permission: z.string(), status: z.string() })) });
const InsightValue = z.union([z.number(), z.record(z.string(), z.number())]);
const Insights = z.object({
  data: z.array(
    z.object({
      name: z.string(),
      values: z.array(z.object({ value: InsightValue })).optional(),
      total_value: z.object({ value: InsightValue }).optional(),
    }),
  ),
});
const Count = z.coerce.number().finite();
const AdInsights = z.object({
  data: z.array(
    z.object({
      impressions: Count.optional(),
      reach: Count.optional(),
      clicks: Count.optional(),
      spend: z.string().optional(),
      account_currency: z.string().optional(),
      actions: z.array(z.object({ action_type: z.string(), value: Count })).optional(),
    }),
  ),
});

const unavailable = (reason: string, missingScopes?: string[]): MetricsAnswer => ({
  state: 'unavailable',
  reason,
  ...(missingScopes ? { missingScopes } : {}),
});

/** "12.34" in the account's currency as minor units (1234), exactly: no float rounding of the decimal text. */
export function spendToMinor(spend: string, currency: string): number | null {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(spend.trim());
  if (!match) return null;
  const per = minorUnitsPer(currency);
  const digits = Math.round(Math.log10(per));
  const fraction = (match[2] ?? '').padEnd(digits, '0');
  // Meta gives spend to the currency's precision; a longer fraction is rounded to the nearest minor unit.
  const whole = Number(match[1]) * per + Number(fraction.slice(0, digits) || '0');
  const rest = fraction.slice(digits);
  return rest && Number(rest[0]) >= 5 ? whole + 1 : whole;
}

export function createMetaMetrics(input: { graph: GraphCall; now: () => Date }) {
  const { graph, now } = input;

  /** What the user token was granted, once per collection (null: Meta would not say; then each call tells). */
  async function grantedPermissions(token: string, signal: AbortSignal | undefined): Promise<Set<string>> {
    const answer = await graph(Permissions, { method: 'GET', path: '/me/permissions', token, signal });
    return new Set(
      answer.data.filter((entry) => entry.status === 'granted').map((entry) => entry.permission),
    );
  }

  /**
   * One item's refusal as its answer: a Graph "does not exist" is a deleted object, a permission refusal or
   * another request error is this item's; a dead token, a rate limit or an outage is the whole read's (thrown).
   */
  function answerFor(error: unknown, what: string, mayBeGone = true): MetricsAnswer {
    if (!(error instanceof PlatformError)) throw error;
    const { failure } = error;
    if (failure.class === 'INVALID_REQUEST' && failure.platformCode === '100/33') {
      return mayBeGone
        ? { state: 'deleted' }
        : unavailable(`${what} can no longer be read: ${failure.message}`);
    }
    if (failure.class === 'PERMISSION_REVOKED') {
      // #10/#200 on insights although the grant holds the scope (checked before): the person's task on the
      // Page (ANALYZE) does not cover them. Never a reason to flip the connector: publishing may still work.
      return unavailable(
        `Meta refuses ${what}'s insights (the Page task ANALYZE is needed): ${failure.message}`,
      );
    }
    if (failure.class === 'INVALID_REQUEST' || failure.class === 'CONTENT_REJECTED')
      return unavailable(`Meta refuses ${what}'s insights: ${failure.message}`);
    throw error;
  }

  function valuesOf(answer: z.infer<typeof Insights>) {
    const values = new Map<string, number>();
    for (const entry of answer.data) {
      const raw = entry.values?.at(-1)?.value ?? entry.total_value?.value;
      if (raw === undefined) continue;
      values.set(entry.name, typeof raw === 'number' ? raw : Object.values(raw).reduce((a, b) => a + b, 0));
    }
    return values;
  }

  async function instagram(
    item: MetricsItem,
    credentials: InsightsCredentials,
    granted: Set<string>,
    signal: AbortSignal | undefined,
  ): Promise<MetricsAnswer> {
    const channel = item.channel as 'instagram_post' | 'instagram_story';
    if (
      channel === 'instagram_story' &&
      now().getTime() - item.publishedAt.getTime() >= storyInsightsLifetimeMs
    )
      return unavailable('Instagram keeps a story’s insights for 24 hours only; the last reading stays');
    if (!granted.has('instagram_manage_insights'))
      return unavailable('The Meta grant lacks instagram_manage_insights', ['instagram_manage_insights']);
    // Publishing keeps the container id when Meta's answer naming the media was lost: no insights reach it.
    if (item.progress.mediaId !== item.externalId && item.progress.containerId === item.externalId)
      return unavailable(
        'Meta never named the published media (its answer was lost), so its insights cannot be read',
      );
    const page = Object.values(credentials.pages).find(
      (candidate) => candidate.instagramAccountId === item.account?.externalId,
    );
    if (!page) return unavailable('No connected Facebook Page links this Instagram account any more');
    const names = instagramMetrics[channel];
    let answer: z.infer<typeof Insights>;
    try {
      answer = await graph(Insights, {
        method: 'GET',
        path: `/${item.externalId}/insights`,
        params: { metric: Object.keys(names).join(',') },
        token: page.accessToken,
        signal,
      });
    } catch (error) {
      // A story past its day is gone from Instagram's side, not deleted by anyone.
      const fresh =
        channel !== 'instagram_story' ||
        now().getTime() - item.publishedAt.getTime() < storyInsightsLifetimeMs - 60 * 60_000;
      return answerFor(error, 'this Instagram media', fresh);
    }
    return readings(
      valuesOf(answer),
      names,
      'Instagram has no insights for this media yet (they can take up to 48 hours)',
    );
  }

  async function pagePost(
    item: MetricsItem,
    credentials: InsightsCredentials,
    granted: Set<string>,
    signal: AbortSignal | undefined,
  ): Promise<MetricsAnswer> {
    const missing = ['read_insights', 'pages_read_engagement'].filter((scope) => !granted.has(scope));
    if (missing.length > 0) return unavailable(`The Meta grant lacks ${missing.join(', ')}`, missing);
    const pageId = item.account?.externalId ?? item.externalId.split('_')[0] ?? '';
    const page = credentials.pages[pageId];
    if (!page) return unavailable('This Facebook Page is no longer among the connected Pages');
    let answer: z.infer<typeof Insights>;
    try {
      answer = await graph(Insights, {
        method: 'GET',
        path: `/${item.externalId}/insights`,
        params: { metric: Object.keys(pagePostMetrics).join(',') },
        token: page.accessToken,
        signal,
      });
    } catch (error) {
      return answerFor(error, 'this Page post');
    }
    return readings(
      valuesOf(answer),
      pagePostMetrics,
      // Meta computes Page insights about once a day, and only for Pages with 100 likes or more.
      `Meta has no insights for this post of ${page.name}: a Page under 100 likes has none, else Meta has not computed them yet (about daily)`,
    );
  }

  async function ad(
    item: MetricsItem,
    credentials: InsightsCredentials,
    granted: Set<string>,
    signal: AbortSignal | undefined,
  ): Promise<MetricsAnswer> {
    if (!granted.has('ads_read') && !granted.has('ads_management'))
      return unavailable('The Meta grant lacks ads_read', ['ads_read']);
    let answer: z.infer<typeof AdInsights>;
    try {
      answer = await graph(AdInsights, {
        method: 'GET',
        path: `/${item.externalId}/insights`,
        params: { fields: adFields, date_preset: 'maximum' },
        token: credentials.userAccessToken,
        signal,
      });
    } catch (error) {
      return answerFor(error, 'this ad');
    }
    const row = answer.data[0];
    if (!row) return unavailable('Meta has no insights for this ad yet: it has not been delivered');
    const metrics: MetricReading[] = [];
    const add = (
      metric: MetricReading['metric'],
      platformMetric: string,
      value: number | undefined | null,
    ) => {
      if (value !== undefined && value !== null && Number.isFinite(value))
        metrics.push({ metric, platformMetric, value });
    };
    add('impressions', 'impressions', row.impressions);
    add('reach', 'reach', row.reach);
    add('clicks', 'clicks', row.clicks);
    const spend =
      row.spend !== undefined && row.account_currency ? spendToMinor(row.spend, row.account_currency) : null;
    if (spend !== null && row.account_currency)
      metrics.push({
        metric: 'spend_minor',
        platformMetric: 'spend',
        value: spend,
        currency: row.account_currency,
      });
    const counted = (row.actions ?? []).filter((action) =>
      (metaConversionActionTypes as readonly string[]).includes(action.action_type),
    );
    add(
      'conversions',
      `actions:${metaConversionActionTypes.join('+')}`,
      counted.reduce((sum, action) => sum + action.value, 0),
    );
    return { state: 'read', metrics };
  }

  function readings(
    values: Map<string, number>,
    names: Record<string, MetricReading['metric']>,
    noData: string,
  ): MetricsAnswer {
    const metrics: MetricReading[] = [];
    for (const [platformMetric, metric] of Object.entries(names)) {
      const value = values.get(platformMetric);
      if (value !== undefined && Number.isFinite(value)) metrics.push({ metric, platformMetric, value });
    }
    return metrics.length === 0 ? unavailable(noData) : { state: 'read', metrics };
  }

  /**
   * Reads each item at its endpoint, one after the other (Meta's Business Use Case limits count per Page,
   * Instagram account and ad account). A rate limit, a dead token or an outage ends the whole read (thrown),
   * the items already read included: they are asked again once the limit allows.
   */
  async function collectMetrics(
    context: MetricsContext<InsightsCredentials>,
  ): Promise<Record<string, MetricsAnswer>> {
    const { credentials, signal } = context;
    const answers: Record<string, MetricsAnswer> = {};
    if (context.items.length === 0) return answers;
    const granted = await grantedPermissions(credentials.userAccessToken, signal);
    for (const item of context.items) {
      switch (item.channel) {
        case 'instagram_post':
        case 'instagram_story':
          answers[item.publicationId] = await instagram(item, credentials, granted, signal);
          break;
        case 'facebook_post':
          answers[item.publicationId] = await pagePost(item, credentials, granted, signal);
          break;
        case 'facebook_ad':
          answers[item.publicationId] = await ad(item, credentials, granted, signal);
          break;
        default:
          answers[item.publicationId] = unavailable(`Meta does not measure ${item.channel}`);
      }
    }
    return answers;
  }

  return { collectMetrics };
}
