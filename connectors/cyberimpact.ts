// CyberImpact adapter: connects a workspace with an API token (checked with `GET /ping`), discovers its
// groups (the audiences a mailing is sent to), re-checks the token periodically, and hands cyberimpact_email
// tasks to CyberImpact as mailings scheduled there (`POST /mailings` with `sendAt`), which it sends by itself;
// cancel deletes the mailing, and the mailing's status confirms the send.
import { Temporal } from 'temporal-polyfill';
import { z } from 'zod';
import { contentSchemas, type TaskContent } from '../domain/content.ts';
import { platformDescriptors } from '../domain/platforms.ts';
import { HandOffLockedError, PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { createCyberImpactMetrics } from './cyberimpact-metrics.ts';
import { createSender, type HttpAnswer, isSuccess, parseRetryAfter, redact } from './http.ts';
import {
  type ApiKeyConnector,
  type Audience,
  type Connection,
  CredentialsRejectedError,
  type DiscoveredAccount,
  type HandOffContext,
  type HandOffStatus,
  type PlatformAdapter,
  type PublicationProgress,
  type Published,
} from './types.ts';

export interface CyberImpactCredentials {
  /** The API token from CyberImpact → Developers → API tokens, sent as `Authorization: Bearer`. */
  apiKey: string;
}

export interface CyberImpactAdapterOptions {
  /** `CYBERIMPACT_API_BASE_URL`: https://api.cyberimpact.com, or the sandbox simulator. */
  apiBaseUrl: string;
  /** `CYBERIMPACT_SEND_AT_TIME_ZONE`: the zone CyberImpact reads `sendAt` in (its default is the descriptor's). */
  sendAtTimeZone?: string;
  fetch?: typeof fetch;
  /** One request's time limit; a hung request becomes TRANSIENT instead of holding the caller. */
  requestTimeoutMs?: number;
  now?: () => Date;
}

export type CyberImpactAdapter = PlatformAdapter<CyberImpactCredentials> &
  Required<
    Pick<
      PlatformAdapter<CyberImpactCredentials>,
      'verifyCredentials' | 'listAudiences' | 'handOff' | 'cancelHandOff' | 'handOffStatus' | 'collectMetrics'
    >
  > & {
    readonly connector: ApiKeyConnector<CyberImpactCredentials>;
  };

/** The discovered account kind: one per CyberImpact group. */
export const cyberImpactGroupKind = 'cyberimpact_group';

/** The zone `sendAt` is read in when the configuration does not say (the descriptor's default). */
export const cyberImpactDefaultSendAtTimeZone =
  platformDescriptors.cyberimpact.settings.sendAtTimeZone.default;

/**
 * Groups asked per page. CyberImpact documents `limit` up to 10 000 (as relayed by public clients of the API,
 * unconfirmed in the official reference); a smaller page keeps each answer small.
 */
export const cyberImpactGroupsPageSize = 500;
/** Mailings asked per page of `GET /mailings/scheduled` and `/mailings/sent` (same documented limit). */
export const cyberImpactMailingsPageSize = 500;
// A runaway pagination (a server repeating pages) must not keep a connection request busy forever.
const maxGroupPages = 200;
const maxMailingPages = 200;

/**
 * A send time closer than this to now is moved to now + this: CyberImpact has no "send now" in its API, and
 * a `sendAt` that has passed by the time CyberImpact reads it (a hand-off retried after its time, or clocks a
 * little apart) could be refused. Later by at most this, never earlier than the epic's time.
 */
export const cyberImpactSendLeadMs = 5_000;

/**
 * How far a mailing's own dates may sit from the hand-off's time and still be one of its mailings: a wrong
 * `CYBERIMPACT_SEND_AT_TIME_ZONE` shifts them by at most a day, and looking further back would read every
 * sent mailing of the account on each look-up.
 */
const lookUpWindowMs = 2 * 24 * 60 * 60 * 1000;

const lockedMessage =
  'CyberImpact is already sending this mailing (or has sent it): it can no longer be deleted';
const senderMessage =
  'The from address is not a validated sender in CyberImpact: validate it in CyberImpact, then try again';

/** Keys in progress, written the moment CyberImpact answers. */
interface CyberImpactProgress {
  mailingId?: string;
}

// Error bodies: public clients read `message` and `errors` (Laravel style: `{"field": ["message", …]}`)
// from them; the exact shape is unconfirmed, so each part is read only when present.
const ErrorBody = z.object({
  message: z.string().nullish(),
  errors: z.unknown().optional(),
});

// `GET /ping` → {"ping":"success","username","email","account"} (CyberImpact's API reference).
const PingAnswer = z.object({
  ping: z.string().optional(),
  account: z.union([z.string(), z.number()]).nullish(),
});

// `GET /groups?page=&limit=` → {"groups":[{"id","title","isPublic","membersCount","mailingsCount",
// "createdOn","isDynamic"}],"totalCount","page","limit","sort"} (CyberImpact's API reference).
const GroupsPage = z.object({
  groups: z.array(
    z.object({
      id: z.union([z.number(), z.string()]),
      title: z.string().nullish(),
    }),
  ),
  totalCount: z.coerce.number().optional(),
});

const MailingId = z.union([z.number(), z.string()]).transform(String);

// `GET /mailings/{id}` and the 201 of `POST /mailings`: the mailing representation (only what is read here).
const Mailing = z.object({
  id: MailingId,
  status: z.string().nullish(),
  startedOn: z.string().nullish(),
  scheduledOn: z.string().nullish(),
  bodyHtml: z.string().nullish(),
  viewOnlineURL: z.string().nullish(),
});
type Mailing = z.infer<typeof Mailing>;

// `GET /mailings/scheduled` and `/mailings/sent`: {"mailings":[{"id","subject","language","scheduledOn" |
// "startedOn","recipientsCount","mailFrom"}],"totalCount","page","limit","sort"}; no bodies in the list.
const MailingsPage = z.object({
  mailings: z.array(
    z.object({
      id: MailingId,
      startedOn: z.string().nullish(),
      scheduledOn: z.string().nullish(),
      mailFrom: z.string().nullish(),
    }),
  ),
  totalCount: z.coerce.number().optional(),
});
type ListedMailing = z.infer<typeof MailingsPage>['mailings'][number];

type CyberImpactEmailContent = TaskContent<'cyberimpact_email'>;

/** One field's complaint in an error body, read from `errors` whatever its shape. */
function errorEntries(errors: unknown): { field: string; text: string }[] {
  const texts = (value: unknown): string[] =>
    (Array.isArray(value) ? value : [value]).filter((text): text is string => typeof text === 'string');
  if (Array.isArray(errors)) {
    return errors.flatMap((entry) => {
      if (typeof entry === 'string') return [{ field: '', text: entry }];
      const parsed = z.object({ field: z.string().nullish(), message: z.string() }).safeParse(entry);
      return parsed.success ? [{ field: parsed.data.field ?? '', text: parsed.data.message }] : [];
    });
  }
  if (errors && typeof errors === 'object') {
    return Object.entries(errors).flatMap(([field, value]) => texts(value).map((text) => ({ field, text })));
  }
  return [];
}

/** Fields CyberImpact reads from what the user wrote: a refusal of them is the content's. */
const contentFields = new Set(['subject', 'bodyHtml', 'bodyText']);
const validationWords = /validat|verif|sender|expéditeur/i;
const refusedDelete = /already (been )?sent|being sent|sending|cannot be deleted|can no longer be deleted/i;
const throttled = /too many requests|rate limit/i;

/**
 * Maps a CyberImpact answer that is not a success (status 0: no answer at all) onto a publication error.
 * CyberImpact documents little about its errors (PLATFORMS.md): the status decides, except where the body
 * says plainly what happened (a sender not validated, a 403 that is not about the token).
 */
export function mapCyberImpactError(status: number, body: unknown, headers: Headers): PublicationFailure {
  const parsed = ErrorBody.safeParse(body).data;
  const message = (parsed?.message ?? '').trim();
  const entries = errorEntries(parsed?.errors);
  const details = entries
    .slice(0, 3)
    .map((entry) => (entry.field ? `${entry.field}: ${entry.text}` : entry.text))
    .join('; ');
  const said = (details ? (message ? `${message} (${details})` : details) : message).slice(0, 500);
  const senderRefused =
    entries.some((entry) => entry.field === 'mailFrom' && validationWords.test(entry.text)) ||
    (/mailFrom|sender|expéditeur/i.test(message) && validationWords.test(message));

  if (status === 401) return { class: 'TOKEN_EXPIRED', message: 'Invalid API key' };
  if (status === 429 || (status === 403 && throttled.test(message))) {
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
  if (senderRefused) return { class: 'INVALID_REQUEST', message: senderMessage };
  if (status === 403) {
    // A 403 about the mailing (it is being sent) is not a token that lost its rights.
    if (refusedDelete.test(message)) return { class: 'INVALID_REQUEST', message: said };
    return { class: 'PERMISSION_REVOKED', message: 'Scopes insufficient' };
  }
  if (entries.length > 0 && entries.every((entry) => contentFields.has(entry.field))) {
    return { class: 'CONTENT_REJECTED', message: said || 'CyberImpact rejected the content' };
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

/**
 * The wall time CyberImpact gets as `sendAt` ("YYYY-MM-DD HH:MM:SS" in `timeZone`) for a hand-off due at
 * `scheduledAt`, asked at `now`. Never a time that could be read as earlier than `scheduledAt`:
 * - seconds are rounded up (the format has no fraction);
 * - a time already passed, or closer than `cyberImpactSendLeadMs`, becomes now + that lead (the API has no
 *   "send now"; the machinery records how late it went);
 * - a wall time the zone repeats (the fall-back hour) is ambiguous: when `scheduledAt` is its second
 *   occurrence, CyberImpact could read the first one and send an hour early, so it moves to the end of the
 *   repeated hour, the first wall time with one reading (late by less than an hour, rather than early).
 */
export function cyberImpactSendAt(scheduledAt: Date, now: Date, timeZone: string): string {
  const earliest = Math.max(scheduledAt.getTime(), now.getTime() + cyberImpactSendLeadMs);
  let instant = Temporal.Instant.fromEpochMilliseconds(Math.ceil(earliest / 1000) * 1000);
  const zoned = instant.toZonedDateTimeISO(timeZone);
  const firstReading = zoned.toPlainDateTime().toZonedDateTime(timeZone, { disambiguation: 'earlier' });
  if (firstReading.epochMilliseconds < zoned.epochMilliseconds) {
    const repeatedBy = zoned.epochMilliseconds - firstReading.epochMilliseconds;
    // The transition that began the repeated hour; from one millisecond later, so an instant on it counts.
    const transition = zoned.add({ milliseconds: 1 }).getTimeZoneTransition('previous');
    if (transition) instant = transition.toInstant().add({ milliseconds: repeatedBy });
  }
  const wall = instant.toZonedDateTimeISO(timeZone).toPlainDateTime();
  return `${wall.toPlainDate().toString()} ${wall.toPlainTime().toString({ smallestUnit: 'second' })}`;
}

/**
 * A date CyberImpact wrote: with an offset when asked with `dateReturnFormat=ATOM` (what this adapter asks),
 * else its default "Y-m-d H:i:s.u" in EST/EDT, read in the configured zone; null when unreadable.
 */
export function parseCyberImpactDate(text: string | null | undefined, timeZone: string): Date | null {
  if (!text) return null;
  const value = text.trim();
  const offset = /([+-]\d{2}):?(\d{2})$/.exec(value);
  if (/[zZ]$/.test(value) || (offset && /T/.test(value))) {
    const normalised = offset ? `${value.slice(0, -offset[0].length)}${offset[1]}:${offset[2]}` : value;
    const at = Date.parse(normalised);
    return Number.isNaN(at) ? null : new Date(at);
  }
  const wall = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d{1,9})?$/.exec(value);
  if (!wall) return null;
  try {
    const local = Temporal.PlainDateTime.from(`${wall[1]}T${wall[2]}${wall[3] ?? ''}`);
    return new Date(local.toZonedDateTime(timeZone).epochMilliseconds);
  } catch {
    return null;
  }
}

/**
 * How a mailing carries its hand-off key. CyberImpact keeps no field of a mailing that recipients do not see
 * (the subject, sender and bodies all reach them), so the key travels as an HTML comment in `bodyHtml`:
 * invisible when the email is read, returned by `GET /mailings/{id}`. It goes first (after a doctype), so a
 * body read back shortened still has it. Only `-->` could end the comment, and the key is URI-encoded.
 */
export function handOffMarker(handOffKey: string): string {
  return `<!-- glowtify-hand-off:${encodeURIComponent(handOffKey)} -->`;
}

function withHandOffMarker(html: string, handOffKey: string): string {
  const marker = handOffMarker(handOffKey);
  const doctype = /^\s*<!doctype[^>]*>/i.exec(html);
  return doctype ? `${doctype[0]}${marker}${html.slice(doctype[0].length)}` : `${marker}${html}`;
}

export function createCyberImpactAdapter(options: CyberImpactAdapterOptions): CyberImpactAdapter {
  const base = options.apiBaseUrl.replace(/\/+$/, '');
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const timeZone = options.sendAtTimeZone ?? cyberImpactDefaultSendAtTimeZone;
  const now = options.now ?? (() => new Date());

  const transport = createSender({
    fetch: options.fetch,
    timeoutMs: requestTimeoutMs,
    platformName: 'CyberImpact',
  });

  /** Exactly one HTTP try (Temporal decides about retries); answers every status. */
  function send(
    apiKey: string,
    method: string,
    path: string,
    extra: { query?: Record<string, string>; json?: unknown; signal?: AbortSignal | undefined } = {},
  ): Promise<HttpAnswer> {
    const query = extra.query ? `?${new URLSearchParams(extra.query)}` : '';
    return transport({
      method,
      url: `${base}${path}${query}`,
      headers: { Accept: 'application/json', Authorization: `Bearer ${apiKey}` },
      ...(extra.json === undefined ? {} : { body: { json: extra.json } }),
      signal: extra.signal,
      secrets: [apiKey],
    });
  }

  const failureOf = (answer: HttpAnswer, apiKey: string): PublicationFailure => {
    const failure = mapCyberImpactError(answer.status, answer.body, answer.headers);
    return { ...failure, message: redact(failure.message, [apiKey]) };
  };

  function read<T>(schema: z.ZodType<T, unknown>, body: unknown, what: string): T {
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

  async function get<T>(
    schema: z.ZodType<T, unknown>,
    apiKey: string,
    path: string,
    what: string,
    query?: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<T> {
    const answer = await send(apiKey, 'GET', path, { ...(query ? { query } : {}), signal });
    if (!isSuccess(answer.status)) throw new PlatformError(failureOf(answer, apiKey));
    return read(schema, answer.body, what);
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
      const query = { page: String(page), limit: String(cyberImpactGroupsPageSize) };
      const answer = await get(GroupsPage, apiKey, '/groups', 'groups', query);
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

  // Dates with their offset, so the instant a mailing started is exact whatever the configured zone.
  const withOffsets = { dateReturnFormat: 'ATOM' };

  /** One mailing, or null when CyberImpact has none by that id (deleted). */
  async function readMailing(apiKey: string, id: string, signal?: AbortSignal): Promise<Mailing | null> {
    const answer = await send(apiKey, 'GET', `/mailings/${encodeURIComponent(id)}`, {
      query: withOffsets,
      signal,
    });
    if (answer.status === 404) return null;
    if (!isSuccess(answer.status)) throw new PlatformError(failureOf(answer, apiKey));
    return read(Mailing, answer.body, 'mailing');
  }

  /**
   * The mailings of one list, page after page; `more` says, from a page just read, whether the next one can
   * still hold what is looked for (the sent list is long and read newest first).
   */
  async function listMailings(
    apiKey: string,
    kind: 'scheduled' | 'sent',
    signal: AbortSignal | undefined,
    more: (page: ListedMailing[]) => boolean = () => true,
  ): Promise<ListedMailing[]> {
    const found: ListedMailing[] = [];
    const seen = new Set<string>();
    for (let page = 1; page <= maxMailingPages; page += 1) {
      const answer = await get(
        MailingsPage,
        apiKey,
        `/mailings/${kind}`,
        `${kind} mailings`,
        {
          page: String(page),
          limit: String(cyberImpactMailingsPageSize),
          // Newest first (unconfirmed: the reference lists date_desc without saying which date it sorts by).
          sort: 'date_desc',
          ...withOffsets,
        },
        signal,
      );
      const fresh = answer.mailings.filter((mailing) => !seen.has(mailing.id));
      for (const mailing of fresh) seen.add(mailing.id);
      found.push(...fresh);
      if (fresh.length === 0 || answer.mailings.length < cyberImpactMailingsPageSize) break;
      if (answer.totalCount !== undefined && found.length >= answer.totalCount) break;
      if (!more(answer.mailings)) break;
    }
    return found;
  }

  /**
   * The mailings that carry this hand-off's key. The lists hold no bodies, so each candidate is read on its
   * own; `scope` narrows the candidates when the hand-off is known (its sender, and dates near its time) and
   * says whether to read the sent list too (a mailing whose answer was lost may have gone out meanwhile).
   */
  async function findMailings(
    apiKey: string,
    handOffKey: string,
    signal: AbortSignal | undefined,
    scope?: { mailFrom: string; since: Date; includeSent: boolean },
  ): Promise<{ mailing: Mailing; list: 'scheduled' | 'sent' }[]> {
    const marker = handOffMarker(handOffKey);
    const after = (text: string | null | undefined) => {
      const at = parseCyberImpactDate(text, timeZone);
      return !scope || at === null || at.getTime() >= scope.since.getTime();
    };
    // A mailing without a listed sender (the account's default) may still be ours.
    const fromUs = (listed: ListedMailing) =>
      !scope || !listed.mailFrom || listed.mailFrom.toLowerCase() === scope.mailFrom.toLowerCase();
    const candidates: { id: string; list: 'scheduled' | 'sent' }[] = [];
    for (const listed of await listMailings(apiKey, 'scheduled', signal)) {
      if (fromUs(listed) && after(listed.scheduledOn)) candidates.push({ id: listed.id, list: 'scheduled' });
    }
    if (scope?.includeSent) {
      const sent = await listMailings(apiKey, 'sent', signal, (page) =>
        page.every((listed) => after(listed.startedOn)),
      );
      for (const listed of sent) {
        if (fromUs(listed) && after(listed.startedOn)) candidates.push({ id: listed.id, list: 'sent' });
      }
    }
    const found: { mailing: Mailing; list: 'scheduled' | 'sent' }[] = [];
    for (const candidate of candidates) {
      const mailing = await readMailing(apiKey, candidate.id, signal);
      if (mailing?.bodyHtml?.includes(marker)) found.push({ mailing, list: candidate.list });
    }
    return found;
  }

  const published = (mailing: Mailing): Published => ({
    externalId: mailing.id,
    externalUrl: mailing.viewOnlineURL || null,
  });

  async function handOff(context: HandOffContext<CyberImpactCredentials>): Promise<Published> {
    if (context.channel !== 'cyberimpact_email') {
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: `CyberImpact cannot hand off ${context.channel}`,
      });
    }
    const parsed = contentSchemas.cyberimpact_email.safeParse(context.content);
    if (!parsed.success) {
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: 'The cyberimpact_email content is not valid',
      });
    }
    const content: CyberImpactEmailContent = parsed.data;
    const { apiKey } = context.credentials;
    const { signal, handOffKey } = context;
    const progress: CyberImpactProgress = context.progress;

    if (progress.mailingId) {
      // Resuming: the mailing an earlier attempt created stands unless it was deleted since (a cancel whose
      // answer was lost); then this hand-off starts over, under the same key.
      const current = await readMailing(apiKey, progress.mailingId, signal);
      if (current) return published(current);
      // An empty value is how progress forgets a key (it is merged, never replaced).
      await context.saveProgress({ mailingId: '' });
    }

    // A retry after a lost answer finds what the lost attempt created instead of creating a second mailing,
    // including one that already went out when the retry came after the time.
    const [existing] = await findMailings(apiKey, handOffKey, signal, {
      mailFrom: content.fromEmail,
      since: new Date(context.scheduledAt.getTime() - lookUpWindowMs),
      includeSent: now().getTime() >= context.scheduledAt.getTime() - lookUpWindowMs,
    });
    if (existing) {
      await context.saveProgress({ mailingId: existing.mailing.id } satisfies CyberImpactProgress);
      return published(existing.mailing);
    }

    const body = {
      subject: content.subject,
      language: content.language ?? 'en_ca',
      groups: content.audiences.included.join(','),
      sendAt: cyberImpactSendAt(context.scheduledAt, now(), timeZone),
      mailFrom: content.fromEmail,
      fromName: content.fromName,
      ...(content.replyTo ? { replyTo: content.replyTo } : {}),
      bodyHtml: withHandOffMarker(content.html, handOffKey),
      ...(content.text ? { bodyText: content.text } : {}),
    };
    // The mailing is scheduled the moment CyberImpact creates it: this request is the one that goes live.
    await context.beforeGoingLive();
    // Not aborted by a cancellation: the platform may apply a request whose connection we dropped after the
    // cancel that follows has looked for it. Waiting for its answer (bounded by the request time-out) lets
    // the transition's cancel, which waits for this attempt to settle, find what it made.
    const answer = await send(apiKey, 'POST', '/mailings', { json: body });
    if (!isSuccess(answer.status)) throw new PlatformError(failureOf(answer, apiKey));
    const created = read(Mailing, answer.body, 'created mailing');
    await context.saveProgress({ mailingId: created.id } satisfies CyberImpactProgress);
    return published(created);
  }

  /** Deletes one mailing; resolves once it can no longer send (deleted now, or already gone). */
  async function deleteMailing(apiKey: string, id: string): Promise<void> {
    const answer = await send(apiKey, 'DELETE', `/mailings/${encodeURIComponent(id)}`);
    if (isSuccess(answer.status) || answer.status === 404) return;
    const failure = failureOf(answer, apiKey);
    if (failure.class !== 'INVALID_REQUEST' && failure.class !== 'CONTENT_REJECTED') {
      throw new PlatformError(failure);
    }
    // CyberImpact deletes a mailing only before it is sent, and how it words the refusal is not documented:
    // the mailing itself says whether it is gone, still scheduled (refused for another reason), or sending.
    const current = await readMailing(apiKey, id);
    if (!current) return;
    if (current.status === 'scheduled') throw new PlatformError(failure);
    throw new HandOffLockedError(lockedMessage, id);
  }

  async function cancelHandOff(context: {
    externalId: string | null;
    handOffKey: string | null;
    credentials: CyberImpactCredentials;
    progress: PublicationProgress;
  }): Promise<void> {
    const { apiKey } = context.credentials;
    const known = context.externalId || (context.progress as CyberImpactProgress).mailingId || null;
    if (known) await deleteMailing(apiKey, known);
    // Whatever else carries the key goes too: a mailing no answer ever named (created, then the answer was
    // lost), or one an attempt that outlived its time-out created beside the known one. Only the scheduled
    // list is read: a sent mailing cannot be deleted, and before the epic's time none of ours has gone out.
    if (!context.handOffKey) return;
    for (const { mailing } of await findMailings(apiKey, context.handOffKey, undefined)) {
      if (mailing.id !== known) await deleteMailing(apiKey, mailing.id);
    }
  }

  async function handOffStatus(context: {
    externalId: string;
    credentials: CyberImpactCredentials;
  }): Promise<HandOffStatus> {
    const { apiKey } = context.credentials;
    const mailing = await readMailing(apiKey, context.externalId);
    if (!mailing) {
      return {
        state: 'failed',
        platformStatus: 'Not found',
        message: 'The mailing no longer exists in CyberImpact',
      };
    }
    const status = mailing.status ?? 'unknown';
    const sentAt = () => parseCyberImpactDate(mailing.startedOn, timeZone);
    if (status === 'sent') return { state: 'sent', sentAt: sentAt() };
    if (status === 'scheduled') return { state: 'pending', platformStatus: status };
    // A status word the reference does not show (it shows "scheduled" and "sent"): the sent list is where a
    // sent mailing is listed, newest first, so it is read back only to around the mailing's own time.
    const due = parseCyberImpactDate(mailing.scheduledOn, timeZone);
    const sent = await listMailings(apiKey, 'sent', undefined, (page) =>
      page.every((listed) => {
        const started = parseCyberImpactDate(listed.startedOn, timeZone);
        return (
          listed.id !== mailing.id &&
          due !== null &&
          started !== null &&
          started.getTime() >= due.getTime() - lookUpWindowMs
        );
      }),
    );
    if (sent.some((listed) => listed.id === mailing.id)) return { state: 'sent', sentAt: sentAt() };
    return { state: 'pending', platformStatus: status };
  }

  return {
    platform: 'cyberimpact',
    connector: { kind: 'api_key', connectWithApiKey },
    verifyCredentials,
    listAudiences,
    handOff,
    cancelHandOff,
    handOffStatus,
    collectMetrics: createCyberImpactMetrics({ send, failureOf }),
  };
}
