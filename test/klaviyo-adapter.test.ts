// The Klaviyo adapter against the Klaviyo simulator over real HTTP: connect-time key checks, hand-offs that
// never create a campaign twice, cancel and Klaviyo's 15-minute lock, send confirmation, and error classes.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createKlaviyoAdapter,
  type KlaviyoAdapter,
  type KlaviyoCredentials,
  klaviyoRevision,
  mapKlaviyoError,
} from '../connectors/klaviyo.ts';
import type { HandOffContext } from '../connectors/types.ts';
import type { TaskContent } from '../domain/content.ts';
import { HandOffLockedError, PlatformError } from '../domain/publication-errors.ts';
import { type KlaviyoSimulator, klaviyoScopes, startKlaviyoSimulator } from '../sandbox/klaviyo.ts';
import { recordingHandOffContext } from './support/adapter-harness.ts';

const goodKey = 'pk_live_glowtify_0123456789abcdef';
const noCampaignsKey = 'pk_no_campaigns_0123456789';
const noSegmentsKey = 'pk_no_segments_0123456789';
const start = new Date('2031-05-01T10:00:00.000Z');
const lists = Array.from({ length: 12 }, (_, index) => ({
  id: `L${String(index + 1).padStart(5, '0')}`,
  name: `List ${index + 1}`,
}));
const segments = [
  { id: 'S00001', name: 'Engaged (90 days)' },
  { id: 'S00002', name: 'Repeat buyers' },
  { id: 'S00003', name: 'Lapsed' },
];
const content: TaskContent<'klaviyo_email'> = {
  subject: 'Spring is here',
  previewText: 'Our new collection',
  fromName: 'Glowtify Beauty',
  fromEmail: 'hello@brand.example',
  html: '<html><body><a href="https://brand.example/spring">Shop the collection</a></body></html>',
  text: 'Shop the collection: https://brand.example/spring',
  audiences: { included: ['L00001', 'S00002'], excluded: ['L00003'] },
};
const inTwoHours = new Date(start.getTime() + 2 * 60 * 60 * 1000);

let clock = start;
let simulator: KlaviyoSimulator;
let adapter: KlaviyoAdapter;

beforeEach(async () => {
  clock = start;
  simulator = await startKlaviyoSimulator({
    now: () => clock,
    lists,
    segments,
    organizationName: 'Glowtify Beauty Co.',
    apiKeys: {
      [goodKey]: {
        scopes: ['accounts:read', 'campaigns:write', 'lists:read', 'segments:read', 'templates:write'],
      },
      [noCampaignsKey]: { scopes: klaviyoScopes.filter((scope) => !scope.startsWith('campaigns:')) },
      [noSegmentsKey]: { scopes: klaviyoScopes.filter((scope) => !scope.startsWith('segments:')) },
    },
  });
  adapter = createKlaviyoAdapter({ apiBaseUrl: simulator.url, now: () => clock });
});

afterEach(async () => {
  await simulator.close();
});

/** A Klaviyo hand-off context (see recordingHandOffContext). */
function handOffContext(overrides: Partial<HandOffContext<KlaviyoCredentials>> = {}, crashOn?: string) {
  return recordingHandOffContext<KlaviyoCredentials>(
    {
      taskId: 'task-1',
      channel: 'klaviyo_email',
      content,
      contentDigest: 'klaviyo-content-1',
      account: null,
      credentials: { apiKey: goodKey },
      progress: {},
      scheduledAt: inTwoHours,
      epicTitle: 'Spring launch',
      handOffKey: 'ho-task-1-a1',
    },
    overrides,
    { crashOn },
  );
}

async function failureOf(promise: Promise<unknown>) {
  const error = await promise.then(
    () => assert.fail('expected the call to fail'),
    (reason: unknown) => reason,
  );
  assert.ok(error instanceof PlatformError, `expected a PlatformError, got ${String(error)}`);
  assert.ok(!JSON.stringify(error.failure).includes(goodKey), 'the API key leaked into the failure');
  assert.ok(!error.message.includes(goodKey), 'the API key leaked into the message');
  return error.failure;
}

