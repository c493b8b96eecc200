// An epic's published items read back for 30 days on Temporal's time-skipping test server (SPEC §5
// "Analytics"), with the real worker, PostgreSQL and the Meta simulator: a Page post is read on its channel's
// schedule, each value stored under its normalised name; a throttle delays a reading and loses none; a post
// deleted on Facebook stops being read; a grant without the insights permission shows "Reconnect to read
// insights" on the connector; the analytics routes give the latest values, the totals and the time series.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { format } from 'node:util';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { eq } from 'drizzle-orm';
import { createActivities, publishPolicyFrom } from '../activities/index.ts';
import { createAdapters } from '../connectors/registry.ts';
import { connectors, epics, publicationMetrics, publications } from '../db/schema.ts';
import { searchAttributes } from '../dev/temporal-dev-server.ts';
import { resolveTimeSkippingServer } from '../dev/time-skipping-server.ts';
import { readingSchedules } from '../domain/metrics.ts';
import { epicSearchAttributes } from '../domain/search-attributes.ts';
import { type MetaSimulator, startMetaSimulator } from '../sandbox/meta.ts';
import { simulatorConfig } from '../sandbox/platforms.ts';
import type { epic } from '../workflows/epic.ts';
import { epicWorkflowId, epicWorkflowType } from '../workflows/epic-messages.ts';
import { type epicMetrics, epicMetricsWorkflowId } from '../workflows/epic-metrics.ts';
import { type ApiHarness, createWorkspace, startApiHarness, type TestWorkspace } from './support/api.ts';
import { contentExamples } from './support/examples.ts';
import { browserOf } from './support/platforms.ts';
import { repoRoot, storedCredentials, waitFor } from './support/stack.ts';

Runtime.install({
  logger: new DefaultLogger('WARN', ({ level, message, meta }) => {
    process.stderr.write(`[worker ${level}] ${message}${meta ? ` ${format(meta)}` : ''}\n`);
  }),
});

const taskQueue = 'glowtify-epic-metrics';
// Wire values of temporal.api.enums.v1.IndexedValueType (see dev/temporal-dev-server.ts).
const indexedValueType = { Keyword: 2, Datetime: 6, KeywordList: 7 } as const;

let harness: ApiHarness;
let meta: MetaSimulator;
let workflowBundle: WorkflowBundle;
let workspace: TestWorkspace;
let page: { connectorId: string; accountId: string };

before(async () => {
  const metaApp = { id: 'glowtify-test-app', secret: 'glowtify-test-secret' };
  meta = await startMetaSimulator({
    clientId: metaApp.id,
    clientSecret: metaApp.secret,
    pages: [{ id: '1001', name: 'Acme Page' }],
  });
  harness = await startApiHarness({ config: simulatorConfig({ meta }, { meta: metaApp }) });
  workflowBundle = await bundleWorkflowCode({ workflowsPath: path.join(repoRoot, 'workflows', 'index.ts') });
  workspace = await createWorkspace(harness, 'Read back');
  page = await connectMetaPage(workspace);
});

after(async () => {
  await harness?.close();
  await meta?.close();
});

/**
 * A time-skipping server of its own and the real worker on it, for the length of `scenario`. Each scenario
 * ends with the epic's reading run (an abandoned child) ending after its parent, and this server keeps its
 * clock locked from then on: the next scenario's sleeps would last their real length.
 */
async function onTimeSkippingServer(scenario: (env: TestWorkflowEnvironment) => Promise<void>) {
  const launcher = await resolveTimeSkippingServer();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: launcher } },
  });
  try {
    // Without them every workflow task of a run that carries or upserts them fails on this server.
    await env.connection.operatorService.addSearchAttributes({
      namespace: 'default',
      searchAttributes: Object.fromEntries(
        Object.entries(searchAttributes).map(([name, type]) => [name, indexedValueType[type]]),
      ),
    });
    const { config } = harness;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle,
      activities: createActivities({
        db: harness.database.db,
        workerIdentity: 'epic-metrics-test',
        credentialsKeys: config.CREDENTIALS_KEY,
        adapters: createAdapters(config),
        policy: publishPolicyFrom(config),
      }),
    });
    await worker.runUntil(scenario(env));
  } finally {
    await env.teardown();
  }
}

