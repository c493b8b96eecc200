// Bearer authentication: workspace API keys (stored as SHA-256 hashes, found by a short public prefix) for
// everything under /v1, and the admin token for creating workspaces.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { FastifyRequest } from 'fastify';
import type { Database } from '../db/client.ts';
import { apiKeys } from '../db/schema.ts';
import { ApiError } from './errors.ts';

const keyPattern = /^gw_([a-z0-9]{10})_([A-Za-z0-9_-]{43})$/;

export interface IssuedApiKey {
  key: string;
  prefix: string;
  hash: Buffer;
}

export function issueApiKey(): IssuedApiKey {
  const prefix = randomBytes(8).toString('hex').slice(0, 10);
  const key = `gw_${prefix}_${randomBytes(32).toString('base64url')}`;
  return { key, prefix, hash: hashApiKey(key) };
}

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

function sameSecret(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right);
}

export interface WorkspaceCaller {
  workspaceId: string;
  /** How the audit log names this caller. */
  actor: string;
  /** The key the caller used. */
  apiKeyId: string;
}

export async function authenticateWorkspace(db: Database, request: FastifyRequest): Promise<WorkspaceCaller> {
  const token = bearerToken(request);
  if (!token)
    throw new ApiError(401, 'UNAUTHENTICATED', 'send the workspace API key as "Authorization: Bearer <key>"');
  const match = keyPattern.exec(token);
  if (match?.[1]) {
    // A key replaced by a rotation stays valid until its grace period ends (revokedAt in the future), on the
    // database's clock, the one the rotation set it by.
    const [row] = await db
      .select()
      .from(apiKeys)
      .where(
        and(eq(apiKeys.prefix, match[1]), or(isNull(apiKeys.revokedAt), gt(apiKeys.revokedAt, sql`now()`))),
      )
      .limit(1);
    if (row && timingSafeEqual(row.hash, hashApiKey(token))) {
      return {
        workspaceId: row.workspaceId,
        actor: `api-key:${row.prefix}`,
        apiKeyId: row.id,
      };
    }
  }
  throw new ApiError(401, 'UNAUTHENTICATED', 'the API key is not valid');
}

/** Whether the request carries the admin token (for what only operators may see, such as /readyz's details). */
export function presentsAdminToken(request: FastifyRequest, adminToken: string): boolean {
  const token = bearerToken(request);
  return token !== null && sameSecret(token, adminToken);
}

export async function authenticateAdmin(
  db: Database,
  request: FastifyRequest,
  adminToken: string,
): Promise<void> {
  const token = bearerToken(request);
  if (!token)
    throw new ApiError(401, 'UNAUTHENTICATED', 'send the admin token as "Authorization: Bearer <token>"');
  if (sameSecret(token, adminToken)) return;
  // A valid workspace key is authenticated but not allowed here: say so rather than "invalid token".
  const isWorkspaceKey = await authenticateWorkspace(db, request).then(
    () => true,
    () => false,
  );
  if (isWorkspaceKey)
    throw new ApiError(403, 'FORBIDDEN', 'this route needs the admin token, not a workspace key');
  throw new ApiError(401, 'UNAUTHENTICATED', 'the admin token is not valid');
}