const exactly = (path: string) => new RegExp(`^${path.replaceAll('/', '\\/')}$`);

describe('connecting a Klaviyo API key', () => {
  it('accepts a good key and discovers every list and segment, across pages', async () => {
    const result = await adapter.verifyApiKey(goodKey);
    assert.equal(result.accountName, 'Glowtify Beauty Co.');
    assert.deepEqual(result.accounts, [
      ...lists.map((list) => ({ kind: 'list', externalId: list.id, name: list.name })),
      ...segments.map((segment) => ({ kind: 'segment', externalId: segment.id, name: segment.name })),
    ]);
    assert.equal(
      simulator.receivedMatching(exactly('/api/lists'), 'GET').length,
      2,
      'lists come 10 per page',
    );
    assert.equal(simulator.receivedMatching(exactly('/api/accounts'), 'GET').length, 1);
  });

  it('refuses a wrong key with "Invalid API key"', async () => {
    await assert.rejects(adapter.verifyApiKey('pk_wrong_key_000'), {
      name: 'CredentialsRejectedError',
      message: 'Invalid API key',
    });
  });

  it('refuses a key lacking a needed scope at connect time: "Scopes insufficient"', async () => {
    await assert.rejects(adapter.verifyApiKey(noCampaignsKey), {
      name: 'CredentialsRejectedError',
      message: 'Scopes insufficient',
    });
    await assert.rejects(adapter.verifyApiKey(noSegmentsKey), {
      name: 'CredentialsRejectedError',
      message: 'Scopes insufficient',
    });
  });

  it('lists the audiences fresh from Klaviyo for the epic editor', async () => {
    const audiences = await adapter.listAudiences({ apiKey: goodKey });
    assert.equal(audiences.length, lists.length + segments.length);
    assert.deepEqual(audiences.at(0), { id: 'L00001', name: 'List 1', kind: 'list' });
    assert.deepEqual(audiences.at(-1), { id: 'S00003', name: 'Lapsed', kind: 'segment' });
  });
});

