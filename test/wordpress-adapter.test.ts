// The WordPress adapter against the WordPress simulator over real HTTP: connecting with an application
// password (publish_posts required, plain-permalink fallback), the periodic check, the refusal of private
// and loopback sites (before any request, and on every redirect hop), and the error classes.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { CredentialsRejectedError } from '../connectors/types.ts';
import {
  checkSiteUrl,
  createWordPressAdapter,
  type HostLookup,
  isPrivateAddress,
  mapWordPressError,
  normaliseSiteUrl,
  type WordPressAdapter,
  wordPressMessages,
} from '../connectors/wordpress.ts';
import { PlatformError } from '../domain/publication-errors.ts';
import { startWordPressSimulator, type WordPressSimulator } from '../sandbox/wordpress.ts';

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

beforeEach(async () => {
  simulator = await startWordPressSimulator({ users, siteName });
  // The simulator is on 127.0.0.1: these tests allow private hosts; the refusals are tested apart.
  adapter = createWordPressAdapter({ allowPrivateHosts: true });
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
    assert.equal(mapWordPressError(400, body('rest_invalid_param', 400), none).class, 'INVALID_REQUEST');
    assert.equal(mapWordPressError(503, '<html>Maintenance</html>', none).class, 'TRANSIENT');
    assert.equal(mapWordPressError(0, null, none).class, 'TRANSIENT');
    assert.equal(
      mapWordPressError(429, null, new Headers({ 'retry-after': '12' })).retryAfterMs,
      12_000,
      'Retry-After seconds become milliseconds',
    );
  });
});
