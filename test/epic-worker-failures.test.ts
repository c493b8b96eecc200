// No duplicate and no silent miss when workers fail: a worker SIGKILLed right after Instagram's
// media_publish answered leaves exactly one post, and an epic due while no worker runs publishes once, late.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { adminToken } from './support/api.ts';
import {
  connectedWorkspace,
  readEpic,
  repoRoot,
  reviewedEpic,
  type Stack,
  startStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

let stack: Stack;
let child: ChildProcess | undefined;

before(async () => {
  stack = await startStack({ withWorker: false, config: { OVERDUE_THRESHOLD_MS: '1000' } });
});
after(async () => {
  child?.kill('SIGKILL');
  await stack?.close();
});

function spawnWorkerProcess(): Promise<ChildProcess> {
  const worker = spawn(process.execPath, ['--import', 'tsx', 'worker.ts'], {
    cwd: repoRoot,
    env: { ...process.env, ...stack.workerEnv, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('worker polling task queue')) resolve(worker);
    };
    worker.stdout!.on('data', onData);
    worker.stderr!.on('data', onData);
    worker.on('exit', (code) => reject(new Error(`worker exited (${code}) before polling:\n${output}`)));
  });
}

describe('worker failures', () => {
  it('a worker killed right after media_publish answered leaves exactly one post, and the epic is published', async () => {
    const setup = await connectedWorkspace(stack, 'Crash');
    const { epicId, taskIds } = await reviewedEpic(setup, ['instagram_post'], 'Crash test');
    child = await spawnWorkerProcess();
    let killedAt: Date | null = null;
    stack.meta.onResponded((request, response) => {
      if (!killedAt && request.path.endsWith('/media_publish') && response.status === 200) {
        child!.kill('SIGKILL');
        killedAt = new Date();
      }
    });
    const postsBefore = stack.meta.posts().length;
    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: new Date(Date.now() + 2000).toISOString(),
    });
    assert.equal(response.statusCode, 200, response.body);
    await waitFor(
      async () => killedAt,
      (value) => value !== null,
    );
    const midway = await readEpic(setup.workspace, epicId);
    assert.notEqual(
      midway.tasks[0]!.publication!.status,
      'published',
      'the killed worker did not complete the activity',
    );

    await stack.startWorker();
    const published = await waitForStatus(setup.workspace, epicId, 'published');
    const posts = stack.meta.posts().slice(postsBefore);
    if (process.env.DEBUG_CRASH)
      console.log(
        JSON.stringify(
          {
            posts,
            requests: stack.meta.received
              .filter((r) => r.method === 'POST' || r.path.includes('1784'))
              .map((r) => [r.method, r.path, r.query, r.receivedAt]),
          },
          null,
          1,
        ),
      );
    assert.equal(posts.length, 1, 'the post exists exactly once');
    assert.equal(
      stack.meta.receivedMatching(/\/media_publish$/, 'POST').length,
      1,
      'media_publish was not called again',
    );
    const publication = published.tasks.find((task) => task.id === taskIds.instagram_post)!.publication!;
    assert.equal(publication.status, 'published');
    assert.ok(publication.externalId);
    assert.ok(publication.attempts >= 2, 'a second attempt resumed the first');
  });

  it('an epic due while no worker runs publishes once, late, with the lag recorded', async () => {
    await stack.stopWorker();
    const setup = await connectedWorkspace(stack, 'Late');
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Late worker');
    const feedBefore = stack.meta.receivedMatching(/\/feed$/, 'POST').length;
    const scheduledAt = new Date(Date.now() + 1000);
    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: scheduledAt.toISOString(),
    });
    assert.equal(response.statusCode, 200, response.body);
    // Let the time pass with no worker at all.
    await waitFor(
      async () => Date.now(),
      (now) => now > scheduledAt.getTime() + 1500,
      50,
    );
    assert.equal((await readEpic(setup.workspace, epicId)).status, 'scheduled');
    assert.equal(stack.meta.receivedMatching(/\/feed$/, 'POST').length, feedBefore);
    // The figure is for operators (the admin token); anonymous callers see only the checks.
    const anonymous = await stack.harness.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(anonymous.json().details, undefined, 'no figure about the tenants for anyone');
    const readiness = await stack.harness.app.inject({
      method: 'GET',
      url: '/readyz',
      headers: { authorization: `Bearer ${adminToken}` },
    });
    assert.equal(readiness.json().details.overdueEpics, 1, 'readyz reports the overdue epic');
    assert.equal(readiness.json().details.oldestOverdueScheduledAt, scheduledAt.toISOString());

    await stack.startWorker();
    const published = await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(stack.meta.receivedMatching(/\/feed$/, 'POST').length, feedBefore + 1, 'published once');
    const publication = published.tasks[0]!.publication as unknown as { lagMs: number };
    assert.ok(publication.lagMs >= 1500, `the lag is recorded (${publication.lagMs} ms)`);
  });
});
