// Reading CyberImpact mailings back against the CyberImpact simulator: `GET /mailings/{id}` (ISO 8601 dates)
// for delivered, views and clicks, and the recipients of each kind (`?limit=1` → totalCount) for unique opens,
// bounces and unsubscribes; growing counts, a deleted mailing recorded as deleted, a throttle paced.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  type CyberImpactAdapter,
  type CyberImpactCredentials,
  createCyberImpactAdapter,
} from '../connectors/cyberimpact.ts';
import type { MetricsAnswer, MetricsItem } from '../connectors/types.ts';
import type { TaskContent } from '../domain/content.ts';
import { type CyberImpactSimulator, startCyberImpactSimulator } from '../sandbox/cyberimpact.ts';
import { expectFailure, recordingHandOffContext } from './support/adapter-harness.ts';

const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtZXRyaWNzIn0.bWV0cmljcy1zaWduYXR1cmU';
const sender = 'hello@brand.example';
const hour = 3_600_000;
const start = new Date('2031-05-01T10:00:00.000Z');
const sendAt = new Date(start.getTime() + 2 * hour);
const content: TaskContent<'cyberimpact_email'> = {
  subject: 'Spring is here',
  fromName: 'Glowtify Beauty',
  fromEmail: sender,
  replyTo: 'care@brand.example',
  html: '<!DOCTYPE html><html><body><a href="https://brand.example/spring">Shop</a></body></html>',
  audiences: { included: ['101'] },
};
const credentials: CyberImpactCredentials = { apiKey: token };

let clock = start;
let simulator: CyberImpactSimulator;
let adapter: CyberImpactAdapter;

beforeEach(async () => {
  clock = start;
  simulator = await startCyberImpactSimulator({
    now: () => clock,
    validatedSenders: [sender],
    groups: [{ id: 101, title: 'Newsletter', membersCount: 2000 }],
    apiTokens: { [token]: {} },
  });
  adapter = createCyberImpactAdapter({ apiBaseUrl: simulator.url, now: () => clock });
});
afterEach(() => simulator.close());

async function handOff(index: number, scheduledAt = sendAt) {
  const { context } = recordingHandOffContext<CyberImpactCredentials>({
    taskId: `task-${index}`,
    channel: 'cyberimpact_email',
    content,
    contentDigest: `digest-${index}`,
    account: null,
    credentials,
    progress: {},
    scheduledAt,
    epicTitle: 'Spring launch',
    handOffKey: `ho-${index}`,
  });
  return (await adapter.handOff(context)).externalId;
}
const item = (index: number, externalId: string): MetricsItem => ({
  publicationId: `pub-${index}`,
  taskId: `task-${index}`,
  channel: 'cyberimpact_email',
  account: null,
  externalId,
  publishedAt: sendAt,
  progress: {},
});
const values = (answer: MetricsAnswer | undefined) => {
  assert.equal(answer?.state, 'read', JSON.stringify(answer));
  return answer?.state === 'read'
    ? Object.fromEntries(answer.metrics.map((reading) => [reading.metric, reading]))
    : {};
};

describe('CyberImpact mailing metrics', () => {
  it('reads the mailing and its recipients by kind under the normalised names, growing', async () => {
    const id = await handOff(1);
    clock = new Date(sendAt.getTime() + hour);
    const first = values((await adapter.collectMetrics({ credentials, items: [item(1, id)] }))['pub-1']);

    const mailing = simulator.receivedMatching(new RegExp(`^/mailings/${id}$`), 'GET').at(-1);
    assert.equal(mailing?.query.dateReturnFormat, 'ISO8601');
    const byKind = simulator.receivedMatching(new RegExp(`^/mailings/${id}/recipients/`), 'GET');
    assert.deepEqual(
      byKind.map((request) => [request.path.split('/').pop(), request.query.limit]),
      [
        ['opened', '1'],
        ['hard-bounced', '1'],
        ['soft-bounced', '1'],
        ['unsubscribed', '1'],
      ],
    );
    assert.deepEqual(
      Object.values(first).map((reading) => `${reading.metric}<-${reading.platformMetric}`),
      [
        'delivered<-emailsDelivered',
        'opens<-views',
        'clicks<-clicks',
        'unique_opens<-recipients/opened',
        'bounces<-recipients/hard-bounced+recipients/soft-bounced',
        'unsubscribes<-recipients/unsubscribed',
      ],
    );
    assert.equal(first.delivered?.value, 1960);
    assert.equal(first.bounces?.value, 40);

    clock = new Date(sendAt.getTime() + 24 * hour);
    const later = values((await adapter.collectMetrics({ credentials, items: [item(1, id)] }))['pub-1']);
    for (const metric of ['opens', 'unique_opens', 'clicks']) {
      assert.ok((later[metric]?.value ?? 0) > (first[metric]?.value ?? 0), `${metric} grew`);
    }
  });

  it('a mailing deleted in CyberImpact is deleted; one not sent yet is unavailable', async () => {
    const gone = await handOff(1);
    const waiting = await handOff(2, new Date(sendAt.getTime() + 6 * hour));
    clock = new Date(sendAt.getTime() + hour);
    simulator.deleteMailing(Number(gone));
    const answers = await adapter.collectMetrics({ credentials, items: [item(1, gone), item(2, waiting)] });
    assert.deepEqual(answers['pub-1'], { state: 'deleted' });
    assert.equal(answers['pub-2']?.state, 'unavailable');
  });

  it('a throttle is RATE_LIMITED with Retry-After; after a first mailing, what was read is kept', async () => {
    const items = [item(1, await handOff(1)), item(2, await handOff(2))];
    clock = new Date(sendAt.getTime() + hour);
    simulator.failWith('rate_limited', { path: '/mailings/', retryAfterSeconds: 20 });
    const error = await expectFailure(adapter.collectMetrics({ credentials, items }), 'RATE_LIMITED', [
      token,
    ]);
    assert.equal(error.failure.retryAfterMs, 20_000);

    simulator.failNext({
      path: `/mailings/${items[1]?.externalId}`,
      response: { status: 429, headers: { 'Retry-After': '5' }, body: { message: 'Too many requests.' } },
    });
    const answers = await adapter.collectMetrics({ credentials, items });
    assert.equal(answers['pub-1']?.state, 'read');
    const rest = answers['pub-2'];
    assert.equal(rest?.state, 'not_read', 'not read this time, not deleted');
    assert.equal(
      rest?.state === 'not_read' && rest.failure.retryAfterMs,
      5_000,
      'the wait CyberImpact named',
    );
  });
});
