// What the secrets scans look for: every credential the connectors hold (opened with the stack's key), and
// the shapes of the ones a scan cannot list (workspace API keys, Meta tokens).
import { openCredentials } from '../../db/credentials-codec.ts';
import { connectors } from '../../db/schema.ts';
import type { ApiHarness } from './api.ts';

/** A workspace API key (api/auth.ts): `gw_<10 hex>_<43 base64url>`. */
export const apiKeyShape = /gw_[0-9a-f]{10}_[A-Za-z0-9_-]{20,}/;
/** A Meta access token, as Meta's and the simulator's begin. */
export const metaTokenShape = /EAA[A-Za-z0-9_-]{20,}/;

/** Every string in opened credentials that is a secret (tokens, keys, passwords), at any depth. */
export function collectSecrets(value: unknown, into: Set<string>, key = '') {
  if (typeof value === 'string') {
    const secretName = /token|key|password|secret/i.test(key) && !/(At|ExpiresIn)$/.test(key);
    if (secretName && value.length >= 8) into.add(value);
    return;
  }
  if (value && typeof value === 'object') {
    for (const [name, inner] of Object.entries(value)) collectSecrets(inner, into, name);
  }
}

/** Adds every secret the connectors hold now (a refresh changes them: call it again after one). */
export async function collectIssuedCredentials(
  harness: Pick<ApiHarness, 'database' | 'config'>,
  into: Set<string>,
): Promise<Set<string>> {
  const sealedRows = await harness.database.db.select().from(connectors);
  for (const row of sealedRows) {
    if (!row.credentials || !row.credentialsKeyId) continue;
    const opened = openCredentials(harness.config.CREDENTIALS_KEY, row.id, {
      keyId: row.credentialsKeyId,
      ciphertext: row.credentials,
    });
    collectSecrets(opened, into);
  }
  return into;
}
