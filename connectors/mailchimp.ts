// Mailchimp adapter: the OAuth connection (code → token that never expires → the account's data center from
// the metadata endpoint → its audiences), the credential check (`/ping`), audience listing, and mailchimp_email
// hand-offs (campaign → content → actions/schedule), resumable so a retry never creates or schedules twice.
import { z } from 'zod';
import { channelFacts } from '../domain/channels.ts';
import { contentSchemas, type TaskContent } from '../domain/content.ts';
import { platformDescriptors } from '../domain/platforms.ts';
import { HandOffLockedError, PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { offStepChoices } from '../domain/time.ts';
import { waitForInstant } from './hand-off-timing.ts';
import { createSender, type HttpAnswer, isSuccess, parseRetryAfter, redact } from './http.ts';
import { createMailchimpMetrics } from './mailchimp-metrics.ts';
import { readOAuthError, requestToken } from './oauth2.ts';
import {
  type Audience,
  CredentialsRejectedError,
  type DiscoveredAccount,
  type HandOffContext,
  type HandOffStatus,
  type OAuthConnector,
  type PlatformAdapter,
  type PublicationProgress,
  type Published,
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
  /** The clock hand-offs compare the send time with; it must move with real time (the adapter waits on it). */
  now?: () => Date;
  /**
   * A send time closer than this is not scheduled but sent with `actions/send` once it has come. (unconfirmed)
   * Mailchimp does not document how far ahead `schedule_time` must be; a minute keeps clear of clock skew.
   */
  scheduleLeadMs?: number;
}

export type MailchimpAdapter = PlatformAdapter<MailchimpCredentials> &
  Required<
    Pick<
      PlatformAdapter<MailchimpCredentials>,
      | 'connector'
      | 'verifyCredentials'
      | 'listAudiences'
      | 'handOff'
      | 'cancelHandOff'
      | 'handOffStatus'
      | 'collectMetrics'
    >
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
  // `Invalid Resource` answers name each refused field.
  errors: z.array(z.object({ field: z.string().nullish(), message: z.string().nullish() })).nullish(),
});

/** Fields that hold what the user wrote (a refusal there is the content's, not the request's). */
const contentField = /^(settings\.)?(subject_line|preview_text|from_name)$|^(html|plain_text)$/;

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

// Only the fields the adapter reads; Mailchimp's campaign resource carries many more.
const Campaign = z.object({
  id: z.string().min(1),
  web_id: z.coerce.number().nullish(),
  status: z.string(),
  send_time: z.string().nullish(),
  settings: z.object({ title: z.string().nullish() }).nullish(),
});
type Campaign = z.infer<typeof Campaign>;
const CampaignsPage = z.object({
  campaigns: z.array(Campaign),
  total_items: z.coerce.number().nullish(),
});
const campaignFields = [
  'campaigns.id',
  'campaigns.web_id',
  'campaigns.status',
  'campaigns.send_time',
  'campaigns.settings.title',
  'total_items',
].join(',');

type MailchimpEmailContent = TaskContent<'mailchimp_email'>;

/** Keys in progress, written the moment Mailchimp answers each step. */
interface MailchimpProgress {
  campaignId?: string;
  /** The campaign's number in Mailchimp's web app, for its link. */
  webId?: string;
  contentSet?: 'yes';
  /** Scheduled (or sent, when its time had come): live on Mailchimp. */
  scheduled?: 'yes';
  /** Sent with actions/send because its time had come, not scheduled. */
  sentNow?: 'yes';
  /** Written before the first create: campaigns carrying this hand-off's key were created after it. */
  createdAfter?: string;
}
/** A progress write: '' forgets a key. */
type ProgressUpdate = { [K in keyof MailchimpProgress]?: MailchimpProgress[K] | '' };

/** It will send, is sending, or sent: nothing to schedule again, and no longer ours to unschedule once sending. */
const liveStatuses = ['schedule', 'sending', 'sent'];
/** A draft: nothing sends it until it is scheduled or sent. */
const draftStatuses = ['save', 'paused'];
/** Stopped by someone in Mailchimp mid-send: part of the audience may have it, so it is never sent again. */
const stoppedStatuses = ['canceled', 'canceling'];

