// Metrics and logs, on the real stack (Temporal dev server, PostgreSQL, the Meta simulator): the worker's and
// the API's /metrics after a publication and after a failure, the Temporal SDK's worker metrics served by a
// worker process, log lines that name the epic, the workflow, the connector and the platform, and secrets
// blanked out by the logger's own configuration.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { Runtime } from '@temporalio/worker';
import { startNodeProcess } from '../bench/processes.ts';
import { createLogger, redactedCensor, temporalLogger } from '../observability/logger.ts';
import { freeLoopbackPort } from '../observability/metrics-server.ts';
import { adminToken, callerWith } from './support/api.ts';
import { connectedWorkspace, reviewedEpic, useStack, waitForStatus } from './support/stack.ts';

/** Every JSON line the loggers under test write. */
function lineSink() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line));
      }
      done();
    },
  });
  return { lines, raw, stream };
}

// The worker's activity and workflow lines go through the service's logger (as worker.ts wires it).
const workerLines = lineSink();
Runtime.install({ logger: temporalLogger(createLogger('worker', 'info', workerLines.stream)) });

const stack = useStack({ config: { PUBLICATION_PREPARE_AHEAD_MS: '0' } });

/** The value of one series in Prometheus's text format, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1], pair[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

describe('metrics', () => {
  it('count a publication, a failed one, their attempts and lag, and the API requests and states', async () => {
    const setup = await connectedWorkspace(stack, 'Metrics');
    const { epicId } = await reviewedEpic(setup, ['facebook_post', 'instagram_post'], 'Counted');
    const limit = stack.harness.config.PUBLICATION_ATTEMPTS_LIMIT;
    stack.meta.failWith('transient', { path: /\/media$/, method: 'POST', times: limit });
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: new Date(Date.now() + 2_000).toISOString(),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    await waitForStatus(setup.workspace, epicId, 'error');

    const worker = await stack.worker!.metrics.registry.metrics();
    const facebook = { platform: 'meta', channel: 'facebook_post' };
    const instagram = { platform: 'meta', channel: 'instagram_post' };
    assert.equal(sample(worker, 'glowtify_publications_total', { ...facebook, outcome: 'published' }), 1);
    assert.equal(sample(worker, 'glowtify_publications_total', { ...instagram, outcome: 'failed' }), 1);
    assert.equal(
      sample(worker, 'glowtify_publications_total', { ...instagram, outcome: 'published' }),
      undefined,
    );
    assert.equal(
      sample(worker, 'glowtify_publication_attempts_total', { ...facebook, result: 'published' }),
      1,
    );
    assert.equal(
      sample(worker, 'glowtify_publication_attempts_total', { ...instagram, result: 'transient' }),
      limit,
    );
    assert.equal(sample(worker, 'glowtify_publish_lag_seconds_count', facebook), 1);
    const lagSeconds = sample(worker, 'glowtify_publish_lag_seconds_sum', facebook)!;
    assert.ok(lagSeconds >= 0 && lagSeconds < 60, `lag ${lagSeconds} s`);
    assert.equal(sample(worker, 'glowtify_publish_lag_seconds_count', instagram), undefined);

    const operator = callerWith(stack.harness.app, adminToken);
    const scraped = await operator.get('/metrics');
    assert.equal(scraped.statusCode, 200, scraped.body);
    assert.match(String(scraped.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const api = scraped.body;
    // By the route's pattern: the epic's id is in no label.
    assert.equal(
      sample(api, 'glowtify_http_requests_total', {
        method: 'POST',
        route: '/v1/epics/:id/schedule',
        status: '200',
      }),
      1,
    );
    assert.ok(!api.includes(epicId), 'no id in any label');
    assert.ok(
      sample(api, 'glowtify_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/v1/epics/:id/schedule',
      })! >= 1,
    );
    assert.equal(sample(api, 'glowtify_epics', { status: 'error' }), 1);
    assert.equal(sample(api, 'glowtify_connectors', { platform: 'meta', status: 'connected' }), 1);
    assert.equal(sample(api, 'glowtify_connectors', { platform: 'klaviyo', status: 'connected' }), 1);
    assert.equal(sample(api, 'glowtify_overdue_epics'), 0);
    assert.equal(sample(api, 'glowtify_stuck_publications'), 0);
  });

  it('are refused without the admin token, and a workspace key is not it', async () => {
    const anonymous = await callerWith(stack.harness.app, null).get('/metrics');
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.json().error.code, 'UNAUTHENTICATED');
    const setup = await connectedWorkspace(stack, 'Not an operator');
    const tenant = await setup.workspace.api.get('/metrics');
    assert.equal(tenant.statusCode, 401);
  });

  it('a worker process serves its own and the Temporal SDK’s worker metrics at WORKER_METRICS_PORT', async () => {
    const port = await freeLoopbackPort();
    const worker = await startNodeProcess(
      'metrics-worker',
      'worker.ts',
      { ...stack.workerEnv, WORKER_METRICS_PORT: String(port), LOG_LEVEL: 'info' },
      'worker polling task queue',
      [],
      120_000,
      () => {},
    );
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(response.status, 200);
      const text = await response.text();
      assert.match(text, /^# HELP glowtify_publications_total /m);
      assert.match(text, /^# HELP glowtify_token_refreshes_total /m);
      assert.ok(sample(text, 'process_resident_memory_bytes')! > 0);
      // The SDK's core: its pollers and slots, named by the SDK (temporal_ prefix).
      assert.match(text, /^temporal_\w+\{[^}]*task_queue="glowtify-test"/m, text.slice(0, 2_000));
      assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
    } finally {
      await worker.stop();
    }
  });
});

describe('logs', () => {
  it('name the epic, its workflow, the connector and the platform of each publication', () => {
    const published = workerLines.lines.find((line) => line.msg === 'publication published');
    assert.ok(published, 'a line for the published post');
    assert.match(String(published.epicId), /^[0-9a-f-]{36}$/);
    assert.equal(published.workflowId, `epic-${published.epicId}`);
    assert.match(String(published.connectorId), /^[0-9a-f-]{36}$/);
    assert.equal(published.platform, 'meta');
    assert.equal(published.channel, 'facebook_post');
    const failedTry = workerLines.lines.find((line) => line.msg === 'publication try failed');
    assert.ok(failedTry, 'a line for each failed try');
    assert.equal(failedTry.failureClass, 'TRANSIENT');
    assert.equal(failedTry.workflowId, `epic-${failedTry.epicId}`);
    assert.equal(failedTry.platform, 'meta');
    const failed = workerLines.lines.find((line) => line.msg === 'publication failed');
    assert.ok(failed, 'a line for the publication that failed for good');
    assert.equal(failed.channel, 'instagram_post');
  });

  it('blank out secrets wherever a line carries them, in the service’s and in the SDK’s lines', () => {
    const sink = lineSink();
    const logger = createLogger('test', 'info', sink.stream);
    const secrets = {
      accessToken: 'EAAsecret-access-token',
      refresh_token: 'secret-refresh-token',
      apiKey: 'pk_live_secret_key',
      clientSecret: 'secret-client',
      password: 'hunter2-secret',
      authorization: 'Bearer secret-bearer',
    };
    logger.info({ ...secrets, epicId: 'e1' }, 'top level');
    logger.info({ connector: { ...secrets, id: 'c1' } }, 'one level down');
    logger.info(
      {
        req: {
          headers: { authorization: 'Bearer gw_secret', cookie: 'sid=secret' },
          query: { code: 'oauth-code-secret', state: 'state-secret' },
        },
      },
      'a request',
    );
    temporalLogger(logger).warn('from an activity', {
      workflowId: 'epic-e1',
      credentials: 'secret-credentials',
      token: 'secret-token',
    });

    const text = sink.raw.join('\n');
    for (const value of [
      ...Object.values(secrets),
      'gw_secret',
      'sid=secret',
      'oauth-code-secret',
      'state-secret',
      'secret-credentials',
      'secret-token',
    ]) {
      assert.ok(!text.includes(value), `${value} was written`);
    }
    assert.equal(sink.lines[0]!.accessToken, redactedCensor);
    assert.equal(sink.lines[0]!.epicId, 'e1', 'what is not a secret stays');
    assert.equal((sink.lines[1]!.connector as Record<string, unknown>).id, 'c1');
    assert.equal(sink.lines[3]!.workflowId, 'epic-e1');
    assert.equal(sink.lines[3]!.level, 40);
  });
});
