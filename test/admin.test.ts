// The admin command (`npm run admin`), run as operators run it — a process of its own with the worker's
// environment — against the real stack: it lists and shows epics, unschedules, reschedules and retries them
// through the workflow's updates with the admin and the reason in the audit log, forces a connector's
// credential check, and refuses clearly (exit 1) or explains its usage (exit 2).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { and, eq } from 'drizzle-orm';
import { auditEvents, connectors, epics } from '../db/schema.ts';
import { stateQuery } from '../workflows/epic-messages.ts';
import { createWorkspace } from './support/api.ts';
import {
  connectedWorkspace,
  connectKlaviyo,
  epicCampaigns,
  isoInSeconds,
  repoRoot,
  reviewedEpic,
  useStack,
  waitForStatus,
} from './support/stack.ts';

// Credential checks run only when asked (a week apart otherwise), so the test counts the admin's own.
const stack = useStack({ config: { CREDENTIAL_CHECK_INTERVAL_MS: String(7 * 86_400_000) } });

interface AdminRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `npm run admin -- …` as a process of its own, with the environment a worker of this stack gets. */
function admin(...args: string[]): Promise<AdminRun> {
  return adminWith({}, ...args);
}

function adminWith(env: Record<string, string>, ...args: string[]): Promise<AdminRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'scripts', 'admin.ts'), ...args],
      { cwd: repoRoot, env: { ...process.env, ...stack.workerEnv, ...env }, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const epicRow = async (id: string) =>
  (await stack.harness.database.db.select().from(epics).where(eq(epics.id, id)))[0]!;
const auditOf = (subjectId: string, action: string) =>
  stack.harness.database.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.subjectId, subjectId), eq(auditEvents.action, action)));
const feedPosts = () => stack.meta.receivedMatching(/\/feed$/, 'POST').length;

