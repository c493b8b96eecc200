// TikTok adapter: the Login Kit consent (web: no PKCE), code → token, the account behind the token and the
// privacy levels its creator offers, token refresh, which ROTATES the refresh token (the new one is returned
// in the credentials), and Direct Post at the time: creator_info, video/init from a URL, status polling.
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { unofferedChoice } from '../domain/connectors.ts';
import { contentSchemas } from '../domain/content.ts';
import { platformDescriptors } from '../domain/platforms.ts';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { createSender, type HttpAnswer, isSuccess, redact, retryAfterField } from './http.ts';
import * as oauth2 from './oauth2.ts';
import { createTikTokMetrics, tiktokInsightsScopes } from './tiktok-metrics.ts';
import type {
  Connection,
  DiscoveredAccount,
  FollowUpAnswer,
  FollowUpContext,
  OAuthConnector,
  PlatformAdapter,
  PreflightContext,
  PublicationContext,
  Published,
  TakeTurn,
} from './types.ts';

export const tiktokScopes = platformDescriptors.tiktok.scopes;

/** The real hosts, for when the configuration leaves them out. */
export const tiktokDefaultHosts = {
  apiBaseUrl: 'https://open.tiktokapis.com',
  authBaseUrl: 'https://www.tiktok.com',
} as const;

/** The user fields discovery reads; all are covered by user.info.basic. */
const userInfoFields = 'open_id,union_id,avatar_url,display_name';

export interface TikTokCredentials {
  accessToken: string;
  /** ISO instant from TikTok's `expires_in` (2 hours today). */
  accessTokenExpiresAt: string | null;
  /** Rotated by every refresh: only the newest one works. */
  refreshToken: string;
  /** ISO instant from `refresh_expires_in`. */
  refreshTokenExpiresAt: string | null;
  /** The TikTok user the token speaks for (the tiktok_account's externalId). */
  openId: string;
  /** What TikTok says the user granted (users may untick scopes on the consent page). */
  scopes: string[];
}

export interface TikTokAdapterOptions extends oauth2.OAuthAdapterOptions {
  /** TikTok's name for the client id; `clientId` is accepted too, so every OAuth adapter is configured alike. */
  clientKey?: string;
  /**
   * How often one attempt asks status/fetch (TikTok allows 30 a minute per token) and how long it waits for
   * TikTok to fetch and process the video before it gives the attempt up as TRANSIENT (the retry resumes
   * the same publish_id). With `moderationWaitMs` and the requests' own time-outs it stays within the
   * publish activity's 3 minutes.
   */
  statusPoll?: { intervalMs: number; maxWaitMs: number };
  /**
   * After PUBLISH_COMPLETE, how long the attempt keeps asking for the public post id, which TikTok gives only
   * once moderation is done (usually within a minute, sometimes hours).
   */
  moderationWaitMs?: number;
}

export type TikTokAdapter = PlatformAdapter<TikTokCredentials> &
  Required<
    Pick<
      PlatformAdapter<TikTokCredentials>,
      | 'refreshCredentials'
      | 'canRefresh'
      | 'verifyCredentials'
      | 'publish'
      | 'completePublished'
      | 'preflight'
      | 'describeAccounts'
    >
  > & {
    connector: OAuthConnector<TikTokCredentials>;
    /** The account behind an access token (GET /v2/user/info/) and the privacy levels its creator offers. */
    discover(accessToken: string, signal?: AbortSignal): Promise<DiscoveredAccount>;
  };

/**
 * What a publication keeps in its progress, the moment TikTok answers (or right before the request that may
 * post): how a retry resumes instead of posting twice.
 */
const progressKeys = {
  /** TikTok's id of the post being made (video/init's answer); never initialised again once known. */
  publishId: 'publishId',
  /** Set right before video/init leaves; cleared when TikTok refused it. Set without publishId: unknown. */
  initSentAt: 'initSentAt',
  /** The content digest the video/init carried. */
  initDigest: 'initDigest',
  /** The creator's username at init, for the post's URL. */
  creatorUsername: 'creatorUsername',
  /** The privacy level the video/init asked for (SELF_ONLY posts get no public id). */
  initPrivacyLevel: 'initPrivacyLevel',
} as const;

