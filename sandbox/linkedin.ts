// LinkedIn simulator (tests and `npm run demo`): one loopback server playing both www.linkedin.com (consent page,
// token endpoint, image uploads) and api.linkedin.com (organizationAcls, organizations, organizationsLookup,
// posts, images), as strict as LinkedIn about the version and protocol headers, tokens, scopes and roles,
// answering in LinkedIn's shapes, and keeping the posts and images made for tests to read.
import { randomBytes } from 'node:crypto';
import { createLinkedInReports } from './linkedin-reports.ts';
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

export const linkedinSandboxClientId = 'glowtify-sandbox-linkedin';
export const linkedinSandboxClientSecret = 'glowtify-sandbox-linkedin-secret';

// Its own copy on purpose: an adapter that drifts out of the served versions must fail against the simulator.
// LinkedIn serves each monthly version about a year; these were active in 2026-11 (PLATFORMS.md).
const defaultActiveVersions = { oldest: '202510', newest: '202607' };
const knownScopes = new Set([
  'openid',
  'profile',
  'email',
  'w_member_social',
  'r_organization_social',
  'w_organization_social',
  'r_organization_admin',
  'rw_organization_admin',
  'r_ads',
  'rw_ads',
  'r_ads_reporting',
]);
// Reading organizations and their ACLs (simplified: LinkedIn's docs list several scopes per finder).
const adminReadScopes = ['r_organization_admin', 'rw_organization_admin'];
const memberUrn = 'urn:li:person:SIMmember01';
// The organization roles that may post and read an organization's posts (w_ / r_organization_social).
const postingRoles = new Set(['ADMINISTRATOR', 'CONTENT_ADMINISTRATOR', 'DIRECT_SPONSORED_CONTENT_POSTER']);
const commentaryLimit = 3000;

export interface LinkedInSimulatorOrganization {
  id: number;
  localizedName: string;
  vanityName: string;
  /** The member's role on it; default ADMINISTRATOR. */
  role?: 'ADMINISTRATOR' | 'DIRECT_SPONSORED_CONTENT_POSTER' | 'CONTENT_ADMINISTRATOR' | 'ANALYST';
  /** Default APPROVED. */
  state?: 'APPROVED' | 'REQUESTED' | 'REJECTED' | 'REVOKED';
}

export interface LinkedInSimulatorOptions {
  port?: number;
  clientId?: string;
  clientSecret?: string;
  /** Redirect URIs registered on the app; absent: any http(s) URL is accepted. */
  redirectUris?: string[];
  organizations?: LinkedInSimulatorOrganization[];
  /** expires_in of access tokens (LinkedIn: 5,184,000 s = 60 days). */
  accessTokenSeconds?: number;
  /** refresh_token_expires_in at consent (LinkedIn: 365 days); a refresh never resets it. */
  refreshTokenSeconds?: number;
  /** LinkedIn gives refresh tokens only to approved partners; false plays an app without them. */
  issueRefreshTokens?: boolean;
  /**
   * Scopes the grant ends up with, whatever is asked (default: what is asked). A LinkedIn member cannot untick
   * scopes; this plays an app whose products lack one.
   */
  grantScopes?: string[];
  /** LinkedIn documents a 30-minute lifespan for authorization codes. */
  codeLifetimeSeconds?: number;
  /** The most elements one organizationAcls answer holds, whatever `count` asks (tests lower it to page). */
  aclsPageLimit?: number;
  /** The most posts one `q=author` answer holds, whatever `count` asks (LinkedIn: 100, unconfirmed). */
  postsPageLimit?: number;
  /** The LinkedIn-Version values served (YYYYMM, inclusive); another one answers 426. */
  activeVersions?: { oldest: string; newest: string };
  /**
   * How long LinkedIn refuses the same commentary and content again from the same author (DUPLICATE_POST).
   * (unconfirmed) LinkedIn does not document the window; reports speak of a day or two. Default one day.
   */
  duplicateWindowMs?: number;
  /** The simulator's clock: token and code expiry follow it. */
  now?: () => Date;
}

