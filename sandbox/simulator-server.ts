// The common ground of the platform simulators: an HTTP server on loopback that records every request it
// receives, and failure injection so tests can make the next matching requests fail like the platform would.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/v26.0/1789/media_publish`. */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** Parsed JSON or form body (an object), the raw text otherwise, null when empty. */
  body: unknown;
  receivedAt: Date;
}

export interface SimulatorResponse {
  status: number;
  headers?: Record<string, string>;
  /** Serialized as JSON unless it is a string; undefined → an empty body. */
  body?: unknown;
}

export type SimulatorHandler = (request: RecordedRequest) => SimulatorResponse | Promise<SimulatorResponse>;

/** Which requests a rule applies to. */
export interface RequestMatch {
  method?: string;
  /** Matches the request path: a string is a substring, a RegExp is tested. */
  path: string | RegExp;
  /**
   * Matches the request body as text (JSON re-serialized), like `path`: what tells apart the operations of an
   * API with one path for all (GraphQL: `articleCreate` or `articles(`).
   */
  body?: string | RegExp;
  /** How many matching requests the rule applies to; default 1. */
  times?: number;
  /** Matching requests that pass untouched before the rule applies (e.g. refuse the second of two calls). */
  skip?: number;
}

/** Which requests a simulator's `failWith` spoils: the platform's failure is its own, the match is shared. */
export type FailureMatch = Omit<RequestMatch, 'skip'>;

export interface FailureRule extends RequestMatch {
  /** The answer they get instead (the platform's own error shape, built by the simulator). */
  response: SimulatorResponse;
}

/** A request held by `holdNext`: the platform has not answered (nor acted) yet. */
export interface HeldRequest {
  /** Resolves with the request once one arrives. */
  reached: Promise<RecordedRequest>;
  /** Lets the platform act and answer as it would have. */
  release(): void;
  /** Answers with this instead, without acting. */
  answer(response: SimulatorResponse): void;
  /** Withdraws the rule if no request has come to it yet (a chaos fault that found nothing to hold). */
  withdraw(): void;
}

export interface SimulatorServer {
  url: string;
  received: RecordedRequest[];
  /** Requests whose path matches, in arrival order. */
  receivedMatching(path: string | RegExp, method?: string): RecordedRequest[];
  /** Returns what withdraws the rule before it is used up (an outage that ends). */
  failNext(rule: FailureRule): () => void;
  /** The platform acts on the next matching requests (the handler runs) but the answer never arrives. */
  dropAnswerNext(rule: RequestMatch, onDropped?: (request: RecordedRequest) => void): () => void;
  /**
   * Holds the next matching request until the test releases or answers it: before the platform acts, or
   * with `acted`, after (the platform has done it; only its answer waits).
   */
  holdNext(rule: Omit<RequestMatch, 'times'> & { acted?: boolean }): HeldRequest;
  /** Forgets every failure rule not used up yet (held requests stay held until released). */
  clearFailures(): void;
  /** Called after a response was written: lets a test act at an exact point (e.g. kill a worker). */
  onResponded(listener: (request: RecordedRequest, response: SimulatorResponse) => void): void;
  close(): Promise<void>;
}

function matches(path: string, pattern: string | RegExp) {
  return typeof pattern === 'string' ? path.includes(pattern) : pattern.test(path);
}

function bodyText(body: unknown): string {
  return typeof body === 'string' ? body : JSON.stringify(body ?? '');
}

async function readBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return null;
  const type = request.headers['content-type'] ?? '';
  if (type.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  if (type.includes('application/x-www-form-urlencoded'))
    return Object.fromEntries(new URLSearchParams(text));
  return text;
}

