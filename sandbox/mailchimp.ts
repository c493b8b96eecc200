// Mailchimp simulator (tests and `npm run demo`): one loopback server playing login.mailchimp.com (consent
// page, token and metadata endpoints) and the account's data-center API (`/3.0/ping`, `/3.0/lists`, the
// campaign endpoints a hand-off uses), as strict as Mailchimp about codes, tokens and schedule times, answering
// in its shapes (OAuth errors, application/problem+json). Scheduled campaigns send once its clock passes them.
import { randomBytes } from 'node:crypto';
import { mailchimpReport } from './mailchimp-reports.ts';
import {
  type FailureMatch,
  type RecordedRequest,
  type SimulatorResponse,
  type SimulatorServer,
  startSimulatorServer,
} from './simulator-server.ts';

// Its own copy on purpose: an adapter that drifts to another version must fail against the simulator.
const simulatedVersion = '3.0';
const codeLifetimeMs = 10 * 60 * 1000;
const maxCount = 1000;

export const mailchimpSandboxClientId = '123456789012';
export const mailchimpSandboxClientSecret = 'glowtify-sandbox-mailchimp-secret';

export interface MailchimpSimulatorOptions {
  port?: number;
  clientId?: string;
  clientSecret?: string;
  /** The account's audiences (lists). */
  lists?: { id: string; name: string }[];
  /** The connecting user's role, as the metadata endpoint reports it. */
  role?: string;
  accountName?: string;
  dc?: string;
  /** The most lists one `/3.0/lists` answer holds, whatever `count` asks (tests lower it to page). */
  listsPageLimit?: number;
  /** The simulator's clock: code expiry, schedule checks and sends follow it. */
  now?: () => Date;
  /** How long a campaign stays `sending` before it is `sent` (default: sent the moment it starts). */
  sendingSeconds?: number;
  /** Marketing API requests one token may have open at once before a 429 (Mailchimp's 10); false: none. */
  simultaneousConnections?: number | false;
  /** How long each Marketing API request takes to answer (default 0), so requests can overlap. */
  latencyMs?: number;
}

export type MailchimpCampaignStatus =
  | 'save'
  | 'paused'
  | 'schedule'
  | 'sending'
  | 'sent'
  | 'canceled'
  | 'canceling'
  | 'archived';

/** A campaign as a test reads it (what Mailchimp holds, not its API shape). */
export interface MailchimpCampaignView {
  id: string;
  webId: number;
  status: MailchimpCampaignStatus;
  title: string;
  listId: string | null;
  subjectLine: string | null;
  previewText: string | null;
  fromName: string | null;
  replyTo: string | null;
  html: string | null;
  plainText: string | null;
  /** The quarter-hour it is scheduled for, ISO; null when not scheduled. */
  scheduleTime: string | null;
  /** When it started sending, ISO; null before. */
  sendStartedAt: string | null;
}

export type MailchimpFailureKind =
  | 'transient'
  | 'rate_limited'
  | 'forbidden'
  | 'throttled_403'
  | 'token_invalid'
  /** The metadata endpoint's refusal of a token: HTTP 200 `{"error":"invalid_token"}`. */
  | 'metadata_token_refused'
  /** A field-level refusal of what the user wrote (`Invalid Resource` with `errors[]` on the subject line). */
  | 'content_rejected';

export type MailchimpSimulator = SimulatorServer & {
  /** The next visit of the consent page redirects with `error=access_denied` and no code. */
  denyNextConsent(): void;
  /** The user disconnected the app in Mailchimp: every token issued so far is refused (401). */
  revokeTokens(): void;
  /** Makes the next matching requests fail the way Mailchimp fails them (its status, headers and body). */
  failWith(kind: MailchimpFailureKind, rule: FailureMatch): void;
  setLatency(ms: number): void;
  /** When each request refused for going past the simultaneous connections was received. */
  connectionRefusals(): Date[];
  /** The most Marketing API requests one token had open at once since the last call; resets it. */
  takeConnectionPeak(): number;
  /** Marketing API requests open now, all tokens together. */
  openConnections(): number;
  /** Every campaign that exists (deleted ones are gone, as in Mailchimp). */
  campaigns(): MailchimpCampaignView[];
  /**
   * Mailchimp starts delivering a scheduled campaign now (its clock ahead of ours, or someone pressed send in
   * Mailchimp): it stays `sending` for `forMs` (default: until the test ends), and can no longer be unscheduled.
   */
  beginSending(campaignId: string, forMs?: number): void;
};

