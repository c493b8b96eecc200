// Klaviyo simulator (tests and `npm run demo`): the campaign API subset Glowtify uses, in 2025-01-15+ shapes,
// as strict as Klaviyo about headers, scopes, filters and bodies, answering in Klaviyo's error shape.
import { randomBytes, randomUUID } from 'node:crypto';
import { defaultKlaviyoMetrics, klaviyoReportRoutes } from './klaviyo-reports.ts';
import {
  type RecordedRequest,
  type RequestMatch,
  type SimulatorResponse,
  type SimulatorServer,
  startSimulatorServer,
} from './simulator-server.ts';

export interface KlaviyoSimulatorOptions {
  port?: number;
  /** Private API keys the account accepts, with their scopes; `x:write` implies `x:read`, as in Klaviyo. */
  apiKeys?: Record<string, { scopes: string[] }>;
  lists?: { id: string; name: string }[];
  segments?: { id: string; name: string }[];
  /** Klaviyo's help pages lock edits this close to the send time (15 minutes); tests lower it. */
  editLockSeconds?: number;
  now?: () => Date;
  /** The account's organization name, as `GET /api/accounts` reports it. */
  organizationName?: string;
  /** The account's metrics (`GET /api/metrics`); default includes "Placed Order". */
  metrics?: { id: string; name: string }[];
}

export type KlaviyoSendJobState = 'none' | 'queued' | 'cancelled' | 'complete';

export interface KlaviyoCampaignView {
  id: string;
  name: string;
  status: string;
  /** When Klaviyo will send (or sent) it, ISO; null for an immediate send strategy. */
  sendAt: string | null;
  audiences: unknown;
  /** What the creator sent in `send_options.use_smart_sending`; undefined when it left Klaviyo's default. */
  smartSending: boolean | undefined;
  templateHtml: string | null;
  sendJob: KlaviyoSendJobState;
}

export type KlaviyoFailureKind =
  | 'transient'
  | 'rate_limited'
  | 'invalid_key'
  | 'content_rejected'
  | 'sender_not_authorized'
  /** A send-job change refused as the campaign's edit lock does (too close to the send). */
  | 'locked';

export type KlaviyoSimulator = SimulatorServer & {
  campaigns(): KlaviyoCampaignView[];
  /** Klaviyo's answer for this failure, for a held request to get instead of its own. */
  failureAnswer(kind: KlaviyoFailureKind): SimulatorResponse;
  /** Makes the next matching requests fail the way Klaviyo fails them (its status, headers and body). */
  failWith(kind: KlaviyoFailureKind, rule: RequestMatch & { retryAfterSeconds?: number }): void;
  /** Someone deleted the campaign in Klaviyo's app (the API refuses to delete a sent one). */
  deleteCampaign(id: string): void;
};

export const klaviyoScopes = [
  'accounts:read',
  'campaigns:read',
  'campaigns:write',
  'lists:read',
  'metrics:read',
  'segments:read',
  'templates:read',
  'templates:write',
];

/** The key `npm run demo` connects with; any string works once it is listed in `apiKeys`. */
export const klaviyoSandboxApiKey = 'pk_sandbox_glowtify_demo';

// The simulator speaks the 2025-01-15+ body shapes only: older revisions had other shapes (options_static,
// messages without `definition`), and 2026-10-15 moved to the omnichannel campaign API.
const oldestRevision = '2025-01-15';
const newestRevision = '2026-07-15';
const jsonApi = 'application/vnd.api+json';

export type Json = Record<string, unknown>;

interface CampaignRecord {
  id: string;
  name: string;
  status: string;
  audiences: { included: string[]; excluded?: string[] | null };
  sendStrategy: Json;
  sendOptions: Json | undefined;
  trackingOptions: Json | undefined;
  sendAt: Date | null;
  smartSending: boolean | undefined;
  createdAt: Date;
  updatedAt: Date;
  scheduledAt: Date | null;
  sendJob: KlaviyoSendJobState;
  messageIds: string[];
}

interface MessageRecord {
  id: string;
  campaignId: string;
  definition: Json;
  templateId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

interface TemplateRecord {
  id: string;
  name: string;
  editorType: string;
  html: string;
  text: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A refusal in Klaviyo's shape, thrown from deep inside a handler and answered as is. */
export class Refusal extends Error {
  constructor(readonly response: SimulatorResponse) {
    super(`Klaviyo refusal ${response.status}`);
  }
}

function errorBody(status: number, code: string, title: string, detail: string, source?: Json) {
  return { errors: [{ id: randomUUID(), status, code, title, detail, ...(source ? { source } : {}) }] };
}

export function refusal(
  status: number,
  code: string,
  title: string,
  detail: string,
  source?: Json,
  headers?: Record<string, string>,
): Refusal {
  return new Refusal({
    status,
    headers: { 'content-type': jsonApi, ...(headers ?? {}) },
    body: errorBody(status, code, title, detail, source),
  });
}

export function invalid(detail: string, source?: Json): Refusal {
  return refusal(400, 'invalid', 'Invalid input.', detail, source);
}

function notFound(detail: string): Refusal {
  return refusal(404, 'not_found', 'Not found.', detail);
}

function conflict(detail: string): Refusal {
  return refusal(409, 'conflict', 'Conflict.', detail);
}

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function klaviyoTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Klaviyo's ids are ULIDs: 26 Crockford characters whose time prefix starts with "01" these years. */
function ulidLike(): string {
  return `01${Array.from(randomBytes(24), (byte) => crockford[byte % 32]).join('')}`;
}

const alphanumeric = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
function shortId(): string {
  return Array.from(randomBytes(6), (byte) => alphanumeric[byte % alphanumeric.length]).join('');
}

export function rejectUnknownKeys(
  value: Json,
  allowed: readonly string[],
  resource: string,
  pointer: string,
) {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw invalid(`'${key}' is not a valid field for the resource '${resource}'.`, {
        pointer: `${pointer}/${key}`,
      });
    }
  }
}

export function requireObject(value: unknown, pointer: string): Json {
  if (!isObject(value)) throw invalid(`${pointer.split('/').pop()} must be an object.`, { pointer });
  return value;
}

const isoDateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

export function parseDateTime(value: unknown, pointer: string): Date {
  if (typeof value !== 'string' || !isoDateTime.test(value)) {
    throw invalid(`'${String(value)}' is not a valid datetime.`, { pointer });
  }
  const withZone = /(Z|[+-]\d{2}:?\d{2})$/.test(value) ? value : `${value}Z`;
  const date = new Date(withZone);
  if (Number.isNaN(date.getTime())) throw invalid(`'${value}' is not a valid datetime.`, { pointer });
  return date;
}

