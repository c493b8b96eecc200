// What every adapter's HTTP calls share: why a request got no answer, and keeping secrets out of messages.
import { PlatformError } from '../domain/publication-errors.ts';

/** The network reason a request got no answer (ECONNREFUSED, ETIMEDOUT, …), for a TRANSIENT failure's message. */
export function networkReason(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  return error instanceof Error ? error.name : 'network error';
}

/** Replaces each secret (a token, a code) in a text that may reach a log or an error message. */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let result = text;
  for (const secret of secrets)
    if (secret && secret.length >= 6) result = result.split(secret).join('[redacted]');
  return result;
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** Parsed JSON, the raw text when it is not JSON, null when empty. */
  body: unknown;
}

/**
 * Exactly one HTTP try (retries belong to Temporal): every status is an answer for the adapter to map; only
 * no answer at all (network error, time-out) throws, as TRANSIENT.
 */
export async function sendOnce(
  doFetch: typeof fetch,
  url: string,
  init: RequestInit,
  options: { timeoutMs: number; platformName: string },
): Promise<HttpAnswer> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  let response: Response;
  let text: string;
  try {
    response = await doFetch(url, { ...init, signal: timeout });
    text = await response.text();
  } catch (error) {
    const reason = timeout.aborted
      ? `no answer within ${Math.round(options.timeoutMs / 1000)} s`
      : networkReason(error);
    throw new PlatformError({
      class: 'TRANSIENT',
      message: `${options.platformName} could not be reached (${reason})`,
    });
  }
  let body: unknown = null;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, headers: response.headers, body };
}
