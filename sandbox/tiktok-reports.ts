// The TikTok simulator's video/query (`POST /v2/video/query/?fields=…`, scope video.list): the user's public
// videos by id, at most 20 per call, with counts that grow with the simulator's clock since the post; a video
// its owner deleted is simply left out of the answer, as TikTok leaves out ids it does not have.
import type { SimulatorResponse } from './simulator-server.ts';

/** A public video as video/query sees it. */
export interface ReportedVideo {
  id: string;
  openId: string;
  title: string | undefined;
  createdAt: number;
}

export interface TikTokReportsDependencies {
  clock: () => number;
  /** The user's videos that moderation named (public ids), as they stand now. */
  videos: () => ReportedVideo[];
  apiError: (code: string, message: string) => SimulatorResponse;
  logId: () => string;
  /** TikTok's limit per token and minute (600). */
  perMinute: number;
}

const videoFields = new Set([
  'id',
  'create_time',
  'cover_image_url',
  'share_url',
  'video_description',
  'duration',
  'height',
  'width',
  'title',
  'embed_html',
  'embed_link',
  'like_count',
  'comment_count',
  'share_count',
  'view_count',
]);
const maxIds = 20;

/** A count that grows with the time elapsed, quickly at first. */
const grow = (rate: number, elapsedMs: number) =>
  Math.floor(rate * Math.sqrt(Math.max(0, elapsedMs) / 60_000));

export function createTikTokReports(deps: TikTokReportsDependencies) {
  const deleted = new Set<string>();
  const calls = new Map<string, number[]>();

  const videoQuery = (
    request: { query: Record<string, string>; body: unknown; headers: Record<string, string> },
    token: { scopes: string[] },
  ): SimulatorResponse => {
    if (!token.scopes.includes('video.list')) {
      return deps.apiError(
        'scope_not_authorized',
        'The user did not authorize the scope required for completing this request (video.list).',
      );
    }
    const key = request.headers.authorization ?? '';
    const recent = (calls.get(key) ?? []).filter((at) => at > deps.clock() - 60_000);
    if (recent.length >= deps.perMinute)
      return deps.apiError('rate_limit_exceeded', 'The API rate limit was exceeded. Please try again later.');
    calls.set(key, [...recent, deps.clock()]);
    const fields = (request.query.fields ?? '').split(',').filter(Boolean);
    if (fields.length === 0) return deps.apiError('invalid_params', 'The fields parameter is required.');
    const unknown = fields.find((field) => !videoFields.has(field));
    if (unknown) return deps.apiError('invalid_params', `Invalid field: ${unknown}`);
    if (!(request.headers['content-type'] ?? '').includes('application/json'))
      return deps.apiError('invalid_params', 'Content-Type must be application/json; charset=UTF-8.');
    const filters = (request.body as { filters?: { video_ids?: unknown } } | null)?.filters;
    const ids = filters?.video_ids;
    if (
      !Array.isArray(ids) ||
      ids.length === 0 ||
      !ids.every((id) => typeof id === 'string' || typeof id === 'number')
    )
      return deps.apiError('invalid_params', 'filters.video_ids must be a non-empty list of video ids.');
    if (ids.length > maxIds)
      return deps.apiError('invalid_params', `filters.video_ids can hold at most ${maxIds} ids.`);
    const wanted = new Set(ids.map(String));
    const videos = deps
      .videos()
      .filter((video) => wanted.has(video.id) && !deleted.has(video.id))
      .map((video) => {
        const age = deps.clock() - video.createdAt;
        const views = grow(50, age);
        const all: Record<string, unknown> = {
          id: video.id,
          create_time: Math.floor(video.createdAt / 1000),
          cover_image_url: `https://p16-sign.tiktokcdn-us.com/sandbox/${video.id}.jpeg`,
          share_url: `https://www.tiktok.com/@glowcafe/video/${video.id}`,
          video_description: video.title ?? '',
          duration: 15,
          height: 1920,
          width: 1080,
          title: video.title ?? '',
          embed_html: '',
          embed_link: `https://www.tiktok.com/embed/v2/${video.id}`,
          view_count: views,
          like_count: Math.floor(views / 9),
          comment_count: Math.floor(views / 50),
          share_count: Math.floor(views / 70),
        };
        return Object.fromEntries(fields.map((field) => [field, all[field]]));
      });
    const data = { videos, cursor: 0, has_more: false };
    // TikTok's ids are int64 numbers in the JSON, too long for a double: written out digit by digit.
    const text = JSON.stringify({ data, error: { code: 'ok', message: '', log_id: deps.logId() } }).replace(
      /"id":"(\d+)"/g,
      '"id":$1',
    );
    return { status: 200, headers: { 'content-type': 'application/json' }, body: text };
  };

  return {
    videoQuery,
    /** The owner deletes the video: video/query leaves it out from now on. */
    deleteVideo(id: string) {
      deleted.add(id);
    },
  };
}