/** Meta's consent flow against the simulator, the one Page enabled (as test/support/stack.ts does it). */
async function connectMetaPage(target: TestWorkspace) {
  const started = await target.api.post('/v1/connectors/meta/connect', {});
  assert.equal(started.statusCode, 200, started.body);
  const consent = await fetch(started.json().authorizeUrl, { redirect: 'manual' });
  const location = new URL(consent.headers.get('location')!);
  const callback = await harness.app.inject({
    method: 'GET',
    url: `${location.pathname}${location.search}`,
    cookies: browserOf(started),
  });
  assert.equal(callback.statusCode, 200, callback.body);
  const connector = callback.json() as { id: string; accounts: { id: string; kind: string }[] };
  const account = connector.accounts.find((candidate) => candidate.kind === 'facebook_page')!;
  const enabled = await target.api.request({
    method: 'PUT',
    url: `/v1/connectors/${connector.id}/accounts`,
    payload: { enabled: [account.id] },
  });
  assert.equal(enabled.statusCode, 200, enabled.body);
  return { connectorId: connector.id, accountId: account.id };
}

/**
 * A reviewed epic with one Facebook post, scheduled an hour ahead of the server's (skipped) clock the way the
 * API's schedule does it: the db row first, then the run with the API's id, input and search attributes.
 */
async function scheduledEpic(env: TestWorkflowEnvironment, title: string, target = { workspace, page }) {
  const { workspace, page } = target;
  const created = await workspace.api.post('/v1/epics', { title });
  assert.equal(created.statusCode, 201, created.body);
  const epicId = (created.json() as { id: string }).id;
  const task = await workspace.api.post(`/v1/epics/${epicId}/tasks`, {
    channel: 'facebook_post',
    connectorId: page.connectorId,
    accountId: page.accountId,
    // No media: the pre-flight would look up the example's media host, and a lookup still running when the
    // run ends holds this server's clock (its activity completes after its workflow closed).
    content: { text: contentExamples.facebook_post.text, link: contentExamples.facebook_post.link },
  });
  assert.equal(task.statusCode, 201, task.body);
  await workspace.api.post(`/v1/epics/${epicId}/tasks/${task.json().id}/approve`);
  const review = await workspace.api.post(`/v1/epics/${epicId}/review`);
  assert.equal(review.statusCode, 200, review.body);

  const scheduledAt = new Date((await env.currentTimeMs()) + 60 * 60 * 1000);
  await harness.database.db
    .update(epics)
    .set({ status: 'scheduled', scheduledAt, updatedAt: new Date() })
    .where(eq(epics.id, epicId));
  const handle = await env.client.workflow.start<typeof epic>(epicWorkflowType, {
    workflowId: epicWorkflowId(epicId),
    taskQueue,
    args: [{ epicId, workspaceId: workspace.id, scheduledAt: scheduledAt.toISOString() }],
    staticSummary: `Epic "${title}" at ${scheduledAt.toISOString()}`,
    typedSearchAttributes: [
      { key: epicSearchAttributes.EpicId, value: epicId },
      { key: epicSearchAttributes.EpicStatus, value: 'scheduled' },
      { key: epicSearchAttributes.WorkspaceId, value: workspace.id },
      { key: epicSearchAttributes.ScheduledAt, value: scheduledAt },
      { key: epicSearchAttributes.Channels, value: ['facebook_post'] },
    ],
  });
  return { epicId, handle };
}

const publicationOf = async (epicId: string) => {
  const [row] = await harness.database.db.select().from(publications).where(eq(publications.epicId, epicId));
  return row!;
};

const readingsOf = async (publicationId: string) =>
  harness.database.db
    .select()
    .from(publicationMetrics)
    .where(eq(publicationMetrics.publicationId, publicationId));

const epicStatus = async (epicId: string) =>
  (await harness.database.db.select().from(epics).where(eq(epics.id, epicId)))[0]?.status;

const timeout = 180_000;
const schedule = readingSchedules.facebook_post;

