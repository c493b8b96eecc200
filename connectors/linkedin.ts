// LinkedIn adapter: the OAuth consent (no PKCE for web apps), code → token, the organizations the member may
// post for, token refresh for the apps LinkedIn approved for programmatic refresh tokens, and publishing a post
// as an organization (Posts API, images through the Images API) exactly once.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { contentSchemas, linkedinCommentary } from '../domain/content.ts';
import { platformDescriptors } from '../domain/platforms.ts';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { createSender, download, type HttpAnswer, isSuccess, redact, retryAfterField } from './http.ts';
import { createLinkedInMetrics, linkedinInsightsScopes } from './linkedin-metrics.ts';
import * as oauth2 from './oauth2.ts';
import { guardHost, type HostGuard, HostRefusedError, pinnedFetch, systemLookup } from './public-hosts.ts';
import type {
  Connection,
  DiscoveredAccount,
  OAuthConnector,
  PlatformAdapter,
  PublicationContext,
  Published,
} from './types.ts';

/** The one place the REST API version is pinned (`LinkedIn-Version`, YYYYMM; each is served about a year). */
export const linkedinApiVersion = '202607';

export const linkedinScopes = platformDescriptors.linkedin.scopes;

/** The real hosts, for when the configuration leaves them out. */
export const linkedinDefaultHosts = {
  apiBaseUrl: 'https://api.linkedin.com',
  authBaseUrl: 'https://www.linkedin.com',
} as const;

export interface LinkedInCredentials {
  accessToken: string;
  /** ISO instant from LinkedIn's `expires_in` (60 days today); null when LinkedIn gave none. */
  accessTokenExpiresAt: string | null;
  /** Only for apps LinkedIn approved for programmatic refresh tokens; absent otherwise. */
  refreshToken?: string;
  /** ISO instant from `refresh_token_expires_in`; a refresh does not push it back (LinkedIn keeps the TTL). */
  refreshTokenExpiresAt?: string | null;
  /** What LinkedIn says it granted. */
  scopes: string[];
}

export type LinkedInAdapterOptions = oauth2.OAuthAdapterOptions & {
  /**
   * `MEDIA_ALLOW_PRIVATE_HOSTS`: a task's media may be on a private or loopback address (tests, an intranet).
   * Off, the worker never fetches from one: a media URL is the user's to write, the network is not theirs.
   */
  allowPrivateMediaHosts?: boolean;
  /** How the look-up for a post an earlier attempt may have made pages through the organization's posts. */
  postsLookup?: { pageSize: number; maxPages: number };
};

export type LinkedInAdapter = PlatformAdapter<LinkedInCredentials> &
  Required<
    Pick<PlatformAdapter<LinkedInCredentials>, 'refreshCredentials' | 'canRefresh' | 'verifyCredentials'>
  > & {
    connector: OAuthConnector<LinkedInCredentials>;
    /** The organizations the token's member may post for (an approved posting role), with their names. */
    discover(accessToken: string): Promise<DiscoveredAccount[]>;
  };

/**
 * The organization roles w_organization_social lets post. organizationAcls names the content role
 * CONTENT_ADMINISTRATOR; the Posts API's permission table calls it CONTENT_ADMIN: either counts.
 */
export const linkedinPostingRoles: readonly string[] = [
  'ADMINISTRATOR',
  'CONTENT_ADMINISTRATOR',
  'CONTENT_ADMIN',
  'DIRECT_SPONSORED_CONTENT_POSTER',
];

// Asked per organizationAcls page; the paging block's `total` says when the walk is done.
const aclPageSize = 50;
// A runaway paging answer must not keep a connection callback busy forever.
const maxAclPages = 20;
// Organizations named per organizationsLookup batch.
const lookupBatchSize = 50;
// Our bound on one media file held in memory on its way to LinkedIn (not a LinkedIn limit).
const maxMediaBytes = 20 * 1024 * 1024;
// Our clock and LinkedIn's may disagree: a post dated slightly before the marker can still be ours.
const lookupMarginMs = 5 * 60_000;
const defaultPostsLookup = { pageSize: 50, maxPages: 10 };