export type LinkedInFailureKind = 'transient' | 'rate_limited' | 'token_expired' | 'permission_revoked';

/** A post as the simulator keeps it (what LinkedIn would show on the organization's page). */
export interface LinkedInSimulatorPost {
  id: string;
  author: string;
  commentary: string;
  visibility: string;
  lifecycleState: string;
  /** `{media:{id}}`, `{multiImage:{images}}`, `{article}`, or undefined for a text post. */
  content: Record<string, unknown> | undefined;
  createdAt: Date;
  /** The request body as it came. */
  body: Record<string, unknown>;
}

/** An image registered by initializeUpload; its bytes arrive with the PUT to its upload URL. */
export interface LinkedInSimulatorImage {
  urn: string;
  owner: string;
  status: 'WAITING_UPLOAD' | 'AVAILABLE';
  /** The uploaded body as text and its length in bytes (Content-Length), once uploaded. */
  uploaded: { text: string; bytes: number } | null;
}

export type LinkedInSimulator = SimulatorServer &
  // The denial is error=user_cancelled_authorize; a revoked access token answers 401.
  ConsentControls & {
    /** Makes the next matching requests fail the way LinkedIn fails them (its status and body). */
    failWith(kind: LinkedInFailureKind, rule: FailureMatch): void;
    /** Every post made, oldest first. */
    posts(): LinkedInSimulatorPost[];
    /** Every image registered, in order. */
    images(): LinkedInSimulatorImage[];
    /** From now on serves these versions only (LinkedIn sunsetting the one an adapter pins). */
    serveVersions(versions: { oldest: string; newest: string }): void;
    /** Someone deletes the post on LinkedIn: GET /rest/posts/{urn} answers 404, its statistics stop. */
    deletePost(urn: string): void;
  };

const ok = (body: unknown, headers?: Record<string, string>): SimulatorResponse => ({
  status: 200,
  body,
  ...(headers ? { headers } : {}),
});

/** LinkedIn's REST error body. */
function restError(
  status: number,
  fields: { message: string; serviceErrorCode?: number; code?: string },
): SimulatorResponse {
  return { status, body: { status, ...fields } };
}

/** OAuth errors of the token endpoint: {"error","error_description"}. */
function oauthError(status: number, error: string, description: string): SimulatorResponse {
  return { status, body: { error, error_description: description } };
}