export async function startSimulatorServer(
  handler: SimulatorHandler,
  options: { port?: number; host?: string } = {},
): Promise<SimulatorServer> {
  const received: RecordedRequest[] = [];
  type Action =
    | { kind: 'answer'; response: SimulatorResponse }
    | { kind: 'drop'; onDropped?: ((request: RecordedRequest) => void) | undefined }
    | {
        kind: 'hold';
        acted: boolean;
        arrived: (request: RecordedRequest) => void;
        until: Promise<SimulatorResponse | null>;
      };
  const rules: (RequestMatch & { action: Action; remaining: number; skipped: number })[] = [];
  const addRule = (match: RequestMatch, action: Action) => {
    const rule = { ...match, action, remaining: match.times ?? 1, skipped: 0 };
    rules.push(rule);
    return () => {
      const index = rules.indexOf(rule);
      if (index >= 0) rules.splice(index, 1);
    };
  };
  const listeners: ((request: RecordedRequest, response: SimulatorResponse) => void)[] = [];

  const respond = (res: ServerResponse, response: SimulatorResponse) => {
    const isText = typeof response.body === 'string';
    const payload =
      response.body === undefined ? '' : isText ? (response.body as string) : JSON.stringify(response.body);
    const headers: Record<string, string> = { ...(response.headers ?? {}) };
    if (payload !== '' && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
      headers['content-type'] = isText ? 'text/plain; charset=utf-8' : 'application/json';
    }
    res.writeHead(response.status, headers);
    res.end(payload);
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([name, value]) => [
        name,
        Array.isArray(value) ? value.join(', ') : (value ?? ''),
      ]),
    );
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: await readBody(req),
      receivedAt: new Date(),
    };
    received.push(recorded);
    let response: SimulatorResponse | null = null;
    const rule = rules.find((candidate) => {
      if (
        candidate.remaining <= 0 ||
        (candidate.method && candidate.method !== recorded.method) ||
        !matches(recorded.path, candidate.path) ||
        (candidate.body !== undefined && !matches(bodyText(recorded.body), candidate.body))
      ) {
        return false;
      }
      if (candidate.skipped < (candidate.skip ?? 0)) {
        candidate.skipped += 1;
        return false;
      }
      return true;
    });
    if (rule) rule.remaining -= 1;
    const action = rule?.action;
    if (action?.kind === 'answer') response = action.response;
    const act = async () => {
      try {
        return await handler(recorded);
      } catch (error) {
        return { status: 500, body: { error: { message: `simulator error: ${(error as Error).message}` } } };
      }
    };
    if (action?.kind === 'hold' && action.acted) {
      const acted = await act();
      action.arrived(recorded);
      response = (await action.until) ?? acted;
    } else if (action?.kind === 'hold') {
      action.arrived(recorded);
      response = await action.until;
    }
    if (response === null) response = await act();
    if (action?.kind === 'drop') {
      // The platform acted; the connection dies before its answer leaves.
      req.socket.destroy();
      action.onDropped?.(recorded);
      return;
    }
    respond(res, response);
    for (const listener of listeners) listener(recorded, response);
  });

  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve),
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    received,
    receivedMatching: (path, method) =>
      received.filter((request) => matches(request.path, path) && (!method || request.method === method)),
    failNext(rule) {
      return addRule(rule, { kind: 'answer', response: rule.response });
    },
    clearFailures() {
      rules.length = 0;
    },
    dropAnswerNext(rule, onDropped) {
      return addRule(rule, { kind: 'drop', onDropped });
    },
    holdNext(rule) {
      let arrived!: (request: RecordedRequest) => void;
      let settle!: (response: SimulatorResponse | null) => void;
      const reached = new Promise<RecordedRequest>((resolve) => {
        arrived = resolve;
      });
      const until = new Promise<SimulatorResponse | null>((resolve) => {
        settle = resolve;
      });
      const withdraw = addRule(
        { ...rule, times: 1 },
        { kind: 'hold', acted: rule.acted === true, arrived, until },
      );
      return { reached, release: () => settle(null), answer: (response) => settle(response), withdraw };
    },
    onResponded(listener) {
      listeners.push(listener);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
