// The Mailchimp adapter against the Mailchimp simulator over real HTTP: the OAuth connection (code → token
// that never expires → the data center from the metadata → audiences), the credential check, campaign
// hand-offs that never create or schedule twice, cancel and its refusal once sending, confirmation, and
// error classes from Mailchimp's own error bodies.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createMailchimpAdapter,
  type MailchimpAdapter,
  type MailchimpCredentials,
  mapMailchimpError,
} from '../connectors/mailchimp.ts';
import type { HandOffContext, PublicationProgress } from '../connectors/types.ts';
import type { TaskContent } from '../domain/content.ts';
import { HandOffLockedError } from '../domain/publication-errors.ts';
import { type MailchimpSimulator, startMailchimpSimulator } from '../sandbox/mailchimp.ts';
import {
  closedBaseUrl,
  expectFailure,
  expectRejected,
  recordingHandOffContext,
  withHungServer,
} from './support/adapter-harness.ts';

const clientId = '998877665544';
const clientSecret = 'mailchimp-test-secret-5c1d9e';
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/mailchimp/callback';
const lists = Array.from({ length: 5 }, (_, index) => ({
  id: `list${String(index + 1).padStart(6, '0')}`,
  name: `Audience ${index + 1}`,
}));

let sim: MailchimpSimulator;
let adapter: MailchimpAdapter;

async function start(options: Parameters<typeof startMailchimpSimulator>[0] = {}) {
  sim = await startMailchimpSimulator({ clientId, clientSecret, lists, listsPageLimit: 2, ...options });
  adapter = createMailchimpAdapter({ authBaseUrl: sim.url, clientId, clientSecret });
}

/** The user's round trip: consent page → redirect with a code → the code, as the callback receives it. */
async function consent(state = 'state-42') {
  const answer = await fetch(adapter.connector.authorizeUrl({ state, redirectUri }), { redirect: 'manual' });
  assert.equal(answer.status, 302);
  return new URL(answer.headers.get('location') ?? '');
}

async function connect() {
  const location = await consent();
  const code = location.searchParams.get('code');
  assert.ok(code, `no code in ${location}`);
  const connection = await adapter.connector.completeConsent({
    code,
    redirectUri,
    query: Object.fromEntries(location.searchParams),
  });
  return { code, connection };
}

