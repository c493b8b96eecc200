// What an epic's run does at its time once the platform has the post (patch `published-by-last-post`), on the
// real stack (dev server, worker, PostgreSQL, the Meta simulator): the publish activity that records the epic's
// last publication records the epic published in the same transaction and starts its metrics reading, delayed
// to the first reading; the run writes nothing more and starts nothing. Two posts recorded at once publish the
// epic once; a retry after an error still announces its new post to the reading already running.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { temporal } from '@temporalio/proto';
import { eq } from 'drizzle-orm';
import { createActivities, publishPolicyFrom } from '../activities/index.ts';
import { createAdapters } from '../connectors/registry.ts';
import type { Executor } from '../db/client.ts';
import { completeEpicWithLastPublication } from '../db/epic-transitions.ts';
import { epics, publications } from '../db/schema.ts';
import { epicPatches } from '../workflows/epic.ts';
import { epicMetricsWorkflowId } from '../workflows/epic-metrics-messages.ts';
import {
  connectedWorkspace,
  readEpic,
  recordedRuns,
  reviewedEpic,
  type Stack,
  useStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

const stack = useStack({ config: { PUBLICATION_PREPARE_AHEAD_MS: '0' } });
// Runs recorded before the patches were consolidated are kept as `epic-published-by-last-post-NN`.
const runs = recordedRuns('epic-all-patches');
const hourMs = 3_600_000;
/** An instant as PostgreSQL's driver hands it over here (text), in milliseconds. */
const ms = (instant: Date | string) => new Date(instant).getTime();
const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
// Wire values of temporal.api.enums.v1.EventType.
const EventType = {
  EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: 1,
  EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: 10,
  EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: 26,
  EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: 29,
  EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: 40,
} as const;

async function historyOf(target: Stack, workflowId: string): Promise<HistoryEvent[]> {
  return (await target.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
}
const activitiesScheduled = (events: HistoryEvent[]) =>
  events
    .filter((event) => event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    .map((event) => event.activityTaskScheduledEventAttributes?.activityType?.name);
const childrenStarted = (events: HistoryEvent[]) =>
  events.filter((event) => event.eventType === EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED);

async function epicAudit(epicId: string) {
  return stack.harness.database.sql<{ action: string; to_status: string }[]>`
    select action, to_status from audit_events where subject_type = 'epic' and subject_id = ${epicId}
    order by created_at`;
}

describe('the post that completes an epic', () => {
  it('records the epic published with it and starts the metrics reading delayed to the first reading', async () => {
    const setup = await connectedWorkspace(stack, 'Last post');
    const { epicId, taskIds } = await reviewedEpic(setup, ['facebook_post'], 'One post');
    const scheduled = await runs.schedule(setup, epicId, inSeconds(2));
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    const result = await stack.client.workflow.getHandle(`epic-${epicId}`).result();
    assert.equal(result.status, 'published');

    // The epic said published in the transaction that recorded the post: never "scheduled" for a live post.
    const [row] = await stack.harness.database.sql<
      { status: string; published_at: Date; updated_at: Date }[]
    >`
      select e.status, p.published_at, e.updated_at from epics e join publications p on p.epic_id = e.id
      where e.id = ${epicId}`;
    assert.equal(row!.status, 'published');
    assert.equal(ms(row!.updated_at), ms(row!.published_at), 'one write for both');
    const audit = await epicAudit(epicId);
    assert.equal(audit.filter((entry) => entry.action === 'publish').length, 1, JSON.stringify(audit));

    // The run scheduled the plan read and the publish, and nothing after it: no status write, no child.
    const events = await historyOf(stack, `epic-${epicId}`);
    const after = activitiesScheduled(events).slice(activitiesScheduled(events).indexOf('publishTask'));
    assert.deepEqual(after, ['publishTask']);
    assert.equal(childrenStarted(events).length, 0);
    const markers = events
      .map((event) => event.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data)
      .filter((data) => data)
      .map((data) => Buffer.from(data!).toString());
    // One patch marker stands for them all (and one search-attribute upsert the SDK adds to it; the other is
    // the status at the end): runs recorded before it replay through their own markers (test/replay.test.ts).
    assert.deepEqual(
      markers.map((marker) => JSON.parse(marker).id),
      [epicPatches.allUntilDecember2026],
    );
    assert.equal(
      events.filter((event) => event.eventType === EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
        .length,
      2,
    );

    // The post is enrolled from its publication; its reading workflow waits for the first reading, untouched.
    const [publication] = await stack.harness.database.sql<
      { metrics_state: string; metrics_since: Date; metrics_due_at: Date; published_at: Date }[]
    >`select metrics_state, metrics_since, metrics_due_at, published_at from publications where task_id = ${taskIds.facebook_post!}`;
    assert.equal(publication!.metrics_state, 'reading');
    assert.equal(ms(publication!.metrics_due_at) - ms(publication!.metrics_since), hourMs);
    assert.ok(
      // The attempt's start on the server's clock plus its own time: the queue time before it is left out.
      Math.abs(ms(publication!.metrics_since) - ms(publication!.published_at)) < 60_000,
      'counted from the publication',
    );
    const reading = stack.client.workflow.getHandle(epicMetricsWorkflowId(epicId));
    const described = await reading.describe();
    assert.equal(described.status.name, 'RUNNING');
    const delayMs = described.executionTime!.getTime() - described.startTime.getTime();
    assert.ok(Math.abs(delayMs - hourMs) < 10_000, `first round delayed ${delayMs} ms`);
    const readingEvents = await historyOf(stack, epicMetricsWorkflowId(epicId));
    assert.deepEqual(
      readingEvents.map((event) => event.eventType),
      [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED],
      'no task of the reading runs before its first reading',
    );
  });

  it('two posts recorded at once publish the epic once', async () => {
    const setup = await connectedWorkspace(stack, 'Two posts');
    const epics = await Promise.all(
      [1, 2, 3].map(
        async (n) => (await reviewedEpic(setup, ['facebook_post', 'instagram_post'], `Pair ${n}`)).epicId,
      ),
    );
    const at = inSeconds(3);
    for (const epicId of epics) {
      const scheduled = await runs.schedule(setup, epicId, at);
      assert.equal(scheduled.statusCode, 200, scheduled.body);
    }
    for (const epicId of epics) {
      const result = await stack.client.workflow.getHandle(`epic-${epicId}`).result();
      assert.equal(result.status, 'published');
      assert.equal((await readEpic(setup.workspace, epicId)).status, 'published');
      const audit = await epicAudit(epicId);
      assert.equal(audit.filter((entry) => entry.action === 'publish').length, 1, JSON.stringify(audit));
      // Started once, by the activity or by the run, and reading both posts from their publication.
      const described = await stack.client.workflow.getHandle(epicMetricsWorkflowId(epicId)).describe();
      assert.equal(described.status.name, 'RUNNING');
      const enrolled = await stack.harness.database.sql<{ metrics_state: string }[]>`
        select metrics_state from publications where epic_id = ${epicId}`;
      assert.deepEqual(
        enrolled.map((publication) => publication.metrics_state),
        ['reading', 'reading'],
      );
    }
  });

  it('a retry after an error publishes the epic and announces its new post to the reading running', async () => {
    const setup = await connectedWorkspace(stack, 'Retry last post');
    const { epicId, taskIds } = await reviewedEpic(setup, ['facebook_post', 'instagram_post'], 'Flaky pair');
    const limit = stack.harness.config.PUBLICATION_ATTEMPTS_LIMIT;
    stack.meta.failWith('transient', { path: /\/media$/, method: 'POST', times: limit });
    const scheduled = await runs.schedule(setup, epicId, inSeconds(2));
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    await waitForStatus(setup.workspace, epicId, 'error');
    // The Facebook post went out: its reading started with the round that ended in error.
    const reading = stack.client.workflow.getHandle(epicMetricsWorkflowId(epicId));
    const firstRun = (await reading.describe()).runId;

    const retried = await setup.workspace.api.post(`/v1/epics/${epicId}/retry`);
    assert.equal(retried.statusCode, 200, retried.body);
    await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal((await stack.client.workflow.getHandle(`epic-${epicId}`).result()).status, 'published');
    const audit = await epicAudit(epicId);
    assert.deepEqual(
      audit
        .filter((entry) => ['publish', 'fail', 'retry'].includes(entry.action))
        .map((entry) => entry.action),
      ['fail', 'retry', 'publish'],
    );
    // The reading running was told (one run, one signal): the Instagram post is read from its publication.
    assert.equal((await reading.describe()).runId, firstRun);
    const signals = await waitFor(
      async () =>
        (await historyOf(stack, epicMetricsWorkflowId(epicId))).filter(
          (event) => event.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        ),
      (found) => found.length > 0,
    );
    assert.equal(signals.length, 1);
    const instagram = (await readEpic(setup.workspace, epicId)).tasks.find(
      (task) => task.id === taskIds.instagram_post,
    )!;
    assert.equal(instagram.publication?.status, 'published');
  });

  it('two transactions that record an epic’s last two publications unseen by each other leave it to the run', async () => {
    const setup = await connectedWorkspace(stack, 'Both at once');
    const { epicId } = await reviewedEpic(setup, ['facebook_post', 'instagram_post'], 'Raced pair');
    const { db } = stack.harness.database;
    // Scheduled a day ahead (its run sleeps through this test): the rows are then written here by hand.
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: new Date(Date.now() + 86_400_000).toISOString(),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    const [epic] = await db.select().from(epics).where(eq(epics.id, epicId));
    const { scheduledAt, scheduleToken } = {
      scheduledAt: epic!.scheduledAt!,
      scheduleToken: epic!.scheduleToken!,
    };
    // Its run writes the publications when it reads its plan.
    const ids = (
      await waitFor(
        () => db.select({ id: publications.id }).from(publications).where(eq(publications.epicId, epicId)),
        (rows) => rows.length === 2,
      )
    ).map((row) => row.id);
    assert.equal(ids.length, 2);
    const write = { epicId, scheduleToken, scheduledAt, now: new Date() };
    const record = (tx: Executor, publicationId: string) =>
      tx.update(publications).set({ status: 'published' }).where(eq(publications.id, publicationId));

    // Each records its publication and looks before either commits: neither sees the other's.
    const barrier = () => {
      let waiting = 2;
      let open!: () => void;
      const opened = new Promise<void>((resolve) => {
        open = resolve;
      });
      return async () => {
        waiting -= 1;
        if (waiting === 0) open();
        await opened;
      };
    };
    const [bothRecorded, bothLooked] = [barrier(), barrier()];
    const raced = await Promise.all(
      ids.map((publicationId) =>
        db.transaction(async (tx) => {
          await record(tx, publicationId);
          await bothRecorded();
          const completed = await completeEpicWithLastPublication(tx, write);
          await bothLooked();
          return completed;
        }),
      ),
    );
    assert.deepEqual(raced, [null, null]);
    const [row] = await db.select().from(epics).where(eq(epics.id, epicId));
    assert.equal(row!.status, 'scheduled', 'left to the run');

    // One after the other: the second completes it, once; another schedule's token or time completes nothing.
    await db.update(publications).set({ status: 'publishing' }).where(eq(publications.id, ids[1]!));
    assert.equal(
      await db.transaction(async (tx) => {
        await record(tx, ids[1]!);
        return completeEpicWithLastPublication(tx, { ...write, scheduleToken: randomUUID() });
      }),
      null,
    );
    assert.equal(
      await db.transaction(async (tx) =>
        completeEpicWithLastPublication(tx, { ...write, scheduledAt: new Date(scheduledAt.getTime() + 1) }),
      ),
      null,
    );
    const completed = await db.transaction(async (tx) => completeEpicWithLastPublication(tx, write));
    assert.deepEqual(completed, { firstReadingAt: null });
    assert.equal(await db.transaction(async (tx) => completeEpicWithLastPublication(tx, write)), null);
    const audit = await epicAudit(epicId);
    assert.equal(audit.filter((entry) => entry.action === 'publish').length, 1);
  });

  it('a failure counted after a post was recorded live changes neither the post nor the epic it completed', async () => {
    const setup = await connectedWorkspace(stack, 'Lost answer');
    const { db } = stack.harness.database;
    const { config } = stack.harness;
    const activities = createActivities({
      db,
      workerIdentity: 'epic-last-post-test',
      credentialsKeys: config.CREDENTIALS_KEY,
      adapters: createAdapters(config),
      policy: publishPolicyFrom(config),
    });
    /** A one-post epic scheduled a day ahead (its run sleeps through this test), its publication as given. */
    const epicWith = async (title: string, publicationStatus: 'published' | 'publishing') => {
      const { epicId, taskIds } = await reviewedEpic(setup, ['facebook_post'], title);
      const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
        scheduledAt: new Date(Date.now() + 86_400_000).toISOString(),
      });
      assert.equal(scheduled.statusCode, 200, scheduled.body);
      await waitFor(
        () => db.select().from(publications).where(eq(publications.epicId, epicId)),
        (rows) => rows.length === 1,
      );
      await db.update(publications).set({ status: publicationStatus }).where(eq(publications.epicId, epicId));
      return { epicId, taskId: taskIds.facebook_post! };
    };
    const countFailure = async ({ epicId, taskId }: { epicId: string; taskId: string }) => {
      const failure = { class: 'TRANSIENT', message: 'the answer was lost' };
      await activities.recordPublicationOutcome({ epicId, taskId, status: 'failed', failure });
      await activities.recordEpicStatus({
        epicId,
        from: 'scheduled',
        status: 'error',
        action: 'fail',
        actor: 'workflow',
        details: { failedTaskIds: [taskId] },
      });
      const [epic] = await db.select().from(epics).where(eq(epics.id, epicId));
      const [publication] = await db.select().from(publications).where(eq(publications.epicId, epicId));
      const told = await stack.harness.database.sql`
        select id from notifications where kind = 'publication_error' and data->>'epicId' = ${epicId}`;
      return { epic: epic!.status, publication: publication!.status, errorNotifications: told.length };
    };

    // Live on the platform: it stays published, and so does the epic (no error told).
    assert.deepEqual(await countFailure(await epicWith('Lost answer', 'published')), {
      epic: 'published',
      publication: 'published',
      errorNotifications: 0,
    });
    // Not live: the failure is recorded, the epic is in error and the workspace told.
    assert.deepEqual(await countFailure(await epicWith('Really failed', 'publishing')), {
      epic: 'error',
      publication: 'failed',
      errorNotifications: 1,
    });
  });

  it('the recorded histories replay against the current workflow code', async () => {
    const { failures, histories } = await runs.replay(stack);
    assert.deepEqual(failures, []);
    assert.ok(histories.length >= 5);
  });
});