/** The epic is published at its time, an hour ahead on the server's clock. */
async function publishedInAnHour(env: TestWorkflowEnvironment, epicId: string) {
  await env.sleep('1 hour');
  await waitFor(
    () => epicStatus(epicId),
    (status) => status === 'published',
    20,
  );
}

/** Waiting for the reading run's result skips the server's clock through its 30 days. */
const readToTheEnd = (env: TestWorkflowEnvironment, epicId: string) =>
  env.client.workflow.getHandle<typeof epicMetrics>(epicMetricsWorkflowId(epicId)).result();

describe('published items read back (time-skipping server)', () => {
  it('a Page post is read on its schedule for 30 days: values under normalised names, a throttle paced; the routes give latest values, totals and series', {
    timeout,
  }, async () => {
    let epicId = '';
    await onTimeSkippingServer(async (env) => {
      ({ epicId } = await scheduledEpic(env, 'Read for thirty days'));
      await publishedInAnHour(env, epicId);
      // Its first reading meets Meta's throttle: it waits the time Meta names, then reads.
      meta.rateLimitInsights((await publicationOf(epicId)).externalId!, 5);
      const { rounds } = await readToTheEnd(env, epicId);
      assert.ok(rounds >= 2, `${rounds} rounds`);
    });
    const full = { epicId };

    // Read for the 30 days: every reading of the schedule taken, none lost to the throttle.
    const done = await publicationOf(full.epicId);
    assert.equal(done.metricsState, 'done');
    assert.equal(done.metricsReadings, schedule.length);
    assert.equal(done.metricsDueAt, null);
    const rows = await readingsOf(done.id);
    const times = [...new Set(rows.map((row) => row.readAt.getTime()))].sort((a, b) => a - b);
    // The whole schedule is gone through. How many readings that took depends on this server: while several
    // workflows sleep it may jump its clock past a timer whose workflow task is on its way, and a round that
    // late folds the points it passed into one reading (test/metrics-failures.test.ts shows a throttle paced).
    assert.ok(times.length >= 2, `${times.length} readings`);
    const names = new Set<string>(rows.map((row) => row.metric));
    for (const name of ['views', 'reach', 'clicks', 'likes']) assert.ok(names.has(name), name);
    assert.ok(rows.some((row) => row.platformMetric === 'post_media_view' && row.metric === 'views'));
    // The readings span the 30 days (their exact instants move when this server expires a workflow task).
    assert.ok(times.at(-1)! - times[0]! >= 29 * 24 * 3_600_000, 'read until the 30th day');
    const [connector] = await harness.database.db
      .select()
      .from(connectors)
      .where(eq(connectors.id, page.connectorId));
    assert.ok(connector?.metricsSyncedAt, 'the connector shows its last metrics sync');
    assert.equal(connector?.metricsError, null, 'the throttle was paced, then cleared');
    assert.deepEqual(connector?.insightsMissingScopes, []);

    const analytics = await workspace.api.get(`/v1/epics/${full.epicId}/analytics`);
    assert.equal(analytics.statusCode, 200, analytics.body);
    const body = analytics.json() as {
      tasks: {
        state: string;
        readings: number;
        measuredBy: string;
        metrics: Record<string, { value: number; readAt: string }>;
      }[];
      totals: Record<string, number>;
      sessions: { campaign: string; total: number };
    };
    const latestViews = rows
      .filter((row) => row.metric === 'views')
      .sort((a, b) => b.readAt.getTime() - a.readAt.getTime())[0]!;
    assert.equal(body.tasks[0]?.state, 'done');
    assert.equal(body.tasks[0]?.measuredBy, 'platform');
    assert.equal(body.tasks[0]?.readings, schedule.length);
    assert.equal(body.tasks[0]?.metrics.views?.value, latestViews.value);
    assert.equal(body.tasks[0]?.metrics.views?.readAt, latestViews.readAt.toISOString());
    assert.equal(body.totals.views, latestViews.value, 'one item: its latest value is the total');
    assert.equal(body.sessions.campaign, 'read-for-thirty-days');
    assert.equal(body.sessions.total, 0, 'no GA4 property synced in this workspace');

    const taskId = (await workspace.api.get(`/v1/epics/${full.epicId}`)).json().tasks[0].id as string;
    const seriesOf = async (query = '') => {
      const answer = await workspace.api.get(`/v1/epics/${full.epicId}/tasks/${taskId}/analytics${query}`);
      assert.equal(answer.statusCode, 200, answer.body);
      return (answer.json() as { series: { metric: string; points: unknown[] }[] }).series.find(
        (entry) => entry.metric === 'views',
      );
    };
    assert.equal((await seriesOf())?.points.length, times.length);
    const from = new Date(times[2]!).toISOString();
    assert.equal((await seriesOf(`?from=${encodeURIComponent(from)}`))?.points.length, times.length - 2);
    const yearZero = await workspace.api.get(
      `/v1/epics/${full.epicId}/tasks/${taskId}/analytics?from=0000-01-01T00:00:00Z`,
    );
    assert.equal(yearZero.statusCode, 400, yearZero.body);
    // Written in 9999, an instant in 10000 by its offset: PostgreSQL cannot hold it (it was a 500).
    const pastYear9999 = await workspace.api.get(
      `/v1/epics/${full.epicId}/tasks/${taskId}/analytics?from=${encodeURIComponent('9999-12-31T23:30:00-01:00')}`,
    );
    assert.equal(pastYear9999.statusCode, 400, pastYear9999.body);
    const backwards = await workspace.api.get(
      `/v1/epics/${full.epicId}/tasks/${taskId}/analytics?from=${encodeURIComponent(from)}&to=2020-01-01T00:00:00Z`,
    );
    assert.equal(backwards.statusCode, 400, backwards.body);
  });

  it('a post deleted on Facebook after two readings is recorded deleted and never read again', {
    timeout,
  }, async () => {
    let epicId = '';
    let readingsBefore = 0;
    await onTimeSkippingServer(async (env) => {
      ({ epicId } = await scheduledEpic(env, 'Deleted after two readings'));
      await publishedInAnHour(env, epicId);
      await env.sleep('7 hours');
      const read = await waitFor(
        () => publicationOf(epicId),
        (row) => row.metricsReadings >= 2,
        20,
      );
      readingsBefore = read.metricsReadings;
      meta.deleteObject(read.externalId!);
      await readToTheEnd(env, epicId);
    });
    const gone = await publicationOf(epicId);
    assert.equal(gone.metricsState, 'deleted');
    assert.equal(gone.metricsReadings, readingsBefore, 'nothing read after the deletion');
    const goneView = (await workspace.api.get(`/v1/epics/${epicId}/analytics`)).json() as {
      tasks: { state: string }[];
    };
    assert.equal(goneView.tasks[0]?.state, 'deleted');
  });

  it('a grant without the insights permission: nothing stored, the reason on the item, and the connector says what to do', {
    timeout,
  }, async () => {
    const other = await createWorkspace(harness, 'Read back, no insights');
    const otherPage = await connectMetaPage(other);
    const { userAccessToken } = await storedCredentials({ harness }, otherPage.connectorId);
    meta.revokePermission('read_insights', { userToken: userAccessToken! });
    let epicId = '';
    await onTimeSkippingServer(async (env) => {
      ({ epicId } = await scheduledEpic(env, 'No insights permission', {
        workspace: other,
        page: otherPage,
      }));
      await publishedInAnHour(env, epicId);
      await readToTheEnd(env, epicId);
    });
    const unread = await publicationOf(epicId);
    assert.equal((await readingsOf(unread.id)).length, 0, 'nothing stored');
    assert.match(unread.metricsNote ?? '', /read_insights/);
    const view = (await other.api.get(`/v1/connectors/${otherPage.connectorId}`)).json() as {
      status: string;
      actions: string[];
      metrics: { missingScopes: string[] };
    };
    assert.notEqual(view.status, 'reconnect_required', 'publishing is untouched');
    assert.ok(view.actions.includes('Reconnect to read insights'), view.actions.join(', '));
    assert.deepEqual(view.metrics.missingScopes, ['read_insights']);
  });
});
