// SPEC §4's error window on Temporal's time-skipping test server: an epic in error keeps its run open for
// EPIC_ERROR_RUN_OPEN_DAYS (30) waiting for a retry, then the run completes and the epic stays in error.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { format } from 'node:util';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { eq } from 'drizzle-orm';
import { createActivities, publishPolicyFrom } from '../activities/index.ts';
import { createAdapters } from '../connectors/registry.ts';
import { epics } from '../db/schema.ts';
import { searchAttributes } from '../dev/temporal-dev-server.ts';
import { resolveTimeSkippingServer } from '../dev/time-skipping-server.ts';
import { epicSearchAttributes } from '../domain/search-attributes.ts';
import { type MetaSimulator, startMetaSimulator } from '../sandbox/meta.ts';
import { simulatorConfig } from '../sandbox/platforms.ts';
import type { epic } from '../workflows/epic.ts';
import { epicWorkflowId, epicWorkflowType, retryUpdate } from '../workflows/epic-messages.ts';
import { type ApiHarness, createWorkspace, startApiHarness, type TestWorkspace } from './support/api.ts';
import { contentExamples } from './support/examples.ts';
import { browserOf } from './support/platforms.ts';
import { repoRoot, waitFor } from './support/stack.ts';

// The bundler's module list would drown the test output, and so would the rejection this file provokes on
// purpose; any other warning (a failing workflow task, say) still shows.
Runtime.install({
  logger: new DefaultLogger('WARN', ({ level, message, meta }) => {
    const error = meta?.error as { type?: string } | undefined;
    if (message === 'Activity failed' && error?.type === 'CONTENT_REJECTED') return;
    process.stderr.write(`[worker ${level}] ${message}${meta ? ` ${format(meta)}` : ''}\n`);
  }),
});

const taskQueue = 'glowtify-error-window';
const dayMs = 86_400_000;
// Wire values of temporal.api.enums.v1.IndexedValueType (see dev/temporal-dev-server.ts).
const indexedValueType = { Keyword: 2, Datetime: 6, KeywordList: 7 } as const;

let env: TestWorkflowEnvironment;
let harness: ApiHarness;
let meta: MetaSimulator;
let worker: Worker;
let running: Promise<void>;
let workspace: TestWorkspace;
let page: { connectorId: string; accountId: string };

before(async () => {
  const launcher = await resolveTimeSkippingServer();
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: launcher } },
  });
  // Without them every workflow task of a run that carries or upserts them fails on this server.
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: Object.fromEntries(
      Object.entries(searchAttributes).map(([name, type]) => [name, indexedValueType[type]]),
    ),
  });
  const metaApp = { id: 'glowtify-test-app', secret: 'glowtify-test-secret' };
  meta = await startMetaSimulator({
    clientId: metaApp.id,
    clientSecret: metaApp.secret,
    pages: [{ id: '1001', name: 'Acme Page' }],
  });
  harness = await startApiHarness({ config: simulatorConfig({ meta }, { meta: metaApp }) });
  const { config } = harness;
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: path.join(repoRoot, 'workflows', 'index.ts'),
    activities: createActivities({
      db: harness.database.db,
      workerIdentity: 'error-window-test',
      credentialsKeys: config.CREDENTIALS_KEY,
      adapters: createAdapters(config),
      policy: publishPolicyFrom(config),
    }),
  });
  running = worker.run();
  workspace = await createWorkspace(harness, 'Error window');
  page = await connectMetaPage(workspace);
});

