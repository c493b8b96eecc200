// Mailchimp real scheduling end to end, through HTTP: real Temporal, real PostgreSQL, the Mailchimp simulator
// connected through its OAuth consent. The epic's instant reaches Mailchimp as the campaign's schedule_time;
// unschedule, reschedule, a lost answer and Mailchimp's refusal once sending behave as the product promises.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rescheduleSignal } from '../workflows/epic-messages.ts';
import { createWorkspace, type TestWorkspace } from './support/api.ts';
import { contentExamples } from './support/examples.ts';
import { connectOAuth } from './support/platforms.ts';
import { readEpic, useStack, waitFor, waitForStatus } from './support/stack.ts';

const stack = useStack({ platforms: {} });

const quarterHourMs = 15 * 60 * 1000;
/** The audience the example content addresses (the simulator's Newsletter list). */
const newsletter = 'a1b2c3d4e5';
/** A day far enough ahead that every time of it is in the future, whatever time the suite runs. */
const day = new Date(Date.now() + 2 * 24 * 60 * 60 * 1000).toISOString().slice(0, 10);
const at = (time: string) => `${day}T${time}:00.000Z`;

const mailchimp = () => stack.platforms!.mailchimp;
/** The campaigns of one epic: their titles carry the hand-off key, which begins with the epic's id. */
const campaignsOf = (epicId: string) =>
  mailchimp()
    .campaigns()
    .filter((campaign) => campaign.title.includes(epicId.slice(0, 8)));

interface Setup {
  workspace: TestWorkspace;
  connectorId: string;
}

let connected: Promise<Setup> | undefined;
/** One workspace with Mailchimp connected through its consent, shared by the tests. */
function setup(): Promise<Setup> {
  connected ??= (async () => {
    const workspace = await createWorkspace(stack.harness, 'Mailchimp scheduling');
    const connector = await connectOAuth(stack.harness.app, workspace, 'mailchimp');
    return { workspace, connectorId: connector.id };
  })();
  return connected;
}

