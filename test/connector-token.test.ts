// The token-refresh workflow with short-lived tokens from the Meta simulator (45 s, so refreshed 4.5 s before
// expiry: the dev server spaces activity retries about a second apart, and three must fit): renewed and
// stored through transient failures without ever flipping the connector; a definitive refusal flips another
// connector to reconnect_required with its upcoming post at risk and one notification; a reconnect brings it
// back, with the workflow refreshing again.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { and, eq } from 'drizzle-orm';
import { auditEvents, notifications } from '../db/schema.ts';
import {
  connectorTokenWorkflowId,
  refreshMarginMs,
  tokenStateQuery,
} from '../workflows/connector-token-messages.ts';
import {
  connectedWorkspace,
  connectMeta,
  readEpic,
  replayEpicHistories,
  repoRoot,
  reviewedEpic,
  storedConnector,
  useStack,
  waitFor,
} from './support/stack.ts';

const stack = useStack({ meta: { longLivedTokenSeconds: 45 } });

const connectorRow = (id: string) => storedConnector(stack, id);
const auditActions = async (id: string) =>
  (await stack.harness.database.db.select().from(auditEvents).where(eq(auditEvents.subjectId, id))).map(
    (event) => event.action,
  );

describe('refresh margin', () => {
  it('is a tenth of the lifetime, at most 10 minutes, at least a second', () => {
    assert.equal(refreshMarginMs(60 * 86_400_000), 600_000);
    assert.equal(refreshMarginMs(60_000), 6_000);
    assert.equal(refreshMarginMs(8_000), 1_000);
  });
});

describe('the token-refresh workflow', () => {
  it('refreshes before expiry through transient failures; a refusal flips; a reconnect restores', async () => {
    // A is connected first and refreshes first; B, connected 8 s later, refreshes about 8 s after A, so each
    // injected failure reaches the connector it is meant for.
    const a = await connectedWorkspace(stack, 'Token A');
    const connectedAt = Date.now();
    await waitFor(
      async () => Date.now(),
      (now) => now >= connectedAt + 8_000,
      100,
    );
    const b = await connectedWorkspace(stack, 'Token B');
    const first = await connectorRow(a.meta.id);
    assert.ok(first.tokenExpiresAt, 'the token expiry is stored');
    const handleA = stack.client.workflow.getHandle(connectorTokenWorkflowId(a.meta.id));
    const waiting = await waitFor(
      () => handleA.query(tokenStateQuery).catch(() => null),
      (state) => state?.phase === 'waiting_to_refresh',
    );
    const refreshAt = Date.parse(waiting!.refreshAt!);
    assert.ok(refreshAt < first.tokenExpiresAt.getTime(), 'it plans to refresh before expiry');
    assert.ok(
      first.tokenExpiresAt.getTime() - refreshAt <= 4_600,
      'and only shortly before (a tenth of 45 s)',
    );

    // A: three transient failures, then success — renewed, stored, and never reconnect_required.
    stack.meta.failWith('transient', { path: /\/oauth\/access_token$/, method: 'GET', times: 3 });
    const exchangesBefore = stack.meta.receivedMatching(/\/oauth\/access_token$/, 'GET').length;
    await waitFor(
      () => auditActions(a.meta.id),
      (actions) => actions.includes('token_refreshed'),
    );
    const renewed = await connectorRow(a.meta.id);
    assert.equal(renewed.status, 'connected');
    assert.ok(renewed.tokenExpiresAt!.getTime() > first.tokenExpiresAt.getTime(), 'the new expiry is stored');
    assert.notDeepEqual(
      renewed.credentials,
      first.credentials,
      'the new token is sealed in place of the old',
    );
    assert.equal(stack.meta.receivedMatching(/\/oauth\/access_token$/, 'GET').length - exchangesBefore, 4);
    assert.equal((await auditActions(a.meta.id)).includes('reconnect_required'), false, 'never flipped');
    const aNotified = await stack.harness.database.db
      .select()
      .from(notifications)
      .where(eq(notifications.workspaceId, a.workspace.id));
    assert.deepEqual(aNotified, [], 'no notification for a transient failure');

    // B: an upcoming Instagram post, then a definitive refusal (Meta code 190) at its refresh.
    const { epicId } = await reviewedEpic(b, ['instagram_post'], 'Upcoming');
    const scheduled = await b.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    stack.meta.failWith('token_expired', { path: /\/oauth\/access_token$/, method: 'GET', times: 1 });
    const flipped = await waitFor(
      () => connectorRow(b.meta.id),
      (row) => row.status === 'reconnect_required',
    );
    assert.equal(flipped.lastError?.class, 'TOKEN_EXPIRED');
    const epic = (await readEpic(b.workspace, epicId)) as unknown as { atRisk: boolean };
    assert.equal(epic.atRisk, true, 'the upcoming epic is at risk');
    const raised = await stack.harness.database.db
      .select()
      .from(notifications)
      .where(
        and(eq(notifications.workspaceId, b.workspace.id), eq(notifications.kind, 'reconnect_required')),
      );
    assert.equal(raised.length, 1, 'one notification');
    const handleB = stack.client.workflow.getHandle(connectorTokenWorkflowId(b.meta.id));
    await waitFor(
      () => handleB.query(tokenStateQuery),
      (state) => state.phase === 'reconnect_required',
    );

    // B reconnects: the same connector, connected, at-risk cleared, and its workflow refreshing again.
    const again = await connectMeta(stack, b.workspace);
    assert.equal(again.id, b.meta.id);
    assert.equal((await connectorRow(b.meta.id)).status, 'connected');
    const cleared = (await readEpic(b.workspace, epicId)) as unknown as { atRisk: boolean };
    assert.equal(cleared.atRisk, false, 'the at-risk flag is cleared');
    await waitFor(
      () => handleB.query(tokenStateQuery),
      (state) => state.phase === 'waiting_to_refresh',
    );
    await b.workspace.api.post(`/v1/epics/${epicId}/unschedule`);

    // B's run went through a refusal, a wait and a reconnect: its history replays against the current code.
    const { failures } = await replayEpicHistories(stack, [connectorTokenWorkflowId(b.meta.id)]);
    assert.deepEqual(failures, []);
    if (process.env.RECORD_HISTORIES === '1') {
      const exported = await stack.temporalCli(
        'workflow',
        'show',
        '--workflow-id',
        connectorTokenWorkflowId(b.meta.id),
        '--output',
        'json',
      );
      writeFileSync(
        path.join(repoRoot, 'test', 'fixtures', 'histories', 'connector-token-01.json'),
        exported,
      );
    }
  });
});
