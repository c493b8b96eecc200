// Meta adapter: Facebook Page posts and Instagram posts/stories through the Graph API, Facebook ads through
// the Marketing API (meta-ads.ts), plus the OAuth steps (authorize URL, code → long-lived user token, Page,
// Instagram and ad account discovery).
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { contentSchemas, type TaskContent } from '../domain/content.ts';
import { platformDescriptors } from '../domain/platforms.ts';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { createSender, isSuccess, parseRetryAfter, redact } from './http.ts';
import { createMetaAds } from './meta-ads.ts';
import { createMetaMetrics, metaInsightsScopes } from './meta-metrics.ts';
import {
  CredentialsRejectedError,
  type DiscoveredAccount,
  type OAuthConnector,
  type PlatformAdapter,
  type PreflightContext,
  type PrepareContext,
  type PublicationContext,
  type Published,
} from './types.ts';

/**
 * The one place the Graph API version is pinned (PLATFORMS.md), for the Marketing API too: Meta versions
 * both as one, on one host and with one token, so ads move with Pages and Instagram (and the simulator).
 */
export const metaGraphVersion = 'v26.0';

export const metaScopes = platformDescriptors.meta.scopes;
/** The second round, "Enable Ad Account permissions". */
export const metaAdsScopes = platformDescriptors.meta.extraPermissions.scopes;

/** Meta's four sub-connections, as the connectors page counts them ("2 / 4"). */
export const metaSubConnections = [
  'instagram_account',
  'facebook_page',
  'business_account',
  'ad_account',
] as const;

export interface MetaCredentials {
  userAccessToken: string;
  /** ISO instant; null when Meta says the token does not expire. */
  userTokenExpiresAt: string | null;
  pages: Record<
    string /* page id */,
    { name: string; accessToken: string /* page token */; instagramAccountId?: string }
  >;
}

export interface MetaOAuth {
  scopes: readonly string[];
  connector: OAuthConnector<MetaCredentials>;
  authorizeUrl(input: { state: string; redirectUri: string; extra?: string }): string;
  /** Code → short-lived → long-lived user token; expiresAt comes from Meta's expires_in, not a guess. */
  exchangeCode(input: {
    code: string;
    redirectUri: string;
  }): Promise<{ userAccessToken: string; expiresAt: Date | null }>;
  /** Swaps a still-valid user token for a fresh long-lived one (the token-refresh workflow's step). */
  extendUserToken(userAccessToken: string): Promise<{ userAccessToken: string; expiresAt: Date | null }>;
  discover(
    userAccessToken: string,
  ): Promise<{ credentials: MetaCredentials; accounts: DiscoveredAccount[]; grantedScopes: string[] }>;
}

export interface MetaAdapterOptions {
  apiBaseUrl: string;
  authBaseUrl: string;
  clientId: string;
  clientSecret: string;
  fetch?: typeof fetch;
  /** Instagram container polling, injectable for tests. */
  containerPoll?: { intervalMs: number; maxWaitMs: number };
  /** One request's time limit; a hung request becomes TRANSIENT instead of holding the activity. */
  requestTimeoutMs?: number;
  now?: () => Date;
}

export type MetaAdapter = PlatformAdapter<MetaCredentials> & MetaOAuth;

// Meta does not send Retry-After; when no usage header says how long, wait this long before the next attempt.
const defaultRateLimitRetryMs = 60_000;
const rateLimitCodes = new Set([4, 17, 32, 613]);
// Business Use Case rate limits (80004 is ads management), all one kind of throttle.
const isBusinessUseCaseLimit = (code: number) => code >= 80000 && code <= 80014;
const contentRejectedCodes = new Set([368, 506, 1609005]);
// media_publish before the container is FINISHED (subcode 2207027 is unconfirmed, so the code alone decides).
const mediaNotReadyCode = '9007';
// A runaway `paging.next` chain must not keep a connection callback busy forever.
const maxDiscoveryPages = 50;
// The look-up before a retried Page post: our clock and Meta's disagree a little, and a wider window costs
// nothing, since only a post with exactly our message counts.
const feedLookupMarginMs = 5 * 60_000;
// Meta's documented maximum `limit` on Page post edges (a higher one is an error).
const feedLookupPageSize = 100;
// Far beyond what a Page posts between two attempts; reaching it means the look-up could not conclude.
const maxFeedLookupPages = 10;

const GraphErrorBody = z.object({
  error: z.object({
    message: z.string().optional(),
    type: z.string().optional(),
    code: z.coerce.number().optional(),
    error_subcode: z.coerce.number().optional(),
    error_user_msg: z.string().optional(),
    is_transient: z.boolean().optional(),
  }),
});

/**
 * Maps any Graph API error answer onto a publication error class (PLATFORMS.md, Meta). A code Meta documents
 * wins over the HTTP status; `is_transient: true` wins over both.
 */
