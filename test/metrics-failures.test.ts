// What a reading that fails does, on the real stack (PostgreSQL, the worker, the Meta simulator) with the
// reading activity run directly: a platform down or throttling only delays the items and shows on the
// connector, never "reconnect required"; a token the platform refuses for good does flip the connector, as any
// other call's would; an item the platform leaves out is asked again, not dropped.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { createMetricsActivities } from '../activities/metrics.ts';
import { createAdapters } from '../connectors/registry.ts';
import { connectors, publicationMetrics, publications } from '../db/schema.ts';
import {
  connectedWorkspace,
  isoInSeconds,
  reviewedEpic,
  type Stack,
  useStack,
  waitForStatus,
} from './support/stack.ts';

const stack = useStack();
const hourMs = 3_600_000;

/** A published Page post, and the reading activity the worker runs, called here by hand. */
async function publishedPost(name: string) {
  const setup = await connectedWorkspace(stack, name);
  const { epicId } = await reviewedEpic(setup, ['facebook_post'], name);
  const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
    scheduledAt: isoInSeconds(2),
  });
  assert.equal(scheduled.statusCode, 200, scheduled.body);
  await waitForStatus(setup.workspace, epicId, 'published');
  const activities = createMetricsActivities({
    db: stack.harness.database.db,
    credentialsKeys: stack.harness.config.CREDENTIALS_KEY,
    adapters: createAdapters(stack.harness.config),
  });
  /** One round at `hours` after now (the item's first reading is due an hour after its enrolment). */
  const round = (hours: number) =>
    new MockActivityEnvironment().run(activities.collectEpicMetrics, {
      epicId,
      at: new Date(Date.now() + hours * hourMs).toISOString(),
    });
  return { setup, epicId, round };
}

const publicationOf = async (epicId: string) =>
  (await stack.harness.database.db.select().from(publications).where(eq(publications.epicId, epicId)))[0]!;
const connectorOf = async (s: Stack, id: string) =>
  (await s.harness.database.db.select().from(connectors).where(eq(connectors.id, id)))[0]!;

describe('a reading that fails', () => {
  it('a platform down: the item waits 15 minutes, the connector shows why and stays connected; then it is read', async () => {
    const { setup, epicId, round } = await publishedPost('Meta down');
    await round(0);
    const enrolled = await publicationOf(epicId);
    assert.equal(enrolled.metricsState, 'reading');

    stack.meta.failWith('transient', { path: /\/insights$/, times: 20 });
    await round(1.1);
    const waiting = await publicationOf(epicId);
    assert.equal(waiting.metricsReadings, 0, 'no reading counted');
    const delay = waiting.metricsDueAt!.getTime() - (Date.now() + 1.1 * hourMs);
    assert.ok(delay > 14 * 60_000 && delay < 16 * 60_000, `asked again in ${delay} ms`);
    const down = await connectorOf(stack, setup.meta.id);
    assert.equal(down.status, 'connected', 'a platform down is no reason to reconnect');
    assert.equal(down.metricsError?.class, 'TRANSIENT');

    stack.meta.clearFailures();
    await round(1.5);
    const read = await publicationOf(epicId);
    assert.equal(read.metricsReadings, 1);
    const rows = await stack.harness.database.db
      .select()
      .from(publicationMetrics)
      .where(eq(publicationMetrics.publicationId, read.id));
    assert.ok(rows.some((row) => row.metric === 'views'));
    assert.equal((await connectorOf(stack, setup.meta.id)).metricsError, null, 'cleared by the reading');
  });

  it('a throttle: the item waits the time Meta names, nothing is lost and the connector stays connected', async () => {
    const { setup, epicId, round } = await publishedPost('Meta throttles');
    await round(0);
    const { externalId } = await publicationOf(epicId);
    stack.meta.rateLimitInsights(externalId!, 7);
    await round(1.1);
    const waiting = await publicationOf(epicId);
    assert.equal(waiting.metricsState, 'reading');
    assert.equal(waiting.metricsReadings, 0);
    const delay = waiting.metricsDueAt!.getTime() - (Date.now() + 1.1 * hourMs);
    assert.ok(delay > 6 * 60_000 && delay < 8 * 60_000, `asked again in ${delay} ms`);
    const throttled = await connectorOf(stack, setup.meta.id);
    assert.equal(throttled.status, 'connected');
    assert.equal(throttled.metricsError?.class, 'RATE_LIMITED');
  });

  it('a refusal that will not pass: asked again with growing waits, then that reading is given up and the schedule goes on', async () => {
    const { setup, epicId, round } = await publishedPost('Meta refuses the read');
    await round(0);
    stack.meta.failWith('content_rejected', { path: /\/me\/permissions$/, times: 20 });
    const waits: number[] = [];
    let hours = 1.1;
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      await round(hours);
      const waiting = await publicationOf(epicId);
      assert.equal(waiting.metricsFailures, attempt);
      const wait = waiting.metricsDueAt!.getTime() - (Date.now() + hours * hourMs);
      waits.push(Math.round(wait / 60_000));
      hours += wait / hourMs + 0.01;
    }
    assert.deepEqual(waits, [15, 60, 240], 'each wait four times the last');
    await round(hours);
    const given = await publicationOf(epicId);
    assert.equal(given.metricsFailures, 0);
    assert.equal(given.metricsState, 'reading', 'the schedule goes on');
    assert.match(given.metricsNote ?? '', /^not read: /);
    // Given up at about 6.4 h: the 1 h and 6 h points are passed, the next is a day after the first round.
    assert.equal(given.metricsReadings, 2);
    assert.equal((await connectorOf(stack, setup.meta.id)).status, 'connected');
    stack.meta.clearFailures();
  });

  it('a token Meta refuses for good flips the connector to reconnect required, as any call would', async () => {
    const { setup, epicId, round } = await publishedPost('Meta token dead');
    await round(0);
    stack.meta.expireTokens();
    await round(1.1);
    const dead = await connectorOf(stack, setup.meta.id);
    assert.equal(dead.status, 'reconnect_required');
    assert.equal(dead.metricsError?.class, 'TOKEN_EXPIRED');
    const waiting = await publicationOf(epicId);
    assert.equal(waiting.metricsState, 'reading', 'read again once reconnected');
    // While it is not connected, a round asks nothing and the item keeps waiting.
    const before = stack.meta.received.length;
    await round(2);
    assert.equal(stack.meta.received.length, before, 'nothing asked of Meta');
    assert.equal((await publicationOf(epicId)).metricsState, 'reading');
  });
});
