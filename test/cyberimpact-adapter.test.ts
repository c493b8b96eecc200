// The CyberImpact adapter against the CyberImpact simulator over real HTTP: connecting with an API token
// (ping, then every group across pages), the periodic check, audiences, hand-offs as mailings scheduled for
// the epic's time (in CyberImpact's zone, across daylight-saving changes) that a lost answer never doubles,
// cancel and CyberImpact's refusal once sending began, send confirmation, and each error class.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { loadConfig } from '../config.ts';
import {
  type CyberImpactAdapter,
  type CyberImpactCredentials,
  createCyberImpactAdapter,
  cyberImpactGroupsPageSize,
  cyberImpactSendAt,
  handOffMarker,
  mapCyberImpactError,
  parseCyberImpactDate,
} from '../connectors/cyberimpact.ts';
import { adapterOptions } from '../connectors/registry.ts';
import {
  CredentialsRejectedError,
  type HandOffContext,
  type PublicationProgress,
} from '../connectors/types.ts';
import { parseTaskContent, type TaskContent } from '../domain/content.ts';
import { HandOffLockedError, PlatformError } from '../domain/publication-errors.ts';
import { type CyberImpactSimulator, startCyberImpactSimulator } from '../sandbox/cyberimpact.ts';

const goodToken = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJnb29kIn0.Z29vZC10b2tlbi1zaWduYXR1cmU';
const noGroupsToken = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJuby1ncm91cHMifQ.bm8tZ3JvdXBzLXNpZ25hdHVyZQ';
const noPingToken = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJuby1waW5nIn0.bm8tcGluZy1zaWduYXR1cmU';
// More than two pages, so discovery must follow the pagination to its end.
const groupCount = cyberImpactGroupsPageSize * 2 + 7;
const groups = Array.from({ length: groupCount }, (_, index) => ({
  id: 1000 + index,
  title: `Group ${String(index + 1).padStart(4, '0')}`,
}));

const start = new Date('2031-05-01T10:00:00.000Z');
/** 08:00 in Toronto (EDT). */
const inTwoHours = new Date(start.getTime() + 2 * 60 * 60 * 1000);
const sender = 'hello@brand.example';

let clock = start;
let simulator: CyberImpactSimulator;
let adapter: CyberImpactAdapter;

beforeEach(async () => {
  clock = start;
  simulator = await startCyberImpactSimulator({
    now: () => clock,
    validatedSenders: [sender],
    groups,
    apiTokens: {
      [goodToken]: {},
      [noGroupsToken]: { forbiddenPaths: ['/groups'] },
      [noPingToken]: { forbiddenPaths: ['/ping'] },
    },
  });
  adapter = createCyberImpactAdapter({ apiBaseUrl: simulator.url, now: () => clock });
});

afterEach(async () => {
  await simulator.close();
});

async function failureOf(promise: Promise<unknown>) {
  const error = await promise.then(
    () => assert.fail('expected the call to fail'),
    (reason: unknown) => reason,
  );
  assert.ok(error instanceof PlatformError, `expected a PlatformError, got ${String(error)}`);
  assert.ok(!JSON.stringify(error.failure).includes(goodToken), 'the API token leaked into the failure');
  return error.failure;
}

