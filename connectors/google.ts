// Google adapters: Google Analytics 4 (a data connector: properties, sessions by source/medium/campaign) and
// Google Ads (customer discovery), two platforms behind one Google OAuth app and one OAuth helper.

import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { TaskContent } from '../domain/content.ts';
import { microsPerMinorUnit } from '../domain/money.ts';
import { platformDescriptors } from '../domain/platforms.ts';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { createGoogleAdsMetrics } from './google-ads-metrics.ts';
import { createSender, isSuccess, parseRetryAfter, redact } from './http.ts';
import { expiresAfter, requestToken } from './oauth2.ts';
import type {
  Connection,
  DiscardContext,
  DiscoveredAccount,
  OAuthConnector,
  PlatformAdapter,
  PrepareContext,
  PublicationContext,
  PublicationProgress,
  Published,
  SyncResult,
  TargetAccount,
} from './types.ts';
import { CredentialsRejectedError } from './types.ts';

/** The one place the Google Ads API version is pinned (PLATFORMS.md). */
export const googleAdsApiVersion = 'v26';
/** GA4 Data API and Admin API versions (`accountSummaries` and `runReport` are both served under v1beta). */
export const googleAnalyticsApiVersion = 'v1beta';

export const googleAnalyticsScopes = platformDescriptors.google_analytics.scopes;
export const googleAdsScopes = platformDescriptors.google_ads.scopes;

/** The real hosts (SPEC §9 defaults); tests and the demo point them at `sandbox/google.ts`. */
export const googleHosts = {
  authBaseUrl: 'https://accounts.google.com',
  tokenBaseUrl: 'https://oauth2.googleapis.com',
  analyticsApiBaseUrl: 'https://analyticsdata.googleapis.com',
  analyticsAdminApiBaseUrl: 'https://analyticsadmin.googleapis.com',
  adsApiBaseUrl: 'https://googleads.googleapis.com',
} as const;

/** What both Google connectors store (sealed by the caller). */
export interface GoogleCredentials {
  accessToken: string;
  /** Issued with access_type=offline; Google does not rotate it, so a refresh keeps it. */
  refreshToken?: string;
  /** ISO instant from Google's own `expires_in`. */
  accessTokenExpiresAt: string | null;
  /** What Google says it granted. */
  scopes: string[];
}

export interface GoogleAdapterOptions {
  authBaseUrl?: string;
  tokenBaseUrl?: string;
  analyticsApiBaseUrl?: string;
  /** The Admin API host (property discovery), one more configurable host. */
  analyticsAdminApiBaseUrl?: string;
  adsApiBaseUrl?: string;
  clientId: string;
  clientSecret: string;
  /** Retired by Google in 2026-09: the `developer-token` header is sent only when this is set. */
  adsDeveloperToken?: string;
  fetch?: typeof fetch;
  /** One request's time limit; a hung request becomes TRANSIENT instead of holding the activity. */
  requestTimeoutMs?: number;
  now?: () => Date;
  /** Rows asked per runReport page (GA4 allows up to 250,000); tests lower it to walk pages. */
  reportPageSize?: number;
}

export type GoogleAdapter = PlatformAdapter<GoogleCredentials> &
  Required<Pick<PlatformAdapter<GoogleCredentials>, 'refreshCredentials' | 'canRefresh'>> & {
    connector: OAuthConnector<GoogleCredentials>;
  };

export type GoogleAdsAdapter = GoogleAdapter &
  Required<Pick<PlatformAdapter<GoogleCredentials>, 'prepare' | 'publish' | 'discardPrepared'>>;

export type GoogleAnalyticsAdapter = GoogleAdapter &
  Required<Pick<PlatformAdapter<GoogleCredentials>, 'sync'>>;

const defaultRequestTimeoutMs = 30_000;
const defaultReportPageSize = 100_000;
// Far beyond any real account list or report; reaching it means a page token is looping.
const maxPages = 200;
const accountSummariesPageSize = 200;
const customerQuery = 'SELECT customer.id, customer.descriptive_name, customer.manager FROM customer';

// ——— errors ———

const GoogleApiErrorBody = z.object({
  error: z.object({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
    details: z.array(z.record(z.string(), z.unknown())).optional(),
  }),
});

/** "30s" / "1.5s" (google.protobuf.Duration in JSON) → milliseconds. */
function durationMs(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  return match ? Math.round(Number(match[1]) * 1000) : undefined;
}

function retryAfterMs(headers: Headers, details: Record<string, unknown>[]): number | undefined {
  const fromHeader = parseRetryAfter(headers.get('retry-after'));
  if (fromHeader !== undefined) return fromHeader;
  for (const detail of details) {
    // google.rpc.RetryInfo (GA4 and most Google APIs).
    const fromRetryInfo = durationMs(detail.retryDelay);
    if (fromRetryInfo !== undefined) return fromRetryInfo;
    // Google Ads: GoogleAdsFailure.errors[].details.quotaErrorDetails.retryDelay.
    for (const error of adsErrors(detail)) {
      const quota = (error.details as { quotaErrorDetails?: { retryDelay?: unknown } } | undefined)
        ?.quotaErrorDetails;
      const fromAds = durationMs(quota?.retryDelay);
      if (fromAds !== undefined) return fromAds;
    }
  }
  return undefined;
}

function adsErrors(detail: Record<string, unknown>): Record<string, unknown>[] {
  const errors = detail.errors;
  return Array.isArray(errors)
    ? errors.filter((error): error is Record<string, unknown> => typeof error === 'object' && error !== null)
    : [];
}

