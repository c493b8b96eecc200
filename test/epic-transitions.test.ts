// Scheduling rules and transitions through the API: bad times and time zones, targets that are not ready,
// Klaviyo's edit lock (409, the epic stays scheduled), reschedule moving the hand-off, and a new run after
// an unschedule. Klaviyo's simulator locks campaigns within 10 minutes of their send time here.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rescheduleSignal, stateQuery } from '../workflows/epic-messages.ts';
import {
  connectedWorkspace,
  readEpic,
  reviewedEpic,
  useStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

const stack = useStack({ klaviyoEditLockSeconds: 600 });

const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();
const handedOff = (setup: Awaited<ReturnType<typeof connectedWorkspace>>, epicId: string) =>
  waitFor(
    async () =>
      (await readEpic(setup.workspace, epicId)).tasks.find((task) => task.channel === 'klaviyo_email'),
    (task) => task?.publication?.status === 'handed_off',
  );

describe('epic transitions through the API', () => {
  it('refuses bad times and time zones with a 400 naming the field, and accepts a wall time in a zone', async () => {
    const setup = await connectedWorkspace(stack, 'Times');
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Times');
    const cases: [Record<string, string>, string][] = [
      [{ scheduledAt: inSeconds(-120) }, 'body.scheduledAt: is more than a minute in the past'],
      [{ scheduledAt: inSeconds(60), timeZone: 'Mars/Olympus' }, 'body.timeZone'],
      [{ scheduledAt: '2027-01-15T09:00' }, 'body.scheduledAt'],
      [{ scheduledAt: 'tomorrow', timeZone: 'UTC' }, 'body.scheduledAt'],
      // A wall time the clocks skip: refused, naming its two valid readings (domain/time.ts).
      [
        { scheduledAt: '2031-03-09T02:30', timeZone: 'America/New_York' },
        'choose 2031-03-09T01:30-05:00 or 2031-03-09T03:30-04:00',
      ],
    ];
    for (const [body, mention] of cases) {
      const response = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, body);
      assert.equal(response.statusCode, 400, JSON.stringify(body));
      assert.ok(response.json().error.message.includes(mention), response.body);
    }
    assert.equal((await readEpic(setup.workspace, epicId)).status, 'review', 'nothing was scheduled');

    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: '2031-01-15T09:00',
      timeZone: 'America/Montreal',
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    assert.equal(scheduled.json().scheduledAt, '2031-01-15T14:00:00.000Z');
    assert.equal(scheduled.json().timeZone, 'America/Montreal');
    const again = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: inSeconds(60),
    });
    assert.equal(again.statusCode, 409);
    const unscheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(unscheduled.statusCode, 200, unscheduled.body);
  });

  it('refuses to schedule when a target account is not enabled, naming the task and the connector', async () => {
    const setup = await connectedWorkspace(stack, 'Targets');
    const { epicId, taskIds } = await reviewedEpic(setup, ['instagram_post', 'klaviyo_email'], 'Targets');
    const page = setup.meta.accounts.find((account) => account.kind === 'facebook_page')!;
    await setup.workspace.api.request({
      method: 'PUT',
      url: `/v1/connectors/${setup.meta.id}/accounts`,
      payload: { enabled: [page.id] },
    });
    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: inSeconds(60),
    });
    assert.equal(response.statusCode, 409);
    const error = response.json().error;
    assert.equal(error.code, 'TARGET_NOT_READY');
    assert.deepEqual(
      error.details.tasks.map((task: { taskId: string; connectorId: string }) => [
        task.taskId,
        task.connectorId,
      ]),
      [[taskIds.instagram_post, setup.meta.id]],
    );
    assert.ok(error.message.includes(taskIds.instagram_post!) && error.message.includes(setup.meta.id));
    assert.equal((await readEpic(setup.workspace, epicId)).status, 'review');
    assert.equal(
      stack.klaviyo.campaigns().filter((campaign) => campaign.name.includes(epicId.slice(0, 8))).length,
      0,
    );
  });

  it("answers 409 when Klaviyo's edit lock refuses the cancel, and the epic stays scheduled", async () => {
    const setup = await connectedWorkspace(stack, 'Locked');
    const { epicId } = await reviewedEpic(setup, ['klaviyo_email'], 'Locked');
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: inSeconds(300),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    await handedOff(setup, epicId);
    for (const [path, body] of [
      ['unschedule', undefined],
      ['edit', { confirm: true }],
    ] as const) {
      const response = await setup.workspace.api.post(`/v1/epics/${epicId}/${path}`, body);
      assert.equal(response.statusCode, 409, response.body);
      assert.equal(response.json().error.code, 'LOCKED_BY_PLATFORM');
    }
    const epic = await readEpic(setup.workspace, epicId);
    assert.equal(epic.status, 'scheduled');
    assert.equal(epic.tasks[0]!.publication!.status, 'handed_off');
    const state = await stack.client.workflow.getHandle(`epic-${epicId}`).query(stateQuery);
    assert.equal(state.status, 'scheduled');
    const campaign = stack.klaviyo
      .campaigns()
      .find((candidate) => candidate.name.includes(epicId.slice(0, 8)))!;
    assert.equal(campaign.sendJob, 'queued');
  });

  it('reschedule moves the Klaviyo hand-off to the new time and keeps one live campaign', async () => {
    const setup = await connectedWorkspace(stack, 'Reschedule');
    const { epicId } = await reviewedEpic(setup, ['facebook_post', 'klaviyo_email'], 'Moving');
    await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, { scheduledAt: inSeconds(3600) });
    await handedOff(setup, epicId);
    const newTime = inSeconds(7200);
    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/reschedule`, {
      scheduledAt: newTime,
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().scheduledAt, newTime);
    const campaigns = stack.klaviyo
      .campaigns()
      .filter((campaign) => campaign.name.includes(epicId.slice(0, 8)));
    assert.deepEqual(campaigns.map((campaign) => campaign.sendJob).sort(), ['cancelled', 'queued']);
    const live = campaigns.find((campaign) => campaign.sendJob === 'queued')!;
    assert.equal(Date.parse(live.sendAt!), Date.parse(newTime));
    const state = await stack.client.workflow.getHandle(`epic-${epicId}`).query(stateQuery);
    assert.equal(state.scheduledAt, newTime);
    const epic = await readEpic(setup.workspace, epicId);
    assert.equal(
      epic.tasks.find((task) => task.channel === 'klaviyo_email')!.publication!.externalId,
      live.id,
    );
    await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
  });

  it("a schedule travels whole (instant and zone) into the run and its reschedules, under the route's rule", async () => {
    const setup = await connectedWorkspace(stack, 'Zones');
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Zones');
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: '2031-07-01T09:00',
      timeZone: 'America/New_York',
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    const handle = stack.client.workflow.getHandle(`epic-${epicId}`);
    const started = (await handle.fetchHistory()).events![0]!.workflowExecutionStartedEventAttributes!;
    const input = JSON.parse(Buffer.from(started.input!.payloads![0]!.data!).toString());
    assert.equal(input.scheduledAt, '2031-07-01T13:00:00.000Z');
    assert.equal(input.timeZone, 'America/New_York');

    const moved = await setup.workspace.api.post(`/v1/epics/${epicId}/reschedule`, {
      scheduledAt: '2031-07-01T09:00',
      timeZone: 'Europe/Paris',
    });
    assert.equal(moved.statusCode, 200, moved.body);
    assert.equal(moved.json().scheduledAt, '2031-07-01T07:00:00.000Z');
    assert.equal(moved.json().timeZone, 'Europe/Paris');

    // An admin tool's signal is not checked by the API: a zone that does not exist is kept as none.
    await handle.signal(rescheduleSignal, {
      scheduledAt: '2031-07-02T07:00:00.000Z',
      timeZone: 'Mars/Olympus',
      requestedBy: 'admin',
    });
    const signalled = await waitFor(
      () => readEpic(setup.workspace, epicId),
      (epic) => epic.scheduledAt === '2031-07-02T07:00:00.000Z',
    );
    assert.equal(signalled.timeZone, null);

    // An instant in lower case is still one (RFC 3339 allows it; the route's pattern once refused it).
    const lowerCase = await setup.workspace.api.post(`/v1/epics/${epicId}/reschedule`, {
      scheduledAt: '2031-07-03t07:00:00z',
    });
    assert.equal(lowerCase.statusCode, 200, lowerCase.body);
    assert.equal(lowerCase.json().scheduledAt, '2031-07-03T07:00:00.000Z');

    // Within the minute of tolerance the route takes a past time as "now": so does the workflow.
    const feedBefore = stack.meta.receivedMatching(/\/feed$/, 'POST').length;
    const now = await setup.workspace.api.post(`/v1/epics/${epicId}/reschedule`, {
      scheduledAt: inSeconds(-20),
    });
    assert.equal(now.statusCode, 200, now.body);
    assert.equal(now.json().timeZone, null);
    await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(stack.meta.receivedMatching(/\/feed$/, 'POST').length, feedBefore + 1);
  });

  it('scheduling again after an unschedule starts a new run with the same workflow id', async () => {
    const setup = await connectedWorkspace(stack, 'Again');
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Again');
    await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, { scheduledAt: inSeconds(3600) });
    const handle = stack.client.workflow.getHandle(`epic-${epicId}`);
    const firstRun = (await handle.describe()).runId;
    assert.equal((await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`)).statusCode, 200);
    await handle.result();
    const feedBefore = stack.meta.receivedMatching(/\/feed$/, 'POST').length;
    const again = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: inSeconds(2),
    });
    assert.equal(again.statusCode, 200, again.body);
    const secondRun = (await stack.client.workflow.getHandle(`epic-${epicId}`).describe()).runId;
    assert.notEqual(secondRun, firstRun);
    await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(stack.meta.receivedMatching(/\/feed$/, 'POST').length, feedBefore + 1);
  });
});
