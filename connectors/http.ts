// What every adapter's HTTP calls share: why a request got no answer, and keeping secrets out of messages.

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