export interface CampaignRecord {
  id: string;
  webId: number;
  type: string;
  status: MailchimpCampaignStatus;
  createdAt: Date;
  listId: string | null;
  settings: {
    subject_line?: string;
    preview_text?: string;
    title?: string;
    from_name?: string;
    reply_to?: string;
  };
  html: string | null;
  plainText: string | null;
  scheduleTime: Date | null;
  sendStartedAt: Date | null;
  /** How long it stays `sending` once started. */
  sendingMs: number;
}

/** A refusal in Mailchimp's problem+json shape, thrown from inside a handler and answered as is. */
export class Refusal extends Error {
  constructor(readonly response: SimulatorResponse) {
    super(`Mailchimp refusal ${response.status}`);
  }
}

interface AuthorizationCode {
  redirectUri: string;
  issuedAt: number;
  used: boolean;
}

const problemType = 'https://mailchimp.com/developer/marketing/docs/errors/';

export function problem(
  status: number,
  title: string,
  detail: string,
  errors?: { field: string; message: string }[],
): SimulatorResponse {
  return {
    status,
    headers: { 'content-type': 'application/problem+json; charset=utf-8' },
    body: {
      type: problemType,
      title,
      status,
      detail,
      instance: randomBytes(16).toString('hex'),
      ...(errors ? { errors } : {}),
    },
  };
}

const notFound = () =>
  new Refusal(problem(404, 'Resource Not Found', 'The requested resource could not be found.'));
const badRequest = (detail: string) => new Refusal(problem(400, 'Bad Request', detail));
const invalidResource = (errors: { field: string; message: string }[]) =>
  new Refusal(
    problem(
      400,
      'Invalid Resource',
      "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
      errors,
    ),
  );

/** Mailchimp writes times as ISO 8601 with +00:00. */
const mailchimpTime = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, '+00:00');

const campaignTypes = ['regular', 'plaintext', 'absplit', 'rss', 'variate'];
const campaignStatuses: readonly MailchimpCampaignStatus[] = [
  'save',
  'paused',
  'schedule',
  'sending',
  'sent',
  'canceled',
  'canceling',
  'archived',
];
const settingsKeys = [
  'subject_line',
  'preview_text',
  'title',
  'from_name',
  'reply_to',
  'use_conversation',
  'to_name',
  'folder_id',
  'authenticate',
  'auto_footer',
  'inline_css',
  'auto_tweet',
  'auto_fb_post',
  'fb_comments',
  'template_id',
] as const;
// (unconfirmed) Mailchimp's own editor stops a subject line at 150 characters; the API is taken to refuse more.
const maxSubjectLine = 150;
const quarterHourMs = 15 * 60 * 1000;
const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Keeps only the dotted paths `fields` names (Mailchimp's partial responses), e.g. `campaigns.settings.title`. */
function project(value: unknown, paths: string[][]): unknown {
  if (paths.some((path) => path.length === 0)) return value;
  if (Array.isArray(value)) return value.map((item) => project(item, paths));
  if (!isObject(value)) return value;
  const result: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    const below = paths.filter((path) => path[0] === key).map((path) => path.slice(1));
    if (below.length > 0) result[key] = project(inner, below);
  }
  return result;
}

const oauthError = (status: number, error: string, description: string): SimulatorResponse => ({
  status,
  body: { error, error_description: description },
});

const apiKeyInvalid = () =>
  problem(
    401,
    'API Key Invalid',
    "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
  );

