// Meta simulator (tests and `npm run demo`): one loopback server playing both the consent dialog host and the
// Graph API (v26.0) for Pages and Instagram publishing and the Marketing API's ad objects (campaign, ad set,
// creative, ad): as strict as Meta about tokens and required parameters, in its error shape.
import { randomBytes } from 'node:crypto';
import { createMetaReports } from './meta-reports.ts';
import {
  type FailureMatch,
  type RecordedRequest,
  type SimulatorResponse,
  type SimulatorServer,
  startSimulatorServer,
} from './simulator-server.ts';

// Its own copy on purpose: an adapter that drifts to another version must fail against the simulator.
const simulatedVersion = 'v26.0';
const dayMs = 24 * 60 * 60 * 1000;
const shortLivedTokenSeconds = 3600;
const codeLifetimeMs = 10 * 60 * 1000;
const knownScopes = new Set([
  'public_profile',
  'email',
  'pages_show_list',
  'pages_read_engagement',
  'pages_manage_posts',
  'pages_manage_engagement',
  'pages_manage_metadata',
  'instagram_basic',
  'instagram_content_publish',
  'business_management',
  'ads_management',
  'ads_read',
  'instagram_manage_insights',
  'read_insights',
]);

export const metaSandboxClientId = 'glowtify-sandbox-app';
export const metaSandboxClientSecret = 'glowtify-sandbox-secret';

export interface MetaSimulatorPage {
  id: string;
  name: string;
  instagram?: { id: string; username: string };
  /** Its likes (default 1,000): Page insights exist only for Pages with 100 or more. */
  fanCount?: number;
}

export interface MetaSimulatorOptions {
  port?: number;
  clientId?: string;
  clientSecret?: string;
  pages?: MetaSimulatorPage[];
  /** expires_in of a long-lived user token (Meta: about 60 days). */
  longLivedTokenSeconds?: number;
  /** How long after its publication an Instagram item's insights answer no data (default 5 min; the demo's are quick). */
  insightsLagMs?: number;
  /** How many status reads of a new container answer IN_PROGRESS before it is FINISHED. */
  containerReadyAfterPolls?: number;
  /** The most Pages one `/me/accounts` answer holds, whatever `limit` asks (tests lower it to page). */
  accountsPageLimit?: number;
  /** The most posts one `/{page-id}/feed` or `/posts` answer holds, whatever `limit` asks (tests lower it). */
  postsPageLimit?: number;
  /** `quota_total` of content_publishing_limit (the docs say 50 in one place and 100 in another). */
  publishingQuota?: number;
  /** The simulator's clock: token, code and container expiry follow it. */
  now?: () => Date;
  /** Business Manager accounts the user belongs to (`/me/businesses`, needs business_management). */
  businesses?: { id: string; name: string }[];
  /**
   * Ad accounts the user can use (`/me/adaccounts`, needs ads_management or ads_read), by their number
   * (Meta names them `act_{id}`); `currency` defaults to USD, `accountStatus` to 1 (active).
   */
  adAccounts?: { id: string; name: string; currency?: string; accountStatus?: number }[];
}

export type MetaAdStatus = 'ACTIVE' | 'PAUSED' | 'ARCHIVED' | 'DELETED';

/** One ad object (campaign, ad set, creative or ad) as the simulator holds it, for tests to read. */
export interface MetaSimulatorAdObject {
  id: string;
  /** `act_{id}`. */
  accountId: string;
  name: string;
  status: MetaAdStatus;
  /** Every status it has had, the one it was created with first. */
  statusChanges: { status: MetaAdStatus; at: Date }[];
  createdAt: Date;
  /** What it was created with, object-valued parameters parsed (targeting, object_story_spec…). */
  fields: Record<string, unknown>;
  /** The campaign or ad set it belongs to (ad sets and ads). */
  parentId: string | null;
}

export interface MetaSimulatorPost {
  kind: 'page_post' | 'instagram_media' | 'instagram_story';
  id: string;
  /** Page id or Instagram user id. */
  accountId: string;
  text: string | null;
  link: string | null;
  mediaUrls: string[];
  publishedAt: Date;
}

export type MetaFailureKind =
  | 'transient'
  | 'rate_limited'
  | 'token_expired'
  | 'permission_revoked'
  | 'content_rejected'
  | 'media_not_ready';

export type MetaContainerStatus = 'IN_PROGRESS' | 'FINISHED' | 'ERROR' | 'EXPIRED' | 'PUBLISHED';

export type MetaSimulator = SimulatorServer & {
  /** What the next visitor of the consent dialog answers. */
  consent: 'approve' | 'deny';
  /** When set, the next consents grant only these of the scopes asked (the user unticked the others). */
  grantOnly: string[] | null;
  /** Containers whose media URL matches end in status ERROR (Instagram could not process the media). */
  rejectMediaMatching: RegExp | null;
  posts(): MetaSimulatorPost[];
  /** The container's status as Meta would report it now, without counting as a read. */
  containerStatus(containerId: string): MetaContainerStatus | undefined;
  /** Every token issued so far now answers 190. */
  expireTokens(): void;
  /**
   * The person removes a permission in their Facebook settings: the tokens lose it (calls that need it answer
   * #10/#200) and `/me/permissions` lists it declined. Only the tokens of one consent (its user token and the
   * Page tokens derived from it) when `userToken` is given, every token otherwise.
   */
  revokePermission(permission: string, options?: { userToken?: string }): void;
  /**
   * A Page deleted or no longer managed (Meta then answers its id as an object that does not exist,
   * #100/33), or an Instagram account Meta restricted or its owner deactivated (#25/2207050), until
   * reactivated.
   */
  deactivateAccount(id: string): void;
  reactivateAccount(id: string): void;
  /** Makes the next matching requests fail the way Meta fails them (Meta's status, headers and body). */
  failWith(kind: MetaFailureKind, rule: FailureMatch): void;
  /** The Marketing API's objects, in creation order, deleted ones included. */
  adCampaigns(): MetaSimulatorAdObject[];
  adSets(): MetaSimulatorAdObject[];
  adCreatives(): MetaSimulatorAdObject[];
  ads(): MetaSimulatorAdObject[];
  /** Insights (sandbox/meta-reports.ts): the object is deleted on Meta (every request on it answers #100/33). */
  deleteObject(id: string): void;
  /** The next insights request on this object answers Meta's Business Use Case throttle. */
  rateLimitInsights(id: string, minutesToRegain?: number): void;
};

interface IssuedToken {
  kind: 'user' | 'page';
  pageId?: string;
  /** The user token a page token was derived from: it dies with it. */
  parent?: string;
  scopes: string[];
  issuedAt: number;
  expiresAt: number | null;
  revoked: boolean;
}

interface AuthorizationCode {
  clientId: string;
  redirectUri: string;
  scopes: string[];
  issuedAt: number;
  used: boolean;
}

interface Container {
  id: string;
  igUserId: string;
  mediaType: 'IMAGE' | 'VIDEO' | 'REELS' | 'STORIES' | 'CAROUSEL';
  mediaUrl: string | null;
  caption: string | null;
  isCarouselItem: boolean;
  children: string[];
  reads: number;
  createdAt: number;
  failure: string | null;
  mediaId: string | null;
}

interface Media {
  id: string;
  igUserId: string;
  containerId: string;
  mediaType: Container['mediaType'];
  caption: string | null;
  permalink: string;
  publishedAt: number;
}

interface Photo {
  id: string;
  pageId: string;
  url: string;
  published: boolean;
  attachedTo: string | null;
}

interface GraphErrorFields {
  message: string;
  code: number;
  type?: string;
  error_subcode?: number;
  error_user_title?: string;
  error_user_msg?: string;
  is_transient?: boolean;
}

function graphError(
  status: number,
  fields: GraphErrorFields,
  headers?: Record<string, string>,
): SimulatorResponse {
  const { type = 'OAuthException', ...rest } = fields;
  return {
    status,
    ...(headers ? { headers } : {}),
    body: { error: { ...rest, type, fbtrace_id: randomBytes(8).toString('base64url') } },
  };
}

// A publish that comes before the container finished processing, or a failure a test injects as one.
const mediaNotReady = () =>
  graphError(400, {
    message: 'Media ID is not available',
    code: 9007,
    error_subcode: 2207027,
    error_user_title: 'Media not ready for publishing',
    error_user_msg: 'The media is not ready for publishing, please wait for a moment',
  });

const missingParameter = (name: string) =>
  graphError(400, { message: `(#100) The parameter ${name} is required`, code: 100 });

const unsupportedRequest = (method: string, id: string) =>
  graphError(400, {
    message:
      `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, ` +
      'cannot be loaded due to missing permissions, or does not support this operation. ' +
      'Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api',
    type: 'GraphMethodException',
    code: 100,
    error_subcode: 33,
  });

const ok = (body: unknown): SimulatorResponse => ({ status: 200, body });

/** Splits `id,name,instagram_business_account{id,username}` into top-level fields and their sub-fields. */
function parseFields(fields: string | undefined): Map<string, string[] | null> | null {
  if (!fields) return null;
  const result = new Map<string, string[] | null>();
  let depth = 0;
  let current = '';
  const flush = () => {
    const item = current.trim();
    current = '';
    if (!item) return;
    const open = item.indexOf('{');
    if (open === -1) result.set(item, null);
    else
      result.set(
        item.slice(0, open),
        item
          .slice(open + 1, item.lastIndexOf('}'))
          .split(',')
          .map((sub) => sub.trim())
          .filter(Boolean),
      );
  };
  for (const char of fields) {
    if (char === '{') depth += 1;
    if (char === '}') depth -= 1;
    if (char === ',' && depth === 0) flush();
    else current += char;
  }
  flush();
  return result;
}

