// An epic whose history grows with transitions while it sleeps continues as new, carrying its schedule, and
// still publishes once at its time. The dev server suggests a new run after 60 events here (Temporal's
// default is thousands), so a few reschedules are enough.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  connectedWorkspace,
  replayEpicHistories,
  reviewedEpic,
  useStack,
  waitForStatus,
} from './support/stack.ts';

const stack = useStack({ temporalDynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 60 } });

const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();

describe('a long history', () => {
  it('continues as new while sleeping, and the new run publishes once at the time', async () => {
    const setup = await connectedWorkspace(stack, 'Long history');
    const { epicId } = await reviewedEpic(setup, ['facebook_post', 'klaviyo_email'], 'Often moved');
    const feedBefore = stack.meta.receivedMatching(/\/feed$/, 'POST').length;
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: inSeconds(3600),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    const handle = stack.client.workflow.getHandle(`epic-${epicId}`);
    const firstRun = (await handle.describe()).runId;

    for (const seconds of [3000, 2400, 1800, 1200]) {
      const moved = await setup.workspace.api.post(`/v1/epics/${epicId}/reschedule`, {
        scheduledAt: inSeconds(seconds),
      });
      assert.equal(moved.statusCode, 200, moved.body);
    }
    const latest = await handle.describe();
    assert.notEqual(latest.runId, firstRun, 'the run continued as new');
    assert.equal(latest.status.name, 'RUNNING');
    const first = await stack.client.workflow.getHandle(`epic-${epicId}`, firstRun).describe();
    assert.equal(first.status.name, 'CONTINUED_AS_NEW');

    const at = inSeconds(4);
    const moved = await setup.workspace.api.post(`/v1/epics/${epicId}/reschedule`, { scheduledAt: at });
    assert.equal(moved.statusCode, 200, moved.body);
    await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(stack.meta.receivedMatching(/\/feed$/, 'POST').length, feedBefore + 1, 'posted once');
    const campaigns = stack.klaviyo
      .campaigns()
      .filter((campaign) => campaign.name.includes(epicId.slice(0, 8)));
    // At the last time, or "send now" when the hand-off of a time 4 s away came within Klaviyo's margin
    // (a loaded machine): one email either way.
    const sent = campaigns.filter((campaign) => campaign.status === 'Sent');
    assert.equal(sent.length, 1, 'one email');
    assert.ok(sent[0]!.sendAt === null || sent[0]!.sendAt === at, `sent at ${sent[0]!.sendAt}, not ${at}`);
    const { failures } = await replayEpicHistories(stack, [`epic-${epicId}`]);
    assert.deepEqual(failures, []);
  });
});