/** A port on which nothing listens: the connection is refused. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('connecting a CyberImpact API token', () => {
  it('pings, then discovers every group across pages as cyberimpact_group accounts', async () => {
    const connection = await adapter.connector.connectWithApiKey(goodToken);
    assert.deepEqual(connection.credentials, { apiKey: goodToken });
    assert.equal(connection.expiresAt, null, 'an API token has no expiry');
    assert.deepEqual(
      connection.accounts,
      groups.map((group) => ({ kind: 'cyberimpact_group', externalId: String(group.id), name: group.title })),
    );

    const pings = simulator.receivedMatching(/^\/ping$/, 'GET');
    assert.equal(pings.length, 1);
    assert.equal(pings[0]?.headers.authorization, `Bearer ${goodToken}`);
    const pages = simulator.receivedMatching(/^\/groups$/, 'GET');
    assert.deepEqual(
      pages.map((request) => request.query),
      [1, 2, 3].map((page) => ({ page: String(page), limit: String(cyberImpactGroupsPageSize) })),
    );
    assert.equal(simulator.received[0]?.path, '/ping', 'the ping comes first');
  });

  it('says the connector kind is an API key', () => {
    assert.equal(adapter.platform, 'cyberimpact');
    assert.equal(adapter.connector.kind, 'api_key');
  });

  it('refuses a wrong token with "Invalid API key", after the ping alone', async () => {
    await assert.rejects(adapter.connector.connectWithApiKey('eyJ.wrong.token'), {
      name: 'CredentialsRejectedError',
      message: 'Invalid API key',
    });
    assert.equal(simulator.receivedMatching('/groups').length, 0, 'no group read with a refused token');
  });

  it('refuses an empty token without asking CyberImpact', async () => {
    await assert.rejects(adapter.connector.connectWithApiKey('   '), {
      name: 'CredentialsRejectedError',
      message: 'Invalid API key',
    });
    assert.equal(simulator.received.length, 0, 'nothing was sent');
  });

  it('refuses a token that may not read groups (403) with "Scopes insufficient"', async () => {
    await assert.rejects(adapter.connector.connectWithApiKey(noGroupsToken), {
      name: 'CredentialsRejectedError',
      message: 'Scopes insufficient',
    });
    await assert.rejects(adapter.connector.connectWithApiKey(noPingToken), {
      name: 'CredentialsRejectedError',
      message: 'Scopes insufficient',
    });
  });

  it('reports a 5xx while connecting as TRANSIENT, not as a refused token', async () => {
    simulator.failWith('transient', { path: '/groups' });
    const failure = await failureOf(adapter.connector.connectWithApiKey(goodToken));
    assert.equal(failure.class, 'TRANSIENT');
  });

  it('trims the pasted token before storing it', async () => {
    const connection = await adapter.connector.connectWithApiKey(`  ${goodToken}\n`);
    assert.equal(connection.credentials.apiKey, goodToken);
  });
});

describe('the periodic check of a CyberImpact token', () => {
  it('passes for a working token with one ping', async () => {
    await adapter.verifyCredentials({ apiKey: goodToken });
    assert.equal(simulator.receivedMatching('/ping').length, 1);
    assert.equal(simulator.receivedMatching('/groups').length, 0, 'the check never lists groups');
  });

  it('says "Invalid API key" once the token is revoked', async () => {
    simulator.revokeToken(goodToken);
    await assert.rejects(
      adapter.verifyCredentials({ apiKey: goodToken }),
      (error: unknown) => error instanceof CredentialsRejectedError && error.message === 'Invalid API key',
    );
  });

  it('treats a 5xx as TRANSIENT: a passing outage never flips the connector', async () => {
    simulator.failWith('transient', { path: '/ping' });
    const failure = await failureOf(adapter.verifyCredentials({ apiKey: goodToken }));
    assert.equal(failure.class, 'TRANSIENT');
  });

  it('treats a refused connection as TRANSIENT', async () => {
    const offline = createCyberImpactAdapter({ apiBaseUrl: await deadUrl() });
    const failure = await failureOf(offline.verifyCredentials({ apiKey: goodToken }));
    assert.equal(failure.class, 'TRANSIENT');
    assert.match(failure.message, /could not be reached/);
  });

  it('treats a hung request as TRANSIENT after the request timeout', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const hung: Server = createServer(() => {
      // Never answers.
    });
    hung.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = hung.address() as AddressInfo;
      const slow = createCyberImpactAdapter({
        apiBaseUrl: `http://127.0.0.1:${port}`,
        requestTimeoutMs: 200,
      });
      const failure = await failureOf(slow.verifyCredentials({ apiKey: goodToken }));
      assert.equal(failure.class, 'TRANSIENT');
      assert.match(failure.message, /no answer within/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => hung.close(() => resolve()));
    }
  });
});

describe('CyberImpact groups as audiences', () => {
  it('lists every group as a list, fresh from CyberImpact', async () => {
    const audiences = await adapter.listAudiences({ apiKey: goodToken });
    assert.equal(audiences.length, groupCount);
    assert.deepEqual(audiences[0], { id: '1000', name: 'Group 0001', kind: 'list' });
    assert.deepEqual(audiences.at(-1), {
      id: String(1000 + groupCount - 1),
      name: `Group ${String(groupCount).padStart(4, '0')}`,
      kind: 'list',
    });
  });

  it('maps a revoked token to TOKEN_EXPIRED and a forbidden one to PERMISSION_REVOKED', async () => {
    simulator.revokeToken(goodToken);
    assert.equal((await failureOf(adapter.listAudiences({ apiKey: goodToken }))).class, 'TOKEN_EXPIRED');
    assert.equal(
      (await failureOf(adapter.listAudiences({ apiKey: noGroupsToken }))).class,
      'PERMISSION_REVOKED',
    );
  });

  it('maps a 429 to RATE_LIMITED with the Retry-After delay', async () => {
    simulator.failWith('rate_limited', { path: '/groups', retryAfterSeconds: 7 });
    const failure = await failureOf(adapter.listAudiences({ apiKey: goodToken }));
    assert.equal(failure.class, 'RATE_LIMITED');
    assert.equal(failure.retryAfterMs, 7000);
  });
});

describe('mapCyberImpactError', () => {
  const none = new Headers();
  it('classifies by status', () => {
    assert.deepEqual(mapCyberImpactError(401, { message: 'Invalid credentials.' }, none), {
      class: 'TOKEN_EXPIRED',
      message: 'Invalid API key',
    });
    assert.equal(mapCyberImpactError(403, null, none).class, 'PERMISSION_REVOKED');
    assert.equal(mapCyberImpactError(500, null, none).class, 'TRANSIENT');
    assert.equal(mapCyberImpactError(502, '<html>Bad gateway</html>', none).class, 'TRANSIENT');
    assert.equal(mapCyberImpactError(0, null, none).class, 'TRANSIENT');
    assert.deepEqual(mapCyberImpactError(422, { message: 'The subject is required.' }, none), {
      class: 'INVALID_REQUEST',
      message: 'The subject is required.',
    });
  });

  it('reads Retry-After in seconds, and leaves the delay out when there is none', () => {
    assert.equal(
      mapCyberImpactError(429, null, new Headers({ 'retry-after': '3' })).retryAfterMs,
      3000,
      'seconds become milliseconds',
    );
    assert.equal(mapCyberImpactError(429, null, none).retryAfterMs, undefined);
  });
});

const content: TaskContent<'cyberimpact_email'> = {
  subject: 'Spring is here',
  fromName: 'Glowtify Beauty',
  fromEmail: sender,
  replyTo: 'care@brand.example',
  html: '<!DOCTYPE html><html><body><a href="https://brand.example/spring">Shop the collection</a></body></html>',
  text: 'Shop the collection: https://brand.example/spring',
  audiences: { included: ['1000', '1002'] },
};
const credentials: CyberImpactCredentials = { apiKey: goodToken };

/** A hand-off context whose saved progress lands in `stored`, as the publication row would keep it. */
function handOffContext(overrides: Partial<HandOffContext<CyberImpactCredentials>> = {}) {
  const stored: PublicationProgress = { ...(overrides.progress ?? {}) };
  const events: string[] = [];
  const context: HandOffContext<CyberImpactCredentials> = {
    taskId: 'task-1',
    channel: 'cyberimpact_email',
    content,
    contentDigest: 'cyberimpact-content-1',
    account: null,
    credentials,
    progress: {},
    async saveProgress(update) {
      events.push(`save ${JSON.stringify(update)}`);
      Object.assign(stored, update);
    },
    heartbeat() {},
    async beforeGoingLive() {
      events.push('going live');
    },
    scheduledAt: inTwoHours,
    epicTitle: 'Spring launch',
    handOffKey: 'ho-task-1-a1',
    ...overrides,
  };
  return { context, stored, events };
}