/** `authorizationError:CUSTOMER_NOT_ENABLED` from a GoogleAdsFailure, else the google.rpc.ErrorInfo reason. */
function googleReason(details: Record<string, unknown>[]): string | undefined {
  for (const detail of details) {
    for (const error of adsErrors(detail)) {
      const code = error.errorCode;
      if (typeof code === 'object' && code !== null) {
        const [kind, value] = Object.entries(code)[0] ?? [];
        if (kind && typeof value === 'string') return `${kind}:${value}`;
      }
    }
  }
  for (const detail of details) if (typeof detail.reason === 'string') return detail.reason;
  return undefined;
}

// ErrorInfo reasons that name the OAuth grant (a scope unticked or taken back), not the resource asked for.
const grantReasons = new Set(['ACCESS_TOKEN_SCOPE_INSUFFICIENT']);

/**
 * Maps a Google API error answer (`{"error":{"code","message","status","details"}}`, GA4 and Google Ads
 * alike) onto a publication error class. The HTTP status decides; the canonical `status` breaks ties.
 */
export function mapGoogleApiError(status: number, body: unknown, headers: Headers): PublicationFailure {
  const error = GoogleApiErrorBody.safeParse(body).data?.error;
  const details = error?.details ?? [];
  const canonical = error?.status;
  const reason = googleReason(details);
  const platformCode = reason ?? canonical;
  const message = (error?.message || `Google answered HTTP ${status}`).slice(0, 1000);
  const failure = (errorClass: PublicationFailure['class'], delayMs?: number): PublicationFailure => ({
    class: errorClass,
    message,
    ...(platformCode === undefined ? {} : { platformCode }),
    ...(delayMs === undefined ? {} : { retryAfterMs: delayMs }),
  });

  if (status === 429 || canonical === 'RESOURCE_EXHAUSTED')
    return failure('RATE_LIMITED', retryAfterMs(headers, details));
  if (status >= 500 || status === 408 || canonical === 'UNAVAILABLE' || canonical === 'DEADLINE_EXCEEDED')
    return failure('TRANSIENT');
  if (status === 401 || canonical === 'UNAUTHENTICATED') return failure('TOKEN_EXPIRED');
  if (status === 403 || canonical === 'PERMISSION_DENIED') {
    // Only a refusal of the OAuth grant itself is mended by a reconnect. One that names something else — the
    // customer id or login-customer-id (USER_PERMISSION_DENIED), a disabled customer, the Cloud project
    // (SERVICE_DISABLED) — stays whatever the user consents to again. A 403 naming no reason is read as the grant.
    if (reason === undefined || grantReasons.has(reason) || reason.startsWith('authenticationError:'))
      return failure('PERMISSION_REVOKED');
    return { ...failure('INVALID_REQUEST'), message: `${message} (${reason})` };
  }
  return failure('INVALID_REQUEST');
}

// ——— transport ———

interface GoogleRequest {
  method: 'GET' | 'POST';
  url: string;
  /** For messages: what was asked, without ids or secrets (e.g. "runReport"). */
  what: string;
  token?: string;
  json?: unknown;
  headers?: Record<string, string>;
  /** Values that must never reach an error message (tokens, the client secret, an OAuth code). */
  secrets?: string[];
  signal?: AbortSignal | undefined;
}

const trimSlash = (url: string) => url.replace(/\/+$/, '');

