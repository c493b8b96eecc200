// The WordPress adapter against the WordPress simulator over real HTTP: connecting with an application
// password (publish_posts required, plain-permalink fallback), the periodic check, the refusal of private
// and loopback sites (before any request, and on every redirect hop), the error classes, and real scheduling:
// hand-offs that never create a post twice nor publish one early, cancels back to draft, and confirmations
// that request wp-cron.php on an idle site.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  CredentialsRejectedError,
  type HandOffContext,
  type PublicationProgress,
} from '../connectors/types.ts';
import {
  checkSiteUrl,
  createWordPressAdapter,
  type HostLookup,
  isPrivateAddress,
  mapWordPressError,
  normaliseSiteUrl,
  type WordPressAdapter,
  type WordPressCredentials,
  wordPressDateGmt,
  wordPressMessages,
  wordPressPostSlug,
} from '../connectors/wordpress.ts';
import type { TaskContent } from '../domain/content.ts';
import { HandOffLockedError, PlatformError } from '../domain/publication-errors.ts';
import { startWordPressSimulator, type WordPressSimulator } from '../sandbox/wordpress.ts';
import { recordingOverdue } from './support/adapter-harness.ts';

const editorPassword = 'Ab12 Cd34 Ef56 Gh78 Ij90 Kl12';
const contributorPassword = 'Zz98 Yy76 Xx54 Ww32 Vv10 Uu98';
const subscriberPassword = 'Qq11 Rr22 Ss33 Tt44 Uu55 Vv66';
const users = [
  {
    username: 'editor',
    applicationPassword: editorPassword,
    roles: ['editor'],
    email: 'editor@brand.example',
  },
  { username: 'writer', applicationPassword: contributorPassword, roles: ['contributor'] },
  { username: 'reader', applicationPassword: subscriberPassword, roles: ['subscriber'] },
];
const siteName = 'Glow & Co — Blog';

let simulator: WordPressSimulator;
let adapter: WordPressAdapter;
/** One clock for the site and the adapter: the real one, unless a test sets a time. */
let frozen: Date | null = null;
const clock = () => frozen ?? new Date();

beforeEach(async () => {
  frozen = null;
  simulator = await startWordPressSimulator({ users, siteName, now: clock });
  // The simulator is on 127.0.0.1: these tests allow private hosts; the refusals are tested apart.
  adapter = createWordPressAdapter({ allowPrivateHosts: true, now: clock });
});

afterEach(async () => {
  await simulator.close();
});

const connectAs = (username: string, applicationPassword: string, siteUrl = simulator.url) =>
  adapter.connector.connectWithSite({ siteUrl, username, applicationPassword });

/** The editor connecting a site through an adapter wired to its own DNS answers and fetch. */
const connectEditor = (through: WordPressAdapter, siteUrl: string) =>
  through.connector.connectWithSite({ siteUrl, username: 'editor', applicationPassword: editorPassword });

async function rejection(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => assert.fail('expected the call to be refused'),
    (reason: unknown) => reason,
  );
  assert.ok(
    error instanceof CredentialsRejectedError,
    `expected CredentialsRejectedError, got ${String(error)}`,
  );
  for (const secret of [editorPassword, contributorPassword]) {
    assert.ok(!error.message.includes(secret), 'an application password leaked into the message');
  }
  return error.message;
}

async function failureOf(promise: Promise<unknown>) {
  const error = await promise.then(
    () => assert.fail('expected the call to fail'),
    (reason: unknown) => reason,
  );
  assert.ok(error instanceof PlatformError, `expected a PlatformError, got ${String(error)}`);
  assert.ok(!JSON.stringify(error.failure).includes(editorPassword), 'the password leaked into the failure');
  return error.failure;
}

const basicOf = (username: string, password: string) =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

/** A fetch that sends requests for `https://{host}` to the simulator instead, as if DNS had pointed there. */
function routedFetch(host: string, calls: string[]): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input);
    calls.push(url.toString());
    if (url.host === host) {
      const target = new URL(simulator.url);
      url.protocol = target.protocol;
      url.host = target.host;
    }
    return fetch(url, init);
  };
}