const creates = () => simulator.receivedMatching(/^\/mailings$/, 'POST');
/** The `sendAt` of the first mailing created. */
const sendAtAsked = (sim: CyberImpactSimulator = simulator) =>
  (sim.receivedMatching(/^\/mailings$/, 'POST')[0]?.body as { sendAt?: string } | undefined)?.sendAt;
const scheduled = () => simulator.mailings().filter((mailing) => mailing.status === 'scheduled');
const cancel = (externalId: string | null, handOffKey: string | null, progress: PublicationProgress = {}) =>
  adapter.cancelHandOff({ externalId, handOffKey, credentials, progress });

describe('handing a cyberimpact_email task to CyberImpact', () => {
  it('creates one mailing for exactly scheduledAt, the key hidden in its HTML, and saves its id at once', async () => {
    const { context, stored, events } = handOffContext();
    const published = await adapter.handOff(context);

    const [mailing, ...others] = simulator.mailings();
    assert.ok(mailing);
    assert.equal(others.length, 0);
    assert.equal(published.externalId, String(mailing.id));
    assert.match(
      published.externalUrl ?? '',
      /^https:\/\/app\.cyberimpact\.com\/newsletter-view-online\?ct=/,
    );
    assert.equal(mailing.status, 'scheduled');
    assert.equal(mailing.scheduledFor.toISOString(), inTwoHours.toISOString(), 'sent at exactly scheduledAt');
    assert.deepEqual(stored, { mailingId: String(mailing.id) });
    assert.deepEqual(events, ['going live', `save {"mailingId":"${mailing.id}"}`]);

    const [create] = creates();
    assert.deepEqual(create?.body, {
      subject: content.subject,
      language: 'en_ca',
      groups: '1000,1002',
      sendAt: '2031-05-01 08:00:00',
      mailFrom: sender,
      fromName: content.fromName,
      replyTo: content.replyTo,
      bodyHtml: `<!DOCTYPE html>${handOffMarker('ho-task-1-a1')}<html><body><a href="https://brand.example/spring">Shop the collection</a></body></html>`,
      bodyText: content.text,
    });
    assert.equal(create?.headers.authorization, `Bearer ${goodToken}`);
    assert.equal(create?.headers['content-type'], 'application/json');
  });

  it('sends the language the task names (CyberImpact requires one; en_ca when the task says none)', async () => {
    await adapter.handOff(handOffContext({ content: { ...content, language: 'fr_ca' } }).context);
    assert.equal(simulator.mailings()[0]?.language, 'fr_ca');
  });

  it('finds the mailing by its hand-off key after a lost answer, and creates nothing new', async () => {
    simulator.dropAnswerNext({ method: 'POST', path: /^\/mailings$/ });
    const lost = handOffContext();
    const failure = await failureOf(adapter.handOff(lost.context));
    assert.equal(failure.class, 'TRANSIENT');
    assert.deepEqual(lost.stored, {}, 'no answer, nothing saved');
    assert.equal(scheduled().length, 1, 'CyberImpact created it all the same');

    const retry = handOffContext();
    const published = await adapter.handOff(retry.context);
    assert.equal(published.externalId, String(scheduled()[0]?.id));
    assert.deepEqual(retry.stored, { mailingId: published.externalId });
    assert.equal(creates().length, 1, 'one POST /mailings in all');
    assert.equal(simulator.mailings().length, 1, 'exactly one mailing');
    assert.deepEqual(
      retry.events,
      [`save {"mailingId":"${published.externalId}"}`],
      'nothing goes live twice',
    );
  });

  it('finds it among the sent mailings when the retry comes after the mailing went out', async () => {
    simulator.dropAnswerNext({ method: 'POST', path: /^\/mailings$/ });
    await failureOf(adapter.handOff(handOffContext().context));
    clock = new Date(inTwoHours.getTime() + 60_000);
    assert.equal(simulator.mailings()[0]?.status, 'sent');

    const published = await adapter.handOff(handOffContext().context);
    assert.equal(published.externalId, String(simulator.mailings()[0]?.id));
    assert.equal(creates().length, 1, 'never sent twice');
    assert.equal(simulator.mailings().length, 1);
  });

  it('resumes from saved progress without looking anything up, and starts over if the mailing was deleted', async () => {
    const first = handOffContext();
    const { externalId } = await adapter.handOff(first.context);
    const listsBefore = simulator.receivedMatching(/^\/mailings\/(scheduled|sent)$/).length;
    const resumed = await adapter.handOff(handOffContext({ progress: { ...first.stored } }).context);
    assert.equal(resumed.externalId, externalId);
    assert.equal(
      simulator.receivedMatching(/^\/mailings\/(scheduled|sent)$/).length,
      listsBefore,
      'no look-up',
    );
    assert.equal(creates().length, 1);

    await cancel(externalId, null, first.stored);
    const again = handOffContext({ progress: { ...first.stored } });
    const recreated = await adapter.handOff(again.context);
    assert.notEqual(recreated.externalId, externalId);
    assert.equal(again.stored.mailingId, recreated.externalId);
    assert.equal(scheduled().length, 1, 'one scheduled copy');
  });

  it('never adopts a mailing of another hand-off or one made in CyberImpact by hand', async () => {
    await adapter.handOff(handOffContext({ handOffKey: 'ho-task-1-a1' }).context);
    const other = await adapter.handOff(handOffContext({ handOffKey: 'ho-task-1-b2' }).context);
    assert.equal(creates().length, 2);
    assert.deepEqual(
      scheduled().map((mailing) => String(mailing.id)),
      [String(simulator.mailings()[0]?.id), other.externalId],
    );
  });

  it('a hand-off retried after its time goes out a few seconds after now, never before its time', async () => {
    clock = new Date(inTwoHours.getTime() + 10 * 60_000 + 250);
    await adapter.handOff(handOffContext().context);
    assert.equal(sendAtAsked(), '2031-05-01 08:10:06');
    const [mailing] = scheduled();
    assert.ok(mailing && mailing.scheduledFor > clock, 'accepted for a time still ahead');
  });

  it('refuses another channel, and content CyberImpact could not send, before calling it', async () => {
    const other = await failureOf(adapter.handOff(handOffContext({ channel: 'klaviyo_email' }).context));
    assert.equal(other.class, 'INVALID_REQUEST');
    const excluded = {
      ...content,
      audiences: { included: ['1000'], excluded: ['1001'] },
    } as unknown as TaskContent;
    assert.equal(
      (await failureOf(adapter.handOff(handOffContext({ content: excluded }).context))).class,
      'INVALID_REQUEST',
    );
    assert.equal(simulator.received.length, 0);
  });
});

