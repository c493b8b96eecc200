// What an admin command ends with when it does not succeed: a message for the operator and the exit code
// (1: refused or not found, the command was understood; 2: bad usage or configuration). Expected failures
// never print a stack trace.
import { ApiError } from '../api/errors.ts';

export class AdminFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new AdminFailure(message, 2);
export const refusal = (message: string) => new AdminFailure(message, 1);

/** The API's names of fields, as the admin command's options. */
const optionOfField: Record<string, string> = {
  'body.scheduledAt': '--at',
  'body.timeZone': '--zone',
  scheduledAt: '--at',
  timeZone: '--zone',
};

/**
 * An ApiError from the shared transition code, as the admin command says it: 400 is bad usage (the option it
 * names); 404, 409 (the lifecycle or the workflow refused, with its code) and 503 (no definite answer in time)
 * end with exit 1.
 */
export function fromApiError(error: ApiError): AdminFailure {
  if (error.statusCode === 400) {
    const issues = (error.details as { issues?: { field: string; message: string }[] } | undefined)?.issues;
    const message = issues
      ? issues.map((issue) => `${optionOfField[issue.field] ?? issue.field}: ${issue.message}`).join('; ')
      : error.message;
    return usageError(`bad usage: ${message}`);
  }
  if (error.statusCode === 404) return refusal(error.message);
  // 503: no definite answer in time (Temporal, a worker or a platform); the message says what may still apply.
  if (error.statusCode === 503) return refusal(`not done (${error.code}): ${error.message}`);
  return refusal(`refused (${error.code}): ${error.message}`);
}

/** Runs `action`, turning the shared code's ApiErrors into the admin command's failures. */
export async function asAdmin<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof ApiError) throw fromApiError(error);
    throw error;
  }
}
