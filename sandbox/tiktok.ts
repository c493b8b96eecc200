// TikTok simulator (tests and `npm run demo`): one loopback server playing both www.tiktok.com (the Login Kit
// consent page) and open.tiktokapis.com (token endpoint with refresh-token rotation, user info, and Direct
// Post: creator_info, video/init pulling from a verified URL, status/fetch moving through processing to
// PUBLISH_COMPLETE and the public id after moderation), as strict as TikTok about tokens, scopes, bodies and
// its per-token rate limits, answering in TikTok's shapes; tests read the posts made.
import { randomBytes, randomInt } from 'node:crypto';
import {
  type ConsentControls,
  consentSteering,
  createGrantStore,
  type IssuedAccessToken,
  missingParameter,
  openConsent,
  tokenForm,
} from './oauth2.ts';
import {
  type FailureMatch,
  type RecordedRequest,
  type SimulatorResponse,
  type SimulatorServer,
  startSimulatorServer,
} from './simulator-server.ts';
import { createTikTokReports } from './tiktok-reports.ts';

/** The client key `npm run demo` uses (TikTok calls the client id a client key). */
export const tiktokSandboxClientId = 'glowtifysandboxkey';
export const tiktokSandboxClientSecret = 'glowtify-sandbox-tiktok-secret';

const knownScopes = new Set([
  'user.info.basic',
  'user.info.profile',
  'user.info.stats',
  'video.list',
  'video.publish',
  'video.upload',
]);
// Which scope each user/info field needs.
const fieldScopes: Record<string, string> = {
  open_id: 'user.info.basic',
  union_id: 'user.info.basic',
  avatar_url: 'user.info.basic',
  avatar_url_100: 'user.info.basic',
  avatar_large_url: 'user.info.basic',
  display_name: 'user.info.basic',
  bio_description: 'user.info.profile',
  profile_deep_link: 'user.info.profile',
  is_verified: 'user.info.profile',
  username: 'user.info.profile',
  follower_count: 'user.info.stats',
  following_count: 'user.info.stats',
  likes_count: 'user.info.stats',
  video_count: 'user.info.stats',
};

export interface TikTokSimulatorUser {
  openId: string;
  unionId: string;
  displayName: string;
  avatarUrl: string;
}

/** What creator_info says of the user, and what Direct Post holds them to. */
export interface TikTokSimulatorCreator {
  username: string;
  nickname: string;
  /** A private account is offered FOLLOWER_OF_CREATOR instead of PUBLIC_TO_EVERYONE. */
  privateAccount: boolean;
  /** Overrides the levels offered (when the app is audited). */
  privacyLevelOptions?: string[];
  commentDisabled: boolean;
  duetDisabled: boolean;
  stitchDisabled: boolean;
  maxVideoPostDurationSec: number;
}

/** How long each stage of a post lasts, on the simulator's clock. */
export interface TikTokSimulatorPublishing {
  /** PROCESSING_DOWNLOAD: TikTok fetching the video from its URL. */
  downloadMs: number;
  /** PROCESSING_UPLOAD, after the download. */
  processingMs: number;
  /** After PUBLISH_COMPLETE, until a public post gets its publicaly_available_post_id. */
  moderationMs: number;
}

/** A post made through video/init, as a test reads it. */
export interface TikTokSimulatorPost {
  publishId: string;
  openId: string;
  title: string | undefined;
  privacyLevel: string;
  videoUrl: string;
  disableComment: boolean;
  disableDuet: boolean;
  disableStitch: boolean;
  createdAt: Date;
  /** Where it stands now (by the simulator's clock). */
  status: 'PROCESSING_DOWNLOAD' | 'PROCESSING_UPLOAD' | 'PUBLISH_COMPLETE' | 'FAILED';
  /** The public id once moderation is done (public posts only); null before. */
  postId: string | null;
  failReason: string | null;
}