function stringParam(params: Record<string, unknown>, name: string): string | undefined {
  const value = params[name];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function truthy(value: string | undefined): boolean {
  return value === 'true' || value === '1';
}

export async function startMetaSimulator(options: MetaSimulatorOptions = {}): Promise<MetaSimulator> {
  const clientId = options.clientId ?? metaSandboxClientId;
  const clientSecret = options.clientSecret ?? metaSandboxClientSecret;
  const pages = options.pages ?? [
    { id: '1001', name: 'Glow Café', instagram: { id: '17841400000000001', username: 'glowcafe' } },
    { id: '1002', name: 'Glow Outlet' },
  ];
  const longLivedTokenSeconds = options.longLivedTokenSeconds ?? 5_184_000;
  const readyAfterPolls = options.containerReadyAfterPolls ?? 1;
  const accountsPageLimit = options.accountsPageLimit ?? 100;
  const postsPageLimit = options.postsPageLimit ?? 100;
  const publishingQuota = options.publishingQuota ?? 100;
  const clock = () => (options.now ?? (() => new Date()))().getTime();
  const appToken = `${clientId}|${clientSecret}`;
  const userId = '10000000000000001';
  const businesses = options.businesses ?? [];
  const adAccounts = options.adAccounts ?? [];

  const tokens = new Map<string, IssuedToken>();
  const pageTokens = new Map<string /* user token */, Map<string /* page id */, string>>();
  const codes = new Map<string, AuthorizationCode>();
  const containers = new Map<string, Container>();
  const media = new Map<string, Media>();
  const photos = new Map<string, Photo>();
  const posts: MetaSimulatorPost[] = [];
  /** Permissions a person removed, by the user token of the consent they belonged to. */
  const declined = new Map<string /* user token */, Set<string>>();
  const deactivated = new Set<string>();
  let nextId = 1;
  const newId = (prefix: string) => `${prefix}${String(nextId++).padStart(8, '0')}`;
  const pageById = (id: string) => pages.find((page) => page.id === id);
  const pageOfInstagram = (igUserId: string) => pages.find((page) => page.instagram?.id === igUserId);

  const issueToken = (token: Omit<IssuedToken, 'issuedAt' | 'revoked'>) => {
    const value = `EAA${randomBytes(24).toString('base64url')}`;
    tokens.set(value, { ...token, issuedAt: clock(), revoked: false });
    return value;
  };

  const tokenState = (value: string): 'valid' | 'expired' | 'unknown' => {
    const token = tokens.get(value);
    if (!token) return 'unknown';
    const parent = token.parent ? tokens.get(token.parent) : undefined;
    if (token.revoked || parent?.revoked) return 'expired';
    if (token.expiresAt !== null && clock() >= token.expiresAt) return 'expired';
    if (parent?.expiresAt != null && clock() >= parent.expiresAt) return 'expired';
    return 'valid';
  };

  const expiredTokenError = () => {
    const at = new Date(clock()).toUTCString();
    return graphError(400, {
      message: `Error validating access token: Session has expired on ${at}. The current time is ${at}.`,
      code: 190,
      error_subcode: 463,
    });
  };
  const invalidTokenError = () =>
    graphError(400, { message: 'Invalid OAuth access token - Cannot parse access token', code: 190 });

  /** Meta takes the token from the query, the form/JSON body, or an `Authorization: Bearer|OAuth` header. */
  const tokenOf = (request: RecordedRequest, params: Record<string, unknown>) => {
    const fromParams = stringParam(params, 'access_token');
    if (fromParams) return fromParams;
    const match = /^(?:Bearer|OAuth)\s+(.+)$/i.exec(request.headers.authorization ?? '');
    return match?.[1]?.trim();
  };

  type Authenticated = { value: string; token: IssuedToken } | { response: SimulatorResponse };
  const authenticate = (request: RecordedRequest, params: Record<string, unknown>): Authenticated => {
    const value = tokenOf(request, params);
    if (!value) {
      return {
        response: graphError(400, {
          message: 'An access token is required to request this resource.',
          code: 104,
        }),
      };
    }
    const state = tokenState(value);
    if (state === 'unknown') return { response: invalidTokenError() };
    if (state === 'expired') return { response: expiredTokenError() };
    return { value, token: tokens.get(value)! };
  };

  /** Page tokens are minted once per user token, as `/me/accounts` hands them out. */
  const pageTokenFor = (userToken: string, pageId: string) => {
    let byPage = pageTokens.get(userToken);
    if (!byPage) {
      byPage = new Map();
      pageTokens.set(userToken, byPage);
    }
    let value = byPage.get(pageId);
    if (!value) {
      const user = tokens.get(userToken)!;
      // Page tokens from a long-lived user token do not expire on their own; they die with the user token.
      value = issueToken({ kind: 'page', pageId, parent: userToken, scopes: user.scopes, expiresAt: null });
      byPage.set(pageId, value);
    }
    return value;
  };

  const canSeePage = (token: IssuedToken, pageId: string) =>
    token.kind === 'user' || (token.kind === 'page' && token.pageId === pageId);
  const canSeeInstagram = (token: IssuedToken, igUserId: string) => {
    const page = pageOfInstagram(igUserId);
    return page !== undefined && canSeePage(token, page.id);
  };

  const containerStatus = (container: Container): MetaContainerStatus => {
    if (container.mediaId) return 'PUBLISHED';
    if (clock() - container.createdAt >= dayMs) return 'EXPIRED';
    if (container.reads < readyAfterPolls) return 'IN_PROGRESS';
    if (container.failure) return 'ERROR';
    const children = container.children.map((id) => containers.get(id));
    if (children.some((child) => child?.failure)) return 'ERROR';
    return 'FINISHED';
  };

  const publishedInLastDay = (igUserId: string) =>
    [...media.values()].filter((item) => item.igUserId === igUserId && clock() - item.publishedAt < dayMs)
      .length;

  // ——— OAuth ———

  const consentDialog = (request: RecordedRequest): SimulatorResponse => {
    const { client_id, redirect_uri, state, scope } = request.query;
    if (client_id !== clientId) {
      return graphError(400, {
        message: 'Invalid App ID: The provided app ID does not look like a valid app ID.',
        code: 101,
      });
    }
    if (!redirect_uri) return graphError(400, { message: 'Missing redirect_uri parameter.', code: 100 });
    const scopes = (scope ?? '').split(/[,\s]+/).filter(Boolean);
    const unknown = scopes.filter((name) => !knownScopes.has(name));
    if (unknown.length > 0)
      return graphError(400, { message: `Invalid Scopes: ${unknown.join(', ')}.`, code: 100 });
    const location = new URL(redirect_uri);
    if (simulator.consent === 'deny') {
      location.searchParams.set('error', 'access_denied');
      location.searchParams.set('error_code', '200');
      location.searchParams.set('error_description', 'Permissions error');
      location.searchParams.set('error_reason', 'user_denied');
    } else {
      const code = randomBytes(32).toString('base64url');
      const granted = simulator.grantOnly
        ? scopes.filter((name) => simulator.grantOnly?.includes(name))
        : scopes;
      codes.set(code, {
        clientId,
        redirectUri: redirect_uri,
        scopes: granted,
        issuedAt: clock(),
        used: false,
      });
      location.searchParams.set('code', code);
    }
    if (state !== undefined) location.searchParams.set('state', state);
    return { status: 302, headers: { location: location.toString() } };
  };

  const accessToken = (params: Record<string, unknown>): SimulatorResponse => {
    const id = stringParam(params, 'client_id');
    const secret = stringParam(params, 'client_secret');
    if (!id) return graphError(400, { message: 'Missing client_id parameter.', code: 101 });
    if (id !== clientId)
      return graphError(400, { message: 'Error validating application. Invalid application ID.', code: 101 });
    // (unconfirmed) Meta answers a wrong client secret with code 1.
    if (secret !== clientSecret)
      return graphError(400, { message: 'Error validating client secret.', code: 1 });

    if (stringParam(params, 'grant_type') === 'fb_exchange_token') {
      const previous = stringParam(params, 'fb_exchange_token');
      if (!previous) return missingParameter('fb_exchange_token');
      const state = tokenState(previous);
      if (state === 'unknown') return invalidTokenError();
      if (state === 'expired') return expiredTokenError();
      const user = tokens.get(previous)!;
      const value = issueToken({
        kind: 'user',
        scopes: user.scopes,
        expiresAt: clock() + longLivedTokenSeconds * 1000,
      });
      return ok({ access_token: value, token_type: 'bearer', expires_in: longLivedTokenSeconds });
    }

    const redirectUri = stringParam(params, 'redirect_uri');
    const codeValue = stringParam(params, 'code');
    if (redirectUri === undefined)
      return graphError(400, { message: 'Missing redirect_uri parameter.', code: 100 });
    if (!codeValue) return missingParameter('code');
    const code = codes.get(codeValue);
    if (!code) return graphError(400, { message: 'Invalid verification code format.', code: 100 });
    // Subcodes 36007/36008/36009 as Meta documents them for the login flow (unconfirmed for every case).
    if (code.used) {
      return graphError(400, {
        message: 'This authorization code has been used.',
        code: 100,
        error_subcode: 36009,
      });
    }
    if (clock() - code.issuedAt > codeLifetimeMs) {
      return graphError(400, {
        message: 'This authorization code has expired.',
        code: 100,
        error_subcode: 36007,
      });
    }
    if (code.redirectUri !== redirectUri) {
      return graphError(400, {
        message:
          'Error validating verification code. Please make sure your redirect_uri is identical to the one ' +
          'you used in the OAuth dialog request',
        code: 100,
        error_subcode: 36008,
      });
    }
    code.used = true;
    const value = issueToken({
      kind: 'user',
      scopes: code.scopes,
      expiresAt: clock() + shortLivedTokenSeconds * 1000,
    });
    return ok({ access_token: value, token_type: 'bearer', expires_in: shortLivedTokenSeconds });
  };

  const debugToken = (request: RecordedRequest, params: Record<string, unknown>): SimulatorResponse => {
    const caller = tokenOf(request, params);
    if (!caller)
      return graphError(400, { message: 'An access token is required to request this resource.', code: 104 });
    if (caller !== appToken && tokenState(caller) !== 'valid') {
      return tokenState(caller) === 'expired' ? expiredTokenError() : invalidTokenError();
    }
    const input = stringParam(params, 'input_token');
    if (!input) return missingParameter('input_token');
    const token = tokens.get(input);
    const state = tokenState(input);
    const base = {
      app_id: clientId,
      application: 'Glowtify (simulated)',
      type: token?.kind === 'page' ? 'PAGE' : 'USER',
    };
    if (!token || state !== 'valid') {
      return ok({
        data: {
          ...base,
          is_valid: false,
          scopes: [],
          error: {
            code: 190,
            message: state === 'expired' ? 'Session has expired.' : 'Invalid OAuth access token.',
            ...(state === 'expired' ? { subcode: 463 } : {}),
          },
        },
      });
    }
    const expiresAt = token.expiresAt ?? (token.parent ? tokens.get(token.parent)?.expiresAt : null) ?? null;
    return ok({
      data: {
        ...base,
        is_valid: true,
        issued_at: Math.floor(token.issuedAt / 1000),
        expires_at: expiresAt === null ? 0 : Math.floor(expiresAt / 1000),
        data_access_expires_at: Math.floor((token.issuedAt + 90 * dayMs) / 1000),
        scopes: token.scopes,
        user_id: userId,
        ...(token.pageId ? { profile_id: token.pageId } : {}),
      },
    });
  };

  // ——— Pages ———

  const pageView = (
    page: MetaSimulatorPage,
    fields: Map<string, string[] | null> | null,
    token?: string,
  ): { view: Record<string, unknown>; error?: undefined } | { view?: undefined; error: string } => {
    const view: Record<string, unknown> = {};
    for (const [field, sub] of fields ??
      new Map([
        ['id', null],
        ['name', null],
      ])) {
      if (field === 'id') view.id = page.id;
      else if (field === 'name') view.name = page.name;
      else if (field === 'category') view.category = 'Brand';
      else if (field === 'tasks')
        view.tasks = ['ADVERTISE', 'ANALYZE', 'CREATE_CONTENT', 'MESSAGING', 'MODERATE', 'MANAGE'];
      else if (field === 'access_token' && token) view.access_token = pageTokenFor(token, page.id);
      else if (field === 'instagram_business_account') {
        if (!page.instagram) continue;
        const account: Record<string, string> = { id: page.instagram.id };
        if (sub?.includes('username')) account.username = page.instagram.username;
        view.instagram_business_account = account;
      } else return { error: field };
    }
    return { view };
  };

  const nonexistingField = (field: string, nodeType: string) =>
    graphError(400, {
      message: `(#100) Tried accessing nonexisting field (${field}) on node type (${nodeType})`,
      code: 100,
    });

  const meAccounts = (
    request: RecordedRequest,
    params: Record<string, unknown>,
    auth: { value: string; token: IssuedToken },
  ) => {
    if (auth.token.kind !== 'user') return nonexistingField('accounts', 'Page');
    const fields =
      parseFields(stringParam(params, 'fields')) ??
      new Map([
        ['access_token', null],
        ['category', null],
        ['name', null],
        ['id', null],
        ['tasks', null],
      ]);
    const visible = auth.token.scopes.includes('pages_show_list') ? pages : [];
    const limit = Math.min(Number(stringParam(params, 'limit') ?? 25) || 25, accountsPageLimit);
    const after = stringParam(params, 'after');
    const start = after ? Number(Buffer.from(after, 'base64url').toString('utf8')) || 0 : 0;
    const slice = visible.slice(start, start + limit);
    const data: unknown[] = [];
    for (const page of slice) {
      const { view, error } = pageView(page, fields, auth.value);
      if (error) return nonexistingField(error, 'Page');
      data.push(view);
    }
    const cursor = (index: number) => Buffer.from(String(index)).toString('base64url');
    const paging: Record<string, unknown> = {
      cursors: { before: cursor(start), after: cursor(start + slice.length) },
    };
    if (start + slice.length < visible.length) {
      const next = new URL(`http://${request.headers.host}/${simulatedVersion}/me/accounts`);
      next.searchParams.set('access_token', auth.value);
      if (stringParam(params, 'fields')) next.searchParams.set('fields', stringParam(params, 'fields')!);
      next.searchParams.set('limit', String(limit));
      next.searchParams.set('after', cursor(start + slice.length));
      paging.next = next.toString();
    }
    return ok({ data, paging });
  };

  const pagePermissionError = () =>
    graphError(403, {
      message:
        '(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts ' +
        'as an admin with sufficient administrative permission',
      code: 200,
    });

  const canPostAsPage = (token: IssuedToken, pageId: string) =>
    token.kind === 'page' &&
    token.pageId === pageId &&
    token.scopes.includes('pages_manage_posts') &&
    token.scopes.includes('pages_read_engagement');

  /** `attached_media[0]={"media_fbid":"…"}` in a form, or `attached_media: [{media_fbid}]` in JSON. */
  const attachedMediaOf = (params: Record<string, unknown>): string[] | null => {
    const entries: unknown[] = [];
    if (Array.isArray(params.attached_media)) entries.push(...params.attached_media);
    else if (typeof params.attached_media === 'string') {
      try {
        const parsed: unknown = JSON.parse(params.attached_media);
        entries.push(...(Array.isArray(parsed) ? parsed : [parsed]));
      } catch {
        return null;
      }
    }
    const indexed = Object.keys(params)
      .map((key) => /^attached_media\[(\d+)\]$/.exec(key))
      .filter((match): match is RegExpExecArray => match !== null)
      .sort((a, b) => Number(a[1]) - Number(b[1]));
    for (const match of indexed) entries.push(params[match[0]]);
    const ids: string[] = [];
    for (const entry of entries) {
      let value = entry;
      if (typeof value === 'string') {
        try {
          value = JSON.parse(value);
        } catch {
          return null;
        }
      }
      const id =
        typeof value === 'object' && value !== null
          ? (value as Record<string, unknown>).media_fbid
          : undefined;
      if (typeof id !== 'string' && typeof id !== 'number') return null;
      ids.push(String(id));
    }
    return ids;
  };

  const pageFeed = (pageId: string, params: Record<string, unknown>, token: IssuedToken) => {
    if (!canPostAsPage(token, pageId)) return pagePermissionError();
    const message = stringParam(params, 'message') ?? null;
    const link = stringParam(params, 'link') ?? null;
    const attached = attachedMediaOf(params);
    if (attached === null)
      return graphError(400, {
        message: '(#100) param attached_media must be an array of objects with media_fbid',
        code: 100,
      });
    if (!message && !link && attached.length === 0) {
      return graphError(400, { message: '(#100) Missing message or attachment', code: 100 });
    }
    const attachedPhotos: Photo[] = [];
    for (const id of attached) {
      const photo = photos.get(id);
      if (!photo || photo.pageId !== pageId || photo.published || photo.attachedTo) {
        return graphError(400, {
          message: `(#100) Invalid media_fbid ${id}: it must be an unpublished photo of this Page`,
          code: 100,
        });
      }
      attachedPhotos.push(photo);
    }
    const id = `${pageId}_${newId('10')}`;
    for (const photo of attachedPhotos) photo.attachedTo = id;
    posts.push({
      kind: 'page_post',
      id,
      accountId: pageId,
      text: message,
      link,
      mediaUrls: attachedPhotos.map((photo) => photo.url),
      publishedAt: new Date(clock()),
    });
    return ok({ id });
  };

  /** Meta's timestamp shape: second precision, `+0000` rather than `Z`. */
  const graphTime = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, '+0000');

  /** `since`/`until` as Meta takes them: a Unix timestamp, or a date string (strtotime in PHP terms). */
  const timeParam = (value: string | undefined): number | null | undefined => {
    if (value === undefined || value === '') return undefined;
    if (/^\d+$/.test(value)) return Number(value) * 1000;
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? null : parsed;
  };

  /**
   * GET `/{page-id}/feed` and `/{page-id}/posts`, newest first. Meta's `/feed` also holds visitors' posts and
   * posts the Page is tagged in; the simulator has only the Page's own, so both edges answer the same.
   */
  const readPagePosts = (
    request: RecordedRequest,
    edge: string,
    pageId: string,
    params: Record<string, unknown>,
    auth: { value: string; token: IssuedToken },
  ) => {
    // (unconfirmed) Meta's answers for a user token and for a Page token without the read permission.
    if (auth.token.kind !== 'page') {
      return graphError(400, {
        message: '(#210) A page access token is required to request this resource.',
        code: 210,
      });
    }
    if (auth.token.pageId !== pageId) return unsupportedRequest('GET', pageId);
    if (!auth.token.scopes.includes('pages_read_engagement')) {
      return graphError(403, {
        message:
          "(#10) This endpoint requires the 'pages_read_engagement' permission or the " +
          "'Page Public Content Access' feature.",
        code: 10,
      });
    }
    const fieldsParam = stringParam(params, 'fields');
    const fields =
      parseFields(fieldsParam) ??
      new Map([
        ['created_time', null],
        ['message', null],
        ['id', null],
      ]);
    const requestedLimit = Number(stringParam(params, 'limit') ?? 25);
    if (!Number.isInteger(requestedLimit) || requestedLimit < 1) {
      return graphError(400, { message: '(#100) Param limit must be a positive integer', code: 100 });
    }
    if (requestedLimit > 100) {
      // (unconfirmed wording) Meta documents 100 as the upper bound of limit on Page post edges.
      return graphError(400, { message: '(#100) The limit parameter cannot exceed 100', code: 100 });
    }
    const since = timeParam(stringParam(params, 'since'));
    const until = timeParam(stringParam(params, 'until'));
    if (since === null || until === null) {
      return graphError(400, {
        message: '(#100) since and until must be Unix timestamps or dates',
        code: 100,
      });
    }
    // The simulator never edits a post, so created_time and updated_time (which Meta may filter on) agree.
    const matching = posts
      .filter((post) => post.kind === 'page_post' && post.accountId === pageId)
      .filter((post) => since === undefined || post.publishedAt.getTime() >= since)
      .filter((post) => until === undefined || post.publishedAt.getTime() <= until)
      .reverse();
    // The cursor names the last post handed out, so posts made between two pages do not shift the next one.
    const after = stringParam(params, 'after');
    let start = 0;
    if (after) {
      const lastId = Buffer.from(after, 'base64url').toString('utf8');
      const index = matching.findIndex((post) => post.id === lastId);
      if (index === -1)
        return graphError(400, { message: '(#100) The after cursor is not valid', code: 100 });
      start = index + 1;
    }
    const slice = matching.slice(start, start + Math.min(requestedLimit, postsPageLimit));
    const data: unknown[] = [];
    for (const post of slice) {
      const all: Record<string, unknown> = {
        id: post.id,
        message: post.text,
        created_time: graphTime(post.publishedAt),
        updated_time: graphTime(post.publishedAt),
        permalink_url: `https://www.facebook.com/${post.id}`,
      };
      const view: Record<string, unknown> = {};
      for (const field of fields.keys()) {
        if (!(field in all)) return nonexistingField(field, 'Post');
        if (all[field] !== null && all[field] !== undefined) view[field] = all[field];
      }
      data.push(view);
    }
    if (slice.length === 0) return ok({ data });
    const cursor = (id: string) => Buffer.from(id).toString('base64url');
    const paging: Record<string, unknown> = {
      cursors: { before: cursor(slice[0]!.id), after: cursor(slice.at(-1)!.id) },
    };
    if (start + slice.length < matching.length) {
      // Like Meta's, the link repeats the query and carries the token.
      const next = new URL(`http://${request.headers.host}/${simulatedVersion}/${pageId}/${edge}`);
      next.searchParams.set('access_token', auth.value);
      if (fieldsParam) next.searchParams.set('fields', fieldsParam);
      next.searchParams.set('limit', String(requestedLimit));
      for (const name of ['since', 'until'])
        if (stringParam(params, name)) next.searchParams.set(name, stringParam(params, name)!);
      next.searchParams.set('after', cursor(slice.at(-1)!.id));
      paging.next = next.toString();
    }
    return ok({ data, paging });
  };

  const pagePhotos = (pageId: string, params: Record<string, unknown>, token: IssuedToken) => {
    if (!canPostAsPage(token, pageId)) return pagePermissionError();
    const url = stringParam(params, 'url');
    if (!url) return missingParameter('url');
    const published =
      stringParam(params, 'published') === undefined || truthy(stringParam(params, 'published'));
    const id = newId('20');
    photos.set(id, { id, pageId, url, published, attachedTo: null });
    if (!published) return ok({ id });
    const postId = `${pageId}_${newId('10')}`;
    posts.push({
      kind: 'page_post',
      id: postId,
      accountId: pageId,
      text: stringParam(params, 'caption') ?? stringParam(params, 'message') ?? null,
      link: null,
      mediaUrls: [url],
      publishedAt: new Date(clock()),
    });
    return ok({ id, post_id: postId });
  };

  // ——— Instagram ———

  const instagramPermissionError = () =>
    graphError(400, { message: '(#10) Application does not have permission for this action', code: 10 });
  // Instagram's documented subcode for an account that is inactive, checkpointed or restricted; the code
  // beside it (25) is as other integrations report it (unconfirmed), and whether reads answer it too is
  // unconfirmed: the simulator answers it to every call on the account.
  const restrictedInstagramError = () =>
    graphError(400, {
      message: "The app user's Instagram Professional account is inactive, checkpointed, or restricted.",
      code: 25,
      error_subcode: 2207050,
      error_user_title: 'Restricted account',
      error_user_msg:
        'The Instagram account is inactive, checkpointed or restricted: sign in to the Instagram app to re-enable it',
    });
  const canPublishInstagram = (token: IssuedToken) =>
    token.scopes.includes('instagram_basic') && token.scopes.includes('instagram_content_publish');

  const createContainer = (igUserId: string, params: Record<string, unknown>, token: IssuedToken) => {
    if (!canPublishInstagram(token)) return instagramPermissionError();
    const mediaType = stringParam(params, 'media_type');
    const imageUrl = stringParam(params, 'image_url');
    const videoUrl = stringParam(params, 'video_url');
    const caption = stringParam(params, 'caption') ?? null;
    const isCarouselItem = truthy(stringParam(params, 'is_carousel_item'));
    const base = {
      id: newId('179'),
      igUserId,
      caption,
      isCarouselItem,
      reads: 0,
      createdAt: clock(),
      mediaId: null,
    };

    let container: Container;
    if (mediaType === 'CAROUSEL') {
      const children = (stringParam(params, 'children') ?? '')
        .split(',')
        .map((id) => id.trim())
        .filter(Boolean);
      if (children.length < 2 || children.length > 10) {
        return graphError(400, {
          message: '(#100) The parameter children must list 2 to 10 carousel item containers',
          code: 100,
        });
      }
      for (const childId of children) {
        const child = containers.get(childId);
        const status = child ? containerStatus(child) : undefined;
        if (
          !child ||
          child.igUserId !== igUserId ||
          !child.isCarouselItem ||
          status === 'EXPIRED' ||
          status === 'PUBLISHED'
        ) {
          return graphError(400, { message: `(#100) Invalid carousel item container ${childId}`, code: 100 });
        }
      }
      container = { ...base, mediaType: 'CAROUSEL', mediaUrl: null, children, failure: null };
    } else {
      if (mediaType !== undefined && !['IMAGE', 'VIDEO', 'REELS', 'STORIES'].includes(mediaType)) {
        return graphError(400, {
          message: '(#100) Param media_type must be one of {CAROUSEL, REELS, STORIES, VIDEO, IMAGE}',
          code: 100,
        });
      }
      const needsVideo = mediaType === 'VIDEO' || mediaType === 'REELS';
      if (needsVideo && !videoUrl) return missingParameter('video_url');
      if (mediaType === 'VIDEO' && !isCarouselItem) {
        return graphError(400, {
          message: '(#100) The VIDEO media type is only for carousel items; use REELS',
          code: 100,
        });
      }
      if (!needsVideo && !imageUrl && !(mediaType === 'STORIES' && videoUrl))
        return missingParameter('image_url');
      const mediaUrl = (needsVideo ? videoUrl : (imageUrl ?? videoUrl))!;
      const failure = simulator.rejectMediaMatching?.test(mediaUrl)
        ? "Error: Media download has failed. The media URI doesn't meet our requirements."
        : null;
      const resolvedType = mediaType ?? (videoUrl && !imageUrl ? 'VIDEO' : 'IMAGE');
      container = {
        ...base,
        mediaType: resolvedType as Container['mediaType'],
        mediaUrl,
        children: [],
        failure,
      };
    }
    containers.set(container.id, container);
    return ok({ id: container.id });
  };

  const mediaPublish = (igUserId: string, params: Record<string, unknown>, token: IssuedToken) => {
    if (!canPublishInstagram(token)) return instagramPermissionError();
    const creationId = stringParam(params, 'creation_id');
    if (!creationId) return missingParameter('creation_id');
    const container = containers.get(creationId);
    if (!container || container.igUserId !== igUserId) return unsupportedRequest('POST', creationId);
    if (container.isCarouselItem) {
      return graphError(400, {
        message: '(#100) A carousel item container cannot be published on its own',
        code: 100,
      });
    }
    const status = containerStatus(container);
    if (status === 'IN_PROGRESS') {
      return mediaNotReady();
    }
    // Meta's exact answers for the next three are unconfirmed; what matters is that none of them posts.
    if (status !== 'FINISHED') {
      return graphError(400, {
        message: `(#100) The media container cannot be published (status ${status})`,
        code: 100,
      });
    }
    if (publishedInLastDay(igUserId) >= publishingQuota) {
      return graphError(400, {
        message: 'Application request limit reached',
        code: 9,
        error_subcode: 2207042,
        error_user_msg: 'You have reached the maximum number of posts that is allowed in 24 hours.',
      });
    }
    const id = newId('180');
    container.mediaId = id;
    const username = pageOfInstagram(igUserId)?.instagram?.username ?? igUserId;
    const permalink =
      container.mediaType === 'STORIES'
        ? `https://www.instagram.com/stories/${username}/${id}/`
        : `https://www.instagram.com/p/${randomBytes(8).toString('base64url')}/`;
    media.set(id, {
      id,
      igUserId,
      containerId: container.id,
      mediaType: container.mediaType,
      caption: container.caption,
      permalink,
      publishedAt: clock(),
    });
    const mediaUrls =
      container.mediaType === 'CAROUSEL'
        ? container.children.map((childId) => containers.get(childId)?.mediaUrl ?? '')
        : [container.mediaUrl ?? ''];
    posts.push({
      kind: container.mediaType === 'STORIES' ? 'instagram_story' : 'instagram_media',
      id,
      accountId: igUserId,
      text: container.caption,
      link: null,
      mediaUrls,
      publishedAt: new Date(clock()),
    });
    return ok({ id });
  };

  const publishingLimit = (igUserId: string, token: IssuedToken) => {
    if (!canPublishInstagram(token)) return instagramPermissionError();
    return ok({
      data: [
        {
          quota_usage: publishedInLastDay(igUserId),
          config: { quota_total: publishingQuota, quota_duration: 86400 },
        },
      ],
    });
  };

  // ——— Reading nodes ———

  const selectFields = (
    all: Record<string, unknown>,
    requested: Map<string, string[] | null> | null,
    defaults: string[],
    nodeType: string,
  ): SimulatorResponse => {
    const view: Record<string, unknown> = {};
    for (const field of requested ? requested.keys() : defaults) {
      if (!(field in all)) return nonexistingField(field, nodeType);
      if (all[field] !== undefined && all[field] !== null) view[field] = all[field];
    }
    return ok(view);
  };

  const readNode = (
    id: string,
    params: Record<string, unknown>,
    auth: { value: string; token: IssuedToken },
  ) => {
    const fields = parseFields(stringParam(params, 'fields'));
    const page = pageById(id);
    if (page) {
      if (!canSeePage(auth.token, id)) return unsupportedRequest('GET', id);
      const { view, error } = pageView(page, fields, undefined);
      return error ? nonexistingField(error, 'Page') : ok(view);
    }
    const instagramPage = pageOfInstagram(id);
    if (instagramPage?.instagram) {
      if (!canSeeInstagram(auth.token, id)) return unsupportedRequest('GET', id);
      const account = { id, username: instagramPage.instagram.username, name: instagramPage.name };
      return selectFields(account, fields, ['id'], 'IGUser');
    }
    const container = containers.get(id);
    if (container) {
      if (!canSeeInstagram(auth.token, container.igUserId)) return unsupportedRequest('GET', id);
      const status = containerStatus(container);
      // Every status read is what moves a new container along, as processing time does on Meta.
      if (!fields || fields.has('status_code') || fields.has('status')) container.reads += 1;
      const statusText =
        status === 'ERROR'
          ? (container.failure ?? 'Error: a carousel item failed')
          : status === 'FINISHED'
            ? 'Finished: Media has been uploaded and it is ready to be published.'
            : status;
      return selectFields(
        { id, status_code: status, status: statusText },
        fields,
        ['id'],
        'ShadowIGMediaBuilder',
      );
    }
    const item = media.get(id);
    if (item) {
      if (!canSeeInstagram(auth.token, item.igUserId)) return unsupportedRequest('GET', id);
      const all = {
        id,
        permalink: item.permalink,
        caption: item.caption,
        media_type:
          item.mediaType === 'CAROUSEL'
            ? 'CAROUSEL_ALBUM'
            : item.mediaType === 'REELS'
              ? 'VIDEO'
              : item.mediaType === 'STORIES'
                ? 'IMAGE'
                : item.mediaType,
        media_product_type:
          item.mediaType === 'STORIES' ? 'STORY' : item.mediaType === 'REELS' ? 'REELS' : 'FEED',
        timestamp: new Date(item.publishedAt).toISOString().replace(/\.\d{3}Z$/, '+0000'),
      };
      return selectFields(all, fields, ['id'], 'IGMedia');
    }
    const post = posts.find((candidate) => candidate.kind === 'page_post' && candidate.id === id);
    if (post) {
      if (!canSeePage(auth.token, post.accountId)) return unsupportedRequest('GET', id);
      const all = {
        id,
        message: post.text,
        created_time: graphTime(post.publishedAt),
        permalink_url: `https://www.facebook.com/${id}`,
      };
      return selectFields(all, fields, ['id', 'message', 'created_time'], 'Post');
    }
    const photo = photos.get(id);
    if (photo) {
      if (!canSeePage(auth.token, photo.pageId)) return unsupportedRequest('GET', id);
      return selectFields({ id, name: null }, fields, ['id'], 'Photo');
    }
    return unsupportedRequest('GET', id);
  };

  // ——— Marketing API (ad objects) ———

  type AdKind = 'campaign' | 'adset' | 'creative' | 'ad';
  const adObjects = new Map<string, MetaSimulatorAdObject & { kind: AdKind }>();
  const adEdges: Record<string, AdKind> = {
    campaigns: 'campaign',
    adsets: 'adset',
    adcreatives: 'creative',
    ads: 'ad',
  };
  const objectives = new Set([
    'OUTCOME_APP_PROMOTION',
    'OUTCOME_AWARENESS',
    'OUTCOME_ENGAGEMENT',
    'OUTCOME_LEADS',
    'OUTCOME_SALES',
    'OUTCOME_TRAFFIC',
  ]);
  const specialAdCategories = new Set([
    'NONE',
    'EMPLOYMENT',
    'HOUSING',
    'CREDIT',
    'ISSUES_ELECTIONS_POLITICS',
    'FINANCIAL_PRODUCTS_SERVICES',
    'ONLINE_GAMBLING_AND_GAMING',
  ]);
  const billingEvents = new Set(['IMPRESSIONS', 'LINK_CLICKS', 'THRUPLAY', 'APP_INSTALLS']);
  const optimizationGoals = new Set([
    'LINK_CLICKS',
    'LANDING_PAGE_VIEWS',
    'IMPRESSIONS',
    'REACH',
    'OFFSITE_CONVERSIONS',
    'THRUPLAY',
  ]);
  const bidStrategies = new Set([
    'LOWEST_COST_WITHOUT_CAP',
    'LOWEST_COST_WITH_BID_CAP',
    'COST_CAP',
    'LOWEST_COST_WITH_MIN_ROAS',
  ]);
  // The EU and EEA, where the Digital Services Act makes an ad name who pays and who benefits.
  const dsaCountries = new Set(
    'AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO'.split(' '),
  );
  const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });
  const isCountry = (code: unknown) => {
    if (typeof code !== 'string' || !/^[A-Z]{2}$/.test(code)) return false;
    const name = regionNames.of(code);
    return name !== undefined && name !== code && name !== 'Unknown Region';
  };

  // (unconfirmed wording) Meta refuses a bad value of an ad object with #100 "Invalid parameter" and says
  // which in error_user_title / error_user_msg.
  const invalidAdParameter = (title: string, detail: string) =>
    graphError(400, {
      message: 'Invalid parameter',
      code: 100,
      is_transient: false,
      error_user_title: title,
      error_user_msg: detail,
    });
  const adsPermissionError = (read: boolean) =>
    graphError(403, {
      message: `(#200) Requires ${read ? 'ads_management or ads_read' : 'ads_management'} permission to manage the object`,
      code: 200,
    });

  /** An object-valued parameter: a JSON string in a form body, an object or array in a JSON body. */
  const jsonParam = (
    params: Record<string, unknown>,
    name: string,
  ): { value: unknown } | 'invalid' | null => {
    const raw = params[name];
    if (raw === undefined) return null;
    if (typeof raw !== 'string') return { value: raw };
    try {
      return { value: JSON.parse(raw) };
    } catch {
      return 'invalid';
    }
  };
  const notJson = (name: string) =>
    graphError(400, { message: `(#100) param ${name} must be JSON-encoded`, code: 100 });

  const adAccountById = (id: string) => {
    const number = /^act_(\d+)$/.exec(id)?.[1];
    return number === undefined ? undefined : adAccounts.find((account) => account.id === number);
  };

  const effectiveStatus = (object: MetaSimulatorAdObject & { kind: AdKind }): string => {
    if (object.status !== 'ACTIVE') return object.status;
    const parent = object.parentId ? adObjects.get(object.parentId) : undefined;
    if (!parent) return 'ACTIVE';
    const upstream = effectiveStatus(parent);
    if (upstream === 'ACTIVE') return 'ACTIVE';
    return parent.kind === 'campaign' ? 'CAMPAIGN_PAUSED' : 'ADSET_PAUSED';
  };

  const adObjectView = (object: MetaSimulatorAdObject & { kind: AdKind }): Record<string, unknown> => ({
    id: object.id,
    account_id: object.accountId.replace(/^act_/, ''),
    name: object.name,
    status: object.status,
    configured_status: object.status,
    effective_status: effectiveStatus(object),
    created_time: graphTime(object.createdAt),
    objective: object.kind === 'campaign' ? object.fields.objective : undefined,
    special_ad_categories: object.kind === 'campaign' ? object.fields.special_ad_categories : undefined,
    campaign_id:
      object.kind === 'adset'
        ? object.parentId
        : object.kind === 'ad'
          ? adObjects.get(object.parentId ?? '')?.parentId
          : undefined,
    adset_id: object.kind === 'ad' ? object.parentId : undefined,
    daily_budget: object.kind === 'adset' ? object.fields.daily_budget : undefined,
    targeting: object.kind === 'adset' ? object.fields.targeting : undefined,
    object_story_spec: object.kind === 'creative' ? object.fields.object_story_spec : undefined,
    creative: object.kind === 'ad' ? object.fields.creative : undefined,
  });
  const adNodeType: Record<AdKind, string> = {
    campaign: 'Campaign',
    adset: 'AdSet',
    creative: 'AdCreative',
    ad: 'Adgroup',
  };

  const createAdObject = (
    kind: AdKind,
    accountId: string,
    fields: Record<string, unknown>,
    input: { name: string; status: MetaAdStatus; parentId: string | null },
  ) => {
    const at = new Date(clock());
    const object = {
      kind,
      id: newId(kind === 'creative' ? '238' : '120'),
      accountId,
      name: input.name,
      status: input.status,
      statusChanges: [{ status: input.status, at }],
      createdAt: at,
      fields,
      parentId: input.parentId,
    };
    adObjects.set(object.id, object);
    return ok({ id: object.id });
  };

  /** `status` as a create or an update takes it; Meta creates ACTIVE when none is given. */
  const statusParam = (params: Record<string, unknown>, allowed: MetaAdStatus[]) => {
    const status = stringParam(params, 'status') ?? 'ACTIVE';
    return (allowed as string[]).includes(status) ? (status as MetaAdStatus) : null;
  };
  const badStatus = (allowed: string[]) =>
    graphError(400, { message: `(#100) Param status must be one of {${allowed.join(', ')}}`, code: 100 });

  /** An object of this account that is not deleted, or null. */
  const liveObjectOf = (kind: AdKind, accountId: string, id: string | undefined) => {
    const object = id ? adObjects.get(id) : undefined;
    return object && object.kind === kind && object.accountId === accountId && object.status !== 'DELETED'
      ? object
      : null;
  };

  const createCampaign = (accountId: string, params: Record<string, unknown>) => {
    const name = stringParam(params, 'name');
    if (!name) return missingParameter('name');
    const objective = stringParam(params, 'objective');
    if (!objective) return missingParameter('objective');
    if (!objectives.has(objective)) {
      return graphError(400, {
        message: `(#100) Param objective must be one of {${[...objectives].join(', ')}}`,
        code: 100,
      });
    }
    const categories = jsonParam(params, 'special_ad_categories');
    if (categories === 'invalid') return notJson('special_ad_categories');
    if (categories === null) {
      // (unconfirmed wording) Required since v7.0, even when none applies (an empty list).
      return invalidAdParameter(
        'Special ad categories required',
        'Declare whether the campaign’s ads relate to a special ad category (credit, employment, housing, ' +
          'social issues, elections or politics) in special_ad_categories; send an empty list when none applies.',
      );
    }
    const list = categories.value;
    if (!Array.isArray(list) || list.some((item) => !specialAdCategories.has(item as string))) {
      return graphError(400, {
        message: `(#100) special_ad_categories must be a list of {${[...specialAdCategories].join(', ')}}`,
        code: 100,
      });
    }
    const status = statusParam(params, ['ACTIVE', 'PAUSED']);
    if (!status) return badStatus(['ACTIVE', 'PAUSED']);
    return createAdObject(
      'campaign',
      accountId,
      { objective, special_ad_categories: list },
      { name, status, parentId: null },
    );
  };

  const createAdSet = (accountId: string, params: Record<string, unknown>) => {
    const name = stringParam(params, 'name');
    if (!name) return missingParameter('name');
    const campaignId = stringParam(params, 'campaign_id');
    if (!campaignId) return missingParameter('campaign_id');
    if (!liveObjectOf('campaign', accountId, campaignId))
      return invalidAdParameter(
        'Invalid campaign',
        `The campaign ${campaignId} does not exist in this ad account.`,
      );
    const budget = stringParam(params, 'daily_budget');
    if (!budget && !stringParam(params, 'lifetime_budget')) return missingParameter('daily_budget');
    if (budget !== undefined && !/^[1-9]\d*$/.test(budget)) {
      return invalidAdParameter(
        'Invalid budget',
        'daily_budget is a whole number of the ad account currency’s smallest unit (cents for USD).',
      );
    }
    const billingEvent = stringParam(params, 'billing_event');
    if (!billingEvent) return missingParameter('billing_event');
    if (!billingEvents.has(billingEvent))
      return graphError(400, {
        message: '(#100) Param billing_event is not a valid billing event',
        code: 100,
      });
    const goal = stringParam(params, 'optimization_goal');
    if (goal !== undefined && !optimizationGoals.has(goal))
      return graphError(400, { message: '(#100) Param optimization_goal is not valid', code: 100 });
    const bidStrategy = stringParam(params, 'bid_strategy');
    if (bidStrategy !== undefined && !bidStrategies.has(bidStrategy))
      return graphError(400, { message: '(#100) Param bid_strategy is not valid', code: 100 });
    if (bidStrategy && bidStrategy !== 'LOWEST_COST_WITHOUT_CAP' && !stringParam(params, 'bid_amount'))
      return missingParameter('bid_amount');
    const targeting = jsonParam(params, 'targeting');
    if (targeting === 'invalid') return notJson('targeting');
    if (targeting === null) return missingParameter('targeting');
    const geo = (targeting.value as { geo_locations?: { countries?: unknown } } | null)?.geo_locations;
    const countries = Array.isArray(geo?.countries) ? (geo.countries as unknown[]) : [];
    if (countries.length === 0) {
      return invalidAdParameter(
        'Location required',
        'targeting.geo_locations must name where the ads are shown (countries, regions or cities).',
      );
    }
    const unknown = countries.find((code) => !isCountry(code));
    if (unknown !== undefined)
      return invalidAdParameter('Invalid location', `${String(unknown)} is not a country code Meta knows.`);
    if (
      countries.some((code) => dsaCountries.has(code as string)) &&
      (!stringParam(params, 'dsa_beneficiary') || !stringParam(params, 'dsa_payor'))
    ) {
      // (unconfirmed wording) The EU's Digital Services Act: an ad shown there names who benefits and pays.
      return invalidAdParameter(
        'Beneficiary and payer required',
        'Ad sets that reach people in the European Union must name the beneficiary and the payer ' +
          '(dsa_beneficiary, dsa_payor).',
      );
    }
    const startTime = stringParam(params, 'start_time');
    if (startTime !== undefined && Number.isNaN(Date.parse(startTime)) && !/^\d+$/.test(startTime))
      return graphError(400, { message: '(#100) Param start_time is not a valid time', code: 100 });
    const status = statusParam(params, ['ACTIVE', 'PAUSED']);
    if (!status) return badStatus(['ACTIVE', 'PAUSED']);
    return createAdObject(
      'adset',
      accountId,
      {
        daily_budget: budget,
        billing_event: billingEvent,
        optimization_goal: goal,
        bid_strategy: bidStrategy,
        targeting: targeting.value,
        dsa_beneficiary: stringParam(params, 'dsa_beneficiary'),
        dsa_payor: stringParam(params, 'dsa_payor'),
      },
      { name, status, parentId: campaignId },
    );
  };

  const createCreative = (accountId: string, params: Record<string, unknown>, token: IssuedToken) => {
    const spec = jsonParam(params, 'object_story_spec');
    if (spec === 'invalid') return notJson('object_story_spec');
    if (spec === null) return missingParameter('object_story_spec');
    const story = spec.value as {
      page_id?: unknown;
      link_data?: { link?: unknown; message?: unknown; picture?: unknown; image_hash?: unknown };
    } | null;
    const pageId = story?.page_id === undefined ? undefined : String(story.page_id);
    if (!pageId) return missingParameter('object_story_spec[page_id]');
    if (!pageById(pageId) || !canSeePage(token, pageId) || deactivated.has(pageId))
      return invalidAdParameter('Invalid Page', `The Page ${pageId} cannot be used by this ad account.`);
    const link = story?.link_data?.link;
    if (typeof link !== 'string') return missingParameter('object_story_spec[link_data][link]');
    for (const [field, value] of [
      ['link', link],
      ['picture', story?.link_data?.picture],
    ] as const) {
      if (value === undefined) continue;
      try {
        const { protocol } = new URL(value as string);
        if (protocol !== 'http:' && protocol !== 'https:') throw new Error();
      } catch {
        return invalidAdParameter('Invalid link', `link_data.${field} must be an http(s) URL.`);
      }
    }
    if (story?.link_data?.image_hash !== undefined)
      return invalidAdParameter('Invalid image', 'The image_hash names no image of this ad account.');
    return createAdObject(
      'creative',
      accountId,
      { object_story_spec: story },
      { name: stringParam(params, 'name') ?? `Creative ${pageId}`, status: 'ACTIVE', parentId: null },
    );
  };

  const createAd = (accountId: string, params: Record<string, unknown>) => {
    const name = stringParam(params, 'name');
    if (!name) return missingParameter('name');
    const adSetId = stringParam(params, 'adset_id');
    if (!adSetId) return missingParameter('adset_id');
    if (!liveObjectOf('adset', accountId, adSetId))
      return invalidAdParameter('Invalid ad set', `The ad set ${adSetId} does not exist in this ad account.`);
    const creative = jsonParam(params, 'creative');
    if (creative === 'invalid') return notJson('creative');
    if (creative === null) return missingParameter('creative');
    const creativeId = (creative.value as { creative_id?: unknown } | null)?.creative_id;
    if (!liveObjectOf('creative', accountId, creativeId === undefined ? undefined : String(creativeId)))
      return invalidAdParameter(
        'Invalid creative',
        'creative.creative_id names no creative of this ad account.',
      );
    const status = statusParam(params, ['ACTIVE', 'PAUSED']);
    if (!status) return badStatus(['ACTIVE', 'PAUSED']);
    return createAdObject(
      'ad',
      accountId,
      { creative: { creative_id: String(creativeId) } },
      { name, status, parentId: adSetId },
    );
  };

  /**
   * GET `/act_{id}/{campaigns|adsets|adcreatives|ads}`: deleted objects are left out, as Meta does unless
   * asked for them; `filtering` takes `name` with CONTAIN or EQUAL (the look-ups adapters make).
   */
  const listAdObjects = (accountId: string, kind: AdKind, params: Record<string, unknown>) => {
    const filtering = jsonParam(params, 'filtering');
    if (filtering === 'invalid') return notJson('filtering');
    const rules = filtering === null ? [] : filtering.value;
    if (!Array.isArray(rules))
      return graphError(400, { message: '(#100) filtering must be a list', code: 100 });
    const predicates: ((object: MetaSimulatorAdObject) => boolean)[] = [];
    for (const rule of rules as { field?: unknown; operator?: unknown; value?: unknown }[]) {
      if (rule?.field !== 'name' || typeof rule.value !== 'string')
        return graphError(400, {
          message: `(#100) Filtering field ${String(rule?.field)} is invalid`,
          code: 100,
        });
      const value = rule.value;
      if (rule.operator === 'CONTAIN') predicates.push((object) => object.name.includes(value));
      else if (rule.operator === 'EQUAL') predicates.push((object) => object.name === value);
      else
        return graphError(400, {
          message: `(#100) Filtering operator ${String(rule.operator)} is invalid`,
          code: 100,
        });
    }
    const fields = parseFields(stringParam(params, 'fields')) ?? new Map([['id', null]]);
    const data: Record<string, unknown>[] = [];
    for (const object of adObjects.values()) {
      if (object.kind !== kind || object.accountId !== accountId || object.status === 'DELETED') continue;
      if (!predicates.every((predicate) => predicate(object))) continue;
      const all = adObjectView(object);
      const view: Record<string, unknown> = {};
      for (const field of fields.keys()) {
        if (!(field in all)) return nonexistingField(field, adNodeType[kind]);
        if (all[field] !== undefined && all[field] !== null) view[field] = all[field];
      }
      data.push(view);
    }
    return ok({ data: data.reverse(), paging: { cursors: { before: 'MAZDZD', after: 'MAZDZD' } } });
  };

  const adAccountEdge = (
    accountId: string,
    edge: string | undefined,
    method: string,
    params: Record<string, unknown>,
    auth: { value: string; token: IssuedToken },
  ): SimulatorResponse => {
    const account = adAccountById(accountId);
    const read = method === 'GET';
    const permitted =
      auth.token.kind === 'user' &&
      auth.token.scopes.some((scope) => scope === 'ads_management' || (read && scope === 'ads_read'));
    if (!account) return unsupportedRequest(method, accountId);
    if (!permitted) return adsPermissionError(read);
    if (!edge) {
      if (!read) return unsupportedRequest(method, accountId);
      const all = {
        id: accountId,
        account_id: account.id,
        name: account.name,
        currency: account.currency ?? 'USD',
        account_status: account.accountStatus ?? 1,
      };
      return selectFields(all, parseFields(stringParam(params, 'fields')), ['id'], 'AdAccount');
    }
    const kind = adEdges[edge];
    if (!kind) return graphError(400, { message: `Unknown path components: /${edge}`, code: 2500 });
    if (read) return listAdObjects(accountId, kind, params);
    if (method !== 'POST') return unsupportedRequest(method, accountId);
    // (unconfirmed wording) A disabled or closed account takes no new objects.
    if ((account.accountStatus ?? 1) !== 1)
      return invalidAdParameter('Ad account disabled', 'This ad account cannot run ads: it is not active.');
    switch (kind) {
      case 'campaign':
        return createCampaign(accountId, params);
      case 'adset':
        return createAdSet(accountId, params);
      case 'creative':
        return createCreative(accountId, params, auth.token);
      case 'ad':
        return createAd(accountId, params);
    }
  };

  /** GET, POST (status, name) and DELETE on one ad object; deleting a campaign or ad set deletes what it holds. */
  const adObjectNode = (
    object: MetaSimulatorAdObject & { kind: AdKind },
    method: string,
    params: Record<string, unknown>,
    auth: { value: string; token: IssuedToken },
  ): SimulatorResponse => {
    const read = method === 'GET';
    const account = adAccountById(object.accountId);
    if (
      !account ||
      auth.token.kind !== 'user' ||
      !auth.token.scopes.some((scope) => scope === 'ads_management' || (read && scope === 'ads_read'))
    )
      return adsPermissionError(read);
    if (read) {
      return selectFields(
        adObjectView(object),
        parseFields(stringParam(params, 'fields')),
        ['id'],
        adNodeType[object.kind],
      );
    }
    const setStatus = (target: MetaSimulatorAdObject, status: MetaAdStatus) => {
      if (target.status === status) return;
      target.status = status;
      target.statusChanges.push({ status, at: new Date(clock()) });
    };
    if (method === 'DELETE') {
      const cascade = (target: MetaSimulatorAdObject & { kind: AdKind }) => {
        setStatus(target, 'DELETED');
        for (const child of adObjects.values()) if (child.parentId === target.id) cascade(child);
      };
      cascade(object);
      return ok({ success: true });
    }
    if (method !== 'POST') return unsupportedRequest(method, object.id);
    const allowed: MetaAdStatus[] =
      object.kind === 'creative' ? ['ACTIVE', 'DELETED'] : ['ACTIVE', 'PAUSED', 'ARCHIVED', 'DELETED'];
    const rename = stringParam(params, 'name');
    if (stringParam(params, 'status') === undefined && rename === undefined)
      return graphError(400, { message: '(#100) No parameter to update was given', code: 100 });
    if (rename === '') return missingParameter('name');
    const status = stringParam(params, 'status') === undefined ? object.status : statusParam(params, allowed);
    if (!status) return badStatus(allowed);
    if (object.status === 'DELETED') {
      // (unconfirmed wording) A deleted object cannot come back.
      return invalidAdParameter('Object deleted', `The ${adNodeType[object.kind]} ${object.id} was deleted.`);
    }
    if (object.status === 'ARCHIVED' && status !== 'ARCHIVED' && status !== 'DELETED') {
      // (unconfirmed wording) Meta documents that an archived object can only be deleted.
      return invalidAdParameter(
        'Object archived',
        `The ${adNodeType[object.kind]} ${object.id} is archived: it can only be deleted.`,
      );
    }
    if (rename !== undefined) object.name = rename;
    if (status === 'DELETED') {
      const cascade = (target: MetaSimulatorAdObject & { kind: AdKind }) => {
        setStatus(target, 'DELETED');
        for (const child of adObjects.values()) if (child.parentId === target.id) cascade(child);
      };
      cascade(object);
    } else setStatus(object, status);
    return ok({ success: true });
  };

  const reports = createMetaReports({
    clock,
    insightsLagMs: options.insightsLagMs ?? 5 * 60_000,
    graphError,
    unsupportedRequest,
    find: (id) => {
      const item = media.get(id);
      if (item) {
        return {
          kind: item.mediaType === 'STORIES' ? 'instagram_story' : 'instagram_media',
          igUserId: item.igUserId,
          publishedAt: item.publishedAt,
          visible: (token) => canSeeInstagram(token as IssuedToken, item.igUserId),
        };
      }
      const post = posts.find((candidate) => candidate.kind === 'page_post' && candidate.id === id);
      if (post) {
        return {
          kind: 'page_post',
          pageId: post.accountId,
          fanCount: pageById(post.accountId)?.fanCount ?? 1000,
          publishedAt: post.publishedAt.getTime(),
          visible: (token) => token.kind === 'page' && token.pageId === post.accountId,
        };
      }
      const ad = adObjects.get(id);
      if (ad?.kind !== 'ad') return undefined;
      const adSet = adObjects.get(ad.parentId ?? '');
      const campaign = adObjects.get(adSet?.parentId ?? '');
      return {
        kind: 'ad',
        accountId: ad.accountId,
        currency: adAccountById(ad.accountId)?.currency ?? 'USD',
        chain: [ad, adSet, campaign].flatMap((level) => (level ? [level.statusChanges] : [])),
        visible: (token) => token.kind === 'user' && adAccountById(ad.accountId) !== undefined,
      };
    },
  });

  const adObjectsOf = (kind: AdKind) => () =>
    [...adObjects.values()]
      .filter((object) => object.kind === kind)
      .map(({ kind: _kind, ...object }) => ({
        ...object,
        statusChanges: object.statusChanges.map((change) => ({ ...change })),
        fields: structuredClone(object.fields),
      }));

  const handler = (request: RecordedRequest): SimulatorResponse => {
    const match = /^\/(v\d+\.\d+)(\/.*)?$/.exec(request.path);
    if (!match || match[1] !== simulatedVersion) {
      return graphError(400, {
        message: `Unsupported API version in ${request.path}: the simulator plays ${simulatedVersion}`,
        type: 'GraphMethodException',
        code: 100,
      });
    }
    const segments = (match[2] ?? '/').split('/').filter(Boolean);
    const params: Record<string, unknown> = {
      ...request.query,
      ...(typeof request.body === 'object' && request.body !== null
        ? (request.body as Record<string, unknown>)
        : {}),
    };
    const [first, second, ...rest] = segments;
    const method = request.method;

    if (first === 'dialog' && second === 'oauth' && method === 'GET') return consentDialog(request);
    if (first === 'oauth' && second === 'access_token' && (method === 'GET' || method === 'POST'))
      return accessToken(params);
    if (first === 'debug_token' && !second && method === 'GET') return debugToken(request, params);
    if (!first) return unsupportedRequest(method, '');
    if (rest.length > 0)
      return graphError(400, { message: `Unknown path components: /${rest.join('/')}`, code: 2500 });

    const auth = authenticate(request, params);
    if ('response' in auth) return auth.response;

    if (first === 'me') {
      if (!second && method === 'GET') {
        return auth.token.kind === 'page'
          ? ok({ id: auth.token.pageId, name: pageById(auth.token.pageId ?? '')?.name })
          : ok({ id: userId, name: 'Sandbox User' });
      }
      if (second === 'accounts' && method === 'GET') return meAccounts(request, params, auth);
      if (second === 'permissions' && method === 'GET') {
        if (auth.token.kind !== 'user') return nonexistingField('permissions', 'Page');
        const removed = [...(declined.get(auth.value) ?? [])];
        return ok({
          data: [
            ...auth.token.scopes.map((permission) => ({ permission, status: 'granted' })),
            ...removed.map((permission) => ({ permission, status: 'declined' })),
          ],
        });
      }
      if (second === 'businesses' && method === 'GET') {
        if (auth.token.kind !== 'user') return nonexistingField('businesses', 'Page');
        if (!auth.token.scopes.includes('business_management'))
          return graphError(403, { message: '(#100) Missing Permission: business_management', code: 100 });
        return ok({ data: businesses.map(({ id, name }) => ({ id, name })), paging: {} });
      }
      if (second === 'adaccounts' && method === 'GET') {
        if (auth.token.kind !== 'user') return nonexistingField('adaccounts', 'Page');
        if (!auth.token.scopes.some((scope) => scope === 'ads_management' || scope === 'ads_read'))
          return graphError(403, {
            message: '(#200) Requires ads_management or ads_read permission to manage the object',
            code: 200,
          });
        return ok({
          data: adAccounts.map(({ id, name }) => ({
            id: `act_${id}`,
            account_id: id,
            name,
            account_status: 1,
          })),
          paging: {},
        });
      }
      return graphError(400, { message: `Unknown path components: /${second}`, code: 2500 });
    }

    if (reports.isGone(first)) return unsupportedRequest(method, first);
    if (second === 'insights' && method === 'GET') return reports.insights(first, params, auth.token);
    if (first.startsWith('act_')) return adAccountEdge(first, second, method, params, auth);
    const adObject = adObjects.get(first);
    if (adObject && !second) return adObjectNode(adObject, method, params, auth);

    if (deactivated.has(first)) {
      return pageById(first) ? unsupportedRequest(method, first) : restrictedInstagramError();
    }
    if (!second) return method === 'GET' ? readNode(first, params, auth) : unsupportedRequest(method, first);

    if (pageById(first)) {
      if (second === 'feed' && method === 'POST') return pageFeed(first, params, auth.token);
      if (second === 'photos' && method === 'POST') return pagePhotos(first, params, auth.token);
      if ((second === 'feed' || second === 'posts') && method === 'GET')
        return readPagePosts(request, second, first, params, auth);
      return unsupportedRequest(method, first);
    }
    if (pageOfInstagram(first)) {
      if (!canSeeInstagram(auth.token, first)) return unsupportedRequest(method, first);
      if (second === 'media' && method === 'POST') return createContainer(first, params, auth.token);
      if (second === 'media_publish' && method === 'POST') return mediaPublish(first, params, auth.token);
      if (second === 'content_publishing_limit' && method === 'GET')
        return publishingLimit(first, auth.token);
      if (second === 'media' && method === 'GET') {
        const data = [...media.values()]
          .filter((item) => item.igUserId === first && item.mediaType !== 'STORIES')
          .reverse()
          .map((item) => ({ id: item.id }));
        return ok({ data });
      }
      return unsupportedRequest(method, first);
    }
    return unsupportedRequest(method, first);
  };

  const instagramIds = pages.flatMap((page) => (page.instagram ? [page.instagram.id] : []));
  /** The answer Meta gives for each failure kind; Instagram paths get Instagram's variants. */
  const failure = (kind: MetaFailureKind, path: string | RegExp): SimulatorResponse => {
    const source = typeof path === 'string' ? path : path.source;
    const instagramId = instagramIds.find((id) => source.includes(id));
    const instagram = instagramId !== undefined || /media|instagram/.test(source);
    const adAccount = /act_(\d+)/.exec(source)?.[1];
    const ads = adAccount !== undefined || /campaigns|adsets|adcreatives|ads/.test(source);
    if (ads && kind === 'rate_limited') {
      const accountNumber = adAccount ?? adAccounts[0]?.id ?? '0';
      const usage = {
        [accountNumber]: [
          {
            type: 'ads_management',
            call_count: 95,
            total_cputime: 20,
            total_time: 30,
            estimated_time_to_regain_access: 2,
          },
        ],
      };
      return graphError(
        400,
        {
          message:
            '(#80004) There have been too many calls to this ad-account. Wait a bit and try again. For more ' +
            'info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.',
          code: 80004,
          error_subcode: 2446079,
        },
        {
          'X-Business-Use-Case-Usage': JSON.stringify(usage),
          'X-Ad-Account-Usage': JSON.stringify({
            acc_id_util_pct: 100,
            reset_time_duration: 90,
            ads_api_access_tier: 'standard_access',
          }),
        },
      );
    }
    if (ads && kind === 'permission_revoked') return adsPermissionError(false);
    switch (kind) {
      case 'transient':
        return graphError(500, {
          message: 'An unexpected error has occurred. Please retry your request later.',
          code: 2,
          is_transient: true,
        });
      case 'rate_limited': {
        const objectId =
          instagramId ?? pages.find((page) => source.includes(page.id))?.id ?? pages[0]?.id ?? '0';
        const usage = {
          [objectId]: [
            {
              type: instagram ? 'instagram' : 'pages',
              call_count: 100,
              total_cputime: 34,
              total_time: 41,
              estimated_time_to_regain_access: 5,
            },
          ],
        };
        return graphError(
          400,
          instagram
            ? {
                message:
                  '(#80002) There have been too many calls to this Instagram account. ' +
                  'Wait a bit and try again.',
                code: 80002,
              }
            : {
                message:
                  '(#80001) There have been too many calls to this Page account. Wait a bit and try again.',
                code: 80001,
              },
          { 'X-Business-Use-Case-Usage': JSON.stringify(usage) },
        );
      }
      case 'token_expired':
        return expiredTokenError();
      case 'permission_revoked':
        return instagram ? instagramPermissionError() : pagePermissionError();
      case 'content_rejected':
        return graphError(400, {
          message: 'The action attempted has been deemed abusive or is otherwise disallowed',
          code: 368,
          error_subcode: 1390008,
          error_user_title: 'Content not allowed',
          error_user_msg: "Your post couldn't be shared because it goes against our Community Standards.",
        });
      case 'media_not_ready':
        return mediaNotReady();
    }
  };

  const server = await startSimulatorServer(handler, {
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  const simulator: MetaSimulator = Object.assign(server, {
    consent: 'approve' as 'approve' | 'deny',
    grantOnly: null as string[] | null,
    rejectMediaMatching: null as RegExp | null,
    posts: () => posts.map((post) => ({ ...post, mediaUrls: [...post.mediaUrls] })),
    containerStatus: (containerId: string) => {
      const container = containers.get(containerId);
      return container ? containerStatus(container) : undefined;
    },
    expireTokens: () => {
      for (const token of tokens.values()) token.revoked = true;
    },
    revokePermission: (permission: string, options: { userToken?: string } = {}) => {
      for (const [value, token] of tokens) {
        const userToken = token.kind === 'user' ? value : token.parent;
        if (userToken === undefined || (options.userToken && userToken !== options.userToken)) continue;
        token.scopes = token.scopes.filter((scope) => scope !== permission);
        if (token.kind === 'user') declined.set(value, new Set([...(declined.get(value) ?? []), permission]));
      }
    },
    deactivateAccount: (id: string) => {
      deactivated.add(id);
    },
    reactivateAccount: (id: string) => {
      deactivated.delete(id);
    },
    failWith: (kind: MetaFailureKind, rule: FailureMatch) => {
      server.failNext({ ...rule, response: failure(kind, rule.path) });
    },
    adCampaigns: adObjectsOf('campaign'),
    adSets: adObjectsOf('adset'),
    adCreatives: adObjectsOf('creative'),
    ads: adObjectsOf('ad'),
    deleteObject: (id: string) => reports.deleteObject(id),
    rateLimitInsights: (id: string, minutesToRegain?: number) => {
      server.failNext({ path: `/${id}/insights`, response: reports.rateLimited(id, minutesToRegain) });
    },
  });
  return simulator;
}