const email = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

// --- filter expressions (https://developers.klaviyo.com/en/reference/api_overview#filtering) -------------

type FilterScalar = string | number | boolean | null;
export type FilterNode =
  | { kind: 'call'; name: string; args: FilterNode[] }
  | { kind: 'field'; path: string }
  | { kind: 'value'; value: FilterScalar | FilterScalar[] };

export class FilterError extends Error {}

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let index = 0;
  while (index < text.length) {
    const char = text[index] as string;
    if (/\s/.test(char)) {
      index += 1;
    } else if ('(),[]'.includes(char)) {
      tokens.push(char);
      index += 1;
    } else if (char === "'" || char === '"') {
      let end = index + 1;
      let literal = '';
      while (end < text.length && text[end] !== char) {
        if (text[end] === '\\' && end + 1 < text.length) end += 1;
        literal += text[end];
        end += 1;
      }
      if (end >= text.length) throw new FilterError('unterminated string');
      tokens.push(`"${literal}`);
      index = end + 1;
    } else {
      const match = /^[^\s(),[\]'"]+/.exec(text.slice(index));
      if (!match) throw new FilterError(`unexpected '${char}'`);
      tokens.push(match[0]);
      index += match[0].length;
    }
  }
  return tokens;
}

export function parseFilter(text: string): FilterNode {
  const tokens = tokenize(text);
  let position = 0;
  const peek = () => tokens[position];
  const take = (expected?: string) => {
    const token = tokens[position];
    if (token === undefined || (expected !== undefined && token !== expected)) {
      throw new FilterError(`expected ${expected ?? 'more input'}`);
    }
    position += 1;
    return token;
  };
  const scalar = (token: string): FilterScalar => {
    if (token.startsWith('"')) return token.slice(1);
    if (token === 'true' || token === 'false') return token === 'true';
    if (token === 'null') return null;
    if (/^-?\d+(\.\d+)?$/.test(token)) return Number(token);
    if (isoDateTime.test(token) || /^\d{4}-\d{2}-\d{2}$/.test(token)) return token;
    throw new FilterError(`'${token}' is not a value`);
  };
  const expression = (): FilterNode => {
    const token = take();
    if (token === '[') {
      const values: FilterScalar[] = [];
      while (peek() !== ']') {
        values.push(scalar(take()));
        if (peek() === ',') take(',');
      }
      take(']');
      return { kind: 'value', value: values };
    }
    if (peek() === '(' && /^[a-z-]+$/.test(token)) {
      take('(');
      const args: FilterNode[] = [];
      while (peek() !== ')') {
        args.push(expression());
        if (peek() === ',') take(',');
        else if (peek() !== ')') throw new FilterError('expected , or )');
      }
      take(')');
      return { kind: 'call', name: token, args };
    }
    if (token.startsWith('"') || /^[-\d]/.test(token) || ['true', 'false', 'null'].includes(token)) {
      return { kind: 'value', value: scalar(token) };
    }
    if (/^[a-z_][\w.]*$/.test(token)) return { kind: 'field', path: token };
    throw new FilterError(`unexpected '${token}'`);
  };
  const conditions: FilterNode[] = [];
  while (position < tokens.length) {
    conditions.push(expression());
    if (position < tokens.length) take(',');
  }
  if (conditions.length === 0) throw new FilterError('empty filter');
  return conditions.length === 1
    ? (conditions[0] as FilterNode)
    : { kind: 'call', name: 'and', args: conditions };
}

interface FilterField<T> {
  operators: string[];
  read(item: T): FilterScalar;
  isDate?: boolean;
}

function compileFilter<T>(node: FilterNode, fields: Record<string, FilterField<T>>): (item: T) => boolean {
  if (node.kind !== 'call') throw new FilterError('a filter must be an operator call');
  if (node.name === 'and' || node.name === 'or') {
    const parts = node.args.map((arg) => compileFilter(arg, fields));
    if (parts.length < 2) throw new FilterError(`${node.name} needs at least two conditions`);
    return node.name === 'and'
      ? (item) => parts.every((part) => part(item))
      : (item) => parts.some((part) => part(item));
  }
  if (node.name === 'not') {
    const [inner] = node.args;
    if (!inner || node.args.length !== 1) throw new FilterError('not takes one condition');
    const part = compileFilter(inner, fields);
    return (item) => !part(item);
  }
  const [subject, operand] = node.args;
  if (node.args.length !== 2 || subject?.kind !== 'field' || operand?.kind !== 'value') {
    throw new FilterError(`${node.name} takes a field and a value`);
  }
  const field = fields[subject.path];
  if (!field) throw new FilterError(`'${subject.path}' is not a filterable field`);
  if (!field.operators.includes(node.name)) {
    throw new FilterError(`'${node.name}' is not a valid operator for '${subject.path}'`);
  }
  const expected = operand.value;
  const comparable = (value: FilterScalar) =>
    field.isDate && typeof value === 'string' ? new Date(value).getTime() : value;
  switch (node.name) {
    case 'equals':
      return (item) => field.read(item) === expected;
    case 'contains':
      return (item) => String(field.read(item) ?? '').includes(String(expected));
    case 'any':
      if (!Array.isArray(expected)) throw new FilterError('any takes a list');
      return (item) => expected.includes(field.read(item));
    case 'greater-than':
    case 'greater-or-equal':
    case 'less-than':
    case 'less-or-equal': {
      if (Array.isArray(expected) || expected === null) throw new FilterError(`${node.name} takes one value`);
      const limit = comparable(expected) as number | string;
      return (item) => {
        const value = field.read(item);
        if (value === null) return false;
        const actual = comparable(value) as number | string;
        if (node.name === 'greater-than') return actual > limit;
        if (node.name === 'greater-or-equal') return actual >= limit;
        if (node.name === 'less-than') return actual < limit;
        return actual <= limit;
      };
    }
    default:
      throw new FilterError(`'${node.name}' is not a supported operator`);
  }
}

function topLevelConditions(node: FilterNode): FilterNode[] {
  return node.kind === 'call' && node.name === 'and' ? node.args : [node];
}

// --- the server ------------------------------------------------------------------------------------------

export interface Call {
  request: RecordedRequest;
  params: string[];
  /** Where links point: this simulator's own origin, as the client reached it. */
  origin: string;
}

export interface Operation {
  scope: string;
  handle(call: Call): SimulatorResponse;
}

function hasScope(scopes: readonly string[], needed: string): boolean {
  if (scopes.includes(needed)) return true;
  const [resource, access] = needed.split(':');
  return access === 'read' && scopes.includes(`${resource}:write`);
}