describe('handing a klaviyo_email task to Klaviyo', () => {
  it('creates one campaign for exactly scheduledAt, its HTML assigned and a send job queued', async () => {
    const { context, stored } = handOffContext();
    const published = await adapter.handOff(context);

    const campaigns = simulator.campaigns();
    assert.equal(campaigns.length, 1);
    const [campaign] = campaigns;
    assert.ok(campaign);
    assert.equal(published.externalId, campaign.id);
    assert.equal(published.externalUrl, `https://www.klaviyo.com/campaign/${campaign.id}/reports`);
    assert.equal(campaign.name, 'Spring launch · ho-task-1-a1');
    assert.equal(campaign.sendAt, inTwoHours.toISOString());
    assert.equal(campaign.status, 'Scheduled');
    assert.equal(campaign.sendJob, 'queued');
    assert.equal(campaign.templateHtml, content.html);
    assert.deepEqual(campaign.audiences, content.audiences);
    assert.equal(
      campaign.smartSending,
      false,
      'Smart Sending must be sent explicitly (Klaviyo defaults it on)',
    );
    assert.deepEqual(Object.keys(stored).sort(), [
      'campaignId',
      'messageId',
      'sendJobCreated',
      'templateAssigned',
      'templateId',
    ]);

    const [create] = simulator.receivedMatching(exactly('/api/campaigns'), 'POST');
    assert.ok(create);
    const attributes = (create.body as { data: { attributes: Record<string, unknown> } }).data.attributes;
    assert.deepEqual(attributes.send_strategy, {
      method: 'static',
      datetime: '2031-05-01T12:00:00+00:00',
      options: { is_local: false },
    });
    assert.deepEqual(attributes.send_options, { use_smart_sending: false });
    for (const request of simulator.received) {
      assert.equal(request.headers.revision, klaviyoRevision);
      assert.equal(request.headers.accept, 'application/vnd.api+json');
      assert.equal(request.headers.authorization, `Klaviyo-API-Key ${goodKey}`);
    }
  });

  it('sends Smart Sending on when the task asks for it', async () => {
    await adapter.handOff(handOffContext({ content: { ...content, smartSending: true } }).context);
    assert.equal(simulator.campaigns()[0]?.smartSending, true);
  });

  it('finds the campaign by its hand-off key when progress was lost, and creates nothing new', async () => {
    const first = await adapter.handOff(handOffContext().context);
    const again = await adapter.handOff(handOffContext().context);
    assert.equal(again.externalId, first.externalId);
    assert.equal(simulator.campaigns().length, 1);
    assert.equal(simulator.receivedMatching(exactly('/api/campaigns'), 'POST').length, 1);
    assert.equal(simulator.receivedMatching(exactly('/api/templates'), 'POST').length, 1);
    assert.equal(simulator.receivedMatching(exactly('/api/campaign-send-jobs'), 'POST').length, 1);
    const lookups = simulator.receivedMatching(exactly('/api/campaigns'), 'GET');
    assert.ok(lookups.every((lookup) => lookup.query.filter?.includes("equals(messages.channel,'email')")));
  });

  it('resumes after a crash between saving the campaign and the template: no second campaign', async () => {
    const crashed = handOffContext({}, 'messageId');
    await assert.rejects(adapter.handOff(crashed.context), /worker killed/);
    assert.deepEqual(Object.keys(crashed.stored), ['campaignId']);
    assert.equal(simulator.campaigns()[0]?.sendJob, 'none');

    const resumed = handOffContext({ progress: { ...crashed.stored } });
    const published = await adapter.handOff(resumed.context);
    assert.equal(published.externalId, crashed.stored.campaignId);
    assert.equal(simulator.campaigns().length, 1);
    assert.equal(simulator.receivedMatching(exactly('/api/campaigns'), 'POST').length, 1);
    assert.equal(
      simulator.receivedMatching(exactly('/api/campaigns'), 'GET').length,
      1,
      'no lookup on resume',
    );
    assert.equal(simulator.campaigns()[0]?.templateHtml, content.html);
    assert.equal(simulator.campaigns()[0]?.sendJob, 'queued');
  });

  it('resumes after a crash right after Klaviyo queued the send job, without scheduling twice', async () => {
    const crashed = handOffContext({}, 'sendJobCreated');
    await assert.rejects(adapter.handOff(crashed.context), /worker killed/);
    const resumed = handOffContext({ progress: { ...crashed.stored } });
    await adapter.handOff(resumed.context);
    assert.equal(resumed.stored.sendJobCreated, 'yes');
    assert.equal(simulator.campaigns().length, 1);
    assert.equal(simulator.campaigns()[0]?.sendJob, 'queued');
  });
});

describe('cancelling and confirming a hand-off', () => {
  it('cancels the send job: the campaign is Cancelled on Klaviyo, and cancelling again is fine', async () => {
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    const cancel = () =>
      adapter.cancelHandOff({
        externalId,
        handOffKey: null,
        credentials: { apiKey: goodKey },
        progress: stored,
      });
    await cancel();
    assert.equal(simulator.campaigns()[0]?.status, 'Cancelled');
    assert.equal(simulator.campaigns()[0]?.sendJob, 'cancelled');
    await cancel();
    assert.equal(simulator.campaigns()[0]?.status, 'Cancelled');
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials: { apiKey: goodKey } }), {
      state: 'cancelled',
      platformStatus: 'Cancelled',
    });
  });

  it('refuses inside the 15-minute lock with HandOffLockedError; the campaign stays scheduled', async () => {
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    clock = new Date(inTwoHours.getTime() - 10 * 60 * 1000);
    await assert.rejects(
      adapter.cancelHandOff({
        externalId,
        handOffKey: null,
        credentials: { apiKey: goodKey },
        progress: stored,
      }),
      (error: unknown) => error instanceof HandOffLockedError && /15 minutes/.test(error.message),
    );
    assert.equal(simulator.campaigns()[0]?.status, 'Scheduled');
    assert.equal(simulator.campaigns()[0]?.sendJob, 'queued');
  });

  it('deletes a campaign that never got its send job, so no draft lingers in Klaviyo', async () => {
    const crashed = handOffContext({}, 'templateId');
    await assert.rejects(adapter.handOff(crashed.context), /worker killed/);
    const externalId = crashed.stored.campaignId as string;
    await adapter.cancelHandOff({
      externalId,
      handOffKey: null,
      credentials: { apiKey: goodKey },
      progress: crashed.stored,
    });
    assert.equal(simulator.campaigns().length, 0);
  });

  it('reports pending until the send time passes, then sent at that time', async () => {
    const { externalId } = await adapter.handOff(handOffContext().context);
    const credentials = { apiKey: goodKey };
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'pending',
      platformStatus: 'Scheduled',
    });
    clock = new Date(inTwoHours.getTime() + 60 * 1000);
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'sent',
      sentAt: inTwoHours,
    });
    assert.equal(simulator.campaigns()[0]?.sendJob, 'complete');
  });
});