describe('the admin command', () => {
  it('lists epics by status and shows one with its publications, workflow state and audit', async () => {
    const setup = await connectedWorkspace(stack, 'Listed');
    const { epicId, taskIds } = await reviewedEpic(
      setup,
      ['facebook_post', 'klaviyo_email'],
      'Listed launch',
    );
    const { epicId: draftId } = await reviewedEpic(setup, ['facebook_post'], 'Still in review');
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: isoInSeconds(3600),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);

    const [listed, all, shown] = await Promise.all([
      admin('epics', '--status', 'scheduled', '--workspace', setup.workspace.id),
      admin('epics', '--workspace', setup.workspace.id, '--limit', '5'),
      admin('epic', epicId),
    ]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(
      listed.stdout,
      /epics by status in workspace .*: draft 0 · review 1 · scheduled 1 · published 0/,
    );
    assert.match(listed.stdout, new RegExp(`${epicId}  scheduled  \\S+Z  Listed  "Listed launch"`));
    assert.ok(!listed.stdout.includes(draftId), 'only the scheduled epic is listed');
    assert.equal(all.code, 0, all.stderr);
    assert.ok(all.stdout.includes(epicId) && all.stdout.includes(draftId), all.stdout);

    assert.equal(shown.code, 0, shown.stderr);
    const lines = shown.stdout;
    assert.match(lines, new RegExp(`^epic ${epicId} "Listed launch"`));
    assert.match(lines, /status {5}scheduled/);
    assert.match(lines, new RegExp(`${taskIds.klaviyo_email} klaviyo_email \\(real\\)`));
    assert.match(lines, new RegExp(`${taskIds.facebook_post} facebook_post \\(soft\\)`));
    assert.match(lines, /publication \S+: (pending|publishing|handed_off) · \d+ attempts?/);
    assert.match(lines, new RegExp(`workflow epic-${epicId}\\n  run \\S+: RUNNING`));
    assert.match(lines, /state: scheduled, at \S+, publishing started: no, transition in flight: none/);
    assert.match(lines, /epic schedule review → scheduled by api-key:\S+/);
  });

  it('unschedules with a reason: the workflow decides, the audit names the admin, nothing goes out at the time', async () => {
    const setup = await connectedWorkspace(stack, 'Unscheduled');
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Not today');
    const at = isoInSeconds(15);
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, { scheduledAt: at });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    const postsBefore = feedPosts();

    const done = await admin('unschedule', epicId, '--reason', 'client asked', '--by', 'ops');
    assert.equal(done.code, 0, done.stderr);
    assert.equal(
      done.stdout.trim(),
      `epic ${epicId} unscheduled by admin:ops (reason: client asked): scheduled → review`,
    );
    const row = await epicRow(epicId);
    assert.equal(row.status, 'review');
    assert.equal(row.scheduledAt, null);
    const outcome = await stack.client.workflow.getHandle(`epic-${epicId}`).result();
    assert.equal(outcome.status, 'review', 'the run itself took the decision and ended');
    const [transition] = await auditOf(epicId, 'unschedule');
    assert.equal(transition?.actor, 'admin:ops');
    assert.deepEqual(transition?.details, { reason: 'client asked' });
    assert.equal(transition?.fromStatus, 'scheduled');
    assert.equal(transition?.toStatus, 'review');
    const [command] = await auditOf(epicId, 'admin_command');
    assert.equal(command?.actor, 'admin:ops');
    assert.equal((command!.details as { reason?: string }).reason, 'client asked');

    // Past the time it was scheduled for: nothing was published.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(at) + 2_000 - Date.now())));
    assert.equal(feedPosts(), postsBefore);
    assert.equal((await epicRow(epicId)).status, 'review');

    // Asked again, the lifecycle refuses: exit 1 with the reason, nothing written.
    const again = await admin('unschedule', epicId, '--reason', 'twice');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^refused \(INVALID_TRANSITION\): /);
    assert.ok(!again.stderr.includes('    at '), 'no stack trace');
    assert.equal((await auditOf(epicId, 'admin_command')).length, 1);
  });

  it('reschedules to an instant or a wall time in a zone, and the run moves with it', async () => {
    const setup = await connectedWorkspace(stack, 'Moved');
    const { epicId } = await reviewedEpic(setup, ['facebook_post', 'klaviyo_email'], 'Moving');
    await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, { scheduledAt: isoInSeconds(3600) });
    const handle = stack.client.workflow.getHandle(`epic-${epicId}`);

    const later = isoInSeconds(7200);
    const moved = await admin(
      'reschedule',
      epicId,
      '--at',
      later,
      '--reason',
      'launch slipped',
      '--by',
      'ops',
    );
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(
      moved.stdout,
      new RegExp(
        `^epic ${epicId} rescheduled by admin:ops \\(reason: launch slipped\\): scheduled → scheduled, now at ${later.replace('.', '\\.')}`,
      ),
    );
    assert.equal((await epicRow(epicId)).scheduledAt?.toISOString(), later);
    assert.equal((await handle.query(stateQuery)).scheduledAt, later);
    const [transition] = await auditOf(epicId, 'reschedule');
    assert.equal(transition?.actor, 'admin:ops');

    const zoned = await admin(
      'reschedule',
      epicId,
      '--at',
      '2031-07-01T09:00',
      '--zone',
      'Europe/Paris',
      '--reason',
      'local time',
    );
    assert.equal(zoned.code, 0, zoned.stderr);
    assert.match(zoned.stdout, /now at 2031-07-01T07:00:00\.000Z \(Europe\/Paris\)/);
    assert.equal((await handle.query(stateQuery)).scheduledAt, '2031-07-01T07:00:00.000Z');
    const reasons = (await auditOf(epicId, 'admin_command')).map(
      (row) => (row.details as { reason: string }).reason,
    );
    assert.deepEqual(reasons.sort(), ['launch slipped', 'local time']);

    // Bad times are bad usage (exit 2), named by the option; nothing moves.
    const [wallWithoutZone, past] = await Promise.all([
      admin('reschedule', epicId, '--at', '2031-07-01T09:00', '--reason', 'no zone'),
      admin('reschedule', epicId, '--at', isoInSeconds(-600), '--reason', 'past'),
    ]);
    assert.equal(wallWithoutZone.code, 2);
    assert.match(wallWithoutZone.stderr, /^bad usage: --at: /);
    assert.equal(past.code, 2);
    assert.match(past.stderr, /--at: is more than a minute in the past/);
    assert.equal((await epicRow(epicId)).scheduledAt?.toISOString(), '2031-07-01T07:00:00.000Z');

    // Edited back to draft: the Klaviyo hand-off is cancelled by the run, the content kept.
    const edited = await admin('edit', epicId, '--reason', 'rewrite the subject', '--by', 'ops');
    assert.equal(edited.code, 0, edited.stderr);
    assert.equal(
      edited.stdout.trim(),
      `epic ${epicId} edited back to draft by admin:ops (reason: rewrite the subject): scheduled → draft`,
    );
    assert.equal((await handle.result()).status, 'draft');
    const [edit] = await auditOf(epicId, 'edit');
    assert.equal(edit?.actor, 'admin:ops');
    assert.deepEqual(edit?.details, { reason: 'rewrite the subject' });
    assert.ok(epicCampaigns(stack, epicId).every((campaign) => campaign.sendJob !== 'queued'));
  });

  it('retries an epic in error: only the failed publication goes out again, once', async () => {
    const setup = await connectedWorkspace(stack, 'Retried');
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Rejected once');
    stack.meta.failWith('content_rejected', { path: /\/feed$/, method: 'POST', times: 1 });
    const postsBefore = feedPosts();
    await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, { scheduledAt: isoInSeconds(1) });
    await waitForStatus(setup.workspace, epicId, 'error');

    const shown = await admin('epic', epicId);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /publication \S+: failed · 1 attempt\n {4}last error: CONTENT_REJECTED: /);
    assert.match(shown.stdout, /state: error/);

    const retried = await admin('retry', epicId, '--reason', 'caption fixed upstream', '--by', 'ops');
    assert.equal(retried.code, 0, retried.stderr);
    assert.match(
      retried.stdout,
      new RegExp(
        `^epic ${epicId} retried by admin:ops \\(reason: caption fixed upstream\\): error → (scheduled|published)`,
      ),
    );
    await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(feedPosts() - postsBefore, 2, 'the rejected try, then the retry');
    const [transition] = await auditOf(epicId, 'retry');
    assert.equal(transition?.actor, 'admin:ops');
    assert.equal(transition?.fromStatus, 'error');
  });

  it('forces a connector check: the outcome is printed, a refusal flips the connector', async () => {
    const workspace = await createWorkspace(stack.harness, 'Checked');
    const klaviyo = await connectKlaviyo(workspace);
    const checks = () => stack.klaviyo.receivedMatching(/^\/api\/accounts$/, 'GET').length;
    const checksBefore = checks();

    const ok = await admin(
      'check-connector',
      klaviyo.id,
      '--reason',
      'customer says emails stopped',
      '--by',
      'ops',
    );
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(
      ok.stdout,
      new RegExp(
        `^connector ${klaviyo.id} \\(klaviyo\\) checked by admin:ops \\(reason: customer says emails stopped\\): ok: .*; still connected`,
      ),
    );
    assert.equal(checks(), checksBefore + 1, 'the platform was asked once');

    stack.klaviyo.failWith('invalid_key', { path: /^\/api\/accounts$/, method: 'GET', times: 1 });
    const refused = await admin('check-connector', klaviyo.id, '--reason', 'again');
    assert.equal(refused.code, 0, refused.stderr);
    assert.match(
      refused.stdout,
      /: refused: the platform refused the credentials; connected → reconnect_required \(TOKEN_EXPIRED: /,
    );
    const [row] = await stack.harness.database.db
      .select()
      .from(connectors)
      .where(eq(connectors.id, klaviyo.id));
    assert.equal(row?.status, 'reconnect_required');
    const recorded = await auditOf(klaviyo.id, 'admin_command');
    assert.deepEqual(
      recorded.map((entry) => [entry.actor, (entry.details as { outcome: string }).outcome]).sort(),
      [
        [`admin:${os.userInfo().username}`, 'refused'],
        ['admin:ops', 'ok'],
      ].sort(),
    );

    // A connector whose token expires has no credential check: its token workflow watches it instead.
    const { meta } = await connectedWorkspace(stack, 'Token watched');
    const none = await admin('check-connector', meta.id, '--reason', 'curious');
    assert.equal(none.code, 1);
    assert.match(
      none.stderr,
      /has no credential check \(connector-check-\S+\): its token is watched by the workflow connector-token-/,
    );
  });

  it('refuses what it cannot do (exit 1) and explains bad usage (exit 2), without a stack trace', async () => {
    const setup = await connectedWorkspace(stack, 'Refusals');
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'In review');
    const unknown = '00000000-0000-4000-8000-000000000000';
    const runs = await Promise.all([
      admin('epic', unknown),
      admin('unschedule', unknown, '--reason', 'gone'),
      admin('check-connector', unknown, '--reason', 'gone'),
      admin('retry', epicId, '--reason', 'not failed'),
      admin('unschedule', 'not-an-id', '--reason', 'x'),
      admin('unschedule', epicId),
      admin('launch', epicId),
      admin('epics', '--status', 'lost'),
      admin('epic', epicId, '--reason', 'show takes none'),
      admin('epics', '--nope'),
      admin(),
    ]);
    const [epicUnknown, unscheduleUnknown, connectorUnknown, retryInReview, ...usage] = runs;
    assert.deepEqual(
      runs.map((run) => run.code),
      [1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2],
      runs.map((run) => run.stderr).join('\n'),
    );
    assert.equal(epicUnknown!.stderr.trim(), `epic ${unknown} not found`);
    assert.equal(unscheduleUnknown!.stderr.trim(), `epic ${unknown} not found`);
    assert.equal(connectorUnknown!.stderr.trim(), `connector ${unknown} not found`);
    assert.match(retryInReview!.stderr, /^refused \(INVALID_TRANSITION\): /);
    assert.match(usage[0]!.stderr, /"not-an-id" is not a valid epic id/);
    assert.match(usage[1]!.stderr, /unschedule needs --reason/);
    assert.match(usage[2]!.stderr, /unknown command "launch"/);
    assert.match(usage[3]!.stderr, /--status must be one of draft, review, scheduled, published, error/);
    assert.match(usage[4]!.stderr, /epic takes no --reason/);
    assert.match(usage[5]!.stderr, /Unknown option '--nope'/);
    assert.match(usage[6]!.stderr, /^Usage: npm run admin -- <command>/);
    for (const run of runs) {
      assert.equal(run.stdout, '', 'a refusal prints nothing on stdout');
      assert.ok(!/\n\s+at /.test(run.stderr), `no stack trace: ${run.stderr}`);
    }
    assert.equal((await epicRow(epicId)).status, 'review');

    // Temporal out of reach: no definite answer, exit 1, the epic as it was; `epic` still shows the row.
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: isoInSeconds(3600),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    const offline = { TEMPORAL_ADDRESS: '127.0.0.1:1' };
    const [unreachable, shownOffline] = await Promise.all([
      adminWith(offline, 'unschedule', epicId, '--reason', 'no Temporal'),
      adminWith(offline, 'epic', epicId),
    ]);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /^not done \(TEMPORAL_UNAVAILABLE\): Temporal is not reachable/);
    assert.equal((await epicRow(epicId)).status, 'scheduled');
    assert.equal(shownOffline.code, 0, shownOffline.stderr);
    assert.match(
      shownOffline.stdout,
      /workflow epic-\S+\n {2}not known: Temporal at 127\.0\.0\.1:1 is not reachable/,
    );
    const unscheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(unscheduled.statusCode, 200, unscheduled.body);

    const help = await admin('--help');
    assert.equal(help.code, 0);
    for (const command of [
      'epics',
      'epic <epicId>',
      'unschedule',
      'edit',
      'reschedule',
      'retry',
      'check-connector',
    ]) {
      assert.ok(help.stdout.includes(command), command);
    }
  });
});
