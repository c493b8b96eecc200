// Mailchimp adapter: the OAuth connection (code → token that never expires → the account's data center from
// the metadata endpoint → its audiences), the credential check (`/ping`) and audience listing. Publishing
// (campaign hand-offs) is not part of it yet.
import { z } from 'zod';
import { platformDescriptors } from '../domain/platforms.ts';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { createSender, type HttpAnswer, isSuccess, parseRetryAfter, redact } from './http.ts';
import { readOAuthError, requestToken } from './oauth2.ts';
import {
  type Audience,
  CredentialsRejectedError,
  type DiscoveredAccount,
  type OAuthConnector,
  type PlatformAdapter,
} from './types.ts';

/** The one Marketing API version this adapter speaks (the path prefix `/3.0`). */
export const mailchimpApiVersion = '3.0';

export const mailchimpScopes = platformDescriptors.mailchimp.scopes;

/**
 * Roles that may schedule and send campaigns. (unconfirmed) The metadata endpoint's `role` spellings; an
 * author or viewer can connect but could never hand a campaign off, so they are refused at connection time.
 */
export const mailchimpSendingRoles = ['owner', 'admin', 'manager'] as const;

export interface MailchimpCredentials {
  accessToken: string;
  /** The data center, e.g. `us19`. */
  dc: string;
  /** `https://{dc}.api.mailchimp.com`, as the metadata endpoint gave it (no `/3.0`). */
  apiEndpoint: string;
}

export interface MailchimpAdapterOptions {
  /** https://login.mailchimp.com (consent page, token and metadata endpoints). */
  authBaseUrl: string;
  /** Overrides the data-center endpoint from the metadata; normally absent. */
  apiBaseUrl?: string;
  clientId: string;
  clientSecret: string;
  fetch?: typeof fetch;
  /** One request's time limit; a hung request becomes TRANSIENT. */
  requestTimeoutMs?: number;
}

export type MailchimpAdapter = PlatformAdapter<MailchimpCredentials> &
  Required<
    Pick<PlatformAdapter<MailchimpCredentials>, 'connector' | 'verifyCredentials' | 'listAudiences'>
  > & { connector: OAuthConnector<MailchimpCredentials> };

// Mailchimp's documented maximum `count` for a list endpoint.
const listsPageSize = 1000;
// Far beyond any account's audiences; reaching it means the paging does not end.
const maxListPages = 100;
// (unconfirmed) Mailchimp sends no Retry-After: wait this long before the next attempt.
const defaultRateLimitRetryMs = 60_000;

const ProblemBody = z.object({
  type: z.string().nullish(),
  title: z.string().nullish(),
  status: z.coerce.number().nullish(),
  detail: z.string().nullish(),
  instance: z.string().nullish(),
});

const TokenAnswer = z.object({
  access_token: z.string().min(1),
  // Mailchimp answers 0: its tokens never expire.
  expires_in: z.coerce.number().nullish(),
  scope: z.string().nullish(),
});
const Metadata = z.object({
  dc: z.string().min(1),
  role: z.string().nullish(),
  accountname: z.string().nullish(),
  api_endpoint: z.string().min(1),
});
const Ping = z.object({ health_status: z.string() });
const ListsPage = z.object({
  lists: z.array(z.object({ id: z.string(), name: z.string().nullish() })),
  total_items: z.coerce.number().nullish(),
});

function retryAfterMs(headers: Headers): number {
  return parseRetryAfter(headers.get('retry-after')) || defaultRateLimitRetryMs;
}