/** What both adapters share: one HTTP try with a timeout, and the OAuth steps of the one Google app. */
function createGoogleClient(options: GoogleAdapterOptions) {
  const requestTimeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
  const now = options.now ?? (() => new Date());
  const authBase = trimSlash(options.authBaseUrl ?? googleHosts.authBaseUrl);
  const tokenBase = trimSlash(options.tokenBaseUrl ?? googleHosts.tokenBaseUrl);

  const send = createSender({ fetch: options.fetch, timeoutMs: requestTimeoutMs, platformName: 'Google' });

  const secretsOf = (request: GoogleRequest) => [
    options.clientSecret,
    ...(options.adsDeveloperToken ? [options.adsDeveloperToken] : []),
    ...(request.token ? [request.token] : []),
    ...(request.secrets ?? []),
  ];

  /** A Google API call: non-2xx answers become PlatformErrors through mapGoogleApiError. */
  async function api<T>(schema: z.ZodType<T>, request: GoogleRequest): Promise<T> {
    const answer = await send({
      method: request.method,
      url: request.url,
      headers: {
        accept: 'application/json',
        ...(request.headers ?? {}),
        ...(request.token ? { authorization: `Bearer ${request.token}` } : {}),
      },
      ...(request.json === undefined ? {} : { body: { json: request.json } }),
      ...(request.signal ? { signal: request.signal } : {}),
    });
    if (!isSuccess(answer.status)) {
      const failure = mapGoogleApiError(answer.status, answer.body, answer.headers);
      throw new PlatformError({ ...failure, message: redact(failure.message, secretsOf(request)) });
    }
    return read(schema, answer.body, request.what);
  }

  function read<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      // Most likely a proxy's page; another attempt may reach Google itself.
      throw new PlatformError({ class: 'TRANSIENT', message: `Google answered ${what} in an odd shape` });
    }
    return parsed.data;
  }

  const TokenAnswer = z.object({
    access_token: z.string().min(1),
    expires_in: z.coerce.number().optional(),
    refresh_token: z.string().min(1).optional(),
    scope: z.string().optional(),
    token_type: z.string().optional(),
  });

  /** `POST {token}/token`; Google names a dead refresh token `invalid_grant`, a deleted app `deleted_client`. */
  async function tokenRequest(
    form: Record<string, string | undefined>,
    purpose: 'code' | 'refresh',
    secrets: string[],
  ) {
    const token = await requestToken({
      platformName: 'Google',
      send,
      url: `${tokenBase}/token`,
      form: { client_id: options.clientId, client_secret: options.clientSecret, ...form },
      schema: TokenAnswer,
      purpose,
      secrets: [options.clientSecret, ...secrets],
      appRefused: (refusal) => refusal?.error === 'invalid_client' || refusal?.error === 'deleted_client',
    });
    return { ...token, expiresAt: expiresAfter(now(), token.expires_in) };
  }

  function authorizeUrl(
    scopes: readonly string[],
    input: { state: string; redirectUri: string; codeChallenge?: string },
  ): string {
    const url = new URL(`${authBase}/o/oauth2/v2/auth`);
    url.searchParams.set('client_id', options.clientId);
    url.searchParams.set('redirect_uri', input.redirectUri);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('scope', scopes.join(' '));
    url.searchParams.set('state', input.state);
    // offline: a refresh token; prompt=consent: Google sends one again on every reconnect.
    url.searchParams.set('access_type', 'offline');
    url.searchParams.set('prompt', 'consent');
    // No include_granted_scopes: Analytics and Ads share one app, and each connector's token should carry
    // only its own scope, not every grant the user ever gave the app.
    if (input.codeChallenge) {
      url.searchParams.set('code_challenge', input.codeChallenge);
      url.searchParams.set('code_challenge_method', 'S256');
    }
    return url.toString();
  }

  /** Code → tokens; refuses a consent that lacks a scope we need. */
  async function exchangeCode(
    scopes: readonly string[],
    input: { code: string; redirectUri: string; codeVerifier?: string; query: Record<string, string> },
  ): Promise<{ credentials: GoogleCredentials; expiresAt: Date | null }> {
    // The route turns a denial into its own answer first; this guards any other caller.
    if (input.query.error) {
      throw new CredentialsRejectedError(`The consent was not given on Google (${input.query.error})`);
    }
    const token = await tokenRequest(
      {
        grant_type: 'authorization_code',
        code: input.code,
        redirect_uri: input.redirectUri,
        code_verifier: input.codeVerifier,
      },
      'code',
      [input.code, ...(input.codeVerifier ? [input.codeVerifier] : [])],
    );
    // Google always says what it granted; with granular consent the user may have unticked a scope.
    const granted = (token.scope ?? '').split(/\s+/).filter(Boolean);
    if (!scopes.every((scope) => granted.includes(scope)))
      throw new CredentialsRejectedError('Scopes insufficient');
    return {
      credentials: {
        accessToken: token.access_token,
        ...(token.refresh_token ? { refreshToken: token.refresh_token } : {}),
        accessTokenExpiresAt: token.expiresAt?.toISOString() ?? null,
        scopes: granted,
      },
      expiresAt: token.expiresAt,
    };
  }

  /** Google does not rotate refresh tokens: the old one is kept unless a new one comes back. */
  async function refreshCredentials(
    credentials: GoogleCredentials,
  ): Promise<{ credentials: GoogleCredentials; expiresAt: Date | null }> {
    const refreshToken = credentials.refreshToken;
    if (!refreshToken) {
      throw new PlatformError({
        class: 'TOKEN_EXPIRED',
        message: 'Google gave no refresh token for this connection: reconnect required',
      });
    }
    const token = await tokenRequest(
      { grant_type: 'refresh_token', refresh_token: refreshToken },
      'refresh',
      [refreshToken, credentials.accessToken],
    );
    const scopes = token.scope ? token.scope.split(/\s+/).filter(Boolean) : credentials.scopes;
    return {
      credentials: {
        ...credentials,
        accessToken: token.access_token,
        refreshToken: token.refresh_token ?? refreshToken,
        accessTokenExpiresAt: token.expiresAt?.toISOString() ?? null,
        scopes,
      },
      expiresAt: token.expiresAt,
    };
  }

  /** A 403 for missing scopes during the connection is the user's unticked box, said in the user's words. */
  async function discoverAtConsent<T>(discovery: () => Promise<T>): Promise<T> {
    try {
      return await discovery();
    } catch (error) {
      if (
        error instanceof PlatformError &&
        error.failure.class === 'PERMISSION_REVOKED' &&
        error.failure.platformCode === 'ACCESS_TOKEN_SCOPE_INSUFFICIENT'
      ) {
        throw new CredentialsRejectedError('Scopes insufficient');
      }
      throw error;
    }
  }

  function oauthConnector(
    scopes: readonly string[],
    discover: (accessToken: string) => Promise<DiscoveredAccount[]>,
  ): OAuthConnector<GoogleCredentials> {
    return {
      kind: 'oauth',
      pkce: true,
      scopes,
      authorizeUrl: (input) => authorizeUrl(scopes, input),
      async completeConsent(input): Promise<Connection<GoogleCredentials>> {
        const { credentials, expiresAt } = await exchangeCode(scopes, {
          code: input.code,
          redirectUri: input.redirectUri,
          query: input.query,
          ...(input.codeVerifier ? { codeVerifier: input.codeVerifier } : {}),
        });
        const accounts = await discoverAtConsent(() => discover(credentials.accessToken));
        return { credentials, expiresAt, accounts, grantedScopes: credentials.scopes };
      },
    };
  }

  return {
    api,
    oauthConnector,
    refreshCredentials,
    canRefresh: (credentials: GoogleCredentials) => Boolean(credentials.refreshToken),
  };
}