export function mapMetaError(status: number, body: unknown, headers: Headers): PublicationFailure {
  const parsed = GraphErrorBody.safeParse(body);
  const error = parsed.success ? parsed.data.error : undefined;
  const code = error?.code;
  const platformCode =
    code === undefined ? undefined : error?.error_subcode ? `${code}/${error.error_subcode}` : String(code);
  const message = error?.error_user_msg || error?.message || `Meta answered HTTP ${status}`;
  const failure = (errorClass: PublicationFailure['class'], retryAfterMs?: number): PublicationFailure => ({
    class: errorClass,
    message,
    ...(platformCode === undefined ? {} : { platformCode }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });

  if (error?.is_transient === true) return failure('TRANSIENT');
  if (code !== undefined) {
    if (code === 190 || code === 102) return failure('TOKEN_EXPIRED');
    if (code === 10 || (code >= 200 && code <= 299)) return failure('PERMISSION_REVOKED');
    if (rateLimitCodes.has(code) || isBusinessUseCaseLimit(code))
      return failure('RATE_LIMITED', rateLimitDelayMs(headers));
    if (contentRejectedCodes.has(code)) return failure('CONTENT_REJECTED');
    if (code === 1 || code === 2) return failure('TRANSIENT');
  }
  if (status >= 500) return failure('TRANSIENT');
  if (status === 429) return failure('RATE_LIMITED', rateLimitDelayMs(headers));
  return failure('INVALID_REQUEST');
}

function rateLimitDelayMs(headers: Headers): number {
  const retryAfter = parseRetryAfter(headers.get('retry-after'));
  if (retryAfter) return retryAfter;
  // (unconfirmed) X-Business-Use-Case-Usage: {"<object id>": [{"type": "pages", …,
  // "estimated_time_to_regain_access": <minutes>}]}; the longest wait of any listed object applies.
  // X-Ad-Account-Usage (ads): `reset_time_duration`, in seconds, until the account's score is back to 0.
  let adAccountResetMs = 0;
  try {
    const reset = Number(
      (JSON.parse(headers.get('x-ad-account-usage') ?? '{}') as Record<string, unknown>).reset_time_duration,
    );
    if (reset > 0) adAccountResetMs = reset * 1000;
  } catch {
    // A malformed usage header only costs us the precise delay.
  }
  const usage = headers.get('x-business-use-case-usage');
  if (usage) {
    try {
      const entries = Object.values(JSON.parse(usage) as Record<string, unknown>).flat();
      const minutes = Math.max(
        0,
        ...entries.map((entry) =>
          typeof entry === 'object' && entry !== null
            ? Number((entry as Record<string, unknown>).estimated_time_to_regain_access) || 0
            : 0,
        ),
      );
      if (minutes > 0 || adAccountResetMs > 0) return Math.max(minutes * 60_000, adAccountResetMs);
    } catch {
      // A malformed usage header only costs us the precise delay.
    }
  }
  return adAccountResetMs || defaultRateLimitRetryMs;
}

interface GraphRequest {
  method: 'GET' | 'POST' | 'DELETE';
  /** After the version, e.g. `/1789/media_publish`. */
  path: string;
  params?: Record<string, string | undefined>;
  /** Sent as `Authorization: Bearer`, which keeps tokens out of URLs that proxies might log. */
  token?: string;
  /** Values that must never reach an error message (tokens, the client secret, an OAuth code). */
  secrets?: string[];
  signal?: AbortSignal | undefined;
}

const ContainerId = z.object({ id: z.string().min(1) });
const ContainerStatus = z.object({
  status_code: z.enum(['IN_PROGRESS', 'FINISHED', 'ERROR', 'EXPIRED', 'PUBLISHED']),
  status: z.string().optional(),
});
type ContainerStatusCode = z.infer<typeof ContainerStatus>['status_code'];
const TokenAnswer = z.object({ access_token: z.string().min(1), expires_in: z.coerce.number().optional() });
const AccountsPage = z.object({
  data: z.array(
    z.object({
      id: z.string(),
      name: z.string().optional(),
      access_token: z.string().optional(),
      instagram_business_account: z.object({ id: z.string(), username: z.string().optional() }).optional(),
    }),
  ),
  paging: z.object({ next: z.string().optional() }).optional(),
});
const PagePosts = z.object({
  data: z.array(
    z.object({ id: z.string(), message: z.string().optional(), created_time: z.string().optional() }),
  ),
  paging: z.object({ next: z.string().optional() }).optional(),
});
const NamedNodes = z.object({
  data: z.array(z.object({ id: z.string(), name: z.string().optional() })),
});
const Permissions = z.object({
  data: z.array(z.object({ permission: z.string(), status: z.string() })),
});
const NodeId = z.object({ id: z.string() });
const DebugToken = z.object({
  data: z.object({
    is_valid: z.boolean().optional(),
    expires_at: z.number().optional(),
    scopes: z.array(z.string()).optional(),
  }),
});

/** The permissions each channel publishes with (PLATFORMS.md, Meta): without one, publishing is refused. */
const publishingPermissions: Partial<Record<string, readonly string[]>> = {
  facebook_post: ['pages_manage_posts', 'pages_read_engagement'],
  instagram_post: ['instagram_basic', 'instagram_content_publish'],
  instagram_story: ['instagram_basic', 'instagram_content_publish'],
  facebook_ad: ['ads_management'],
};

/** A target the pre-flight reads: its account and the credentials that reach it. */
type TargetOf = Pick<PublicationContext<MetaCredentials>, 'channel' | 'account' | 'credentials'>;

function invalid(message: string): PlatformError {
  return new PlatformError({ class: 'INVALID_REQUEST', message });
}

/** The query of a `paging.next` URL, cursor only: its host is not trusted with the token, which it embeds. */
function nextPageParams(next: string): Record<string, string> {
  const params = Object.fromEntries(new URL(next).searchParams);
  delete params.access_token;
  return params;
}

/** Meta may normalise line breaks or trim what it stores; anything beyond that is another message. */
/** A post's text as compared: line endings and surrounding blanks do not count. */
function messageDigest(text: string): string {
  const normal = text.replace(/\r\n?/g, '\n').trim();
  return createHash('sha256').update(normal).digest('base64url').slice(0, 16);
}

const videoExtension = /\.(mp4|mov|m4v)$/i;
/** The content holds bare URLs; Meta wants image_url or video_url, so the file extension decides. */
function mediaParams(url: string): { image_url: string } | { video_url: string } {
  return videoExtension.test(new URL(url).pathname) ? { video_url: url } : { image_url: url };
}

export function createMetaAdapter(options: MetaAdapterOptions): MetaAdapter {
  const poll = options.containerPoll ?? { intervalMs: 1000, maxWaitMs: 60_000 };
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const now = options.now ?? (() => new Date());
  const apiRoot = `${options.apiBaseUrl.replace(/\/+$/, '')}/${metaGraphVersion}`;
  const appSecrets = [options.clientSecret];
  const send = createSender({ fetch: options.fetch, timeoutMs: requestTimeoutMs, platformName: 'Meta' });

  /** Exactly one HTTP try: every failure becomes a PlatformError for Temporal to retry (or not). */
  async function graph<T>(schema: z.ZodType<T>, request: GraphRequest): Promise<T> {
    const secrets = [...appSecrets, ...(request.token ? [request.token] : []), ...(request.secrets ?? [])];
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(request.params ?? {}))
      if (value !== undefined) params.set(name, value);
    const query = request.method !== 'POST' && params.size > 0 ? `?${params}` : '';
    const headers: Record<string, string> = { accept: 'application/json' };
    if (request.token) headers.authorization = `Bearer ${request.token}`;
    const {
      status,
      headers: responseHeaders,
      body,
    } = await send({
      method: request.method,
      url: `${apiRoot}${request.path}${query}`,
      headers,
      ...(request.method === 'POST' ? { body: { form: params } } : {}),
      signal: request.signal,
      secrets,
    });

    // Graph occasionally wraps an error in a 200; the error body decides, not the status.
    const hasError = typeof body === 'object' && body !== null && 'error' in body;
    if (!isSuccess(status) || hasError) {
      const failure = mapMetaError(status, body, responseHeaders);
      throw new PlatformError({ ...failure, message: redact(failure.message, secrets) });
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      throw new PlatformError({
        class: 'TRANSIENT',
        message: `Meta answered ${request.method} ${request.path.replace(/^\/\d+/, '/{id}')} in an odd shape`,
      });
    }
    return parsed.data;
  }

  const ads = createMetaAds({ graph });
  const metrics = createMetaMetrics({ graph, now });

  function tokenAnswer(answer: z.infer<typeof TokenAnswer>) {
    return {
      userAccessToken: answer.access_token,
      // Stored as Meta returned it; no expires_in means Meta did not give the token an end.
      expiresAt: answer.expires_in ? new Date(now().getTime() + answer.expires_in * 1000) : null,
    };
  }

  async function extendUserToken(userAccessToken: string) {
    const answer = await graph(TokenAnswer, {
      method: 'GET',
      path: '/oauth/access_token',
      params: {
        grant_type: 'fb_exchange_token',
        client_id: options.clientId,
        client_secret: options.clientSecret,
        fb_exchange_token: userAccessToken,
      },
      secrets: [userAccessToken],
    });
    return tokenAnswer(answer);
  }

  async function discover(userAccessToken: string) {
    const debug = await graph(DebugToken, {
      method: 'GET',
      path: '/debug_token',
      params: { input_token: userAccessToken, access_token: `${options.clientId}|${options.clientSecret}` },
      secrets: [userAccessToken],
    });
    const expiresAt = debug.data.expires_at ? new Date(debug.data.expires_at * 1000).toISOString() : null;

    const credentials: MetaCredentials = { userAccessToken, userTokenExpiresAt: expiresAt, pages: {} };
    const accounts: DiscoveredAccount[] = [];
    let params: Record<string, string> = {
      fields: 'id,name,access_token,instagram_business_account{id,username}',
      limit: '100',
    };
    for (let page = 0; page < maxDiscoveryPages; page += 1) {
      const answer = await graph(AccountsPage, {
        method: 'GET',
        path: '/me/accounts',
        params,
        token: userAccessToken,
      });
      for (const found of answer.data) {
        // Without a Page token (the user lacks a publishing task on it) the Page cannot be published to.
        if (!found.access_token) continue;
        const name = found.name ?? found.id;
        const instagram = found.instagram_business_account;
        credentials.pages[found.id] = {
          name,
          accessToken: found.access_token,
          ...(instagram ? { instagramAccountId: instagram.id } : {}),
        };
        accounts.push({ kind: 'facebook_page', externalId: found.id, name });
        if (instagram) {
          accounts.push({
            kind: 'instagram_account',
            externalId: instagram.id,
            name: instagram.username ?? instagram.id,
          });
        }
      }
      const next = answer.paging?.next;
      if (!next) break;
      params = nextPageParams(next);
    }
    const grantedScopes = debug.data.scopes ?? [];
    // The Business and Ad Account sub-connections exist only once their permission was granted.
    const subConnections = [
      { scope: 'business_management', path: '/me/businesses', kind: 'business_account' },
      { scope: 'ads_management', path: '/me/adaccounts', kind: 'ad_account' },
    ] as const;
    for (const sub of subConnections) {
      if (!grantedScopes.includes(sub.scope)) continue;
      const nodes = await graph(NamedNodes, {
        method: 'GET',
        path: sub.path,
        params: { fields: 'id,name', limit: '100' },
        token: userAccessToken,
      });
      for (const node of nodes.data)
        accounts.push({ kind: sub.kind, externalId: node.id, name: node.name ?? node.id });
    }
    return { credentials, accounts, grantedScopes };
  }

  function requirePage(context: TargetOf) {
    const account = context.account;
    if (account?.kind !== 'facebook_page') {
      throw invalid(`${context.channel} needs a Facebook Page as its target account`);
    }
    const page = context.credentials.pages[account.externalId];
    if (!page) {
      throw new PlatformError({
        class: 'PERMISSION_REVOKED',
        message: 'This Facebook Page is no longer among the connected Pages; reconnect Meta to publish to it',
      });
    }
    return { pageId: account.externalId, page };
  }

  function requireInstagram(context: TargetOf) {
    const account = context.account;
    if (account?.kind !== 'instagram_account') {
      throw invalid(`${context.channel} needs an Instagram account as its target account`);
    }
    const page = Object.values(context.credentials.pages).find(
      (candidate) => candidate.instagramAccountId === account.externalId,
    );
    if (!page) {
      throw new PlatformError({
        class: 'PERMISSION_REVOKED',
        message: 'No connected Facebook Page links this Instagram account any more; reconnect Meta',
      });
    }
    return { igUserId: account.externalId, token: page.accessToken };
  }

  /**
   * Before the time, without publishing: the permissions the channel publishes with are still granted (a
   * person can remove one in their Facebook settings at any time), and the Page or Instagram account still
   * answers its token (a Page deleted or no longer managed, an Instagram account restricted or deactivated).
   */
  async function preflight(context: PreflightContext<MetaCredentials>): Promise<void> {
    const needed = publishingPermissions[context.channel];
    if (!needed) return;
    const signal = context.signal;
    const granted = await graph(Permissions, {
      method: 'GET',
      path: '/me/permissions',
      token: context.credentials.userAccessToken,
      signal,
    });
    const missing = needed.filter(
      (name) => !granted.data.some((entry) => entry.permission === name && entry.status === 'granted'),
    );
    if (missing.length > 0) {
      throw new PlatformError({
        class: 'PERMISSION_REVOKED',
        message: `Meta no longer grants ${missing.join(', ')}: reconnect Meta and allow ${missing.length === 1 ? 'it' : 'them'}`,
        platformCode: 'permissions:declined',
      });
    }
    if (context.channel === 'facebook_ad') return ads.preflight(context);
    let target: { id: string; token: string; fields: string; what: string };
    if (context.channel === 'facebook_post') {
      const { pageId, page } = requirePage(context);
      target = { id: pageId, token: page.accessToken, fields: 'id', what: `The Facebook Page ${page.name}` };
    } else {
      const { igUserId, token } = requireInstagram(context);
      target = { id: igUserId, token, fields: 'id,username', what: 'The Instagram account' };
    }
    try {
      await graph(NodeId, {
        method: 'GET',
        path: `/${target.id}`,
        params: { fields: target.fields },
        token: target.token,
        signal,
      });
    } catch (error) {
      // Meta answers a Page that is gone or no longer managed like one that never existed (#100/33).
      if (error instanceof PlatformError && error.failure.class === 'INVALID_REQUEST') {
        throw new PlatformError({
          ...error.failure,
          message: `${target.what} cannot be published to: ${error.failure.message}`,
        });
      }
      throw error;
    }
  }

  function contentOf<C extends 'facebook_post' | 'instagram_post' | 'instagram_story'>(
    channel: C,
    content: TaskContent,
  ): TaskContent<C> {
    const parsed = contentSchemas[channel].safeParse(content);
    if (!parsed.success)
      throw invalid(`The ${channel} content is not valid: ${parsed.error.issues[0]?.message}`);
    return parsed.data as TaskContent<C>;
  }

  async function publishFacebookPost(context: PublicationContext<MetaCredentials>): Promise<Published> {
    const externalUrl = (id: string) => `https://www.facebook.com/${id}`;
    // The post exists already: an earlier attempt got Meta's answer. Never post it twice.
    if (context.progress.postId)
      return { externalId: context.progress.postId, externalUrl: externalUrl(context.progress.postId) };
    const { pageId, page } = requirePage(context);
    const content = contentOf('facebook_post', context.content);
    const signal = context.signal;

    // Photos go up unpublished (invisible) and are attached to one feed post; ids are kept as they arrive so
    // a retry reuses them. An upload whose answer was lost leaves only an invisible, unattached photo.
    const mediaUrls = content.mediaUrls ?? [];
    // Photos uploaded for other content (the task was edited since) are not this post's.
    const sameContent = (context.progress.contentDigest ?? context.contentDigest) === context.contentDigest;
    const photoIds = context.progress.photoIds && sameContent ? context.progress.photoIds.split(',') : [];
    if (!sameContent) await context.saveProgress({ photoIds: '', contentDigest: context.contentDigest });
    for (const url of mediaUrls.slice(photoIds.length)) {
      const photo = await graph(ContainerId, {
        method: 'POST',
        path: `/${pageId}/photos`,
        params: { url, published: 'false' },
        token: page.accessToken,
        signal,
      });
      photoIds.push(photo.id);
      await context.saveProgress({ photoIds: photoIds.join(','), contentDigest: context.contentDigest });
    }

    const params: Record<string, string | undefined> = { message: content.text };
    if (photoIds.length === 0) {
      params.link = content.link;
    } else {
      // A feed post takes either a link preview or attached photos; with photos the link rides in the text.
      if (content.link && !content.text.includes(content.link))
        params.message = `${content.text}\n\n${content.link}`;
      photoIds.forEach((id, index) => {
        params[`attached_media[${index}]`] = JSON.stringify({ media_fbid: id });
      });
    }
    const message = params.message ?? content.text;

    // /feed takes no idempotency key, so a worker killed between Meta's answer and saving postId would post
    // twice on the retry. The marker says a /feed call may have left; only then is the Page asked first.
    // Every text a /feed call carried is remembered (as digests): a post an earlier attempt made is found
    // even when the task was edited since, and is not posted again.
    const sentTexts = (context.progress.feedMessages ?? '').split(',').filter(Boolean);
    const attemptedAt = context.progress.feedAttemptAt;
    if (attemptedAt) {
      const earlier = await findEarlierPost({
        pageId,
        token: page.accessToken,
        messages: [messageDigest(message), ...sentTexts],
        attemptedAt,
        signal,
      });
      if (earlier) {
        await context.saveProgress({ postId: earlier });
        return { externalId: earlier, externalUrl: externalUrl(earlier) };
      }
    }
    // The first marker stays: the look-up window must cover every attempt's /feed call, not just the last.
    await context.saveProgress({
      ...(attemptedAt ? {} : { feedAttemptAt: now().toISOString() }),
      feedMessages: [...new Set([...sentTexts, messageDigest(message)])].join(','),
    });

    await context.beforeGoingLive();
    const post = await graph(ContainerId, {
      method: 'POST',
      path: `/${pageId}/feed`,
      params,
      token: page.accessToken,
      signal,
    });
    await context.saveProgress({ postId: post.id });
    return { externalId: post.id, externalUrl: externalUrl(post.id) };
  }

  /**
   * The Page's own post with one of these texts, made since the first /feed call of this publication may have
   * left (the id of the newest such post), or null. Any failure to read is thrown: posting blind could post
   * twice, and Temporal retries the attempt.
   */
  async function findEarlierPost(input: {
    pageId: string;
    token: string;
    /** Digests of the texts this publication may have posted. */
    messages: string[];
    attemptedAt: string;
    signal: AbortSignal | undefined;
  }): Promise<string | null> {
    const markedAt = Date.parse(input.attemptedAt);
    if (Number.isNaN(markedAt)) throw invalid(`The saved feedAttemptAt (${input.attemptedAt}) is not a time`);
    // Whole seconds, as Meta's `since` and created_time have them.
    const windowStart = Math.floor((markedAt - feedLookupMarginMs) / 1000) * 1000;
    // /posts holds only what the Page itself published: a visitor's post with the same words is not ours.
    let params: Record<string, string> = {
      fields: 'id,message,created_time',
      since: String(windowStart / 1000),
      limit: String(feedLookupPageSize),
    };
    for (let page = 0; page < maxFeedLookupPages; page += 1) {
      const answer = await graph(PagePosts, {
        method: 'GET',
        path: `/${input.pageId}/posts`,
        params,
        token: input.token,
        signal: input.signal,
      });
      let olderThanWindow = 0;
      for (const post of answer.data) {
        // `since` may filter on updated_time, so an old post edited lately can come back: created_time decides.
        const createdAt = post.created_time ? Date.parse(post.created_time) : Number.NaN;
        if (createdAt < windowStart) {
          olderThanWindow += 1;
          continue;
        }
        if (post.message !== undefined && input.messages.includes(messageDigest(post.message)))
          return post.id;
      }
      const next = answer.paging?.next;
      // Newest first: a page entirely before the window means the rest is too. Meta may hand out a `next`
      // link even when nothing follows, so an empty page ends the walk as well.
      if (!next || answer.data.length === 0 || olderThanWindow === answer.data.length) return null;
      params = nextPageParams(next);
    }
    // Retrying would read the same pages again: a person has to look at the Page.
    throw new PlatformError({
      class: 'INVALID_REQUEST',
      message:
        `The Page has more than ${maxFeedLookupPages * feedLookupPageSize} posts since this post was first ` +
        'sent; whether it was published already cannot be confirmed, so it is not sent again',
      platformCode: 'feed-lookup:inconclusive',
    });
  }

  /**
   * Instagram in two steps: the media container is made (Meta fetches and processes the media) and waited for
   * until FINISHED, then `media_publish` makes it live. Preparing runs only the first step, ahead of the time;
   * publishing reuses the container progress names, made for the same content, and does the rest.
   */
  async function publishInstagram(context: PublicationContext<MetaCredentials>): Promise<Published>;
  async function publishInstagram(
    context: PrepareContext<MetaCredentials>,
    only: 'prepare',
  ): Promise<undefined>;
  async function publishInstagram(
    context: PrepareContext<MetaCredentials> &
      Partial<Pick<PublicationContext<MetaCredentials>, 'beforeGoingLive'>>,
    only?: 'prepare',
  ): Promise<Published | undefined> {
    const { igUserId, token } = requireInstagram(context);
    const signal = context.signal;
    const call = <T>(schema: z.ZodType<T>, request: Omit<GraphRequest, 'token' | 'signal'>) =>
      graph(schema, { ...request, token, signal });

    const permalink = async (mediaId: string): Promise<string | null> => {
      // Only a link for people to click: once the media is live, failing to read it must not fail it.
      try {
        const answer = await call(z.object({ permalink: z.string().optional() }), {
          method: 'GET',
          path: `/${mediaId}`,
          params: { fields: 'permalink' },
        });
        return answer.permalink ?? null;
      } catch {
        return null;
      }
    };

    const readStatus = (containerId: string) =>
      call(ContainerStatus, {
        method: 'GET',
        path: `/${containerId}`,
        params: { fields: 'status_code,status' },
      });

    // An ERROR or EXPIRED container can never be published: forget it (the empty string means "none", as
    // progress values are strings) so the next attempt starts from a fresh container.
    const abandon = async (containerId: string, code: 'ERROR' | 'EXPIRED', detail?: string) => {
      await context.saveProgress({ containerId: '' });
      if (code === 'ERROR') {
        throw new PlatformError({
          class: 'CONTENT_REJECTED',
          message: `Instagram could not process the media${detail ? `: ${detail}` : ''}`,
          platformCode: 'container:ERROR',
        });
      }
      throw new PlatformError({
        class: 'TRANSIENT',
        message: `Instagram media container ${containerId} expired unpublished; the retry makes a new one`,
        platformCode: 'container:EXPIRED',
      });
    };

    // One deadline for the whole attempt, so not-ready answers cannot keep it alive beyond maxWaitMs either.
    const deadline = Date.now() + poll.maxWaitMs;
    const waitOneInterval = async () => {
      context.heartbeat();
      if (Date.now() + poll.intervalMs > deadline) {
        // containerId stays saved: the next attempt resumes with the same container.
        throw new PlatformError({
          class: 'TRANSIENT',
          message: `Instagram was still processing the media after ${Math.round(poll.maxWaitMs / 1000)} s`,
          platformCode: 'container:IN_PROGRESS',
        });
      }
      await sleep(poll.intervalMs, undefined, signal ? { signal } : undefined);
    };

    /** Polls (not retries: each read is a new question) until the container can be published or has been. */
    const waitUntilReady = async (
      containerId: string,
      known: ContainerStatusCode | undefined,
    ): Promise<'FINISHED' | 'PUBLISHED'> => {
      let status = known ? { status_code: known, status: undefined } : await readStatus(containerId);
      for (;;) {
        const code = status.status_code;
        if (code === 'FINISHED' || code === 'PUBLISHED') return code;
        if (code === 'ERROR' || code === 'EXPIRED') return abandon(containerId, code, status.status);
        await waitOneInterval();
        status = await readStatus(containerId);
      }
    };

    const publishedFromContainer = (containerId: string): Published => ({
      // The Graph API links no media id to a container, so when the attempt that published it died before
      // saving the media id, the container id is the only handle we have (and it builds no permalink).
      externalId: containerId,
      externalUrl: null,
    });

    const mediaId = context.progress.mediaId;
    if (mediaId) return only ? undefined : { externalId: mediaId, externalUrl: await permalink(mediaId) };

    // THE DUPLICATE GUARD: a container from an earlier attempt is asked about before anything is created.
    let containerId = context.progress.containerId || undefined;
    let state: ContainerStatusCode | undefined;
    const madeOn = context.progress.containerAccount;
    if (containerId && madeOn !== undefined && madeOn !== igUserId) {
      // Made on the account the task named before it was moved to this one: that account's, not this post.
      await context.saveProgress({ containerId: '' });
      containerId = undefined;
    }
    if (containerId) {
      const status = await readStatus(containerId);
      if (status.status_code === 'PUBLISHED') return only ? undefined : publishedFromContainer(containerId);
      const madeFor = context.progress.contentDigest;
      if (madeFor !== undefined && madeFor !== context.contentDigest) {
        // Made for content the task no longer has (edited since), and never published: not this post.
        await context.saveProgress({ containerId: '' });
        containerId = undefined;
      } else if (status.status_code === 'EXPIRED') {
        // Never published (PUBLISHED would stay PUBLISHED), so starting over cannot double-post.
        await context.saveProgress({ containerId: '' });
        containerId = undefined;
      } else if (status.status_code === 'ERROR') {
        return abandon(containerId, 'ERROR', status.status);
      } else {
        state = status.status_code;
      }
    }

    if (!containerId) {
      containerId = await createContainer(context, call, igUserId);
      await context.saveProgress({
        containerId,
        contentDigest: context.contentDigest,
        containerAccount: igUserId,
      });
    }

    if (only) {
      // Prepared once Meta has the media: a container still processing at the end of the wait is prepared
      // too (saved, and publishing waits for it), and one Meta refused is refused an hour ahead.
      try {
        await waitUntilReady(containerId, state);
      } catch (error) {
        if (error instanceof PlatformError && error.failure.platformCode === 'container:IN_PROGRESS') return;
        throw error;
      }
      return;
    }
    const goLive = context.beforeGoingLive;
    if (!goLive) throw invalid('Publishing an Instagram container needs the check before going live');
    for (;;) {
      state = await waitUntilReady(containerId, state);
      if (state === 'PUBLISHED') return publishedFromContainer(containerId);
      await goLive();
      try {
        const published = await call(ContainerId, {
          method: 'POST',
          path: `/${igUserId}/media_publish`,
          params: { creation_id: containerId },
        });
        await context.saveProgress({ mediaId: published.id });
        return { externalId: published.id, externalUrl: await permalink(published.id) };
      } catch (error) {
        const notReady =
          error instanceof PlatformError && error.failure.platformCode?.split('/')[0] === mediaNotReadyCode;
        if (!notReady) throw error;
        // Meta says the container is not ready although its status said FINISHED: wait, then ask again.
        await waitOneInterval();
        state = undefined;
      }
    }
  }

  async function createContainer(
    context: PrepareContext<MetaCredentials>,
    call: <T>(schema: z.ZodType<T>, request: Omit<GraphRequest, 'token' | 'signal'>) => Promise<T>,
    igUserId: string,
  ): Promise<string> {
    // Fenced like every create: nothing is made for a schedule withdrawn since this attempt started.
    const create = async (params: Record<string, string | undefined>) => {
      await context.beforeCreating?.();
      const answer = await call(ContainerId, { method: 'POST', path: `/${igUserId}/media`, params });
      return answer.id;
    };

    if (context.channel === 'instagram_story') {
      const content = contentOf('instagram_story', context.content);
      return create({ media_type: 'STORIES', ...mediaParams(content.mediaUrl) });
    }
    const content = contentOf('instagram_post', context.content);
    const [only, ...rest] = content.mediaUrls;
    if (only === undefined) throw invalid('An Instagram post needs at least one media URL');
    if (rest.length === 0) {
      const media = mediaParams(only);
      // Instagram publishes single videos as reels (the VIDEO type is for carousel items only).
      return create({
        ...media,
        ...('video_url' in media ? { media_type: 'REELS' } : {}),
        caption: content.caption,
      });
    }
    // Children are not kept in progress: a crash before the carousel container exists only leaves unpublished
    // children, which expire on their own.
    const children: string[] = [];
    for (const url of content.mediaUrls) {
      const media = mediaParams(url);
      children.push(
        await create({
          ...media,
          ...('video_url' in media ? { media_type: 'VIDEO' } : {}),
          is_carousel_item: 'true',
        }),
      );
    }
    return create({ media_type: 'CAROUSEL', children: children.join(','), caption: content.caption });
  }

  function authorizeUrl(input: { state: string; redirectUri: string; extra?: string }) {
    const url = new URL(`${options.authBaseUrl.replace(/\/+$/, '')}/${metaGraphVersion}/dialog/oauth`);
    url.searchParams.set('client_id', options.clientId);
    url.searchParams.set('redirect_uri', input.redirectUri);
    url.searchParams.set('state', input.state);
    const scopes = input.extra === 'ads' ? [...metaScopes, ...metaAdsScopes] : metaScopes;
    url.searchParams.set('scope', scopes.join(','));
    url.searchParams.set('response_type', 'code');
    return url.toString();
  }

  async function exchangeCode(code: string, redirectUri: string) {
    const shortLived = await graph(TokenAnswer, {
      method: 'GET',
      path: '/oauth/access_token',
      params: {
        client_id: options.clientId,
        redirect_uri: redirectUri,
        client_secret: options.clientSecret,
        code,
      },
      secrets: [code],
    });
    return extendUserToken(shortLived.access_token);
  }

  return {
    platform: 'meta',
    scopes: metaScopes,

    // A long-lived user token can be exchanged for a fresh one while it is still valid; the Page tokens
    // derived from a long-lived user token do not expire, so they are kept as they are.
    async refreshCredentials(credentials) {
      const extended = await extendUserToken(credentials.userAccessToken);
      return {
        credentials: {
          ...credentials,
          userAccessToken: extended.userAccessToken,
          userTokenExpiresAt: extended.expiresAt?.toISOString() ?? null,
        },
        expiresAt: extended.expiresAt,
      };
    },

    authorizeUrl,

    connector: {
      kind: 'oauth',
      pkce: false,
      scopes: metaScopes,
      authorizeUrl,
      async completeConsent({ code, redirectUri }) {
        const token = await exchangeCode(code, redirectUri);
        const found = await discover(token.userAccessToken);
        // A user who unticked every publishing permission shared nothing we can publish to (the insights
        // permissions are never required: without them only the metrics are unavailable).
        const publishing = metaScopes.filter(
          (scope) => !(metaInsightsScopes as readonly string[]).includes(scope),
        );
        if (found.accounts.length === 0 && !publishing.every((scope) => found.grantedScopes.includes(scope)))
          throw new CredentialsRejectedError('Scopes insufficient');
        return {
          credentials: found.credentials,
          expiresAt: token.expiresAt,
          accounts: found.accounts,
          grantedScopes: found.grantedScopes,
        };
      },
    },

    exchangeCode: ({ code, redirectUri }) => exchangeCode(code, redirectUri),

    extendUserToken,
    discover,

    preflight,

    // A Page post has nothing that can wait unpublished; an Instagram container waits up to 24 hours.
    async prepare(context) {
      if (context.channel === 'facebook_ad') await ads.prepare(context);
      if (context.channel === 'instagram_post' || context.channel === 'instagram_story')
        await publishInstagram(context, 'prepare');
    },
    // Only ads leave something to delete (found by their keys in progress): Meta offers no way to delete an
    // Instagram container, which expires unpublished on its own. Its id stays in progress, so a later publish still finds a container an attempt
    // whose answer was lost published, and reuses one made for the same content.
    discardPrepared: ads.discardPrepared,
    collectMetrics: metrics.collectMetrics,

    async publish(context) {
      switch (context.channel) {
        case 'facebook_post':
          return publishFacebookPost(context);
        case 'facebook_ad':
          return ads.publish(context);
        case 'instagram_post':
        case 'instagram_story':
          return publishInstagram(context);
        default:
          throw invalid(`The Meta adapter does not publish ${context.channel} yet`);
      }
    },
  };
}