describe('Klaviyo failures become publication error classes, one HTTP try each', () => {
  it('429 with Retry-After → RATE_LIMITED with that delay', async () => {
    simulator.failWith('rate_limited', {
      path: exactly('/api/campaigns'),
      method: 'GET',
      retryAfterSeconds: 7,
    });
    const failure = await failureOf(adapter.handOff(handOffContext().context));
    assert.equal(failure.class, 'RATE_LIMITED');
    assert.equal(failure.retryAfterMs, 7000);
    assert.equal(failure.platformCode, 'throttled');
    assert.equal(simulator.receivedMatching(exactly('/api/campaigns'), 'GET').length, 1);
  });

  it('5xx → TRANSIENT, and nothing is created by the adapter retrying on its own', async () => {
    simulator.failWith('transient', { path: exactly('/api/campaigns'), method: 'POST', times: 5 });
    const failure = await failureOf(adapter.handOff(handOffContext().context));
    assert.equal(failure.class, 'TRANSIENT');
    assert.equal(simulator.receivedMatching(exactly('/api/campaigns'), 'POST').length, 1);
  });

  it('no answer at all → TRANSIENT', async () => {
    const gone = await startKlaviyoSimulator();
    await gone.close();
    const unreachable = createKlaviyoAdapter({ apiBaseUrl: gone.url });
    const failure = await failureOf(unreachable.handOff(handOffContext().context));
    assert.equal(failure.class, 'TRANSIENT');
  });

  it('401 → TOKEN_EXPIRED "Invalid API key"', async () => {
    simulator.failWith('invalid_key', { path: /\/campaign-messages$/, method: 'GET' });
    const failure = await failureOf(adapter.handOff(handOffContext().context));
    assert.deepEqual(failure, {
      class: 'TOKEN_EXPIRED',
      message: 'Invalid API key',
      platformCode: 'not_authenticated',
    });
    assert.equal(simulator.receivedMatching(/\/campaign-messages$/, 'GET').length, 1);
  });

  it('a from address that is not a verified sender → INVALID_REQUEST "Sender not authorized"', async () => {
    simulator.failWith('sender_not_authorized', { path: exactly('/api/campaign-send-jobs'), method: 'POST' });
    const failure = await failureOf(adapter.handOff(handOffContext().context));
    assert.equal(failure.class, 'INVALID_REQUEST');
    assert.match(failure.message, /^Sender not authorized/);
    assert.equal(simulator.receivedMatching(exactly('/api/campaign-send-jobs'), 'POST').length, 1);
    assert.equal(simulator.campaigns()[0]?.sendJob, 'none');
  });

  it('a template Klaviyo cannot render → CONTENT_REJECTED', async () => {
    simulator.failWith('content_rejected', { path: exactly('/api/templates'), method: 'POST' });
    const failure = await failureOf(adapter.handOff(handOffContext().context));
    assert.equal(failure.class, 'CONTENT_REJECTED');
    assert.match(failure.message, /Template syntax error/);
  });

  it('never repeats the API key, even when Klaviyo echoes it', async () => {
    simulator.failNext({
      path: exactly('/api/campaigns'),
      method: 'GET',
      response: {
        status: 400,
        body: {
          errors: [{ id: '1', code: 'invalid', title: 'Invalid input.', detail: `Bad key ${goodKey} used` }],
        },
      },
    });
    const failure = await failureOf(adapter.handOff(handOffContext().context));
    assert.equal(failure.class, 'INVALID_REQUEST');
    assert.match(failure.message, /Bad key pk_\[redacted\] used/);
  });

  it('maps statuses on their own, Retry-After included', () => {
    const headers = new Headers({ 'Retry-After': '30' });
    assert.deepEqual(mapKlaviyoError(429, null, headers), {
      class: 'RATE_LIMITED',
      message: 'Klaviyo rate limit reached',
      retryAfterMs: 30_000,
    });
    assert.equal(mapKlaviyoError(502, '<html>Bad gateway</html>', new Headers()).class, 'TRANSIENT');
    assert.equal(mapKlaviyoError(403, null, new Headers()).message, 'Scopes insufficient');
    assert.deepEqual(
      mapKlaviyoError(
        404,
        {
          errors: [
            {
              id: 'x',
              code: 'not_found',
              title: 'Not found.',
              detail: 'A campaign with id 1 does not exist.',
            },
          ],
        },
        new Headers(),
      ),
      {
        class: 'INVALID_REQUEST',
        message: 'A campaign with id 1 does not exist.',
        platformCode: 'not_found',
      },
    );
  });
});