describe('sendAt is a wall time in CyberImpact’s zone (CYBERIMPACT_SEND_AT_TIME_ZONE)', () => {
  const toronto = 'America/Toronto';
  const early = new Date('2031-01-01T00:00:00Z');

  it('converts by the zone’s offset on that day, either side of the daylight-saving changes', () => {
    const cases: [string, string][] = [
      ['2031-03-09T06:30:00Z', '2031-03-09 01:30:00'], // EST, just before clocks spring forward
      ['2031-03-09T07:30:00Z', '2031-03-09 03:30:00'], // EDT: 02:xx does not exist that day
      ['2031-07-01T16:00:00Z', '2031-07-01 12:00:00'],
      ['2031-11-02T05:30:00Z', '2031-11-02 01:30:00'], // the first 01:30 (EDT)
      ['2031-12-01T17:00:00Z', '2031-12-01 12:00:00'],
    ];
    for (const [instant, wall] of cases) {
      assert.equal(cyberImpactSendAt(new Date(instant), early, toronto), wall, instant);
    }
    assert.equal(
      cyberImpactSendAt(new Date('2031-03-30T01:30:00Z'), early, 'Europe/Paris'),
      '2031-03-30 03:30:00',
      'another configured zone, on its own change day',
    );
  });

  it('moves the second 01:30 of the fall-back night to 02:00, so it can never be read an hour early', () => {
    assert.equal(cyberImpactSendAt(new Date('2031-11-02T06:30:00Z'), early, toronto), '2031-11-02 02:00:00');
    assert.equal(cyberImpactSendAt(new Date('2031-11-02T06:00:00Z'), early, toronto), '2031-11-02 02:00:00');
    assert.equal(cyberImpactSendAt(new Date('2031-11-02T07:00:00Z'), early, toronto), '2031-11-02 02:00:00');
  });

  it('rounds a fraction of a second up, and keeps a lead before now', () => {
    assert.equal(
      cyberImpactSendAt(new Date('2031-07-01T16:00:00.001Z'), early, toronto),
      '2031-07-01 12:00:01',
    );
    const now = new Date('2031-07-01T16:00:00Z');
    assert.equal(cyberImpactSendAt(new Date('2031-07-01T15:00:00Z'), now, toronto), '2031-07-01 12:00:05');
  });

  it('handed off before the spring change for a time after it: the simulator sends at exactly that instant', async () => {
    clock = new Date('2031-03-08T12:00:00Z'); // EST
    const due = new Date('2031-03-09T12:00:00Z'); // 08:00 EDT
    await adapter.handOff(handOffContext({ scheduledAt: due }).context);
    assert.equal(sendAtAsked(), '2031-03-09 08:00:00');
    assert.equal(simulator.mailings()[0]?.scheduledFor.toISOString(), due.toISOString());
    clock = new Date(due.getTime() - 1000);
    assert.equal(simulator.mailings()[0]?.status, 'scheduled', 'not a second early');
    clock = due;
    assert.equal(simulator.mailings()[0]?.status, 'sent');
  });

  it('follows the configured zone end to end', async () => {
    const paris = await startCyberImpactSimulator({
      now: () => clock,
      groups,
      apiTokens: { [goodToken]: {} },
      timeZone: 'Europe/Paris',
    });
    try {
      const parisAdapter = createCyberImpactAdapter({
        apiBaseUrl: paris.url,
        sendAtTimeZone: 'Europe/Paris',
        now: () => clock,
      });
      await parisAdapter.handOff(handOffContext().context);
      assert.equal(sendAtAsked(paris), '2031-05-01 14:00:00');
      assert.equal(paris.mailings()[0]?.scheduledFor.toISOString(), inTwoHours.toISOString());
    } finally {
      await paris.close();
    }
  });

  it('comes from CYBERIMPACT_SEND_AT_TIME_ZONE, America/Toronto by default, checked at start', () => {
    const testConfig = (environment: Record<string, string> = {}) =>
      loadConfig(
        {
          NODE_ENV: 'test',
          CREDENTIALS_KEY: Buffer.alloc(32, 1).toString('base64'),
          ADMIN_TOKEN: 'an-admin-token-of-length',
          ...environment,
        },
        { generateDevSecrets: false },
      );
    assert.equal(adapterOptions(testConfig(), 'cyberimpact').sendAtTimeZone, 'America/Toronto');
    const configured = testConfig({ CYBERIMPACT_SEND_AT_TIME_ZONE: 'Europe/Paris' });
    assert.equal(adapterOptions(configured, 'cyberimpact').sendAtTimeZone, 'Europe/Paris');
    assert.throws(
      () => testConfig({ CYBERIMPACT_SEND_AT_TIME_ZONE: 'Quebec/Montreal' }),
      /CYBERIMPACT_SEND_AT_TIME_ZONE must be an IANA time zone, got "Quebec\/Montreal"/,
    );
  });

  it('reads CyberImpact’s dates with their offset, or as EST/EDT wall times', () => {
    assert.equal(
      parseCyberImpactDate('2031-05-01T08:00:00-04:00', toronto)?.toISOString(),
      inTwoHours.toISOString(),
    );
    assert.equal(
      parseCyberImpactDate('2031-05-01T08:00:00-0400', toronto)?.toISOString(),
      inTwoHours.toISOString(),
    );
    assert.equal(
      parseCyberImpactDate('2031-05-01 08:00:00.000', toronto)?.toISOString(),
      inTwoHours.toISOString(),
    );
    assert.equal(parseCyberImpactDate('not a date', toronto), null);
  });
});

