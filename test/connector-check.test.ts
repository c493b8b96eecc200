// API-key connectors get a periodic credential check (a Temporal Schedule per connector): transient failures
// never flip the connector; Klaviyo refusing the key does, with one notification; disconnecting removes it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { and, eq } from 'drizzle-orm';
import { auditEvents, connectors, notifications } from '../db/schema.ts';
import { connectorCheckScheduleId } from '../workflows/connector-check-messages.ts';
import { createWorkspace } from './support/api.ts';
import { connectKlaviyo, klaviyoKey, useStack, waitFor } from './support/stack.ts';

const stack = useStack({ config: { CREDENTIAL_CHECK_INTERVAL_MS: '1000' } });

const connectorStatus = async (id: string) =>
  (await stack.harness.database.db.select().from(connectors).where(eq(connectors.id, id)))[0]!.status;
const accountChecks = () => stack.klaviyo.receivedMatching(/^\/api\/accounts$/, 'GET').length;

describe('the periodic credential check', () => {
  it('survives transient failures, flips on an invalid key, and is removed on disconnect', async () => {
    const workspace = await createWorkspace(stack.harness, 'Checked');
    const connector = await connectKlaviyo(workspace);
    const schedule = stack.client.schedule.getHandle(connectorCheckScheduleId(connector.id));
    const described = await schedule.describe();
    assert.equal(described.action.type, 'startWorkflow');

    // Two transient answers: the runs that get them end without touching the connector.
    stack.klaviyo.failWith('transient', { path: /^\/api\/accounts$/, method: 'GET', times: 2 });
    const before = accountChecks();
    await waitFor(
      async () => accountChecks(),
      (count) => count >= before + 4,
      200,
    );
    assert.equal(await connectorStatus(connector.id), 'connected');

    // Klaviyo now refuses the key: the next run flips the connector and notifies once.
    stack.klaviyo.failWith('invalid_key', { path: /^\/api\/accounts$/, method: 'GET', times: 1 });
    await waitFor(
      () => connectorStatus(connector.id),
      (status) => status === 'reconnect_required',
      200,
    );
    const flips = await stack.harness.database.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.subjectId, connector.id), eq(auditEvents.action, 'reconnect_required')));
    assert.equal(flips.length, 1);
    assert.ok(flips[0]!.actor.startsWith('schedule:connector-check-'), 'the audit says the check did it');
    const raised = await stack.harness.database.db
      .select()
      .from(notifications)
      .where(and(eq(notifications.workspaceId, workspace.id), eq(notifications.kind, 'reconnect_required')));
    assert.equal(raised.length, 1);

    const removed = await workspace.api.delete(`/v1/connectors/${connector.id}`);
    assert.equal(removed.statusCode, 200, removed.body);
    await assert.rejects(schedule.describe(), 'the schedule is gone');
  });

  it('a refusal of the key a reconnect replaced while the check waited flips nothing', async () => {
    const workspace = await createWorkspace(stack.harness, 'Replaced');
    const connector = await connectKlaviyo(workspace);
    // The next check's request waits; meanwhile the user reconnects (new sealed credentials).
    const held = stack.klaviyo.holdNext({ path: /^\/api\/accounts$/, method: 'GET' });
    await held.reached;
    const reconnected = await workspace.api.post(`/v1/connectors/${connector.id}/reconnect`, {
      apiKey: klaviyoKey,
    });
    assert.equal(reconnected.statusCode, 200, reconnected.body);
    const checksBefore = accountChecks();
    held.answer(stack.klaviyo.failureAnswer('invalid_key'));
    // Later checks (with the new credentials) go through; the connector is never flipped.
    const settled = await waitFor(
      async () => ({ status: await connectorStatus(connector.id), checks: accountChecks() }),
      ({ status, checks }) => status !== 'connected' || checks >= checksBefore + 3,
      200,
    );
    assert.equal(settled.status, 'connected');
    const flips = await stack.harness.database.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.subjectId, connector.id), eq(auditEvents.action, 'reconnect_required')));
    assert.equal(flips.length, 0);
  });
});
