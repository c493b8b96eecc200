// Mailchimp simulator (tests and `npm run demo`): one loopback server playing login.mailchimp.com (consent
// page, token and metadata endpoints) and the account's data-center API (`/3.0/ping`, `/3.0/lists`), as strict
// as Mailchimp about codes and tokens and answering in its shapes (OAuth errors, application/problem+json).
import { randomBytes } from 'node:crypto';
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
  /** The simulator's clock: code expiry follows it. */
  now?: () => Date;
}

export type MailchimpFailureKind =
  | 'transient'
  | 'rate_limited'
  | 'forbidden'
  | 'throttled_403'
  | 'token_invalid'
  /** The metadata endpoint's refusal of a token: HTTP 200 `{"error":"invalid_token"}`. */
  | 'metadata_token_refused';

export type MailchimpSimulator = SimulatorServer & {
  /** The next visit of the consent page redirects with `error=access_denied` and no code. */
  denyNextConsent(): void;
  /** The user disconnected the app in Mailchimp: every token issued so far is refused (401). */
  revokeTokens(): void;
  /** Makes the next matching requests fail the way Mailchimp fails them (its status, headers and body). */
  failWith(kind: MailchimpFailureKind, rule: FailureMatch): void;
};

interface AuthorizationCode {
  redirectUri: string;
  issuedAt: number;
  used: boolean;
}

const problemType = 'https://mailchimp.com/developer/marketing/docs/errors/';

function problem(status: number, title: string, detail: string): SimulatorResponse {
  return {
    status,
    headers: { 'content-type': 'application/problem+json; charset=utf-8' },
    body: { type: problemType, title, status, detail, instance: randomBytes(16).toString('hex') },
  };
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
    }
  };

  const server = await startSimulatorServer(handler, {
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
  });
}
