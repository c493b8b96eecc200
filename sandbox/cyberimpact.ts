// CyberImpact simulator (tests and `npm run demo`): the connection subset Glowtify uses (`GET /ping`,
// `GET /groups`), checking the Bearer token like CyberImpact and answering in the shapes its public clients
// read. CyberImpact publishes little about its errors: bodies here are `{"message"}` (unconfirmed).
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
}

export type CyberImpactFailureKind = 'transient' | 'rate_limited' | 'invalid_token' | 'forbidden';

export type CyberImpactSimulator = SimulatorServer & {
  /** Makes a token stop working (revoked in CyberImpact → Developers → API tokens). */
  revokeToken(token: string): void;
  /** Makes the next matching requests fail the way CyberImpact would (status, headers, body). */
  failWith(kind: CyberImpactFailureKind, rule: FailureMatch & { retryAfterSeconds?: number }): void;
};

/** The token `npm run demo` connects with; any string works once it is listed in `apiTokens`. */
export const cyberImpactSandboxApiToken =
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJnbG93dGlmeS1zYW5kYm94In0.c2FuZGJveC1zaWduYXR1cmU';

/** Page size limits as public clients of the API document them (max 10 000; unconfirmed). */
const maxLimit = 10_000;
const defaultLimit = 20;
// Sort values public clients list for `GET /groups` (unconfirmed).
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

const defaultGroups: CyberImpactGroup[] = [
  { id: 101, title: 'Newsletter' },
  { id: 102, title: 'Clients VIP' },
  { id: 103, title: 'Spring launch waitlist' },
];

function answer(status: number, message: string, headers?: Record<string, string>): SimulatorResponse {
  return { status, body: { message }, ...(headers ? { headers } : {}) };
}

function positiveInteger(value: string | undefined, fallback: number): number | null {
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value)) return null;
  const number = Number(value);
  return number >= 1 ? number : null;
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

  const listGroups = (request: RecordedRequest): SimulatorResponse => {
    const page = positiveInteger(request.query.page, 1);
    const limit = positiveInteger(request.query.limit, defaultLimit);
    if (page === null) return answer(400, 'The page parameter must be a positive integer.');
    if (limit === null || limit > maxLimit) {
      return answer(400, `The limit parameter must be an integer between 1 and ${maxLimit}.`);
    }
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

  const server = await startSimulatorServer(
    (request) => {
      const routes: Record<string, (request: RecordedRequest) => SimulatorResponse> = {
        '/ping': () => ({ status: 200, body: { ping: 'success', ...account } }),
        '/groups': listGroups,
      };
      const route = routes[request.path.replace(/\/+$/, '') || '/'];
      if (!route) return answer(404, 'Not found.');
      const auth = authenticate(request);
      if ('status' in auth) return auth;
      if (request.method !== 'GET') return answer(405, 'Method not allowed.');
      return route(request);
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
  };
}
