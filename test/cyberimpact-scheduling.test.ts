// CyberImpact real scheduling end to end, through the API on the real stack (Temporal, PostgreSQL, worker) and
// the CyberImpact simulator: the mailing is created at schedule time for exactly the epic's instant, deleted on
// unschedule, replaced by one copy on reschedule, confirmed once sent; a lost answer never makes two mailings,
// and a mailing CyberImpact already started sending makes the unschedule a 409 with the epic still scheduled.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { handOffMarker } from '../connectors/cyberimpact.ts';
import { createWorkspace } from './support/api.ts';
import { contentExamples } from './support/examples.ts';
import { cyberImpactToken } from './support/platforms.ts';
import { readEpic, useStack, waitFor, waitForStatus } from './support/stack.ts';

const stack = useStack({ platforms: {} });
const cyberImpact = () => {
  const sim = stack.platforms?.cyberimpact;
  if (!sim) throw new Error('the CyberImpact simulator is not running');
  return sim;
};

/** A whole second this many seconds ahead (`sendAt` has no fraction, so the mailing's time is exact). */
const wholeSecondIn = (seconds: number) => new Date(Math.ceil((Date.now() + seconds * 1000) / 1000) * 1000);

/** The mailings of one epic: their hand-off keys, hidden in the HTML, begin with the epic's id. */
const epicMailings = (epicId: string) =>
  cyberImpact()
    .mailings()
    .filter((mailing) => mailing.bodyHtml?.includes(handOffMarker(epicId.slice(0, 8)).replace(' -->', '')));