export interface TikTokSimulatorOptions {
  port?: number;
  clientKey?: string;
  clientSecret?: string;
  /** Redirect URIs registered on the app; absent: any http(s) URL is accepted. */
  redirectUris?: string[];
  user?: TikTokSimulatorUser;
  /** expires_in of access tokens (TikTok: 7,200 s). */
  accessTokenSeconds?: number;
  /** refresh_expires_in of each refresh token issued (TikTok: 15,552,000 s = 180 days). */
  refreshTokenSeconds?: number;
  /** Scopes the user leaves ticked, whatever is asked (default: what is asked). */
  grantScopes?: string[];
  /** (unconfirmed) TikTok does not document a code lifetime; 10 minutes here. */
  codeLifetimeSeconds?: number;
  /** The simulator's clock: token and code expiry, and every post's stages, follow it. */
  now?: () => Date;
  creator?: Partial<TikTokSimulatorCreator>;
  /**
   * Whether TikTok has audited the app: an unaudited one is offered SELF_ONLY alone and may post only to
   * private accounts (default true).
   */
  audited?: boolean;
  /** URL prefixes of the media domains verified for the app; PULL_FROM_URL takes videos from these only. */
  verifiedUrlPrefixes?: string[];
  publishing?: Partial<TikTokSimulatorPublishing>;
  /** TikTok's per-token limits per minute (creator_info 20, video/init 6, status/fetch 30); false: none. */
  rateLimits?: false | { creatorInfo: number; videoInit: number; statusFetch: number };
}

/** The refusals of Direct Post that a reconnect cannot fix (HTTP 403, PLATFORMS.md). */
export const tiktokDirectPostRefusals = [
  'spam_risk_too_many_posts',
  'spam_risk_user_banned_from_posting',
  'reached_active_user_cap',
  'unaudited_client_can_only_post_to_private_accounts',
  'url_ownership_unverified',
  'privacy_level_option_mismatch',
] as const;
export type TikTokDirectPostRefusal = (typeof tiktokDirectPostRefusals)[number];

export type TikTokFailureKind =
  | 'transient'
  | 'rate_limited'
  | 'token_expired'
  | 'permission_revoked'
  | 'invalid_params'
  | TikTokDirectPostRefusal;

export type TikTokSimulator = SimulatorServer &
  // The denial is error=access_denied; a revoked access token answers access_token_invalid.
  ConsentControls & {
    /** Makes the next matching requests fail the way TikTok fails them (its status and body). */
    failWith(kind: TikTokFailureKind, rule: FailureMatch): void;
    /** Every post video/init made, oldest first, as it stands now. */
    posts(): TikTokSimulatorPost[];
    /** Every request refused for going over a per-token limit, oldest first. */
    rateLimitRefusals(): { endpoint: 'creatorInfo' | 'videoInit' | 'statusFetch'; at: Date }[];
    /** When each video/init was answered (those refused included), oldest first. */
    videoInitTimes(): Date[];
    /** The next post video/init makes ends FAILED with this fail_reason once downloaded. */
    failNextPost(failReason: string): void;
    setCreator(creator: Partial<TikTokSimulatorCreator>): void;
    setAudited(audited: boolean): void;
    setPublishing(publishing: Partial<TikTokSimulatorPublishing>): void;
    /** The owner deletes the public video (its public id): video/query leaves it out (tiktok-reports.ts). */
    deleteVideo(postId: string): void;
  };

/** Direct Post's refusals, worded as TikTok words them (unconfirmed where TikTok's docs give no message). */
const refusalMessages: Record<TikTokDirectPostRefusal, string> = {
  spam_risk_too_many_posts: 'The daily post cap from the API is reached for the current user.',
  spam_risk_user_banned_from_posting: 'The user is banned from making new posts.',
  reached_active_user_cap: 'The daily quota for active publishing users from your client is reached.',
  unaudited_client_can_only_post_to_private_accounts: 'Unaudited clients can only post to a private account.',
  url_ownership_unverified:
    'To use a URL as the media source, the domain or URL prefix must be verified for the app.',
  privacy_level_option_mismatch: 'privacy_level is not among the privacy_level_options of the creator.',
};

/** TikTok's log ids: a timestamp followed by hex. */
function logId(): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:TZ.]/g, '')
    .slice(0, 14);
  return `${stamp}${randomBytes(10).toString('hex').toUpperCase()}`;
}

/** OAuth errors: {"error","error_description","log_id"} (the HTTP status TikTok uses is unconfirmed). */
function oauthError(status: number, error: string, description: string): SimulatorResponse {
  return { status, body: { error, error_description: description, log_id: logId() } };
}

/**
 * API errors: {"data":{},"error":{"code","message","log_id"}}, with TikTok's documented status per code (the
 * Direct Post refusals' 403 is unconfirmed: PLATFORMS.md says "likely").
 */
