// CyberImpact simulator (tests and `npm run demo`): the subset Glowtify uses — `GET /ping`, `GET /groups`,
// and mailings (`POST /mailings`, `GET /mailings/scheduled`, `GET /mailings/sent`, `GET` and `DELETE
// /mailings/{id}`) — checking the Bearer token like CyberImpact and answering in the shapes of its API
// reference. A scheduled mailing is sent once its `sendAt`, read in the simulator's zone, has passed by the
// simulator's clock. Error bodies are `{"message","errors"}` as public clients read them (unconfirmed).
import { Temporal } from 'temporal-polyfill';
import { platformDescriptors } from '../domain/platforms.ts';
import { mailingActivity, recipientsPage } from './cyberimpact-reports.ts';
import {
  type FailureMatch,
  type RecordedRequest,
  type SimulatorResponse,
  type SimulatorServer,
  startSimulatorServer,
} from './simulator-server.ts';

export interface CyberImpactGroup {
  id: number;
  title: string;
  isPublic?: boolean;
  membersCount?: number;
  mailingsCount?: number;
  isDynamic?: boolean;
  /** `YYYY-MM-DD HH:MM:SS`, as CyberImpact writes dates. */
  createdOn?: string;
}

export interface CyberImpactTokenOptions {
  /**
   * Path prefixes this token may not use (answered 403): how a token with too few permissions is modelled
   * (CyberImpact's token permissions are unconfirmed).
   */
  forbiddenPaths?: string[];
}

export interface CyberImpactSimulatorOptions {
  port?: number;
  /** API tokens the account accepts (any string; real ones are JWTs). */
  apiTokens?: Record<string, CyberImpactTokenOptions>;
  groups?: CyberImpactGroup[];
  /** What `GET /ping` reports about the account. */
  account?: { username: string; email: string; account: string };
  /** The zone the account reads `sendAt` in and writes its dates in (EST/EDT per its API reference). */
  timeZone?: string;
  /** The account's validated sender addresses; absent, every address is taken as validated. */
  validatedSenders?: string[];
  /** The simulator's clock: mailings are sent once their time has passed by it. */
  now?: () => Date;
}

export type CyberImpactFailureKind = 'transient' | 'rate_limited' | 'invalid_token' | 'forbidden';

export type CyberImpactMailingStatus = 'scheduled' | 'sending' | 'sent' | 'deleted';

/** A mailing as a test reads it: what was asked for, and what the simulator made of it. */
export interface CyberImpactMailingView {
  id: number;
  subject: string;
  language: string;
  groups: number[];
  /** `sendAt` exactly as received. */
  sendAt: string;
  /** The instant `sendAt` means in the simulator's zone: when it is sent. */
  scheduledFor: Date;
  status: CyberImpactMailingStatus;
  startedOn: Date | null;
  mailFrom: string | null;
  fromName: string | null;
  replyTo: string | null;
  bodyHtml: string | null;
  bodyText: string | null;
}

export type CyberImpactSimulator = SimulatorServer & {
  /** Makes a token stop working (revoked in CyberImpact → Developers → API tokens). */
  revokeToken(token: string): void;
  /** Makes the next matching requests fail the way CyberImpact would (status, headers, body). */
  failWith(kind: CyberImpactFailureKind, rule: FailureMatch & { retryAfterSeconds?: number }): void;
  /** Every mailing created, deleted ones included, after sending what is due. */
  mailings(): CyberImpactMailingView[];
  /** CyberImpact starts sending a mailing now (someone pressed "send now" in the app): it can no longer be deleted. */
  beginSending(id: number): void;
  /** Someone deleted the sent mailing in CyberImpact's app: it is not found any more. */
  deleteMailing(id: number): void;
};

/** The token `npm run demo` connects with; any string works once it is listed in `apiTokens`. */
export const cyberImpactSandboxApiToken =
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJnbG93dGlmeS1zYW5kYm94In0.c2FuZGJveC1zaWduYXR1cmU';

