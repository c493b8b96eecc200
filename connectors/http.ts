// The transport every adapter sends through: one HTTP try with a time-out and the caller's abort signal, the
// body encodings the platforms take, Retry-After, and keeping secrets out of messages. Mapping an answer onto
// an error class stays in each adapter: the platforms disagree on what the same status means.
import { PlatformError } from '../domain/publication-errors.ts';

/** The network reason a request got no answer (ECONNREFUSED, ETIMEDOUT, …), for a TRANSIENT failure's message. */
export function networkReason(error: unknown): string {
  // node:http puts the code on the error itself, fetch (undici) on its cause.
  const own = (error as { code?: unknown } | null)?.code;
  if (typeof own === 'string') return own;
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  return error instanceof Error ? error.name : 'network error';
}

/** Replaces each secret (a token, a code, a password of 4 characters or more) in a text that may reach a log. */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let result = text;
  for (const secret of secrets)
    if (secret && secret.length >= 4) result = result.split(secret).join('[redacted]');
  return result;
}

/**
 * A `Retry-After` header in milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when
 * absent or unreadable, so each platform picks its own fallback.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** The delay to report with a RATE_LIMITED failure, as an optional field to spread into it. */
export function retryAfterField(headers: Headers): { retryAfterMs?: number } {
  const retryAfterMs = parseRetryAfter(headers.get('retry-after'));
  return retryAfterMs === undefined ? {} : { retryAfterMs };
}

export const isSuccess = (status: number) => status >= 200 && status < 300;

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** Parsed JSON, the raw text when it is not JSON, null when empty. */
  body: unknown;
}

/**
 * The JSON text with every integer too large for a double written as a string of its digits: platforms send
 * 64-bit ids as numbers (TikTok's post ids have 19 digits), which JSON.parse would silently round.
 */
function quoteUnsafeIntegers(text: string): string {
  let result = '';
  let copiedUpTo = 0;
  let inString = false;
  const isDigit = (char: string | undefined) => char !== undefined && char >= '0' && char <= '9';
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index];
    if (inString) {
      if (char === '\\') index += 1;
      else if (char === '"') inString = false;
      continue;
    }
    if (char === '"') {
      inString = true;
      continue;
    }
    if (char !== '-' && !isDigit(char)) continue;
    let end = char === '-' ? index + 1 : index;
    while (isDigit(text[end])) end += 1;
    let integer = true;
    if (text[end] === '.') {
      integer = false;
      end += 1;
      while (isDigit(text[end])) end += 1;
    }
    if (text[end] === 'e' || text[end] === 'E') {
      integer = false;
      end += 1;
      if (text[end] === '+' || text[end] === '-') end += 1;
      while (isDigit(text[end])) end += 1;
    }
    const literal = text.slice(index, end);
    if (integer && !Number.isSafeInteger(Number(literal))) {
      result += `${text.slice(copiedUpTo, index)}"${literal}"`;
      copiedUpTo = end;
    }
    index = end - 1;
  }
  return copiedUpTo === 0 ? text : result + text.slice(copiedUpTo);
}

/**
 * An answer's text as the adapters read it: parsed JSON, the raw text when it is not JSON, null when empty.
 * An integer beyond 2^53 comes as a string of its exact digits (see quoteUnsafeIntegers).
 */
export function parseBody(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(/\d{16}/.test(text) ? quoteUnsafeIntegers(text) : text);
  } catch {
    return text;
  }
}

/** What a request carries; the encoding sets its content type, so no adapter writes it by hand. */
export type RequestBody =
  | { json: unknown; contentType?: string }
  | { form: Record<string, string | undefined> | URLSearchParams }
  | { graphql: string; variables?: Record<string, unknown> }
  | { bytes: Uint8Array; contentType: string };

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** The caller's cancellation (an activity's); a cancelled request rethrows as cancelled, not TRANSIENT. */
  signal?: AbortSignal | undefined;
  /** Values that must never reach the TRANSIENT message (a URL may carry them in its reason). */
  secrets?: readonly (string | undefined)[];
}

export interface TransportOptions {
  /** The platform's name in messages ("LinkedIn could not be reached …"). */
  platformName: string;
  /** One request's time limit; a hung request becomes TRANSIENT instead of holding the caller. */
  timeoutMs: number;
  /** Tests inject a fetch; production uses the global one. */
  fetch?: typeof fetch | undefined;
}

type Payload = string | URLSearchParams | Uint8Array;