const publicLookup =
  (table: Record<string, string[]>, asked: string[] = []): HostLookup =>
  async (hostname) => {
    asked.push(hostname);
    const addresses = table[hostname];
    if (!addresses)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

describe('connecting a WordPress site', () => {
  it('checks users/me with the application password and finds one wordpress_site account', async () => {
    const connection = await connectAs('editor', editorPassword, `${simulator.url}/`);
    assert.deepEqual(connection.credentials, {
      siteUrl: simulator.url,
      restBase: `${simulator.url}/wp-json`,
      username: 'editor',
      applicationPassword: editorPassword,
    });
    assert.equal(connection.expiresAt, null, 'application passwords do not expire');
    assert.deepEqual(connection.accounts, [
      { kind: 'wordpress_site', externalId: simulator.url, name: siteName },
    ]);

    const [me] = simulator.receivedMatching(/^\/wp-json\/wp\/v2\/users\/me$/, 'GET');
    assert.ok(me, 'users/me was asked');
    assert.deepEqual(me.query, { context: 'edit' });
    assert.equal(me.headers.authorization, basicOf('editor', editorPassword));
    assert.equal(
      simulator.receivedMatching(/^\/wp-json\/$/, 'GET').length,
      1,
      'the site name comes from the index',
    );
  });

  it('says the connector kind is site credentials', () => {
    assert.equal(adapter.platform, 'wordpress');
    assert.equal(adapter.connector.kind, 'site_credentials');
  });

  it('accepts the email address as the username, as WordPress does', async () => {
    const connection = await connectAs('editor@brand.example', editorPassword);
    assert.equal(connection.accounts.length, 1);
  });

  it('refuses a wrong application password: "Invalid username or application password"', async () => {
    assert.equal(
      await rejection(connectAs('editor', 'Wrong Pass Word 1234 5678 9012')),
      wordPressMessages.invalidLogin,
    );
    assert.equal(await rejection(connectAs('nobody', editorPassword)), wordPressMessages.invalidLogin);
    assert.equal(simulator.receivedMatching(/^\/wp-json\/$/).length, 0, 'nothing more after a refused login');
  });

  it('refuses an empty username or password without asking the site', async () => {
    assert.equal(await rejection(connectAs('  ', editorPassword)), wordPressMessages.invalidLogin);
    assert.equal(await rejection(connectAs('editor', '')), wordPressMessages.invalidLogin);
    assert.equal(simulator.received.length, 0);
  });

  it('refuses a Contributor (no publish_posts key) and a Subscriber', async () => {
    assert.equal(await rejection(connectAs('writer', contributorPassword)), wordPressMessages.cannotPublish);
    assert.equal(
      await rejection(connectAs('reader', subscriberPassword)),
      'This WordPress user cannot publish posts (publish_posts)',
    );
  });

  it('falls back to ?rest_route= on a site with plain permalinks, and remembers it', async () => {
    simulator.setPrettyPermalinks(false);
    const connection = await connectAs('editor', editorPassword);
    assert.equal(connection.credentials.restBase, `${simulator.url}/?rest_route=`);
    assert.equal(connection.accounts[0]?.name, siteName, 'the index is read through rest_route too');

    const paths = simulator.received.map((request) => [request.path, request.query]);
    assert.deepEqual(paths, [
      ['/wp-json/wp/v2/users/me', { context: 'edit' }],
      ['/', { rest_route: '/wp/v2/users/me', context: 'edit' }],
      ['/', { rest_route: '/' }],
    ]);

    // The periodic check goes straight to the base that worked.
    simulator.received.length = 0;
    await adapter.verifyCredentials(connection.credentials);
    assert.deepEqual(
      simulator.received.map((request) => request.query.rest_route),
      ['/wp/v2/users/me'],
      'no /wp-json/ request on a plain-permalink site',
    );
  });

  it('refuses a site without a WordPress REST API', async () => {
    const plain = createServer((_request, response) => {
      response.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not found</h1>');
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = plain.address() as AddressInfo;
      const message = await rejection(connectAs('editor', editorPassword, `http://127.0.0.1:${port}`));
      assert.match(message, /No WordPress REST API answers/);
    } finally {
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });

  it('reports a 5xx as TRANSIENT, not as refused credentials', async () => {
    simulator.failWith('transient', { path: '/wp-json/wp/v2/users/me' });
    const failure = await failureOf(connectAs('editor', editorPassword));
    assert.equal(failure.class, 'TRANSIENT');
    assert.equal(failure.platformCode, 'internal_server_error');
    assert.ok(!failure.message.includes('<p>'), 'HTML is stripped from the message');
  });

  it('reads a site that compresses its answers without being asked', async () => {
    const zipped = createServer((request, response) => {
      const body = request.url?.startsWith('/wp-json/wp/v2/users/me')
        ? { id: 1, capabilities: { publish_posts: true } }
        : { name: 'Zipped &amp; Co' };
      response
        .writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
        .end(gzipSync(JSON.stringify(body)));
    });
    await new Promise<void>((resolve) => zipped.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = zipped.address() as AddressInfo;
      const connection = await connectAs('editor', editorPassword, `http://127.0.0.1:${port}`);
      assert.equal(connection.accounts[0]?.name, 'Zipped & Co');
    } finally {
      await new Promise<void>((resolve) => zipped.close(() => resolve()));
    }
  });

  it('reports a site that refuses connections as TRANSIENT', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const failure = await failureOf(connectAs('editor', editorPassword, `http://127.0.0.1:${port}`));
    assert.equal(failure.class, 'TRANSIENT');
  });
});

describe('the periodic check of a WordPress connection', () => {
  it('passes while the user may still publish', async () => {
    const { credentials } = await connectAs('editor', editorPassword);
    await adapter.verifyCredentials(credentials);
  });

  it('says "Invalid username or application password" once the password is revoked', async () => {
    const { credentials } = await connectAs('editor', editorPassword);
    simulator.revokeApplicationPasswords('editor');
    await assert.rejects(
      adapter.verifyCredentials(credentials),
      (error: unknown) =>
        error instanceof CredentialsRejectedError && error.message === wordPressMessages.invalidLogin,
    );
  });

  it('flags a user demoted to Contributor as PERMISSION_REVOKED', async () => {
    const { credentials } = await connectAs('editor', editorPassword);
    simulator.setRoles('editor', ['contributor']);
    const failure = await failureOf(adapter.verifyCredentials(credentials));
    assert.equal(failure.class, 'PERMISSION_REVOKED');
    assert.equal(failure.message, wordPressMessages.cannotPublish);
  });

  it('treats a 5xx as TRANSIENT and a 429 as RATE_LIMITED with its delay', async () => {
    const { credentials } = await connectAs('editor', editorPassword);
    simulator.failWith('transient', { path: '/wp-json/wp/v2/users/me' });
    assert.equal((await failureOf(adapter.verifyCredentials(credentials))).class, 'TRANSIENT');
    simulator.failWith('rate_limited', { path: '/wp-json/wp/v2/users/me', retryAfterSeconds: 30 });
    const limited = await failureOf(adapter.verifyCredentials(credentials));
    assert.equal(limited.class, 'RATE_LIMITED');
    assert.equal(limited.retryAfterMs, 30_000);
  });
});

describe('refusing private and loopback sites', () => {
  it('refuses the loopback simulator before sending anything', async () => {
    const strict = createWordPressAdapter({ allowPrivateHosts: false });
    const port = new URL(simulator.url).port;
    for (const siteUrl of [
      simulator.url,
      `http://localhost:${port}`,
      `http://2130706433:${port}/`,
      `http://0x7f.1:${port}/`,
      `http://[::1]:${port}/`,
      `http://[::ffff:127.0.0.1]:${port}/`,
    ]) {
      const message = await rejection(connectEditor(strict, siteUrl));
      assert.equal(message, wordPressMessages.privateAddress, siteUrl);
    }
    assert.equal(simulator.received.length, 0, 'the simulator recorded nothing');
  });

  it('refuses a public-looking host name that resolves to a private address', async () => {
    const asked: string[] = [];
    const calls: string[] = [];
    const strict = createWordPressAdapter({
      lookup: publicLookup({ 'blog.brand.example': ['10.0.0.5'] }, asked),
      fetch: routedFetch('blog.brand.example', calls),
    });
    const message = await rejection(connectEditor(strict, 'https://blog.brand.example'));
    assert.equal(message, wordPressMessages.privateAddress);
    assert.deepEqual(asked, ['blog.brand.example']);
    assert.deepEqual(calls, [], 'no request was sent');
  });

  it('refuses a host with one private address among public ones (every address counts)', async () => {
    const strict = createWordPressAdapter({
      lookup: publicLookup({ 'blog.brand.example': ['93.184.215.14', 'fd00:ec2::254'] }),
      fetch: routedFetch('blog.brand.example', []),
    });
    await rejection(connectEditor(strict, 'https://blog.brand.example'));
  });

  it('lets a host that resolves to a public address through the check', async () => {
    const calls: string[] = [];
    const strict = createWordPressAdapter({
      lookup: publicLookup({
        'blog.brand.example': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
      }),
      fetch: routedFetch('blog.brand.example', calls),
    });
    const connection = await connectEditor(strict, 'https://blog.brand.example/');
    assert.equal(connection.accounts[0]?.externalId, 'https://blog.brand.example');
    assert.equal(calls[0], 'https://blog.brand.example/wp-json/wp/v2/users/me?context=edit');
    assert.equal(
      simulator.receivedMatching('/wp-json/wp/v2/users/me')[0]?.headers.authorization,
      basicOf('editor', editorPassword),
    );
  });

  it('never follows a redirect to a private address', async () => {
    const calls: string[] = [];
    const strict = createWordPressAdapter({
      lookup: publicLookup({ 'blog.brand.example': ['93.184.215.14'] }),
      fetch: routedFetch('blog.brand.example', calls),
    });
    simulator.failNext({
      path: '/wp-json/wp/v2/users/me',
      response: { status: 302, headers: { location: 'http://169.254.169.254/latest/meta-data/' } },
    });
    const message = await rejection(connectEditor(strict, 'https://blog.brand.example'));
    assert.equal(message, wordPressMessages.redirectToPrivate);
    assert.equal(calls.length, 1, 'the redirect was not followed');
  });

  it('refuses a site whose host name does not resolve', async () => {
    const strict = createWordPressAdapter({ lookup: publicLookup({}) });
    const message = await rejection(connectEditor(strict, 'https://nowhere.brand.example'));
    assert.match(message, /does not resolve/);
  });
});

describe('DNS rebinding: the address checked is the address connected to', () => {
  /** A host name that answers `first` to its first `times` look-ups and 127.0.0.1 to every later one. */
  const rebinding =
    (first: string, times: number, asked: string[]): HostLookup =>
    async (hostname) => {
      asked.push(hostname);
      const address = asked.length <= times ? first : '127.0.0.1';
      return [{ address, family: 4 }];
    };

  /**
   * Records the address every client socket to `hostname` got from its look-up, and stops each one right
   * there, before it connects (so a public test address is never dialled for real).
   */
  function watchSockets(hostname: string) {
    const dialled: string[] = [];
    const onSocket = (message: unknown) => {
      const { socket } = message as { socket: Socket };
      socket.on('lookup', (error: Error | null, address: string, _family: unknown, host: string) => {
        if (host !== hostname) return;
        dialled.push(error ? `error: ${error.message}` : address);
        socket.destroy(new Error('stopped by the test before connecting'));
      });
    };
    subscribe('net.client.socket', onSocket);
    return { dialled, stop: () => unsubscribe('net.client.socket', onSocket) };
  }

  it('refuses a host that answers a public address to the check and loopback to the request', async () => {
    const asked: string[] = [];
    const strict = createWordPressAdapter({ lookup: rebinding('93.184.215.14', 1, asked) });
    const port = new URL(simulator.url).port;
    const message = await rejection(connectEditor(strict, `http://rebind.brand.example:${port}`));
    assert.equal(message, wordPressMessages.privateAddress);
    assert.deepEqual(
      asked,
      ['rebind.brand.example', 'rebind.brand.example'],
      'the check, then the connection',
    );
    assert.equal(simulator.received.length, 0, 'the simulator on 127.0.0.1 recorded nothing');
  });

  it('connects to the address its own look-up checked, and nothing resolves the name again', async () => {
    const asked: string[] = [];
    const strict = createWordPressAdapter({ lookup: rebinding('93.184.215.14', 2, asked) });
    const port = new URL(simulator.url).port;
    const sockets = watchSockets('rebind.brand.example');
    try {
      const failure = await failureOf(connectEditor(strict, `http://rebind.brand.example:${port}`));
      assert.equal(failure.class, 'TRANSIENT', 'the test stopped the socket: no answer');
    } finally {
      sockets.stop();
    }
    assert.deepEqual(sockets.dialled, ['93.184.215.14'], 'the socket got the checked public address');
    assert.equal(asked.length, 2, 'a third look-up (which would answer 127.0.0.1) never happened');
    assert.equal(simulator.received.length, 0, 'the simulator on 127.0.0.1 recorded nothing');
  });

  it("dials what the adapter's lookup answered, keeping the host name in the Host header", async () => {
    // allowPrivateHosts skips the check, not the look-up: the system resolver knows no *.brand.example.
    const loopback = createWordPressAdapter({
      allowPrivateHosts: true,
      lookup: publicLookup({ 'blog.brand.example': ['127.0.0.1'] }),
    });
    const port = new URL(simulator.url).port;
    const connection = await connectEditor(loopback, `http://blog.brand.example:${port}`);
    assert.equal(connection.accounts[0]?.name, siteName);
    const [me] = simulator.receivedMatching('/wp-json/wp/v2/users/me');
    assert.equal(me?.headers.host, `blog.brand.example:${port}`);
    assert.equal(me?.headers.authorization, basicOf('editor', editorPassword));
  });

  it('turns a site that never answers into TRANSIENT within the time limit', async () => {
    const hung = createServer(() => {});
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = hung.address() as AddressInfo;
      const impatient = createWordPressAdapter({ allowPrivateHosts: true, requestTimeoutMs: 200 });
      const failure = await failureOf(connectEditor(impatient, `http://127.0.0.1:${port}`));
      assert.equal(failure.class, 'TRANSIENT');
      assert.match(failure.message, /no answer within/);
    } finally {
      hung.closeAllConnections();
      await new Promise<void>((resolve) => hung.close(() => resolve()));
    }
  });
});

describe('redirects', () => {
  it('follows a same-origin redirect with the credentials', async () => {
    simulator.failNext({
      path: /^\/wp-json\/wp\/v2\/users\/me$/,
      response: { status: 301, headers: { location: '/wp-json/wp/v2/users/me/?context=edit' } },
    });
    await connectAs('editor', editorPassword);
    const followed = simulator.receivedMatching(/^\/wp-json\/wp\/v2\/users\/me\/$/)[0];
    assert.equal(followed?.headers.authorization, basicOf('editor', editorPassword));
  });

  it('never sends the credentials to another origin, and says which address to use', async () => {
    const other = await startWordPressSimulator({ users, siteName });
    try {
      simulator.failNext({
        path: '/wp-json/wp/v2/users/me',
        response: { status: 301, headers: { location: `${other.url}/wp-json/wp/v2/users/me?context=edit` } },
      });
      const message = await rejection(connectAs('editor', editorPassword));
      assert.equal(message, `The site redirects to ${other.url}: enter that address as the site URL`);
      const [reached] = other.received;
      assert.ok(reached, 'the redirect was followed');
      assert.equal(reached.headers.authorization, undefined, 'no Authorization header to another origin');
    } finally {
      await other.close();
    }
  });

  it('stops after a few hops', async () => {
    simulator.failNext({
      path: '/wp-json/wp/v2/users/me',
      times: 20,
      response: { status: 302, headers: { location: '/wp-json/wp/v2/users/me?context=edit' } },
    });
    assert.equal(await rejection(connectAs('editor', editorPassword)), wordPressMessages.tooManyRedirects);
    assert.equal(simulator.received.length, 6, 'the first request and five redirects');
  });
});

describe('isPrivateAddress', () => {
  it('knows the non-public IPv4 ranges', () => {
    for (const ip of [
      '127.0.0.1',
      '127.255.255.254',
      '10.0.0.5',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '100.127.255.255',
      '0.0.0.0',
      '255.255.255.255',
      '224.0.0.1',
    ]) {
      assert.equal(isPrivateAddress(ip), true, ip);
    }
    for (const ip of ['93.184.215.14', '8.8.8.8', '172.32.0.1', '172.15.255.255', '100.128.0.1', '1.1.1.1']) {
      assert.equal(isPrivateAddress(ip), false, ip);
    }
  });

  it('knows the non-public IPv6 ranges, mapped and embedded forms included', () => {
    for (const ip of [
      '::1',
      '::',
      '[::1]',
      'fc00::1',
      'fd00:ec2::254',
      'fe80::1',
      'fe80::1%eth0',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:10.0.0.5',
      '::ffff:169.254.169.254',
      '64:ff9b::a9fe:a9fe',
      '2002:c0a8:101::1',
      'ff02::1',
    ]) {
      assert.equal(isPrivateAddress(ip), true, ip);
    }
    for (const ip of ['2606:4700:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8', '64:ff9b::808:808']) {
      assert.equal(isPrivateAddress(ip), false, ip);
    }
  });

  it('reads decimal and hex spellings of IPv4 as the address they are', () => {
    assert.equal(isPrivateAddress('2130706433'), true, '2130706433 is 127.0.0.1');
    assert.equal(isPrivateAddress('0x7f.1'), true, '0x7f.1 is 127.0.0.1');
    assert.equal(isPrivateAddress('0x7f000001'), true, '0x7f000001 is 127.0.0.1');
    assert.equal(isPrivateAddress('017700000001'), true, 'octal 127.0.0.1');
    assert.equal(isPrivateAddress('blog.brand.example'), false, 'a host name is not an address');
  });
});

describe('checkSiteUrl', () => {
  const noDns: HostLookup = async () => assert.fail('no DNS look-up expected');

  it('normalises the URL a user pasted', async () => {
    assert.equal(normaliseSiteUrl(' https://Blog.Brand.example/ '), 'https://blog.brand.example');
    assert.equal(normaliseSiteUrl('https://brand.example/blog/?p=1#top'), 'https://brand.example/blog');
    assert.equal(normaliseSiteUrl('https://brand.example/blog/wp-admin/'), 'https://brand.example/blog');
    assert.equal(normaliseSiteUrl('https://brand.example:443/wp-json/'), 'https://brand.example');
    assert.equal(normaliseSiteUrl('http://brand.example:8080'), 'http://brand.example:8080');
  });

  it('refuses what is not an http(s) URL, or carries credentials', async () => {
    for (const siteUrl of [
      'brand.example',
      'ftp://brand.example',
      'javascript:alert(1)',
      'file:///etc/passwd',
      '',
    ]) {
      await assert.rejects(checkSiteUrl(siteUrl, { lookup: noDns }), {
        name: 'CredentialsRejectedError',
        message: 'The site URL must start with http:// or https://',
      });
    }
    await assert.rejects(checkSiteUrl('https://admin:secret@brand.example', { lookup: noDns }), {
      message: wordPressMessages.credentialsInUrl,
    });
  });

  it('refuses loopback and private hosts, however they are spelled', async () => {
    for (const siteUrl of [
      'http://127.0.0.1/',
      'http://2130706433/',
      'http://0x7f.1/',
      'http://0177.0.0.1/',
      'http://localhost/',
      'http://LOCALHOST./',
      'http://api.localhost/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://[fe80::1]/',
      'http://[::]/',
      'http://0.0.0.0/',
      'http://169.254.169.254/',
      'http://10.1.2.3/',
      'http://172.20.0.1/',
      'http://192.168.0.10/',
      'http://100.100.100.200/',
    ]) {
      await assert.rejects(
        checkSiteUrl(siteUrl, { lookup: noDns }),
        { message: wordPressMessages.privateAddress },
        siteUrl,
      );
    }
  });

  it('resolves host names and checks every address; allowPrivateHosts skips the check', async () => {
    const lookup = publicLookup({
      'blog.brand.example': ['93.184.215.14'],
      'intra.brand.example': ['192.168.4.2'],
    });
    assert.equal(await checkSiteUrl('https://blog.brand.example/', { lookup }), 'https://blog.brand.example');
    await assert.rejects(checkSiteUrl('https://intra.brand.example', { lookup }), {
      message: wordPressMessages.privateAddress,
    });
    assert.equal(
      await checkSiteUrl('http://127.0.0.1:8080/', { allowPrivateHosts: true, lookup: noDns }),
      'http://127.0.0.1:8080',
    );
  });
});

describe('mapWordPressError', () => {
  const none = new Headers();
  it('classifies WordPress error bodies by status', () => {
    const body = (code: string, status: number) => ({ code, message: 'Sorry.', data: { status } });
    assert.deepEqual(mapWordPressError(401, body('rest_not_logged_in', 401), none), {
      class: 'TOKEN_EXPIRED',
      message: wordPressMessages.invalidLogin,
      platformCode: 'rest_not_logged_in',
    });
    assert.equal(mapWordPressError(403, body('rest_cannot_publish', 403), none).class, 'PERMISSION_REVOKED');
    // A firewall's 403 page, or a refusal about one post, is not fixed by reconnecting another user.
    assert.equal(mapWordPressError(403, '<html>Attention Required</html>', none).class, 'TRANSIENT');
    assert.equal(mapWordPressError(403, body('rest_cannot_edit', 403), none).class, 'INVALID_REQUEST');
    assert.equal(mapWordPressError(400, body('rest_invalid_param', 400), none).class, 'INVALID_REQUEST');
    assert.equal(mapWordPressError(503, '<html>Maintenance</html>', none).class, 'TRANSIENT');
    assert.equal(mapWordPressError(0, null, none).class, 'TRANSIENT');
    assert.equal(
      mapWordPressError(429, null, new Headers({ 'retry-after': '12' })).retryAfterMs,
      12_000,
      'Retry-After seconds become milliseconds',
    );
  });

  it('reads the refusal behind a rest_invalid_param on `status` (arguments are checked before permissions)', () => {
    const forbiddenStatus = (status: number) => ({
      code: 'rest_invalid_param',
      message: 'Invalid parameter(s): status',
      data: {
        status: 400,
        params: { status: 'Status is forbidden.' },
        details: {
          status: { code: 'rest_forbidden_status', message: 'Status is forbidden.', data: { status } },
        },
      },
    });
    assert.equal(mapWordPressError(400, forbiddenStatus(401), none).class, 'TOKEN_EXPIRED');
    assert.equal(mapWordPressError(400, forbiddenStatus(403), none).class, 'PERMISSION_REVOKED');
    assert.equal(
      mapWordPressError(
        400,
        { code: 'empty_content', message: 'Content, title, and excerpt are empty.' },
        none,
      ).class,
      'CONTENT_REJECTED',
    );
  });
});

// --- real scheduling ------------------------------------------------------------------------------------

const start = new Date('2031-05-01T10:00:00.000Z');
const inTwoHours = new Date(start.getTime() + 2 * 60 * 60 * 1000);
const article: TaskContent<'wordpress_article'> = {
  title: 'Spring skin care: the routine',
  html: '<p>Cleanse, <a href="https://brand.example/serum">serum</a>, moisturise.</p>',
  excerpt: 'A routine for spring',
  tags: ['spring', 'routine'],
  authorName: 'Ann',
};
const editorCredentials = () => ({
  siteUrl: simulator.url,
  restBase: `${simulator.url}/wp-json`,
  username: 'editor',
  applicationPassword: editorPassword,
});
const postsPath = /^\/wp-json\/wp\/v2\/posts$/;
const postPath = /^\/wp-json\/wp\/v2\/posts\/\d+$/;

/** A hand-off context whose saved progress lands in `stored`, as the publication row would keep it. */
function handOffContext(
  overrides: Partial<HandOffContext<WordPressCredentials>> = {},
  crashOn?: string,
): { context: HandOffContext<WordPressCredentials>; stored: PublicationProgress; events: string[] } {
  const stored: PublicationProgress = { ...(overrides.progress ?? {}) };
  const events: string[] = [];
  const context: HandOffContext<WordPressCredentials> = {
    taskId: 'task-1',
    channel: 'wordpress_article',
    content: article,
    contentDigest: 'wordpress-content-1',
    account: { kind: 'wordpress_site', externalId: simulator.url },
    credentials: editorCredentials(),
    progress: { ...stored },
    async saveProgress(update) {
      // A worker killed right after WordPress answered: the answer is never persisted.
      if (crashOn && crashOn in update) throw new Error('worker killed');
      Object.assign(stored, update);
    },
    heartbeat() {
      events.push('heartbeat');
    },
    async beforeGoingLive() {
      events.push(`live at ${clock().toISOString()}`);
    },
    scheduledAt: inTwoHours,
    epicTitle: 'Spring launch',
    handOffKey: '1a2b3c4d-5e6f7a8b-9c0d1e2f',
    ...overrides,
  };
  return { context, stored, events };
}

const cancelWith = (
  stored: PublicationProgress,
  externalId: string | null,
  handOffKey: string | null = null,
) => adapter.cancelHandOff({ externalId, handOffKey, credentials: editorCredentials(), progress: stored });
const statusOf = (externalId: string) =>
  adapter.handOffStatus({ externalId, credentials: editorCredentials() });

describe('handing a wordpress_article task to WordPress', () => {
  it('creates one post `future` at exactly scheduledAt, its slug carrying the hand-off key', async () => {
    frozen = start;
    const { context, stored, events } = handOffContext();
    const published = await adapter.handOff(context);

    const [post, ...others] = simulator.posts();
    assert.ok(post);
    assert.equal(others.length, 0);
    assert.equal(post.status, 'future');
    assert.equal(post.dateGmt, '2031-05-01 12:00:00');
    assert.equal(post.slug, 'spring-skin-care-the-routine-1a2b3c4d-5e6f7a8b-9c0d1e2f');
    assert.equal(post.title, article.title);
    assert.equal(post.content, article.html);
    assert.equal(post.excerpt, article.excerpt);
    assert.equal(post.author, 1, 'written as the connected user');
    assert.deepEqual(published, {
      externalId: String(post.id),
      externalUrl: `${simulator.url}/?p=${post.id}`,
    });
    assert.deepEqual(stored, { slug: post.slug, postId: String(post.id) });
    assert.deepEqual(events, [`live at ${start.toISOString()}`]);

    const [create] = simulator.receivedMatching(postsPath, 'POST');
    assert.deepEqual(create?.body, {
      title: article.title,
      content: article.html,
      excerpt: article.excerpt,
      slug: post.slug,
      status: 'future',
      date_gmt: '2031-05-01T12:00:00',
    });
    assert.equal(create?.headers.authorization, basicOf('editor', editorPassword));
    assert.equal(
      simulator.receivedMatching(postsPath, 'GET').length,
      0,
      'a first attempt has nothing to look up',
    );
  });

  it('a lost answer, then the retry: the post is found by its slug, and there is still exactly one', async () => {
    frozen = start;
    simulator.dropAnswerNext({ method: 'POST', path: postsPath });
    const first = handOffContext();
    const failure = await failureOf(adapter.handOff(first.context));
    assert.equal(failure.class, 'TRANSIENT');
    assert.equal(simulator.posts().length, 1, 'WordPress created it all the same');
    assert.deepEqual(Object.keys(first.stored), ['slug'], 'the slug was saved before the request');

    const retry = handOffContext({ progress: { ...first.stored } });
    const published = await adapter.handOff(retry.context);
    const posts = simulator.posts();
    assert.equal(posts.length, 1);
    assert.equal(published.externalId, String(posts[0]!.id));
    assert.equal(retry.stored.postId, String(posts[0]!.id));
    assert.equal(simulator.receivedMatching(postsPath, 'POST').length, 1, 'no second create');
    const [lookup] = simulator.receivedMatching(postsPath, 'GET');
    assert.deepEqual(lookup?.query, {
      slug: [posts[0]!.slug, ...[2, 3, 4, 5].map((n) => `${posts[0]!.slug}-${n}`)].join(','),
      status: 'future,draft,pending,private,publish',
      context: 'edit',
      per_page: '100',
    });
    assert.deepEqual(retry.events, [], 'nothing went live again');
  });

  it('a crash before the post id was saved: the retry finds the post, nothing is created twice', async () => {
    frozen = start;
    const crashed = handOffContext({}, 'postId');
    await assert.rejects(adapter.handOff(crashed.context), /worker killed/);
    const retry = handOffContext({ progress: { ...crashed.stored } });
    await adapter.handOff(retry.context);
    assert.equal(simulator.posts().length, 1);
    assert.equal(retry.stored.postId, String(simulator.posts()[0]!.id));
  });

  it('resumes with the post id it saved: one read, no look-up, no request that changes anything', async () => {
    frozen = start;
    const first = handOffContext();
    await adapter.handOff(first.context);
    const before = simulator.received.length;
    const again = handOffContext({ progress: { ...first.stored } });
    await adapter.handOff(again.context);
    assert.deepEqual(
      simulator.received.slice(before).map((request) => `${request.method} ${request.path}`),
      [`GET /wp-json/wp/v2/posts/${first.stored.postId}`],
    );
  });

  it('schedules again the draft a cancel left under the same key (a cancel whose answer was lost)', async () => {
    frozen = start;
    const first = handOffContext();
    const { externalId } = await adapter.handOff(first.context);
    await cancelWith(first.stored, externalId);
    assert.equal(simulator.posts()[0]?.status, 'draft');
    const again = handOffContext({ progress: { ...first.stored } });
    assert.equal((await adapter.handOff(again.context)).externalId, externalId);
    assert.equal(simulator.posts().length, 1);
    assert.equal(simulator.posts()[0]?.status, 'future');
    assert.equal(again.events.length, 1, 'beforeGoingLive before scheduling it again');
  });

  it('works through ?rest_route= on a site with plain permalinks', async () => {
    frozen = start;
    simulator.setPrettyPermalinks(false);
    const credentials = { ...editorCredentials(), restBase: `${simulator.url}/?rest_route=` };
    const { externalId } = await adapter.handOff(handOffContext({ credentials }).context);
    assert.equal(simulator.posts()[0]?.status, 'future');
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'pending',
      platformStatus: 'future',
    });
    assert.ok(simulator.received.every((request) => request.path === '/'));
  });
});