const quarterHourMinutes = channelFacts('mailchimp_email').scheduleStepMinutes ?? 15;
// A look-up bound by our clock, compared by Mailchimp with its own: this much slack covers any skew.
const lookupSlackMs = 60 * 60 * 1000;

/** Mailchimp writes ISO 8601 with +00:00. */
function mailchimpTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

const invalid = (message: string) => new PlatformError({ class: 'INVALID_REQUEST', message });

/**
 * A Mailchimp campaign goes to exactly one audience (list): several lists, or lists to leave out, cannot be
 * said to Mailchimp, so such content is refused before anything is created.
 */
function audienceOf(content: MailchimpEmailContent): string {
  const [listId, ...others] = content.audiences.included;
  if (!listId || others.length > 0 || (content.audiences.excluded?.length ?? 0) > 0) {
    throw invalid(
      'Mailchimp sends a campaign to exactly one audience: name one in content.audiences.included and none in ' +
        'content.audiences.excluded',
    );
  }
  return listId;
}

function retryAfterMs(headers: Headers): number {
  return parseRetryAfter(headers.get('retry-after')) || defaultRateLimitRetryMs;
}

/** Maps a Marketing API answer that is not a success (application/problem+json) onto a publication error. */
export function mapMailchimpError(status: number, body: unknown, headers: Headers): PublicationFailure {
  const problem = ProblemBody.safeParse(body).data;
  const fields = (problem?.errors ?? [])
    .filter((error) => error.field || error.message)
    .map((error) => [error.field, error.message].filter(Boolean).join(': '));
  const said = [[problem?.title, problem?.detail].filter(Boolean).join(': '), ...fields]
    .filter(Boolean)
    .join('; ')
    .slice(0, 500);
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
  if (problem?.errors?.some((error) => contentField.test(error.field ?? '')))
    return failure('CONTENT_REJECTED', 'Mailchimp refused the content');
  return failure('INVALID_REQUEST', `Mailchimp refused the request (HTTP ${status})`);
}

type Answer = HttpAnswer;

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

