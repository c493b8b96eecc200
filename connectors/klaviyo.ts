// Klaviyo adapter: verifies private API keys, lists audiences, and hands klaviyo_email tasks to Klaviyo as
// campaigns scheduled there (create → template → assign → send job), resumable so a retry never sends twice.
import { z } from 'zod';
import { contentSchemas, type TaskContent } from '../domain/content.ts';
import { HandOffLockedError, PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { createSender, type HttpAnswer, isSuccess, parseRetryAfter, redact } from './http.ts';
import { createKlaviyoMetrics } from './klaviyo-metrics.ts';
import {
  type Audience,
  CredentialsRejectedError,
  type DiscoveredAccount,
  type HandOffContext,
  type HandOffStatus,
  type PlatformAdapter,
  type PublicationProgress,
  type Published,
} from './types.ts';

/** The one Klaviyo API revision this adapter speaks (the `revision` header); body shapes follow it. */
export const klaviyoRevision = '2026-07-15';

export interface KlaviyoCredentials {
  apiKey: string;
}

export type KlaviyoAdapter = PlatformAdapter<KlaviyoCredentials> &
  Required<
    Pick<
      PlatformAdapter<KlaviyoCredentials>,
      'handOff' | 'cancelHandOff' | 'handOffStatus' | 'listAudiences' | 'collectMetrics'
    >
  > & {
    /** Checks a key at connect time; throws CredentialsRejectedError with the message the user sees. */
    verifyApiKey(apiKey: string): Promise<{ accountName: string; accounts: DiscoveredAccount[] }>;
  };

const jsonApi = 'application/vnd.api+json';
const appBaseUrl = 'https://www.klaviyo.com';
const lockedMessage = 'Klaviyo locks a campaign within 15 minutes of its send time';
const senderMessage =
  'Sender not authorized: the from address is not a verified sender in Klaviyo ' +
  '(Settings → Email → Sender configuration)';
const senderNotAuthorized = /sender not authori[sz]ed/i;
/** Error pointers into what the user wrote (template HTML, subject…), not into how we built the request. */
const contentPointer = /^\/data\/attributes\/(html|text|amp)$|\/definition\/content\/(subject|preview_text)$/;
const maxPages = 1000;

type KlaviyoEmailContent = TaskContent<'klaviyo_email'>;

/** Keys in progress, written the moment Klaviyo answers each step. */
interface KlaviyoProgress {
  campaignId?: string;
  messageId?: string;
  templateId?: string;
  templateAssigned?: 'yes';
  sendJobCreated?: 'yes';
  /** The campaign sends as soon as its send job exists: its time had passed (a hand-off retried late). */
  sendsImmediately?: 'yes';
}

const ErrorsBody = z.object({
  errors: z.array(
    z.object({
      code: z.string().nullish(),
      title: z.string().nullish(),
      detail: z.string().nullish(),
      source: z.object({ pointer: z.string().nullish(), parameter: z.string().nullish() }).nullish(),
    }),
  ),
});

/** Private keys look like `pk_…`; none must ever reach a message that is stored or shown. */
function redactKeys(text: string): string {
  return text.replace(/\bpk_[A-Za-z0-9_-]+/g, 'pk_[redacted]');
}

/** Maps a Klaviyo answer that is not a success (status 0: no answer at all) onto a publication error. */
export function mapKlaviyoError(status: number, body: unknown, headers: Headers): PublicationFailure {
  const errors = ErrorsBody.safeParse(body).data?.errors ?? [];
  const said = redactKeys(
    errors
      .map((error) => error.detail || error.title || '')
      .filter((text) => text !== '')
      .slice(0, 3)
      .join('; '),
  ).slice(0, 1000);
  const code = errors.find((error) => error.code)?.code ?? undefined;
  const failure = (rest: PublicationFailure): PublicationFailure =>
    code ? { ...rest, platformCode: code } : rest;

  if (status === 401) return failure({ class: 'TOKEN_EXPIRED', message: 'Invalid API key' });
  if (status === 403) return failure({ class: 'PERMISSION_REVOKED', message: 'Scopes insufficient' });
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(headers.get('retry-after'));
    return failure({
      class: 'RATE_LIMITED',
      message: said || 'Klaviyo rate limit reached',
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (status === 0 || status === 408 || status >= 500) {
    return failure({
      class: 'TRANSIENT',
      message: said || (status === 0 ? 'Klaviyo could not be reached' : `Klaviyo answered HTTP ${status}`),
    });
  }
  const sender = errors.find((error) =>
    senderNotAuthorized.test(`${error.title ?? ''} ${error.detail ?? ''}`),
  );
  if (sender) {
    return sender.code
      ? { class: 'INVALID_REQUEST', message: senderMessage, platformCode: sender.code }
      : { class: 'INVALID_REQUEST', message: senderMessage };
  }
  if (errors.some((error) => contentPointer.test(error.source?.pointer ?? ''))) {
    return failure({ class: 'CONTENT_REJECTED', message: said || 'Klaviyo rejected the content' });
  }
  return failure({
    class: 'INVALID_REQUEST',
    message: said || `Klaviyo refused the request (HTTP ${status})`,
  });
}

// Only the fields the adapter reads; Klaviyo's documents carry many more.
const Named = z.object({ id: z.string(), attributes: z.object({ name: z.string().nullish() }) });
const CampaignSummary = z.object({
  id: z.string(),
  attributes: z.object({ name: z.string(), status: z.string() }),
});
const CampaignDocument = z.object({
  data: z.object({
    id: z.string(),
    attributes: z.object({ status: z.string(), send_time: z.string().nullish() }),
  }),
});
const Created = z.object({ data: z.object({ id: z.string() }) });
const MessagesDocument = z.object({
  data: z.array(
    z.object({
      id: z.string(),
      relationships: z
        .object({ template: z.object({ data: z.object({ id: z.string() }).nullish() }).nullish() })
        .nullish(),
    }),
  ),
});
const AccountsDocument = z.object({
  data: z.array(
    z.object({
      id: z.string(),
      attributes: z.object({
        contact_information: z.object({ organization_name: z.string().nullish() }).nullish(),
      }),
    }),
  ),
});

type Answer = HttpAnswer;

/** Klaviyo writes ISO instants with an explicit +00:00 offset; seconds precision when that is exact. */
function klaviyoDateTime(date: Date): string {
  const iso = date.toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}+00:00` : `${iso.slice(0, -1)}+00:00`;
}

function isCancelled(status: string): boolean {
  return /^cancel+ed\b/i.test(status);
}

/** A campaign past Draft (and not cancelled) has a send job: scheduling it again must not happen. */
function hasSendJob(status: string): boolean {
  return status !== 'Draft' && !isCancelled(status);
}

/** Keys safe to embed in a filter string literal; others are matched on our side only. */
const filterSafe = /^[A-Za-z0-9_.:-]+$/;

/**
 * A send time closer than this is handed over as "send now" instead: Klaviyo refuses a static time that has
 * passed by the time the send job is created, and a hand-off retried after its time must not be refused.
 */
const immediateWithinMs = 2_000;

export function createKlaviyoAdapter(options: {
  apiBaseUrl: string;
  fetch?: typeof fetch;
  /** One request's time-out: a hung connection must not hold a hand-off, a cancel or a transition. */
  requestTimeoutMs?: number;
  now?: () => Date;
  /** Between two values reports of one metrics read (Klaviyo's 1/s burst window); tests lower it. */
  reportSpacingMs?: number;
}): KlaviyoAdapter {
  const base = options.apiBaseUrl.replace(/\/+$/, '');
  const origin = new URL(base).origin;
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const now = options.now ?? (() => new Date());

  const scrub = (failure: PublicationFailure, apiKey: string): PublicationFailure => ({
    ...failure,
    message: redactKeys(redact(failure.message, [apiKey])),
  });
  const transport = createSender({
    fetch: options.fetch,
    timeoutMs: requestTimeoutMs,
    platformName: 'Klaviyo',
  });

  /** Resolves a path or a `links.next` URL against the configured host only: the key never goes elsewhere. */
  const resolve = (target: string) => {
    if (!/^https?:\/\//.test(target)) return `${base}${target}`;
    const next = new URL(target);
    return next.origin === origin ? next.toString() : `${origin}${next.pathname}${next.search}`;
  };

  /** One HTTP try; answers every status, throws only when no answer came (PlatformError TRANSIENT). */
  async function send(
    apiKey: string,
    method: string,
    target: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<Answer> {
    return transport({
      method,
      url: resolve(target),
      headers: {
        Accept: jsonApi,
        Authorization: `Klaviyo-API-Key ${apiKey}`,
        revision: klaviyoRevision,
      },
      ...(body === undefined ? {} : { body: { json: body, contentType: jsonApi } }),
      signal,
      secrets: [apiKey],
    });
  }

  const failureOf = (answer: Answer, apiKey: string) =>
    scrub(mapKlaviyoError(answer.status, answer.body, answer.headers), apiKey);

  async function request(
    apiKey: string,
    method: string,
    target: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const answer = await send(apiKey, method, target, body, signal);
    if (!isSuccess(answer.status)) throw new PlatformError(failureOf(answer, apiKey));
    return answer.body;
  }

  function read<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      // An answer we cannot read is most likely a proxy's page; another attempt may reach Klaviyo itself.
      throw new PlatformError({ class: 'TRANSIENT', message: `Unexpected answer from Klaviyo (${what})` });
    }
    return parsed.data;
  }

  /** Follows `links.next` to the end, one request per page. */
  async function readAll<T>(
    apiKey: string,
    first: string,
    item: z.ZodType<T>,
    what: string,
    signal?: AbortSignal,
  ) {
    const page = z.object({ data: z.array(item), links: z.object({ next: z.string().nullish() }).nullish() });
    const items: T[] = [];
    const seen = new Set<string>();
    let next: string | null | undefined = first;
    while (next && !seen.has(next) && seen.size < maxPages) {
      seen.add(next);
      const body: z.infer<typeof page> = read(
        page,
        await request(apiKey, 'GET', next, undefined, signal),
        what,
      );
      items.push(...body.data);
      next = body.links?.next;
    }
    return items;
  }

  const withQuery = (path: string, query: Record<string, string>) => `${path}?${new URLSearchParams(query)}`;
  const emailCampaigns = (extra?: string) =>
    extra ? `and(equals(messages.channel,'email'),${extra})` : "equals(messages.channel,'email')";

  async function listAudiences(credentials: KlaviyoCredentials): Promise<Audience[]> {
    const named = (kind: Audience['kind']) => (item: z.infer<typeof Named>) => ({
      id: item.id,
      name: item.attributes.name ?? item.id,
      kind,
    });
    const lists = await readAll(credentials.apiKey, '/api/lists', Named, 'lists');
    const segments = await readAll(credentials.apiKey, '/api/segments', Named, 'segments');
    return [...lists.map(named('list')), ...segments.map(named('segment'))];
  }

  async function verifyApiKey(apiKey: string) {
    try {
      const accounts = read(AccountsDocument, await request(apiKey, 'GET', '/api/accounts'), 'accounts');
      // Read-only probes of the other scopes hand-offs need, so a key that lacks them fails now with
      // "Scopes insufficient" rather than at send time (write access cannot be probed without writing).
      await request(
        apiKey,
        'GET',
        withQuery('/api/campaigns', { filter: emailCampaigns(), 'page[size]': '1' }),
      );
      await request(apiKey, 'GET', withQuery('/api/templates', { 'page[size]': '1' }));
      const audiences = await listAudiences({ apiKey });
      const account = accounts.data[0];
      return {
        accountName: account?.attributes.contact_information?.organization_name || account?.id || 'Klaviyo',
        accounts: audiences.map((audience) => ({
          kind: audience.kind,
          externalId: audience.id,
          name: audience.name,
        })),
      };
    } catch (error) {
      if (error instanceof PlatformError && error.failure.class === 'TOKEN_EXPIRED') {
        throw new CredentialsRejectedError('Invalid API key');
      }
      if (error instanceof PlatformError && error.failure.class === 'PERMISSION_REVOKED') {
        throw new CredentialsRejectedError('Scopes insufficient');
      }
      throw error;
    }
  }

  async function campaignStatus(apiKey: string, campaignId: string, signal?: AbortSignal) {
    const answer = await send(
      apiKey,
      'GET',
      `/api/campaigns/${encodeURIComponent(campaignId)}`,
      undefined,
      signal,
    );
    if (answer.status === 404) return null;
    if (!isSuccess(answer.status)) throw new PlatformError(failureOf(answer, apiKey));
    return read(CampaignDocument, answer.body, 'campaign').data.attributes;
  }

  /** The campaigns of one hand-off that are not cancelled (normally one; a lost answer is why we ask). */
  async function findCampaigns(apiKey: string, handOffKey: string, signal?: AbortSignal) {
    const filter = emailCampaigns(filterSafe.test(handOffKey) ? `contains(name,'${handOffKey}')` : undefined);
    const found = await readAll(
      apiKey,
      withQuery('/api/campaigns', { filter }),
      CampaignSummary,
      'campaigns',
      signal,
    );
    return found.filter(
      (campaign) => campaign.attributes.name.includes(handOffKey) && !isCancelled(campaign.attributes.status),
    );
  }

  async function handOff(context: HandOffContext<KlaviyoCredentials>): Promise<Published> {
    if (context.channel !== 'klaviyo_email') {
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: `Klaviyo cannot hand off ${context.channel}`,
      });
    }
    const parsed = contentSchemas.klaviyo_email.safeParse(context.content);
    if (!parsed.success) {
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: 'The klaviyo_email content is not valid',
      });
    }
    const content: KlaviyoEmailContent = parsed.data;
    const { apiKey } = context.credentials;
    const { signal, handOffKey } = context;
    const name = `${context.epicTitle} · ${handOffKey}`;
    // An empty value is how progress forgets a key (it is merged, never replaced).
    const progress: KlaviyoProgress = Object.fromEntries(
      Object.entries(context.progress).filter(([, value]) => value !== ''),
    );
    const save = async (update: KlaviyoProgress) => {
      Object.assign(progress, update);
      await context.saveProgress(update as PublicationProgress);
    };

    if (progress.campaignId) {
      // Resuming: the campaign an earlier attempt left may have been cancelled or deleted since (a cancel
      // whose answer was lost); then this hand-off starts over, under the same key.
      const current = await campaignStatus(apiKey, progress.campaignId, signal);
      if (!current || isCancelled(current.status)) {
        const forgotten = Object.fromEntries(
          Object.keys(progress).map((key) => [key, '']),
        ) as KlaviyoProgress;
        await context.saveProgress(forgotten as PublicationProgress);
        for (const key of Object.keys(progress)) delete progress[key as keyof KlaviyoProgress];
      } else if (hasSendJob(current.status)) {
        await save({ sendJobCreated: 'yes' });
      }
    }

    if (!progress.campaignId) {
      const [existing] = await findCampaigns(apiKey, handOffKey, signal);
      if (existing) {
        await save({
          campaignId: existing.id,
          ...(hasSendJob(existing.attributes.status) ? { sendJobCreated: 'yes' as const } : {}),
        });
      } else {
        const sendNow = context.scheduledAt.getTime() <= now().getTime() + immediateWithinMs;
        const created = await request(
          apiKey,
          'POST',
          '/api/campaigns',
          {
            data: {
              type: 'campaign',
              attributes: {
                name,
                audiences: {
                  included: content.audiences.included,
                  ...(content.audiences.excluded?.length ? { excluded: content.audiences.excluded } : {}),
                },
                send_strategy: sendNow
                  ? { method: 'immediate' }
                  : {
                      method: 'static',
                      datetime: klaviyoDateTime(context.scheduledAt),
                      options: { is_local: false },
                    },
                // Klaviyo defaults Smart Sending to on: always say what the task wants.
                send_options: { use_smart_sending: content.smartSending ?? false },
                'campaign-messages': {
                  data: [
                    {
                      type: 'campaign-message',
                      attributes: {
                        definition: {
                          channel: 'email',
                          label: context.epicTitle,
                          content: {
                            subject: content.subject,
                            ...(content.previewText ? { preview_text: content.previewText } : {}),
                            from_email: content.fromEmail,
                            from_label: content.fromName,
                            ...(content.replyTo ? { reply_to_email: content.replyTo } : {}),
                          },
                        },
                      },
                    },
                  ],
                },
              },
            },
          },
          signal,
        );
        await save({
          campaignId: read(Created, created, 'created campaign').data.id,
          ...(sendNow ? { sendsImmediately: 'yes' as const } : {}),
        });
      }
    }
    const campaignId = progress.campaignId as string;

    if (progress.sendJobCreated !== 'yes') {
      if (!progress.messageId) {
        const body = await request(
          apiKey,
          'GET',
          `/api/campaigns/${encodeURIComponent(campaignId)}/campaign-messages`,
          undefined,
          signal,
        );
        const message = read(MessagesDocument, body, 'campaign messages').data[0];
        if (!message) {
          throw new PlatformError({
            class: 'INVALID_REQUEST',
            message: 'The Klaviyo campaign has no message',
          });
        }
        // A template already on the message means an earlier attempt assigned it and lost its progress.
        const assigned = message.relationships?.template?.data?.id;
        await save({
          messageId: message.id,
          ...(assigned ? { templateId: assigned, templateAssigned: 'yes' as const } : {}),
        });
      }
      if (progress.templateAssigned !== 'yes') {
        if (!progress.templateId) {
          const created = await request(
            apiKey,
            'POST',
            '/api/templates',
            {
              data: {
                type: 'template',
                attributes: {
                  name,
                  editor_type: 'CODE',
                  html: content.html,
                  ...(content.text ? { text: content.text } : {}),
                },
              },
            },
            signal,
          );
          await save({ templateId: read(Created, created, 'created template').data.id });
        }
        await request(
          apiKey,
          'POST',
          '/api/campaign-message-assign-template',
          {
            data: {
              type: 'campaign-message',
              id: progress.messageId,
              relationships: { template: { data: { type: 'template', id: progress.templateId } } },
            },
          },
          signal,
        );
        await save({ templateAssigned: 'yes' });
      }
      if (
        progress.sendsImmediately !== 'yes' &&
        context.scheduledAt.getTime() <= now().getTime() + immediateWithinMs
      ) {
        // The campaign's time passed while its hand-off was retried: it sends as soon as Klaviyo can.
        await request(
          apiKey,
          'PATCH',
          `/api/campaigns/${encodeURIComponent(campaignId)}`,
          {
            data: {
              type: 'campaign',
              id: campaignId,
              attributes: { send_strategy: { method: 'immediate' } },
            },
          },
          signal,
        );
        await save({ sendsImmediately: 'yes' });
      }
      await context.beforeGoingLive();
      const answer = await send(
        apiKey,
        'POST',
        '/api/campaign-send-jobs',
        { data: { type: 'campaign-send-job', id: campaignId } },
        signal,
      );
      if (!isSuccess(answer.status)) {
        const failure = failureOf(answer, apiKey);
        // Klaviyo refuses a second send job: if a crashed attempt created one, the campaign status shows it.
        if (failure.class === 'INVALID_REQUEST') {
          const current = await campaignStatus(apiKey, campaignId, signal);
          if (!current || !hasSendJob(current.status)) throw new PlatformError(failure);
        } else {
          throw new PlatformError(failure);
        }
      }
      await save({ sendJobCreated: 'yes' });
    }

    return {
      externalId: campaignId,
      externalUrl: `${appBaseUrl}/campaign/${encodeURIComponent(campaignId)}/reports`,
    };
  }

  /** Cancels one campaign (a draft is deleted, a send job cancelled); resolves once it can no longer send. */
  async function cancelCampaign(apiKey: string, campaignId: string, sendJobKnown: boolean): Promise<void> {
    const id = encodeURIComponent(campaignId);
    if (!sendJobKnown) {
      // No send job recorded: normally a draft, which nothing will send. It is deleted so no half-built
      // Glowtify campaign lingers in the user's Klaviyo to be sent by hand; a send job created by a crashed
      // attempt shows in the status, and is cancelled below.
      const current = await campaignStatus(apiKey, campaignId);
      if (!current || isCancelled(current.status)) return;
      if (current.status === 'Draft') {
        const answer = await send(apiKey, 'DELETE', `/api/campaigns/${id}`);
        if (isSuccess(answer.status) || answer.status === 404) return;
        throw new PlatformError(failureOf(answer, apiKey));
      }
    }
    const answer = await send(apiKey, 'PATCH', `/api/campaign-send-jobs/${id}`, {
      data: { type: 'campaign-send-job', id: campaignId, attributes: { action: 'cancel' } },
    });
    if (isSuccess(answer.status) || answer.status === 404) return;
    const failure = failureOf(answer, apiKey);
    if (failure.class !== 'INVALID_REQUEST' && failure.class !== 'CONTENT_REJECTED') {
      throw new PlatformError(failure);
    }
    // Klaviyo answers a cancel it will not do with a 4xx, both when it is already cancelled (fine) and when
    // the send is too close (the 15-minute lock): the campaign's status tells which.
    const current = await campaignStatus(apiKey, campaignId);
    if (!current || isCancelled(current.status)) return;
    throw new HandOffLockedError(lockedMessage, campaignId);
  }

  async function cancelHandOff(context: {
    externalId: string | null;
    handOffKey: string | null;
    credentials: KlaviyoCredentials;
    progress: PublicationProgress;
  }): Promise<void> {
    const { apiKey } = context.credentials;
    const known = context.externalId || context.progress.campaignId || null;
    if (known) await cancelCampaign(apiKey, known, context.progress.sendJobCreated === 'yes');
    // Whatever else carries the key goes too: a campaign no answer ever named (created, then the answer was
    // lost), or one an attempt that outlived its time-out created beside the known one.
    if (!context.handOffKey) return;
    for (const campaign of await findCampaigns(apiKey, context.handOffKey)) {
      if (campaign.id !== known) await cancelCampaign(apiKey, campaign.id, false);
    }
  }

  async function handOffStatus(context: {
    externalId: string;
    credentials: KlaviyoCredentials;
  }): Promise<HandOffStatus> {
    const current = await campaignStatus(context.credentials.apiKey, context.externalId);
    if (!current) {
      return {
        state: 'failed',
        platformStatus: 'Not found',
        message: 'The campaign no longer exists in Klaviyo',
      };
    }
    const { status } = current;
    if (status === 'Sent' || status === 'Variations Sent') {
      return { state: 'sent', sentAt: current.send_time ? new Date(current.send_time) : null };
    }
    const reason = /^cancel+ed:\s*(.+)$/i.exec(status)?.[1];
    if (reason) {
      // "Cancelled: No Recipients", "…: Billing Limit", "…: Internal Error": Klaviyo stopped it, no person.
      return {
        state: 'failed',
        platformStatus: status,
        message: `Klaviyo cancelled the campaign: ${reason}`,
      };
    }
    if (isCancelled(status)) return { state: 'cancelled', platformStatus: status };
    return { state: 'pending', platformStatus: status };
  }

  // The periodic check asks the same questions as connecting does (accounts, then read access).
  const verifyCredentials = async (credentials: KlaviyoCredentials) => {
    await verifyApiKey(credentials.apiKey);
  };

  return {
    platform: 'klaviyo',
    verifyApiKey,
    connector: {
      kind: 'api_key',
      async connectWithApiKey(apiKey) {
        const verified = await verifyApiKey(apiKey);
        return { credentials: { apiKey }, expiresAt: null, accounts: verified.accounts };
      },
    },
    verifyCredentials,
    listAudiences,
    handOff,
    cancelHandOff,
    handOffStatus,
    collectMetrics: createKlaviyoMetrics({ send, failureOf, now, reportSpacingMs: options.reportSpacingMs }),
  };
}
