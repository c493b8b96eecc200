// Credentials at rest: AES-256-GCM round trip, tampering detected, keys rotate without losing old rows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CredentialsKeys, parseCredentialsKeys } from '../config.ts';
import {
  CredentialsDecryptionError,
  needsResealing,
  openCredentials,
  sealCredentials,
} from '../db/credentials-codec.ts';

const keyA = Buffer.alloc(32, 0xa).toString('base64');
const keyB = Buffer.alloc(32, 0xb).toString('base64');
const keys = (raw: string) => parseCredentialsKeys(raw) as CredentialsKeys;
const secret = {
  accessToken: 'EAAB-secret-token',
  refreshToken: 'refresh-me',
  expiresAt: '2027-01-01T00:00:00Z',
};

describe('credentials codec', () => {
  it('round-trips and never stores the plaintext', () => {
    const sealed = sealCredentials(keys(keyA), 'connector-1', secret);
    assert.equal(sealed.keyId, 'k1');
    assert.ok(!sealed.ciphertext.toString('latin1').includes('secret-token'));
    assert.deepEqual(openCredentials(keys(keyA), 'connector-1', sealed), secret);
  });

  it('uses a fresh IV each time', () => {
    const one = sealCredentials(keys(keyA), 'c', secret);
    const two = sealCredentials(keys(keyA), 'c', secret);
    assert.notDeepEqual(one.ciphertext, two.ciphertext);
  });

  it('rejects a tampered ciphertext', () => {
    const sealed = sealCredentials(keys(keyA), 'connector-1', secret);
    for (const index of [0, 14, sealed.ciphertext.length - 1]) {
      const tampered = Buffer.from(sealed.ciphertext);
      tampered[index] = tampered[index]! ^ 0x01;
      assert.throws(
        () => openCredentials(keys(keyA), 'connector-1', { ...sealed, ciphertext: tampered }),
        CredentialsDecryptionError,
      );
    }
    assert.throws(
      () =>
        openCredentials(keys(keyA), 'connector-1', {
          ...sealed,
          ciphertext: sealed.ciphertext.subarray(0, 10),
        }),
      CredentialsDecryptionError,
    );
  });

  it('refuses credentials moved onto another connector', () => {
    const sealed = sealCredentials(keys(keyA), 'connector-1', secret);
    assert.throws(() => openCredentials(keys(keyA), 'connector-2', sealed), CredentialsDecryptionError);
  });

  it('rotates: rows sealed with the old key id still open, new rows use the new key', () => {
    const before = keys(keyA);
    const oldRow = sealCredentials(before, 'connector-1', secret);
    const after = keys(`k2:${keyB},k1:${keyA}`);
    assert.deepEqual(openCredentials(after, 'connector-1', oldRow), secret);
    assert.equal(needsResealing(after, oldRow), true);
    const newRow = sealCredentials(after, 'connector-1', secret);
    assert.equal(newRow.keyId, 'k2');
    assert.equal(needsResealing(after, newRow), false);
    assert.throws(() => openCredentials(before, 'connector-1', newRow), /key id "k2"/);
  });

  it('rejects a row sealed under a key id that is not configured', () => {
    const sealed = sealCredentials(keys(`gone:${keyB}`), 'c', secret);
    assert.throws(() => openCredentials(keys(keyA), 'c', sealed), CredentialsDecryptionError);
  });
});