describe('cancelling and confirming a CyberImpact hand-off', () => {
  it('deletes the mailing; cancelling again is fine', async () => {
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    await cancel(externalId, 'ho-task-1-a1', stored);
    assert.equal(simulator.mailings()[0]?.status, 'deleted');
    await cancel(externalId, 'ho-task-1-a1', stored);
    assert.equal(simulator.receivedMatching(/^\/mailings\/\d+$/, 'DELETE').length, 2);
    clock = new Date(inTwoHours.getTime() + 60_000);
    assert.equal(simulator.mailings()[0]?.status, 'deleted', 'nothing is sent');
  });

  it('deletes a mailing no answer ever named, found by its key, and leaves the others alone', async () => {
    const other = await adapter.handOff(handOffContext({ handOffKey: 'ho-other-task' }).context);
    simulator.dropAnswerNext({ method: 'POST', path: /^\/mailings$/ });
    await failureOf(adapter.handOff(handOffContext().context));
    assert.equal(scheduled().length, 2);

    await cancel(null, 'ho-task-1-a1');
    assert.deepEqual(
      scheduled().map((mailing) => String(mailing.id)),
      [other.externalId],
    );
  });

  it('refuses with HandOffLockedError once CyberImpact is sending; the mailing goes on', async () => {
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    simulator.beginSending(Number(externalId));
    await assert.rejects(
      cancel(externalId, 'ho-task-1-a1', stored),
      (error: unknown) =>
        error instanceof HandOffLockedError &&
        error.externalId === externalId &&
        /already sending/.test(error.message),
    );
    assert.equal(simulator.mailings()[0]?.status, 'sending');
  });

  it('reads a 403 that says the mailing is being sent as the lock, not as a token without rights', async () => {
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    simulator.beginSending(Number(externalId));
    simulator.failNext({
      method: 'DELETE',
      path: /^\/mailings\/\d+$/,
      response: { status: 403, body: { message: 'This mailing is being sent and cannot be deleted.' } },
    });
    await assert.rejects(cancel(externalId, null, stored), HandOffLockedError);
  });

  it('a refused delete of a mailing still scheduled is the refusal itself, not a lock', async () => {
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    simulator.failWith('forbidden', { method: 'DELETE', path: /^\/mailings\/\d+$/ });
    const failure = await failureOf(cancel(externalId, null, stored));
    assert.equal(failure.class, 'PERMISSION_REVOKED');
    simulator.failWith('transient', { method: 'DELETE', path: /^\/mailings\/\d+$/ });
    assert.equal((await failureOf(cancel(externalId, null, stored))).class, 'TRANSIENT');
    assert.equal(scheduled().length, 1);
  });

  it('reports pending until the time passes, then sent at the time it started', async () => {
    const { externalId } = await adapter.handOff(handOffContext().context);
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'pending',
      platformStatus: 'scheduled',
    });
    clock = new Date(inTwoHours.getTime() + 60_000);
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'sent',
      sentAt: inTwoHours,
    });
  });

  it('confirms a mailing whose status is another word once it is among the sent mailings', async () => {
    const { externalId } = await adapter.handOff(handOffContext().context);
    clock = new Date(start.getTime() + 60_000);
    simulator.beginSending(Number(externalId));
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'sent',
      sentAt: clock,
    });
    assert.ok(simulator.receivedMatching(/^\/mailings\/sent$/, 'GET').length > 0, 'the sent list was read');
  });

  it('says failed when the mailing was deleted in CyberImpact', async () => {
    const { externalId } = await adapter.handOff(handOffContext().context);
    await cancel(externalId, null);
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'failed',
      platformStatus: 'Not found',
      message: 'The mailing no longer exists in CyberImpact',
    });
  });
});