/** TikTok's post statuses (status/fetch); SEND_TO_USER_INBOX belongs to the inbox upload flow. */
const PostStatus = z.enum([
  'PROCESSING_UPLOAD',
  'PROCESSING_DOWNLOAD',
  'SEND_TO_USER_INBOX',
  'PUBLISH_COMPLETE',
  'FAILED',
]);

const ApiErrorBody = z.object({
  error: z.object({
    code: z.string().optional(),
    message: z.string().optional(),
    log_id: z.string().optional(),
  }),
});
const TokenAnswer = z.object({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().optional(),
  open_id: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  refresh_expires_in: z.coerce.number().optional(),
  scope: z.string().optional(),
  token_type: z.string().optional(),
});
type TokenAnswer = z.infer<typeof TokenAnswer>;
const CreatorInfo = z.object({
  data: z.object({
    creator_username: z.string().optional(),
    creator_nickname: z.string().optional(),
    privacy_level_options: z.array(z.string()),
    comment_disabled: z.boolean().optional(),
    duet_disabled: z.boolean().optional(),
    stitch_disabled: z.boolean().optional(),
    max_video_post_duration_sec: z.number().optional(),
  }),
});
type CreatorInfo = z.infer<typeof CreatorInfo>['data'];
const VideoInit = z.object({ data: z.object({ publish_id: z.string().min(1) }) });
// TikTok documents the public ids as int64: the transport keeps a 19-digit one as its exact digits.
const PostStatusAnswer = z.object({
  data: z.object({
    status: PostStatus,
    fail_reason: z.string().optional(),
    publicaly_available_post_id: z
      .array(z.union([z.string(), z.number()]))
      .optional()
      .transform((ids) => (ids ?? []).map(String)),
  }),
});
type PostStatusAnswer = z.infer<typeof PostStatusAnswer>['data'];
type TikTokVideo = z.infer<(typeof contentSchemas)['tiktok_video']>;

/** FAILED: TikTok did not post the video, and says why. */
const rejected = (status: PostStatusAnswer) =>
  new PlatformError({
    class: 'CONTENT_REJECTED',
    message: `TikTok did not post the video: ${status.fail_reason ?? 'no reason given'}`,
    platformCode: status.fail_reason ?? 'FAILED',
  });
const UserInfo = z.object({
  data: z.object({
    user: z.object({
      open_id: z.string().optional(),
      union_id: z.string().optional(),
      avatar_url: z.string().optional(),
      display_name: z.string().optional(),
    }),
  }),
});

/**
 * Maps a TikTok API answer that is not a success onto a publication error class (PLATFORMS.md, TikTok). The
 * error code decides: access_token_invalid and scope_not_authorized are both HTTP 401.
 */
export function mapTikTokError(status: number, body: unknown, headers: Headers): PublicationFailure {
  const error = ApiErrorBody.safeParse(body).data?.error;
  const code = error?.code && error.code !== 'ok' ? error.code : undefined;
  const message = error?.message || `TikTok answered HTTP ${status}`;
  const failure = (errorClass: PublicationFailure['class'], extra: Partial<PublicationFailure> = {}) => ({
    class: errorClass,
    message,
    ...(code === undefined ? {} : { platformCode: code }),
    ...extra,
  });
  if (code?.startsWith('spam_risk')) return failure('CONTENT_REJECTED');
  switch (code) {
    case 'access_token_invalid':
      return failure('TOKEN_EXPIRED');
    case 'scope_not_authorized':
    case 'scope_permission_missed':
      return failure('PERMISSION_REVOKED');
    case 'rate_limit_exceeded': {
      // TikTok counts on a one-minute sliding window; it documents no Retry-After, so use one only if sent.
      return failure('RATE_LIMITED', retryAfterField(headers));
    }
    case 'invalid_params':
    case 'reached_active_user_cap':
    case 'unaudited_client_can_only_post_to_private_accounts':
    case 'url_ownership_unverified':
    case 'privacy_level_option_mismatch':
      // Direct-post refusals (often HTTP 403): the account, the app's audit or the request decide, and a
      // reconnect would change none of them.
      return failure('INVALID_REQUEST');
    case 'internal_error':
      return failure('TRANSIENT');
  }
  if (status === 408 || status >= 500) return failure('TRANSIENT');
  if (status === 429) {
    return failure('RATE_LIMITED', retryAfterField(headers));
  }
  if (status === 401) return failure('TOKEN_EXPIRED');
  // A bare 403 is read as lost access; a 403 naming another code is a refusal a reconnect cannot fix.
  if (status === 403 && code === undefined) return failure('PERMISSION_REVOKED');
  return failure('INVALID_REQUEST');
}