function encode(body: RequestBody): { contentType: string; payload: Payload } {
  if ('bytes' in body) return { contentType: body.contentType, payload: body.bytes };
  if ('form' in body) {
    if (body.form instanceof URLSearchParams)
      return { contentType: 'application/x-www-form-urlencoded', payload: body.form };
    const form = new URLSearchParams();
    for (const [name, value] of Object.entries(body.form)) if (value !== undefined) form.set(name, value);
    return { contentType: 'application/x-www-form-urlencoded', payload: form };
  }
  if ('graphql' in body) {
    return {
      contentType: 'application/json',
      payload: JSON.stringify({ query: body.graphql, variables: body.variables ?? {} }),
    };
  }
  return { contentType: body.contentType ?? 'application/json', payload: JSON.stringify(body.json) };
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

/**
 * One HTTP try that reads the answer with `read`: only no answer at all (network error, time-out, also while
 * reading) throws, as TRANSIENT; a cancellation by the caller rethrows the abort as it came.
 */
async function exchange<T>(
  options: TransportOptions,
  request: HttpRequest,
  read: (response: Response) => Promise<T>,
): Promise<{ status: number; headers: Headers; value: T }> {
  const doFetch = options.fetch ?? fetch;
  const headers: Record<string, string> = { ...(request.headers ?? {}) };
  let payload: Payload | undefined;
  if (request.body !== undefined) {
    const encoded = encode(request.body);
    if (!hasHeader(headers, 'content-type')) headers['content-type'] = encoded.contentType;
    payload = encoded.payload;
  }
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  try {
    const response = await doFetch(request.url, {
      method: request.method,
      headers,
      ...(payload === undefined ? {} : { body: payload }),
      signal,
    });
    return { status: response.status, headers: response.headers, value: await read(response) };
  } catch (error) {
    if (request.signal?.aborted) throw error;
    const reason = timeout.aborted
      ? `no answer within ${Math.round(options.timeoutMs / 1000)} s`
      : networkReason(error);
    throw new PlatformError({
      class: 'TRANSIENT',
      message: redact(`${options.platformName} could not be reached (${reason})`, request.secrets ?? []),
    });
  }
}

/**
 * Exactly one HTTP try (retries belong to Temporal): every status is an answer for the adapter to map; only
 * no answer at all (network error, time-out) throws, as TRANSIENT. A cancellation by the caller rethrows the
 * abort as it came, so a cancelled activity looks cancelled.
 */
export async function send(options: TransportOptions, request: HttpRequest): Promise<HttpAnswer> {
  const { status, headers, value } = await exchange(options, request, (response) => response.text());
  return { status, headers, body: parseBody(value) };
}

export interface DownloadAnswer {
  status: number;
  headers: Headers;
  /** The body as it came, up to `maxBytes`. */
  bytes: Uint8Array;
  /** The body was longer than `maxBytes`: reading stopped there and `bytes` is incomplete. */
  tooLarge: boolean;
}

/**
 * One GET of a file (a task's media) read as bytes, never more than `maxBytes` held in memory: a file that
 * says or turns out to be larger stops the read. Failures to answer are TRANSIENT, as with `send`.
 */
export async function download(
  options: TransportOptions,
  request: Omit<HttpRequest, 'method' | 'body'> & { maxBytes: number },
): Promise<DownloadAnswer> {
  const { status, headers, value } = await exchange(
    options,
    { ...request, method: 'GET' },
    async (response): Promise<{ bytes: Uint8Array; tooLarge: boolean }> => {
      const declared = Number(response.headers.get('content-length') ?? Number.NaN);
      if (!response.body || declared > request.maxBytes) {
        await response.body?.cancel();
        return { bytes: new Uint8Array(0), tooLarge: declared > request.maxBytes };
      }
      const chunks: Uint8Array[] = [];
      let length = 0;
      // Leaving the loop early cancels the stream: the rest is never downloaded.
      for await (const chunk of response.body) {
        length += chunk.byteLength;
        if (length > request.maxBytes) return { bytes: new Uint8Array(0), tooLarge: true };
        chunks.push(chunk);
      }
      return { bytes: Buffer.concat(chunks), tooLarge: false };
    },
  );
  return { status, headers, ...value };
}

/** A sender bound to one platform's transport options. */
export function createSender(options: TransportOptions): (request: HttpRequest) => Promise<HttpAnswer> {
  return (request) => send(options, request);
}