describe('the Klaviyo simulator refuses what Klaviyo refuses', () => {
  const call = (
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
  ) =>
    fetch(`${simulator.url}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        revision: klaviyoRevision,
        Authorization: `Klaviyo-API-Key ${goodKey}`,
        'Content-Type': 'application/vnd.api+json',
        ...init.headers,
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  const campaignBody = (attributes: Record<string, unknown>) => ({
    data: {
      type: 'campaign',
      attributes: {
        name: 'x',
        audiences: { included: ['L00001'] },
        send_strategy: {
          method: 'static',
          datetime: '2031-05-01T12:00:00+00:00',
          options: { is_local: false },
        },
        'campaign-messages': {
          data: [
            {
              type: 'campaign-message',
              attributes: {
                definition: { channel: 'email', content: { subject: 's', from_email: 'a@b.example' } },
              },
            },
          ],
        },
        ...attributes,
      },
    },
  });

  it('needs the revision header, the channel filter, and at most 10 lists a page', async () => {
    assert.equal((await call('/api/lists', { headers: { revision: '' } })).status, 400);
    const unfiltered = await call('/api/campaigns');
    assert.equal(unfiltered.status, 400);
    const body = (await unfiltered.json()) as { errors: { code: string; source: unknown }[] };
    assert.equal(body.errors[0]?.code, 'invalid');
    assert.deepEqual(body.errors[0]?.source, { parameter: 'filter' });
    assert.equal((await call("/api/campaigns?filter=equals(messages.channel,'email')")).status, 200);
    assert.equal((await call('/api/lists?page[size]=11')).status, 400);
  });

  it('refuses the pre-2025 body shape, a send time in the past, and a non-JSON:API body', async () => {
    const old = campaignBody({
      send_strategy: { method: 'static', options_static: { datetime: '2031-05-01T12:00:00+00:00' } },
    });
    assert.equal((await call('/api/campaigns', { method: 'POST', body: old })).status, 400);
    const past = campaignBody({ send_strategy: { method: 'static', datetime: '2031-05-01T09:00:00+00:00' } });
    assert.equal((await call('/api/campaigns', { method: 'POST', body: past })).status, 400);
    const plainJson = {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: campaignBody({}),
    };
    assert.equal((await call('/api/campaigns', plainJson)).status, 415);
    assert.equal((await call('/api/campaigns', { method: 'POST', body: campaignBody({}) })).status, 201);
  });
});