describe('Mailchimp connection', () => {
  beforeEach(() => start());
  afterEach(() => sim.close());

  it('consent → code → token (never expires) → data center from the metadata → one account per audience', async () => {
    const url = new URL(adapter.connector.authorizeUrl({ state: 's-1', redirectUri }));
    assert.equal(url.pathname, '/oauth2/authorize');
    assert.deepEqual(Object.fromEntries(url.searchParams), {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      state: 's-1',
    });
    assert.equal(adapter.connector.pkce, false);

    const location = await consent('state-42');
    assert.equal(`${location.origin}${location.pathname}`, redirectUri);
    assert.equal(location.searchParams.get('state'), 'state-42');

    const { connection } = await connect();
    assert.equal(connection.expiresAt, null);
    assert.equal(connection.credentials.dc, 'us19');
    assert.equal(connection.credentials.apiEndpoint, sim.url);
    assert.ok(connection.credentials.accessToken.length > 10, 'no access token');
    assert.deepEqual(
      connection.accounts,
      lists.map((list) => ({ kind: 'mailchimp_audience', externalId: list.id, name: list.name })),
    );

    const [token] = sim.receivedMatching('/oauth2/token', 'POST');
    assert.deepEqual(
      { ...(token?.body as Record<string, string>), code: 'x' },
      {
        grant_type: 'authorization_code',
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uri: redirectUri,
        code: 'x',
      },
    );
    const [metadata] = sim.receivedMatching('/oauth2/metadata', 'GET');
    assert.equal(metadata?.headers.authorization, `OAuth ${connection.credentials.accessToken}`);
    // Five lists, two per answer (the simulator caps count): three pages, each from where the last one ended.
    const pages = sim.receivedMatching('/3.0/lists', 'GET');
    assert.deepEqual(
      pages.map((page) => [page.query.count, page.query.offset]),
      [
        ['1000', '0'],
        ['1000', '2'],
        ['1000', '4'],
      ],
    );
  });

  it('a replayed code is refused as INVALID_REQUEST, and the error does not echo it', async () => {
    const { code } = await connect();
    await expectFailure(
      adapter.connector.completeConsent({ code, redirectUri, query: { code } }),
      'INVALID_REQUEST',
      [code, clientSecret],
    );
  });

  it('a code is refused for another redirect_uri', async () => {
    const code = (await consent()).searchParams.get('code') ?? '';
    const error = await expectFailure(
      adapter.connector.completeConsent({
        code,
        redirectUri: 'http://127.0.0.1:9/elsewhere',
        query: { code },
      }),
      'INVALID_REQUEST',
      [code],
    );
    assert.equal(error.failure.platformCode, 'invalid_grant');
  });

  it('a denied consent comes back with error=access_denied, the state and no code', async () => {
    sim.denyNextConsent();
    const location = await consent('state-7');
    assert.equal(`${location.origin}${location.pathname}`, redirectUri);
    assert.equal(location.searchParams.get('error'), 'access_denied');
    assert.equal(location.searchParams.get('state'), 'state-7');
    assert.equal(location.searchParams.get('code'), null);
    // Only the next one: the one after that is approved again.
    assert.ok((await consent()).searchParams.get('code'), 'the consent after a denial gave no code');
  });

  it('a user whose role cannot send campaigns (viewer) is refused with "Scopes insufficient"', async () => {
    await sim.close();
    await start({ role: 'viewer' });
    const code = (await consent()).searchParams.get('code') ?? '';
    await expectRejected(
      adapter.connector.completeConsent({ code, redirectUri, query: { code } }),
      /^Scopes insufficient$/,
    );
  });

  it('wrong app credentials are INVALID_REQUEST (a configuration problem), never echoing the secret', async () => {
    const wrong = createMailchimpAdapter({
      authBaseUrl: sim.url,
      clientId,
      clientSecret: 'not-the-secret-123',
    });
    const code = (await consent()).searchParams.get('code') ?? '';
    const error = await expectFailure(
      wrong.connector.completeConsent({ code, redirectUri, query: { code } }),
      'INVALID_REQUEST',
      ['not-the-secret-123', code],
    );
    assert.equal(error.failure.platformCode, 'invalid_client');
  });

  it('the metadata endpoint refusing the token with HTTP 200 {"error":"invalid_token"} → TOKEN_EXPIRED, not TRANSIENT', async () => {
    sim.failWith('metadata_token_refused', { path: '/oauth2/metadata', method: 'GET' });
    const location = await consent();
    const code = location.searchParams.get('code') ?? '';
    const error = await expectFailure(
      adapter.connector.completeConsent({
        code,
        redirectUri,
        query: Object.fromEntries(location.searchParams),
      }),
      'TOKEN_EXPIRED',
      [clientSecret, code],
    );
    assert.equal(error.failure.platformCode, 'invalid_token');
    assert.equal(
      sim.receivedMatching('/3.0/lists', 'GET').length,
      0,
      'no audience read with a refused token',
    );
  });

  it('the apiBaseUrl option overrides the data-center endpoint from the metadata', async () => {
    const { connection } = await connect();
    const elsewhere = await startMailchimpSimulator({ clientId, clientSecret, lists: [] });
    try {
      const overridden = createMailchimpAdapter({
        authBaseUrl: sim.url,
        apiBaseUrl: elsewhere.url,
        clientId,
        clientSecret,
      });
      // The other simulator knows no token: the call reached it, not the account's own endpoint.
      await expectRejected(overridden.verifyCredentials(connection.credentials), /refused the access token/);
      assert.equal(elsewhere.receivedMatching('/3.0/ping').length, 1);
    } finally {
      await elsewhere.close();
    }
  });
});

