// CyberImpact adapter: connects a workspace with an API token (checked with `GET /ping`), discovers its
// groups (the audiences a mailing is sent to), and re-checks the token periodically. Hand-offs come later.
import { z } from 'zod';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { createSender, isSuccess, parseRetryAfter, redact } from './http.ts';
import {
  type ApiKeyConnector,
  type Audience,
  type Connection,
  CredentialsRejectedError,
  type DiscoveredAccount,
  type PlatformAdapter,
} from './types.ts';

export interface CyberImpactCredentials {
  /** The API token from CyberImpact → Developers → API tokens, sent as `Authorization: Bearer`. */
  apiKey: string;
}

export interface CyberImpactAdapterOptions {
  /** `CYBERIMPACT_API_BASE_URL`: https://api.cyberimpact.com, or the sandbox simulator. */
  apiBaseUrl: string;
  fetch?: typeof fetch;
  /** One request's time limit; a hung request becomes TRANSIENT instead of holding the caller. */
  requestTimeoutMs?: number;
}

export type CyberImpactAdapter = PlatformAdapter<CyberImpactCredentials> &
  Required<Pick<PlatformAdapter<CyberImpactCredentials>, 'verifyCredentials' | 'listAudiences'>> & {
    readonly connector: ApiKeyConnector<CyberImpactCredentials>;
  };

/** The discovered account kind: one per CyberImpact group. */
export const cyberImpactGroupKind = 'cyberimpact_group';

/**
 * Groups asked per page. CyberImpact documents `limit` up to 10 000 (as relayed by public clients of the API,
 * unconfirmed in the official reference); a smaller page keeps each answer small.
 */
export const cyberImpactGroupsPageSize = 500;
// A runaway pagination (a server repeating pages) must not keep a connection request busy forever.
const maxGroupPages = 200;

// Error bodies: public clients read `message` (and `errors`) from them; the exact shape is unconfirmed, so
// the message is only used when present and the HTTP status alone decides the class.
const ErrorBody = z.object({
  message: z.string().nullish(),
  errors: z.unknown().optional(),
});

// `GET /ping` → {"ping":"success","username","email","account"} (shape from public clients, unconfirmed).
const PingAnswer = z.object({
  ping: z.string().optional(),
  account: z.union([z.string(), z.number()]).nullish(),
});

// `GET /groups?page=&limit=` → {"groups":[{"id","title","isPublic","membersCount","mailingsCount",
// "createdOn","isDynamic"}],"totalCount","page","limit","sort"} (shape from public clients, unconfirmed).
const GroupsPage = z.object({
  groups: z.array(
    z.object({
      id: z.union([z.number(), z.string()]),
      title: z.string().nullish(),
    }),
  ),
  totalCount: z.coerce.number().optional(),
});

/**
 * Maps a CyberImpact answer that is not a success (status 0: no answer at all) onto a publication error.
 * CyberImpact documents little about its errors, so the status decides (PLATFORMS.md).
 */
export function mapCyberImpactError(status: number, body: unknown, headers: Headers): PublicationFailure {
  const said = (ErrorBody.safeParse(body).data?.message ?? '').trim().slice(0, 500);
  if (status === 401) return { class: 'TOKEN_EXPIRED', message: 'Invalid API key' };
  if (status === 403) return { class: 'PERMISSION_REVOKED', message: 'Scopes insufficient' };
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(headers.get('retry-after'));
    return {
      class: 'RATE_LIMITED',
      message: said || 'CyberImpact rate limit reached',
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
  }
  if (status === 0 || status === 408 || status >= 500) {
    return {
      class: 'TRANSIENT',
      message:
        said || (status === 0 ? 'CyberImpact could not be reached' : `CyberImpact answered HTTP ${status}`),
    };
  }
  return { class: 'INVALID_REQUEST', message: said || `CyberImpact refused the request (HTTP ${status})` };
}