// ——— Google Analytics 4 ———

const AccountSummaries = z.object({
  accountSummaries: z
    .array(
      z.object({
        name: z.string().optional(),
        account: z.string(),
        displayName: z.string().optional(),
        propertySummaries: z
          .array(
            z.object({
              property: z.string(),
              displayName: z.string().optional(),
              propertyType: z.string().optional(),
            }),
          )
          .optional(),
      }),
    )
    .optional(),
  nextPageToken: z.string().optional(),
});

const Report = z.object({
  dimensionHeaders: z.array(z.object({ name: z.string() })).optional(),
  metricHeaders: z.array(z.object({ name: z.string() })).optional(),
  rows: z
    .array(
      z.object({
        dimensionValues: z.array(z.object({ value: z.string().optional() })),
        metricValues: z.array(z.object({ value: z.string().optional() })),
      }),
    )
    .optional(),
  // int32 in GA4's schema; absent (proto3 default) when the report has no rows.
  rowCount: z.coerce.number().optional(),
});

const reportDimensions = ['date', 'sessionSourceMedium', 'sessionCampaignName'] as const;

/** UTC calendar day of an instant. (unconfirmed) GA4 reads the range in the property's own time zone. */
const isoDay = (date: Date) => date.toISOString().slice(0, 10);

/** GA4's `date` dimension is YYYYMMDD. */
function gaDate(value: string): string | null {
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(value);
  return match ? `${match[1]}-${match[2]}-${match[3]}` : null;
}

export function createGoogleAnalyticsAdapter(options: GoogleAdapterOptions): GoogleAnalyticsAdapter {
  const client = createGoogleClient(options);
  const dataRoot = `${trimSlash(options.analyticsApiBaseUrl ?? googleHosts.analyticsApiBaseUrl)}/${googleAnalyticsApiVersion}`;
  const adminRoot = `${trimSlash(options.analyticsAdminApiBaseUrl ?? googleHosts.analyticsAdminApiBaseUrl)}/${googleAnalyticsApiVersion}`;
  const pageSize = options.reportPageSize ?? defaultReportPageSize;

  /** One `ga4_property` per property the user can read, named "Account / Property". */
  async function discoverProperties(accessToken: string): Promise<DiscoveredAccount[]> {
    const accounts: DiscoveredAccount[] = [];
    let pageToken: string | undefined;
    for (let page = 0; page < maxPages; page += 1) {
      const url = new URL(`${adminRoot}/accountSummaries`);
      url.searchParams.set('pageSize', String(accountSummariesPageSize));
      if (pageToken) url.searchParams.set('pageToken', pageToken);
      const answer = await client.api(AccountSummaries, {
        method: 'GET',
        url: url.toString(),
        what: 'accountSummaries',
        token: accessToken,
      });
      for (const summary of answer.accountSummaries ?? []) {
        const accountName = summary.displayName || summary.account;
        for (const property of summary.propertySummaries ?? []) {
          const id = property.property.replace(/^properties\//, '');
          accounts.push({
            kind: 'ga4_property',
            externalId: id,
            name: `${accountName} / ${property.displayName || property.property}`,
          });
        }
      }
      pageToken = answer.nextPageToken || undefined;
      if (!pageToken) break;
    }
    return accounts;
  }

  async function sync(input: {
    credentials: GoogleCredentials;
    account: { kind: string; externalId: string };
    since: Date;
    until: Date;
  }): Promise<SyncResult> {
    const { account } = input;
    if (account.kind !== 'ga4_property' || !/^\d+$/.test(account.externalId)) {
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: `Google Analytics syncs GA4 properties, not ${account.kind} ${account.externalId}`,
      });
    }
    const sessions: NonNullable<SyncResult['sessions']> = [];
    let offset = 0;
    for (let page = 0; page < maxPages; page += 1) {
      const report = await client.api(Report, {
        method: 'POST',
        url: `${dataRoot}/properties/${account.externalId}:runReport`,
        what: 'runReport',
        token: input.credentials.accessToken,
        json: {
          // GA4's endDate is inclusive.
          dateRanges: [{ startDate: isoDay(input.since), endDate: isoDay(input.until) }],
          dimensions: reportDimensions.map((name) => ({ name })),
          metrics: [{ name: 'sessions' }],
          limit: pageSize,
          offset,
        },
      });
      const headers = (report.dimensionHeaders ?? []).map((header) => header.name);
      const column = (name: string) => {
        const index = headers.indexOf(name);
        return index === -1 ? reportDimensions.indexOf(name as (typeof reportDimensions)[number]) : index;
      };
      const [dateAt, sourceMediumAt, campaignAt] = reportDimensions.map(column) as [number, number, number];
      const rows = report.rows ?? [];
      for (const row of rows) {
        const date = gaDate(row.dimensionValues[dateAt]?.value ?? '');
        const count = Number(row.metricValues[0]?.value ?? Number.NaN);
        if (date === null || !Number.isFinite(count)) {
          throw new PlatformError({
            class: 'TRANSIENT',
            message: 'Google answered runReport in an odd shape',
          });
        }
        sessions.push({
          date,
          sourceMedium: row.dimensionValues[sourceMediumAt]?.value ?? '(not set)',
          campaign: row.dimensionValues[campaignAt]?.value ?? '(not set)',
          sessions: count,
        });
      }
      offset += rows.length;
      if (rows.length === 0 || offset >= (report.rowCount ?? 0)) break;
    }
    return { sessions, itemsRead: sessions.length };
  }

  return {
    platform: 'google_analytics',
    connector: client.oauthConnector(googleAnalyticsScopes, discoverProperties),
    refreshCredentials: client.refreshCredentials,
    canRefresh: client.canRefresh,
    sync,
  };
}

