// The API's rate limits (SPEC §7's 429). A caller with a workspace key is counted per workspace, whichever of
// its keys it uses (a rotation must not multiply the allowance); a caller without one per address; and every
// refused credential (a workspace key, the admin token, on any route) per address too. A valid key is never
// held back by the guesses of others behind the same address (a NAT, an office proxy): only refusals count.
import { isIPv6 } from 'node:net';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { ApiError } from './errors.ts';

const windowMs = 60_000;

/**
 * An address as the limits count it: an IPv6 address by its /64, the block one subscriber gets (else every
 * address of it would get a count of its own); an IPv4-mapped one as IPv4.
 */
export function addressGroup(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((group) => String(Number.parseInt(group, 16) || 0))
    .join(':')}::/64`;
}

export interface RateLimits {
  /** Counts a refused credential against the caller's address; throws the 429 once the address is over. */
  refused(request: FastifyRequest, reply: FastifyReply): Promise<void>;
}

export async function registerRateLimits(
  app: FastifyInstance,
  config: Pick<Config, 'RATE_LIMIT_PER_WORKSPACE_PER_MINUTE' | 'RATE_LIMIT_PER_IP_PER_MINUTE'>,
): Promise<RateLimits> {
  // Counted once the caller is known (the workspace auth runs on request) and before the body is parsed or
  // validated, so malformed requests count too.
  await app.register(rateLimit, {
    global: true,
    hook: 'preParsing',
    timeWindow: windowMs,
    keyGenerator: (request) =>
      request.caller ? `ws:${request.caller.workspaceId}` : `ip:${addressGroup(request.ip)}`,
    max: (_request, key) =>
      key.startsWith('ws:')
        ? config.RATE_LIMIT_PER_WORKSPACE_PER_MINUTE
        : config.RATE_LIMIT_PER_IP_PER_MINUTE,
    errorResponseBuilder: (_request, context) =>
      new ApiError(429, 'RATE_LIMITED', `too many requests: try again in ${context.after}`, {
        limitPerMinute: context.max,
      }),
  });
  // Shares the plugin's once-per-request flag with the global limiter: harmless, because every caller of it
  // throws right after (the request ends with its 401, 403 or 429).
  const countRefused = app.rateLimit({
    keyGenerator: (request) => `refused:${addressGroup(request.ip)}`,
    max: config.RATE_LIMIT_PER_IP_PER_MINUTE,
  });
  return {
    async refused(request, reply) {
      await countRefused.call(app, request, reply);
    },
  };
}