/** Page size limits of the API reference (max 10 000, default 20). */
const maxLimit = 10_000;
const defaultLimit = 20;
// Sort values of the API reference for `GET /groups`.
const groupSorts = [
  'group_asc',
  'group_desc',
  'nbmember_asc',
  'nbmember_desc',
  'type_asc',
  'type_desc',
  'nbnewsletter_asc',
  'nbnewsletter_desc',
  'date_asc',
  'date_desc',
] as const;
// Sort values of the API reference for `GET /mailings/sent` and `/mailings/scheduled`.
const mailingSorts = [
  'language_asc',
  'language_desc',
  'subject_asc',
  'subject_desc',
  'recipients_asc',
  'recipients_desc',
  'date_asc',
  'date_desc',
] as const;
const languages = ['en_ca', 'fr_ca'];
const statisticsModes = ['detailed', 'anonymized'];
const dateFormats = ['ISO8601', 'ATOM'];
const sendAtFormat = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const emailAddress = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const defaultGroups: CyberImpactGroup[] = [
  { id: 101, title: 'Newsletter' },
  { id: 102, title: 'Clients VIP' },
  { id: 103, title: 'Spring launch waitlist' },
];

function answer(status: number, message: string, headers?: Record<string, string>): SimulatorResponse {
  return { status, body: { message }, ...(headers ? { headers } : {}) };
}

/** A validation refusal, Laravel style, as public clients of the API read it. */
function invalid(errors: Record<string, string[]>): SimulatorResponse {
  return { status: 422, body: { message: 'The given data was invalid.', errors } };
}

function positiveInteger(value: string | undefined, fallback: number): number | null {
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value)) return null;
  const number = Number(value);
  return number >= 1 ? number : null;
}

interface MailingRecord extends CyberImpactMailingView {
  mailingStatistics: string;
  onlineToken: string;
}