describe('Mailchimp credentials and audiences', () => {
  let credentials: MailchimpCredentials;
  beforeEach(async () => {
    await start();
    credentials = (await connect()).connection.credentials;
  });
  afterEach(() => sim.close());

  it('verifyCredentials pings the data center with the Bearer token', async () => {
    await adapter.verifyCredentials(credentials);
    const pings = sim.receivedMatching('/3.0/ping', 'GET');
    assert.equal(pings.at(-1)?.headers.authorization, `Bearer ${credentials.accessToken}`);
  });

  it('listAudiences pages through every list (kind list)', async () => {
    const before = sim.receivedMatching('/3.0/lists').length;
    const audiences = await adapter.listAudiences(credentials);
    assert.deepEqual(
      audiences,
      lists.map((list) => ({ id: list.id, name: list.name, kind: 'list' })),
    );
    const pages = sim.receivedMatching('/3.0/lists').slice(before);
    assert.deepEqual(
      pages.map((page) => page.query.offset),
      ['0', '2', '4'],
    );
  });

  it('a token the user disconnected: verifyCredentials says so (CredentialsRejectedError), listAudiences is TOKEN_EXPIRED', async () => {
    sim.revokeTokens();
    await expectRejected(adapter.verifyCredentials(credentials), /refused the access token/);
    const error = await expectFailure(adapter.listAudiences(credentials), 'TOKEN_EXPIRED', [
      credentials.accessToken,
    ]);
    assert.equal(error.failure.platformCode, 'API Key Invalid');
  });

  it('a 403 with its problem document → PERMISSION_REVOKED; verifyCredentials says "Scopes insufficient"', async () => {
    sim.failWith('forbidden', { path: '/3.0/lists' });
    await expectFailure(adapter.listAudiences(credentials), 'PERMISSION_REVOKED', [credentials.accessToken]);
    sim.failWith('forbidden', { path: '/3.0/ping' });
    await expectRejected(adapter.verifyCredentials(credentials), /^Scopes insufficient$/);
  });

  it('429 and a bare 403 (throttling) → RATE_LIMITED with a delay, never a reconnect', async () => {
    sim.failWith('rate_limited', { path: '/3.0/lists' });
    const limited = await expectFailure(adapter.listAudiences(credentials), 'RATE_LIMITED', []);
    assert.ok((limited.failure.retryAfterMs ?? 0) > 0, 'no delay on a 429');
    sim.failWith('throttled_403', { path: '/3.0/ping' });
    await expectFailure(adapter.verifyCredentials(credentials), 'RATE_LIMITED', []);
  });

  it('5xx → TRANSIENT, after exactly one request', async () => {
    const before = sim.receivedMatching('/3.0/ping').length;
    sim.failWith('transient', { path: '/3.0/ping' });
    await expectFailure(adapter.verifyCredentials(credentials), 'TRANSIENT', [credentials.accessToken]);
    assert.equal(sim.receivedMatching('/3.0/ping').length, before + 1);
    // The next call is answered normally: the failure was only the next one.
    await adapter.verifyCredentials(credentials);
  });

  it('a network error (nothing listening) is TRANSIENT and names no secret', async () => {
    const { port } = new URL(await closedBaseUrl());
    const offline = `http://127.0.0.1:${port}`;
    const error = await expectFailure(
      adapter.verifyCredentials({ ...credentials, apiEndpoint: offline }),
      'TRANSIENT',
      [credentials.accessToken],
    );
    assert.match(error.message, /could not be reached/);
    const cut = createMailchimpAdapter({ authBaseUrl: offline, clientId, clientSecret });
    await expectFailure(
      cut.connector.completeConsent({ code: 'some-code-value', redirectUri, query: {} }),
      'TRANSIENT',
      [clientSecret, 'some-code-value'],
    );
  });

  it('a request left unanswered past requestTimeoutMs is TRANSIENT', async () => {
    await withHungServer(async (base) => {
      const impatient = createMailchimpAdapter({
        authBaseUrl: sim.url,
        clientId,
        clientSecret,
        requestTimeoutMs: 200,
      });
      const error = await expectFailure(
        impatient.verifyCredentials({ ...credentials, apiEndpoint: base }),
        'TRANSIENT',
        [credentials.accessToken],
      );
      assert.match(error.message, /no answer within/);
    });
  });
});

