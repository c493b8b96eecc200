// Pre-flight end to end (real Temporal, PostgreSQL, worker, the Meta simulator and a media host): epics
// scheduled 20 s ahead with a 15 s pre-flight window are checked when scheduled and again 15 s before the
// time. A media URL that answers 404, a Meta permission revoked after scheduling and a disabled Instagram
// account are each flagged at risk with one notification before the time, measured against the simulators'
// record of the check's requests; a 503 during the checks flags nothing; every epic stays scheduled.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type MediaSimulator, startMediaSimulator } from '../sandbox/media.ts';
import type { RecordedRequest } from '../sandbox/simulator-server.ts';
import {
  type ConnectedWorkspace,
  connectedWorkspace,
  recordedRuns,
  storedCredentials,
  useStack,
  waitFor,
} from './support/stack.ts';

const aheadMs = 15_000;
const stack = useStack({
  config: { PREFLIGHT_AHEAD_MS: String(aheadMs), MEDIA_ALLOW_PRIVATE_HOSTS: 'true' },
});
const runs = recordedRuns('epic-preflight');
let media: MediaSimulator;
before(async () => {
  media = await startMediaSimulator();
});
after(async () => media?.close());

type Channel = 'facebook_post' | 'instagram_story';

interface PublicationBody {
  status: string;
  atRisk: boolean;
  atRiskReason: string | null;
}
interface EpicBody {
  status: string;
  atRisk: boolean;
  tasks: { id: string; publication: PublicationBody | null }[];
}