/** Connect-time wording of a refusal: what the user sees for a token the platform will not take. */
function rejection(error: unknown): never {
  if (error instanceof PlatformError && error.failure.class === 'TOKEN_EXPIRED') {
    throw new CredentialsRejectedError('Invalid API key');
  }
  if (error instanceof PlatformError && error.failure.class === 'PERMISSION_REVOKED') {
    throw new CredentialsRejectedError('Scopes insufficient');
  }
  throw error;
}

export function createCyberImpactAdapter(options: CyberImpactAdapterOptions): CyberImpactAdapter {
  const base = options.apiBaseUrl.replace(/\/+$/, '');
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;

  const send = createSender({
    fetch: options.fetch,
    timeoutMs: requestTimeoutMs,
    platformName: 'CyberImpact',
  });

  /** Exactly one HTTP try; every non-success becomes a PlatformError (Temporal decides about retries). */
  async function get<T>(schema: z.ZodType<T>, apiKey: string, path: string, what: string): Promise<T> {
    const { status, headers, body } = await send({
      method: 'GET',
      url: `${base}${path}`,
      headers: { Accept: 'application/json', Authorization: `Bearer ${apiKey}` },
      secrets: [apiKey],
    });
    if (!isSuccess(status)) {
      const failure = mapCyberImpactError(status, body, headers);
      throw new PlatformError({ ...failure, message: redact(failure.message, [apiKey]) });
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      // Most likely a proxy's page rather than CyberImpact itself: another attempt may do better.
      throw new PlatformError({
        class: 'TRANSIENT',
        message: `Unexpected answer from CyberImpact (${what})`,
      });
    }
    return parsed.data;
  }

  /** `GET /ping`: a 2xx with `ping` other than "success" is read as a refused token (unconfirmed). */
  async function ping(apiKey: string): Promise<void> {
    const answer = await get(PingAnswer, apiKey, '/ping', 'ping');
    if (answer.ping !== undefined && answer.ping !== 'success') {
      throw new PlatformError({ class: 'TOKEN_EXPIRED', message: 'Invalid API key' });
    }
  }

  /** Every group, page after page, until `totalCount` is reached or a page comes back short. */
  async function readGroups(apiKey: string) {
    const groups: { id: string; title: string }[] = [];
    const seen = new Set<string>();
    for (let page = 1; page <= maxGroupPages; page += 1) {
      const query = new URLSearchParams({ page: String(page), limit: String(cyberImpactGroupsPageSize) });
      const answer = await get(GroupsPage, apiKey, `/groups?${query}`, 'groups');
      let added = 0;
      for (const group of answer.groups) {
        const id = String(group.id);
        if (seen.has(id)) continue;
        seen.add(id);
        added += 1;
        groups.push({ id, title: group.title?.trim() || `Group ${id}` });
      }
      const total = answer.totalCount;
      if (added === 0 || answer.groups.length < cyberImpactGroupsPageSize) break;
      if (total !== undefined && groups.length >= total) break;
    }
    return groups;
  }

  async function connectWithApiKey(apiKey: string): Promise<Connection<CyberImpactCredentials>> {
    const token = apiKey.trim();
    if (token === '') throw new CredentialsRejectedError('Invalid API key');
    try {
      await ping(token);
      const groups = await readGroups(token);
      const accounts: DiscoveredAccount[] = groups.map((group) => ({
        kind: cyberImpactGroupKind,
        externalId: group.id,
        name: group.title,
      }));
      // API tokens do not expire on their own; the periodic check notices a revoked one.
      return { credentials: { apiKey: token }, expiresAt: null, accounts };
    } catch (error) {
      rejection(error);
    }
  }

  async function verifyCredentials(credentials: CyberImpactCredentials): Promise<void> {
    try {
      await ping(credentials.apiKey);
    } catch (error) {
      rejection(error);
    }
  }

  async function listAudiences(credentials: CyberImpactCredentials): Promise<Audience[]> {
    const groups = await readGroups(credentials.apiKey);
    return groups.map((group) => ({ id: group.id, name: group.title, kind: 'list' as const }));
  }

  return {
    platform: 'cyberimpact',
    connector: { kind: 'api_key', connectWithApiKey },
    verifyCredentials,
    listAudiences,
  };
}
