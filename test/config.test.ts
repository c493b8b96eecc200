// Configuration: every bad value stops start-up with a line naming the variable; production needs its secrets.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../config.ts';

const validKey = Buffer.alloc(32, 1).toString('base64');
const base = { NODE_ENV: 'test', CREDENTIALS_KEY: validKey, ADMIN_TOKEN: 'an-admin-token-of-length' };

function errorFor(env: Record<string, string>): string {
  try {
    loadConfig({ ...base, ...env }, { generateDevSecrets: false });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.message;
  }
  assert.fail(`expected ${JSON.stringify(env)} to be refused`);
}

describe('configuration', () => {
  it('has the defaults of SPEC §9', () => {
    const config = loadConfig(base, { generateDevSecrets: false });
    assert.equal(config.PORT, 3000);
    assert.equal(config.HOST, '127.0.0.1');
    assert.equal(config.TEMPORAL_NAMESPACE, 'default');
    assert.equal(config.TEMPORAL_TASK_QUEUE, 'glowtify');
    assert.equal(config.TEMPORAL_DEV_PORT, 7233);
    assert.equal(config.TEMPORAL_UI_PORT, 8233);
    assert.equal(config.PUBLICATION_ATTEMPTS_LIMIT, 5);
    assert.equal(config.PUBLICATION_RETRY_INITIAL_INTERVAL_MS, 10_000);
    assert.equal(config.PUBLICATION_RETRY_MAX_INTERVAL_MS, 600_000);
    assert.equal(config.PUBLICATION_RETRY_BACKOFF, 2);
    assert.equal(config.PUBLIC_URL, 'http://127.0.0.1:3000');
    assert.equal(config.META_API_BASE_URL, 'https://graph.facebook.com');
    assert.equal(config.GOOGLE_TOKEN_BASE_URL, 'https://oauth2.googleapis.com');
    assert.equal(config.DATABASE_URL, undefined);
    assert.equal(config.TEMPORAL_ADDRESS, undefined);
  });

  const badValues: [Record<string, string>, string][] = [
    [
      { PUBLICATION_ATTEMPTS_LIMIT: 'abc' },
      'PUBLICATION_ATTEMPTS_LIMIT must be an integer from 1 to 20, got "abc"',
    ],
    [
      { PUBLICATION_ATTEMPTS_LIMIT: '0' },
      'PUBLICATION_ATTEMPTS_LIMIT must be an integer from 1 to 20, got "0"',
    ],
    [
      { PUBLICATION_ATTEMPTS_LIMIT: '2.5' },
      'PUBLICATION_ATTEMPTS_LIMIT must be an integer from 1 to 20, got "2.5"',
    ],
    [{ PORT: '70000' }, 'PORT must be an integer from 0 to 65535, got "70000"'],
    [{ TEMPORAL_DEV_PORT: 'x' }, 'TEMPORAL_DEV_PORT must be an integer from 1 to 65535, got "x"'],
    [
      { PUBLICATION_RETRY_INITIAL_INTERVAL_MS: '-1' },
      'PUBLICATION_RETRY_INITIAL_INTERVAL_MS must be an integer from 1 to 86400000, got "-1"',
    ],
    [
      { PUBLICATION_RETRY_BACKOFF: '0.5' },
      'PUBLICATION_RETRY_BACKOFF must be a number from 1 to 10, got "0.5"',
    ],
    [{ CREDENTIALS_KEY: 'c2hvcnQ=' }, 'CREDENTIALS_KEY must be base64 of 32 bytes, got 5 bytes'],
    [{ CREDENTIALS_KEY: 'not base64!' }, 'CREDENTIALS_KEY must be base64 of 32 bytes'],
    [{ ADMIN_TOKEN: 'short' }, 'ADMIN_TOKEN must be at least 16 characters'],
    [{ TEMPORAL_ADDRESS: 'localhost' }, 'TEMPORAL_ADDRESS must be host:port, got "localhost"'],
    [{ DATABASE_URL: 'mysql://db/x' }, 'DATABASE_URL must start with postgres:// or postgresql://'],
    [
      { META_API_BASE_URL: 'ftp://graph' },
      'META_API_BASE_URL must be an absolute http(s) URL, got "ftp://graph"',
    ],
    [{ PUBLIC_URL: 'not a url' }, 'PUBLIC_URL must be an absolute http(s) URL, got "not a url"'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV must be one of development, production, test, got "staging"'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of'],
  ];
  for (const [env, expected] of badValues) {
    it(`refuses ${Object.entries(env)[0]!.join('=')}`, () => {
      const message = errorFor(env);
      assert.ok(message.includes(expected), `"${message}" should include "${expected}"`);
      assert.equal(message.split('\n').length, 1, 'one line per bad variable');
    });
  }

  it('names every bad variable at once, one per line', () => {
    const message = errorFor({ PORT: 'x', PUBLICATION_ATTEMPTS_LIMIT: '99' });
    const lines = message.split('\n');
    assert.equal(lines.length, 2);
    assert.ok(lines.some((line) => line.startsWith('PORT ')));
    assert.ok(lines.some((line) => line.startsWith('PUBLICATION_ATTEMPTS_LIMIT ')));
  });

  it('refuses to start in production without CREDENTIALS_KEY or ADMIN_TOKEN', () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'config-'));
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production', DATA_DIR: dataDir, ADMIN_TOKEN: base.ADMIN_TOKEN }),
      /CREDENTIALS_KEY is required in production/,
    );
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production', DATA_DIR: dataDir, CREDENTIALS_KEY: validKey }),
      /ADMIN_TOKEN is required in production/,
    );
    assert.doesNotThrow(() => loadConfig({ ...base, NODE_ENV: 'production', DATA_DIR: dataDir }));
  });

  it('generates development secrets into DATA_DIR once and reuses them', () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'config-'));
    const first = loadConfig({ DATA_DIR: dataDir });
    assert.deepEqual(first.generatedSecrets.sort(), ['ADMIN_TOKEN', 'CREDENTIALS_KEY']);
    assert.equal(statSync(path.join(dataDir, 'credentials.key')).mode & 0o777, 0o600);
    const second = loadConfig({ DATA_DIR: dataDir });
    assert.deepEqual(second.generatedSecrets, []);
    assert.equal(second.ADMIN_TOKEN, first.ADMIN_TOKEN);
    assert.equal(readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim(), first.ADMIN_TOKEN);
    assert.deepEqual(second.CREDENTIALS_KEY.keys.get('k1'), first.CREDENTIALS_KEY.keys.get('k1'));
  });

  it('reads a rotation list: the first key encrypts, every key decrypts', () => {
    const old = Buffer.alloc(32, 2).toString('base64');
    const config = loadConfig(
      { ...base, CREDENTIALS_KEY: `k2:${validKey},k1:${old}` },
      { generateDevSecrets: false },
    );
    assert.equal(config.CREDENTIALS_KEY.currentId, 'k2');
    assert.deepEqual([...config.CREDENTIALS_KEY.keys.keys()], ['k2', 'k1']);
  });

  it('stops a process at start-up with the one-line reason', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'worker.ts'], {
      env: { ...process.env, ...base, PUBLICATION_ATTEMPTS_LIMIT: 'abc' },
      encoding: 'utf8',
    });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /PUBLICATION_ATTEMPTS_LIMIT must be an integer from 1 to 20, got "abc"/);
  });
});