export async function startLinkedInSimulator(
  options: LinkedInSimulatorOptions = {},
): Promise<LinkedInSimulator> {
  const clientId = options.clientId ?? linkedinSandboxClientId;
  const clientSecret = options.clientSecret ?? linkedinSandboxClientSecret;
  const organizations = options.organizations ?? [
    { id: 2414183, localizedName: 'Glow Café', vanityName: 'glow-cafe' },
    { id: 2414184, localizedName: 'Glow Outlet', vanityName: 'glow-outlet' },
  ];
  const accessTokenSeconds = options.accessTokenSeconds ?? 5_184_000;
  const refreshTokenSeconds = options.refreshTokenSeconds ?? 31_536_000;
  const issueRefreshTokens = options.issueRefreshTokens ?? true;
  const codeLifetimeMs = (options.codeLifetimeSeconds ?? 1800) * 1000;
  const aclsPageLimit = options.aclsPageLimit ?? 100;
  const postsPageLimit = options.postsPageLimit ?? 100;
  let activeVersions = options.activeVersions ?? defaultActiveVersions;
  const duplicateWindowMs = options.duplicateWindowMs ?? 86_400_000;
  const clock = () => (options.now ?? (() => new Date()))().getTime();
  const posts: LinkedInSimulatorPost[] = [];
  const images: LinkedInSimulatorImage[] = [];
  // Upload keys (the last segment of an upload URL) → the image they fill.
  const uploads = new Map<string, LinkedInSimulatorImage>();
  // Known once the server listens: upload URLs point back at it.
  let baseUrl = '';
  let sequence = 0;
  // LinkedIn's activity ids are 19-digit numbers.
  const nextId = () => {
    sequence += 1;
    return String(7_300_000_000_000_000_000n + BigInt(sequence));
  };

  const grants = createGrantStore({
    clock,
    accessTokenSeconds,
    refreshTokenSeconds,
    codeLifetimeMs,
    // LinkedIn returns the same refresh token on refresh, its end fixed at consent.
    refresh: 'keep',
    mint: {
      access: () => `AQV${randomBytes(36).toString('base64url')}`,
      refresh: () => `AQW${randomBytes(48).toString('base64url')}`,
    },
  });
  const consent = consentSteering(grants, options.grantScopes ?? null);

  // ——— www.linkedin.com ———

  const authorization = (request: RecordedRequest): SimulatorResponse => {
    const { query } = request;
    const opened = openConsent(query, {
      clientParameter: 'client_id',
      clientId,
      redirectUris: options.redirectUris,
      unknownClient: 'invalid_client: the client_id is unknown',
      unregisteredRedirect: 'The redirect_uri does not match the registered value',
    });
    if ('response' in opened) return opened.response;
    const { redirectUri, back } = opened;
    // LinkedIn's scope parameter is space-delimited.
    const asked = (query.scope ?? '').split(' ').filter(Boolean);
    if (asked.length === 0) {
      return back({
        error: 'invalid_request',
        error_description: 'A required parameter "scope" is missing',
      });
    }
    const unknown = asked.find((scope) => !knownScopes.has(scope));
    if (unknown) {
      return back({
        error: 'unauthorized_scope_error',
        error_description: `Scope "${unknown}" is not authorized for your application`,
      });
    }
    if (consent.denies()) {
      return back({
        error: 'user_cancelled_authorize',
        error_description: 'The user cancelled the authorization',
      });
    }
    const scopes = consent.granted(asked);
    const code = `AQT${randomBytes(48).toString('base64url')}`;
    grants.issueCode(code, { redirectUri, scopes, issuedAt: clock(), used: false });
    return back({ code });
  };

  const accessToken = (request: RecordedRequest): SimulatorResponse => {
    // LinkedIn wants application/x-www-form-urlencoded; anything else reads as no parameters at all.
    const params = tokenForm(request) ?? {};
    const missing = missingParameter(params, ['grant_type', 'client_id', 'client_secret']);
    if (missing) return oauthError(400, 'invalid_request', `A required parameter "${missing}" is missing`);
    if (params.client_id !== clientId || params.client_secret !== clientSecret)
      return oauthError(401, 'invalid_client', 'Client authentication failed');

    if (params.grant_type === 'authorization_code') {
      const missingForCode = missingParameter(params, ['code', 'redirect_uri']);
      if (missingForCode)
        return oauthError(400, 'invalid_request', `A required parameter "${missingForCode}" is missing`);
      const code = grants.redeemCode(params.code, params.redirect_uri);
      if (code === 'unknown')
        return oauthError(
          401,
          'invalid_request',
          'Unable to retrieve access token: authorization code not found',
        );
      if (code === 'spent' || code === 'redirect_mismatch') {
        return oauthError(
          400,
          'invalid_request',
          'Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization ' +
            'code. Or authorization code expired. Or external member binding exists',
        );
      }
      grants.spendCode(code);
      const body: Record<string, unknown> = {
        access_token: grants.issueAccessToken(code.scopes),
        expires_in: accessTokenSeconds,
      };
      if (issueRefreshTokens) {
        body.refresh_token = grants.issueRefreshToken(code.scopes);
        body.refresh_token_expires_in = refreshTokenSeconds;
      }
      body.scope = code.scopes.join(',');
      return ok(body);
    }

    if (params.grant_type === 'refresh_token') {
      if (!params.refresh_token)
        return oauthError(400, 'invalid_request', 'A required parameter "refresh_token" is missing');
      const refresh = grants.redeemRefreshToken(params.refresh_token);
      // (unconfirmed) the description LinkedIn gives for a dead refresh token.
      if (!refresh)
        return oauthError(400, 'invalid_grant', 'The provided refresh token is invalid, expired or revoked');
      // The same refresh token comes back with what is left of its fixed lifetime.
      return ok({
        access_token: grants.issueAccessToken(refresh.scopes),
        expires_in: accessTokenSeconds,
        refresh_token: params.refresh_token,
        refresh_token_expires_in: grants.secondsLeft(refresh),
        scope: refresh.scopes.join(','),
      });
    }
    return oauthError(400, 'unsupported_grant_type', `grant_type ${params.grant_type} is not supported`);
  };

  // ——— api.linkedin.com/rest ———

  const authenticate = (
    request: RecordedRequest,
  ): { token: IssuedAccessToken } | { response: SimulatorResponse } => {
    const header = request.headers.authorization ?? '';
    const value = /^Bearer (.+)$/.exec(header)?.[1];
    if (!value)
      return {
        response: restError(401, {
          serviceErrorCode: 65604,
          code: 'EMPTY_ACCESS_TOKEN',
          message: 'Empty oauth2 access token',
        }),
      };
    const token = grants.findAccessToken(value);
    if (!token)
      return {
        response: restError(401, {
          serviceErrorCode: 65600,
          code: 'INVALID_ACCESS_TOKEN',
          message: 'Invalid access token',
        }),
      };
    if (token.revoked) {
      return {
        response: restError(401, {
          serviceErrorCode: 65601,
          code: 'REVOKED_ACCESS_TOKEN',
          message: 'The token used in the request has been revoked by the user',
        }),
      };
    }
    if (clock() >= token.expiresAt) {
      return {
        response: restError(401, {
          serviceErrorCode: 65602,
          code: 'EXPIRED_ACCESS_TOKEN',
          message: 'The token used in the request has expired',
        }),
      };
    }
    return { token };
  };

  const versionCheck = (request: RecordedRequest): SimulatorResponse | null => {
    const version = request.headers['linkedin-version'];
    if (!version) {
      // (unconfirmed) LinkedIn's exact body for a missing version header.
      return restError(400, {
        code: 'VERSION_MISSING',
        message: 'A version must be present. Please specify a version by adding the LinkedIn-Version header.',
      });
    }
    const served =
      /^\d{6}$/.test(version) && version >= activeVersions.oldest && version <= activeVersions.newest;
    if (!served) {
      const normalised = /^\d{6}$/.test(version) ? `${version}01` : version;
      return restError(426, {
        code: 'NONEXISTENT_VERSION',
        message: `Requested version ${normalised} is not active`,
      });
    }
    return null;
  };

  // (unconfirmed) LinkedIn's body when Rest.li 2.0 is not announced; its 2.0 query syntax is then unreadable.
  const protocolCheck = (request: RecordedRequest): SimulatorResponse | null =>
    request.headers['x-restli-protocol-version'] === '2.0.0'
      ? null
      : restError(400, {
          code: 'ILLEGAL_ARGUMENT',
          message: 'X-Restli-Protocol-Version 2.0.0 is required for this resource',
        });

  const accessDenied = (resource: string) =>
    restError(403, {
      serviceErrorCode: 100,
      code: 'ACCESS_DENIED',
      message: `Not enough permissions to access: ${resource}.${activeVersions.newest}01`,
    });

  const canReadAdmin = (token: IssuedAccessToken) =>
    token.scopes.some((scope) => adminReadScopes.includes(scope));
  const administered = (organization: LinkedInSimulatorOrganization) =>
    (organization.role ?? 'ADMINISTRATOR') === 'ADMINISTRATOR' &&
    (organization.state ?? 'APPROVED') === 'APPROVED';
  /** The organization the URN names when the member holds an approved role there that may post. */
  const postable = (urn: unknown): LinkedInSimulatorOrganization | undefined => {
    const id = typeof urn === 'string' ? /^urn:li:organization:(\d+)$/.exec(urn)?.[1] : undefined;
    const found = organizations.find((candidate) => String(candidate.id) === id);
    return found &&
      postingRoles.has(found.role ?? 'ADMINISTRATOR') &&
      (found.state ?? 'APPROVED') === 'APPROVED'
      ? found
      : undefined;
  };
  const validation = (status: number, field: string, problem: string) =>
    restError(status, {
      message: `com.linkedin.restli.server.RestLiServiceException [HTTP Status:${status}]: ERROR :: ${field} :: ${problem}\n`,
    });

  const organizationAcls = (request: RecordedRequest, token: IssuedAccessToken): SimulatorResponse => {
    const { query } = request;
    if (query.q !== 'roleAssignee') {
      return restError(400, {
        code: 'ILLEGAL_ARGUMENT',
        message: `Invalid query parameter q: ${query.q ?? '(missing)'}`,
      });
    }
    if (!canReadAdmin(token)) return accessDenied('organizationAcls.FINDER-roleAssignee');
    const start = Number(query.start ?? 0);
    const count = Number(query.count ?? 10);
    if (!Number.isInteger(start) || start < 0 || !Number.isInteger(count) || count < 0) {
      return restError(400, { code: 'ILLEGAL_ARGUMENT', message: 'Invalid paging parameters start/count' });
    }
    const matching = organizations.filter(
      (organization) =>
        (!query.role || (organization.role ?? 'ADMINISTRATOR') === query.role) &&
        (!query.state || (organization.state ?? 'APPROVED') === query.state),
    );
    const slice = matching.slice(start, start + Math.min(count, aclsPageLimit));
    return ok({
      paging: { start, count: slice.length, links: [], total: matching.length },
      elements: slice.map((organization) => ({
        roleAssignee: memberUrn,
        state: organization.state ?? 'APPROVED',
        role: organization.role ?? 'ADMINISTRATOR',
        organization: `urn:li:organization:${organization.id}`,
      })),
    });
  };

  const organization = (id: string, token: IssuedAccessToken): SimulatorResponse => {
    const found = organizations.find((candidate) => String(candidate.id) === id);
    if (!found) return restError(404, { code: 'NOT_FOUND', message: `Organization ${id} not found` });
    if (!canReadAdmin(token) || !administered(found)) return accessDenied('organizations.GET');
    return ok({
      id: found.id,
      localizedName: found.localizedName,
      vanityName: found.vanityName,
      name: { localized: { en_US: found.localizedName }, preferredLocale: { country: 'US', language: 'en' } },
      primaryOrganizationType: 'NONE',
    });
  };

  /** BATCH_GET `ids=List(1,2)`: the fields LinkedIn shows any member (no administrator role needed). */
  const organizationsLookup = (request: RecordedRequest): SimulatorResponse => {
    const list = /^List\(([\d,]*)\)$/.exec(request.query.ids ?? '')?.[1];
    if (list === undefined) {
      return restError(400, { code: 'ILLEGAL_ARGUMENT', message: 'ids must be a Rest.li 2.0 List(...)' });
    }
    const results: Record<string, unknown> = {};
    const statuses: Record<string, number> = {};
    const errors: Record<string, unknown> = {};
    for (const id of list.split(',').filter(Boolean)) {
      const found = organizations.find((candidate) => String(candidate.id) === id);
      if (found) {
        results[id] = {
          id: found.id,
          localizedName: found.localizedName,
          vanityName: found.vanityName,
          name: {
            localized: { en_US: found.localizedName },
            preferredLocale: { country: 'US', language: 'en' },
          },
          primaryOrganizationType: 'NONE',
        };
        statuses[id] = 200;
      } else {
        statuses[id] = 404;
        errors[id] = { status: 404, message: `Organization ${id} not found` };
      }
    }
    return ok({ results, statuses, errors });
  };

  const canPost = (token: IssuedAccessToken) => token.scopes.includes('w_organization_social');
  const canReadPosts = (token: IssuedAccessToken) => token.scopes.includes('r_organization_social');

  const initializeUpload = (request: RecordedRequest, token: IssuedAccessToken): SimulatorResponse => {
    if (request.query.action !== 'initializeUpload') {
      return restError(400, { code: 'ILLEGAL_ARGUMENT', message: `Unknown action ${request.query.action}` });
    }
    const owner = (request.body as { initializeUploadRequest?: { owner?: unknown } } | null)
      ?.initializeUploadRequest?.owner;
    if (typeof owner !== 'string') {
      return validation(
        422,
        '/initializeUploadRequest/owner',
        'field is required but not found and has no default value',
      );
    }
    if (!canPost(token) || !postable(owner)) return accessDenied('images.ACTION-initializeUpload');
    const image: LinkedInSimulatorImage = {
      urn: `urn:li:image:D4E10AQ${randomBytes(9).toString('base64url')}`,
      owner,
      status: 'WAITING_UPLOAD',
      uploaded: null,
    };
    const key = randomBytes(12).toString('hex');
    images.push(image);
    uploads.set(key, image);
    return ok({
      value: {
        uploadUrlExpiresAt: clock() + 86_400_000,
        uploadUrl: `${baseUrl}/dms-uploads/sp/${key}`,
        image: image.urn,
      },
    });
  };

  /** The PUT of an image's bytes to its upload URL (www.linkedin.com, with the member's bearer token). */
  const upload = (request: RecordedRequest, key: string): SimulatorResponse => {
    const auth = authenticate(request);
    if ('response' in auth) return auth.response;
    const image = uploads.get(key);
    if (!image) return { status: 404, body: 'Not Found' };
    const text = typeof request.body === 'string' ? request.body : '';
    const bytes = Number(request.headers['content-length'] ?? Buffer.byteLength(text));
    if (bytes === 0) return { status: 400, body: 'Empty upload' };
    image.uploaded = { text, bytes };
    image.status = 'AVAILABLE';
    return { status: 201 };
  };

  /** Why an image a post references cannot go in it, or null. */
  const unusableImage = (id: unknown, author: string, field: string): SimulatorResponse | null => {
    const image = images.find((candidate) => candidate.urn === id);
    if (!image) return validation(422, field, `${String(id)} is not a known image`);
    if (image.owner !== author) return accessDenied('partnerApiPostsExternal.CREATE');
    // (unconfirmed) LinkedIn's refusal of an image whose bytes never arrived.
    if (image.status !== 'AVAILABLE') return validation(422, field, `${image.urn} is ${image.status}`);
    return null;
  };

  const postView = (post: LinkedInSimulatorPost) => ({
    ...post.body,
    // LinkedIn gives hashtags back as little-text templates, not as the `#word` that was sent.
    commentary: post.commentary.replace(/(^|[^\\])#([\p{L}\p{N}_]+)/gu, '$1{hashtag|\\#|$2}'),
    id: post.id,
    createdAt: post.createdAt.getTime(),
    lastModifiedAt: post.createdAt.getTime(),
    publishedAt: post.createdAt.getTime(),
    lifecycleStateInfo: { isEditedByAuthor: false },
  });

  const createPost = (request: RecordedRequest, token: IssuedAccessToken): SimulatorResponse => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return restError(400, { message: 'The request body is not a JSON object' });
    }
    const fields = body as Record<string, unknown>;
    for (const required of ['author', 'visibility', 'distribution', 'lifecycleState']) {
      if (fields[required] === undefined) {
        return validation(422, `/${required}`, 'field is required but not found and has no default value');
      }
    }
    const author = String(fields.author);
    if (!canPost(token) || !postable(author)) return accessDenied('partnerApiPostsExternal.CREATE');
    const commentary = fields.commentary ?? '';
    if (typeof commentary !== 'string') return validation(422, '/commentary', 'not a string');
    // (unconfirmed) how LinkedIn words a commentary over its limit.
    if (commentary.length > commentaryLimit) {
      return validation(
        422,
        '/commentary',
        `length ${commentary.length} exceeds the maximum of ${commentaryLimit}`,
      );
    }
    if (!['PUBLIC', 'CONNECTIONS', 'LOGGED_IN', 'CONTAINER'].includes(String(fields.visibility)))
      return validation(422, '/visibility', `${String(fields.visibility)} is not a visibility`);
    if (!['PUBLISHED', 'DRAFT'].includes(String(fields.lifecycleState)))
      return validation(422, '/lifecycleState', `${String(fields.lifecycleState)} is not a lifecycle state`);
    const content = fields.content as Record<string, unknown> | undefined;
    if (content !== undefined) {
      const media = content.media as { id?: unknown } | undefined;
      const multi = (content.multiImage as { images?: { id?: unknown }[] } | undefined)?.images;
      const article = content.article as { source?: unknown; title?: unknown } | undefined;
      if (media) {
        const refused = unusableImage(media.id, author, '/content/media/id');
        if (refused) return refused;
      } else if (multi) {
        if (!Array.isArray(multi) || multi.length < 2 || multi.length > 20)
          return validation(422, '/content/multiImage/images', 'a multi-image post holds 2 to 20 images');
        for (const [index, image] of multi.entries()) {
          const refused = unusableImage(image?.id, author, `/content/multiImage/images/${index}/id`);
          if (refused) return refused;
        }
      } else if (article) {
        if (typeof article.source !== 'string' || typeof article.title !== 'string')
          return validation(422, '/content/article', 'source and title are required');
      } else {
        return validation(422, '/content', 'unknown content type');
      }
    }
    const duplicate = posts.find(
      (post) =>
        post.author === author &&
        post.commentary === commentary &&
        JSON.stringify(post.content) === JSON.stringify(content) &&
        clock() - post.createdAt.getTime() < duplicateWindowMs,
    );
    if (duplicate) {
      return {
        status: 422,
        body: {
          errorDetailType: 'com.linkedin.common.error.BadRequest',
          message: `com.linkedin.content.common.exception.BadRequestResponseException: Content is a duplicate of ${duplicate.id}`,
          errorDetails: {
            inputErrors: [{ description: 'Duplicate post is detected', input: {}, code: 'DUPLICATE_POST' }],
          },
          status: 422,
        },
      };
    }
    const post: LinkedInSimulatorPost = {
      // Text posts come back as shares, posts with media as ugcPosts.
      id: `urn:li:${content === undefined ? 'share' : 'ugcPost'}:${nextId()}`,
      author,
      commentary,
      visibility: String(fields.visibility),
      lifecycleState: String(fields.lifecycleState),
      content,
      createdAt: new Date(clock()),
      body: structuredClone(fields),
    };
    posts.push(post);
    // Created: the URN in x-restli-id, no body.
    return { status: 201, headers: { 'x-restli-id': post.id, 'x-linkedin-id': post.id } };
  };

  /** FINDER q=author: the author's posts, newest first (by created or last modified: posts here are never edited). */
  const findPosts = (request: RecordedRequest, token: IssuedAccessToken): SimulatorResponse => {
    const { query } = request;
    if (query.q !== 'author' || !query.author) {
      return restError(400, { code: 'ILLEGAL_ARGUMENT', message: 'q=author and author are required' });
    }
    if (query.sortBy && !['LAST_MODIFIED', 'CREATED'].includes(query.sortBy))
      return restError(400, { code: 'ILLEGAL_ARGUMENT', message: `Invalid sortBy ${query.sortBy}` });
    if (!canReadPosts(token) || !postable(query.author))
      return accessDenied('partnerApiPostsExternal.FINDER-author');
    const start = Number(query.start ?? 0);
    const count = Number(query.count ?? 10);
    if (!Number.isInteger(start) || start < 0 || !Number.isInteger(count) || count < 0) {
      return restError(400, { code: 'ILLEGAL_ARGUMENT', message: 'Invalid paging parameters start/count' });
    }
    const mine = posts.filter((post) => post.author === query.author).reverse();
    const slice = mine.slice(start, start + Math.min(count, postsPageLimit));
    return ok({
      paging: { start, count: slice.length, links: [], total: mine.length },
      elements: slice.map(postView),
    });
  };

  const getPost = (urn: string, token: IssuedAccessToken): SimulatorResponse => {
    const post = posts.find((candidate) => candidate.id === urn);
    if (!post) return restError(404, { code: 'NOT_FOUND', message: `Post ${urn} does not exist` });
    if (!canReadPosts(token) || !postable(post.author)) return accessDenied('partnerApiPostsExternal.GET');
    return ok(postView(post));
  };

  const reports = createLinkedInReports({
    clock,
    posts: () => posts,
    administers: (scopes, urn) => {
      const id = /^urn:li:organization:(\d+)$/.exec(urn)?.[1];
      const found = organizations.find((candidate) => String(candidate.id) === id);
      return scopes.includes('rw_organization_admin') && found !== undefined && administered(found);
    },
    restError,
    accessDenied,
  });

  const handler = (request: RecordedRequest): SimulatorResponse => {
    const { method, path } = request;
    if (path === '/oauth/v2/authorization' && method === 'GET') return authorization(request);
    if (path === '/oauth/v2/accessToken' && method === 'POST') return accessToken(request);
    const uploadPath = /^\/dms-uploads\/sp\/([0-9a-f]+)$/.exec(path);
    if (uploadPath && method === 'PUT') return upload(request, uploadPath[1]!);
    if (!path.startsWith('/rest/')) return restError(404, { message: 'No virtual resource found' });

    const badVersion = versionCheck(request);
    if (badVersion) return badVersion;
    const auth = authenticate(request);
    if ('response' in auth) return auth.response;
    const badProtocol = protocolCheck(request);
    if (badProtocol) return badProtocol;

    if (path === '/rest/organizationAcls' && method === 'GET') return organizationAcls(request, auth.token);
    const organizationPath = /^\/rest\/organizations\/(\d+)$/.exec(path);
    if (organizationPath && method === 'GET') return organization(organizationPath[1]!, auth.token);
    if (path === '/rest/organizationsLookup' && method === 'GET') return organizationsLookup(request);
    if (path === '/rest/images' && method === 'POST') return initializeUpload(request, auth.token);
    if (path === '/rest/posts' && method === 'POST') return createPost(request, auth.token);
    if (path === '/rest/posts' && method === 'GET') return findPosts(request, auth.token);
    if (path === '/rest/organizationalEntityShareStatistics' && method === 'GET')
      return reports.shareStatistics(request, auth.token);
    const postPath = /^\/rest\/posts\/([^/]+)$/.exec(path);
    if (postPath && method === 'GET') return getPost(decodeURIComponent(postPath[1]!), auth.token);
    return restError(404, { message: 'No virtual resource found' });
  };

  const failure = (kind: LinkedInFailureKind): SimulatorResponse => {
    switch (kind) {
      case 'transient':
        return restError(500, { message: 'Internal Server Error' });
      case 'rate_limited':
        return restError(429, {
          serviceErrorCode: 101,
          code: 'TOO_MANY_REQUESTS',
          message: 'Resource level throttle APPLICATION DAY limit for calls to this resource is reached.',
        });
      case 'token_expired':
        return restError(401, {
          serviceErrorCode: 65602,
          code: 'EXPIRED_ACCESS_TOKEN',
          message: 'The token used in the request has expired',
        });
      case 'permission_revoked':
        return accessDenied('organizationAcls.FINDER-roleAssignee');
    }
  };

  const server = await startSimulatorServer(handler, {
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  baseUrl = server.url;
  const simulator: LinkedInSimulator = Object.assign(server, {
    ...consent.controls,
    failWith: (kind: LinkedInFailureKind, rule: FailureMatch) => {
      server.failNext({ ...rule, response: failure(kind) });
    },
    posts: () => posts.map((post) => ({ ...post, body: structuredClone(post.body) })),
    images: () => images.map((image) => ({ ...image })),
    serveVersions: (versions: { oldest: string; newest: string }) => {
      activeVersions = versions;
    },
    deletePost: (urn: string) => {
      const index = posts.findIndex((post) => post.id === urn);
      if (index !== -1) posts.splice(index, 1);
    },
  });
  return simulator;
}
