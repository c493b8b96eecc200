// LinkedIn adapter, connection side: the OAuth consent (no PKCE for web apps), code → token, the organizations
// the member administers, and token refresh for the apps LinkedIn approved for programmatic refresh tokens.
import { z } from 'zod';
import { platformDescriptors } from '../domain/platforms.ts';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { createSender, redact, retryAfterField } from './http.ts';
import * as oauth2 from './oauth2.ts';
import type { Connection, DiscoveredAccount, OAuthConnector, PlatformAdapter } from './types.ts';

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

export type LinkedInAdapterOptions = oauth2.OAuthAdapterOptions;

export type LinkedInAdapter = PlatformAdapter<LinkedInCredentials> &
  Required<
    Pick<PlatformAdapter<LinkedInCredentials>, 'refreshCredentials' | 'canRefresh' | 'verifyCredentials'>
  > & {
    connector: OAuthConnector<LinkedInCredentials>;
    /** The organizations the token's member administers (approved ADMINISTRATOR role), with their names. */
    discover(accessToken: string): Promise<DiscoveredAccount[]>;
  };

// Asked per organizationAcls page; the paging block's `total` says when the walk is done.
const aclPageSize = 50;
// A runaway paging answer must not keep a connection callback busy forever.
const maxAclPages = 20;

// LinkedIn's REST error body: {"status", "serviceErrorCode", "code", "message"} (fields vary by endpoint).
const RestErrorBody = z.object({
  message: z.string().optional(),
  serviceErrorCode: z.coerce.number().optional(),
  code: z.string().optional(),
  status: z.coerce.number().optional(),
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

/** Maps a LinkedIn REST answer that is not a success onto a publication error class (PLATFORMS.md, LinkedIn). */
export function mapLinkedInError(status: number, body: unknown, headers: Headers): PublicationFailure {
  const error = RestErrorBody.safeParse(body).data;
  const platformCode =
    error?.serviceErrorCode !== undefined ? String(error.serviceErrorCode) : (error?.code ?? undefined);
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
  return failure('INVALID_REQUEST');
}

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

  /** One REST call with the pinned version and Rest.li 2.0; every non-success is a PlatformError. */
  async function rest<T>(
    schema: z.ZodType<T>,
    path: string,
    params: Record<string, string>,
    accessToken: string,
  ): Promise<T> {
    const query = new URLSearchParams(params);
    const { status, headers, body } = await send({
      url: `${apiRoot}${path}${query.size > 0 ? `?${query}` : ''}`,
      method: 'GET',
      headers: {
        accept: 'application/json',
        authorization: `Bearer ${accessToken}`,
        'LinkedIn-Version': linkedinApiVersion,
        'X-Restli-Protocol-Version': '2.0.0',
      },
    });
    if (status < 200 || status >= 300) {
      const failure = mapLinkedInError(status, body, headers);
      throw new PlatformError({
        ...failure,
        message: redact(failure.message, [accessToken, options.clientSecret]),
      });
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      throw new PlatformError({
        class: 'TRANSIENT',
        message: `LinkedIn answered GET ${path.replace(/\/\d+$/, '/{id}')} in an odd shape`,
      });
    }
    return parsed.data;
  }

  const at = (seconds: number | undefined) => oauth2.expiresAfter(now(), seconds);

  async function discover(accessToken: string): Promise<DiscoveredAccount[]> {
    const urns: string[] = [];
    let start = 0;
    for (let page = 0; page < maxAclPages; page += 1) {
      const answer = await rest(
        AclPage,
        '/rest/organizationAcls',
        {
          q: 'roleAssignee',
          role: 'ADMINISTRATOR',
          state: 'APPROVED',
          start: String(start),
          count: String(aclPageSize),
        },
        accessToken,
      );
      for (const element of answer.elements) {
        // The finder filters already; the check keeps a REQUESTED or non-admin role out whatever it answers.
        if (element.role !== undefined && element.role !== 'ADMINISTRATOR') continue;
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
    const accounts: DiscoveredAccount[] = [];
    for (const urn of urns) {
      const id = organizationId(urn);
      if (!id) continue;
      const organization = await rest(Organization, `/rest/organizations/${id}`, {}, accessToken);
      accounts.push({
        kind: 'linkedin_organization',
        externalId: urn,
        name: organization.localizedName || organization.vanityName || urn,
      });
    }
    return accounts;
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
        requiredScopes: linkedinScopes,
        credentialsFrom: (answer) => credentialsFrom(answer),
        discover: (credentials) => discover(credentials.accessToken),
        now: now(),
      });
    },
  };

  return {
    platform: 'linkedin',
    connector,
    discover,

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
        await rest(
          AclPage,
          '/rest/organizationAcls',
          { q: 'roleAssignee', role: 'ADMINISTRATOR', state: 'APPROVED', start: '0', count: '1' },
          credentials.accessToken,
        );
      }, 'LinkedIn refused the access token: reconnect LinkedIn');
    },
  };
}