describe('CyberImpact failures of a hand-off become publication error classes, one HTTP try each', () => {
  it('a from address that is not a validated sender → INVALID_REQUEST telling the user to validate it', async () => {
    const failure = await failureOf(
      adapter.handOff(handOffContext({ content: { ...content, fromEmail: 'promo@brand.example' } }).context),
    );
    assert.equal(failure.class, 'INVALID_REQUEST');
    assert.match(failure.message, /not a validated sender in CyberImpact: validate it in CyberImpact/);
    assert.equal(simulator.mailings().length, 0);
  });

  it('a refused body → CONTENT_REJECTED; a group CyberImpact does not have → INVALID_REQUEST', async () => {
    simulator.failNext({
      method: 'POST',
      path: /^\/mailings$/,
      response: {
        status: 422,
        body: {
          message: 'The given data was invalid.',
          errors: { bodyHtml: ['The HTML contains a script.'] },
        },
      },
    });
    const rejected = await failureOf(adapter.handOff(handOffContext().context));
    assert.equal(rejected.class, 'CONTENT_REJECTED');
    assert.equal(rejected.message, 'The given data was invalid. (bodyHtml: The HTML contains a script.)');

    const missing = { ...content, audiences: { included: ['1000', '999'] } };
    const invalid = await failureOf(adapter.handOff(handOffContext({ content: missing }).context));
    assert.equal(invalid.class, 'INVALID_REQUEST');
    assert.match(invalid.message, /group 999 does not exist/);
  });

  it('429 with Retry-After → RATE_LIMITED with that delay; 5xx → TRANSIENT; nothing created', async () => {
    simulator.failWith('rate_limited', { method: 'POST', path: /^\/mailings$/, retryAfterSeconds: 9 });
    const limited = await failureOf(adapter.handOff(handOffContext().context));
    assert.equal(limited.class, 'RATE_LIMITED');
    assert.equal(limited.retryAfterMs, 9000);
    simulator.failWith('transient', { path: '/mailings/scheduled' });
    assert.equal((await failureOf(adapter.handOff(handOffContext().context))).class, 'TRANSIENT');
    assert.equal(simulator.mailings().length, 0);
    assert.equal(creates().length, 1, 'one try per call: the adapter never retries on its own');
  });

  it('401 → TOKEN_EXPIRED; 403 → PERMISSION_REVOKED; the token never in a message', async () => {
    simulator.failWith('forbidden', { method: 'POST', path: /^\/mailings$/ });
    assert.equal((await failureOf(adapter.handOff(handOffContext().context))).class, 'PERMISSION_REVOKED');
    simulator.revokeToken(goodToken);
    assert.equal((await failureOf(adapter.handOff(handOffContext().context))).class, 'TOKEN_EXPIRED');
    assert.equal(
      (await failureOf(adapter.handOffStatus({ externalId: '2470', credentials }))).class,
      'TOKEN_EXPIRED',
    );
  });

  it('maps error bodies: 403 unless the body says otherwise, field errors, a sender to validate', () => {
    const none = new Headers();
    assert.equal(mapCyberImpactError(403, { message: 'Forbidden.' }, none).class, 'PERMISSION_REVOKED');
    assert.equal(mapCyberImpactError(403, { message: 'Too many requests.' }, none).class, 'RATE_LIMITED');
    assert.equal(
      mapCyberImpactError(403, { message: 'This mailing has already been sent.' }, none).class,
      'INVALID_REQUEST',
    );
    assert.equal(
      mapCyberImpactError(400, { message: 'The mailFrom address is not a validated sender.' }, none).class,
      'INVALID_REQUEST',
    );
    assert.equal(
      mapCyberImpactError(422, { errors: { subject: ['Too long.'], bodyText: ['Empty.'] } }, none).class,
      'CONTENT_REJECTED',
    );
    assert.deepEqual(
      mapCyberImpactError(
        422,
        { message: 'Invalid.', errors: { sendAt: ['The sendAt must be a date after now.'] } },
        none,
      ),
      { class: 'INVALID_REQUEST', message: 'Invalid. (sendAt: The sendAt must be a date after now.)' },
    );
    assert.equal(
      mapCyberImpactError(422, { errors: [{ field: 'mailFrom', message: 'Sender not validated' }] }, none)
        .message,
      'The from address is not a validated sender in CyberImpact: validate it in CyberImpact, then try again',
    );
  });
});

