// OAuth consents in flight: a single-use, expiring `state` kept only as its hash, naming the workspace (and,
// for a reconnect, the connector) and holding the sealed PKCE verifier until the platform sends the user back.
import { and, eq, gt, isNull } from 'drizzle-orm';
import type { Database } from '../client.ts';
import type { CredentialsKeys } from '../credentials-codec.ts';
import { oauthStates } from '../schema.ts';
import { sealedVerifierColumns } from './credentials.ts';

export const consentLifetimeSeconds = 600;
const stateLifetimeMs = consentLifetimeSeconds * 1000;

export interface ConsentStart {
  workspaceId: string;
  platform: string;
  stateHash: Buffer;
  connectorId?: string;
  codeVerifier?: string;
  browserBindingHash: Buffer;
  context: { shop?: string; extra?: string };
}

export async function recordConsentStart(db: Database, keys: CredentialsKeys, start: ConsentStart) {
  const id = crypto.randomUUID();
  await db.insert(oauthStates).values({
    id,
    workspaceId: start.workspaceId,
    platform: start.platform,
    stateHash: start.stateHash,
    connectorId: start.connectorId ?? null,
    browserBindingHash: start.browserBindingHash,
    ...sealedVerifierColumns(keys, id, start.codeVerifier),
    context: start.context,
    expiresAt: new Date(Date.now() + stateLifetimeMs),
  });
}

/** Consumes the state atomically: a replayed, expired or unknown state finds no row (undefined). */
export async function consumeConsentState(db: Database, stateHash: Buffer, platform: string) {
  const [consumed] = await db
    .update(oauthStates)
    .set({ usedAt: new Date() })
    .where(
      and(
        eq(oauthStates.stateHash, stateHash),
        eq(oauthStates.platform, platform),
        isNull(oauthStates.usedAt),
        gt(oauthStates.expiresAt, new Date()),
      ),
    )
    .returning();
  return consumed;
}
