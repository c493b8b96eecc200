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

export interface FailureRule {
  method?: string;
  /** Matches the request path: a string is a substring, a RegExp is tested. */
  path: string | RegExp;
  /** How many matching requests fail; default 1. */
  times?: number;
  /** The answer they get instead (the platform's own error shape, built by the simulator). */
  response: SimulatorResponse;
}

export interface SimulatorServer {
  url: string;
  received: RecordedRequest[];
  /** Requests whose path matches, in arrival order. */
  receivedMatching(path: string | RegExp, method?: string): RecordedRequest[];
  failNext(rule: FailureRule): void;
  /** Called after a response was written: lets a test act at an exact point (e.g. kill a worker). */
  onResponded(listener: (request: RecordedRequest, response: SimulatorResponse) => void): void;
  close(): Promise<void>;
}

function matches(path: string, pattern: string | RegExp) {
  return typeof pattern === 'string' ? path.includes(pattern) : pattern.test(path);
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
  const rules: (FailureRule & { remaining: number })[] = [];
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
    let response: SimulatorResponse;
    const rule = rules.find(
      (candidate) =>
        candidate.remaining > 0 &&
        (!candidate.method || candidate.method === recorded.method) &&
        matches(recorded.path, candidate.path),
    );
    if (rule) {
      rule.remaining -= 1;
      response = rule.response;
    } else {
      try {
        response = await handler(recorded);
      } catch (error) {
        response = {
          status: 500,
          body: { error: { message: `simulator error: ${(error as Error).message}` } },
        };
      }
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
      rules.push({ ...rule, remaining: rule.times ?? 1 });
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