describe('the CyberImpact simulator refuses what CyberImpact refuses', () => {
  const post = (body: unknown, token = goodToken) =>
    fetch(`${simulator.url}/mailings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const valid = {
    subject: 'Hello',
    language: 'en_ca',
    groups: '1000',
    sendAt: '2031-05-01 08:00:00',
    mailFrom: sender,
    bodyText: 'Hello',
  };

  it('needs a subject, a language of its two, existing groups, a future sendAt in its format, and a body', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...valid, subject: '' }, 'subject'],
      [{ ...valid, language: 'en_us' }, 'language'],
      [{ ...valid, groups: '1000;1001' }, 'groups'],
      [{ ...valid, groups: '999' }, 'groups'],
      [{ ...valid, sendAt: '2031-05-01T08:00:00Z' }, 'sendAt'],
      [{ ...valid, sendAt: '2031-05-01 05:59:59' }, 'sendAt'],
      [{ ...valid, bodyText: undefined }, 'bodyHtml'],
      [{ ...valid, mailFrom: 'someone@else.example' }, 'mailFrom'],
    ];
    for (const [body, field] of cases) {
      const response = await post(body);
      assert.equal(response.status, 422, JSON.stringify(body));
      const answer = (await response.json()) as { message: string; errors: Record<string, string[]> };
      assert.ok(answer.errors[field], `${field} is named for ${JSON.stringify(body)}`);
    }
    assert.equal((await post(valid, 'eyJ.not.ours')).status, 401);
    assert.equal((await post(valid)).status, 201);
    assert.equal(simulator.mailings().length, 1);
  });

  it('lists scheduled and sent mailings in its shapes, and deletes only before sending', async () => {
    const created = (await (await post(valid)).json()) as { id: number; status: string; scheduledOn: string };
    assert.equal(created.status, 'scheduled');
    assert.equal(created.scheduledOn, '2031-05-01 08:00:00.000');
    const list = async (kind: string) => {
      const response = await fetch(`${simulator.url}/mailings/${kind}?dateReturnFormat=ATOM`, {
        headers: { authorization: `Bearer ${goodToken}` },
      });
      return (await response.json()) as { mailings: Record<string, unknown>[]; totalCount: number };
    };
    assert.deepEqual((await list('scheduled')).mailings[0], {
      id: created.id,
      subject: 'Hello',
      language: 'en_ca',
      scheduledOn: '2031-05-01T08:00:00-04:00',
      recipientsCount: 0,
      mailFrom: sender,
    });
    clock = inTwoHours;
    assert.equal((await list('scheduled')).totalCount, 0);
    assert.equal((await list('sent')).mailings[0]?.startedOn, '2031-05-01T08:00:00-04:00');
    const refused = await fetch(`${simulator.url}/mailings/${created.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${goodToken}` },
    });
    assert.equal(refused.status, 400);
    assert.equal(simulator.mailings()[0]?.status, 'sent');
  });
});

describe('cyberimpact_email content', () => {
  it('takes en_ca or fr_ca, and refuses excluded groups (CyberImpact cannot leave anyone out)', () => {
    assert.ok(parseTaskContent('cyberimpact_email', { ...content, language: 'fr_ca' }).ok);
    const language = parseTaskContent('cyberimpact_email', { ...content, language: 'de_de' });
    assert.ok(!language.ok && language.issues[0]?.field === 'content.language');
    const excluded = parseTaskContent('cyberimpact_email', {
      ...content,
      audiences: { included: ['1000'], excluded: ['1001'] },
    });
    assert.ok(!excluded.ok);
    assert.match(excluded.issues[0]?.message ?? '', /cannot exclude groups/);
  });
});
