// Connector credentials at rest: AES-256-GCM with a key id per row, so keys can rotate while old rows stay
// readable. The associated data binds a ciphertext to its connector: a row copied onto another fails to open.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** The keys by id, and the one that seals (config.ts parses them from CREDENTIALS_KEY). */
export interface CredentialsKeys {
  currentId: string;
  keys: Map<string, Buffer>;
}

const ivLength = 12;
const tagLength = 16;

export class CredentialsDecryptionError extends Error {
  override name = 'CredentialsDecryptionError';
}

export interface SealedCredentials {
  keyId: string;
  /** iv ‖ auth tag ‖ ciphertext */
  ciphertext: Buffer;
}

export function sealCredentials(
  keys: CredentialsKeys,
  boundTo: string,
  credentials: unknown,
): SealedCredentials {
  const key = keys.keys.get(keys.currentId);
  if (!key) throw new Error(`no key for the current key id ${keys.currentId}`);
  const iv = randomBytes(ivLength);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: tagLength });
  cipher.setAAD(Buffer.from(boundTo, 'utf8'));
  const body = Buffer.concat([cipher.update(JSON.stringify(credentials), 'utf8'), cipher.final()]);
  return { keyId: keys.currentId, ciphertext: Buffer.concat([iv, cipher.getAuthTag(), body]) };
}

export function openCredentials<T = unknown>(
  keys: CredentialsKeys,
  boundTo: string,
  sealed: SealedCredentials,
): T {
  const key = keys.keys.get(sealed.keyId);
  if (!key)
    throw new CredentialsDecryptionError(
      `credentials were sealed with key id "${sealed.keyId}", not configured`,
    );
  if (sealed.ciphertext.length < ivLength + tagLength)
    throw new CredentialsDecryptionError('ciphertext is truncated');
  const iv = sealed.ciphertext.subarray(0, ivLength);
  const tag = sealed.ciphertext.subarray(ivLength, ivLength + tagLength);
  const body = sealed.ciphertext.subarray(ivLength + tagLength);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: tagLength });
  decipher.setAAD(Buffer.from(boundTo, 'utf8'));
  decipher.setAuthTag(tag);
  let plaintext: string;
  try {
    plaintext = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch {
    throw new CredentialsDecryptionError('credentials failed authentication (tampered, or another key)');
  }
  return JSON.parse(plaintext) as T;
}

/** True when a row should be re-sealed with the current key (rotation happens on the next write). */
export function needsResealing(keys: CredentialsKeys, sealed: Pick<SealedCredentials, 'keyId'>): boolean {
  return sealed.keyId !== keys.currentId;
}