export function createMailchimpAdapter(options: MailchimpAdapterOptions): MailchimpAdapter {
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const authBase = trimSlash(options.authBaseUrl);
  const now = options.now ?? (() => new Date());
  const scheduleLeadMs = options.scheduleLeadMs ?? 60_000;

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

  /** One HTTP try at the Marketing API; answers every status, throws only when no answer came. */
  async function call(
    credentials: MailchimpCredentials,
    method: string,
    path: string,
    json?: unknown,
    signal?: AbortSignal,
  ): Promise<Answer> {
    return send({
      url: `${apiRoot(credentials)}${path}`,
      method,
      headers: { accept: 'application/json', authorization: `Bearer ${credentials.accessToken}` },
      ...(json === undefined ? {} : { body: { json } }),
      signal,
      secrets: [credentials.accessToken],
    });
  }

  const failureOf = (answer: Answer, credentials: MailchimpCredentials) =>
    scrub(mapMailchimpError(answer.status, answer.body, answer.headers), [credentials.accessToken]);

  async function succeed(credentials: MailchimpCredentials, answer: Promise<Answer>): Promise<Answer> {
    const answered = await answer;
    if (!isSuccess(answered.status)) throw new PlatformError(failureOf(answered, credentials));
    return answered;
  }

  const campaignPath = (campaignId: string, rest = '') =>
    `/campaigns/${encodeURIComponent(campaignId)}${rest}`;

  /** The campaign as Mailchimp holds it now; null when it no longer exists. */
  async function readCampaign(credentials: MailchimpCredentials, campaignId: string, signal?: AbortSignal) {
    const answer = await call(credentials, 'GET', campaignPath(campaignId), undefined, signal);
    if (answer.status === 404) return null;
    if (!isSuccess(answer.status)) throw new PlatformError(failureOf(answer, credentials));
    return read(Campaign, answer, 'campaign');
  }

  /**
   * The campaigns whose title carries a hand-off's key (normally one; a lost answer is why we ask). Mailchimp
   * cannot filter on titles, so every regular campaign created since the hand-off began is read, a page at a
   * time, and matched here.
   */
  async function findCampaigns(
    credentials: MailchimpCredentials,
    handOffKey: string,
    createdAfter: string | undefined,
    signal?: AbortSignal,
  ): Promise<Campaign[]> {
    const since = createdAfter ? Date.parse(createdAfter) : Number.NaN;
    const found: Campaign[] = [];
    let offset = 0;
    for (let page = 0; page < maxListPages; page += 1) {
      const query = new URLSearchParams({
        type: 'regular',
        sort_field: 'create_time',
        sort_dir: 'ASC',
        count: String(listsPageSize),
        offset: String(offset),
        fields: campaignFields,
      });
      if (!Number.isNaN(since))
        query.set('since_create_time', mailchimpTime(new Date(since - lookupSlackMs)));
      const answer = await succeed(
        credentials,
        call(credentials, 'GET', `/campaigns?${query}`, undefined, signal),
      );
      const body = read(CampaignsPage, answer, 'campaigns');
      // The key ends the title Glowtify wrote: a copy the user replicated in Mailchimp ("… (copy 01)") is theirs.
      found.push(
        ...body.campaigns.filter((campaign) => campaign.settings?.title?.endsWith(` · ${handOffKey}`)),
      );
      offset += body.campaigns.length;
      if (body.campaigns.length === 0 || offset >= (body.total_items ?? 0)) break;
    }
    return found;
  }

  /**
   * Schedules or sends a campaign (the request that makes it live). Mailchimp refuses a second schedule: if an
   * attempt whose answer was lost already did it, the campaign's status shows it, and that is success.
   */
  async function goLive(
    credentials: MailchimpCredentials,
    campaignId: string,
    action: 'schedule' | 'send',
    json: unknown,
    signal?: AbortSignal,
  ): Promise<void> {
    const answer = await call(
      credentials,
      'POST',
      campaignPath(campaignId, `/actions/${action}`),
      json,
      signal,
    );
    if (isSuccess(answer.status)) return;
    const failure = failureOf(answer, credentials);
    if (failure.class === 'INVALID_REQUEST') {
      const current = await readCampaign(credentials, campaignId, signal);
      if (current && liveStatuses.includes(current.status)) return;
    }
    throw new PlatformError(failure);
  }

  async function handOff(context: HandOffContext<MailchimpCredentials>): Promise<Published> {
    if (context.channel !== 'mailchimp_email') throw invalid(`Mailchimp cannot hand off ${context.channel}`);
    const parsed = contentSchemas.mailchimp_email.safeParse(context.content);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .slice(0, 3)
        .map((issue) => `content.${issue.path.join('.')}: ${issue.message}`);
      throw invalid(`The mailchimp_email content is not valid (${issues.join('; ')})`);
    }
    const content: MailchimpEmailContent = parsed.data;
    const listId = audienceOf(content);
    const { credentials, signal, handOffKey, scheduledAt } = context;
    // Mailchimp schedules only on quarter-hours, and not too close to now: a time that has come (or nearly) is
    // sent with actions/send once it is there instead, so a hand-off retried past its time still goes out,
    // never before it.
    const sendsNow = () => scheduledAt.getTime() - now().getTime() < scheduleLeadMs;
    const offStep = offStepChoices({ instant: scheduledAt, timeZone: null }, quarterHourMinutes);
    if (offStep && !sendsNow()) {
      throw invalid(
        `Mailchimp schedules campaigns only every ${quarterHourMinutes} minutes (UTC): ` +
          `${scheduledAt.toISOString()} is not one of them; choose ${offStep[0]} or ${offStep[1]}`,
      );
    }

    // An empty value is how progress forgets a key (it is merged, never replaced).
    const progress: MailchimpProgress = Object.fromEntries(
      Object.entries(context.progress).filter(([, value]) => value !== ''),
    );
    const save = async (update: ProgressUpdate) => {
      for (const [key, value] of Object.entries(update)) {
        if (value === '') delete progress[key as keyof MailchimpProgress];
        else Object.assign(progress, { [key]: value });
      }
      await context.saveProgress(update as PublicationProgress);
    };
    /** What the campaign's status says of the steps done; throws if someone stopped it in Mailchimp. */
    const settle = async (campaign: Campaign) => {
      if (stoppedStatuses.includes(campaign.status)) {
        throw invalid(
          `The Mailchimp campaign of this hand-off was ${campaign.status} in Mailchimp; it is not sent again`,
        );
      }
      if (liveStatuses.includes(campaign.status)) {
        if (progress.scheduled !== 'yes') await save({ scheduled: 'yes' });
      } else if (progress.scheduled === 'yes') {
        // Unscheduled since (a cancel that did not finish, then was refused elsewhere): schedule it again.
        await save({ scheduled: '' });
      }
    };

    if (progress.campaignId) {
      const current = await readCampaign(credentials, progress.campaignId, signal);
      if (current) {
        await settle(current);
      } else {
        // Deleted since (a cancel whose answer was lost): this hand-off starts over, under the same key. Only
        // the campaign's steps are forgotten: the look-up bound still holds, and markers not ours stay.
        await save({ campaignId: '', webId: '', contentSet: '', scheduled: '', sentNow: '' });
      }
    }

    if (!progress.campaignId) {
      const found = await findCampaigns(credentials, handOffKey, progress.createdAfter, signal);
      const existing =
        found.find((campaign) => liveStatuses.includes(campaign.status)) ??
        found.find((campaign) => draftStatuses.includes(campaign.status)) ??
        found[0];
      if (existing) {
        await save({
          campaignId: existing.id,
          ...(existing.web_id ? { webId: String(existing.web_id) } : {}),
        });
        await settle(existing);
      } else {
        if (!progress.createdAfter) await save({ createdAfter: now().toISOString() });
        const created = await succeed(
          credentials,
          call(
            credentials,
            'POST',
            '/campaigns',
            {
              type: 'regular',
              recipients: { list_id: listId },
              settings: {
                subject_line: content.subject,
                ...(content.previewText ? { preview_text: content.previewText } : {}),
                title: `${context.epicTitle} · ${handOffKey}`,
                from_name: content.fromName,
                // Mailchimp has one address for a campaign, and needs it to send (not to create).
                reply_to: content.replyTo ?? content.fromEmail,
              },
            },
            signal,
          ),
        );
        const campaign = read(Campaign, created, 'created campaign');
        await save({
          campaignId: campaign.id,
          ...(campaign.web_id ? { webId: String(campaign.web_id) } : {}),
        });
      }
    }
    const campaignId = progress.campaignId as string;

    if (progress.scheduled !== 'yes') {
      if (progress.contentSet !== 'yes') {
        await succeed(
          credentials,
          call(
            credentials,
            'PUT',
            campaignPath(campaignId, '/content'),
            { html: content.html, ...(content.text ? { plain_text: content.text } : {}) },
            signal,
          ),
        );
        await save({ contentSet: 'yes' });
      }
      if (sendsNow()) {
        // Never before the epic's time: a time a few seconds ahead is waited for (the activity heartbeats).
        await waitForInstant(scheduledAt.getTime(), context, now);
        await context.beforeGoingLive();
        // Not aborted by a cancellation: the platform may apply a request whose connection we dropped after the
        // cancel that follows has looked for it. Waiting for its answer (bounded by the request time-out) lets
        // the transition's cancel, which waits for this attempt to settle, find what it made.
        await goLive(credentials, campaignId, 'send', undefined);
        await save({ scheduled: 'yes', sentNow: 'yes' });
      } else {
        await context.beforeGoingLive();
        // Not aborted by a cancellation either (see above).
        await goLive(credentials, campaignId, 'schedule', { schedule_time: mailchimpTime(scheduledAt) });
        await save({ scheduled: 'yes' });
      }
    }

    return {
      externalId: campaignId,
      externalUrl: progress.webId
        ? `https://${credentials.dc}.admin.mailchimp.com/campaigns/show/?id=${encodeURIComponent(progress.webId)}`
        : null,
    };
  }

  /**
   * Takes one campaign off Mailchimp: unscheduled if scheduled, then deleted, so no half-built Glowtify
   * campaign lingers in the user's Mailchimp to be sent by hand. Refused once Mailchimp is sending it.
   */
  async function cancelCampaign(credentials: MailchimpCredentials, campaignId: string): Promise<void> {
    let current = await readCampaign(credentials, campaignId);
    if (!current || stoppedStatuses.includes(current.status)) return;
    if (current.status === 'schedule') {
      const answer = await call(credentials, 'POST', campaignPath(campaignId, '/actions/unschedule'));
      if (answer.status === 404) return;
      if (!isSuccess(answer.status)) {
        const failure = failureOf(answer, credentials);
        if (failure.class !== 'INVALID_REQUEST' && failure.class !== 'CONTENT_REJECTED')
          throw new PlatformError(failure);
        // Mailchimp answers a 400 both when it is no longer scheduled (fine) and when it began sending.
        current = await readCampaign(credentials, campaignId);
        if (!current || stoppedStatuses.includes(current.status)) return;
        if (current.status === 'schedule') throw new HandOffLockedError(failure.message, campaignId);
      } else {
        current = { ...current, status: 'save' };
      }
    }
    if (current.status === 'sending' || current.status === 'sent') {
      throw new HandOffLockedError(
        `Mailchimp is already ${current.status === 'sent' ? 'done sending' : 'sending'} this campaign: ` +
          'it can no longer be unscheduled',
        campaignId,
      );
    }
    // Archived campaigns never send; a status Mailchimp adds later might, so it is not claimed cancelled.
    if (current.status === 'archived') return;
    if (!draftStatuses.includes(current.status)) {
      throw new HandOffLockedError(`Mailchimp reports the campaign as ${current.status}`, campaignId);
    }
    const answer = await call(credentials, 'DELETE', campaignPath(campaignId));
    if (isSuccess(answer.status) || answer.status === 404) return;
    throw new PlatformError(failureOf(answer, credentials));
  }

  async function cancelHandOff(context: {
    externalId: string | null;
    handOffKey: string | null;
    credentials: MailchimpCredentials;
    progress: PublicationProgress;
  }): Promise<void> {
    const { credentials } = context;
    const known = context.externalId || context.progress.campaignId || null;
    if (known) await cancelCampaign(credentials, known);
    // Whatever else carries the key goes too: a campaign no answer ever named (created, then the answer was
    // lost), or one an attempt that outlived its time-out created beside the known one.
    if (!context.handOffKey) return;
    const created = context.progress.createdAfter || undefined;
    for (const campaign of await findCampaigns(credentials, context.handOffKey, created)) {
      if (campaign.id !== known) await cancelCampaign(credentials, campaign.id);
    }
  }

  async function handOffStatus(context: {
    externalId: string;
    credentials: MailchimpCredentials;
  }): Promise<HandOffStatus> {
    const current = await readCampaign(context.credentials, context.externalId);
    if (!current) {
      return {
        state: 'failed',
        platformStatus: 'not found',
        message: 'The campaign no longer exists in Mailchimp',
      };
    }
    const { status } = current;
    if (status === 'sent') {
      const sentAt = current.send_time ? new Date(current.send_time) : null;
      return { state: 'sent', sentAt: sentAt && !Number.isNaN(sentAt.getTime()) ? sentAt : null };
    }
    if (stoppedStatuses.includes(status)) {
      return {
        state: 'failed',
        platformStatus: status,
        message: 'The send was canceled in Mailchimp',
      };
    }
    // Unscheduled by someone in Mailchimp (our own cancel deletes the campaign).
    if (draftStatuses.includes(status)) return { state: 'cancelled', platformStatus: status };
    // schedule, sending, and any status Mailchimp adds later: still on its way.
    return { state: 'pending', platformStatus: status };
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
    handOff,
    cancelHandOff,
    handOffStatus,
    collectMetrics: createMailchimpMetrics({ call, failureOf }),
  };
}