function apiError(code: string, message: string): SimulatorResponse {
  const status =
    code === 'access_token_invalid' || code === 'scope_not_authorized' || code === 'scope_permission_missed'
      ? 401
      : code === 'rate_limit_exceeded'
        ? 429
        : code === 'internal_error'
          ? 500
          : code === 'not_found'
            ? 404
            : (tiktokDirectPostRefusals as readonly string[]).includes(code)
              ? 403
              : 400;
  return { status, body: { data: {}, error: { code, message, log_id: logId() } } };
}

export async function startTikTokSimulator(options: TikTokSimulatorOptions = {}): Promise<TikTokSimulator> {
  const clientKey = options.clientKey ?? tiktokSandboxClientId;
  const clientSecret = options.clientSecret ?? tiktokSandboxClientSecret;
  const user = options.user ?? {
    openId: '-000OhbDkAaAbCdEfGhIjKlMnOpQrStUvWx',
    unionId: 'c9c60f44-a68e-4f5d-84dd-ce22faeb0ba1',
    displayName: 'Glow Café',
    avatarUrl: 'https://p16-sign.tiktokcdn-us.com/sandbox/avatar.jpeg',
  };
  const accessTokenSeconds = options.accessTokenSeconds ?? 7200;
  const refreshTokenSeconds = options.refreshTokenSeconds ?? 15_552_000;
  const codeLifetimeMs = (options.codeLifetimeSeconds ?? 600) * 1000;
  const clock = () => (options.now ?? (() => new Date()))().getTime();

  const grants = createGrantStore({
    clock,
    accessTokenSeconds,
    refreshTokenSeconds,
    codeLifetimeMs,
    // A refresh spends the refresh token it was given: only the newest one works.
    refresh: 'rotate',
    mint: {
      access: () => `act.${randomBytes(36).toString('base64url')}!${randomBytes(2).readUInt16BE()}`,
      refresh: () => `rft.${randomBytes(36).toString('base64url')}!${randomBytes(2).readUInt16BE()}`,
    },
  });
  const consent = consentSteering(grants, options.grantScopes ?? null);

  /** A fresh access + refresh token pair, as both the code exchange and a refresh answer it. */
  const tokenAnswer = (scopes: string[]): SimulatorResponse => ({
    status: 200,
    body: {
      access_token: grants.issueAccessToken(scopes),
      expires_in: accessTokenSeconds,
      open_id: user.openId,
      refresh_expires_in: refreshTokenSeconds,
      refresh_token: grants.issueRefreshToken(scopes),
      scope: scopes.join(','),
      token_type: 'Bearer',
    },
  });

  // ——— www.tiktok.com ———

  const authorize = (request: RecordedRequest): SimulatorResponse => {
    const { query } = request;
    const opened = openConsent(query, {
      clientParameter: 'client_key',
      clientId: clientKey,
      redirectUris: options.redirectUris,
      unknownClient: 'client_key: Client info is illegal or malformed.',
      unregisteredRedirect: 'redirect_uri: the redirect URI is not registered.',
    });
    if ('response' in opened) return opened.response;
    const { redirectUri, back } = opened;
    // TikTok's scope parameter is comma-separated.
    const asked = (query.scope ?? '').split(',').filter(Boolean);
    const unknown = asked.find((scope) => !knownScopes.has(scope));
    if (asked.length === 0 || unknown) {
      return back({
        error: 'invalid_scope',
        error_description: unknown ? `The scope ${unknown} is invalid.` : 'The scope is missing.',
      });
    }
    if (query.code_challenge && query.code_challenge_method !== 'S256') {
      return back({
        error: 'invalid_request',
        error_description: 'code_challenge_method must be S256',
      });
    }
    if (consent.denies()) {
      // (unconfirmed) TikTok's exact error_description for a declined consent.
      return back({
        error: 'access_denied',
        error_description: 'The user denied the authorization request.',
      });
    }
    const scopes = consent.granted(asked);
    // TikTok's codes carry characters that must be URL-decoded before the exchange, as this one does.
    const code = `${randomBytes(36).toString('base64url')}*!${randomBytes(2).readUInt16BE()}`;
    grants.issueCode(code, { redirectUri, scopes, issuedAt: clock(), used: false });
    return back({ code, scopes: scopes.join(',') });
  };

  // ——— open.tiktokapis.com ———

  const token = (request: RecordedRequest): SimulatorResponse => {
    const params = tokenForm(request);
    if (!params)
      return oauthError(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded.');
    const missing = missingParameter(params, ['client_key', 'client_secret', 'grant_type']);
    if (missing) return oauthError(400, 'invalid_request', `The parameter ${missing} is missing.`);
    if (params.client_key !== clientKey || params.client_secret !== clientSecret)
      return oauthError(401, 'invalid_client', 'Client key or secret is invalid.');

    if (params.grant_type === 'authorization_code') {
      const missingForCode = missingParameter(params, ['code', 'redirect_uri']);
      if (missingForCode)
        return oauthError(400, 'invalid_request', `The parameter ${missingForCode} is missing.`);
      const code = grants.redeemCode(params.code, params.redirect_uri);
      if (code === 'unknown' || code === 'spent')
        return oauthError(400, 'invalid_grant', 'Authorization code is expired.');
      if (code === 'redirect_mismatch')
        return oauthError(400, 'invalid_grant', 'The redirect_uri does not match the authorization request.');
      grants.spendCode(code);
      return tokenAnswer(code.scopes);
    }

    if (params.grant_type === 'refresh_token') {
      if (!params.refresh_token)
        return oauthError(400, 'invalid_request', 'The parameter refresh_token is missing.');
      const refresh = grants.redeemRefreshToken(params.refresh_token);
      if (!refresh) return oauthError(400, 'invalid_grant', 'Refresh token is invalid or expired.');
      return tokenAnswer(refresh.scopes);
    }
    return oauthError(400, 'unsupported_grant_type', `The grant_type ${params.grant_type} is not supported.`);
  };

  const authenticate = (
    request: RecordedRequest,
  ): { token: IssuedAccessToken } | { response: SimulatorResponse } => {
    const found = grants.authenticate(request.headers.authorization);
    if (!found) {
      return {
        response: apiError(
          'access_token_invalid',
          'The access token is invalid or not found in the request.',
        ),
      };
    }
    return { token: found };
  };

  const userInfo = (request: RecordedRequest, accessToken: IssuedAccessToken): SimulatorResponse => {
    const fields = (request.query.fields ?? '').split(',').filter(Boolean);
    if (fields.length === 0) return apiError('invalid_params', 'The fields parameter is required.');
    const unknown = fields.find((field) => !(field in fieldScopes));
    if (unknown) return apiError('invalid_params', `Invalid field: ${unknown}`);
    const missing = fields.find((field) => !accessToken.scopes.includes(fieldScopes[field] ?? ''));
    if (missing) {
      return apiError(
        'scope_not_authorized',
        `The user did not authorize the scope required for completing this request (${fieldScopes[missing]}).`,
      );
    }
    const all: Record<string, unknown> = {
      open_id: user.openId,
      union_id: user.unionId,
      avatar_url: user.avatarUrl,
      avatar_url_100: user.avatarUrl,
      avatar_large_url: user.avatarUrl,
      display_name: user.displayName,
      bio_description: '',
      profile_deep_link: `https://vm.tiktok.com/sandbox/${user.openId}`,
      is_verified: false,
      username: 'glowcafe',
      follower_count: 0,
      following_count: 0,
      likes_count: 0,
      video_count: 0,
    };
    const view = Object.fromEntries(fields.map((field) => [field, all[field]]));
    return {
      status: 200,
      body: { data: { user: view }, error: { code: 'ok', message: '', log_id: logId() } },
    };
  };

  // ——— Direct Post ———

  let creator: TikTokSimulatorCreator = {
    username: 'glowcafe',
    nickname: user.displayName,
    privateAccount: false,
    commentDisabled: false,
    duetDisabled: false,
    stitchDisabled: false,
    maxVideoPostDurationSec: 600,
    ...options.creator,
  };
  let audited = options.audited ?? true;
  let publishing: TikTokSimulatorPublishing = {
    downloadMs: 500,
    processingMs: 0,
    moderationMs: 1_000,
    ...options.publishing,
  };
  const verifiedUrlPrefixes = options.verifiedUrlPrefixes ?? ['https://cdn.acme.example/'];
  const limits =
    options.rateLimits === false
      ? null
      : (options.rateLimits ?? { creatorInfo: 20, videoInit: 6, statusFetch: 30 });
  const calls = new Map<string, number[]>();
  const refusals: { endpoint: 'creatorInfo' | 'videoInit' | 'statusFetch'; at: Date }[] = [];
  const initTimes: Date[] = [];
  /** TikTok counts each endpoint per access token over a sliding minute. */
  const overLimit = (endpoint: keyof NonNullable<typeof limits>, authorization: string | undefined) => {
    if (endpoint === 'videoInit') initTimes.push(new Date(clock()));
    if (!limits) return false;
    const key = `${endpoint} ${authorization ?? ''}`;
    const recent = (calls.get(key) ?? []).filter((at) => at > clock() - 60_000);
    if (recent.length >= limits[endpoint]) {
      refusals.push({ endpoint, at: new Date(clock()) });
      return true;
    }
    calls.set(key, [...recent, clock()]);
    return false;
  };
  const rateLimited = () =>
    apiError('rate_limit_exceeded', 'The API rate limit was exceeded. Please try again later.');

  /** What a test reads, less what is computed from the clock, plus what that computation needs. */
  interface StoredPost extends Omit<TikTokSimulatorPost, 'createdAt' | 'status' | 'postId' | 'failReason'> {
    createdAt: number;
    /** Stage lengths as they were when the post was made. */
    stages: TikTokSimulatorPublishing;
    publicId: string;
    failReason: string | null;
  }
  const posts: StoredPost[] = [];
  let nextFailReason: string | null = null;

  const offeredLevels = () => {
    // (unconfirmed) TikTok's docs say only that an unaudited app's posts are restricted to private viewing;
    // this simulator has creator_info offer it SELF_ONLY alone, as the product expects.
    if (!audited) return ['SELF_ONLY'];
    return (
      creator.privacyLevelOptions ??
      (creator.privateAccount
        ? ['FOLLOWER_OF_CREATOR', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY']
        : ['PUBLIC_TO_EVERYONE', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY'])
    );
  };

  const view = (post: StoredPost): TikTokSimulatorPost => {
    const age = clock() - post.createdAt;
    const processed = post.stages.downloadMs + post.stages.processingMs;
    const status =
      age < post.stages.downloadMs
        ? 'PROCESSING_DOWNLOAD'
        : age < processed
          ? 'PROCESSING_UPLOAD'
          : post.failReason
            ? 'FAILED'
            : 'PUBLISH_COMPLETE';
    // (unconfirmed) A SELF_ONLY post is not moderated for the public and gets no public id.
    const moderated =
      status === 'PUBLISH_COMPLETE' &&
      post.privacyLevel !== 'SELF_ONLY' &&
      age >= processed + post.stages.moderationMs;
    return {
      publishId: post.publishId,
      openId: post.openId,
      title: post.title,
      privacyLevel: post.privacyLevel,
      videoUrl: post.videoUrl,
      disableComment: post.disableComment,
      disableDuet: post.disableDuet,
      disableStitch: post.disableStitch,
      createdAt: new Date(post.createdAt),
      status,
      postId: moderated ? post.publicId : null,
      failReason: status === 'FAILED' ? post.failReason : null,
    };
  };

  const ok = (data: unknown): SimulatorResponse => ({
    status: 200,
    body: { data, error: { code: 'ok', message: '', log_id: logId() } },
  });

  /** The JSON object a Content Posting request must carry, or the invalid_params answer. */
  const jsonBody = (request: RecordedRequest): Record<string, unknown> | SimulatorResponse => {
    if (!(request.headers['content-type'] ?? '').includes('application/json'))
      return apiError('invalid_params', 'Content-Type must be application/json; charset=UTF-8.');
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      return apiError('invalid_params', 'The request body must be a JSON object.');
    return body as Record<string, unknown>;
  };
  const isResponse = (value: unknown): value is SimulatorResponse =>
    typeof value === 'object' && value !== null && 'status' in value && typeof value.status === 'number';

  const needsPublishScope = (token: IssuedAccessToken): SimulatorResponse | null =>
    token.scopes.includes('video.publish')
      ? null
      : apiError(
          'scope_not_authorized',
          'The user did not authorize the scope required for completing this request (video.publish).',
        );

  const creatorInfo = (request: RecordedRequest, token: IssuedAccessToken): SimulatorResponse => {
    const refused = needsPublishScope(token);
    if (refused) return refused;
    if (overLimit('creatorInfo', request.headers.authorization)) return rateLimited();
    return ok({
      creator_avatar_url: user.avatarUrl,
      creator_username: creator.username,
      creator_nickname: creator.nickname,
      privacy_level_options: offeredLevels(),
      comment_disabled: creator.commentDisabled,
      duet_disabled: creator.duetDisabled,
      stitch_disabled: creator.stitchDisabled,
      max_video_post_duration_sec: creator.maxVideoPostDurationSec,
    });
  };

  const privacyLevels = ['PUBLIC_TO_EVERYONE', 'MUTUAL_FOLLOW_FRIENDS', 'FOLLOWER_OF_CREATOR', 'SELF_ONLY'];
  const videoInit = (request: RecordedRequest, token: IssuedAccessToken): SimulatorResponse => {
    const refused = needsPublishScope(token);
    if (refused) return refused;
    const body = jsonBody(request);
    if (isResponse(body)) return body;
    if (overLimit('videoInit', request.headers.authorization)) return rateLimited();
    const postInfo = body.post_info as Record<string, unknown> | undefined;
    const sourceInfo = body.source_info as Record<string, unknown> | undefined;
    if (typeof postInfo !== 'object' || postInfo === null)
      return apiError('invalid_params', 'post_info is required.');
    if (typeof sourceInfo !== 'object' || sourceInfo === null)
      return apiError('invalid_params', 'source_info is required.');
    const privacy = postInfo.privacy_level;
    if (typeof privacy !== 'string' || !privacyLevels.includes(privacy))
      return apiError('invalid_params', 'post_info.privacy_level is invalid.');
    const title = postInfo.title;
    if (title !== undefined && (typeof title !== 'string' || title.length > 2_200))
      return apiError('invalid_params', 'post_info.title must be a string of at most 2200 characters.');
    for (const flag of ['disable_comment', 'disable_duet', 'disable_stitch']) {
      if (postInfo[flag] !== undefined && typeof postInfo[flag] !== 'boolean')
        return apiError('invalid_params', `post_info.${flag} must be a boolean.`);
    }
    if (sourceInfo.source === 'FILE_UPLOAD')
      return apiError('invalid_params', '(sandbox) only PULL_FROM_URL is simulated.');
    if (sourceInfo.source !== 'PULL_FROM_URL')
      return apiError('invalid_params', 'source_info.source must be FILE_UPLOAD or PULL_FROM_URL.');
    const videoUrl = sourceInfo.video_url;
    if (typeof videoUrl !== 'string' || videoUrl === '')
      return apiError('invalid_params', 'source_info.video_url is required for PULL_FROM_URL.');
    if (!verifiedUrlPrefixes.some((prefix) => videoUrl.startsWith(prefix)))
      return apiError('url_ownership_unverified', refusalMessages.url_ownership_unverified);
    if (!audited && !creator.privateAccount) {
      return apiError(
        'unaudited_client_can_only_post_to_private_accounts',
        refusalMessages.unaudited_client_can_only_post_to_private_accounts,
      );
    }
    if (!offeredLevels().includes(privacy))
      return apiError('privacy_level_option_mismatch', refusalMessages.privacy_level_option_mismatch);
    const digits = () =>
      `7${String(randomInt(10 ** 9)).padStart(9, '0')}${String(randomInt(10 ** 9)).padStart(9, '0')}`;
    const post: StoredPost = {
      publishId: `v_pub_url~v2-1.${digits()}`,
      openId: user.openId,
      title: title as string | undefined,
      privacyLevel: privacy,
      videoUrl,
      disableComment: postInfo.disable_comment === true,
      disableDuet: postInfo.disable_duet === true,
      disableStitch: postInfo.disable_stitch === true,
      createdAt: clock(),
      stages: { ...publishing },
      publicId: digits(),
      failReason: nextFailReason,
    };
    nextFailReason = null;
    posts.push(post);
    return ok({ publish_id: post.publishId });
  };

  const statusFetch = (request: RecordedRequest, token: IssuedAccessToken): SimulatorResponse => {
    if (!token.scopes.includes('video.publish') && !token.scopes.includes('video.upload')) {
      return apiError(
        'scope_not_authorized',
        'The user did not authorize the scope required for completing this request (video.publish).',
      );
    }
    const body = jsonBody(request);
    if (isResponse(body)) return body;
    if (overLimit('statusFetch', request.headers.authorization)) return rateLimited();
    if (typeof body.publish_id !== 'string' || body.publish_id === '')
      return apiError('invalid_params', 'publish_id is required.');
    // (unconfirmed) TikTok's answer for a publish_id it does not know, or another user's.
    const post = posts.find((candidate) => candidate.publishId === body.publish_id);
    if (!post || post.openId !== user.openId) return apiError('invalid_params', 'publish_id is invalid.');
    const now = view(post);
    const data: Record<string, unknown> = {
      status: now.status,
      ...(now.failReason ? { fail_reason: now.failReason } : {}),
      publicaly_available_post_id: now.postId ? [now.postId] : [],
      uploaded_bytes: 0,
      ...(now.status === 'PROCESSING_DOWNLOAD' ? {} : { downloaded_bytes: 1_048_576 }),
    };
    // TikTok's ids are int64 numbers in the JSON, too long for a double: written out digit by digit.
    const text = JSON.stringify({ data, error: { code: 'ok', message: '', log_id: logId() } }).replace(
      /"publicaly_available_post_id":\["(\d+)"\]/,
      '"publicaly_available_post_id":[$1]',
    );
    return { status: 200, headers: { 'content-type': 'application/json' }, body: text };
  };

  const reports = createTikTokReports({
    clock,
    videos: () =>
      posts.flatMap((post) => {
        const now = view(post);
        return now.postId && now.openId === user.openId
          ? [{ id: now.postId, openId: now.openId, title: now.title, createdAt: post.createdAt }]
          : [];
      }),
    apiError,
    logId,
    perMinute: 600,
  });

  const authenticated: Record<
    string,
    (request: RecordedRequest, token: IssuedAccessToken) => SimulatorResponse
  > = {
    'GET /v2/user/info/': userInfo,
    'POST /v2/post/publish/creator_info/query/': creatorInfo,
    'POST /v2/post/publish/video/init/': videoInit,
    'POST /v2/post/publish/status/fetch/': statusFetch,
    'POST /v2/video/query/': reports.videoQuery,
  };

  const handler = (request: RecordedRequest): SimulatorResponse => {
    const { method, path } = request;
    if (path === '/v2/auth/authorize/' && method === 'GET') return authorize(request);
    if (path === '/v2/oauth/token/' && method === 'POST') return token(request);
    const route = authenticated[`${method} ${path}`];
    if (route) {
      const auth = authenticate(request);
      if ('response' in auth) return auth.response;
      return route(request, auth.token);
    }
    return apiError('not_found', `No route for ${method} ${path}`);
  };

  const failure = (kind: TikTokFailureKind): SimulatorResponse => {
    switch (kind) {
      case 'transient':
        return apiError('internal_error', 'Something went wrong. Please try again later.');
      case 'rate_limited':
        return apiError('rate_limit_exceeded', 'The API rate limit was exceeded. Please try again later.');
      case 'token_expired':
        return apiError('access_token_invalid', 'The access token is invalid or not found in the request.');
      case 'permission_revoked':
        return apiError(
          'scope_not_authorized',
          'The user did not authorize the scope required for completing this request.',
        );
      case 'invalid_params':
        return apiError('invalid_params', 'One or more fields in the request are invalid.');
      default:
        return apiError(kind, refusalMessages[kind]);
    }
  };

  const server = await startSimulatorServer(handler, {
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  const simulator: TikTokSimulator = Object.assign(server, {
    ...consent.controls,
    failWith: (kind: TikTokFailureKind, rule: FailureMatch) => {
      server.failNext({ ...rule, response: failure(kind) });
    },
    posts: () => posts.map(view),
    rateLimitRefusals: () => [...refusals],
    videoInitTimes: () => [...initTimes],
    failNextPost: (failReason: string) => {
      nextFailReason = failReason;
    },
    setCreator: (changes: Partial<TikTokSimulatorCreator>) => {
      creator = { ...creator, ...changes };
    },
    setAudited: (value: boolean) => {
      audited = value;
    },
    setPublishing: (changes: Partial<TikTokSimulatorPublishing>) => {
      publishing = { ...publishing, ...changes };
    },
    deleteVideo: (postId: string) => reports.deleteVideo(postId),
  });
  return simulator;
}