describe("WordPress's one-minute rule: never published early", () => {
  it('the simulator follows wp_insert_post: `future` under 60 s is published, `publish` 60 s ahead is `future`', async () => {
    frozen = start;
    const create = async (status: string, secondsAhead: number) => {
      const response = await fetch(`${simulator.url}/wp-json/wp/v2/posts`, {
        method: 'POST',
        headers: { authorization: basicOf('editor', editorPassword), 'content-type': 'application/json' },
        body: JSON.stringify({
          title: `${status} ${secondsAhead}`,
          status,
          date_gmt: new Date(start.getTime() + secondsAhead * 1000).toISOString().slice(0, 19),
        }),
      });
      assert.equal(response.status, 201);
      return ((await response.json()) as { status: string }).status;
    };
    assert.equal(await create('future', 59), 'publish');
    assert.equal(await create('future', 60), 'future');
    assert.equal(await create('publish', 60), 'future');
    assert.equal(await create('publish', 59), 'publish');
  });

  it('a time less than a minute away: the hand-off waits for it, then publishes, never before', async () => {
    const scheduledAt = new Date(Math.ceil((Date.now() + 1_500) / 1000) * 1000);
    const { context, events } = handOffContext({ scheduledAt });
    const published = await adapter.handOff(context);
    const [post] = simulator.posts();
    assert.equal(post?.status, 'publish');
    assert.ok(post.publishedAt!.getTime() >= scheduledAt.getTime(), 'published at its time, not before');
    assert.equal(post.publishedBy, 'request');
    assert.equal(published.externalId, String(post.id));
    const [create] = simulator.receivedMatching(postsPath, 'POST');
    assert.ok(create!.receivedAt.getTime() >= scheduledAt.getTime(), 'the post was created at the time');
    assert.equal((create!.body as { status: string }).status, 'publish');
    assert.equal(post.dateGmt, wordPressDateGmt(scheduledAt).replace('T', ' '));
    assert.ok(events.includes('heartbeat'), 'Temporal heard from the wait');
    const live = events.find((event) => event.startsWith('live at '))!;
    assert.ok(
      Date.parse(live.slice(8)) >= scheduledAt.getTime(),
      'beforeGoingLive right before, at the time',
    );
  });

  it('an unschedule during that wait (the activity cancelled) publishes nothing', async () => {
    const scheduledAt = new Date(Date.now() + 30_000);
    const abort = new AbortController();
    const { context } = handOffContext({ scheduledAt, signal: abort.signal });
    setTimeout(() => abort.abort(), 200);
    await assert.rejects(adapter.handOff(context), { name: 'AbortError' });
    assert.equal(simulator.posts().length, 0);
  });

  it('a hand-off retried after its time publishes at once', async () => {
    const scheduledAt = new Date(Date.now() - 60_000);
    await adapter.handOff(handOffContext({ scheduledAt }).context);
    assert.equal(simulator.posts()[0]?.status, 'publish');
  });

  it('rounds a time with a fraction of a second up: WordPress keeps whole seconds', () => {
    assert.equal(wordPressDateGmt(new Date('2031-05-01T12:00:00.000Z')), '2031-05-01T12:00:00');
    assert.equal(wordPressDateGmt(new Date('2031-05-01T12:00:00.001Z')), '2031-05-01T12:00:01');
  });

  it('writes slugs the way WordPress keeps them', () => {
    assert.equal(
      wordPressPostSlug('Été: 10 soins « bio » & co.', 'AbC_12-x'),
      'ete-10-soins-bio-co-abc_12-x',
    );
    assert.equal(wordPressPostSlug('!!!', 'k1'), 'k1');
    assert.ok(wordPressPostSlug('x'.repeat(300), 'k1').length <= 63);
  });
});