/** The answer carries a TikTok error code other than "ok": TikTok itself refused the request. */
function tiktokErrorCode(body: unknown): string | undefined {
  const code = ApiErrorBody.safeParse(body).data?.error.code;
  return code && code !== 'ok' ? code : undefined;
}

const invalid = (message: string, platformCode?: string) =>
  new PlatformError({ class: 'INVALID_REQUEST', message, ...(platformCode ? { platformCode } : {}) });

/** A post's public page; TikTok gives no URL, only the id and the creator's username. */
export const tiktokPostUrl = (username: string, postId: string) =>
  `https://www.tiktok.com/@${encodeURIComponent(username)}/video/${postId}`;

export function createTikTokAdapter(options: TikTokAdapterOptions): TikTokAdapter {
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const statusPoll = options.statusPoll ?? { intervalMs: 3_000, maxWaitMs: 100_000 };
  const moderationWaitMs = options.moderationWaitMs ?? 45_000;
  const now = options.now ?? (() => new Date());
  const apiRoot = options.apiBaseUrl.replace(/\/+$/, '');
  const authRoot = (options.authBaseUrl ?? tiktokDefaultHosts.authBaseUrl).replace(/\/+$/, '');
  const clientKey = options.clientKey || options.clientId;

  const app = () => {
    const client = oauth2.appCredentials('TikTok', 'TIKTOK', clientKey, options.clientSecret);
    return { clientKey: client.clientId, clientSecret: client.clientSecret };
  };

  const send = createSender({ fetch: options.fetch, timeoutMs: requestTimeoutMs, platformName: 'TikTok' });

  /** POST /v2/oauth/token/; TikTok asks for `cache-control: no-cache` on it. */
  const tokenRequest = (form: Record<string, string>, purpose: 'code' | 'refresh', secrets: string[]) =>
    oauth2.requestToken({
      platformName: 'TikTok',
      send,
      url: `${apiRoot}/v2/oauth/token/`,
      headers: { 'cache-control': 'no-cache' },
      form,
      schema: TokenAnswer,
      purpose,
      secrets: [options.clientSecret, ...secrets],
      unreadableRefusal: 'refused',
    });

  const at = (seconds: number | undefined) => oauth2.expiresAfter(now(), seconds);

  /** A TikTok API answer that is not a success, as the PlatformError of its class (no secret in it). */
  function refusal(answer: HttpAnswer, accessToken: string): PlatformError {
    const failure = mapTikTokError(answer.status, answer.body, answer.headers);
    return new PlatformError({
      ...failure,
      message: redact(failure.message, [accessToken, options.clientSecret]),
    });
  }

  /** One POST to the Content Posting API, its answer read with `schema`. */
  async function post<T>(
    schema: z.ZodType<T>,
    path: string,
    accessToken: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const answer = await postRaw(path, accessToken, body, signal);
    return readAnswer(schema, path, answer, accessToken);
  }

  function postRaw(path: string, accessToken: string, body: unknown, signal: AbortSignal | undefined) {
    return send({
      method: 'POST',
      url: `${apiRoot}${path}`,
      headers: { accept: 'application/json', authorization: `Bearer ${accessToken}` },
      body: { json: body, contentType: 'application/json; charset=UTF-8' },
      signal,
      secrets: [accessToken],
    });
  }

  function readAnswer<T>(schema: z.ZodType<T>, path: string, answer: HttpAnswer, accessToken: string): T {
    // A success carries {"error":{"code":"ok"}}; anything else is an error whatever the status says.
    if (!isSuccess(answer.status) || tiktokErrorCode(answer.body) !== undefined)
      throw refusal(answer, accessToken);
    const parsed = schema.safeParse(answer.body);
    if (!parsed.success)
      throw new PlatformError({ class: 'TRANSIENT', message: `TikTok answered ${path} in an odd shape` });
    return parsed.data;
  }

  const creatorInfo = async (accessToken: string, signal: AbortSignal | undefined): Promise<CreatorInfo> =>
    (await post(CreatorInfo, '/v2/post/publish/creator_info/query/', accessToken, {}, signal)).data;

  async function discover(accessToken: string, signal?: AbortSignal): Promise<DiscoveredAccount> {
    const { status, headers, body } = await send({
      url: `${apiRoot}/v2/user/info/?fields=${userInfoFields}`,
      method: 'GET',
      headers: { accept: 'application/json', authorization: `Bearer ${accessToken}` },
      signal,
    });
    // A success carries {"error":{"code":"ok"}}; anything else is an error whatever the status says.
    const errorCode = ApiErrorBody.safeParse(body).data?.error.code;
    if (status < 200 || status >= 300 || (errorCode !== undefined && errorCode !== 'ok')) {
      const failure = mapTikTokError(status, body, headers);
      throw new PlatformError({
        ...failure,
        message: redact(failure.message, [accessToken, options.clientSecret]),
      });
    }
    const parsed = UserInfo.safeParse(body);
    if (!parsed.success || !parsed.data.data.user.open_id) {
      throw new PlatformError({
        class: 'TRANSIENT',
        message: 'TikTok answered GET /v2/user/info/ in an odd shape',
      });
    }
    const user = parsed.data.data.user;
    const openId = user.open_id!;
    // The privacy levels are shown on the connector and checked when an epic is scheduled: an app TikTok has
    // not audited is offered SELF_ONLY alone.
    const creator = await creatorInfo(accessToken, signal);
    return {
      kind: 'tiktok_account',
      externalId: openId,
      name: user.display_name || openId,
      metadata: { privacyLevelOptions: creator.privacy_level_options },
    };
  }

  function credentialsFrom(answer: TokenAnswer, previous?: TikTokCredentials): TikTokCredentials {
    const { refreshToken, refreshTokenExpiresAt, ...access } = oauth2.tokenCredentials(
      now(),
      {
        accessToken: answer.access_token,
        expiresIn: answer.expires_in,
        refreshToken: answer.refresh_token,
        refreshExpiresIn: answer.refresh_expires_in,
        scope: answer.scope,
      },
      previous,
      // A refresh rotates the refresh token: the spent one stops working (PLATFORMS.md).
      { rotates: true },
    );
    if (!refreshToken) {
      throw new PlatformError({
        class: 'TRANSIENT',
        message: 'TikTok answered the token request without a refresh token',
      });
    }
    return {
      ...access,
      refreshToken,
      refreshTokenExpiresAt: refreshTokenExpiresAt ?? null,
      openId: answer.open_id,
    };
  }

  const connector: OAuthConnector<TikTokCredentials> = {
    kind: 'oauth',
    // TikTok asks PKCE of desktop and mobile apps only; a web app proves itself with its client secret.
    pkce: false,
    scopes: tiktokScopes,

    authorizeUrl({ state, redirectUri }) {
      const url = new URL(`${authRoot}/v2/auth/authorize/`);
      url.searchParams.set('client_key', app().clientKey);
      url.searchParams.set('scope', tiktokScopes.join(','));
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('redirect_uri', redirectUri);
      url.searchParams.set('state', state);
      return url.toString();
    },

    async completeConsent({ code, redirectUri, query }): Promise<Connection<TikTokCredentials>> {
      oauth2.refuseDeclinedConsent('TikTok', query);
      const client = app();
      // The user may untick scopes on TikTok's consent page; without ours nothing can be posted (video.list
      // only reads the videos' counts: without it those are unavailable, nothing else).
      return oauth2.connectWithCode({
        exchange: () =>
          tokenRequest(
            {
              client_key: client.clientKey,
              client_secret: client.clientSecret,
              code,
              grant_type: 'authorization_code',
              redirect_uri: redirectUri,
            },
            'code',
            [code],
          ),
        requiredScopes: tiktokScopes.filter(
          (scope) => !(tiktokInsightsScopes as readonly string[]).includes(scope),
        ),
        credentialsFrom: (answer) => credentialsFrom(answer),
        discover: async (credentials) => [await discover(credentials.accessToken)],
        now: now(),
      });
    },
  };

  /**
   * The refusal when a video/init may have left without its answer being kept (a lost answer, a worker killed
   * before it saved the publish_id). TikTok takes no idempotency key, and nothing finds a Direct Post by what
   * it carries: status/fetch needs the publish_id, and /v2/video/list/ (another scope) lists public videos
   * only, not private ones nor those still processing or in moderation. Posting again could make a second
   * video, the worst outcome, so a person looks at the profile instead.
   */
  const initUnconfirmed = (sentAt: string) =>
    invalid(
      `Whether the video/init sent at ${sentAt} made a post is not known (its answer was lost or unclear): ` +
        'the video may be on the TikTok profile, or appear there once processed. It is not sent again, since ' +
        'TikTok offers no way to find it and a second video could result. Check the profile; to post it ' +
        'anyway, duplicate the epic.',
      'video_init_unconfirmed',
    );

  /** Checks the task against what the creator offers now, and what the post must turn off (creator_info). */
  function postInfo(content: TikTokVideo, creator: CreatorInfo) {
    // Worded as when the epic is scheduled: the levels may have changed since (an audit, a private account).
    const unoffered = unofferedChoice('tiktok_video', content, {
      name: creator.creator_nickname || creator.creator_username || 'TikTok creator',
      metadata: { privacyLevelOptions: creator.privacy_level_options },
    });
    if (unoffered) throw invalid(`T${unoffered.message.slice(1)}`, 'privacy_level_option_mismatch');
    const longest = creator.max_video_post_duration_sec;
    if (content.durationSec !== undefined && longest !== undefined && content.durationSec > longest) {
      throw invalid(
        `The video lasts ${content.durationSec} s; this TikTok creator may post videos of ${longest} s at most`,
        'max_video_post_duration_sec',
      );
    }
    // An interaction the creator turned off for their account stays off whatever the task says (TikTok's
    // guidelines: the option is shown off and cannot be turned on).
    return {
      title: content.title,
      privacy_level: content.privacyLevel,
      disable_comment: Boolean(content.disableComment || creator.comment_disabled),
      disable_duet: Boolean(content.disableDuet || creator.duet_disabled),
      disable_stitch: Boolean(content.disableStitch || creator.stitch_disabled),
    };
  }

  /**
   * The one request that makes a post. Not aborted once sent: TikTok may act on a request whose connection
   * we dropped; its answer (bounded by the request time-out) says whether it did. TikTok's own refusal means
   * no post was made, so the marker is cleared and a retry may init again; no answer, or an answer that is
   * not TikTok's refusal (a gateway's 5xx, internal_error, a success without publish_id), leaves it unknown.
   */
  async function initVideo(
    context: PublicationContext<TikTokCredentials>,
    body: {
      post_info: ReturnType<typeof postInfo>;
      source_info: { source: 'PULL_FROM_URL'; video_url: string };
    },
    sentAt: string,
  ): Promise<string> {
    const accessToken = context.credentials.accessToken;
    const path = '/v2/post/publish/video/init/';
    let answer: HttpAnswer;
    try {
      answer = await postRaw(path, accessToken, body, undefined);
    } catch {
      throw initUnconfirmed(sentAt);
    }
    const code = tiktokErrorCode(answer.body);
    if (code !== undefined && code !== 'internal_error') {
      await context.saveProgress({ [progressKeys.initSentAt]: '' });
      throw refusal(answer, accessToken);
    }
    try {
      return readAnswer(VideoInit, path, answer, accessToken).data.publish_id;
    } catch {
      throw initUnconfirmed(sentAt);
    }
  }

  /**
   * Asks status/fetch until TikTok is done with the post (complete or failed), heartbeating between reads,
   * within `deadline`; past it the attempt ends TRANSIENT and the retry resumes the same publish_id.
   */
  async function untilDone(
    context: PublicationContext<TikTokCredentials>,
    publishId: string,
    deadline: number,
  ): Promise<PostStatusAnswer> {
    const { signal } = context;
    const accessToken = context.credentials.accessToken;
    for (;;) {
      await context.takeTurn?.('statusFetch', { needsAfterMs: requestTimeoutMs });
      const status = (
        await post(
          PostStatusAnswer,
          '/v2/post/publish/status/fetch/',
          accessToken,
          { publish_id: publishId },
          signal,
        )
      ).data;
      if (status.status !== 'PROCESSING_DOWNLOAD' && status.status !== 'PROCESSING_UPLOAD') return status;
      context.heartbeat();
      if (Date.now() + statusPoll.intervalMs > deadline) {
        throw new PlatformError({
          class: 'TRANSIENT',
          message:
            `TikTok was still processing the video (${status.status}) after ` +
            `${Math.round(statusPoll.maxWaitMs / 1000)} s; the next attempt goes on waiting for the same post`,
          platformCode: status.status,
        });
      }
      await sleep(statusPoll.intervalMs, undefined, signal ? { signal } : undefined);
    }
  }

  /**
   * The public post id TikTok gives once moderation is done, asked for a little while after PUBLISH_COMPLETE.
   * The post is live already: a failure to read only leaves the publication with its publish_id.
   */
  async function publicIdAfterModeration(
    context: PublicationContext<TikTokCredentials>,
    publishId: string,
  ): Promise<string | undefined> {
    const { signal } = context;
    const until = Date.now() + moderationWaitMs;
    while (Date.now() + statusPoll.intervalMs <= until) {
      context.heartbeat();
      try {
        await sleep(statusPoll.intervalMs, undefined, signal ? { signal } : undefined);
        // The post is live: without a turn within one poll, the follow-up asks for the id instead of this
        // attempt taking turns other posts need.
        await context.takeTurn?.('statusFetch', { maxWaitMs: statusPoll.intervalMs });
        const status = (
          await post(
            PostStatusAnswer,
            '/v2/post/publish/status/fetch/',
            context.credentials.accessToken,
            { publish_id: publishId },
            signal,
          )
        ).data;
        if (status.publicaly_available_post_id[0]) return status.publicaly_available_post_id[0];
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  /**
   * tiktok_video at the time (Direct Post): creator_info (the privacy level must be one the creator offers),
   * one video/init pulling the video from its URL, then status/fetch until PUBLISH_COMPLETE. The publish_id is
   * kept the moment it arrives, so a retry resumes waiting for that post and never inits again; a video/init
   * whose answer was lost is never sent again blindly (see initUnconfirmed). The publication is the public
   * post once moderation gives its id within the attempt, else the publish_id (PUBLISH_COMPLETE is posted).
   */
  async function publish(context: PublicationContext<TikTokCredentials>): Promise<Published> {
    if (context.channel !== 'tiktok_video')
      throw invalid(`TikTok publishes tiktok_video tasks, not ${context.channel}`);
    const parsed = contentSchemas.tiktok_video.safeParse(context.content);
    if (!parsed.success)
      throw invalid(`The tiktok_video content is not valid: ${parsed.error.issues[0]?.message}`);
    const content = parsed.data;
    const { credentials, progress, signal } = context;
    if (context.account?.kind !== 'tiktok_account' || context.account.externalId !== credentials.openId) {
      throw invalid(
        'A TikTok video is posted by the account that connected TikTok: choose it as the task’s account',
      );
    }
    const deadline = Date.now() + statusPoll.maxWaitMs;

    const initSentAt = progress[progressKeys.initSentAt];
    let publishId = progress[progressKeys.publishId] || undefined;
    let done: PostStatusAnswer | undefined;
    let username = progress[progressKeys.creatorUsername] || undefined;
    let privacyLevel = progress[progressKeys.initPrivacyLevel] || content.privacyLevel;
    if (publishId) {
      done = await untilDone(context, publishId, deadline);
      const sameContent =
        (progress[progressKeys.initDigest] ?? context.contentDigest) === context.contentDigest;
      if (done.status === 'FAILED') {
        // A failed post never appears: forgetting it lets the next attempt (or the edited content) start over.
        await context.saveProgress({ [progressKeys.publishId]: '', [progressKeys.initSentAt]: '' });
        if (sameContent) throw rejected(done);
        publishId = undefined;
        done = undefined;
      } else if (!sameContent) {
        throw invalid(
          `TikTok already has a post of an earlier version of this task (publish_id ${publishId}); the ` +
            'edited version is not posted as a second video. To post it as well, duplicate the epic.',
          'earlier_version_posted',
        );
      }
    } else if (initSentAt) {
      throw initUnconfirmed(initSentAt);
    }

    if (!publishId) {
      await context.takeTurn?.('creatorInfo');
      const creator = await creatorInfo(credentials.accessToken, signal);
      const info = postInfo(content, creator);
      username = creator.creator_username || undefined;
      privacyLevel = content.privacyLevel;
      // The turn comes before the last check: what was decided while waiting for it counts. It must leave the
      // time for the check and an init whose answer is read within the attempt (see initUnconfirmed).
      await context.takeTurn?.('videoInit', { needsAfterMs: 2 * requestTimeoutMs });
      await context.beforeGoingLive();
      // An attempt Temporal has given up on (a newer one may be running) must not post.
      signal?.throwIfAborted();
      const sentAt = now().toISOString();
      await context.saveProgress({
        [progressKeys.initSentAt]: sentAt,
        [progressKeys.initDigest]: context.contentDigest,
        [progressKeys.creatorUsername]: username ?? '',
        [progressKeys.initPrivacyLevel]: content.privacyLevel,
      });
      publishId = await initVideo(
        context,
        { post_info: info, source_info: { source: 'PULL_FROM_URL', video_url: content.videoUrl } },
        sentAt,
      );
      await context.saveProgress({ [progressKeys.publishId]: publishId });
    }

    done ??= await untilDone(context, publishId, deadline);
    if (done.status === 'FAILED') {
      await context.saveProgress({ [progressKeys.publishId]: '', [progressKeys.initSentAt]: '' });
      throw rejected(done);
    }
    if (done.status === 'SEND_TO_USER_INBOX') {
      // Direct Post should never end there; if TikTok did, the creator finishes it in the app: not ours to
      // post again.
      throw invalid(
        `TikTok sent the video to the creator's inbox (publish_id ${publishId}) instead of posting it: the ` +
          'creator finishes the post in the TikTok app',
        'SEND_TO_USER_INBOX',
      );
    }
    // (unconfirmed) A private post is not moderated for the public and gets no public id: nothing to wait for.
    const publicId =
      done.publicaly_available_post_id[0] ??
      (privacyLevel === 'SELF_ONLY' ? undefined : await publicIdAfterModeration(context, publishId));
    if (!publicId) {
      // Live, but moderation has not named it yet (minutes to hours): its id is asked for later.
      return privacyLevel === 'SELF_ONLY'
        ? { externalId: publishId, externalUrl: null }
        : { externalId: publishId, externalUrl: null, followUp: true };
    }
    return {
      externalId: publicId,
      externalUrl: await postUrl(credentials, username, publicId, signal, context.takeTurn),
    };
  }

  async function postUrl(
    credentials: TikTokCredentials,
    username: string | undefined,
    publicId: string,
    signal: AbortSignal | undefined,
    takeTurn?: TakeTurn,
  ) {
    // TikTok gave no username at init (or the attempt resumed without it): asked again, at best.
    const askCreator = async () => {
      await takeTurn?.('creatorInfo', { maxWaitMs: statusPoll.intervalMs });
      return creatorInfo(credentials.accessToken, signal);
    };
    const known = username ?? (await askCreator().catch(() => undefined))?.creator_username;
    return known ? tiktokPostUrl(known, publicId) : null;
  }

  /**
   * Before the time, without posting: the account is still the one that connected, and creator_info still
   * offers what the task asks (its privacy level, its length, the creator able to post now). creator_info's
   * own refusals (a dead token, spam_risk_*, reached_active_user_cap) say the same as they would at the time.
   */
  async function preflight(context: PreflightContext<TikTokCredentials>): Promise<void> {
    if (context.channel !== 'tiktok_video') return;
    const parsed = contentSchemas.tiktok_video.safeParse(context.content);
    if (!parsed.success)
      throw invalid(`The tiktok_video content is not valid: ${parsed.error.issues[0]?.message}`);
    const { credentials } = context;
    if (context.account?.kind !== 'tiktok_account' || context.account.externalId !== credentials.openId) {
      throw invalid(
        'A TikTok video is posted by the account that connected TikTok: choose it as the task’s account',
      );
    }
    // Within the check's own budget; a turn further off leaves this check unknown.
    await context.takeTurn?.('creatorInfo', { maxWaitMs: 10_000 });
    postInfo(parsed.data, await creatorInfo(credentials.accessToken, context.signal));
  }

  /** The public id of a post moderation had not named when it was published (see `publish`). */
  async function completePublished(context: FollowUpContext<TikTokCredentials>): Promise<FollowUpAnswer> {
    const publishId = context.progress[progressKeys.publishId] || context.externalId;
    await context.takeTurn?.('statusFetch', { needsAfterMs: requestTimeoutMs });
    const status = (
      await post(
        PostStatusAnswer,
        '/v2/post/publish/status/fetch/',
        context.credentials.accessToken,
        { publish_id: publishId },
        context.signal,
      )
    ).data;
    const publicId = status.publicaly_available_post_id[0];
    if (publicId) {
      const username = context.progress[progressKeys.creatorUsername] || undefined;
      return {
        state: 'final',
        externalId: publicId,
        externalUrl: await postUrl(context.credentials, username, publicId, context.signal, context.takeTurn),
      };
    }
    if (status.status === 'FAILED') {
      return { state: 'ended', reason: `TikTok: ${status.fail_reason ?? 'the post failed'}` };
    }
    return { state: 'pending' };
  }

  const metrics = createTikTokMetrics({
    post,
    publishIdKey: progressKeys.publishId,
    privacyLevelKey: progressKeys.initPrivacyLevel,
  });

  return {
    platform: 'tiktok',
    connector,
    discover,
    publish,
    preflight,
    completePublished,
    collectMetrics: metrics.collectMetrics,
    describeAccounts: async (credentials, signal) => [await discover(credentials.accessToken, signal)],

    canRefresh: (credentials) =>
      oauth2.canRefreshWith(credentials.refreshToken, credentials.refreshTokenExpiresAt, now()),

    async refreshCredentials(credentials) {
      const client = app();
      const answer = await tokenRequest(
        {
          client_key: client.clientKey,
          client_secret: client.clientSecret,
          grant_type: 'refresh_token',
          refresh_token: credentials.refreshToken,
        },
        'refresh',
        [credentials.refreshToken, credentials.accessToken],
      );
      // The old refresh token is dead from here on: the rotated one travels in the returned credentials, which
      // the caller saves in the same write as the new access token.
      return { credentials: credentialsFrom(answer, credentials), expiresAt: at(answer.expires_in) };
    },

    async verifyCredentials(credentials) {
      await oauth2.asConnectionRefusal(async () => {
        await discover(credentials.accessToken);
      }, 'TikTok refused the access token: reconnect TikTok');
    },
  };
}