// LinkedIn's REST error body: {"status", "serviceErrorCode", "code", "message"} (fields vary by endpoint);
// validation refusals of a post list their reasons in errorDetails.inputErrors (DUPLICATE_POST…).
const RestErrorBody = z.object({
  message: z.string().optional(),
  serviceErrorCode: z.coerce.number().optional(),
  code: z.string().optional(),
  status: z.coerce.number().optional(),
  errorDetails: z
    .object({
      inputErrors: z
        .array(z.object({ code: z.string().optional(), description: z.string().optional() }))
        .optional(),
    })
    .optional(),
});
const TokenAnswer = z.object({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().optional(),
  refresh_token: z.string().min(1).optional(),
  refresh_token_expires_in: z.coerce.number().optional(),
  scope: z.string().optional(),
});
type TokenAnswer = z.infer<typeof TokenAnswer>;
const AclPage = z.object({
  elements: z.array(
    z.object({ organization: z.string(), role: z.string().optional(), state: z.string().optional() }),
  ),
  paging: z
    .object({
      start: z.coerce.number().optional(),
      count: z.coerce.number().optional(),
      total: z.coerce.number().optional(),
    })
    .optional(),
});
const Organization = z.object({
  id: z.coerce.number().optional(),
  localizedName: z.string().optional(),
  vanityName: z.string().optional(),
});
// A Rest.li BATCH_GET answer: the organizations found by id, the others under `errors`.
const OrganizationsLookup = z.object({ results: z.record(z.string(), Organization).default({}) });
const InitializedUpload = z.object({
  value: z.object({ uploadUrl: z.string().min(1), image: z.string().min(1) }),
});
const PostElement = z.object({
  id: z.string(),
  author: z.string().optional(),
  commentary: z.string().optional(),
  /** Epoch milliseconds. */
  createdAt: z.number().optional(),
});
const PostsPage = z.object({
  elements: z.array(PostElement),
  paging: z.object({ start: z.coerce.number().optional(), total: z.coerce.number().optional() }).optional(),
});

/** What publish keeps on a publication, so a retry resumes instead of posting twice. */
type LinkedInProgress = {
  /** The content the images below were uploaded for. */
  contentDigest?: string;
  /** Image URNs whose bytes are on LinkedIn, in the task's order, comma-separated. */
  imageUrns?: string;
  /** When the first POST /rest/posts of this publication may have left (ISO). */
  postAttemptAt?: string;
  /** Digests of every commentary a POST /rest/posts of this publication carried, comma-separated. */
  postCommentaries?: string;
  postUrn?: string;
};

/** Maps a LinkedIn REST answer that is not a success onto a publication error class (PLATFORMS.md, LinkedIn). */
export function mapLinkedInError(status: number, body: unknown, headers: Headers): PublicationFailure {
  const error = RestErrorBody.safeParse(body).data;
  const inputCodes = (error?.errorDetails?.inputErrors ?? []).flatMap((input) => input.code ?? []);
  const platformCode =
    error?.serviceErrorCode !== undefined
      ? String(error.serviceErrorCode)
      : (error?.code ?? inputCodes[0] ?? undefined);
  const message = error?.message || `LinkedIn answered HTTP ${status}`;
  const failure = (errorClass: PublicationFailure['class'], extra: Partial<PublicationFailure> = {}) => ({
    class: errorClass,
    message,
    ...(platformCode === undefined ? {} : { platformCode }),
    ...extra,
  });
  if (status === 401) return failure('TOKEN_EXPIRED');
  if (status === 403) return failure('PERMISSION_REVOKED');
  if (status === 429) {
    // LinkedIn's limits are daily and it documents no Retry-After; use it only when one comes.
    return failure('RATE_LIMITED', retryAfterField(headers));
  }
  if (status === 408 || status >= 500) return failure('TRANSIENT');
  if (status === 426) {
    // The pinned version was retired: no retry helps, a release must move linkedinApiVersion.
    return failure('INVALID_REQUEST', {
      message: `${message} (LinkedIn-Version ${linkedinApiVersion} must be moved to an active version)`,
    });
  }
  // The post itself refused: the same words posted already, or a commentary LinkedIn will not take. Other
  // validation refusals (a field missing or malformed) are ours to fix, not the content's.
  const duplicate = inputCodes.includes('DUPLICATE_POST') || /\bduplicate\b/i.test(message);
  if ((status === 400 || status === 422) && (duplicate || /\/commentary\b/.test(message))) {
    return failure('CONTENT_REJECTED', duplicate ? { platformCode: 'DUPLICATE_POST' } : {});
  }
  return failure('INVALID_REQUEST');
}