describe('handing a mailchimp_email task to Mailchimp', () => {
  const epochStart = new Date('2031-05-01T10:00:00.000Z');
  const noon = new Date('2031-05-01T12:00:00.000Z');
  const content: TaskContent<'mailchimp_email'> = {
    subject: 'Spring is here',
    previewText: 'Our new collection',
    fromName: 'Glowtify Beauty',
    fromEmail: 'news@brand.example',
    replyTo: 'hello@brand.example',
    html: '<html><body><a href="https://brand.example/spring">Shop</a></body></html>',
    text: 'Shop: https://brand.example/spring',
    audiences: { included: ['list000002'] },
  };
  let clock: () => Date = () => epochStart;
  let credentials: MailchimpCredentials;

  beforeEach(async () => {
    clock = () => epochStart;
    sim = await startMailchimpSimulator({ clientId, clientSecret, lists, now: () => clock() });
    adapter = createMailchimpAdapter({ authBaseUrl: sim.url, clientId, clientSecret, now: () => clock() });
    credentials = (await connect()).connection.credentials;
  });
  afterEach(() => sim.close());

  /** A Mailchimp hand-off context (see recordingHandOffContext); `live` holds when each went live. */
  function handOffContext(overrides: Partial<HandOffContext<MailchimpCredentials>> = {}, crashOn?: string) {
    const live: string[] = [];
    const recorded = recordingHandOffContext<MailchimpCredentials>(
      {
        taskId: 'task-1',
        channel: 'mailchimp_email',
        content,
        contentDigest: 'mailchimp-content-1',
        account: null,
        credentials,
        progress: {},
        scheduledAt: noon,
        epicTitle: 'Spring launch',
        handOffKey: 'ho-task-1-a1',
      },
      overrides,
      { crashOn, onGoingLive: () => live.push(clock().toISOString()) },
    );
    return { ...recorded, live };
  }

  const requests = (path: RegExp, method: string) => sim.receivedMatching(path, method);
  const creates = () => requests(/^\/3\.0\/campaigns$/, 'POST').length;
  const schedules = () => requests(/\/actions\/schedule$/, 'POST').length;
  const cancelWith = (
    externalId: string | null,
    progress: PublicationProgress = {},
    handOffKey: string | null = null,
  ) => adapter.cancelHandOff({ externalId, handOffKey, credentials, progress });

  it('creates one campaign for its audience, sets its HTML and schedules it for exactly scheduledAt', async () => {
    const { context, stored, live } = handOffContext();
    const published = await adapter.handOff(context);

    const [campaign, ...others] = sim.campaigns();
    assert.ok(campaign);
    assert.equal(others.length, 0);
    assert.equal(published.externalId, campaign.id);
    assert.equal(
      published.externalUrl,
      `https://us19.admin.mailchimp.com/campaigns/show/?id=${campaign.webId}`,
    );
    assert.equal(campaign.status, 'schedule');
    assert.equal(campaign.scheduleTime, noon.toISOString());
    assert.equal(campaign.title, 'Spring launch · ho-task-1-a1');
    assert.equal(campaign.listId, 'list000002');
    assert.equal(campaign.subjectLine, content.subject);
    assert.equal(campaign.previewText, content.previewText);
    assert.equal(campaign.fromName, content.fromName);
    assert.equal(campaign.replyTo, content.replyTo);
    assert.equal(campaign.html, content.html);
    assert.equal(campaign.plainText, content.text);
    assert.deepEqual(Object.keys(stored).sort(), [
      'campaignId',
      'contentSet',
      'createdAfter',
      'scheduled',
      'webId',
    ]);
    assert.equal(live.length, 1, 'beforeGoingLive is asked once, before the schedule');

    const [create] = requests(/^\/3\.0\/campaigns$/, 'POST');
    assert.deepEqual(create?.body, {
      type: 'regular',
      recipients: { list_id: 'list000002' },
      settings: {
        subject_line: content.subject,
        preview_text: content.previewText,
        title: 'Spring launch · ho-task-1-a1',
        from_name: content.fromName,
        reply_to: content.replyTo,
      },
    });
    const [schedule] = requests(/\/actions\/schedule$/, 'POST');
    assert.deepEqual(schedule?.body, { schedule_time: '2031-05-01T12:00:00+00:00' });
    assert.equal(requests(/\/actions\/send$/, 'POST').length, 0);
    for (const request of sim.receivedMatching(/^\/3\.0\/campaigns/))
      assert.equal(request.headers.authorization, `Bearer ${credentials.accessToken}`);
  });

  it('uses the from address as reply_to when the task has no reply-to', async () => {
    const { replyTo: _, ...withoutReplyTo } = content;
    await adapter.handOff(handOffContext({ content: withoutReplyTo }).context);
    assert.equal(sim.campaigns()[0]?.replyTo, content.fromEmail);
  });

  it('refuses content for several audiences or with excluded ones before creating anything', async () => {
    for (const audiences of [
      { included: ['list000001', 'list000002'] },
      { included: ['list000001'], excluded: ['list000003'] },
    ]) {
      const error = await expectFailure(
        adapter.handOff(handOffContext({ content: { ...content, audiences } }).context),
        'INVALID_REQUEST',
      );
      assert.match(error.message, /exactly one audience|cannot leave an audience out/);
    }
    assert.equal(sim.receivedMatching(/^\/3\.0\/campaigns/).length, 0);
  });

  it('refuses a time off the quarter-hours before creating anything, naming the two nearest', async () => {
    const error = await expectFailure(
      adapter.handOff(handOffContext({ scheduledAt: new Date('2031-05-01T12:07:00.000Z') }).context),
      'INVALID_REQUEST',
    );
    assert.match(error.message, /2031-05-01T12:00Z or 2031-05-01T12:15Z/);
    assert.equal(sim.receivedMatching(/^\/3\.0\/campaigns/).length, 0);
  });

  it('a lost answer to the create, then the retry: found by its key, exactly one campaign, scheduled once', async () => {
    sim.dropAnswerNext({ path: /^\/3\.0\/campaigns$/, method: 'POST' });
    const first = handOffContext();
    await expectFailure(adapter.handOff(first.context), 'TRANSIENT', [credentials.accessToken]);
    assert.equal(sim.campaigns().length, 1, 'Mailchimp created it');
    assert.deepEqual(Object.keys(first.stored), ['createdAfter']);

    const retry = handOffContext({ progress: { ...first.stored } });
    const published = await adapter.handOff(retry.context);
    assert.equal(sim.campaigns().length, 1);
    assert.equal(creates(), 1, 'created once');
    assert.equal(published.externalId, sim.campaigns()[0]?.id);
    assert.equal(sim.campaigns()[0]?.status, 'schedule');
    assert.equal(schedules(), 1);
    const [lookup] = requests(/^\/3\.0\/campaigns$/, 'GET').slice(-1);
    assert.equal(lookup?.query.type, 'regular');
    assert.ok(lookup?.query.since_create_time, 'the look-up is bounded by when the hand-off began');
  });

  it('resumes after a crash once the campaign was saved: no second campaign, no look-up', async () => {
    const crashed = handOffContext({}, 'contentSet');
    await assert.rejects(adapter.handOff(crashed.context), /worker killed/);
    assert.equal(sim.campaigns()[0]?.status, 'save');
    const lookups = requests(/^\/3\.0\/campaigns$/, 'GET').length;

    const resumed = handOffContext({ progress: { ...crashed.stored } });
    const published = await adapter.handOff(resumed.context);
    assert.equal(published.externalId, crashed.stored.campaignId);
    assert.equal(creates(), 1);
    assert.equal(requests(/^\/3\.0\/campaigns$/, 'GET').length, lookups, 'no look-up on resume');
    assert.equal(sim.campaigns()[0]?.status, 'schedule');
  });

  it('a lost answer to the schedule, then the retry: scheduled once, at the same time', async () => {
    sim.dropAnswerNext({ path: /\/actions\/schedule$/, method: 'POST' });
    const first = handOffContext();
    await expectFailure(adapter.handOff(first.context), 'TRANSIENT');
    assert.equal(sim.campaigns()[0]?.status, 'schedule', 'Mailchimp scheduled it');

    const retry = handOffContext({ progress: { ...first.stored } });
    await adapter.handOff(retry.context);
    assert.equal(retry.stored.scheduled, 'yes');
    assert.equal(schedules(), 1, 'not scheduled twice');
    assert.equal(sim.campaigns().length, 1);
    assert.equal(sim.campaigns()[0]?.scheduleTime, noon.toISOString());
  });

  it('starts over when the campaign it had was deleted since (a cancel whose answer was lost)', async () => {
    const first = handOffContext();
    const { externalId } = await adapter.handOff(first.context);
    await cancelWith(externalId, first.stored);
    assert.equal(sim.campaigns().length, 0);

    const again = handOffContext({ progress: { ...first.stored } });
    const published = await adapter.handOff(again.context);
    assert.notEqual(published.externalId, externalId);
    assert.equal(sim.campaigns().length, 1);
    assert.equal(sim.campaigns()[0]?.status, 'schedule');
  });

  it('nothing goes live when beforeGoingLive refuses: the campaign stays a draft', async () => {
    const { context } = handOffContext({
      async beforeGoingLive() {
        throw new Error('withdrawn');
      },
    });
    await assert.rejects(adapter.handOff(context), /withdrawn/);
    assert.equal(schedules(), 0);
    assert.equal(sim.campaigns()[0]?.status, 'save');
  });

  it('past its time (retries ran late): sent at once with actions/send, never scheduled', async () => {
    clock = () => new Date(noon.getTime() + 5 * 60 * 1000);
    const { context, stored, live } = handOffContext();
    await adapter.handOff(context);
    assert.equal(schedules(), 0);
    assert.equal(requests(/\/actions\/send$/, 'POST').length, 1);
    assert.equal(live.length, 1);
    assert.equal(stored.sentNow, 'yes');
    assert.equal(sim.campaigns()[0]?.status, 'sent');
  });

  it('a time only seconds ahead is waited for, then sent: never before it', async () => {
    const skew = noon.getTime() - 1_500 - Date.now();
    clock = () => new Date(Date.now() + skew);
    const { context } = handOffContext();
    await adapter.handOff(context);
    const [send] = requests(/\/actions\/send$/, 'POST');
    assert.ok(send);
    assert.ok(send.receivedAt.getTime() + skew >= noon.getTime(), 'sent before its time');
    assert.equal(schedules(), 0);
  });

  it('cancel unschedules then deletes the campaign; a second cancel is fine', async () => {
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    await cancelWith(externalId, stored);
    assert.equal(requests(/\/actions\/unschedule$/, 'POST').length, 1);
    assert.equal(sim.receivedMatching(/^\/3\.0\/campaigns\/[^/]+$/, 'DELETE').length, 1);
    assert.deepEqual(sim.campaigns(), []);
    await cancelWith(externalId, stored);
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'failed',
      platformStatus: 'not found',
      message: 'The campaign no longer exists in Mailchimp',
    });
  });

  it('cancel finds and deletes the campaign a lost answer created, by its key', async () => {
    sim.dropAnswerNext({ path: /^\/3\.0\/campaigns$/, method: 'POST' });
    const lost = handOffContext();
    await expectFailure(adapter.handOff(lost.context), 'TRANSIENT');
    // Another hand-off's campaign (another key) is left alone.
    await adapter.handOff(handOffContext({ handOffKey: 'ho-task-2-b2' }).context);
    assert.equal(sim.campaigns().length, 2);
    await cancelWith(null, lost.stored, 'ho-task-1-a1');
    assert.deepEqual(
      sim.campaigns().map((campaign) => campaign.title),
      ['Spring launch · ho-task-2-b2'],
    );
  });

  it('cancel is refused with HandOffLockedError once Mailchimp is sending it; it stays sending', async () => {
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    sim.beginSending(externalId);
    await assert.rejects(
      cancelWith(externalId, stored, 'ho-task-1-a1'),
      (error: unknown) =>
        error instanceof HandOffLockedError &&
        error.externalId === externalId &&
        /sending/.test(error.message),
    );
    assert.equal(sim.campaigns()[0]?.status, 'sending');
    assert.equal(sim.receivedMatching(/^\/3\.0\/campaigns\/[^/]+$/, 'DELETE').length, 0);
  });

  it('cancel is refused when Mailchimp refuses the unschedule of a campaign it still has scheduled', async () => {
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    sim.failNext({
      path: /\/actions\/unschedule$/,
      method: 'POST',
      response: {
        status: 400,
        headers: { 'content-type': 'application/problem+json' },
        body: {
          type: 'x',
          title: 'Bad Request',
          status: 400,
          detail: 'This campaign cannot be unscheduled.',
        },
      },
    });
    await assert.rejects(cancelWith(externalId, stored), HandOffLockedError);
    assert.equal(sim.campaigns()[0]?.status, 'schedule');
  });

  it('reports pending while scheduled and sending, then sent at its send time', async () => {
    await sim.close();
    sim = await startMailchimpSimulator({
      clientId,
      clientSecret,
      lists,
      now: () => clock(),
      sendingSeconds: 60,
    });
    adapter = createMailchimpAdapter({ authBaseUrl: sim.url, clientId, clientSecret, now: () => clock() });
    credentials = (await connect()).connection.credentials;
    const { externalId } = await adapter.handOff(handOffContext().context);
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'pending',
      platformStatus: 'schedule',
    });
    clock = () => new Date(noon.getTime() + 30_000);
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'pending',
      platformStatus: 'sending',
    });
    clock = () => new Date(noon.getTime() + 90_000);
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'sent',
      sentAt: noon,
    });
  });

  it('reports cancelled when someone unscheduled it in Mailchimp', async () => {
    const { externalId } = await adapter.handOff(handOffContext().context);
    await fetch(`${sim.url}/3.0/campaigns/${externalId}/actions/unschedule`, {
      method: 'POST',
      headers: { authorization: `Bearer ${credentials.accessToken}` },
    });
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'cancelled',
      platformStatus: 'save',
    });
  });

  describe('Mailchimp failures become publication error classes, one HTTP try each', () => {
    it('401 → TOKEN_EXPIRED', async () => {
      sim.revokeTokens();
      const error = await expectFailure(adapter.handOff(handOffContext().context), 'TOKEN_EXPIRED', [
        credentials.accessToken,
      ]);
      assert.equal(error.failure.platformCode, 'API Key Invalid');
    });

    it('429 → RATE_LIMITED with a delay', async () => {
      sim.failWith('rate_limited', { path: /^\/3\.0\/campaigns$/, method: 'POST' });
      const error = await expectFailure(adapter.handOff(handOffContext().context), 'RATE_LIMITED');
      assert.ok((error.failure.retryAfterMs ?? 0) > 0);
      assert.equal(creates(), 1);
    });

    it('a 403 without a JSON body (throttling) → RATE_LIMITED, never PERMISSION_REVOKED', async () => {
      sim.failWith('throttled_403', { path: /\/actions\/schedule$/, method: 'POST' });
      await expectFailure(adapter.handOff(handOffContext().context), 'RATE_LIMITED');
      assert.equal(schedules(), 1);
    });

    it('a 403 with its problem document → PERMISSION_REVOKED', async () => {
      sim.failWith('forbidden', { path: /^\/3\.0\/campaigns$/, method: 'POST' });
      await expectFailure(adapter.handOff(handOffContext().context), 'PERMISSION_REVOKED');
    });

    it('5xx → TRANSIENT after exactly one request, nothing created', async () => {
      sim.failWith('transient', { path: /^\/3\.0\/campaigns$/, method: 'POST', times: 3 });
      await expectFailure(adapter.handOff(handOffContext().context), 'TRANSIENT');
      assert.equal(creates(), 1);
      assert.equal(sim.campaigns().length, 0);
    });

    it('a subject line Mailchimp refuses (Invalid Resource on settings.subject_line) → CONTENT_REJECTED', async () => {
      const error = await expectFailure(
        adapter.handOff(handOffContext({ content: { ...content, subject: 'S'.repeat(200) } }).context),
        'CONTENT_REJECTED',
      );
      assert.match(error.message, /settings\.subject_line/);
      assert.equal(error.failure.platformCode, 'Invalid Resource');
    });

    it('an audience Mailchimp does not have (Invalid Resource on recipients.list_id) → INVALID_REQUEST', async () => {
      const error = await expectFailure(
        adapter.handOff(
          handOffContext({ content: { ...content, audiences: { included: ['gone000000'] } } }).context,
        ),
        'INVALID_REQUEST',
      );
      assert.match(error.message, /recipients\.list_id/);
    });

    it('a schedule Mailchimp refuses (400 Bad Request) → INVALID_REQUEST with its words', async () => {
      sim.failNext({
        path: /\/actions\/schedule$/,
        method: 'POST',
        response: {
          status: 400,
          headers: { 'content-type': 'application/problem+json' },
          body: {
            type: 'x',
            title: 'Bad Request',
            status: 400,
            detail: 'This campaign cannot be scheduled: .',
          },
        },
      });
      const error = await expectFailure(adapter.handOff(handOffContext().context), 'INVALID_REQUEST');
      assert.match(error.message, /cannot be scheduled/);
    });
  });

  describe('the simulator refuses what Mailchimp refuses', () => {
    const call = (path: string, method: string, body?: unknown) =>
      fetch(`${sim.url}/3.0${path}`, {
        method,
        headers: { authorization: `Bearer ${credentials.accessToken}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    async function draft() {
      const created = await call('/campaigns', 'POST', {
        type: 'regular',
        recipients: { list_id: 'list000001' },
        settings: { subject_line: 's', from_name: 'n', reply_to: 'a@b.example', title: 't' },
      });
      assert.equal(created.status, 200);
      const { id } = (await created.json()) as { id: string };
      return id;
    }

    it('a schedule_time off the quarter-hour or in the past → 400 problem+json; a draft without content is not ready', async () => {
      const id = await draft();
      const notReady = await call(`/campaigns/${id}/actions/schedule`, 'POST', {
        schedule_time: '2031-05-01T12:00:00+00:00',
      });
      assert.equal(notReady.status, 400);
      assert.equal(
        ((await notReady.json()) as { detail: string }).detail,
        'Your Campaign is not ready to send.',
      );
      assert.equal((await call(`/campaigns/${id}/content`, 'PUT', { html: '<p>x</p>' })).status, 200);
      for (const time of ['2031-05-01T12:07:00+00:00', '2031-05-01T12:00:30Z', '2031-05-01T09:45:00Z']) {
        const refused = await call(`/campaigns/${id}/actions/schedule`, 'POST', { schedule_time: time });
        assert.equal(refused.status, 400, time);
        assert.match(refused.headers.get('content-type') ?? '', /application\/problem\+json/);
        const body = (await refused.json()) as { title: string; detail: string };
        assert.equal(body.title, 'Bad Request');
        assert.match(body.detail, /^This campaign cannot be scheduled/);
      }
      const ok = await call(`/campaigns/${id}/actions/schedule`, 'POST', {
        schedule_time: '2031-05-01T12:15:00Z',
      });
      assert.equal(ok.status, 204);
      assert.equal(
        (await call(`/campaigns/${id}`, 'DELETE')).status,
        400,
        'a scheduled campaign is not deleted',
      );
      assert.equal((await call(`/campaigns/${id}/actions/unschedule`, 'POST')).status, 204);
      assert.equal((await call(`/campaigns/${id}/actions/unschedule`, 'POST')).status, 400);
      assert.equal((await call(`/campaigns/${id}`, 'DELETE')).status, 204);
      assert.equal((await call(`/campaigns/${id}`, 'GET')).status, 404);
    });

    it('a campaign list answers only the fields asked for, filtered by type and creation time', async () => {
      await draft();
      const listed = await call(
        `/campaigns?type=regular&since_create_time=2031-05-01T09:00:00%2B00:00&fields=campaigns.id,campaigns.settings.title,total_items`,
        'GET',
      );
      assert.equal(listed.status, 200);
      const body = (await listed.json()) as { campaigns: Record<string, unknown>[]; total_items: number };
      assert.equal(body.total_items, 1);
      assert.deepEqual(Object.keys(body.campaigns[0] ?? {}).sort(), ['id', 'settings']);
      assert.deepEqual(body.campaigns[0]?.settings, { title: 't' });
      const later = await call('/campaigns?since_create_time=2031-05-01T11:00:00Z', 'GET');
      assert.equal(((await later.json()) as { total_items: number }).total_items, 0);
      assert.equal((await call('/campaigns?status=scheduled', 'GET')).status, 400);
    });
  });
});

describe('mapMailchimpError', () => {
  const body = (status: number, title: string) => ({ type: 'x', title, status, detail: 'd', instance: 'i' });
  it('maps each status onto its class', () => {
    const none = new Headers();
    assert.equal(mapMailchimpError(401, body(401, 'API Key Invalid'), none).class, 'TOKEN_EXPIRED');
    assert.equal(mapMailchimpError(403, body(403, 'Forbidden'), none).class, 'PERMISSION_REVOKED');
    assert.equal(mapMailchimpError(403, null, none).class, 'RATE_LIMITED');
    // A proxy's HTML page is not Mailchimp's problem document either: throttling, not lost access.
    assert.equal(mapMailchimpError(403, '<html>Forbidden</html>', none).class, 'RATE_LIMITED');
    assert.equal(
      mapMailchimpError(429, body(429, 'Too Many Requests'), new Headers({ 'retry-after': '3' }))
        .retryAfterMs,
      3000,
    );
    assert.equal(mapMailchimpError(500, null, none).class, 'TRANSIENT');
    assert.equal(mapMailchimpError(400, body(400, 'Invalid Resource'), none).class, 'INVALID_REQUEST');
    const onHtml = {
      ...body(400, 'Invalid Resource'),
      errors: [{ field: 'html', message: 'Bad merge tag' }],
    };
    assert.deepEqual(mapMailchimpError(400, onHtml, none), {
      class: 'CONTENT_REJECTED',
      message: 'Invalid Resource: d; html: Bad merge tag',
      platformCode: 'Invalid Resource',
    });
  });
});