describe('cancelling a WordPress hand-off', () => {
  it('takes the post back to draft, its date kept; cancelling again is fine', async () => {
    frozen = start;
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    await cancelWith(stored, externalId, context.handOffKey);
    const [post] = simulator.posts();
    assert.equal(post?.status, 'draft');
    assert.equal(post.dateGmt, '2031-05-01 12:00:00');
    const [update] = simulator.receivedMatching(postPath, 'POST');
    assert.deepEqual(update?.body, { status: 'draft' });
    await cancelWith(stored, externalId, context.handOffKey);
    assert.equal(simulator.receivedMatching(postPath, 'POST').length, 1, 'a draft needs nothing more');
    assert.deepEqual(await statusOf(externalId), { state: 'cancelled', platformStatus: 'draft' });

    frozen = new Date(inTwoHours.getTime() + 60_000);
    simulator.runCron();
    assert.equal(simulator.posts()[0]?.status, 'draft', 'WP-Cron publishes no draft');
  });

  it('finds and cancels a post no answer ever named', async () => {
    frozen = start;
    simulator.dropAnswerNext({ method: 'POST', path: postsPath });
    const { context, stored } = handOffContext();
    await failureOf(adapter.handOff(context));
    await cancelWith(stored, null, context.handOffKey);
    assert.equal(simulator.posts()[0]?.status, 'draft');
  });

  it('also takes back the `-2` twin that an attempt which outlived its time-out created beside it', async () => {
    frozen = start;
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    const twin = await fetch(`${simulator.url}/wp-json/wp/v2/posts`, {
      method: 'POST',
      headers: { authorization: basicOf('editor', editorPassword), 'content-type': 'application/json' },
      body: JSON.stringify({
        title: article.title,
        slug: stored.slug,
        status: 'future',
        date_gmt: '2031-05-01T12:00:00',
      }),
    });
    assert.equal(
      ((await twin.json()) as { slug: string }).slug,
      `${stored.slug}-2`,
      'WordPress keeps slugs unique',
    );
    await cancelWith(stored, externalId, context.handOffKey);
    assert.deepEqual(
      simulator.posts().map((post) => post.status),
      ['draft', 'draft'],
    );
  });

  it('refuses once the post is published: HandOffLockedError, and the post stays live', async () => {
    frozen = start;
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    frozen = new Date(inTwoHours.getTime() + 10_000);
    simulator.runCron();
    await assert.rejects(
      cancelWith(stored, externalId, context.handOffKey),
      (error: unknown) => error instanceof HandOffLockedError && error.externalId === externalId,
    );
    assert.equal(simulator.posts()[0]?.status, 'publish');
  });

  it('refuses at the very moment WP-Cron may be publishing it; takes back one long overdue on an idle site', async () => {
    frozen = start;
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    frozen = new Date(inTwoHours.getTime() - 2_000);
    await assert.rejects(cancelWith(stored, externalId), HandOffLockedError);
    assert.equal(simulator.posts()[0]?.status, 'future');
    frozen = new Date(inTwoHours.getTime() + 60 * 60_000);
    await cancelWith(stored, externalId);
    assert.equal(simulator.posts()[0]?.status, 'draft');
  });

  it('a move (cancel, then a hand-off under a new key) leaves exactly one scheduled post, at the new time', async () => {
    frozen = start;
    const first = handOffContext();
    const { externalId } = await adapter.handOff(first.context);
    await cancelWith(first.stored, externalId, first.context.handOffKey);
    const later = new Date(inTwoHours.getTime() + 24 * 60 * 60_000);
    await adapter.handOff(
      handOffContext({ scheduledAt: later, handOffKey: 'feedbeef-00000000-11111111' }).context,
    );
    const scheduled = simulator.posts().filter((post) => post.status === 'future');
    assert.equal(scheduled.length, 1);
    assert.equal(scheduled[0]?.dateGmt, '2031-05-02 12:00:00');
  });
});

