// Reading TikTok's published videos back (PLATFORMS.md "Analytics"): POST /v2/video/query/ with up to 20 public
// video ids per call, the counts under the normalised names of domain/metrics.ts.
import { z } from 'zod';
import type { MetricReading } from '../domain/metrics.ts';
import { PlatformError } from '../domain/publication-errors.ts';
import type { MetricsAnswer, MetricsContext } from './types.ts';

/** The scope only reading the videos' counts needs: asked at connect, never required to connect or publish. */
export const tiktokInsightsScopes = ['video.list'] as const;

/** TikTok's most ids per video/query. */
export const tiktokVideoQueryBatch = 20;
// TikTok counts on a one-minute sliding window and documents no Retry-After: a throttled read waits that long.
const rateLimitWindowMs = 60_000;

const countFields = {
  view_count: 'views',
  like_count: 'likes',
  comment_count: 'comments',
  share_count: 'shares',
} as const satisfies Record<string, MetricReading['metric']>;
const videoQueryPath = `/v2/video/query/?fields=id,${Object.keys(countFields).join(',')}`;

const VideoQuery = z.object({
  data: z.object({
    videos: z
      .array(z.object({ id: z.union([z.string(), z.number()]).transform(String) }).catchall(z.unknown()))
      .default([]),
  }),
});

/** One POST of the adapter to TikTok's API (its transport, its error mapping, its answer check). */
export type TikTokPost = <T>(
  schema: z.ZodType<T>,
  path: string,
  accessToken: string,
  body: unknown,
  signal: AbortSignal | undefined,
) => Promise<T>;

interface VideoCredentials {
  accessToken: string;
  scopes: string[];
  /** The TikTok user the token speaks for: video/query answers only that user's videos. */
  openId: string;
}

export function createTikTokMetrics(input: {
  post: TikTokPost;
  /** The progress key under which publishing keeps the interim publish_id. */
  publishIdKey: string;
  privacyLevelKey: string;
}) {
  const { post } = input;

  async function collectMetrics(
    context: MetricsContext<VideoCredentials>,
  ): Promise<Record<string, MetricsAnswer>> {
    const { credentials, signal } = context;
    const answers: Record<string, MetricsAnswer> = {};
    const byVideo = new Map<string, string[]>();
    for (const item of context.items) {
      if (!credentials.scopes.includes('video.list')) {
        answers[item.publicationId] = {
          state: 'unavailable',
          reason: 'The TikTok grant lacks video.list',
          missingScopes: ['video.list'],
        };
      } else if (item.account && item.account.externalId !== credentials.openId) {
        // Published from the TikTok account connected before: this token cannot see it, which says nothing
        // of whether it still exists there.
        answers[item.publicationId] = {
          state: 'unavailable',
          reason:
            'Published from another TikTok account than the one connected now: reconnect that account to read it',
        };
      } else if (item.externalId === item.progress[input.publishIdKey]) {
        // Still under its publish_id: video/query knows public post ids only.
        answers[item.publicationId] = {
          state: 'unavailable',
          reason:
            item.progress[input.privacyLevelKey] === 'SELF_ONLY'
              ? 'A private (SELF_ONLY) TikTok post gets no public id: TikTok gives no counts for it'
              : 'TikTok has not yet named the public post (moderation is not done)',
        };
      } else {
        byVideo.set(item.externalId, [...(byVideo.get(item.externalId) ?? []), item.publicationId]);
      }
    }
    const ids = [...byVideo.keys()];
    for (let start = 0; start < ids.length; start += tiktokVideoQueryBatch) {
      const batch = ids.slice(start, start + tiktokVideoQueryBatch);
      let answer: z.infer<typeof VideoQuery>;
      try {
        answer = await post(
          VideoQuery,
          videoQueryPath,
          credentials.accessToken,
          { filters: { video_ids: batch } },
          signal,
        );
      } catch (error) {
        if (!(error instanceof PlatformError)) throw error;
        if (error.failure.class === 'RATE_LIMITED' && error.failure.retryAfterMs === undefined)
          throw new PlatformError({ ...error.failure, retryAfterMs: rateLimitWindowMs });
        // scope_not_authorized although the grant listed video.list: the scope was withdrawn since. Publishing
        // does not need it, so the connector is not flipped: these items say what is missing.
        if (
          error.failure.class === 'PERMISSION_REVOKED' &&
          error.failure.platformCode?.startsWith('scope_')
        ) {
          for (const id of batch)
            for (const publicationId of byVideo.get(id) ?? [])
              answers[publicationId] = {
                state: 'unavailable',
                reason: `TikTok refuses video/query: ${error.failure.message}`,
                missingScopes: ['video.list'],
              };
          continue;
        }
        throw error;
      }
      const found = new Map(answer.data.videos.map((video) => [video.id, video]));
      for (const id of batch) {
        const video = found.get(id);
        const metrics: MetricReading[] = [];
        for (const [platformMetric, metric] of Object.entries(countFields)) {
          const value = Number(video?.[platformMetric]);
          if (video?.[platformMetric] !== undefined && Number.isFinite(value))
            metrics.push({ metric, platformMetric, value });
        }
        // video/query answers only the user's videos it still has: one left out was deleted (or removed by
        // TikTok), and will not come back.
        const result: MetricsAnswer = video ? { state: 'read', metrics } : { state: 'deleted' };
        for (const publicationId of byVideo.get(id) ?? []) answers[publicationId] = result;
      }
    }
    return answers;
  }

  return { collectMetrics };
}
