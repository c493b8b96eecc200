// The Meta simulator's insights (`GET /{id}/insights`): Instagram media and stories, Page posts and ads, with
// values that grow with the simulator's clock since publication (an ad's: since it has been running), the
// metrics Meta removed refused with #100 like Meta, the documented "does not exist" once an object is deleted,
// and Business Use Case throttling on demand.
import type { SimulatorResponse } from './simulator-server.ts';

/** A token as the insights check it. */
export interface ReportsToken {
  kind: 'user' | 'page';
  pageId?: string;
  scopes: string[];
}

/** What the simulator knows of an object insights are asked of. */
export type ReportTarget =
  | {
      kind: 'instagram_media' | 'instagram_story';
      igUserId: string;
      publishedAt: number;
      visible(token: ReportsToken): boolean;
    }
  | {
      kind: 'page_post';
      pageId: string;
      fanCount: number;
      publishedAt: number;
      visible(token: ReportsToken): boolean;
    }
  | {
      kind: 'ad';
      /** `act_{id}`. */
      accountId: string;
      currency: string;
      /** The status changes of the ad, its ad set and its campaign: it delivers while all three are ACTIVE. */
      chain: { status: string; at: Date }[][];
      visible(token: ReportsToken): boolean;
    };

interface GraphErrorFields {
  message: string;
  code: number;
  type?: string;
  error_subcode?: number;
}

export interface MetaReportsDependencies {
  clock: () => number;
  /** How long after its publication an Instagram item's insights answer no data. */
  insightsLagMs: number;
  find: (id: string) => ReportTarget | undefined;
  graphError: (
    status: number,
    fields: GraphErrorFields,
    headers?: Record<string, string>,
  ) => SimulatorResponse;
  unsupportedRequest: (method: string, id: string) => SimulatorResponse;
}

const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;

// Instagram media metrics (Graph API v22+); stories have no likes, comments nor saves.
const instagramMetrics = {
  feed: new Set([
    'views',
    'reach',
    'likes',
    'comments',
    'shares',
    'saved',
    'total_interactions',
    'follows',
    'profile_visits',
    'profile_activity',
  ]),
  story: new Set([
    'views',
    'reach',
    'shares',
    'total_interactions',
    'replies',
    'navigation',
    'follows',
    'profile_visits',
    'profile_activity',
  ]),
};
// Gone since Graph API v22.0 (2025): asking one fails the whole call.
const removedInstagramMetrics = new Set([
  'impressions',
  'plays',
  'video_views',
  'clips_replays_count',
  'ig_reels_aggregated_all_plays_count',
  'taps_forward',
  'taps_back',
  'exits',
]);
const pagePostMetrics = new Set([
  'post_media_view',
  'post_total_media_view_unique',
  'post_clicks',
  'post_clicks_by_type',
  'post_reactions_by_type_total',
  'post_reactions_like_total',
  'post_video_avg_time_watched',
]);
// Removed 2025-11 (post_impressions*) and earlier (post_engaged_users).
const removedPagePostMetrics = new Set([
  'post_impressions',
  'post_impressions_unique',
  'post_impressions_paid',
  'post_impressions_organic',
  'post_impressions_fan',
  'post_engaged_users',
]);
const adInsightsFields = new Set([
  'impressions',
  'reach',
  'clicks',
  'spend',
  'actions',
  'account_currency',
  'frequency',
  'cpc',
  'cpm',
  'ctr',
  'inline_link_clicks',
  'ad_id',
  'ad_name',
  'date_start',
  'date_stop',
  'action_values',
]);
const datePresets = new Set([
  'today',
  'yesterday',
  'last_3d',
  'last_7d',
  'last_14d',
  'last_28d',
  'last_30d',
  'last_90d',
  'this_month',
  'last_month',
  'maximum',
]);
/** Zero-decimal currencies among those Meta bills in (its spend comes without decimals). */
const zeroDecimal = new Set(['JPY', 'KRW', 'CLP', 'ISK', 'PYG', 'VND']);