export async function startCyberImpactSimulator(
  options: CyberImpactSimulatorOptions = {},
): Promise<CyberImpactSimulator> {
  const tokens = new Map(Object.entries(options.apiTokens ?? { [cyberImpactSandboxApiToken]: {} }));
  const groups = (options.groups ?? defaultGroups).map((group) => ({
    id: group.id,
    title: group.title,
    isPublic: group.isPublic ?? true,
    membersCount: group.membersCount ?? 0,
    mailingsCount: group.mailingsCount ?? 0,
    createdOn: group.createdOn ?? '2024-01-15 09:30:00',
    isDynamic: group.isDynamic ?? false,
  }));
  const account = options.account ?? {
    username: 'glowtify',
    email: 'marketing@brand.example',
    account: 'Glowtify Beauty',
  };
  const timeZone = options.timeZone ?? platformDescriptors.cyberimpact.settings.sendAtTimeZone.default;
  const validatedSenders = options.validatedSenders?.map((address) => address.toLowerCase());
  const now = options.now ?? (() => new Date());
  const mailings = new Map<number, MailingRecord>();
  let nextMailingId = 2470;

  /** What is due goes out: CyberImpact sends a scheduled mailing by itself once its time has come. */
  const sendDue = () => {
    const at = now().getTime();
    for (const mailing of mailings.values()) {
      if (
        (mailing.status === 'scheduled' || mailing.status === 'sending') &&
        mailing.scheduledFor.getTime() <= at
      ) {
        mailing.status = 'sent';
        mailing.startedOn ??= mailing.scheduledFor;
      }
    }
  };

  /** A date as CyberImpact writes it: "Y-m-d H:i:s.u" in its zone, or with its offset when asked. */
  const formatDate = (date: Date | null, format: string | undefined): string | null => {
    if (!date) return null;
    const zoned = Temporal.Instant.fromEpochMilliseconds(date.getTime()).toZonedDateTimeISO(timeZone);
    const wall = zoned.toPlainDateTime();
    const day = wall.toPlainDate().toString();
    const time = wall.toPlainTime().toString({ smallestUnit: 'second' });
    if (format === 'ATOM') return `${day}T${time}${zoned.offset}`;
    if (format === 'ISO8601') return `${day}T${time}${zoned.offset.replace(':', '')}`;
    return `${day} ${wall.toPlainTime().toString({ smallestUnit: 'millisecond' })}`;
  };

  const recipientsOf = (mailing: MailingRecord) =>
    groups
      .filter((group) => mailing.groups.includes(group.id))
      .reduce((sum, group) => sum + group.membersCount, 0);

  /** A sent mailing's statistics by the simulator's clock; null before it is sent. */
  const activityOf = (mailing: MailingRecord) =>
    mailing.status === 'sent' && mailing.startedOn
      ? mailingActivity(recipientsOf(mailing), now().getTime() - mailing.startedOn.getTime())
      : null;

  const representation = (mailing: MailingRecord, format: string | undefined) => {
    const sent = mailing.status === 'sent' ? recipientsOf(mailing) : 0;
    const activity = activityOf(mailing);
    return {
      id: mailing.id,
      subject: mailing.subject,
      language: mailing.language,
      startedOn: formatDate(mailing.startedOn, format),
      scheduledOn: formatDate(mailing.scheduledFor, format),
      replyTo: mailing.replyTo ?? '',
      bodyHtml: mailing.bodyHtml ?? '',
      bodyText: mailing.bodyText ?? '',
      recipientsCount: recipientsOf(mailing),
      emailsSent: sent,
      emailsDelivered: activity?.counts.delivered ?? 0,
      emailsStopped: 0,
      views: activity?.views ?? 0,
      clicks: activity?.clicks ?? 0,
      sentToFriend: 0,
      incorrectAddresses: 0,
      technicalProblems: 0,
      deliveryRate: 0,
      clickRate: 0,
      viewRate: 0,
      status: mailing.status,
      mailFrom: mailing.mailFrom ?? '',
      fromName: mailing.fromName ?? '',
      mailingStatistics: mailing.mailingStatistics,
      links: [],
      recipientGroups: groups
        .filter((group) => mailing.groups.includes(group.id))
        .map((group) => ({ id: group.id, title: group.title })),
      viewOnlineURL: `https://app.cyberimpact.com/newsletter-view-online?ct=${mailing.onlineToken}`,
    };
  };

  const authenticate = (request: RecordedRequest): CyberImpactTokenOptions | SimulatorResponse => {
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
    const token = match?.[1];
    const found = token === undefined ? undefined : tokens.get(token);
    if (!found) return answer(401, 'Invalid credentials.');
    if ((found.forbiddenPaths ?? []).some((prefix) => request.path.startsWith(prefix))) {
      return answer(403, 'This API token does not have access to this resource.');
    }
    return found;
  };

  /** `page` and `limit` as the reference allows them, or the refusal. */
  const paging = (request: RecordedRequest): { page: number; limit: number } | SimulatorResponse => {
    const page = positiveInteger(request.query.page, 1);
    const limit = positiveInteger(request.query.limit, defaultLimit);
    if (page === null) return answer(400, 'The page parameter must be a positive integer.');
    if (limit === null || limit > maxLimit) {
      return answer(400, `The limit parameter must be an integer between 1 and ${maxLimit}.`);
    }
    return { page, limit };
  };

  const dateFormat = (request: RecordedRequest): string | undefined | SimulatorResponse => {
    const format = request.query.dateReturnFormat;
    if (format === undefined || format === '') return undefined;
    if (!dateFormats.includes(format)) {
      return answer(400, `The dateReturnFormat parameter must be one of: ${dateFormats.join(', ')}.`);
    }
    return format;
  };

  const listGroups = (request: RecordedRequest): SimulatorResponse => {
    const pages = paging(request);
    if ('status' in pages) return pages;
    const { page, limit } = pages;
    const sort = request.query.sort || 'group_asc';
    if (!(groupSorts as readonly string[]).includes(sort)) {
      return answer(400, `The sort parameter must be one of: ${groupSorts.join(', ')}.`);
    }
    const sorted = [...groups].sort((a, b) => {
      switch (sort) {
        case 'group_desc':
          return b.title.localeCompare(a.title);
        case 'nbmember_asc':
          return a.membersCount - b.membersCount;
        case 'nbmember_desc':
          return b.membersCount - a.membersCount;
        case 'date_asc':
          return a.createdOn.localeCompare(b.createdOn);
        case 'date_desc':
          return b.createdOn.localeCompare(a.createdOn);
        default:
          return a.title.localeCompare(b.title);
      }
    });
    return {
      status: 200,
      body: {
        groups: sorted.slice((page - 1) * limit, page * limit),
        totalCount: groups.length,
        page,
        limit,
        sort,
      },
    };
  };

  /** `GET /mailings/scheduled` and `/mailings/sent` (a mailing being sent has started: it is listed as sent). */
  const listMailings =
    (kind: 'scheduled' | 'sent') =>
    (request: RecordedRequest): SimulatorResponse => {
      const pages = paging(request);
      if ('status' in pages) return pages;
      const format = dateFormat(request);
      if (typeof format === 'object') return format;
      const { page, limit } = pages;
      const sort = request.query.sort ?? '';
      if (sort !== '' && !(mailingSorts as readonly string[]).includes(sort)) {
        return answer(400, `The sort parameter must be one of: ${mailingSorts.join(', ')}.`);
      }
      const idGroup = request.query.idGroup;
      if (idGroup !== undefined && idGroup !== '' && !/^\d+$/.test(idGroup)) {
        return answer(400, 'The idGroup parameter must be an integer.');
      }
      const dateOf = (mailing: MailingRecord) =>
        (kind === 'sent' ? (mailing.startedOn ?? mailing.scheduledFor) : mailing.scheduledFor).getTime();
      const listed = [...mailings.values()]
        .filter((mailing) =>
          kind === 'scheduled'
            ? mailing.status === 'scheduled'
            : mailing.status === 'sent' || mailing.status === 'sending',
        )
        .filter((mailing) => !idGroup || mailing.groups.includes(Number(idGroup)))
        .sort((a, b) => {
          const [field, direction] = sort.split('_');
          const order = direction === 'desc' ? -1 : 1;
          switch (field) {
            case 'language':
              return order * a.language.localeCompare(b.language);
            case 'subject':
              return order * a.subject.localeCompare(b.subject);
            case 'recipients':
              return order * (recipientsOf(a) - recipientsOf(b));
            case 'date':
              return order * (dateOf(a) - dateOf(b));
            default:
              return a.id - b.id;
          }
        });
      return {
        status: 200,
        body: {
          mailings: listed.slice((page - 1) * limit, page * limit).map((mailing) => ({
            id: mailing.id,
            subject: mailing.subject,
            language: mailing.language,
            ...(kind === 'sent'
              ? { startedOn: formatDate(mailing.startedOn, format) }
              : { scheduledOn: formatDate(mailing.scheduledFor, format) }),
            recipientsCount: recipientsOf(mailing),
            mailFrom: mailing.mailFrom ?? '',
          })),
          totalCount: listed.length,
          page,
          limit,
          sort,
        },
      };
    };

  const createMailing = (request: RecordedRequest): SimulatorResponse => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return answer(400, 'The request body must be a JSON object.');
    }
    const fields = body as Record<string, unknown>;
    const errors: Record<string, string[]> = {};
    const complain = (field: string, message: string) => {
      errors[field] = [...(errors[field] ?? []), message];
    };
    const text = (field: string): string | null => {
      const value = fields[field];
      if (value === undefined || value === null || value === '') return null;
      if (typeof value !== 'string') {
        complain(field, `The ${field} must be a string.`);
        return null;
      }
      return value;
    };
    const subject = text('subject');
    if (!subject?.trim()) complain('subject', 'The subject field is required.');
    const language = text('language');
    if (!language) complain('language', 'The language field is required.');
    else if (!languages.includes(language)) complain('language', 'The language must be en_ca or fr_ca.');
    const groupIds: number[] = [];
    const groupList = fields.groups;
    if (groupList === undefined || groupList === null || groupList === '') {
      complain('groups', 'The groups field is required.');
    } else if (typeof groupList !== 'string' || !/^\d+(,\d+)*$/.test(groupList)) {
      complain('groups', 'The groups must be a comma-separated list of group ids.');
    } else {
      for (const id of groupList.split(',').map(Number)) {
        if (!groups.some((group) => group.id === id)) complain('groups', `The group ${id} does not exist.`);
        else if (!groupIds.includes(id)) groupIds.push(id);
      }
    }
    const sendAt = text('sendAt');
    let scheduledFor: Date | null = null;
    if (!sendAt) complain('sendAt', 'The sendAt field is required.');
    else if (!sendAtFormat.test(sendAt))
      complain('sendAt', 'The sendAt does not match the format Y-m-d H:i:s.');
    else {
      try {
        // A wall time the zone skips or repeats is read the way PHP reads it (unconfirmed): the later reading
        // of a skipped one, the first of a repeated one.
        const wall = Temporal.PlainDateTime.from(sendAt.replace(' ', 'T'), { overflow: 'reject' });
        scheduledFor = new Date(
          wall.toZonedDateTime(timeZone, { disambiguation: 'compatible' }).epochMilliseconds,
        );
        if (scheduledFor.getTime() < now().getTime()) {
          complain('sendAt', 'The sendAt must be a date after now.');
        }
      } catch {
        complain('sendAt', 'The sendAt is not a valid date.');
      }
    }
    const mailFrom = text('mailFrom');
    if (mailFrom && !emailAddress.test(mailFrom))
      complain('mailFrom', 'The mailFrom must be a valid email address.');
    else if (mailFrom && validatedSenders && !validatedSenders.includes(mailFrom.toLowerCase())) {
      complain('mailFrom', 'The mailFrom address is not a validated sender of this account.');
    }
    const replyTo = text('replyTo');
    if (replyTo && !emailAddress.test(replyTo))
      complain('replyTo', 'The replyTo must be a valid email address.');
    const fromName = text('fromName');
    const bodyHtml = text('bodyHtml');
    const bodyText = text('bodyText');
    if (!bodyHtml && !bodyText) complain('bodyHtml', 'A mailing needs a bodyHtml or a bodyText.');
    const statistics = text('mailingStatistics') ?? 'detailed';
    if (!statisticsModes.includes(statistics)) {
      complain('mailingStatistics', 'The mailingStatistics must be detailed or anonymized.');
    }
    if (fields.googleAnalytics !== undefined && typeof fields.googleAnalytics !== 'boolean') {
      complain('googleAnalytics', 'The googleAnalytics field must be true or false.');
    }
    if (Object.keys(errors).length > 0 || !subject || !language || !sendAt || !scheduledFor) {
      return invalid(errors);
    }
    const id = nextMailingId;
    nextMailingId += 1;
    const mailing: MailingRecord = {
      id,
      subject,
      language,
      groups: groupIds,
      sendAt,
      scheduledFor,
      status: 'scheduled',
      startedOn: null,
      mailFrom,
      fromName,
      replyTo,
      bodyHtml,
      bodyText,
      mailingStatistics: statistics,
      onlineToken: Buffer.from(`mailing-${id}`).toString('base64url'),
    };
    mailings.set(id, mailing);
    return { status: 201, body: representation(mailing, undefined) };
  };

  const oneMailing = (request: RecordedRequest, id: number): SimulatorResponse => {
    const mailing = mailings.get(id);
    if (!mailing || mailing.status === 'deleted') return answer(404, 'Mailing not found.');
    if (request.method === 'DELETE') {
      if (mailing.status !== 'scheduled') {
        // The reference says a mailing is deleted only before it is sent; how it refuses is unconfirmed.
        return answer(400, 'This mailing is being sent or has already been sent: it cannot be deleted.');
      }
      mailing.status = 'deleted';
      return { status: 200, body: { [String(id)]: 'deleted' } };
    }
    const format = dateFormat(request);
    if (typeof format === 'object') return format;
    return { status: 200, body: representation(mailing, format) };
  };

  const server = await startSimulatorServer(
    (request) => {
      sendDue();
      const path = request.path.replace(/\/+$/, '') || '/';
      const routes: Record<
        string,
        { methods: string[]; handle: (request: RecordedRequest) => SimulatorResponse }
      > = {
        '/ping': { methods: ['GET'], handle: () => ({ status: 200, body: { ping: 'success', ...account } }) },
        '/groups': { methods: ['GET'], handle: listGroups },
        '/mailings': { methods: ['POST'], handle: createMailing },
        '/mailings/scheduled': { methods: ['GET'], handle: listMailings('scheduled') },
        '/mailings/sent': { methods: ['GET'], handle: listMailings('sent') },
      };
      const byKind = /^\/mailings\/(\d+)\/recipients\/([a-z-]+)$/.exec(path);
      const mailingOf = (id: number) => mailings.get(id);
      const byId = /^\/mailings\/(\d+)$/.exec(path);
      const route =
        routes[path] ??
        (byId
          ? {
              methods: ['GET', 'DELETE'],
              handle: (found: RecordedRequest) => oneMailing(found, Number(byId[1])),
            }
          : undefined);
      if (!route && byKind && request.method === 'GET') {
        const auth = authenticate(request);
        if ('status' in auth) return auth;
        const mailing = mailingOf(Number(byKind[1]));
        if (!mailing || mailing.status === 'deleted') return answer(404, 'Mailing not found.');
        return recipientsPage(request.query, byKind[2] ?? '', activityOf(mailing)?.counts ?? null);
      }
      if (!route) return answer(404, 'Not found.');
      const auth = authenticate(request);
      if ('status' in auth) return auth;
      if (!route.methods.includes(request.method)) return answer(405, 'Method not allowed.');
      return route.handle(request);
    },
    { port: options.port },
  );

  const failure = (kind: CyberImpactFailureKind, retryAfterSeconds: number): SimulatorResponse => {
    switch (kind) {
      case 'transient':
        return answer(503, 'Service temporarily unavailable.');
      case 'rate_limited':
        return answer(429, 'Too many requests.', { 'Retry-After': String(retryAfterSeconds) });
      case 'invalid_token':
        return answer(401, 'Invalid credentials.');
      case 'forbidden':
        return answer(403, 'This API token does not have access to this resource.');
    }
  };

  return {
    ...server,
    revokeToken(token) {
      tokens.delete(token);
    },
    failWith(kind, { retryAfterSeconds, ...match }) {
      server.failNext({ ...match, response: failure(kind, retryAfterSeconds ?? 1) });
    },
    mailings() {
      sendDue();
      return [...mailings.values()].map(
        ({ mailingStatistics: _statistics, onlineToken: _token, ...view }) => ({
          ...view,
          groups: [...view.groups],
        }),
      );
    },
    deleteMailing(id) {
      const mailing = mailings.get(id);
      if (mailing) mailing.status = 'deleted';
    },
    beginSending(id) {
      const mailing = mailings.get(id);
      if (mailing?.status !== 'scheduled') throw new Error(`mailing ${id} is not scheduled`);
      mailing.status = 'sending';
      mailing.startedOn = now();
    },
  };
}