export async function startMailchimpSimulator(
  options: MailchimpSimulatorOptions = {},
): Promise<MailchimpSimulator> {
  const clientId = options.clientId ?? mailchimpSandboxClientId;
  const clientSecret = options.clientSecret ?? mailchimpSandboxClientSecret;
  const lists = options.lists ?? [
    { id: 'a1b2c3d4e5', name: 'Glow Newsletter' },
    { id: 'f6a7b8c9d0', name: 'VIP customers' },
  ];
  const dc = options.dc ?? 'us19';
  const listsPageLimit = options.listsPageLimit ?? maxCount;
  const clock = () => (options.now ?? (() => new Date()))().getTime();
  const codes = new Map<string, AuthorizationCode>();
  const tokens = new Map<string, { revoked: boolean }>();
  let denyNext = false;
  let url = '';

  const tokenOf = (request: RecordedRequest, scheme: 'Bearer' | 'OAuth'): string | null => {
    const match = new RegExp(`^${scheme}\\s+(.+)$`, 'i').exec(request.headers.authorization ?? '');
    return match?.[1]?.trim() ?? null;
  };
  const validToken = (value: string | null) => value !== null && tokens.get(value)?.revoked === false;

  const consent = (request: RecordedRequest): SimulatorResponse => {
    const {
      response_type: responseType,
      client_id: askedClient,
      redirect_uri: redirectUri,
      state,
    } = request.query;
    // Mailchimp shows an error page (no redirect) when the app itself is wrong.
    if (askedClient !== clientId)
      return { status: 400, body: 'Invalid client_id: no app is registered with this id' };
    if (!redirectUri || !/^https?:\/\//.test(redirectUri))
      return { status: 400, body: 'Invalid redirect_uri: it must match the app’s registered callback' };
    const back = new URL(redirectUri);
    if (state !== undefined) back.searchParams.set('state', state);
    if (responseType !== 'code') {
      back.searchParams.set('error', 'unsupported_response_type');
      return { status: 302, headers: { location: back.toString() } };
    }
    if (denyNext) {
      denyNext = false;
      // (unconfirmed) Mailchimp's denial parameters.
      back.searchParams.set('error', 'access_denied');
      return { status: 302, headers: { location: back.toString() } };
    }
    const code = randomBytes(16).toString('hex');
    codes.set(code, { redirectUri, issuedAt: clock(), used: false });
    back.searchParams.set('code', code);
    return { status: 302, headers: { location: back.toString() } };
  };

  const token = (request: RecordedRequest): SimulatorResponse => {
    const form =
      typeof request.body === 'object' && request.body !== null
        ? (request.body as Record<string, string>)
        : {};
    if (!(request.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded'))
      return oauthError(400, 'invalid_request', 'The request must be form encoded');
    if (form.grant_type !== 'authorization_code')
      return oauthError(400, 'unsupported_grant_type', 'Only authorization_code is supported');
    if (form.client_id !== clientId || form.client_secret !== clientSecret)
      return oauthError(401, 'invalid_client', 'Invalid client credentials');
    const code = form.code ? codes.get(form.code) : undefined;
    if (!code || code.used || clock() - code.issuedAt > codeLifetimeMs)
      return oauthError(400, 'invalid_grant', 'Invalid authorization code');
    if (form.redirect_uri !== code.redirectUri)
      return oauthError(400, 'invalid_grant', 'Redirect URI mismatch');
    code.used = true;
    const value = randomBytes(16).toString('hex');
    tokens.set(value, { revoked: false });
    return { status: 200, body: { access_token: value, expires_in: 0, scope: null } };
  };

  const metadata = (request: RecordedRequest): SimulatorResponse => {
    // (community report, unconfirmed) the metadata endpoint refuses a bad token with HTTP 200.
    if (!validToken(tokenOf(request, 'OAuth'))) return oauthError(200, 'invalid_token', 'Invalid token');
    return {
      status: 200,
      body: {
        dc,
        role: options.role ?? 'owner',
        accountname: options.accountName ?? 'Glow Beauty',
        user_id: 41234567,
        login: {
          email: 'owner@glow.example',
          avatar: null,
          login_id: 41234567,
          login_name: 'glowowner',
          login_email: 'owner@glow.example',
        },
        login_url: 'https://login.mailchimp.com',
        // The data center's API host: the simulator itself, so `{api_endpoint}/3.0/...` reaches it.
        api_endpoint: url,
      },
    };
  };

  const listsPage = (request: RecordedRequest): SimulatorResponse => {
    const count = request.query.count === undefined ? 10 : Number(request.query.count);
    const offset = request.query.offset === undefined ? 0 : Number(request.query.offset);
    if (!Number.isInteger(count) || count < 1 || count > maxCount || !Number.isInteger(offset) || offset < 0)
      return problem(
        400,
        'Invalid Resource',
        `count must be between 1 and ${maxCount} and offset a non-negative integer`,
      );
    const slice = lists.slice(offset, offset + Math.min(count, listsPageLimit));
    return {
      status: 200,
      body: {
        lists: slice.map((list) => ({
          id: list.id,
          web_id: 100000 + lists.indexOf(list),
          name: list.name,
          stats: { member_count: 0 },
        })),
        total_items: lists.length,
        constraints: { may_create: true, max_instances: -1, current_total_instances: lists.length },
      },
    };
  };

  const campaigns = new Map<string, CampaignRecord>();
  let nextWebId = 410001;
  const sendingMs = (options.sendingSeconds ?? 0) * 1000;
  const listName = (id: string | null) => lists.find((list) => list.id === id)?.name ?? '';

  /** Time moves on between requests: a campaign whose time has come is sending, then sent. */
  const advance = (campaign: CampaignRecord) => {
    const at = clock();
    if (campaign.status === 'schedule' && campaign.scheduleTime && campaign.scheduleTime.getTime() <= at) {
      campaign.status = 'sending';
      campaign.sendStartedAt = campaign.scheduleTime;
    }
    if (
      campaign.status === 'sending' &&
      campaign.sendStartedAt &&
      campaign.sendStartedAt.getTime() + campaign.sendingMs <= at
    ) {
      campaign.status = 'sent';
    }
    return campaign;
  };

  const campaignOr404 = (id: string) => {
    const campaign = campaigns.get(id);
    if (!campaign) throw notFound();
    return advance(campaign);
  };

  const campaignResource = (campaign: CampaignRecord, origin: string) => ({
    id: campaign.id,
    web_id: campaign.webId,
    type: campaign.type,
    create_time: mailchimpTime(campaign.createdAt),
    archive_url: `http://eepurl.com/${campaign.id.slice(0, 6)}`,
    long_archive_url: `https://us19.campaign-archive.com/?u=0&id=${campaign.id}`,
    status: campaign.status,
    emails_sent: campaign.status === 'sent' ? 1 : 0,
    // (unconfirmed) a scheduled campaign reports its schedule time here; a sent one, when it went out.
    send_time: campaign.sendStartedAt
      ? mailchimpTime(campaign.sendStartedAt)
      : campaign.scheduleTime
        ? mailchimpTime(campaign.scheduleTime)
        : '',
    content_type: 'html',
    needs_block_refresh: false,
    resendable: false,
    recipients: {
      list_id: campaign.listId ?? '',
      list_is_active: campaign.listId !== null,
      list_name: listName(campaign.listId),
      segment_text: '',
      recipient_count: 0,
    },
    settings: {
      subject_line: campaign.settings.subject_line ?? '',
      preview_text: campaign.settings.preview_text ?? '',
      title: campaign.settings.title ?? '',
      from_name: campaign.settings.from_name ?? '',
      reply_to: campaign.settings.reply_to ?? '',
      use_conversation: false,
      to_name: '',
      folder_id: '',
      authenticate: true,
      auto_footer: false,
      inline_css: false,
      auto_tweet: false,
      fb_comments: true,
      timewarp: false,
      template_id: 0,
      drag_and_drop: false,
    },
    tracking: { opens: true, html_clicks: true, text_clicks: false, goal_tracking: false, ecomm360: false },
    delivery_status: { enabled: false },
    _links: [
      { rel: 'self', href: `${origin}/3.0/campaigns/${campaign.id}`, method: 'GET' },
      { rel: 'parent', href: `${origin}/3.0/campaigns`, method: 'GET' },
    ],
  });

  const jsonBody = (request: RecordedRequest): Record<string, unknown> => {
    if (isObject(request.body)) return request.body;
    if (request.body === null) return {};
    throw new Refusal(problem(400, 'JSON Parse Error', 'We encountered an unspecified JSON parsing error.'));
  };

  const rejectUnknown = (body: Record<string, unknown>, allowed: readonly string[], prefix = '') => {
    const unknown = Object.keys(body).filter((key) => !allowed.includes(key));
    if (unknown.length > 0) {
      throw invalidResource(
        unknown.map((key) => ({ field: `${prefix}${key}`, message: 'This field is not allowed.' })),
      );
    }
  };

  const readSettings = (value: unknown): CampaignRecord['settings'] => {
    if (value === undefined) return {};
    if (!isObject(value))
      throw invalidResource([{ field: 'settings', message: 'Schema describes object, other found instead' }]);
    rejectUnknown(value, settingsKeys, 'settings.');
    const errors: { field: string; message: string }[] = [];
    const settings: CampaignRecord['settings'] = {};
    for (const key of ['subject_line', 'preview_text', 'title', 'from_name', 'reply_to'] as const) {
      const given = value[key];
      if (given === undefined) continue;
      if (typeof given !== 'string') {
        errors.push({ field: `settings.${key}`, message: 'Schema describes string, other found instead' });
        continue;
      }
      settings[key] = given;
    }
    if (settings.reply_to !== undefined && !emailPattern.test(settings.reply_to))
      errors.push({ field: 'settings.reply_to', message: 'This value should be a valid email address.' });
    if (settings.subject_line !== undefined && settings.subject_line.length > maxSubjectLine)
      errors.push({
        field: 'settings.subject_line',
        message: `The subject line must be ${maxSubjectLine} characters or fewer.`,
      });
    if (errors.length > 0) throw invalidResource(errors);
    return settings;
  };

  const createCampaign = (request: RecordedRequest, origin: string): SimulatorResponse => {
    const body = jsonBody(request);
    rejectUnknown(body, [
      'type',
      'recipients',
      'settings',
      'variate_settings',
      'tracking',
      'rss_opts',
      'social_card',
      'content_type',
    ]);
    if (typeof body.type !== 'string' || !campaignTypes.includes(body.type))
      throw invalidResource([{ field: 'type', message: 'Data did not match any of the enum values.' }]);
    if (body.type !== 'regular')
      throw badRequest(`This simulator plays regular campaigns only, not ${body.type} ones.`);
    let listId: string | null = null;
    if (body.recipients !== undefined) {
      if (!isObject(body.recipients) || typeof body.recipients.list_id !== 'string')
        throw invalidResource([{ field: 'recipients.list_id', message: 'Schema describes string' }]);
      rejectUnknown(body.recipients, ['list_id', 'segment_opts'], 'recipients.');
      listId = body.recipients.list_id;
      if (!lists.some((list) => list.id === listId))
        throw invalidResource([
          { field: 'recipients.list_id', message: `The list ${listId} could not be found.` },
        ]);
    }
    const campaign: CampaignRecord = {
      id: randomBytes(5).toString('hex'),
      webId: nextWebId++,
      type: body.type,
      status: 'save',
      createdAt: new Date(clock()),
      listId,
      settings: readSettings(body.settings),
      html: null,
      plainText: null,
      scheduleTime: null,
      sendStartedAt: null,
      sendingMs,
    };
    campaigns.set(campaign.id, campaign);
    return { status: 200, body: campaignResource(campaign, origin) };
  };

  const listCampaigns = (request: RecordedRequest, origin: string): SimulatorResponse => {
    const { query } = request;
    const count = query.count === undefined ? 10 : Number(query.count);
    const offset = query.offset === undefined ? 0 : Number(query.offset);
    if (!Number.isInteger(count) || count < 1 || count > maxCount || !Number.isInteger(offset) || offset < 0)
      throw invalidResource([
        { field: 'count', message: `count must be between 1 and ${maxCount}, offset non-negative` },
      ]);
    if (query.status !== undefined && !(campaignStatuses as readonly string[]).includes(query.status))
      throw invalidResource([{ field: 'status', message: 'Data did not match any of the enum values.' }]);
    if (query.type !== undefined && !campaignTypes.includes(query.type))
      throw invalidResource([{ field: 'type', message: 'Data did not match any of the enum values.' }]);
    if (query.sort_field !== undefined && !['create_time', 'send_time'].includes(query.sort_field))
      throw invalidResource([{ field: 'sort_field', message: 'Data did not match any of the enum values.' }]);
    if (query.sort_dir !== undefined && !['ASC', 'DESC'].includes(query.sort_dir))
      throw invalidResource([{ field: 'sort_dir', message: 'Data did not match any of the enum values.' }]);
    const bound = (name: string) => {
      const value = query[name];
      if (value === undefined) return null;
      const at = Date.parse(value);
      if (Number.isNaN(at))
        throw invalidResource([{ field: name, message: 'Please provide a valid ISO 8601 date-time.' }]);
      return at;
    };
    const since = bound('since_create_time');
    const before = bound('before_create_time');
    const matching = [...campaigns.values()]
      .map(advance)
      .filter(
        (campaign) =>
          (query.status === undefined || campaign.status === query.status) &&
          (query.type === undefined || campaign.type === query.type) &&
          (query.list_id === undefined || campaign.listId === query.list_id) &&
          (since === null || campaign.createdAt.getTime() > since) &&
          (before === null || campaign.createdAt.getTime() < before),
      )
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    if (query.sort_dir === 'DESC') matching.reverse();
    const body = {
      campaigns: matching.slice(offset, offset + count).map((campaign) => campaignResource(campaign, origin)),
      total_items: matching.length,
      _links: [{ rel: 'self', href: `${origin}/3.0/campaigns`, method: 'GET' }],
    };
    const fields = query.fields?.split(',').map((path) => path.trim().split('.'));
    return { status: 200, body: fields ? project(body, fields) : body };
  };

  const setContent = (campaign: CampaignRecord, request: RecordedRequest): SimulatorResponse => {
    const body = jsonBody(request);
    rejectUnknown(body, ['html', 'plain_text', 'url', 'template', 'archive', 'variate_contents']);
    if (campaign.status !== 'save' && campaign.status !== 'paused')
      throw badRequest(`The content of a campaign in status ${campaign.status} cannot be changed.`);
    for (const key of ['html', 'plain_text'] as const) {
      if (body[key] !== undefined && typeof body[key] !== 'string')
        throw invalidResource([{ field: key, message: 'Schema describes string, other found instead' }]);
    }
    if (typeof body.html === 'string') campaign.html = body.html;
    if (typeof body.plain_text === 'string') campaign.plainText = body.plain_text;
    return {
      status: 200,
      body: { plain_text: campaign.plainText ?? '', html: campaign.html ?? '', _links: [] },
    };
  };

  /** What Mailchimp's send checklist asks before a campaign may be scheduled or sent. */
  const checkReady = (campaign: CampaignRecord) => {
    const { settings } = campaign;
    if (
      !campaign.listId ||
      !campaign.html ||
      !settings.subject_line ||
      !settings.from_name ||
      !settings.reply_to
    )
      throw badRequest('Your Campaign is not ready to send.');
  };

  const scheduleCampaign = (campaign: CampaignRecord, request: RecordedRequest): SimulatorResponse => {
    const body = jsonBody(request);
    rejectUnknown(body, ['schedule_time', 'timewarp', 'batch_delivery']);
    if (typeof body.schedule_time !== 'string')
      throw invalidResource([{ field: 'schedule_time', message: 'Required fields were not provided' }]);
    const at = Date.parse(body.schedule_time);
    if (Number.isNaN(at))
      throw invalidResource([
        { field: 'schedule_time', message: 'Please provide a valid ISO 8601 date-time.' },
      ]);
    if (campaign.status !== 'save' && campaign.status !== 'paused')
      throw badRequest(`This campaign cannot be scheduled: it is ${campaign.status}.`);
    // Mailchimp's refusals say little ("This campaign cannot be scheduled: ."); the reason is added here.
    if (at % quarterHourMs !== 0)
      throw badRequest(
        'This campaign cannot be scheduled: campaigns may only be scheduled on the quarter-hour (:00, :15, :30, :45).',
      );
    if (at <= clock())
      throw badRequest('This campaign cannot be scheduled: the schedule time is in the past.');
    checkReady(campaign);
    campaign.status = 'schedule';
    campaign.scheduleTime = new Date(at);
    return { status: 204 };
  };

  const unscheduleCampaign = (campaign: CampaignRecord): SimulatorResponse => {
    if (campaign.status === 'sending' || campaign.status === 'sent')
      throw badRequest(`This campaign cannot be unscheduled: it is ${campaign.status}.`);
    if (campaign.status !== 'schedule') throw badRequest('This campaign is not scheduled.');
    campaign.status = 'save';
    campaign.scheduleTime = null;
    return { status: 204 };
  };

  const sendCampaign = (campaign: CampaignRecord): SimulatorResponse => {
    if (campaign.status !== 'save' && campaign.status !== 'paused')
      throw badRequest(`This campaign cannot be sent: it is ${campaign.status}.`);
    checkReady(campaign);
    campaign.status = 'sending';
    campaign.scheduleTime = null;
    campaign.sendStartedAt = new Date(clock());
    advance(campaign);
    return { status: 204 };
  };

  const deleteCampaign = (campaign: CampaignRecord): SimulatorResponse => {
    if (campaign.status === 'schedule' || campaign.status === 'sending')
      throw badRequest(
        `A campaign that is ${campaign.status === 'schedule' ? 'scheduled' : 'sending'} cannot be deleted.`,
      );
    campaigns.delete(campaign.id);
    return { status: 204 };
  };

  /** The campaign endpoints, under `/3.0`; null when the path is not one of them. */
  const campaignRoute = (request: RecordedRequest, resource: string): SimulatorResponse | null => {
    const origin = `http://${request.headers.host ?? '127.0.0.1'}`;
    const { method } = request;
    if (resource === '/campaigns') {
      if (method === 'POST') return createCampaign(request, origin);
      if (method === 'GET') return listCampaigns(request, origin);
      throw new Refusal(problem(405, 'Method Not Allowed', 'The requested method is not allowed.'));
    }
    const match = /^\/campaigns\/([^/]+)(\/content|\/actions\/(schedule|unschedule|send))?$/.exec(resource);
    if (!match) return null;
    const campaign = campaignOr404(decodeURIComponent(match[1] as string));
    const [, , sub, action] = match;
    if (!sub) {
      if (method === 'GET') return { status: 200, body: campaignResource(campaign, origin) };
      if (method === 'DELETE') return deleteCampaign(campaign);
    } else if (sub === '/content') {
      if (method === 'PUT') return setContent(campaign, request);
    } else if (method === 'POST') {
      if (action === 'schedule') return scheduleCampaign(campaign, request);
      if (action === 'unschedule') return unscheduleCampaign(campaign);
      if (action === 'send') return sendCampaign(campaign);
    }
    throw new Refusal(problem(405, 'Method Not Allowed', 'The requested method is not allowed.'));
  };

  const handler = (request: RecordedRequest): SimulatorResponse => {
    const { method, path } = request;
    if (path === '/oauth2/authorize' && method === 'GET') return consent(request);
    if (path === '/oauth2/token' && method === 'POST') return token(request);
    if (path === '/oauth2/metadata' && method === 'GET') return metadata(request);
    const api = /^\/(\d+\.\d+)(\/.*)$/.exec(path);
    if (!api || api[1] !== simulatedVersion)
      return problem(404, 'Resource Not Found', 'The requested resource could not be found.');
    if (!validToken(tokenOf(request, 'Bearer'))) return apiKeyInvalid();
    const resource = api[2];
    if (resource === '/ping' && method === 'GET')
      return { status: 200, body: { health_status: "Everything's Chimpy!" } };
    if (resource === '/lists' && method === 'GET') return listsPage(request);
    const found = (id: string) => {
      const campaign = campaigns.get(id);
      return campaign && advance(campaign);
    };
    const report = mailchimpReport(request, resource ?? '', { campaign: found, now: clock() });
    if (report) return report;
    try {
      const answer = resource === undefined ? null : campaignRoute(request, resource);
      if (answer) return answer;
    } catch (error) {
      if (error instanceof Refusal) return error.response;
      throw error;
    }
    return problem(404, 'Resource Not Found', 'The requested resource could not be found.');
  };

  const failure = (kind: MailchimpFailureKind): SimulatorResponse => {
    switch (kind) {
      case 'transient':
        return problem(
          503,
          'Service Unavailable',
          'This service is temporarily unavailable. Please try again later.',
        );
      case 'rate_limited':
        return problem(
          429,
          'Too Many Requests',
          'You have exceeded the limit of 10 simultaneous connections.',
        );
      case 'forbidden':
        return problem(403, 'Forbidden', "You don't have permission to access this resource.");
      case 'throttled_403':
        return { status: 403, body: '' };
      case 'token_invalid':
        return apiKeyInvalid();
      case 'metadata_token_refused':
        return oauthError(200, 'invalid_token', 'Invalid token');
      case 'content_rejected':
        return invalidResource([
          {
            field: 'settings.subject_line',
            message: `The subject line must be ${maxSubjectLine} characters or fewer.`,
          },
        ]).response;
    }
  };

  // Mailchimp counts the connections one user has open: past the limit a request is refused with a 429.
  const connectionsAtOnce =
    options.simultaneousConnections === false ? null : (options.simultaneousConnections ?? 10);
  let latencyMs = options.latencyMs ?? 0;
  const open = new Map<string, number>();
  const refusedConnections: Date[] = [];
  let peak = 0;
  const connectionLimited = async (request: RecordedRequest): Promise<SimulatorResponse> => {
    if (!request.path.startsWith(`/${simulatedVersion}/`)) return handler(request);
    const token = request.headers.authorization ?? '';
    const atOnce = (open.get(token) ?? 0) + 1;
    if (connectionsAtOnce !== null && atOnce > connectionsAtOnce) {
      refusedConnections.push(new Date(clock()));
      return problem(
        429,
        'Too Many Requests',
        `You have exceeded the limit of ${connectionsAtOnce} simultaneous connections.`,
      );
    }
    open.set(token, atOnce);
    peak = Math.max(peak, atOnce);
    try {
      if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      return handler(request);
    } finally {
      open.set(token, (open.get(token) ?? 1) - 1);
    }
  };

  const server = await startSimulatorServer(connectionLimited, {
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  url = server.url;
  return Object.assign(server, {
    denyNextConsent() {
      denyNext = true;
    },
    revokeTokens() {
      for (const issued of tokens.values()) issued.revoked = true;
    },
    failWith(kind: MailchimpFailureKind, rule: FailureMatch) {
      server.failNext({ ...rule, response: failure(kind) });
    },
    setLatency(ms: number) {
      latencyMs = ms;
    },
    connectionRefusals: () => [...refusedConnections],
    openConnections: () => [...open.values()].reduce((sum, count) => sum + count, 0),
    takeConnectionPeak() {
      const seen = peak;
      peak = 0;
      return seen;
    },
    campaigns: (): MailchimpCampaignView[] =>
      [...campaigns.values()].map(advance).map((campaign) => ({
        id: campaign.id,
        webId: campaign.webId,
        status: campaign.status,
        title: campaign.settings.title ?? '',
        listId: campaign.listId,
        subjectLine: campaign.settings.subject_line ?? null,
        previewText: campaign.settings.preview_text ?? null,
        fromName: campaign.settings.from_name ?? null,
        replyTo: campaign.settings.reply_to ?? null,
        html: campaign.html,
        plainText: campaign.plainText,
        scheduleTime: campaign.scheduleTime?.toISOString() ?? null,
        sendStartedAt: campaign.sendStartedAt?.toISOString() ?? null,
      })),
    beginSending(campaignId: string, forMs = Number.POSITIVE_INFINITY) {
      const campaign = campaigns.get(campaignId);
      if (!campaign || advance(campaign).status !== 'schedule')
        throw new Error(`campaign ${campaignId} is not scheduled`);
      campaign.status = 'sending';
      campaign.sendStartedAt = new Date(clock());
      campaign.sendingMs = forMs;
    },
  });
}