/** A reviewed epic with these tasks, scheduled 20 s ahead: the check inside the window comes 5 s later. */
async function scheduledSoon(setup: ConnectedWorkspace, channel: Channel, content: Record<string, unknown>) {
  const { workspace } = setup;
  const epic = (await workspace.api.post('/v1/epics', { title: `Pre-flight ${channel}` })).json() as {
    id: string;
  };
  const kind = channel === 'facebook_post' ? 'facebook_page' : 'instagram_account';
  const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
    channel,
    connectorId: setup.meta.id,
    accountId: setup.meta.accounts.find((account) => account.kind === kind)!.id,
    content,
  });
  assert.equal(task.statusCode, 201, task.body);
  await workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.json().id}/approve`);
  assert.equal((await workspace.api.post(`/v1/epics/${epic.id}/review`)).statusCode, 200);
  const scheduledAt = new Date(Date.now() + 20_000);
  const scheduled = await runs.schedule(setup, epic.id, scheduledAt.toISOString());
  assert.equal(scheduled.statusCode, 200, scheduled.body);
  const read = async () => (await workspace.api.get(`/v1/epics/${epic.id}`)).json() as EpicBody;
  // Null until the run's first activity has created it.
  const publication = async () =>
    (await read()).tasks[0]!.publication ?? { status: 'pending', atRisk: false, atRiskReason: null };
  const notices = async () =>
    (
      (await workspace.api.get('/v1/notifications')).json().items as { kind: string; message: string }[]
    ).filter((item) => item.kind === 'publications_at_risk');
  return { epicId: epic.id, scheduledAt, read, publication, notices };
}

/** Still before the time, by our clock and by the simulator's record of the check's request. */
function beforeTheTime(request: RecordedRequest | undefined, scheduledAt: Date) {
  assert.ok(request, 'the check reached the platform');
  assert.ok(request.receivedAt < scheduledAt, `checked at ${request.receivedAt.toISOString()}`);
  assert.ok(Date.now() < scheduledAt.getTime(), 'the flag is seen before the time');
}

async function unschedule(setup: ConnectedWorkspace, epicId: string) {
  const response = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
  assert.equal(response.statusCode, 200, response.body);
}

describe('the pre-flight check before the time', () => {
  it('flags a media URL that answers 404 with one notification, when scheduled and still 15 s before', async () => {
    const setup = await connectedWorkspace(stack, 'Gone media');
    const path = `/${randomUUID()}/spring.jpg`;
    const epic = await scheduledSoon(setup, 'facebook_post', {
      text: 'Spring!',
      mediaUrls: [media.urlOf(path)],
    });
    const heads = () => media.receivedMatching(path, 'HEAD');
    const flagged = await waitFor(epic.publication, (publication) => publication.atRisk);
    assert.equal(flagged.atRiskReason, `Pre-flight: the media URL ${media.urlOf(path)} answers 404`);
    beforeTheTime(heads()[0], epic.scheduledAt);

    // The check inside the window finds the same: no second notification.
    await waitFor(
      async () => heads().length,
      (count) => count >= 2,
    );
    const windowCheck = heads()[1]!;
    assert.ok(windowCheck.receivedAt.getTime() >= epic.scheduledAt.getTime() - aheadMs - 1_000);
    await waitFor(
      async () => Date.now(),
      (now) => now > windowCheck.receivedAt.getTime() + 1_000,
    );
    beforeTheTime(windowCheck, epic.scheduledAt);
    const notices = await epic.notices();
    assert.equal(notices.length, 1, 'one notification');
    assert.match(notices[0]!.message, /facebook_post: the media URL .* answers 404/);
    const read = await epic.read();
    assert.equal(read.status, 'scheduled');
    assert.equal(read.atRisk, true);
    assert.equal(read.tasks[0]!.publication!.atRisk, true);
    await unschedule(setup, epic.epicId);
  });

  it('flags a Meta permission revoked after scheduling at the check 15 s before the time', async () => {
    const setup = await connectedWorkspace(stack, 'Revoked');
    const { userAccessToken, pages } = (await storedCredentials(stack, setup.meta.id)) as unknown as {
      userAccessToken: string;
      pages: Record<string, { accessToken: string }>;
    };
    const asked = () =>
      stack.meta
        .receivedMatching(/\/me\/permissions$/, 'GET')
        .filter((request) => request.headers.authorization === `Bearer ${userAccessToken}`);
    const pageReads = () =>
      stack.meta
        .receivedMatching(/\/1001$/, 'GET')
        .filter((request) => request.headers.authorization === `Bearer ${pages['1001']!.accessToken}`);
    const epic = await scheduledSoon(setup, 'facebook_post', { text: 'Hello' });
    // The check made when it was scheduled finds nothing wrong; then the person removes a permission.
    await waitFor(
      async () => pageReads().length,
      (count) => count >= 1,
    );
    assert.equal((await epic.publication()).atRisk, false);
    stack.meta.revokePermission('pages_manage_posts', { userToken: userAccessToken });

    const flagged = await waitFor(epic.publication, (publication) => publication.atRisk);
    assert.equal(
      flagged.atRiskReason,
      'Pre-flight: Meta no longer grants pages_manage_posts: reconnect Meta and allow it',
    );
    const windowCheck = asked()[1];
    beforeTheTime(windowCheck, epic.scheduledAt);
    assert.ok(windowCheck!.receivedAt.getTime() >= epic.scheduledAt.getTime() - aheadMs - 1_000);
    assert.equal((await epic.notices()).length, 1);
    assert.equal((await epic.read()).status, 'scheduled');
    await unschedule(setup, epic.epicId);
  });

  it('flags an Instagram account Meta has disabled', async () => {
    const setup = await connectedWorkspace(stack, 'Disabled');
    const instagramId = setup.meta.accounts.find(
      (account) => account.kind === 'instagram_account',
    )!.externalId;
    stack.meta.deactivateAccount(instagramId);
    try {
      const story = media.put(`/${randomUUID()}/story.jpg`, { contentType: 'image/jpeg', bytes: 50_000 });
      const epic = await scheduledSoon(setup, 'instagram_story', { mediaUrl: story });
      const flagged = await waitFor(epic.publication, (publication) => publication.atRisk);
      assert.match(
        flagged.atRiskReason!,
        /^Pre-flight: The Instagram account cannot be published to: .*inactive/,
      );
      const [read] = stack.meta.receivedMatching(new RegExp(`/${instagramId}$`), 'GET').slice(-1);
      beforeTheTime(read, epic.scheduledAt);
      assert.equal((await epic.notices()).length, 1);
      assert.equal((await epic.read()).status, 'scheduled');
      await unschedule(setup, epic.epicId);
    } finally {
      stack.meta.reactivateAccount(instagramId);
    }
  });

  it('flags nothing when the media host answers 503 and Meta fails transiently during the checks', async () => {
    const setup = await connectedWorkspace(stack, 'Flaky');
    const path = `/${randomUUID()}/flaky.jpg`;
    media.put(path, { contentType: 'image/jpeg', bytes: 50_000 });
    media.failNext({ path, method: 'HEAD', times: 2, response: { status: 503 } });
    stack.meta.failWith('transient', { path: /\/me\/permissions$/, method: 'GET', times: 2 });
    const epic = await scheduledSoon(setup, 'facebook_post', {
      text: 'Flaky',
      mediaUrls: [media.urlOf(path)],
    });
    const heads = () => media.receivedMatching(path, 'HEAD');
    // Both checks have run, the one when scheduled and the one inside the window.
    await waitFor(
      async () => heads().length,
      (count) => count >= 2,
    );
    await waitFor(
      async () => Date.now(),
      (now) => now > heads()[1]!.receivedAt.getTime() + 1_000,
    );
    beforeTheTime(heads()[1], epic.scheduledAt);
    const publication = await epic.publication();
    assert.equal(publication.atRisk, false);
    assert.equal(publication.atRiskReason, null);
    assert.equal((await epic.notices()).length, 0);
    const read = await epic.read();
    assert.equal(read.status, 'scheduled');
    assert.equal(read.atRisk, false);
    await unschedule(setup, epic.epicId);
  });

  it('checks again when the epic is moved, and moves the check before the time with it', async () => {
    const setup = await connectedWorkspace(stack, 'Moved');
    const path = `/${randomUUID()}/moved.jpg`;
    media.put(path, { contentType: 'image/jpeg', bytes: 50_000 });
    const epic = await scheduledSoon(setup, 'facebook_post', {
      text: 'Moved',
      mediaUrls: [media.urlOf(path)],
    });
    const heads = () => media.receivedMatching(path, 'HEAD');
    await waitFor(
      async () => heads().length,
      (count) => count >= 1,
    );
    // Later: the window of the old time (in 5 s) passes with no check, the new one opens 9 s from now.
    const movedTo = new Date(Date.now() + 24_000);
    const moved = await setup.workspace.api.post(`/v1/epics/${epic.epicId}/reschedule`, {
      scheduledAt: movedTo.toISOString(),
    });
    assert.equal(moved.statusCode, 200, moved.body);
    const answeredAt = Date.now();
    await waitFor(
      async () => heads().length,
      (count) => count >= 3,
    );
    const [, onMove, inWindow] = heads();
    assert.ok(onMove!.receivedAt.getTime() - answeredAt < 3_000, 'checked again as soon as it was moved');
    assert.ok(inWindow!.receivedAt.getTime() >= movedTo.getTime() - aheadMs - 1_000, 'not at the old window');
    assert.ok(inWindow!.receivedAt < movedTo, 'inside the window of the new time');
    assert.equal((await epic.read()).status, 'scheduled');
    await unschedule(setup, epic.epicId);
  });

  it('the runs replay against the current workflow code', async () => {
    // Saved as `epic-preflight-NN` with RECORD_HISTORIES=1: runs with the pre-flight (patch `preflight`).
    const { failures } = await runs.replay(stack);
    assert.deepEqual(failures, []);
  });
});