describe('confirming a WordPress hand-off', () => {
  it('pending before the time; after it, on an idle site, requests wp-cron.php once and reports when that published it', async () => {
    frozen = start;
    const { externalId } = await adapter.handOff(handOffContext().context);
    assert.deepEqual(await statusOf(externalId), { state: 'pending', platformStatus: 'future' });
    assert.equal(simulator.receivedMatching('/wp-cron.php').length, 0);

    const late = new Date(inTwoHours.getTime() + 7 * 60_000);
    frozen = late;
    assert.equal(simulator.posts()[0]?.status, 'future', 'nobody visited: still future past its time');
    assert.deepEqual(await statusOf(externalId), { state: 'sent', sentAt: late });
    const crons = simulator.receivedMatching('/wp-cron.php', 'GET');
    assert.equal(crons.length, 1);
    assert.equal(crons[0]?.headers.authorization, undefined, 'wp-cron.php gets no credentials');
    assert.equal(simulator.posts()[0]?.publishedBy, 'cron');
  });

  it('found published at the first read (visitors ran WP-Cron): sent, the moment unknown, no cron request', async () => {
    frozen = start;
    const { externalId } = await adapter.handOff(handOffContext().context);
    frozen = new Date(inTwoHours.getTime() + 1_000);
    simulator.setTraffic(true);
    while (simulator.posts()[0]?.status !== 'publish')
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(simulator.posts()[0]?.publishedBy, 'cron');
    assert.deepEqual(await statusOf(externalId), { state: 'sent', sentAt: null });
    assert.equal(simulator.receivedMatching('/wp-cron.php').length, 0);
  });

  it('still pending when wp-cron.php fails, so the next poll asks again', async () => {
    frozen = start;
    const { externalId } = await adapter.handOff(handOffContext().context);
    frozen = new Date(inTwoHours.getTime() + 1_000);
    simulator.failWith('transient', { path: '/wp-cron.php' });
    assert.deepEqual(await statusOf(externalId), { state: 'pending', platformStatus: 'future' });
    assert.deepEqual(await statusOf(externalId), { state: 'sent', sentAt: frozen });
  });

  it('still `future` once overdue, WP-Cron blocked (answered but never run): published by request, no cron racing it', async () => {
    frozen = start;
    const { externalId } = await adapter.handOff(handOffContext().context);
    frozen = new Date(inTwoHours.getTime() + 6 * 60_000);
    // A host that answers wp-cron.php without running WordPress (a cache, a blocked path): nothing publishes.
    simulator.failNext({ path: '/wp-cron.php', times: 10, response: { status: 200, body: '' } });
    assert.deepEqual(await statusOf(externalId), { state: 'pending', platformStatus: 'future' });
    assert.equal(simulator.posts()[0]?.status, 'future', 'not overdue: left to WordPress');
    const cronsBefore = simulator.receivedMatching('/wp-cron.php').length;

    const { overdue, asked } = recordingOverdue(inTwoHours);
    const answer = await adapter.handOffStatus({ externalId, credentials: editorCredentials(), overdue });
    assert.deepEqual(answer, { state: 'sent', sentAt: frozen });
    assert.equal(asked.length, 1, 'the fence was asked right before');
    assert.equal(simulator.receivedMatching('/wp-cron.php').length, cronsBefore, 'no cron run to race');
    const [post, ...others] = simulator.posts();
    assert.deepEqual(others, []);
    assert.equal(post?.status, 'publish');
    assert.equal(post?.publishedBy, 'request');
    assert.equal(post?.dateGmt, '2031-05-01 12:00:00', 'its date kept');
    simulator.clearFailures();
  });

  it('overdue publishes nothing when the time is ahead, the fence says no, or someone moved the date', async () => {
    frozen = start;
    const { externalId } = await adapter.handOff(handOffContext().context);
    const credentials = editorCredentials();
    const ahead = await adapter.handOffStatus({
      externalId,
      credentials,
      overdue: recordingOverdue(inTwoHours).overdue,
    });
    assert.deepEqual(ahead, { state: 'pending', platformStatus: 'future' });

    frozen = new Date(inTwoHours.getTime() + 6 * 60_000);
    simulator.failNext({ path: '/wp-cron.php', times: 10, response: { status: 200, body: '' } });
    const refused = recordingOverdue(inTwoHours, false);
    assert.equal(
      (await adapter.handOffStatus({ externalId, credentials, overdue: refused.overdue })).state,
      'pending',
    );
    assert.equal(refused.asked.length, 1);
    // The epic's time is not the post's date: someone moved it in WordPress, so WP-Cron is asked, as usual.
    const moved = recordingOverdue(new Date(inTwoHours.getTime() - 60_000));
    assert.equal(
      (await adapter.handOffStatus({ externalId, credentials, overdue: moved.overdue })).state,
      'pending',
    );
    assert.deepEqual(moved.asked, []);
    assert.equal(simulator.posts()[0]?.status, 'future');
    simulator.clearFailures();
  });

  it('a post trashed or deleted in WordPress is cancelled or failed', async () => {
    frozen = start;
    const { externalId } = await adapter.handOff(handOffContext().context);
    const remove = (query: string) =>
      fetch(`${simulator.url}/wp-json/wp/v2/posts/${externalId}${query}`, {
        method: 'DELETE',
        headers: { authorization: basicOf('editor', editorPassword) },
      });
    assert.equal((await remove('')).status, 200);
    assert.deepEqual(await statusOf(externalId), { state: 'cancelled', platformStatus: 'trash' });
    assert.equal((await remove('?force=true')).status, 200);
    assert.deepEqual(await statusOf(externalId), {
      state: 'failed',
      platformStatus: 'Not found',
      message: 'The post no longer exists in WordPress',
    });
  });
});