/** Maps a Marketing API answer that is not a success (application/problem+json) onto a publication error. */
export function mapMailchimpError(status: number, body: unknown, headers: Headers): PublicationFailure {
  const problem = ProblemBody.safeParse(body).data;
  const said = [problem?.title, problem?.detail].filter(Boolean).join(': ').slice(0, 500);
  const failure = (errorClass: PublicationFailure['class'], message: string, delayMs?: number) => ({
    class: errorClass,
    message: said || message,
    ...(problem?.title ? { platformCode: problem.title } : {}),
    ...(delayMs === undefined ? {} : { retryAfterMs: delayMs }),
  });
  if (status === 401) return failure('TOKEN_EXPIRED', 'Mailchimp refused the access token');
  if (status === 403) {
    // PLATFORMS.md: Mailchimp also throttles with a bare 403. A 403 without its problem document is read as
    // that (unconfirmed), so a throttle never flips the connector to "reconnect".
    return problem?.title || problem?.detail
      ? failure('PERMISSION_REVOKED', 'Mailchimp refused the request (HTTP 403)')
      : failure('RATE_LIMITED', 'Mailchimp throttled the request (HTTP 403)', retryAfterMs(headers));
  }
  if (status === 429) return failure('RATE_LIMITED', 'Mailchimp rate limit reached', retryAfterMs(headers));
  if (status === 408 || status >= 500) return failure('TRANSIENT', `Mailchimp answered HTTP ${status}`);
  return failure('INVALID_REQUEST', `Mailchimp refused the request (HTTP ${status})`);
}

type Answer = HttpAnswer;

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