// little text (the commentary's format): these characters start mentions, hashtags and templates, and as plain
// text each needs a backslash, or LinkedIn may cut the post short at it. A # that begins a word is kept: it is
// a hashtag, as people mean it.
const littleReserved = /[\\|{}@[\]()<>#*_~]/g;

/** A plain text as little text: reserved characters escaped, hashtags kept. */
export function toLittleText(text: string): string {
  return text.replace(littleReserved, (character, offset: number) =>
    character === '#' && /^[\p{L}\p{N}]/u.test(text.slice(offset + 1, offset + 3))
      ? character
      : `\\${character}`,
  );
}

/**
 * A commentary as compared with another: escapes, line endings and surrounding blanks do not count, and a
 * hashtag LinkedIn gives back as its template (`{hashtag|\#|word}`) counts as the `#word` that was sent.
 */
function commentaryDigest(commentary: string): string {
  const plain = commentary
    .replace(/\{hashtag\|\\?#\|([^}]*)\}/g, '#$1')
    .replace(/\\([\\|{}@[\]()<>#*_~])/g, '$1')
    .replace(/\r\n?/g, '\n')
    .trim();
  return createHash('sha256').update(plain).digest('base64url').slice(0, 16);
}

/** The file types the Images API takes, by their first bytes (a CDN's content type is not trusted). */
function imageKind(bytes: Uint8Array): 'jpeg' | 'png' | 'gif' | null {
  const starts = (...prefix: number[]) => prefix.every((byte, index) => bytes[index] === byte);
  if (starts(0xff, 0xd8, 0xff)) return 'jpeg';
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (starts(0x47, 0x49, 0x46, 0x38)) return 'gif';
  return null;
}

export const linkedinPostUrl = (urn: string) => `https://www.linkedin.com/feed/update/${urn}/`;

const invalid = (message: string, platformCode?: string) =>
  new PlatformError({ class: 'INVALID_REQUEST', message, ...(platformCode ? { platformCode } : {}) });

function organizationId(urn: string): string | null {
  return /^urn:li:organization:(\d+)$/.exec(urn)?.[1] ?? null;
}

export function createLinkedInAdapter(options: LinkedInAdapterOptions): LinkedInAdapter {
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const now = options.now ?? (() => new Date());
  const apiRoot = options.apiBaseUrl.replace(/\/+$/, '');
  const authRoot = (options.authBaseUrl ?? linkedinDefaultHosts.authBaseUrl).replace(/\/+$/, '');

  const app = () => oauth2.appCredentials('LinkedIn', 'LINKEDIN', options.clientId, options.clientSecret);

  const send = createSender({ fetch: options.fetch, timeoutMs: requestTimeoutMs, platformName: 'LinkedIn' });

  /**
   * POST /oauth/v2/accessToken. A refused refresh token is a dead grant when LinkedIn says invalid_grant or
   * answers 401 (how its token endpoint refuses an expired or revoked refresh token; unconfirmed which of the
   * two it sends).
   */
  const tokenRequest = (form: Record<string, string>, purpose: 'code' | 'refresh', secrets: string[]) =>
    oauth2.requestToken({
      platformName: 'LinkedIn',
      send,
      url: `${authRoot}/oauth/v2/accessToken`,
      form,
      schema: TokenAnswer,
      purpose,
      secrets: [options.clientSecret, ...secrets],
      deadGrant: (refusal, status) => refusal?.error === 'invalid_grant' || status === 401,
      unreadableRefusal: 'refused',
    });

  interface RestRequest {
    method: 'GET' | 'POST';
    /** After the host, e.g. `/rest/posts`. */
    path: string;
    /** Already encoded, as Rest.li 2.0 wants some of it (`ids=List(1,2)`); otherwise from `params`. */
    query?: string;
    params?: Record<string, string>;
    json?: unknown;
    accessToken: string;
    signal?: AbortSignal | undefined;
  }

  /** One REST call with the pinned version and Rest.li 2.0; every non-success is a PlatformError. */
  async function restCall(request: RestRequest): Promise<HttpAnswer> {
    const query = request.query ?? new URLSearchParams(request.params ?? {}).toString();
    const secrets = [request.accessToken, options.clientSecret];
    const answer = await send({
      url: `${apiRoot}${request.path}${query ? `?${query}` : ''}`,
      method: request.method,
      headers: {
        accept: 'application/json',
        authorization: `Bearer ${request.accessToken}`,
        'LinkedIn-Version': linkedinApiVersion,
        'X-Restli-Protocol-Version': '2.0.0',
      },
      ...(request.json === undefined ? {} : { body: { json: request.json } }),
      signal: request.signal,
      secrets,
    });
    if (!isSuccess(answer.status)) {
      const failure = mapLinkedInError(answer.status, answer.body, answer.headers);
      throw new PlatformError({ ...failure, message: redact(failure.message, secrets) });
    }
    return answer;
  }

  function read<T>(schema: z.ZodType<T>, answer: HttpAnswer, what: string): T {
    const parsed = schema.safeParse(answer.body);
    if (!parsed.success) {
      throw new PlatformError({ class: 'TRANSIENT', message: `LinkedIn answered ${what} in an odd shape` });
    }
    return parsed.data;
  }

  async function rest<T>(
    schema: z.ZodType<T>,
    path: string,
    params: Record<string, string>,
    accessToken: string,
  ): Promise<T> {
    const answer = await restCall({ method: 'GET', path, params, accessToken });
    return read(schema, answer, `GET ${path.replace(/\/\d+$/, '/{id}')}`);
  }

  const at = (seconds: number | undefined) => oauth2.expiresAfter(now(), seconds);

  /** One page of the member's approved roles (every role: the posting ones are picked by the caller). */
  const aclPage = (accessToken: string, start: number, count: number) =>
    rest(
      AclPage,
      '/rest/organizationAcls',
      { q: 'roleAssignee', state: 'APPROVED', start: String(start), count: String(count) },
      accessToken,
    );

  async function discover(accessToken: string): Promise<DiscoveredAccount[]> {
    const urns: string[] = [];
    let start = 0;
    for (let page = 0; page < maxAclPages; page += 1) {
      const answer = await aclPage(accessToken, start, aclPageSize);
      for (const element of answer.elements) {
        // Every role that may post counts; the check also keeps a REQUESTED role out whatever the finder answers.
        if (element.role !== undefined && !linkedinPostingRoles.includes(element.role)) continue;
        if (element.state !== undefined && element.state !== 'APPROVED') continue;
        if (!urns.includes(element.organization)) urns.push(element.organization);
      }
      start += answer.elements.length;
      const total = answer.paging?.total;
      const done =
        answer.elements.length === 0 ||
        (total !== undefined ? start >= total : answer.elements.length < aclPageSize);
      if (done) break;
    }
    const ids = urns.flatMap((urn) => organizationId(urn) ?? []);
    // organizations/{id} answers administrators only; the lookup gives any member an organization's name.
    const names = new Map<string, string>();
    for (let from = 0; from < ids.length; from += lookupBatchSize) {
      const batch = ids.slice(from, from + lookupBatchSize);
      const answer = await restCall({
        method: 'GET',
        path: '/rest/organizationsLookup',
        // Rest.li 2.0: the list's parentheses and commas stay as they are.
        query: `ids=List(${batch.join(',')})`,
        accessToken,
      });
      const found = read(OrganizationsLookup, answer, 'GET /rest/organizationsLookup').results;
      for (const [id, organization] of Object.entries(found)) {
        const name = organization.localizedName || organization.vanityName;
        if (name) names.set(id, name);
      }
    }
    return ids.map((id) => ({
      kind: 'linkedin_organization',
      externalId: `urn:li:organization:${id}`,
      name: names.get(id) ?? `urn:li:organization:${id}`,
    }));
  }

  function credentialsFrom(answer: TokenAnswer, previous?: LinkedInCredentials): LinkedInCredentials {
    return oauth2.tokenCredentials(
      now(),
      {
        accessToken: answer.access_token,
        expiresIn: answer.expires_in,
        refreshToken: answer.refresh_token,
        refreshExpiresIn: answer.refresh_token_expires_in,
        scope: answer.scope,
      },
      previous,
      // LinkedIn keeps one refresh token until its fixed end.
      { rotates: false },
    );
  }

  const connector: OAuthConnector<LinkedInCredentials> = {
    kind: 'oauth',
    // LinkedIn takes PKCE from native apps only; a web app proves itself with its client secret.
    pkce: false,
    scopes: linkedinScopes,

    authorizeUrl({ state, redirectUri }) {
      const url = new URL(`${authRoot}/oauth/v2/authorization`);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('client_id', app().clientId);
      url.searchParams.set('redirect_uri', redirectUri);
      url.searchParams.set('state', state);
      url.searchParams.set('scope', linkedinScopes.join(' '));
      return url.toString();
    },

    async completeConsent({ code, redirectUri, query }): Promise<Connection<LinkedInCredentials>> {
      oauth2.refuseDeclinedConsent('LinkedIn', query);
      const { clientId, clientSecret } = app();
      // LinkedIn reports the scopes it granted; one of ours missing means posting or discovery cannot work.
      return oauth2.connectWithCode({
        exchange: () =>
          tokenRequest(
            {
              grant_type: 'authorization_code',
              code,
              redirect_uri: redirectUri,
              client_id: clientId,
              client_secret: clientSecret,
            },
            'code',
            [code],
          ),
        // rw_organization_admin only reads share statistics: without it those are unavailable, nothing else.
        requiredScopes: linkedinScopes.filter(
          (scope) => !(linkedinInsightsScopes as readonly string[]).includes(scope),
        ),
        credentialsFrom: (answer) => credentialsFrom(answer),
        discover: (credentials) => discover(credentials.accessToken),
        now: now(),
      });
    },
  };

  const postsLookup = options.postsLookup ?? defaultPostsLookup;
  const allowedUploadOrigins = new Set([new URL(apiRoot).origin, new URL(authRoot).origin]);

  /** The organization a post goes out as: the task's account. */
  function organizationOf(context: PublicationContext<LinkedInCredentials>): string {
    const account = context.account;
    if (account?.kind !== 'linkedin_organization' || !organizationId(account.externalId)) {
      throw invalid(`${context.channel} needs a LinkedIn organization as its target account`);
    }
    return account.externalId;
  }

  const mediaGuard: HostGuard = {
    allowPrivateHosts: options.allowPrivateMediaHosts ?? false,
    lookup: systemLookup,
  };
  const maxMediaRedirects = 5;

  /**
   * Downloads a task's media through the public-host guard, redirects followed hop by hop with each hop's host
   * checked (and the socket pinned to the checked address): a media URL can never make the worker read an
   * internal address. A refused host is the task's to fix.
   */
  async function downloadMedia(start: string, signal: AbortSignal | undefined) {
    let url = new URL(start);
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw invalid('A media URL must be http(s)', 'media:not_http');
    for (let hops = 0; ; hops += 1) {
      const refusal = {
        message: `The media URL ${hops === 0 ? 'points at' : 'redirects to'} a private or loopback address (${url.host})`,
        unknownHost: 'transient' as const,
      };
      try {
        await guardHost(url, mediaGuard, refusal);
      } catch (error) {
        if (error instanceof HostRefusedError) throw invalid(error.message, 'media:private_host');
        throw error;
      }
      const answer = await download(
        {
          platformName: `The media host ${url.host}`,
          timeoutMs: requestTimeoutMs,
          fetch: options.fetch ?? pinnedFetch(mediaGuard)(refusal),
        },
        { url: url.toString(), maxBytes: maxMediaBytes, signal },
      );
      const location = answer.headers.get('location');
      if (answer.status < 300 || answer.status >= 400 || !location) return answer;
      if (hops >= maxMediaRedirects)
        throw invalid(`The media at ${new URL(start).host} redirects too many times`, 'media:redirects');
      url = new URL(location, url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw invalid('The media URL redirects to an address that is not http(s)', 'media:redirects');
    }
  }

  /**
   * A task's media file, checked to be an image the Images API takes. The media host's refusals are the task's
   * to fix (never the LinkedIn connection's): a 4xx is INVALID_REQUEST, only a host that does not answer or
   * answers 5xx/429 may be tried again.
   */
  async function fetchImage(url: string, signal: AbortSignal | undefined): Promise<Uint8Array> {
    const host = new URL(url).host;
    const answer = await downloadMedia(url, signal);
    if (!isSuccess(answer.status)) {
      const retriable = answer.status === 408 || answer.status === 429 || answer.status >= 500;
      throw new PlatformError({
        class: retriable ? 'TRANSIENT' : 'INVALID_REQUEST',
        message: `The media at ${host} answered HTTP ${answer.status}${retriable ? '' : ': fix the task’s media URL'}`,
        platformCode: `media:${answer.status}`,
      });
    }
    if (answer.tooLarge)
      throw invalid(`The media at ${host} is over ${maxMediaBytes / 1024 / 1024} MB`, 'media:too_large');
    if (!imageKind(answer.bytes)) {
      throw invalid(
        `The media at ${host} is not a JPG, PNG or GIF image: LinkedIn posts take only those here`,
        'media:not_an_image',
      );
    }
    return answer.bytes;
  }

  /** Registers one image owned by the organization and puts its bytes on LinkedIn; returns its URN. */
  async function uploadImage(
    owner: string,
    bytes: Uint8Array,
    accessToken: string,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const initialized = read(
      InitializedUpload,
      await restCall({
        method: 'POST',
        path: '/rest/images',
        params: { action: 'initializeUpload' },
        json: { initializeUploadRequest: { owner } },
        accessToken,
        signal,
      }),
      'POST /rest/images?action=initializeUpload',
    );
    let uploadUrl: URL;
    try {
      uploadUrl = new URL(initialized.value.uploadUrl);
    } catch {
      throw new PlatformError({
        class: 'TRANSIENT',
        message: 'LinkedIn gave an upload URL that is not a URL',
      });
    }
    // The upload carries the access token: only to LinkedIn's own hosts.
    const linkedinHost = uploadUrl.protocol === 'https:' && /(^|\.)linkedin\.com$/.test(uploadUrl.hostname);
    if (!linkedinHost && !allowedUploadOrigins.has(uploadUrl.origin)) {
      throw invalid(`LinkedIn gave an upload URL on ${uploadUrl.host}, which is not LinkedIn's`);
    }
    const secrets = [accessToken, options.clientSecret];
    const uploaded = await send({
      method: 'PUT',
      url: uploadUrl.toString(),
      headers: { authorization: `Bearer ${accessToken}` },
      body: { bytes, contentType: 'application/octet-stream' },
      signal,
      secrets,
    });
    if (!isSuccess(uploaded.status)) {
      const failure = mapLinkedInError(uploaded.status, uploaded.body, uploaded.headers);
      throw new PlatformError({ ...failure, message: redact(failure.message, secrets) });
    }
    return initialized.value.image;
  }

  async function publish(context: PublicationContext<LinkedInCredentials>): Promise<Published> {
    const progress = context.progress as LinkedInProgress;
    const published = (urn: string): Published => ({ externalId: urn, externalUrl: linkedinPostUrl(urn) });
    // The post exists already: an earlier attempt got LinkedIn's answer. Never post it twice.
    if (progress.postUrn) return published(progress.postUrn);
    const author = organizationOf(context);
    const parsed = contentSchemas.linkedin_post.safeParse(context.content);
    if (!parsed.success)
      throw invalid(`The linkedin_post content is not valid: ${parsed.error.issues[0]?.message}`);
    const content = parsed.data;
    // The schema holds the text with its link within LinkedIn's limit (Auto-UTM tags only what still fits).
    const commentary = toLittleText(linkedinCommentary(content));
    const { accessToken } = context.credentials;
    const signal = context.signal;
    const save = (update: LinkedInProgress) => context.saveProgress(update);

    // LinkedIn takes no idempotency key, so a worker killed between LinkedIn's answer and saving postUrn
    // would post twice on the retry. The marker says a POST may have left; only then is LinkedIn asked first
    // (before any image goes up: a post found needs none). Every commentary a POST carried is remembered (as
    // digests): a post an earlier attempt made is found even when the task was edited since.
    const sent = (progress.postCommentaries ?? '').split(',').filter(Boolean);
    const digests = [...new Set([commentaryDigest(commentary), ...sent])];
    const attemptedAt = progress.postAttemptAt;
    if (attemptedAt) {
      const earlier = await findEarlierPost({ author, accessToken, digests, attemptedAt, signal }).catch(
        (error: unknown) => {
          // A connection made before Glowtify asked for r_organization_social cannot read the posts back. That
          // is no revoked connection (it still posts), and posting blind could post twice: this publication
          // stops here, and the connector is left as it is.
          if (error instanceof PlatformError && error.failure.class === 'PERMISSION_REVOKED')
            throw invalid(
              'An earlier attempt may have posted, and LinkedIn refused to show the organization’s posts to check (reconnect LinkedIn to grant r_organization_social); not posted again, to avoid a duplicate',
              'lookup_forbidden',
            );
          throw error;
        },
      );
      if (earlier) {
        await save({ postUrn: earlier });
        return published(earlier);
      }
    }

    // An image's URN is kept once its bytes are on LinkedIn, so a retry reuses it; an attempt that died
    // between registering and uploading leaves only an unused registration, never a post.
    const mediaUrls = content.mediaUrls ?? [];
    const sameContent = (progress.contentDigest ?? context.contentDigest) === context.contentDigest;
    const imageUrns = sameContent && progress.imageUrns ? progress.imageUrns.split(',') : [];
    if (!sameContent) await save({ imageUrns: '', contentDigest: context.contentDigest });
    for (const url of mediaUrls.slice(imageUrns.length)) {
      const bytes = await fetchImage(url, signal);
      imageUrns.push(await uploadImage(author, bytes, accessToken, signal));
      await save({ imageUrns: imageUrns.join(','), contentDigest: context.contentDigest });
    }
    const [only, ...more] = imageUrns;
    const media =
      only === undefined
        ? {}
        : more.length === 0
          ? { content: { media: { id: only } } }
          : { content: { multiImage: { images: imageUrns.map((id) => ({ id })) } } };
    const body = {
      author,
      commentary,
      visibility: 'PUBLIC',
      distribution: { feedDistribution: 'MAIN_FEED', targetEntities: [], thirdPartyDistributionChannels: [] },
      ...media,
      lifecycleState: 'PUBLISHED',
      isReshareDisabledByAuthor: false,
    };

    // The first marker stays: the look-up window must cover every attempt's POST, not just the last.
    await save({
      ...(attemptedAt ? {} : { postAttemptAt: now().toISOString() }),
      postCommentaries: digests.join(','),
    });

    await context.beforeGoingLive();
    let answer: HttpAnswer;
    try {
      // Not aborted by a cancellation: LinkedIn may make a post whose connection we dropped. Waiting for its
      // answer (bounded by the request time-out) lets this attempt record the post it made.
      answer = await restCall({ method: 'POST', path: '/rest/posts', json: body, accessToken });
    } catch (error) {
      const adopted = attemptedAt
        ? await adoptDuplicate(error, { author, accessToken, attemptedAt, signal })
        : null;
      if (!adopted) throw error;
      await save({ postUrn: adopted });
      return published(adopted);
    }
    const header = answer.headers.get('x-restli-id');
    if (!header) {
      // Made but not named: the marker is saved, so the next attempt finds this post instead of making another.
      throw new PlatformError({
        class: 'TRANSIENT',
        message: 'LinkedIn made the post without naming it (no x-restli-id); the next attempt looks it up',
      });
    }
    // Rest.li may percent-encode the key it names.
    const urn = header.includes('%') ? decodeURIComponent(header) : header;
    await save({ postUrn: urn });
    return published(urn);
  }

  /** The start of the look-up window: the first marker, less the margin for the two clocks. */
  function windowStart(attemptedAt: string): number {
    const markedAt = Date.parse(attemptedAt);
    if (Number.isNaN(markedAt)) throw invalid(`The saved postAttemptAt (${attemptedAt}) is not a time`);
    return markedAt - lookupMarginMs;
  }

  /**
   * The organization's own post with one of these commentaries, made since the first POST of this publication
   * may have left (the URN of the newest such post), or null. Any failure to read is thrown: posting blind
   * could post twice, and Temporal retries the attempt.
   */
  async function findEarlierPost(input: {
    author: string;
    accessToken: string;
    digests: string[];
    attemptedAt: string;
    signal: AbortSignal | undefined;
  }): Promise<string | null> {
    const since = windowStart(input.attemptedAt);
    let start = 0;
    for (let page = 0; page < postsLookup.maxPages; page += 1) {
      const answer = read(
        PostsPage,
        await restCall({
          method: 'GET',
          path: '/rest/posts',
          params: {
            author: input.author,
            q: 'author',
            count: String(postsLookup.pageSize),
            start: String(start),
            sortBy: 'CREATED',
          },
          accessToken: input.accessToken,
          signal: input.signal,
        }),
        'GET /rest/posts?q=author',
      );
      let olderThanWindow = 0;
      for (const post of answer.elements) {
        if ((post.createdAt ?? Number.NaN) < since) {
          olderThanWindow += 1;
          continue;
        }
        if (post.author !== undefined && post.author !== input.author) continue;
        if (post.commentary !== undefined && input.digests.includes(commentaryDigest(post.commentary)))
          return post.id;
      }
      start += answer.elements.length;
      // Newest first: a page that reaches back before the window means the rest is older still.
      const total = answer.paging?.total;
      if (
        answer.elements.length === 0 ||
        olderThanWindow > 0 ||
        (total !== undefined && start >= total) ||
        answer.elements.length < postsLookup.pageSize
      ) {
        return null;
      }
    }
    // Retrying would read the same pages again: a person has to look at the organization's page.
    throw new PlatformError({
      class: 'INVALID_REQUEST',
      message:
        `The organization has more than ${postsLookup.maxPages * postsLookup.pageSize} posts since this post ` +
        'was first sent; whether it was published already cannot be confirmed, so it is not sent again',
      platformCode: 'posts-lookup:inconclusive',
    });
  }

  /**
   * LinkedIn refusing a post as a duplicate of one it names: when that post is this organization's and was made
   * since this publication's first POST, it is the post an earlier attempt made (the look-up had not seen it
   * yet), and is taken as published. Any other refusal, or a duplicate of an older post, stays a refusal.
   */
  async function adoptDuplicate(
    error: unknown,
    input: { author: string; accessToken: string; attemptedAt: string; signal: AbortSignal | undefined },
  ): Promise<string | null> {
    if (!(error instanceof PlatformError) || error.failure.platformCode !== 'DUPLICATE_POST') return null;
    const named = /urn:li:(?:share|ugcPost):\d+/.exec(error.failure.message)?.[0];
    if (!named) return null;
    const post = read(
      PostElement,
      await restCall({
        method: 'GET',
        path: `/rest/posts/${encodeURIComponent(named)}`,
        accessToken: input.accessToken,
        signal: input.signal,
      }),
      'GET /rest/posts/{urn}',
    );
    const ours = post.author === input.author && (post.createdAt ?? 0) >= windowStart(input.attemptedAt);
    return ours ? post.id : null;
  }

  const metrics = createLinkedInMetrics({ restCall, now });

  return {
    platform: 'linkedin',
    connector,
    discover,
    publish,
    collectMetrics: metrics.collectMetrics,

    canRefresh: (credentials) =>
      oauth2.canRefreshWith(credentials.refreshToken, credentials.refreshTokenExpiresAt, now()),

    async refreshCredentials(credentials) {
      if (!credentials.refreshToken) {
        throw new PlatformError({
          class: 'TOKEN_EXPIRED',
          message: 'LinkedIn gave this app no refresh token: reconnect LinkedIn before the token expires',
        });
      }
      const { clientId, clientSecret } = app();
      const answer = await tokenRequest(
        {
          grant_type: 'refresh_token',
          refresh_token: credentials.refreshToken,
          client_id: clientId,
          client_secret: clientSecret,
        },
        'refresh',
        [credentials.refreshToken, credentials.accessToken],
      );
      // LinkedIn keeps the refresh token and its original end; whatever it returns is stored as returned.
      const fresh = credentialsFrom(answer, credentials);
      return { credentials: fresh, expiresAt: at(answer.expires_in) };
    },

    async verifyCredentials(credentials) {
      await oauth2.asConnectionRefusal(async () => {
        await aclPage(credentials.accessToken, 0, 1);
      }, 'LinkedIn refused the access token: reconnect LinkedIn');
    },
  };
}