after(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running;
  await env?.teardown();
  await harness?.close();
  await meta?.close();
});

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
async function scheduledEpic(title: string) {
  const created = await workspace.api.post('/v1/epics', { title });
  assert.equal(created.statusCode, 201, created.body);
  const epicId = (created.json() as { id: string }).id;
  const task = await workspace.api.post(`/v1/epics/${epicId}/tasks`, {
    channel: 'facebook_post',
    connectorId: page.connectorId,
    accountId: page.accountId,
    content: contentExamples.facebook_post,
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

type EpicHandle = Awaited<ReturnType<typeof scheduledEpic>>['handle'];

const epicStatus = async (epicId: string) => {
  const [row] = await harness.database.db
    .select({ status: epics.status })
    .from(epics)
    .where(eq(epics.id, epicId));
  return row?.status;
};

const waitForEpicStatus = (epicId: string, status: string) =>
  waitFor(
    () => epicStatus(epicId),
    (current) => current === status,
    20,
  );

const runStatus = async (handle: EpicHandle) => (await handle.describe()).status.name;

/** Milliseconds of a protobuf Timestamp or Duration (seconds may arrive as a Long). */
const protoMs = (value: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  Number(String(value?.seconds ?? Number.NaN)) * 1000 + Math.floor((value?.nanos ?? 0) / 1e6);

/**
 * The timer the run waits on in error. The db says `error` one activity before the workflow arms it, and
 * skipping time in between would jump past a timer that does not exist yet: this waits for it in the history.
 */
async function errorWindowTimer(handle: EpicHandle) {
  const started = await waitFor(
    async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      const ended = new Set(
        events.map((event) =>
          String(
            event.timerFiredEventAttributes?.startedEventId ??
              event.timerCanceledEventAttributes?.startedEventId,
          ),
        ),
      );
      return events.find((event) => event.timerStartedEventAttributes && !ended.has(String(event.eventId)));
    },
    (found) => found !== undefined,
    20,
  );
  return {
    startedAt: protoMs(started!.eventTime),
    durationMs: protoMs(started!.timerStartedEventAttributes!.startToFireTimeout),
  };
}

/** The Facebook post is refused for good: one call, no retries, the epic in error. */
const rejectNextPost = () => meta.failWith('content_rejected', { path: /\/feed$/, method: 'POST', times: 1 });
const feedCalls = () => meta.receivedMatching(/\/feed$/, 'POST').length;

// Every wait below is for a state, never for wall time; a bound turns a hang into a failure.
const timeout = 60_000;

describe('an epic in error (time-skipping server)', () => {
  it('keeps the run open 30 days, then it completes and the epic stays in error', { timeout }, async () => {
    const days = harness.config.EPIC_ERROR_RUN_OPEN_DAYS;
    assert.equal(days, 30, 'the default window');
    const feedBefore = feedCalls();
    rejectNextPost();
    const { epicId, handle } = await scheduledEpic('Rejected for good');

    await env.sleep('1 hour');
    await waitForEpicStatus(epicId, 'error');
    assert.equal(feedCalls() - feedBefore, 1, 'content rejected is not retried');
    const errorTimer = await errorWindowTimer(handle);
    assert.equal(errorTimer.durationMs, days * dayMs);

    await env.sleep('29 days');
    assert.equal(await runStatus(handle), 'RUNNING', 'the run still waits for a retry after 29 days');
    assert.equal(await epicStatus(epicId), 'error');

    await env.sleep('2 days');
    const sleptUntil = await env.currentTimeMs();
    // result() skips time too, so the close time tells whether the run ended within the 2 days slept.
    assert.deepEqual(await handle.result(), { status: 'error', expired: true });
    const closed = await handle.describe();
    assert.equal(closed.status.name, 'COMPLETED');
    const closedAt = closed.closeTime!.getTime();
    assert.ok(closedAt - errorTimer.startedAt >= days * dayMs, 'not before the window ran out');
    // The slack is real time: the timer's last workflow task may still be running when the sleep returns.
    assert.ok(closedAt <= sleptUntil + 60_000, `closed ${closedAt - sleptUntil} ms after the 2 days slept`);
    assert.equal(await epicStatus(epicId), 'error', 'the epic stays in error');
    assert.equal(feedCalls() - feedBefore, 1, 'nothing was sent while the run waited');
  });

  it('a retry on day 10 re-attempts the failed post, and the epic is published', { timeout }, async () => {
    const feedBefore = feedCalls();
    const postsBefore = meta.posts().length;
    rejectNextPost();
    const { epicId, handle } = await scheduledEpic('Retried on day 10');

    await env.sleep('1 hour');
    await waitForEpicStatus(epicId, 'error');
    await errorWindowTimer(handle);

    await env.sleep('10 days');
    assert.equal(await runStatus(handle), 'RUNNING');
    // What POST /v1/epics/:id/retry sends; the simulator no longer fails.
    const answer = await handle.executeUpdate(retryUpdate, { args: [{ requestedBy: 'error-window-test' }] });
    assert.equal(answer.status, 'scheduled');

    await waitForEpicStatus(epicId, 'published');
    assert.deepEqual(await handle.result(), { status: 'published' });
    assert.equal(feedCalls() - feedBefore, 2, 'the rejected call, then the retry');
    assert.equal(meta.posts().length - postsBefore, 1, 'exactly one post on the Page');
  });
});