// ——— Google Ads ———

const AccessibleCustomers = z.object({ resourceNames: z.array(z.string()).optional() });
const CustomerRows = z.object({
  results: z
    .array(
      z.object({
        customer: z.object({
          resourceName: z.string().optional(),
          // int64 in proto3 JSON: a string, though a number is read too.
          id: z.union([z.string(), z.number()]).optional(),
          descriptiveName: z.string().optional(),
          // proto3 JSON leaves out false.
          manager: z.boolean().optional(),
        }),
      }),
    )
    .optional(),
});

const ClientRows = z.object({
  results: z
    .array(
      z.object({
        customerClient: z.object({
          id: z.union([z.string(), z.number()]).optional(),
          descriptiveName: z.string().optional(),
          manager: z.boolean().optional(),
          status: z.string().optional(),
        }),
      }),
    )
    .optional(),
});
const clientQuery =
  'SELECT customer_client.id, customer_client.descriptive_name, customer_client.manager, customer_client.status ' +
  'FROM customer_client';

/** A customer to act on, and the manager it is reached through (sent as `login-customer-id`), if any. */
interface Customer {
  id: string;
  login?: string;
}

/** 1234567890 → 123-456-7890, as Google Ads shows customer ids. */
const dashed = (id: string) =>
  /^\d{10}$/.test(id) ? `${id.slice(0, 3)}-${id.slice(3, 6)}-${id.slice(6)}` : id;

const MutateAnswer = z.object({
  mutateOperationResponses: z
    .array(
      z.object({
        campaignBudgetResult: z.object({ resourceName: z.string() }).optional(),
        campaignResult: z.object({ resourceName: z.string() }).optional(),
      }),
    )
    .optional(),
});
const CampaignRows = z.object({
  results: z
    .array(
      z.object({
        campaign: z.object({
          resourceName: z.string(),
          campaignBudget: z.string().optional(),
          status: z.string().optional(),
        }),
      }),
    )
    .optional(),
});

/**
 * What a Google Ads publication keeps in progress: the marker its campaign's name carries (saved before the
 * create, so a create whose answer was lost is found again by it), the digest of the content it was made
 * from, and the campaign and budget once Google has named them.
 */
const progressKeys = {
  marker: 'googleAdsMarker',
  digest: 'googleAdsDigest',
  campaign: 'googleAdsCampaign',
  budget: 'googleAdsBudget',
} as const;

type GoogleAdsContent = TaskContent<'google_ads_campaign'>;

/** Google Ads amounts are in micros of the account's currency; the budget is in its minor units. */
function budgetMicros(budget: GoogleAdsContent['dailyBudget']): string {
  return String(budget.amountMinor * microsPerMinorUnit(budget.currency));
}

// A campaign progress names that Google removed (by us, with the answer lost, or by someone in Google Ads).
const removedCodes = new Set([
  'campaignError:CANNOT_MODIFY_REMOVED_CAMPAIGN',
  'mutateError:RESOURCE_NOT_FOUND',
]);
// The create's names are taken: an earlier create of the same preparation landed.
const duplicateNameCodes = new Set([
  'campaignError:DUPLICATE_CAMPAIGN_NAME',
  'campaignBudgetError:DUPLICATE_NAME',
]);
const platformCodeOf = (error: unknown) =>
  error instanceof PlatformError ? error.failure.platformCode : undefined;

/** Only digits, letters and dashes: safe inside a GAQL LIKE pattern, unique per preparation. */
const campaignMarker = (taskId: string, nonce: string) => `glw-${taskId.slice(0, 8)}-${nonce}`;

