// Overdue and stuck detection, and the missing-run sweep, on the real stack (Temporal dev server, PostgreSQL,
// the Meta simulator): an epic due while no worker runs is told once (one notification, one `epic.overdue`
// webhook event, counted by /readyz and /metrics) and publishes once when a worker is back; a publication left
// `publishing` is told once; a scheduled epic whose run was terminated from outside is started again by the
// operations sweep (a Temporal Schedule) and publishes once.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { and, eq, sql } from 'drizzle-orm';
import { auditEvents, notifications, publications, workspaceEvents } from '../db/schema.ts';
import { epicWorkflowId } from '../workflows/epic-messages.ts';
import { operationsSweepScheduleId } from '../workflows/operations-sweep-messages.ts';
import { adminToken, callerWith } from './support/api.ts';
import {
  connectedWorkspace,
  readEpic,
  reviewedEpic,
  type Stack,
  startStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

let stack: Stack;
const hooks: { type: string; id: string }[] = [];
let receiver: http.Server;
let receiverUrl: string;

before(async () => {
  receiver = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      const event = JSON.parse(body) as { type: string; id: string };
      hooks.push({ type: event.type, id: event.id });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/in`;
  stack = await startStack({
    withWorker: false,
    config: {
      OVERDUE_THRESHOLD_MS: '1000',
      OPERATIONS_SWEEP_INTERVAL_MS: '1000',
      WEBHOOK_ALLOW_PRIVATE_HOSTS: 'true',
      PUBLICATION_PREPARE_AHEAD_MS: '0',
    },
  });
});
after(async () => {
  await stack?.close();
  receiver?.closeAllConnections();
  await new Promise((resolve) => receiver?.close(resolve));
});

const metricValue = (text: string, name: string) =>
  Number(/^(\S+) (\S+)$/m.exec(text.split('\n').find((line) => line.startsWith(`${name} `)) ?? '')?.[2]);

describe('operations', () => {
  it('an epic due while no worker runs is told overdue once, counted, and publishes once when a worker is back', async () => {
    const setup = await connectedWorkspace(stack, 'Overdue');
    const hook = await setup.workspace.api.post('/v1/webhooks', { url: receiverUrl, events: ['epic.*'] });
    assert.equal(hook.statusCode, 201, hook.body);
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Nobody home');
    const feedBefore = stack.meta.receivedMatching(/\/feed$/, 'POST').length;
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: new Date(Date.now() + 500).toISOString(),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);

    const { db } = stack.harness.database;
    const told = () =>
      db
        .select()
        .from(notifications)
        .where(
          and(eq(notifications.workspaceId, setup.workspace.id), eq(notifications.kind, 'epic_overdue')),
        );
    const [notification] = await waitFor(told, (rows) => rows.length > 0);
    assert.equal(notification!.data.epicId, epicId);
    assert.match(notification!.title, /Nobody home/);
    const operator = callerWith(stack.harness.app, adminToken);
    const readiness = (await operator.get('/readyz')).json();
    assert.equal(readiness.details.overdueEpics, 1);
    assert.equal(metricValue((await operator.get('/metrics')).body, 'glowtify_overdue_epics'), 1);
    // The API's watch runs every second: three more rounds tell nothing more.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal((await told()).length, 1, 'told once');

    await stack.startWorker();
    await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(stack.meta.receivedMatching(/\/feed$/, 'POST').length, feedBefore + 1, 'published once');
    const delivered = await waitFor(
      async () => hooks.map((entry) => entry.type),
      (types) => types.includes('epic.published'),
    );
    assert.equal(delivered.filter((type) => type === 'epic.overdue').length, 1, 'one overdue event');
    assert.ok(delivered.indexOf('epic.overdue') < delivered.indexOf('epic.published'), delivered.join(' → '));
    const events = await db
      .select({ type: workspaceEvents.type })
      .from(workspaceEvents)
      .where(and(eq(workspaceEvents.subjectId, epicId), eq(workspaceEvents.type, 'epic.overdue')));
    assert.equal(events.length, 1);
    assert.equal((await told()).length, 1, 'still told once');
  });

  it('a publication left publishing past its time-outs is told stuck once and counted', async () => {
    const setup = await connectedWorkspace(stack, 'Stuck');
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Frozen');
    const { db } = stack.harness.database;
    // As a try that died with its worker and was never taken up again would leave it.
    await db.execute(sql`
      insert into publications (workspace_id, epic_id, task_id, status, attempts, updated_at)
      select workspace_id, epic_id, id, 'publishing', 1, now() - interval '2 hours' from tasks where epic_id = ${epicId}
      on conflict (task_id) do update set status = 'publishing', attempts = 1, updated_at = excluded.updated_at`);
    const told = () =>
      db
        .select()
        .from(notifications)
        .where(
          and(eq(notifications.workspaceId, setup.workspace.id), eq(notifications.kind, 'publication_stuck')),
        );
    await waitFor(told, (rows) => rows.length > 0);
    const operator = callerWith(stack.harness.app, adminToken);
    assert.equal((await operator.get('/readyz')).json().details.stuckPublications, 1);
    assert.equal(metricValue((await operator.get('/metrics')).body, 'glowtify_stuck_publications'), 1);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.equal((await told()).length, 1, 'told once');
    const [publication] = await db.select().from(publications).where(eq(publications.epicId, epicId));
    assert.equal(publication!.stuckNotifiedAttempt, 1);
    await db.execute(sql`update publications set status = 'failed' where epic_id = ${epicId}`);
  });

  it('the sweep starts again, once, the run of a scheduled epic terminated from outside, and it publishes once', async () => {
    if (!stack.worker) await stack.startWorker();
    const schedule = await stack.client.schedule.getHandle(operationsSweepScheduleId).describe();
    assert.equal(schedule.action.type, 'startWorkflow');
    const setup = await connectedWorkspace(stack, 'Terminated');
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Killed run');
    const feedBefore = stack.meta.receivedMatching(/\/feed$/, 'POST').length;
    // Due after the sweep's 30 s settling time, so the restarted run is the one that publishes.
    const scheduledAt = new Date(Date.now() + 45_000);
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: scheduledAt.toISOString(),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    const handle = stack.client.workflow.getHandle(epicWorkflowId(epicId));
    const first = await handle.describe();
    await handle.terminate('an operator terminated it by mistake');
    assert.equal((await handle.describe()).status.name, 'TERMINATED');

    // Any new run: on a slow machine it may have published and ended between two looks.
    const restarted = await waitFor(
      () => stack.client.workflow.getHandle(epicWorkflowId(epicId)).describe(),
      (description) => description.runId !== first.runId,
      500,
    );
    assert.equal(restarted.memo?.scheduleToken, first.memo?.scheduleToken, 'the same schedule');
    await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(stack.meta.receivedMatching(/\/feed$/, 'POST').length, feedBefore + 1, 'published once');
    const epic = await readEpic(setup.workspace, epicId);
    assert.equal(epic.status, 'published');
    const restarts = await stack.harness.database.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.subjectId, epicId), eq(auditEvents.action, 'restart_workflow')));
    assert.equal(restarts.length, 1, 'started again once');
    assert.equal(restarts[0]!.actor, 'sweep:operations');
    assert.equal(restarts[0]!.details.previousRun, 'terminated');
  });

  it('the sweep does not start a run again while a try of the terminated one may still be making its post live', async () => {
    if (!stack.worker) await stack.startWorker();
    const setup = await connectedWorkspace(stack, 'In flight');
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Held post');
    const feedBefore = stack.meta.receivedMatching(/\/feed$/, 'POST').length;
    const held = stack.meta.holdNext({ path: /\/feed$/, method: 'POST' });
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: new Date(Date.now() + 1_000).toISOString(),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    await held.reached;
    // As an epic scheduled long ago would be: past the sweep's settling time.
    await stack.harness.database.db.execute(
      sql`update epics set updated_at = now() - interval '10 minutes' where id = ${epicId}`,
    );
    const handle = stack.client.workflow.getHandle(epicWorkflowId(epicId));
    const first = await handle.describe();
    await handle.terminate('terminated while its post was on its way');
    // Several sweeps (every second) while the platform has the request and has not answered.
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    assert.equal((await handle.describe()).runId, first.runId, 'no new run while the try may go live');
    held.release();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.equal(
      stack.meta.receivedMatching(/\/feed$/, 'POST').length,
      feedBefore + 1,
      'one request to post',
    );
    const restarts = await stack.harness.database.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.subjectId, epicId), eq(auditEvents.action, 'restart_workflow')));
    assert.equal(restarts.length, 0);
  });
});