/** A reviewed epic with one Mailchimp email to the Newsletter audience. */
async function reviewedEmail(title: string) {
  const { workspace, connectorId } = await setup();
  const epic = (await workspace.api.post('/v1/epics', { title })).json() as { id: string };
  const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
    channel: 'mailchimp_email',
    connectorId,
    content: contentExamples.mailchimp_email,
  });
  assert.equal(task.statusCode, 201, task.body);
  await workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.json().id}/approve`);
  const review = await workspace.api.post(`/v1/epics/${epic.id}/review`);
  assert.equal(review.statusCode, 200, review.body);
  return { workspace, epicId: epic.id };
}

const publicationOf = async (workspace: TestWorkspace, epicId: string) =>
  (await readEpic(workspace, epicId)).tasks[0]?.publication ?? null;

/** Waits until the email is handed off under an id other than `previous`; returns that publication. */
const handedOff = (workspace: TestWorkspace, epicId: string, previous: string | null = null) =>
  waitFor(
    () => publicationOf(workspace, epicId),
    (publication) => publication?.status === 'handed_off' && publication.externalId !== previous,
  ) as Promise<NonNullable<Awaited<ReturnType<typeof publicationOf>>>>;

async function schedule(workspace: TestWorkspace, epicId: string, scheduledAt: string) {
  const response = await workspace.api.post(`/v1/epics/${epicId}/schedule`, { scheduledAt });
  assert.equal(response.statusCode, 200, response.body);
}

describe('Mailchimp real scheduling', () => {
  it('an email for two audiences, or leaving one out, is refused when the task is written', async () => {
    const { workspace, connectorId } = await setup();
    const epic = (await workspace.api.post('/v1/epics', { title: 'Two lists' })).json() as { id: string };
    for (const audiences of [
      { included: [newsletter, 'f6g7h8i9j0'] },
      { included: [newsletter], excluded: ['f6g7h8i9j0'] },
    ]) {
      const refused = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
        channel: 'mailchimp_email',
        connectorId,
        content: { ...contentExamples.mailchimp_email, audiences },
      });
      assert.equal(refused.statusCode, 400, refused.body);
      assert.match(refused.json().error.message, /body\.content\.audiences\.(included|excluded): Mailchimp/);
    }
  });

  it('10:07 is refused naming 10:00 and 10:15; 10:15 is handed off for exactly 10:15; unschedule deletes it', async () => {
    const { workspace, epicId } = await reviewedEmail('Quarter hours');
    const refused = await workspace.api.post(`/v1/epics/${epicId}/schedule`, { scheduledAt: at('10:07') });
    assert.equal(refused.statusCode, 400, refused.body);
    assert.match(refused.json().error.message, new RegExp(`${day}T10:00Z or ${day}T10:15Z`));
    assert.equal((await readEpic(workspace, epicId)).status, 'review');
    assert.deepEqual(campaignsOf(epicId), [], 'nothing was created anywhere');

    await schedule(workspace, epicId, at('10:15'));
    const publication = await handedOff(workspace, epicId);
    const [campaign, ...others] = campaignsOf(epicId);
    assert.equal(others.length, 0);
    assert.equal(campaign?.id, publication.externalId);
    assert.equal(campaign?.status, 'schedule');
    assert.equal(campaign?.scheduleTime, at('10:15'), 'scheduled for exactly the epic’s instant');
    assert.equal(campaign?.listId, newsletter);
    assert.ok(campaign?.html?.includes('shop'), 'the HTML is set');

    const unscheduled = await workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(unscheduled.statusCode, 200, unscheduled.body);
    assert.equal(unscheduled.json().status, 'review');
    await stack.client.workflow.getHandle(`epic-${epicId}`).result();
    assert.deepEqual(campaignsOf(epicId), [], 'unscheduled, then deleted: nothing can send');
    assert.equal(mailchimp().receivedMatching(`/campaigns/${campaign!.id}/actions/send`).length, 0);
    assert.equal((await publicationOf(workspace, epicId))?.status, 'cancelled');
  });

  it('fourteen emails of one account scheduled at once are handed off within Mailchimp’s 10 connections at once: none refused, each scheduled once', async () => {
    // Each request takes 150 ms to answer, so the hand-offs' requests overlap as they would on the network.
    mailchimp().setLatency(150);
    mailchimp().takeConnectionPeak();
    const refusedBefore = mailchimp().connectionRefusals().length;
    try {
      const emails: { workspace: TestWorkspace; epicId: string }[] = [];
      for (let index = 1; index <= 14; index += 1) emails.push(await reviewedEmail(`Crowd ${index}`));
      mailchimp().takeConnectionPeak();
      await Promise.all(emails.map(({ workspace, epicId }) => schedule(workspace, epicId, at('13:30'))));
      for (const { workspace, epicId } of emails) await handedOff(workspace, epicId);

      assert.deepEqual(mailchimp().connectionRefusals().slice(refusedBefore), [], 'Mailchimp refused none');
      const peak = mailchimp().takeConnectionPeak();
      // Two of Mailchimp's 10 are left to calls that hold none (see the next test).
      assert.ok(peak <= 8 && peak >= 4, `at most 8 at once (${peak})`);
      for (const { workspace, epicId } of emails) {
        const scheduled = campaignsOf(epicId).filter((campaign) => campaign.status === 'schedule');
        assert.equal(scheduled.length, 1, `${epicId}: one scheduled campaign`);
        assert.equal((await publicationOf(workspace, epicId))?.attempts, 1, 'on its first attempt');
      }
    } finally {
      mailchimp().setLatency(0);
    }
  });

  it('an unschedule while hand-offs use every connection Glowtify may: its cancel still gets one, nothing sends', async () => {
    const first = await reviewedEmail('Unscheduled in the crowd');
    await schedule(first.workspace, first.epicId, at('14:00'));
    const publication = await handedOff(first.workspace, first.epicId);
    const crowd: { workspace: TestWorkspace; epicId: string }[] = [];
    for (let index = 1; index <= 12; index += 1) crowd.push(await reviewedEmail(`Slow crowd ${index}`));
    const refusedBefore = mailchimp().connectionRefusals().length;
    // Every request now takes 2.5 s: the crowd's hand-offs hold their connections open.
    mailchimp().setLatency(2_500);
    try {
      await Promise.all(crowd.map(({ workspace, epicId }) => schedule(workspace, epicId, at('14:15'))));
      await waitFor(
        async () => mailchimp().openConnections(),
        (open) => open >= 8,
      );
      const unscheduled = await first.workspace.api.post(`/v1/epics/${first.epicId}/unschedule`);
      assert.equal(unscheduled.statusCode, 200, unscheduled.body);
      assert.equal(unscheduled.json().status, 'review');
      assert.equal(
        campaignsOf(first.epicId).filter((campaign) => campaign.id === publication.externalId).length,
        0,
        'its campaign is deleted: nothing can send',
      );
      mailchimp().setLatency(0);
      for (const { workspace, epicId } of crowd) await handedOff(workspace, epicId);
      assert.deepEqual(mailchimp().connectionRefusals().slice(refusedBefore), [], 'Mailchimp refused none');
    } finally {
      mailchimp().setLatency(0);
    }
  });

  it('reschedule leaves exactly one scheduled campaign, at the new time', async () => {
    const { workspace, epicId } = await reviewedEmail('Moved');
    await schedule(workspace, epicId, at('11:00'));
    const first = await handedOff(workspace, epicId);

    const moved = await workspace.api.post(`/v1/epics/${epicId}/reschedule`, { scheduledAt: at('11:30') });
    assert.equal(moved.statusCode, 200, moved.body);
    const second = await handedOff(workspace, epicId, first.externalId);
    const campaigns = campaignsOf(epicId);
    assert.equal(campaigns.length, 1, 'exactly one campaign');
    assert.equal(campaigns[0]?.id, second.externalId);
    assert.equal(campaigns[0]?.status, 'schedule');
    assert.equal(campaigns[0]?.scheduleTime, at('11:30'));
  });

  it('a lost answer to the create, then the retry: exactly one campaign, scheduled', async () => {
    const { workspace, epicId } = await reviewedEmail('Lost answer');
    const creates = () => mailchimp().receivedMatching(/^\/3\.0\/campaigns$/, 'POST').length;
    const before = creates();
    // Mailchimp creates the campaign, but its answer never arrives: the attempt does not know its id.
    mailchimp().dropAnswerNext({ path: /^\/3\.0\/campaigns$/, method: 'POST' });
    await schedule(workspace, epicId, at('12:00'));
    const publication = await handedOff(workspace, epicId);
    assert.ok(publication.attempts >= 2, 'handed off by a retry');
    assert.equal(creates() - before, 1, 'created once');
    const campaigns = campaignsOf(epicId);
    assert.equal(campaigns.length, 1);
    assert.equal(campaigns[0]?.id, publication.externalId);
    assert.equal(campaigns[0]?.scheduleTime, at('12:00'));
  });

  it('Mailchimp refusing the unschedule once it is sending → 409, the epic stays scheduled', async () => {
    const { workspace, epicId } = await reviewedEmail('Already sending');
    await schedule(workspace, epicId, at('12:15'));
    const publication = await handedOff(workspace, epicId);
    // Mailchimp's clock is ahead of ours (or someone pressed send in Mailchimp): delivery has begun.
    mailchimp().beginSending(publication.externalId!);

    const response = await workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(response.statusCode, 409, response.body);
    assert.equal(response.json().error.code, 'LOCKED_BY_PLATFORM');
    const epic = await readEpic(workspace, epicId);
    assert.equal(epic.status, 'scheduled');
    assert.equal(epic.scheduledAt, at('12:15'));
    assert.equal(epic.tasks[0]?.publication?.status, 'handed_off');
    assert.equal(epic.tasks[0]?.publication?.externalId, publication.externalId);
    assert.deepEqual(
      campaignsOf(epicId).map((campaign) => campaign.status),
      ['sending'],
    );
  });

  it('confirmation: once Mailchimp has sent it, the publication and the epic are published', async () => {
    const { workspace, epicId } = await reviewedEmail('Confirmed');
    const quarter = Math.ceil((Date.now() + 2 * 60 * 1000) / quarterHourMs) * quarterHourMs;
    await schedule(workspace, epicId, new Date(quarter).toISOString());
    const scheduled = await handedOff(workspace, epicId);

    // An operator moves the send to a few seconds from now (the API takes quarter-hours only, so that the
    // test need not wait for one): the campaign is moved, and sent with actions/send once its time has come.
    const soon = new Date(Date.now() + 5_000);
    await stack.client.workflow
      .getHandle(`epic-${epicId}`)
      .signal(rescheduleSignal, { scheduledAt: soon.toISOString(), requestedBy: 'ops@glowtify' });

    const published = await waitForStatus(workspace, epicId, 'published');
    const publication = published.tasks[0]?.publication;
    assert.equal(publication?.status, 'published');
    assert.notEqual(publication?.externalId, scheduled.externalId);
    const campaigns = campaignsOf(epicId);
    assert.deepEqual(
      campaigns.map((campaign) => [campaign.id, campaign.status]),
      [[publication?.externalId, 'sent']],
    );
    const [send, ...more] = mailchimp().receivedMatching(
      `/campaigns/${publication?.externalId}/actions/send`,
    );
    assert.equal(more.length, 0, 'sent once');
    assert.ok(send!.receivedAt.getTime() >= soon.getTime(), 'never sent before its time');
    // Mailchimp's send_time counts whole seconds.
    assert.ok(Date.parse(publication!.publishedAt!) >= Math.floor(soon.getTime() / 1000) * 1000);
    assert.equal(Date.parse(published.scheduledAt!), soon.getTime());
  });
});
