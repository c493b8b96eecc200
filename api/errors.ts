// One error type for the API and one handler that maps every failure onto SPEC §7's format
// `{"error": {"code", "message", "details"}}`: a client's mistake is a 4xx naming the field, never a 500.
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new ApiError(404, 'NOT_FOUND', `${what} not found`);

export interface FieldIssue {
  field: string;
  message: string;
}

export const invalidInput = (issues: FieldIssue[]) =>
  new ApiError(400, 'INVALID_INPUT', issues.map((issue) => `${issue.field}: ${issue.message}`).join('; '), {
    issues,
  });

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().meta({ example: 'INVALID_INPUT' }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: 'Error' });

/** The error responses every route documents in the OpenAPI description. */
export function errorResponses<const Codes extends readonly number[]>(...codes: Codes) {
  return Object.fromEntries(codes.map((code) => [code, ErrorBody])) as Record<
    Codes[number],
    typeof ErrorBody
  >;
}

const fastifyClientErrors: Record<string, { status: number; code: string; message?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'INVALID_JSON', message: 'the body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'INVALID_JSON', message: 'the JSON body is empty' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'BODY_TOO_LARGE', message: 'the body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'send the body as application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'INVALID_INPUT', message: 'bad Content-Length' },
};

export function sendError(
  reply: FastifyReply,
  statusCode: number,
  code: string,
  message: string,
  details?: unknown,
) {
  return reply
    .code(statusCode)
    .type('application/json')
    .send({ error: details === undefined ? { code, message } : { code, message, details } });
}

export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof ApiError) {
    return sendError(reply, error.statusCode, error.code, error.message, error.details);
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = error.validationContext ?? 'body';
    const issues: FieldIssue[] = error.validation.flatMap((issue) => {
      const base = [where, ...issue.instancePath.split('/').filter(Boolean)].join('.');
      const keys = (issue.params as { keys?: string[] }).keys;
      if (issue.keyword === 'unrecognized_keys' && keys) {
        return keys.map((key) => ({ field: `${base}.${key}`, message: `unknown field "${key}"` }));
      }
      return [{ field: base, message: issue.message ?? 'is invalid' }];
    });
    return sendError(reply, 400, 'INVALID_INPUT', issues.map((i) => `${i.field}: ${i.message}`).join('; '), {
      issues,
    });
  }
  const fastifyCode = (error as FastifyError).code;
  const known = fastifyCode ? fastifyClientErrors[fastifyCode] : undefined;
  if (known) return sendError(reply, known.status, known.code, known.message ?? error.message);
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) {
    return sendError(reply, status, 'BAD_REQUEST', error.message);
  }
  request.log.error({ err: error }, 'unhandled error');
  return sendError(reply, 500, 'INTERNAL', 'internal error');
}

/**
 * The answer to a request Node's HTTP parser refused before Fastify saw it (the server's `clientError`): its
 * headers (request line and query included) over Node's 16 KiB (431), a request not received within the
 * request timeout (408), anything else malformed (400). Written on the socket, which is then closed.
 */
export function handleClientError(error: NodeJS.ErrnoException, socket: Socket) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [
          431,
          'Request Header Fields Too Large',
          'HEADERS_TOO_LARGE',
          'the request line and headers exceed 16 KiB',
        ]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'REQUEST_TIMEOUT', 'the request was not received in time']
        : [400, 'Bad Request', 'MALFORMED_REQUEST', 'the request is not valid HTTP'];
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/**
 * What Fastify's router refuses before a route is chosen, answered in the error format rather than Fastify's
 * own (found by API fuzzing as an undocumented 414): a path parameter longer than the router takes, a path
 * whose percent-encoding is broken. Both are a bad path parameter: 400, as every route documents.
 */
export function handleFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    const message = `a path parameter is longer than ${maxPathParameterLength} characters`;
    return sendError(reply, 400, 'INVALID_INPUT', `params: ${message}`, {
      issues: [{ field: 'params', message }],
    });
  }
  if (error.code === 'FST_ERR_BAD_URL') {
    const message = 'is not a valid URL component (broken percent-encoding)';
    return sendError(reply, 400, 'INVALID_INPUT', `params: ${message}`, {
      issues: [{ field: 'params', message }],
    });
  }
  return handleError(error, request, reply);
}

/** Fastify's default: longer than any id, platform or name a path of this API carries. */
export const maxPathParameterLength = 100;