describe('WordPress error classes during hand-offs', () => {
  it('a revoked application password is TOKEN_EXPIRED, on the create and on the look-up alike', async () => {
    frozen = start;
    simulator.revokeApplicationPasswords('editor');
    const create = await failureOf(adapter.handOff(handOffContext().context));
    assert.deepEqual(
      [create.class, create.platformCode],
      ['TOKEN_EXPIRED', 'rest_cannot_create'],
      'POST /posts answers 401 rest_cannot_create',
    );
    // Arguments are checked before permissions: the anonymous look-up of non-public statuses is a 400.
    const lookup = await failureOf(adapter.handOff(handOffContext({ progress: { slug: 'x-1' } }).context));
    assert.deepEqual([lookup.class, lookup.platformCode], ['TOKEN_EXPIRED', 'rest_invalid_param']);
    assert.equal(simulator.posts().length, 0);
  });

  it('a user who may no longer publish is PERMISSION_REVOKED (403 rest_cannot_publish)', async () => {
    frozen = start;
    simulator.setRoles('editor', ['contributor']);
    const failure = await failureOf(adapter.handOff(handOffContext().context));
    assert.deepEqual([failure.class, failure.platformCode], ['PERMISSION_REVOKED', 'rest_cannot_publish']);
    assert.equal(failure.message, 'Sorry, you are not allowed to publish posts in this post type.');
    simulator.setRoles('editor', ['subscriber']);
    const lookup = await failureOf(adapter.handOff(handOffContext({ progress: { slug: 'x-1' } }).context));
    assert.equal(lookup.class, 'PERMISSION_REVOKED');
  });

  it('rest_invalid_param on what the user wrote is CONTENT_REJECTED; on anything else INVALID_REQUEST', async () => {
    frozen = start;
    const invalid = (param: string) => ({
      status: 400,
      body: {
        code: 'rest_invalid_param',
        message: `Invalid parameter(s): ${param}`,
        data: { status: 400, params: { [param]: 'Invalid.' }, details: {} },
      },
    });
    simulator.failNext({ method: 'POST', path: postsPath, response: invalid('content') });
    const content = await failureOf(adapter.handOff(handOffContext().context));
    assert.deepEqual([content.class, content.platformCode], ['CONTENT_REJECTED', 'rest_invalid_param']);
    simulator.failNext({ method: 'POST', path: postsPath, response: invalid('date_gmt') });
    assert.equal((await failureOf(adapter.handOff(handOffContext().context))).class, 'INVALID_REQUEST');
  });

  it('throttling is RATE_LIMITED with its delay; a 5xx is TRANSIENT', async () => {
    frozen = start;
    simulator.failWith('rate_limited', { method: 'POST', path: postsPath, retryAfterSeconds: 20 });
    const limited = await failureOf(adapter.handOff(handOffContext().context));
    assert.equal(limited.class, 'RATE_LIMITED');
    assert.equal(limited.retryAfterMs, 20_000);
    simulator.failWith('transient', { method: 'POST', path: postPath });
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    const error = await cancelWith(stored, externalId).then(
      () => assert.fail('expected the cancel to fail'),
      (reason: unknown) => reason,
    );
    assert.ok(error instanceof PlatformError && error.failure.class === 'TRANSIENT');
    assert.equal(simulator.posts().find((post) => post.id === Number(externalId))?.status, 'future');
  });
});