/** A workspace with CyberImpact connected and an epic in review with one cyberimpact_email task. */
async function reviewedCyberImpactEpic(name: string) {
  const workspace = await createWorkspace(stack.harness, name);
  const connected = await workspace.api.post('/v1/connectors/cyberimpact/connect', {
    apiKey: cyberImpactToken,
  });
  assert.equal(connected.statusCode, 201, connected.body);
  const epic = (await workspace.api.post('/v1/epics', { title: name })).json() as { id: string };
  const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
    channel: 'cyberimpact_email',
    connectorId: connected.json().id,
    content: contentExamples.cyberimpact_email,
  });
  assert.equal(task.statusCode, 201, task.body);
  await workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.json().id}/approve`);
  const review = await workspace.api.post(`/v1/epics/${epic.id}/review`);
  assert.equal(review.statusCode, 200, review.body);
  return { workspace, epicId: epic.id };
}

type Setup = Awaited<ReturnType<typeof reviewedCyberImpactEpic>>;

async function schedule({ workspace, epicId }: Setup, at: Date, route = 'schedule') {
  const response = await workspace.api.post(`/v1/epics/${epicId}/${route}`, {
    scheduledAt: at.toISOString(),
  });
  assert.equal(response.statusCode, 200, response.body);
}

/** Waits until the email is handed off (under another mailing than `previous`, after a reschedule). */
const handedOff = ({ workspace, epicId }: Setup, previous?: string | null) =>
  waitFor(
    async () => (await readEpic(workspace, epicId)).tasks[0]?.publication,
    (publication) => publication?.status === 'handed_off' && publication.externalId !== previous,
  );

describe('CyberImpact real scheduling', () => {
  it('hands CyberImpact one mailing for exactly the epic’s time, then publishes once CyberImpact sent it', async () => {
    const setup = await reviewedCyberImpactEpic('CyberImpact full path');
    const at = wholeSecondIn(8);
    await schedule(setup, at);
    const publication = await handedOff(setup);
    assert.ok(Date.now() < at.getTime(), 'handed off before the time');

    const [mailing, ...others] = epicMailings(setup.epicId);
    assert.ok(mailing);
    assert.equal(others.length, 0, 'exactly one mailing');
    assert.equal(publication?.externalId, String(mailing.id));
    assert.equal(mailing.status, 'scheduled');
    assert.equal(
      mailing.scheduledFor.toISOString(),
      at.toISOString(),
      'scheduled for exactly the epic’s time',
    );
    assert.deepEqual(mailing.groups, [11, 12]);
    assert.equal(mailing.language, 'fr_ca');

    const published = await waitForStatus(setup.workspace, setup.epicId, 'published');
    const email = published.tasks[0]?.publication;
    assert.equal(email?.status, 'published');
    assert.equal(email?.externalId, String(mailing.id));
    assert.equal(email?.publishedAt, at.toISOString(), 'sent at its time, as CyberImpact reports it');
    assert.equal(epicMailings(setup.epicId).length, 1, 'still one mailing');
  });

  it('unschedule deletes the mailing: nothing is sent', async () => {
    const setup = await reviewedCyberImpactEpic('CyberImpact unschedule');
    await schedule(setup, wholeSecondIn(60));
    await handedOff(setup);
    const response = await setup.workspace.api.post(`/v1/epics/${setup.epicId}/unschedule`);
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().status, 'review');
    assert.deepEqual(
      epicMailings(setup.epicId).map((mailing) => mailing.status),
      ['deleted'],
    );
    assert.equal((await readEpic(setup.workspace, setup.epicId)).tasks[0]?.publication?.status, 'cancelled');
  });

  it('reschedule leaves exactly one scheduled copy, at the new time', async () => {
    const setup = await reviewedCyberImpactEpic('CyberImpact reschedule');
    await schedule(setup, wholeSecondIn(60));
    const first = await handedOff(setup);
    const moved = wholeSecondIn(90);
    await schedule(setup, moved, 'reschedule');
    const second = await handedOff(setup, first?.externalId);

    const mailings = epicMailings(setup.epicId);
    assert.deepEqual(
      mailings.map((mailing) => [String(mailing.id), mailing.status]),
      [
        [first?.externalId, 'deleted'],
        [second?.externalId, 'scheduled'],
      ],
    );
    assert.equal(mailings[1]?.scheduledFor.toISOString(), moved.toISOString());
    assert.equal((await setup.workspace.api.post(`/v1/epics/${setup.epicId}/unschedule`)).statusCode, 200);
  });

  it('a create whose answer was lost is found on the retry: exactly one mailing', async () => {
    const setup = await reviewedCyberImpactEpic('CyberImpact lost answer');
    const createsBefore = cyberImpact().receivedMatching(/^\/mailings$/, 'POST').length;
    cyberImpact().dropAnswerNext({ method: 'POST', path: /^\/mailings$/ });
    await schedule(setup, wholeSecondIn(60));
    const publication = await handedOff(setup);

    const mailings = epicMailings(setup.epicId);
    assert.equal(mailings.length, 1, 'exactly one mailing');
    assert.equal(publication?.externalId, String(mailings[0]?.id));
    assert.equal(cyberImpact().receivedMatching(/^\/mailings$/, 'POST').length - createsBefore, 1);
    assert.equal(publication?.attempts, 2, 'the lost answer, then the retry that found it');
    assert.equal((await setup.workspace.api.post(`/v1/epics/${setup.epicId}/unschedule`)).statusCode, 200);
    assert.equal(epicMailings(setup.epicId)[0]?.status, 'deleted');
  });

  it('a mailing CyberImpact is already sending cannot be deleted: unschedule answers 409, the epic stays scheduled', async () => {
    const setup = await reviewedCyberImpactEpic('CyberImpact locked');
    await schedule(setup, wholeSecondIn(60));
    const publication = await handedOff(setup);
    cyberImpact().beginSending(Number(publication?.externalId));

    const response = await setup.workspace.api.post(`/v1/epics/${setup.epicId}/unschedule`);
    assert.equal(response.statusCode, 409, response.body);
    assert.equal(response.json().error.code, 'LOCKED_BY_PLATFORM');
    const epic = await readEpic(setup.workspace, setup.epicId);
    assert.equal(epic.status, 'scheduled');
    assert.equal(epic.tasks[0]?.publication?.status, 'handed_off');
    assert.equal(epic.tasks[0]?.publication?.externalId, publication?.externalId);
    assert.deepEqual(
      epicMailings(setup.epicId).map((mailing) => mailing.status),
      ['sending'],
    );
  });

  it('an unschedule while the create is on its way: the mailing CyberImpact makes after it is deleted', async () => {
    const setup = await reviewedCyberImpactEpic('CyberImpact mid-create');
    const held = cyberImpact().holdNext({ method: 'POST', path: /^\/mailings$/ });
    await schedule(setup, wholeSecondIn(3600));
    await held.reached;
    const unscheduled = await setup.workspace.api.post(`/v1/epics/${setup.epicId}/unschedule`);
    assert.equal(unscheduled.statusCode, 200, unscheduled.body);
    // CyberImpact applies the create only now: the attempt waiting for its answer finds its schedule
    // withdrawn and deletes what it made.
    held.release();
    const mailings = await waitFor(
      async () => epicMailings(setup.epicId),
      (found) => found.length > 0 && found.every((mailing) => mailing.status === 'deleted'),
    );
    assert.equal(mailings.length, 1, 'exactly one mailing was made, and it is deleted');
    assert.equal((await readEpic(setup.workspace, setup.epicId)).status, 'review');
  });
});
