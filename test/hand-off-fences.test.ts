// The hand-off activity against a real database and the Klaviyo simulator, run in an activity context
// without a worker, to play an attempt that outlives its schedule (a worker cut off from Temporal but not
// from Klaviyo): its late answer must not touch the hand-off that replaced it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { createEpicActivities } from '../activities/epic.ts';
import { publishPolicyFrom } from '../activities/index.ts';
import { createAdapters } from '../connectors/registry.ts';
import { epics, publications } from '../db/schema.ts';
import { type KlaviyoSimulator, klaviyoScopes, startKlaviyoSimulator } from '../sandbox/klaviyo.ts';
import { type ApiHarness, createWorkspace, startApiHarness } from './support/api.ts';
import { contentExamples } from './support/examples.ts';
import { klaviyoKey } from './support/stack.ts';

let klaviyo: KlaviyoSimulator;
let harness: ApiHarness;
before(async () => {
  klaviyo = await startKlaviyoSimulator({
    apiKeys: { [klaviyoKey]: { scopes: klaviyoScopes } },
    lists: [{ id: 'Y6nRLr', name: 'Newsletter' }],
    segments: [{ id: 'Xb2Kq9', name: 'VIP' }],
  });
  harness = await startApiHarness({ config: { KLAVIYO_API_BASE_URL: klaviyo.url } });
});
after(async () => {
  await harness?.close();
  await klaviyo?.close();
});

/** An epic with one Klaviyo email, written scheduled under `scheduleToken` as the API would. */
async function scheduledEmail(scheduleToken: string, scheduledAt: Date) {
  const workspace = await createWorkspace(harness, 'Fences');
  const connected = await workspace.api.post('/v1/connectors/klaviyo/connect', { apiKey: klaviyoKey });
  assert.equal(connected.statusCode, 201, connected.body);
  const epic = (await workspace.api.post('/v1/epics', { title: 'Fenced' })).json() as { id: string };
  const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
    channel: 'klaviyo_email',
    connectorId: connected.json().id,
    content: contentExamples.klaviyo_email,
  });
  assert.equal(task.statusCode, 201, task.body);
  await harness.database.db
    .update(epics)
    .set({ status: 'scheduled', scheduledAt, scheduleToken })
    .where(eq(epics.id, epic.id));
  return { epicId: epic.id, taskId: task.json().id as string };
}

describe('a hand-off attempt that outlives its schedule', () => {
  it('cancels only what it created, and leaves the hand-off that replaced it alone', async () => {
    const activities = createEpicActivities({
      db: harness.database.db,
      credentialsKeys: harness.config.CREDENTIALS_KEY,
      adapters: createAdapters(harness.config),
      policy: publishPolicyFrom(harness.config),
    });
    const run = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A) =>
      new MockActivityEnvironment().run(fn, ...args);
    const scheduledAt = new Date(Date.now() + 3_600_000);
    const { epicId, taskId } = await scheduledEmail('schedule-1', scheduledAt);
    await run(activities.loadEpicPlan, { epicId, scheduleToken: 'schedule-1' });
    const hand = (scheduleToken: string) =>
      run(activities.handOffTask, { epicId, taskId, scheduledAt: scheduledAt.toISOString(), scheduleToken });

    // Attempt A creates its send job; Klaviyo applies it, but the answer is slow to come back.
    const held = klaviyo.holdNext({ path: /^\/api\/campaign-send-jobs\/?$/, method: 'POST', acted: true });
    const attemptA = hand('schedule-1');
    await held.reached;
    const [first] = klaviyo.campaigns();
    assert.equal(first?.sendJob, 'queued');

    // Meanwhile the workflow withdrew that schedule, cancelled A's campaign and handed off anew.
    await run(activities.withdrawSchedule, { epicId, scheduleToken: 'schedule-2' });
    await run(activities.cancelHandOff, { epicId, taskId, actor: 'test' });
    assert.deepEqual(await hand('schedule-2'), { status: 'handed_off' });
    const [row] = await harness.database.db
      .select()
      .from(publications)
      .where(eq(publications.taskId, taskId));
    const second = klaviyo.campaigns().find((campaign) => campaign.id !== first!.id);
    assert.equal(row?.externalId, second?.id);

    // A's answer arrives at last: it was withdrawn, cancels its own campaign, and writes nothing else.
    held.release();
    await assert.rejects(attemptA, /withdrawn/);
    const [after] = await harness.database.db
      .select()
      .from(publications)
      .where(eq(publications.taskId, taskId));
    assert.equal(after?.status, 'handed_off');
    assert.equal(after?.externalId, second?.id);
    assert.equal(after?.handOffKey, row?.handOffKey);
    assert.deepEqual(
      klaviyo.campaigns().map((campaign) => [campaign.id, campaign.sendJob]),
      [
        [first!.id, 'cancelled'],
        [second!.id, 'queued'],
      ],
    );
  });
});