export function createMailchimpAdapter(options: MailchimpAdapterOptions): MailchimpAdapter {
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const authBase = trimSlash(options.authBaseUrl);

  const scrub = (failure: PublicationFailure, secrets: readonly string[]): PublicationFailure => ({
    ...failure,
    message: redact(failure.message, [options.clientSecret, ...secrets]),
  });

  const send = createSender({ fetch: options.fetch, timeoutMs: requestTimeoutMs, platformName: 'Mailchimp' });

  function read<T>(schema: z.ZodType<T>, answer: Answer, what: string): T {
    const parsed = schema.safeParse(answer.body);
    if (!parsed.success) {
      // Most likely a proxy's page rather than Mailchimp itself: another attempt may do better.
      throw new PlatformError({ class: 'TRANSIENT', message: `Unexpected answer from Mailchimp (${what})` });
    }
    return parsed.data;
  }

  /** The Marketing API root for these credentials: the override when configured, else the account's own. */
  function apiRoot(credentials: MailchimpCredentials): string {
    return `${trimSlash(options.apiBaseUrl ?? credentials.apiEndpoint)}/${mailchimpApiVersion}`;
  }

  async function api<T>(
    schema: z.ZodType<T>,
    credentials: MailchimpCredentials,
    path: string,
    what: string,
  ): Promise<T> {
    const secrets = [credentials.accessToken];
    const answer = await send({
      url: `${apiRoot(credentials)}${path}`,
      method: 'GET',
      headers: { accept: 'application/json', authorization: `Bearer ${credentials.accessToken}` },
    });
    if (!isSuccess(answer.status))
      throw new PlatformError(scrub(mapMailchimpError(answer.status, answer.body, answer.headers), secrets));
    return read(schema, answer, what);
  }

  /** Code → token: Mailchimp's tokens never expire, so this is the only token request there is. */
  async function exchangeCode(code: string, redirectUri: string): Promise<string> {
    const answer = await requestToken({
      platformName: 'Mailchimp',
      send,
      url: `${authBase}/oauth2/token`,
      form: {
        grant_type: 'authorization_code',
        client_id: options.clientId,
        client_secret: options.clientSecret,
        redirect_uri: redirectUri,
        code,
      },
      schema: TokenAnswer,
      purpose: 'code',
      secrets: [options.clientSecret, code],
      unreadableRefusal: 'refused',
      successStatus: (status) => status === 200,
      defaultRetryAfterMs: defaultRateLimitRetryMs,
    });
    return answer.access_token;
  }

  async function metadata(accessToken: string) {
    const answer = await send({
      url: `${authBase}/oauth2/metadata`,
      method: 'GET',
      // The metadata endpoint takes the token with the `OAuth` scheme, not `Bearer`.
      headers: { accept: 'application/json', authorization: `OAuth ${accessToken}` },
    });
    // Reported (community) to refuse a bad token with HTTP 200 `{"error":"invalid_token"}`: a refused token
    // whatever the status, not an odd answer to retry.
    const refusal = readOAuthError(answer.body);
    if (answer.status === 401 || refusal?.error === 'invalid_token') {
      throw new PlatformError({
        class: 'TOKEN_EXPIRED',
        message: 'Mailchimp refused the new access token when reading its account',
        platformCode: refusal?.error ?? '401',
      });
    }
    if (answer.status !== 200 || refusal) {
      const failure =
        answer.status === 200
          ? { class: 'INVALID_REQUEST' as const, message: `Mailchimp refused to read the account metadata` }
          : mapMailchimpError(answer.status, answer.body, answer.headers);
      const said = refusal?.description ? ` (${refusal.error}: ${refusal.description})` : '';
      throw new PlatformError(
        scrub(
          {
            ...failure,
            message: `${failure.message}${said}`,
            ...(refusal ? { platformCode: refusal.error } : {}),
          },
          [accessToken],
        ),
      );
    }
    const found = read(Metadata, answer, 'metadata');
    let endpoint: URL;
    try {
      endpoint = new URL(found.api_endpoint);
    } catch {
      throw new PlatformError({ class: 'TRANSIENT', message: 'Mailchimp gave no usable API endpoint' });
    }
    if (endpoint.protocol !== 'https:' && endpoint.protocol !== 'http:')
      throw new PlatformError({ class: 'TRANSIENT', message: 'Mailchimp gave no usable API endpoint' });
    return { ...found, api_endpoint: trimSlash(endpoint.toString()) };
  }

  async function listAudiences(credentials: MailchimpCredentials): Promise<Audience[]> {
    const audiences: Audience[] = [];
    // Offsets follow what came back: Mailchimp may answer fewer than `count` on a page.
    let offset = 0;
    for (let page = 0; page < maxListPages; page += 1) {
      const query = new URLSearchParams({
        count: String(listsPageSize),
        offset: String(offset),
        fields: 'lists.id,lists.name,total_items',
      });
      const answer = await api(ListsPage, credentials, `/lists?${query}`, 'lists');
      for (const list of answer.lists)
        audiences.push({ id: list.id, name: list.name ?? list.id, kind: 'list' });
      offset += answer.lists.length;
      if (answer.lists.length === 0 || offset >= (answer.total_items ?? 0)) return audiences;
    }
    return audiences;
  }

  async function verifyCredentials(credentials: MailchimpCredentials): Promise<void> {
    try {
      await api(Ping, credentials, '/ping', 'ping');
    } catch (error) {
      if (error instanceof PlatformError && error.failure.class === 'TOKEN_EXPIRED')
        throw new CredentialsRejectedError('Mailchimp refused the access token (the app was disconnected?)');
      if (error instanceof PlatformError && error.failure.class === 'PERMISSION_REVOKED')
        throw new CredentialsRejectedError('Scopes insufficient');
      throw error;
    }
  }

  const connector: OAuthConnector<MailchimpCredentials> = {
    kind: 'oauth',
    pkce: false,
    scopes: mailchimpScopes,
    authorizeUrl({ state, redirectUri }) {
      const url = new URL(`${authBase}/oauth2/authorize`);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('client_id', options.clientId);
      url.searchParams.set('redirect_uri', redirectUri);
      url.searchParams.set('state', state);
      return url.toString();
    },
    async completeConsent({ code, redirectUri }) {
      const accessToken = await exchangeCode(code, redirectUri);
      const found = await metadata(accessToken);
      const role = found.role?.toLowerCase();
      if (role && !(mailchimpSendingRoles as readonly string[]).includes(role))
        throw new CredentialsRejectedError('Scopes insufficient');
      const credentials: MailchimpCredentials = {
        accessToken,
        dc: found.dc,
        apiEndpoint: found.api_endpoint,
      };
      await verifyCredentials(credentials);
      const audiences = await listAudiences(credentials);
      const accounts: DiscoveredAccount[] = audiences.map((audience) => ({
        kind: 'mailchimp_audience',
        externalId: audience.id,
        name: audience.name,
      }));
      // Mailchimp's tokens never expire (expires_in 0), and it names no scopes.
      return { credentials, expiresAt: null, accounts };
    },
  };

  return {
    platform: 'mailchimp',
    connector,
    verifyCredentials,
    listAudiences,
  };
}