function decodeCursor(cursor: string): number {
  try {
    const offset = Number(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')).o);
    if (Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through to the refusal below
  }
  throw invalid('Invalid page cursor.', { parameter: 'page[cursor]' });
}

function paginate<T>(call: Call, items: T[], defaultSize: number, maxSize: number) {
  const { query, path } = call.request;
  let size = defaultSize;
  if (query['page[size]'] !== undefined) {
    size = Number(query['page[size]']);
    if (!Number.isInteger(size) || size < 1 || size > maxSize) {
      throw invalid(`Page size must be an integer between 1 and ${maxSize}.`, { parameter: 'page[size]' });
    }
  }
  const offset = query['page[cursor]'] === undefined ? 0 : decodeCursor(query['page[cursor]']);
  const link = (at: number) => {
    const params = new URLSearchParams({ ...query });
    params.delete('page[cursor]');
    if (at > 0) params.set('page[cursor]', Buffer.from(JSON.stringify({ o: at })).toString('base64url'));
    const search = params.toString();
    return `${call.origin}${path}${search ? `?${search}` : ''}`;
  };
  const links: Record<string, string> = { self: link(offset) };
  if (offset + size < items.length) links.next = link(offset + size);
  if (offset > 0) links.prev = link(Math.max(0, offset - size));
  return { page: items.slice(offset, offset + size), links };
}

export async function startKlaviyoSimulator(
  options: KlaviyoSimulatorOptions = {},
): Promise<KlaviyoSimulator> {
  const now = options.now ?? (() => new Date());
  const editLockMs = (options.editLockSeconds ?? 900) * 1000;
  const apiKeys = options.apiKeys ?? { [klaviyoSandboxApiKey]: { scopes: klaviyoScopes } };
  const lists = options.lists ?? [
    { id: 'Ysd7Lq', name: 'Newsletter' },
    { id: 'Rk2PwZ', name: 'VIP customers' },
    { id: 'Tm9QaB', name: 'Spring launch waitlist' },
  ];
  const segments = options.segments ?? [
    { id: 'Sg4HnX', name: 'Engaged (90 days)' },
    { id: 'Sg8VcE', name: 'Repeat buyers' },
  ];
  const accountId = shortId();
  const campaigns = new Map<string, CampaignRecord>();
  const messages = new Map<string, MessageRecord>();
  const templates = new Map<string, TemplateRecord>();

  const sendTime = (campaign: CampaignRecord) => campaign.sendAt ?? campaign.scheduledAt;

  /** Time moves on between reads: a queued campaign whose send time has passed has been sent. */
  const advance = (campaign: CampaignRecord) => {
    const at = sendTime(campaign);
    if (campaign.sendJob === 'queued' && at && at.getTime() <= now().getTime()) {
      campaign.sendJob = 'complete';
      campaign.status = 'Sent';
      campaign.updatedAt = at;
    }
    return campaign;
  };

  const campaignOr404 = (id: string) => {
    const campaign = campaigns.get(id);
    if (!campaign) throw notFound(`A campaign with id ${id} does not exist.`);
    return advance(campaign);
  };

  const campaignResource = (campaign: CampaignRecord, origin: string) => ({
    type: 'campaign',
    id: campaign.id,
    attributes: {
      name: campaign.name,
      status: campaign.status,
      archived: false,
      audiences: campaign.audiences,
      send_options: { use_smart_sending: campaign.smartSending ?? true },
      tracking_options: campaign.trackingOptions ?? {
        add_tracking_params: false,
        custom_tracking_params: null,
        is_tracking_clicks: true,
        is_tracking_opens: true,
      },
      send_strategy: campaign.sendStrategy,
      created_at: klaviyoTime(campaign.createdAt),
      scheduled_at: campaign.scheduledAt ? klaviyoTime(campaign.scheduledAt) : null,
      updated_at: klaviyoTime(campaign.updatedAt),
      send_time: campaign.sendJob === 'none' ? null : klaviyoTime(sendTime(campaign) ?? campaign.updatedAt),
    },
    relationships: {
      'campaign-messages': {
        data: campaign.messageIds.map((id) => ({ type: 'campaign-message', id })),
        links: {
          self: `${origin}/api/campaigns/${campaign.id}/relationships/campaign-messages`,
          related: `${origin}/api/campaigns/${campaign.id}/campaign-messages`,
        },
      },
      tags: {
        data: [],
        links: {
          self: `${origin}/api/campaigns/${campaign.id}/relationships/tags`,
          related: `${origin}/api/campaigns/${campaign.id}/tags`,
        },
      },
    },
    links: { self: `${origin}/api/campaigns/${campaign.id}` },
  });

  const messageResource = (message: MessageRecord, origin: string) => {
    const campaign = campaigns.get(message.campaignId);
    const at = campaign ? sendTime(campaign) : null;
    return {
      type: 'campaign-message',
      id: message.id,
      attributes: {
        definition: message.definition,
        send_times: at ? [{ datetime: klaviyoTime(at), is_local: false }] : [],
        created_at: klaviyoTime(message.createdAt),
        updated_at: klaviyoTime(message.updatedAt),
      },
      relationships: {
        campaign: {
          data: { type: 'campaign', id: message.campaignId },
          links: {
            self: `${origin}/api/campaign-messages/${message.id}/relationships/campaign`,
            related: `${origin}/api/campaign-messages/${message.id}/campaign`,
          },
        },
        template: {
          ...(message.templateId ? { data: { type: 'template', id: message.templateId } } : {}),
          links: {
            self: `${origin}/api/campaign-messages/${message.id}/relationships/template`,
            related: `${origin}/api/campaign-messages/${message.id}/template`,
          },
        },
      },
      links: { self: `${origin}/api/campaign-messages/${message.id}` },
    };
  };

  const templateResource = (template: TemplateRecord, origin: string) => ({
    type: 'template',
    id: template.id,
    attributes: {
      name: template.name,
      editor_type: template.editorType,
      html: template.html,
      text: template.text,
      amp: null,
      created: klaviyoTime(template.createdAt),
      updated: klaviyoTime(template.updatedAt),
    },
    links: { self: `${origin}/api/templates/${template.id}` },
  });

  const sendJobResource = (campaign: CampaignRecord, origin: string) => ({
    type: 'campaign-send-job',
    id: campaign.id,
    attributes: { status: campaign.sendJob },
    links: { self: `${origin}/api/campaign-send-jobs/${campaign.id}` },
  });

  const audienceFields: Record<string, FilterField<{ id: string; name: string }>> = {
    name: { operators: ['any', 'equals'], read: (item) => item.name },
    id: { operators: ['any', 'equals'], read: (item) => item.id },
  };

  const filtered = <T>(call: Call, items: T[], fields: Record<string, FilterField<T>>): T[] => {
    const text = call.request.query.filter;
    if (text === undefined) return items;
    try {
      const matches = compileFilter(parseFilter(text), fields);
      return items.filter(matches);
    } catch (error) {
      if (error instanceof FilterError) {
        throw invalid(`Invalid filter provided: ${error.message}.`, { parameter: 'filter' });
      }
      throw error;
    }
  };

  const listing = (kind: 'list' | 'segment', items: { id: string; name: string }[]) => (call: Call) => {
    const { page, links } = paginate(call, filtered(call, items, audienceFields), 10, 10);
    const stamp = klaviyoTime(now());
    return {
      status: 200,
      body: {
        data: page.map((item) => ({
          type: kind,
          id: item.id,
          attributes:
            kind === 'list'
              ? { name: item.name, created: stamp, updated: stamp, opt_in_process: 'single_opt_in' }
              : { name: item.name, created: stamp, updated: stamp, is_active: true, is_processing: false },
          links: { self: `${call.origin}/api/${kind}s/${item.id}` },
        })),
        links,
      },
    };
  };

  const campaignFields: Record<string, FilterField<CampaignRecord>> = {
    id: { operators: ['any'], read: (campaign) => campaign.id },
    'messages.channel': { operators: ['equals'], read: () => 'email' },
    name: { operators: ['contains'], read: (campaign) => campaign.name },
    status: { operators: ['any', 'equals'], read: (campaign) => campaign.status },
    archived: { operators: ['equals'], read: () => false },
    ...Object.fromEntries(
      (['created_at', 'scheduled_at', 'updated_at'] as const).map((name) => [
        name,
        {
          operators: ['greater-or-equal', 'greater-than', 'less-or-equal', 'less-than'],
          isDate: true,
          read: (campaign: CampaignRecord) => {
            const value =
              name === 'created_at'
                ? campaign.createdAt
                : name === 'updated_at'
                  ? campaign.updatedAt
                  : campaign.scheduledAt;
            return value ? value.getTime() : null;
          },
        },
      ]),
    ),
  };

  const getCampaigns = (call: Call) => {
    const text = call.request.query.filter;
    const channelRequired = invalid(
      'A channel filter is required to list campaigns. Please provide either: ' +
        "?filter=equals(messages.channel,'email') to list email campaigns, " +
        "?filter=equals(messages.channel,'sms') to list SMS campaigns, or " +
        "?filter=equals(messages.channel,'mobile_push') to list mobile push campaigns.",
      { parameter: 'filter' },
    );
    if (text === undefined) throw channelRequired;
    let tree: FilterNode;
    try {
      tree = parseFilter(text);
    } catch (error) {
      if (error instanceof FilterError) {
        throw invalid(`Invalid filter provided: ${error.message}.`, { parameter: 'filter' });
      }
      throw error;
    }
    const channel = topLevelConditions(tree).find(
      (node) =>
        node.kind === 'call' &&
        node.name === 'equals' &&
        node.args[0]?.kind === 'field' &&
        node.args[0].path === 'messages.channel',
    );
    const channelValue =
      channel?.kind === 'call' && channel.args[1]?.kind === 'value' ? channel.args[1].value : undefined;
    if (typeof channelValue !== 'string' || !['email', 'sms', 'mobile_push'].includes(channelValue)) {
      throw channelRequired;
    }
    const all = channelValue === 'email' ? [...campaigns.values()].map(advance) : [];
    const matching = filtered(call, all, campaignFields);
    const { page, links } = paginate(call, matching, 100, 100);
    return {
      status: 200,
      body: { data: page.map((campaign) => campaignResource(campaign, call.origin)), links },
    };
  };

  /** A campaign's `send_strategy` (2025-01-15+ shape): what Klaviyo stores, and when it will send. */
  const parseSendStrategy = (value: unknown, strategyPointer: string) => {
    const strategy: Json = { method: 'immediate' };
    let sendAt: Date | null = null;
    if (value !== undefined && value !== null) {
      const given = requireObject(value, strategyPointer);
      if ('options_static' in given || 'options_throttled' in given || 'options_sto' in given) {
        throw invalid(
          'send_strategy uses the pre-2025-01-15 shape; use {method, datetime, options} for this revision.',
          { pointer: strategyPointer },
        );
      }
      const future = (key: string) => {
        const at = parseDateTime(given[key], `${strategyPointer}/${key}`);
        if (at.getTime() <= now().getTime()) {
          throw invalid('The send time must be in the future.', { pointer: `${strategyPointer}/${key}` });
        }
        return at;
      };
      switch (given.method) {
        case 'static': {
          rejectUnknownKeys(given, ['method', 'datetime', 'options'], 'campaign', strategyPointer);
          sendAt = future('datetime');
          if (given.options !== undefined && given.options !== null) {
            const sendOptions = requireObject(given.options, `${strategyPointer}/options`);
            rejectUnknownKeys(
              sendOptions,
              ['is_local', 'send_past_recipients_immediately'],
              'campaign',
              `${strategyPointer}/options`,
            );
            if (typeof sendOptions.is_local !== 'boolean') {
              throw invalid('is_local is required.', { pointer: `${strategyPointer}/options/is_local` });
            }
          }
          break;
        }
        case 'throttled': {
          rejectUnknownKeys(
            given,
            ['method', 'datetime', 'throttle_percentage'],
            'campaign',
            strategyPointer,
          );
          sendAt = future('datetime');
          if (![1, 2, 5, 10, 11, 13, 14, 17, 20, 25, 33, 50].includes(given.throttle_percentage as number)) {
            throw invalid('throttle_percentage is not an allowed value.', {
              pointer: `${strategyPointer}/throttle_percentage`,
            });
          }
          break;
        }
        case 'smart_send_time': {
          rejectUnknownKeys(given, ['method', 'date'], 'campaign', strategyPointer);
          if (typeof given.date !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(given.date)) {
            throw invalid('date must be YYYY-MM-DD.', { pointer: `${strategyPointer}/date` });
          }
          sendAt = new Date(`${given.date}T00:00:00Z`);
          break;
        }
        case 'immediate':
          rejectUnknownKeys(given, ['method'], 'campaign', strategyPointer);
          break;
        default:
          throw invalid(`'${String(given.method)}' is not a valid send strategy method.`, {
            pointer: `${strategyPointer}/method`,
          });
      }
      Object.assign(strategy, given);
    }

    return { strategy, sendAt };
  };

  const createCampaign = (call: Call) => {
    const data = requireObject(requireObject(call.request.body, '/').data, '/data');
    rejectUnknownKeys(data, ['type', 'attributes'], 'campaign', '/data');
    if (data.type !== 'campaign') throw invalid("Type must be 'campaign'.", { pointer: '/data/type' });
    const attributes = requireObject(data.attributes, '/data/attributes');
    const base = '/data/attributes';
    rejectUnknownKeys(
      attributes,
      ['name', 'audiences', 'send_strategy', 'send_options', 'tracking_options', 'campaign-messages'],
      'campaign',
      base,
    );
    if (typeof attributes.name !== 'string' || attributes.name.trim() === '') {
      throw invalid('A campaign name is required.', { pointer: `${base}/name` });
    }
    const audiences = requireObject(attributes.audiences, `${base}/audiences`);
    rejectUnknownKeys(audiences, ['included', 'excluded'], 'campaign', `${base}/audiences`);
    const known = new Set([...lists, ...segments].map((audience) => audience.id));
    const audienceIds = (value: unknown, key: string, required: boolean): string[] | null => {
      const pointer = `${base}/audiences/${key}`;
      if (value === undefined || value === null) {
        if (required) throw invalid(`${key} is required.`, { pointer });
        return null;
      }
      if (!Array.isArray(value) || value.some((id) => typeof id !== 'string')) {
        throw invalid(`${key} must be a list of list or segment ids.`, { pointer });
      }
      if (required && value.length === 0)
        throw invalid('At least one audience must be included.', { pointer });
      for (const id of value as string[]) {
        if (!known.has(id)) throw invalid(`The list or segment '${id}' does not exist.`, { pointer });
      }
      return value as string[];
    };
    const included = audienceIds(audiences.included, 'included', true) ?? [];
    const excluded = audienceIds(audiences.excluded, 'excluded', false);

    const { strategy, sendAt } = parseSendStrategy(attributes.send_strategy, `${base}/send_strategy`);

    let smartSending: boolean | undefined;
    let sendOptions: Json | undefined;
    if (attributes.send_options !== undefined && attributes.send_options !== null) {
      sendOptions = requireObject(attributes.send_options, `${base}/send_options`);
      rejectUnknownKeys(sendOptions, ['use_smart_sending'], 'campaign', `${base}/send_options`);
      const value = sendOptions.use_smart_sending;
      if (value !== undefined && value !== null && typeof value !== 'boolean') {
        throw invalid('use_smart_sending must be a boolean.', {
          pointer: `${base}/send_options/use_smart_sending`,
        });
      }
      smartSending = typeof value === 'boolean' ? value : undefined;
    }
    let trackingOptions: Json | undefined;
    if (attributes.tracking_options !== undefined && attributes.tracking_options !== null) {
      trackingOptions = requireObject(attributes.tracking_options, `${base}/tracking_options`);
      rejectUnknownKeys(
        trackingOptions,
        ['add_tracking_params', 'custom_tracking_params', 'is_tracking_clicks', 'is_tracking_opens'],
        'campaign',
        `${base}/tracking_options`,
      );
    }

    const messagesPointer = `${base}/campaign-messages`;
    const messageList = requireObject(attributes['campaign-messages'], messagesPointer).data;
    if (!Array.isArray(messageList) || messageList.length !== 1) {
      throw invalid('An email campaign takes exactly one campaign message.', {
        pointer: `${messagesPointer}/data`,
      });
    }
    const messagePointer = `${messagesPointer}/data/0`;
    const message = requireObject(messageList[0], messagePointer);
    rejectUnknownKeys(message, ['type', 'attributes', 'relationships'], 'campaign-message', messagePointer);
    if (message.type !== 'campaign-message') {
      throw invalid("Type must be 'campaign-message'.", { pointer: `${messagePointer}/type` });
    }
    const messageAttributes = requireObject(message.attributes, `${messagePointer}/attributes`);
    rejectUnknownKeys(messageAttributes, ['definition'], 'campaign-message', `${messagePointer}/attributes`);
    const definitionPointer = `${messagePointer}/attributes/definition`;
    const definition = requireObject(messageAttributes.definition, definitionPointer);
    if (definition.channel !== 'email') {
      throw invalid("This simulator only runs email campaigns (channel 'email').", {
        pointer: `${definitionPointer}/channel`,
      });
    }
    rejectUnknownKeys(definition, ['channel', 'label', 'content'], 'campaign-message', definitionPointer);
    if (definition.label !== undefined && definition.label !== null && typeof definition.label !== 'string') {
      throw invalid('label must be a string.', { pointer: `${definitionPointer}/label` });
    }
    const content =
      definition.content === undefined
        ? {}
        : requireObject(definition.content, `${definitionPointer}/content`);
    const contentKeys = [
      'subject',
      'preview_text',
      'from_email',
      'from_label',
      'reply_to_email',
      'cc_email',
      'bcc_email',
    ];
    rejectUnknownKeys(content, contentKeys, 'campaign-message', `${definitionPointer}/content`);
    for (const key of contentKeys) {
      const value = content[key];
      const pointer = `${definitionPointer}/content/${key}`;
      if (value !== undefined && value !== null && typeof value !== 'string') {
        throw invalid(`${key} must be a string.`, { pointer });
      }
      if (key.endsWith('_email') && typeof value === 'string' && !email.test(value)) {
        throw invalid(`'${value}' is not a valid email address.`, { pointer });
      }
    }

    const at = now();
    const campaign: CampaignRecord = {
      id: ulidLike(),
      name: attributes.name,
      status: 'Draft',
      audiences: { included, ...(excluded ? { excluded } : {}) },
      sendStrategy: strategy,
      sendOptions,
      trackingOptions,
      sendAt,
      smartSending,
      createdAt: at,
      updatedAt: at,
      scheduledAt: null,
      sendJob: 'none',
      messageIds: [],
    };
    const record: MessageRecord = {
      id: ulidLike(),
      campaignId: campaign.id,
      definition: { channel: 'email', label: definition.label ?? campaign.name, content },
      templateId: null,
      createdAt: at,
      updatedAt: at,
    };
    campaign.messageIds.push(record.id);
    campaigns.set(campaign.id, campaign);
    messages.set(record.id, record);
    return {
      status: 201,
      body: {
        data: campaignResource(campaign, call.origin),
        links: { self: `${call.origin}/api/campaigns` },
      },
    };
  };

  // Update Campaign: Klaviyo edits only drafts; a scheduled campaign must be reverted or cancelled first.
  const updateCampaign = (call: Call) => {
    const id = call.params[0] as string;
    const data = requireObject(requireObject(call.request.body, '/').data, '/data');
    rejectUnknownKeys(data, ['type', 'id', 'attributes'], 'campaign', '/data');
    if (data.type !== 'campaign') throw invalid("Type must be 'campaign'.", { pointer: '/data/type' });
    if (data.id !== id)
      throw invalid('The id in the body must match the id in the path.', { pointer: '/data/id' });
    const attributes = requireObject(data.attributes, '/data/attributes');
    rejectUnknownKeys(attributes, ['name', 'send_strategy'], 'campaign', '/data/attributes');
    const campaign = campaignOr404(id);
    if (campaign.status !== 'Draft') {
      throw conflict(`The campaign is ${campaign.status.toLowerCase()}; only a draft can be edited.`);
    }
    if (attributes.name !== undefined) {
      if (typeof attributes.name !== 'string' || attributes.name.trim() === '') {
        throw invalid('A campaign name is required.', { pointer: '/data/attributes/name' });
      }
      campaign.name = attributes.name;
    }
    if (attributes.send_strategy !== undefined) {
      const { strategy, sendAt } = parseSendStrategy(
        attributes.send_strategy,
        '/data/attributes/send_strategy',
      );
      campaign.sendStrategy = strategy;
      campaign.sendAt = sendAt;
    }
    campaign.updatedAt = now();
    return {
      status: 200,
      body: {
        data: campaignResource(campaign, call.origin),
        links: { self: `${call.origin}/api/campaigns/${campaign.id}` },
      },
    };
  };

  const deleteCampaign = (call: Call) => {
    const campaign = campaignOr404(call.params[0] as string);
    if (campaign.sendJob === 'queued' || campaign.status === 'Sent') {
      throw conflict(`The campaign is ${campaign.status.toLowerCase()}; cancel it before deleting it.`);
    }
    campaigns.delete(campaign.id);
    for (const id of campaign.messageIds) messages.delete(id);
    return { status: 204 };
  };

  const createTemplate = (call: Call) => {
    const data = requireObject(requireObject(call.request.body, '/').data, '/data');
    rejectUnknownKeys(data, ['type', 'attributes'], 'template', '/data');
    if (data.type !== 'template') throw invalid("Type must be 'template'.", { pointer: '/data/type' });
    const attributes = requireObject(data.attributes, '/data/attributes');
    rejectUnknownKeys(
      attributes,
      ['name', 'editor_type', 'html', 'text', 'amp', 'definition'],
      'template',
      '/data/attributes',
    );
    if (typeof attributes.name !== 'string' || attributes.name === '') {
      throw invalid('A template name is required.', { pointer: '/data/attributes/name' });
    }
    if (attributes.editor_type === 'CODE') {
      if (typeof attributes.html !== 'string' || attributes.html === '') {
        throw invalid('A CODE template needs html.', { pointer: '/data/attributes/html' });
      }
    } else if (attributes.editor_type === 'SYSTEM_DRAGGABLE') {
      requireObject(attributes.definition, '/data/attributes/definition');
    } else {
      throw invalid(`'${String(attributes.editor_type)}' is not a valid editor type.`, {
        pointer: '/data/attributes/editor_type',
      });
    }
    const html = typeof attributes.html === 'string' ? attributes.html : '';
    // Klaviyo renders templates with its Django-like language: unbalanced tags fail at creation.
    for (const [open, close] of [
      ['{%', '%}'],
      ['{{', '}}'],
    ] as const) {
      if (html.split(open).length !== html.split(close).length) {
        throw invalid(`Template syntax error: unbalanced '${open} ${close}'.`, {
          pointer: '/data/attributes/html',
        });
      }
    }
    if (templates.size >= 1000)
      throw invalid('An account holds at most 1,000 templates created through the API.');
    const at = now();
    const template: TemplateRecord = {
      id: shortId(),
      name: attributes.name,
      editorType: attributes.editor_type,
      html,
      text: typeof attributes.text === 'string' ? attributes.text : null,
      createdAt: at,
      updatedAt: at,
    };
    templates.set(template.id, template);
    return {
      status: 201,
      body: {
        data: templateResource(template, call.origin),
        links: { self: `${call.origin}/api/templates` },
      },
    };
  };

  const assignTemplate = (call: Call) => {
    const data = requireObject(requireObject(call.request.body, '/').data, '/data');
    rejectUnknownKeys(data, ['type', 'id', 'relationships'], 'campaign-message', '/data');
    if (data.type !== 'campaign-message')
      throw invalid("Type must be 'campaign-message'.", { pointer: '/data/type' });
    if (typeof data.id !== 'string')
      throw invalid('A campaign message id is required.', { pointer: '/data/id' });
    const relationships = requireObject(data.relationships, '/data/relationships');
    const link = requireObject(
      requireObject(relationships.template, '/data/relationships/template').data,
      '/data/relationships/template/data',
    );
    if (link.type !== 'template' || typeof link.id !== 'string') {
      throw invalid("The template relationship needs {type: 'template', id}.", {
        pointer: '/data/relationships/template/data',
      });
    }
    const message = messages.get(data.id);
    if (!message) throw notFound(`A campaign message with id ${data.id} does not exist.`);
    const template = templates.get(link.id);
    if (!template) throw notFound(`A template with id ${link.id} does not exist.`);
    const campaign = campaignOr404(message.campaignId);
    if (campaign.status !== 'Draft') {
      throw conflict(
        `The campaign is ${campaign.status.toLowerCase()}; only a draft's message can be edited.`,
      );
    }
    // Klaviyo assigns a non-reusable copy of the template, so later edits of the original do not leak in.
    const copy: TemplateRecord = { ...template, id: shortId(), updatedAt: now() };
    templates.set(copy.id, copy);
    message.templateId = copy.id;
    message.updatedAt = now();
    const { definition } = message;
    return {
      status: 200,
      body: {
        data: {
          type: 'campaign-message',
          id: message.id,
          attributes: {
            label: definition.label,
            channel: definition.channel,
            content: definition.content,
            send_times: [],
            created_at: klaviyoTime(message.createdAt),
            updated_at: klaviyoTime(message.updatedAt),
          },
          relationships: messageResource(message, call.origin).relationships,
          links: { self: `${call.origin}/api/campaign-messages/${message.id}` },
        },
        links: { self: `${call.origin}/api/campaign-message-assign-template` },
      },
    };
  };

  const createSendJob = (call: Call) => {
    const data = requireObject(requireObject(call.request.body, '/').data, '/data');
    rejectUnknownKeys(data, ['type', 'id'], 'campaign-send-job', '/data');
    if (data.type !== 'campaign-send-job') {
      throw invalid("Type must be 'campaign-send-job'.", { pointer: '/data/type' });
    }
    if (typeof data.id !== 'string') throw invalid('A campaign id is required.', { pointer: '/data/id' });
    const campaign = campaignOr404(data.id);
    if (campaign.status !== 'Draft') {
      throw conflict(`The campaign is ${campaign.status.toLowerCase()}; only a draft can be sent.`);
    }
    const message = messages.get(campaign.messageIds[0] ?? '');
    const content = isObject(message?.definition.content) ? message.definition.content : {};
    if (!message?.templateId) throw invalid('The campaign message has no template.');
    if (!content.subject) throw invalid('The campaign message has no subject.');
    if (!content.from_email) throw invalid('The campaign message has no sender email address.');
    if (campaign.sendAt && campaign.sendAt.getTime() <= now().getTime()) {
      throw invalid('The campaign send time is in the past.');
    }
    campaign.sendJob = 'queued';
    campaign.status = 'Scheduled';
    campaign.scheduledAt = now();
    campaign.updatedAt = now();
    return {
      status: 202,
      body: {
        data: sendJobResource(campaign, call.origin),
        links: { self: `${call.origin}/api/campaign-send-jobs` },
      },
    };
  };

  const getSendJob = (call: Call) => {
    const campaign = campaignOr404(call.params[0] as string);
    if (campaign.sendJob === 'none') throw notFound(`No send job exists for campaign ${campaign.id}.`);
    return {
      status: 200,
      body: {
        data: sendJobResource(campaign, call.origin),
        links: { self: `${call.origin}/api/campaign-send-jobs/${campaign.id}` },
      },
    };
  };

  const updateSendJob = (call: Call) => {
    const id = call.params[0] as string;
    const data = requireObject(requireObject(call.request.body, '/').data, '/data');
    rejectUnknownKeys(data, ['type', 'id', 'attributes'], 'campaign-send-job', '/data');
    if (data.type !== 'campaign-send-job') {
      throw invalid("Type must be 'campaign-send-job'.", { pointer: '/data/type' });
    }
    if (data.id !== id)
      throw invalid('The id in the body must match the id in the path.', { pointer: '/data/id' });
    const attributes = requireObject(data.attributes, '/data/attributes');
    rejectUnknownKeys(attributes, ['action'], 'campaign-send-job', '/data/attributes');
    if (attributes.action !== 'cancel' && attributes.action !== 'revert') {
      throw invalid("action must be 'cancel' or 'revert'.", { pointer: '/data/attributes/action' });
    }
    const campaign = campaignOr404(id);
    if (campaign.sendJob === 'none') throw notFound(`No send job exists for campaign ${campaign.id}.`);
    if (campaign.sendJob !== 'queued') {
      throw conflict(`The campaign send job is ${campaign.sendJob}; it can no longer be changed.`);
    }
    // Klaviyo's help pages lock a campaign 15 minutes before it sends; the API reference does not say how a
    // late cancel answers (unconfirmed), so this answers 409: a conflict with the campaign's current state.
    const at = sendTime(campaign);
    if (at && at.getTime() - now().getTime() < editLockMs) {
      throw conflict('The campaign is about to send and can no longer be cancelled or reverted.');
    }
    if (attributes.action === 'cancel') {
      campaign.sendJob = 'cancelled';
      campaign.status = 'Cancelled';
    } else {
      campaign.sendJob = 'none';
      campaign.status = 'Draft';
      campaign.scheduledAt = null;
    }
    campaign.updatedAt = now();
    return { status: 204 };
  };

  const routes: { pattern: RegExp; operations: Record<string, Operation> }[] = [
    {
      pattern: /^\/api\/accounts\/?$/,
      operations: {
        GET: {
          scope: 'accounts:read',
          handle: (call) => ({
            status: 200,
            body: {
              data: [
                {
                  type: 'account',
                  id: accountId,
                  attributes: {
                    test_account: true,
                    contact_information: {
                      default_sender_name: options.organizationName ?? 'Glowtify Sandbox',
                      default_sender_email: 'hello@sandbox.example',
                      website_url: 'https://sandbox.example',
                      organization_name: options.organizationName ?? 'Glowtify Sandbox',
                      street_address: {
                        address1: '1 Sandbox Street',
                        address2: null,
                        city: 'Montreal',
                        region: 'QC',
                        country: 'CA',
                        zip: 'H2X 1Y4',
                      },
                    },
                    industry: null,
                    timezone: 'UTC',
                    preferred_currency: 'USD',
                    public_api_key: accountId,
                    locale: 'en-US',
                  },
                  links: { self: `${call.origin}/api/accounts/${accountId}` },
                },
              ],
              links: { self: `${call.origin}/api/accounts` },
            },
          }),
        },
      },
    },
    {
      pattern: /^\/api\/lists\/?$/,
      operations: { GET: { scope: 'lists:read', handle: listing('list', lists) } },
    },
    {
      pattern: /^\/api\/segments\/?$/,
      operations: { GET: { scope: 'segments:read', handle: listing('segment', segments) } },
    },
    {
      pattern: /^\/api\/campaigns\/?$/,
      operations: {
        GET: { scope: 'campaigns:read', handle: getCampaigns },
        POST: { scope: 'campaigns:write', handle: createCampaign },
      },
    },
    {
      pattern: /^\/api\/campaigns\/([^/]+)\/?$/,
      operations: {
        GET: {
          scope: 'campaigns:read',
          handle: (call) => {
            const campaign = campaignOr404(call.params[0] as string);
            return {
              status: 200,
              body: {
                data: campaignResource(campaign, call.origin),
                links: { self: `${call.origin}/api/campaigns/${campaign.id}` },
              },
            };
          },
        },
        PATCH: { scope: 'campaigns:write', handle: updateCampaign },
        DELETE: { scope: 'campaigns:write', handle: deleteCampaign },
      },
    },
    {
      pattern: /^\/api\/campaigns\/([^/]+)\/campaign-messages\/?$/,
      operations: {
        GET: {
          scope: 'campaigns:read',
          handle: (call) => {
            const campaign = campaignOr404(call.params[0] as string);
            const data = campaign.messageIds
              .map((id) => messages.get(id))
              .filter((message): message is MessageRecord => message !== undefined)
              .map((message) => messageResource(message, call.origin));
            return { status: 200, body: { data, links: { self: `${call.origin}${call.request.path}` } } };
          },
        },
      },
    },
    {
      pattern: /^\/api\/templates\/?$/,
      operations: {
        GET: {
          scope: 'templates:read',
          handle: (call) => {
            const fields: Record<string, FilterField<TemplateRecord>> = {
              id: { operators: ['any', 'equals'], read: (template) => template.id },
              name: { operators: ['any', 'contains', 'equals'], read: (template) => template.name },
            };
            const { page, links } = paginate(call, filtered(call, [...templates.values()], fields), 10, 10);
            return {
              status: 200,
              body: { data: page.map((template) => templateResource(template, call.origin)), links },
            };
          },
        },
        POST: { scope: 'templates:write', handle: createTemplate },
      },
    },
    {
      pattern: /^\/api\/campaign-message-assign-template\/?$/,
      operations: { POST: { scope: 'campaigns:write', handle: assignTemplate } },
    },
    {
      pattern: /^\/api\/campaign-send-jobs\/?$/,
      operations: { POST: { scope: 'campaigns:write', handle: createSendJob } },
    },
    {
      pattern: /^\/api\/campaign-send-jobs\/([^/]+)\/?$/,
      operations: {
        GET: { scope: 'campaigns:read', handle: getSendJob },
        PATCH: { scope: 'campaigns:write', handle: updateSendJob },
      },
    },
    ...klaviyoReportRoutes({
      now,
      metrics: options.metrics ?? defaultKlaviyoMetrics,
      campaigns: () =>
        [...campaigns.values()].map(advance).map((campaign) => ({
          id: campaign.id,
          messageIds: campaign.messageIds,
          sentAt: campaign.sendJob === 'complete' ? sendTime(campaign) : null,
        })),
    }),
  ];

  const handle = (request: RecordedRequest): SimulatorResponse => {
    const revision = request.headers.revision;
    if (!revision) {
      throw invalid('The revision header is required (format: YYYY-MM-DD[.suffix]).', {
        parameter: 'revision',
      });
    }
    const day = /^(\d{4}-\d{2}-\d{2})(\.[a-z]+)?$/.exec(revision)?.[1];
    if (!day || Number.isNaN(Date.parse(day))) {
      throw invalid(`'${revision}' is not a valid revision (format: YYYY-MM-DD[.suffix]).`, {
        parameter: 'revision',
      });
    }
    if (day < oldestRevision || day > newestRevision) {
      throw invalid(
        `This simulator implements revisions ${oldestRevision} to ${newestRevision}, not '${revision}'.`,
        { parameter: 'revision' },
      );
    }
    let params: string[] = [];
    const route = routes.find((candidate) => {
      const match = candidate.pattern.exec(request.path);
      if (match) params = match.slice(1).map((part) => decodeURIComponent(part));
      return match !== null;
    });
    if (!route) throw notFound(`The path ${request.path} does not exist.`);
    const operation = route.operations[request.method];
    if (!operation) {
      throw refusal(
        405,
        'method_not_allowed',
        `Method "${request.method}" not allowed.`,
        `Method "${request.method}" not allowed.`,
      );
    }
    const authorization = request.headers.authorization ?? '';
    const key = /^Klaviyo-API-Key\s+(\S+)$/.exec(authorization)?.[1];
    const account = key === undefined ? undefined : apiKeys[key];
    if (!account) {
      throw refusal(
        401,
        'not_authenticated',
        'Authentication credentials were not provided.',
        'Missing or invalid private key.',
      );
    }
    if (!hasScope(account.scopes, operation.scope)) {
      throw refusal(
        403,
        'permission_denied',
        'You do not have permission to perform this action.',
        `This API key is missing the required scope ${operation.scope}.`,
      );
    }
    if (request.method === 'POST' || request.method === 'PATCH') {
      const type = request.headers['content-type'] ?? '';
      if (!type.includes(jsonApi)) {
        throw refusal(
          415,
          'unsupported_media_type',
          `Unsupported media type "${type}" in request.`,
          `Requests with a body must be sent as ${jsonApi}.`,
        );
      }
      if (!isObject(request.body)) throw invalid('The request body is not a valid JSON:API document.');
    }
    const origin = `http://${request.headers.host ?? '127.0.0.1'}`;
    return operation.handle({ request, params, origin });
  };

  const server = await startSimulatorServer(
    (request) => {
      try {
        const response = handle(request);
        return response.body === undefined
          ? response
          : { ...response, headers: { 'content-type': jsonApi, ...(response.headers ?? {}) } };
      } catch (error) {
        if (error instanceof Refusal) return error.response;
        throw error;
      }
    },
    { port: options.port },
  );

  const failure = (kind: KlaviyoFailureKind, retryAfterSeconds: number): SimulatorResponse => {
    switch (kind) {
      case 'transient':
        return refusal(
          503,
          'service_unavailable',
          'Service unavailable.',
          'Klaviyo is temporarily unavailable.',
        ).response;
      case 'rate_limited': {
        const plural = retryAfterSeconds === 1 ? 'second' : 'seconds';
        return refusal(
          429,
          'throttled',
          'Request was throttled.',
          `Request was throttled. Expected available in ${retryAfterSeconds} ${plural}.`,
          undefined,
          { 'Retry-After': String(retryAfterSeconds) },
        ).response;
      }
      case 'invalid_key':
        return refusal(
          401,
          'not_authenticated',
          'Authentication credentials were not provided.',
          'Missing or invalid private key.',
        ).response;
      case 'content_rejected':
        return invalid("Template syntax error: Invalid block tag on line 1: 'endfor'.", {
          pointer: '/data/attributes/html',
        }).response;
      case 'sender_not_authorized':
        return refusal(
          400,
          'invalid',
          'Sender not authorized.',
          'Sender not authorized: the from address is not a verified sender for this account.',
          { pointer: '/data' },
        ).response;
      case 'locked':
        return conflict('The campaign is about to send and can no longer be cancelled or reverted.').response;
    }
  };

  return {
    ...server,
    campaigns: () =>
      [...campaigns.values()].map(advance).map((campaign) => {
        const message = messages.get(campaign.messageIds[0] ?? '');
        const template = message?.templateId ? templates.get(message.templateId) : undefined;
        return {
          id: campaign.id,
          name: campaign.name,
          status: campaign.status,
          sendAt: campaign.sendAt ? campaign.sendAt.toISOString() : null,
          audiences: campaign.audiences,
          smartSending: campaign.smartSending,
          templateHtml: template?.html ?? null,
          sendJob: campaign.sendJob,
        };
      }),
    failureAnswer: (kind) => failure(kind, 1),
    deleteCampaign(id) {
      campaigns.delete(id);
    },
    failWith(kind, { retryAfterSeconds, ...match }) {
      server.failNext({ ...match, response: failure(kind, retryAfterSeconds ?? 1) });
    },
  };
}