export function createGoogleAdsAdapter(options: GoogleAdapterOptions): GoogleAdsAdapter {
  const client = createGoogleClient(options);
  const adsRoot = `${trimSlash(options.adsApiBaseUrl ?? googleHosts.adsApiBaseUrl)}/${googleAdsApiVersion}`;
  const adsHeaders: Record<string, string> = options.adsDeveloperToken
    ? { 'developer-token': options.adsDeveloperToken }
    : {};

  const loginHeaders = (login: string | undefined): Record<string, string> =>
    login ? { ...adsHeaders, 'login-customer-id': login } : adsHeaders;

  /** One GAQL search during discovery; null when Google says the customer is not enabled (cancelled, closed). */
  async function discoverySearch<T>(
    schema: z.ZodType<T>,
    customer: Customer,
    query: string,
    accessToken: string,
  ) {
    try {
      return await client.api(schema, {
        method: 'POST',
        url: `${adsRoot}/customers/${customer.id}/googleAds:search`,
        what: 'googleAds:search',
        token: accessToken,
        headers: loginHeaders(customer.login),
        json: { query },
      });
    } catch (error) {
      // (unconfirmed) a cancelled or not yet enabled customer still comes back from listAccessibleCustomers
      // and answers 403 authorizationError CUSTOMER_NOT_ENABLED to every query.
      if (
        error instanceof PlatformError &&
        error.failure.platformCode === 'authorizationError:CUSTOMER_NOT_ENABLED'
      )
        return null;
      throw error;
    }
  }

  /**
   * Customers the user reaches directly, one `ads_customer` each, and the client accounts their managers
   * reach, each keeping the manager it is reached through (its `login-customer-id`). Managers are listed,
   * marked as such, but hold no campaigns; cancelled customers cannot be used and are left out.
   */
  async function discoverCustomers(accessToken: string): Promise<DiscoveredAccount[]> {
    const accessible = await client.api(AccessibleCustomers, {
      method: 'GET',
      url: `${adsRoot}/customers:listAccessibleCustomers`,
      what: 'listAccessibleCustomers',
      token: accessToken,
      headers: adsHeaders,
    });
    const accounts: DiscoveredAccount[] = [];
    const managers: string[] = [];
    for (const resourceName of accessible.resourceNames ?? []) {
      const id = resourceName.replace(/^customers\//, '');
      if (!/^\d+$/.test(id)) continue;
      const answer = await discoverySearch(CustomerRows, { id }, customerQuery, accessToken);
      if (!answer) continue;
      const customer = answer.results?.[0]?.customer;
      const name = customer?.descriptiveName || dashed(id);
      if (customer?.manager) managers.push(id);
      accounts.push({
        kind: 'ads_customer',
        externalId: id,
        name: customer?.manager ? `${name} (manager account)` : name,
        ...(customer?.manager ? { metadata: { manager: true } } : {}),
      });
    }
    for (const manager of managers) {
      // Every level under the manager: a sub-manager's clients are reached with the top manager's id too.
      const answer = await discoverySearch(
        ClientRows,
        { id: manager, login: manager },
        clientQuery,
        accessToken,
      );
      for (const { customerClient: row } of answer?.results ?? []) {
        const id = String(row.id ?? '');
        const usable = !row.manager && (row.status ?? 'ENABLED') === 'ENABLED';
        // A customer also reached directly needs no manager.
        if (!/^\d+$/.test(id) || !usable || accounts.some((account) => account.externalId === id)) continue;
        accounts.push({
          kind: 'ads_customer',
          externalId: id,
          name: row.descriptiveName || dashed(id),
          metadata: { loginCustomerId: manager },
        });
      }
    }
    return accounts;
  }

  function customerOf(account: TargetAccount | null): Customer {
    if (account?.kind !== 'ads_customer' || !/^\d+$/.test(account.externalId)) {
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: 'a Google Ads campaign needs a Google Ads customer account as its target',
      });
    }
    if (account.metadata?.manager) {
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: 'a Google Ads manager account holds no campaigns: target one of its client accounts',
      });
    }
    const login = account.metadata?.loginCustomerId;
    return { id: account.externalId, ...(login && /^\d+$/.test(login) ? { login } : {}) };
  }

  const adsCall = <T>(
    schema: z.ZodType<T>,
    input: { customer: Customer; action: 'mutate' | 'search'; token: string; json: unknown },
    signal: AbortSignal | undefined,
  ) =>
    client.api(schema, {
      method: 'POST',
      url: `${adsRoot}/customers/${input.customer.id}/googleAds:${input.action}`,
      what: `googleAds:${input.action}`,
      token: input.token,
      headers: loginHeaders(input.customer.login),
      json: input.json,
      signal,
    });

  const campaignColumns =
    'SELECT campaign.resource_name, campaign.campaign_budget, campaign.status FROM campaign';
  const found = (answer: z.infer<typeof CampaignRows>) =>
    (answer.results ?? []).map(({ campaign }) => ({
      campaign: campaign.resourceName,
      budget: campaign.campaignBudget ?? '',
      status: campaign.status ?? '',
    }));
  type Found = ReturnType<typeof found>[number];

  /**
   * The campaigns (not removed) whose name carries this marker: what a create whose answer was lost made, and
   * any twin of it.
   */
  async function campaignsMarked(customer: Customer, marker: string, token: string, signal?: AbortSignal) {
    const query = `${campaignColumns} WHERE campaign.name LIKE '%${marker}%' AND campaign.status != 'REMOVED'`;
    return found(await adsCall(CampaignRows, { customer, action: 'search', token, json: { query } }, signal));
  }

  /** The campaign a resource name names, removed or not (null: Google knows none by it). */
  async function campaignNamed(
    customer: Customer,
    resourceName: string,
    token: string,
    signal?: AbortSignal,
  ): Promise<Found | null> {
    // Only what Google itself named goes into the query.
    if (!new RegExp(`^customers/${customer.id}/campaigns/\\d+$`).test(resourceName)) return null;
    const query = `${campaignColumns} WHERE campaign.resource_name = '${resourceName}'`;
    const answer = await adsCall(
      CampaignRows,
      { customer, action: 'search', token, json: { query } },
      signal,
    );
    return found(answer)[0] ?? null;
  }

  /**
   * What a preparation left that still stands: found by its marker (a create whose answer was lost) and by the
   * saved resource name (a campaign someone renamed in Google Ads no longer carries the marker).
   */
  async function leftovers(
    customer: Customer,
    progress: PublicationProgress,
    token: string,
    signal?: AbortSignal,
  ) {
    const marker = progress[progressKeys.marker];
    const saved = progress[progressKeys.campaign];
    const all = [
      ...(marker ? await campaignsMarked(customer, marker, token, signal) : []),
      ...(saved ? [await campaignNamed(customer, saved, token, signal)] : []),
    ].filter((campaign): campaign is Found => campaign !== null && campaign.status !== 'REMOVED');
    return all.filter(
      (campaign, index) => all.findIndex((other) => other.campaign === campaign.campaign) === index,
    );
  }

  /**
   * Removes campaigns and their own budgets in one atomic mutate. Only what a search just showed standing is
   * asked, so a removal whose answer was lost is not sent again.
   */
  async function remove(customer: Customer, objects: Found[], token: string, signal?: AbortSignal) {
    if (objects.length === 0) return;
    const budgets = [...new Set(objects.map((object) => object.budget).filter(Boolean))];
    await adsCall(
      MutateAnswer,
      {
        customer,
        action: 'mutate',
        token,
        json: {
          mutateOperations: [
            ...objects.map((object) => ({ campaignOperation: { remove: object.campaign } })),
            ...budgets.map((budget) => ({ campaignBudgetOperation: { remove: budget } })),
          ],
        },
      },
      signal,
    );
  }

  const forgotten: PublicationProgress = {
    [progressKeys.marker]: '',
    [progressKeys.digest]: '',
    [progressKeys.campaign]: '',
    [progressKeys.budget]: '',
  };

  /** The progress of one try as it stands, kept current as this try saves (a retry reads it from the row). */
  function progressOf(context: PrepareContext<GoogleCredentials>) {
    const state: PublicationProgress = { ...context.progress };
    return {
      state,
      async save(update: PublicationProgress) {
        await context.saveProgress(update);
        Object.assign(state, update);
      },
    };
  }

  /**
   * Creates the campaign PAUSED with its budget, ad group and responsive search ad, in one atomic mutate, or
   * finds the one an earlier try made. Objects made from content since edited are removed and made afresh, and
   * so is a campaign progress names that was removed since (a discard whose answer was lost, or someone in
   * Google Ads): enabling it at the time would fail on every try. `verify: false` trusts a saved campaign
   * without asking (at the time: the enable itself tells a removed one).
   */
  async function prepare(
    context: PrepareContext<GoogleCredentials>,
    progress: ReturnType<typeof progressOf>,
    verify: boolean,
  ) {
    const customer = customerOf(context.account);
    const token = context.credentials.accessToken;
    const signal = context.signal;
    const earlierMarker = progress.state[progressKeys.marker];
    const saved = progress.state[progressKeys.campaign];
    let marker: string | undefined;
    if (earlierMarker && progress.state[progressKeys.digest] === context.contentDigest) {
      if (saved) {
        if (!verify) return { campaign: saved, budget: progress.state[progressKeys.budget] ?? '' };
        const standing = await campaignNamed(customer, saved, token, signal);
        if (standing && standing.status !== 'REMOVED') return standing;
      } else {
        // A create was sent and its answer never recorded: what it made is found by the marker, not made twice.
        const [made] = await campaignsMarked(customer, earlierMarker, token, signal);
        if (made) {
          await progress.save({ [progressKeys.campaign]: made.campaign, [progressKeys.budget]: made.budget });
          return made;
        }
        // Sent again under the same name: should the earlier create still land, Google refuses one of the two
        // as a duplicate name instead of making a second campaign.
        marker = earlierMarker;
      }
    }
    if (!marker && (earlierMarker || saved)) {
      await remove(customer, await leftovers(customer, progress.state, token, signal), token, signal);
      await progress.save(forgotten);
    }

    const content = context.content as GoogleAdsContent;
    if (!marker) {
      marker = campaignMarker(context.taskId, randomBytes(6).toString('hex'));
      // Saved before the create: a retry after a lost answer looks for this marker before creating again.
      await progress.save({ [progressKeys.marker]: marker, [progressKeys.digest]: context.contentDigest });
    }
    const name = `${content.name} (${marker})`;
    const temporary = (kind: string, id: number) => `customers/${customer.id}/${kind}/-${id}`;
    await context.beforeCreating?.();
    let answer: z.infer<typeof MutateAnswer>;
    try {
      answer = await adsCall(
        MutateAnswer,
        {
          customer,
          action: 'mutate',
          token,
          json: {
            mutateOperations: [
              {
                campaignBudgetOperation: {
                  create: {
                    resourceName: temporary('campaignBudgets', 1),
                    name: `${name} budget`,
                    amountMicros: budgetMicros(content.dailyBudget),
                    deliveryMethod: 'STANDARD',
                    explicitlyShared: false,
                  },
                },
              },
              {
                campaignOperation: {
                  create: {
                    resourceName: temporary('campaigns', 2),
                    name,
                    // Nothing serves before the one request at the time that enables it.
                    status: 'PAUSED',
                    advertisingChannelType: 'SEARCH',
                    campaignBudget: temporary('campaignBudgets', 1),
                    manualCpc: {},
                    networkSettings: {
                      targetGoogleSearch: true,
                      targetSearchNetwork: true,
                      targetContentNetwork: false,
                    },
                    containsEuPoliticalAdvertising: 'DOES_NOT_CONTAIN_EU_POLITICAL_ADVERTISING',
                  },
                },
              },
              {
                adGroupOperation: {
                  create: {
                    resourceName: temporary('adGroups', 3),
                    name: `${content.name} ad group`,
                    campaign: temporary('campaigns', 2),
                    status: 'ENABLED',
                    type: 'SEARCH_STANDARD',
                  },
                },
              },
              ...(content.keywords ?? []).map((text) => ({
                adGroupCriterionOperation: {
                  create: {
                    adGroup: temporary('adGroups', 3),
                    status: 'ENABLED',
                    keyword: { text, matchType: 'BROAD' },
                  },
                },
              })),
              {
                adGroupAdOperation: {
                  create: {
                    adGroup: temporary('adGroups', 3),
                    status: 'ENABLED',
                    ad: {
                      finalUrls: [content.link],
                      responsiveSearchAd: {
                        headlines: content.headlines.map((text) => ({ text })),
                        descriptions: content.descriptions.map((text) => ({ text })),
                      },
                    },
                  },
                },
              },
            ],
          },
        },
        signal,
      );
    } catch (error) {
      if (!duplicateNameCodes.has(platformCodeOf(error) ?? '')) throw error;
      // An earlier create of this preparation landed: it is the campaign, found by its marker.
      const [made] = await campaignsMarked(customer, marker, token, signal);
      if (!made) {
        throw new PlatformError({
          class: 'TRANSIENT',
          message: 'Google holds a campaign of this preparation that its search does not show yet',
        });
      }
      await progress.save({ [progressKeys.campaign]: made.campaign, [progressKeys.budget]: made.budget });
      return made;
    }
    const responses = answer.mutateOperationResponses ?? [];
    const campaign = responses.find((response) => response.campaignResult)?.campaignResult?.resourceName;
    const budget = responses.find((response) => response.campaignBudgetResult)?.campaignBudgetResult
      ?.resourceName;
    if (!campaign || !budget) {
      // Created, but not named in the answer: the marker finds it on the next try.
      throw new PlatformError({
        class: 'TRANSIENT',
        message: 'Google answered googleAds:mutate in an odd shape',
      });
    }
    await progress.save({ [progressKeys.campaign]: campaign, [progressKeys.budget]: budget });
    await stillWanted(context, async () => {
      await remove(customer, [{ campaign, budget, status: 'PAUSED' }], token, signal);
      await progress.save(forgotten);
    });
    // A twin under the same marker (one Google made under another name rule, or an earlier build's): removed,
    // so nothing of this publication is left behind that no one will enable or discard.
    const twins = (await campaignsMarked(customer, marker, token, signal)).filter(
      (other) => other.campaign !== campaign,
    );
    await remove(customer, twins, token, signal);
    return { campaign, budget, status: 'PAUSED' };
  }

  /**
   * The fence again once a create has answered: a create already on its way when the schedule was withdrawn
   * lands after the discard looked, so the try that made it removes it (`undo`) and stops.
   */
  async function stillWanted(context: PrepareContext<GoogleCredentials>, undo: () => Promise<void>) {
    try {
      await context.beforeCreating?.();
    } catch (withdrawn) {
      await undo();
      throw withdrawn;
    }
  }

  const enable = (customer: Customer, campaign: string, token: string) =>
    // Not aborted once sent: it makes the campaign serve, and an enable sent again changes nothing.
    adsCall(
      MutateAnswer,
      {
        customer,
        action: 'mutate',
        token,
        json: {
          mutateOperations: [
            {
              campaignOperation: {
                update: { resourceName: campaign, status: 'ENABLED' },
                updateMask: 'status',
              },
            },
          ],
        },
      },
      undefined,
    );

  /**
   * Makes the prepared campaign serve (preparing first what is missing): one update to ENABLED. A prepared
   * campaign removed since is forgotten and made again within this try, still behind the last check.
   */
  async function publish(context: PublicationContext<GoogleCredentials>): Promise<Published> {
    const customer = customerOf(context.account);
    const token = context.credentials.accessToken;
    const progress = progressOf(context);
    let { campaign } = await prepare(context, progress, false);
    await context.beforeGoingLive();
    try {
      await enable(customer, campaign, token);
    } catch (error) {
      if (!removedCodes.has(platformCodeOf(error) ?? '')) throw error;
      await progress.save(forgotten);
      ({ campaign } = await prepare(context, progress, false));
      await context.beforeGoingLive();
      await enable(customer, campaign, token);
    }
    const campaignId = campaign.split('/').pop()!;
    return {
      externalId: campaignId,
      externalUrl: `https://ads.google.com/aw/campaigns?campaignId=${campaignId}&__c=${customer.id}`,
    };
  }

  /**
   * Removes what a preparation made, found by its marker (a create or a removal whose answer was lost too) and
   * by its saved resource name (a campaign renamed in Google Ads).
   */
  async function discardPrepared(context: DiscardContext<GoogleCredentials>) {
    if (!context.progress[progressKeys.marker] && !context.progress[progressKeys.campaign]) return;
    const customer = customerOf(context.account);
    const token = context.credentials.accessToken;
    await remove(
      customer,
      await leftovers(customer, context.progress, token, context.signal),
      token,
      context.signal,
    );
    await context.saveProgress(forgotten);
  }

  return {
    platform: 'google_ads',
    connector: client.oauthConnector(googleAdsScopes, discoverCustomers),
    refreshCredentials: client.refreshCredentials,
    canRefresh: client.canRefresh,
    prepare: async (context) => {
      await prepare(context, progressOf(context), true);
    },
    publish,
    discardPrepared,
    collectMetrics: createGoogleAdsMetrics({
      search: (account, token, query, signal) =>
        adsCall(
          z.unknown(),
          { customer: customerOf(account), action: 'search', token, json: { query } },
          signal,
        ),
    }),
  };
}