/** A count that grows with the time elapsed, quickly at first: most activity comes early. */
const grow = (ratePerSqrtMinute: number, elapsedMs: number) =>
  Math.max(0, Math.floor(ratePerSqrtMinute * Math.sqrt(Math.max(0, elapsedMs) / minute)));

const ok = (body: unknown): SimulatorResponse => ({ status: 200, body });

export function createMetaReports(deps: MetaReportsDependencies) {
  const { clock, find, graphError, unsupportedRequest, insightsLagMs } = deps;
  /** Objects deleted on Meta's side (by their owner, or expired): every request on them answers #100/33. */
  const gone = new Set<string>();

  const permissionError = (permission: string) =>
    graphError(403, {
      message: `(#10) This endpoint requires the '${permission}' permission`,
      code: 10,
    });
  const invalidMetric = (index: number, allowed: Set<string>) =>
    graphError(400, {
      message: `(#100) metric[${index}] must be one of the following values: ${[...allowed].join(', ')}`,
      code: 100,
    });
  // (unconfirmed wording) Meta's refusal of a metric it retired.
  const removedMetric = (metric: string) =>
    graphError(400, {
      message: `(#100) Starting from version v22.0 and above, the ${metric} metric is no longer supported`,
      code: 100,
    });
  const metricsOf = (params: Record<string, unknown>): string[] | SimulatorResponse => {
    const raw = typeof params.metric === 'string' ? params.metric : '';
    const metrics = raw
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean);
    if (metrics.length === 0)
      return graphError(400, { message: '(#100) The parameter metric is required', code: 100 });
    return metrics;
  };
  const lifetime = (id: string, name: string, value: unknown) => ({
    name,
    period: 'lifetime',
    values: [{ value }],
    title: name,
    description: `Lifetime ${name} (simulated)`,
    id: `${id}/insights/${name}/lifetime`,
  });

  const instagramInsights = (
    id: string,
    target: Extract<ReportTarget, { kind: 'instagram_media' | 'instagram_story' }>,
    params: Record<string, unknown>,
    token: ReportsToken,
  ) => {
    if (!target.visible(token)) return unsupportedRequest('GET', id);
    if (!token.scopes.includes('instagram_manage_insights'))
      return permissionError('instagram_manage_insights');
    const metrics = metricsOf(params);
    if (!Array.isArray(metrics)) return metrics;
    const allowed = target.kind === 'instagram_story' ? instagramMetrics.story : instagramMetrics.feed;
    for (const [index, metric] of metrics.entries()) {
      if (removedInstagramMetrics.has(metric)) return removedMetric(metric);
      if (!allowed.has(metric)) return invalidMetric(index, allowed);
    }
    const age = clock() - target.publishedAt;
    // A story's insights live 24 hours; after that Instagram answers as for an object it no longer has.
    if (target.kind === 'instagram_story' && age >= day) return unsupportedRequest('GET', id);
    // Not computed yet in the first minutes: Meta answers with no data (it can lag up to 48 hours).
    if (age < insightsLagMs) return ok({ data: [] });
    const views = grow(40, age);
    const values: Record<string, number> = {
      views,
      reach: Math.floor(views * 0.7),
      likes: Math.floor(views / 10),
      comments: Math.floor(views / 40),
      shares: Math.floor(views / 60),
      saved: Math.floor(views / 80),
      replies: Math.floor(views / 90),
      follows: Math.floor(views / 200),
      profile_visits: Math.floor(views / 50),
      profile_activity: Math.floor(views / 70),
      navigation: Math.floor(views / 3),
    };
    values.total_interactions =
      (values.likes ?? 0) + (values.comments ?? 0) + (values.shares ?? 0) + (values.saved ?? 0);
    return ok({ data: metrics.map((metric) => lifetime(id, metric, values[metric] ?? 0)) });
  };

  const pagePostInsights = (
    id: string,
    target: Extract<ReportTarget, { kind: 'page_post' }>,
    params: Record<string, unknown>,
    token: ReportsToken,
  ) => {
    if (token.kind !== 'page') {
      return graphError(400, {
        message: '(#190) This method must be called with a Page Access Token',
        code: 190,
      });
    }
    if (!target.visible(token)) return unsupportedRequest('GET', id);
    for (const permission of ['read_insights', 'pages_read_engagement'])
      if (!token.scopes.includes(permission)) return permissionError(permission);
    const metrics = metricsOf(params);
    if (!Array.isArray(metrics)) return metrics;
    for (const [index, metric] of metrics.entries()) {
      if (removedPagePostMetrics.has(metric)) return invalidMetric(index, pagePostMetrics);
      if (!pagePostMetrics.has(metric)) return invalidMetric(index, pagePostMetrics);
    }
    // Page insights exist only for Pages with 100 likes or more.
    if (target.fanCount < 100) return ok({ data: [] });
    const age = clock() - target.publishedAt;
    const views = grow(60, age);
    const like = Math.floor(views / 12);
    const values: Record<string, unknown> = {
      post_media_view: views,
      post_total_media_view_unique: Math.floor(views * 0.6),
      post_clicks: Math.floor(views / 15),
      post_clicks_by_type: { 'link clicks': Math.floor(views / 20), 'other clicks': Math.floor(views / 60) },
      post_reactions_by_type_total: { like, love: Math.floor(like / 4), wow: Math.floor(like / 10) },
      post_reactions_like_total: like,
      post_video_avg_time_watched: 0,
    };
    return ok({ data: metrics.map((metric) => lifetime(id, metric, values[metric])) });
  };

  /** How long every level of the ad has been ACTIVE together, up to now. */
  const deliveringMs = (chain: { status: string; at: Date }[][]) => {
    const now = clock();
    const statusAt = (changes: { status: string; at: Date }[], at: number) =>
      changes.filter((change) => change.at.getTime() <= at).at(-1)?.status;
    const moments = [...new Set(chain.flat().map((change) => change.at.getTime()))].sort((a, b) => a - b);
    let total = 0;
    moments.forEach((from, index) => {
      const to = moments[index + 1] ?? now;
      if (chain.every((changes) => statusAt(changes, from) === 'ACTIVE')) total += Math.max(0, to - from);
    });
    return total;
  };

  const adInsights = (
    id: string,
    target: Extract<ReportTarget, { kind: 'ad' }>,
    params: Record<string, unknown>,
    token: ReportsToken,
  ) => {
    if (
      token.kind !== 'user' ||
      !target.visible(token) ||
      !token.scopes.some((scope) => scope === 'ads_read' || scope === 'ads_management')
    ) {
      return graphError(403, {
        message: '(#200) Requires ads_management or ads_read permission to manage the object',
        code: 200,
      });
    }
    const fields = (
      typeof params.fields === 'string' ? params.fields : 'impressions,spend,date_start,date_stop'
    )
      .split(',')
      .map((field) => field.trim())
      .filter(Boolean);
    const unknown = fields.find((field) => !adInsightsFields.has(field));
    if (unknown) {
      return graphError(400, {
        message: `(#100) ${unknown} is not valid for fields param. please check https://developers.facebook.com/docs/marketing-api/reference/ads-insights/ for all valid values`,
        code: 100,
      });
    }
    const preset = typeof params.date_preset === 'string' ? params.date_preset : undefined;
    if (preset !== undefined && !datePresets.has(preset)) {
      return graphError(400, {
        message: `(#100) date_preset must be one of the following values: ${[...datePresets].join(', ')}`,
        code: 100,
      });
    }
    const running = deliveringMs(target.chain);
    if (running <= 0) return ok({ data: [], paging: { cursors: { before: 'MAZDZD', after: 'MAZDZD' } } });
    const impressions = grow(300, running);
    const clicks = Math.floor(impressions / 40);
    const cents = Math.floor(impressions * 1.1);
    const spend = zeroDecimal.has(target.currency) ? String(cents) : (cents / 100).toFixed(2);
    const purchases = Math.floor(clicks / 25);
    const leads = Math.floor(clicks / 30);
    const all: Record<string, unknown> = {
      impressions: String(impressions),
      reach: String(Math.floor(impressions * 0.8)),
      clicks: String(clicks),
      inline_link_clicks: String(Math.floor(clicks * 0.8)),
      spend,
      account_currency: target.currency,
      frequency: '1.25',
      ctr: ((clicks / impressions) * 100).toFixed(6),
      cpc: clicks > 0 ? (cents / 100 / clicks).toFixed(6) : '0',
      cpm: ((cents / 100 / impressions) * 1000).toFixed(6),
      ad_id: id,
      ad_name: `Ad ${id}`,
      // Meta lists an aggregated type beside the pixel's own (`purchase` holds the pixel purchases too).
      actions: [
        { action_type: 'link_click', value: String(Math.floor(clicks * 0.8)) },
        { action_type: 'page_engagement', value: String(clicks) },
        { action_type: 'offsite_conversion.fb_pixel_purchase', value: String(purchases) },
        { action_type: 'offsite_conversion.fb_pixel_lead', value: String(leads) },
        { action_type: 'purchase', value: String(purchases) },
        { action_type: 'lead', value: String(leads) },
      ],
      action_values: [
        { action_type: 'offsite_conversion.fb_pixel_purchase', value: (purchases * 42).toFixed(2) },
      ],
      date_start: new Date(clock() - running).toISOString().slice(0, 10),
      date_stop: new Date(clock()).toISOString().slice(0, 10),
    };
    const row: Record<string, unknown> = {};
    for (const field of fields) row[field] = all[field];
    row.date_start = all.date_start;
    row.date_stop = all.date_stop;
    return ok({ data: [row], paging: { cursors: { before: 'MAZDZD', after: 'MAZDZD' } } });
  };

  return {
    /** Deleted on Meta's side: the simulator answers every request on it as Meta does for a missing object. */
    isGone: (id: string) => gone.has(id),
    /** GET /{id}/insights. */
    insights(id: string, params: Record<string, unknown>, token: ReportsToken): SimulatorResponse {
      const target = find(id);
      if (!target) return unsupportedRequest('GET', id);
      switch (target.kind) {
        case 'instagram_media':
        case 'instagram_story':
          return instagramInsights(id, target, params, token);
        case 'page_post':
          return pagePostInsights(id, target, params, token);
        case 'ad':
          return adInsights(id, target, params, token);
      }
    },
    /** A post, media or ad deleted by its owner (an ad gone with its account, for ads). */
    deleteObject(id: string) {
      gone.add(id);
    },
    /**
     * The throttle Meta answers once the object's Business Use Case budget is spent: 80000 (ads insights),
     * 80001 (Pages) or 80002 (Instagram), with X-Business-Use-Case-Usage saying when access comes back.
     */
    rateLimited(id: string, minutesToRegain = 5): SimulatorResponse {
      const target = find(id);
      const kind = target?.kind ?? 'page_post';
      const owner =
        target === undefined
          ? id
          : target.kind === 'ad'
            ? target.accountId.replace(/^act_/, '')
            : target.kind === 'page_post'
              ? target.pageId
              : target.igUserId;
      const type = kind === 'ad' ? 'ads_insights' : kind === 'page_post' ? 'pages' : 'instagram';
      const usage = {
        [owner]: [
          {
            type,
            call_count: 100,
            total_cputime: 30,
            total_time: 40,
            estimated_time_to_regain_access: minutesToRegain,
          },
        ],
      };
      const headers: Record<string, string> = { 'X-Business-Use-Case-Usage': JSON.stringify(usage) };
      if (kind === 'ad')
        headers['X-FB-Ads-Insights-Throttle'] = JSON.stringify({
          app_id_util_pct: 100,
          acc_id_util_pct: 100,
        });
      const error =
        kind === 'ad'
          ? {
              message:
                '(#80000) There have been too many calls from this ad-account. Wait a bit and try again.',
              code: 80000,
              error_subcode: 2446079,
            }
          : kind === 'page_post'
            ? {
                message:
                  '(#80001) There have been too many calls to this Page account. Wait a bit and try again.',
                code: 80001,
              }
            : {
                message:
                  '(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.',
                code: 80002,
              };
      return graphError(400, error, headers);
    },
  };
}
