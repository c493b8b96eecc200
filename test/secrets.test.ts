// No secret leaks (SPEC §6, §11): after a scenario that connects both platforms, publishes, fails on an
// expired token and reconnects, no token, API key or client secret appears in any API response, in any log
// line of the API or the worker (the SDK's included), in any workflow input or history, and the db holds
// credentials only encrypted.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { eq } from 'drizzle-orm';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { pino } from 'pino';
import { auditEvents } from '../db/schema.ts';
import { createWorkspace, workspaceTables } from './support/api.ts';
import { connectOAuth, cyberImpactToken, wordPressAdmin } from './support/platforms.ts';
import { collectIssuedCredentials, metaTokenShape } from './support/secrets.ts';
import {
  connectedWorkspace,
  connectMeta,
  klaviyoKey,
  reviewedEpic,
  type Stack,
  startStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

const logLines: string[] = [];
const responses: string[] = [];
let stack: Stack;

before(async () => {
  // Everything the SDK logs in this process (workflow and activity failures included) is captured too.
  Runtime.install({
    logger: new DefaultLogger('DEBUG', (entry) =>
      logLines.push(`${entry.message} ${JSON.stringify(entry.meta ?? {})}`),
    ),
  });
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  stack = await startStack({
    logger: pino({ level: 'trace' }, sink),
    workerLog: (line) => logLines.push(line),
    // 20-second tokens: Google's and TikTok's are refreshed (and TikTok's refresh token rotated) during the scan.
    platforms: { accessTokenSeconds: 20, google: { accessTokenSeconds: 20 } },
  });
  // Every answer the API gives in this file is kept for the scan.
  const app = stack.harness.app as FastifyInstance & { inject: FastifyInstance['inject'] };
  const inject = app.inject.bind(app);
  app.inject = (async (options: InjectOptions) => {
    const response = await inject(options);
    responses.push(`${JSON.stringify(response.headers)} ${response.body}`);
    return response;
  }) as FastifyInstance['inject'];
});
after(async () => stack?.close());

describe('secrets', () => {
  it('never appear in responses, logs, workflow histories or the db in clear', async () => {
    const setup = await connectedWorkspace(stack, 'Secrets');
    const workspaceKey = setup.workspace.apiKey;
    const { epicId } = await reviewedEpic(setup, ['instagram_post', 'klaviyo_email'], 'Secret-free');
    await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: new Date(Date.now() + 2_000).toISOString(),
    });
    await waitForStatus(setup.workspace, epicId, 'published');

    const failing = await reviewedEpic(setup, ['facebook_post'], 'Expired');
    await setup.workspace.api.post(`/v1/epics/${failing.epicId}/schedule`, {
      scheduledAt: new Date(Date.now() + 1_000).toISOString(),
    });
    stack.meta.expireTokens();
    await waitForStatus(setup.workspace, failing.epicId, 'error');
    await connectMeta(stack, setup.workspace);

    // Every other flow: OAuth with PKCE and refresh (Google), a rotating refresh token (TikTok), a store
    // token (Shopify), an API token (CyberImpact) and an application password (WordPress).
    const more = await createWorkspace(stack.harness, 'Secrets, more');
    const others = await createWorkspace(stack.harness, 'Secrets, others');
    const analytics = await connectOAuth(stack.harness.app, more, 'google_analytics');
    const tiktok = await connectOAuth(stack.harness.app, more, 'tiktok');
    const wordpress = await more.api.post('/v1/connectors/wordpress/connect', {
      siteUrl: stack.platforms!.wordpress.url,
      ...wordPressAdmin,
    });
    assert.equal(wordpress.statusCode, 201, wordpress.body);
    await connectOAuth(stack.harness.app, others, 'shopify', { shop: 'glow-beauty' });
    const cyberimpact = await others.api.post('/v1/connectors/cyberimpact/connect', {
      apiKey: cyberImpactToken,
    });
    assert.equal(cyberimpact.statusCode, 201, cyberimpact.body);
    const issued = new Set<string>();
    const collect = () => collectIssuedCredentials(stack.harness, issued);
    await collect();
    const refreshed = (id: string) =>
      waitFor(
        async () =>
          (
            await stack.harness.database.db.select().from(auditEvents).where(eq(auditEvents.subjectId, id))
          ).map((event) => event.action),
        (actions) => actions.includes('token_refreshed'),
      );
    await Promise.all([refreshed(analytics.id), refreshed(tiktok.id)]);
    await collect();
    await more.api.get(`/v1/connectors/${analytics.id}`);
    await setup.workspace.api.get('/v1/connectors');
    await setup.workspace.api.get(`/v1/connectors/${setup.klaviyo.id}/audiences`);
    await setup.workspace.api.get('/v1/notifications');

    const histories: string[] = [];
    for await (const execution of stack.client.workflow.list()) {
      const history = await stack.client.workflow
        .getHandle(execution.workflowId, execution.runId)
        .fetchHistory();
      histories.push(JSON.stringify(history));
    }
    assert.ok(histories.length >= 3, 'epic and token workflows ran');

    const rows: string[] = [];
    for (const table of [...workspaceTables, 'notifications', 'oauth_states', 'analytics_sessions']) {
      const dump = await stack.harness.database.sql.unsafe(`select t::text as row from ${table} t`);
      rows.push(...dump.map((row) => String(row.row)));
    }
    // The credentials column holds ciphertext: a Meta token or the Klaviyo key would show as plain text here.
    const [sealed] = await stack.harness.database.sql<{ count: number }[]>`
      select count(*)::int as count from connectors where credentials is not null and credentials_key_id is not null`;
    assert.ok((sealed?.count ?? 0) >= 7, 'every connector holds sealed credentials');
    assert.ok(issued.size >= 10, `the scan knows the credentials issued (${issued.size})`);

    const places: [string, string[]][] = [
      // The creation answer is the one place the workspace key is shown, by design; responses after it must not.
      ['API responses', responses.filter((body) => !body.includes('"apiKey"'))],
      ['log lines', logLines],
      ['workflow histories', histories],
      ['db rows', rows],
    ];
    for (const [where, texts] of places) {
      const all = texts.join('\n');
      assert.ok(all.length > 0, `${where} were captured`);
      assert.doesNotMatch(all, metaTokenShape, `no Meta access token in ${where}`);
      assert.ok(!all.includes(klaviyoKey), `no Klaviyo key in ${where}`);
      assert.ok(!all.includes('glowtify-test-secret'), `no OAuth client secret in ${where}`);
      assert.ok(!all.includes(workspaceKey), `no workspace API key in ${where}`);
      assert.ok(!all.includes(workspaceKey.slice(14)), `no part of the workspace key's secret in ${where}`);
      for (const secret of issued) assert.ok(!all.includes(secret), `no issued credential in ${where}`);
      for (const [name, value] of Object.entries(stack.platforms!.config)) {
        if (name.endsWith('_CLIENT_SECRET')) assert.ok(!all.includes(value), `no ${name} in ${where}`);
      }
      assert.ok(!all.includes(wordPressAdmin.applicationPassword), `no WordPress password in ${where}`);
      assert.ok(!all.includes(cyberImpactToken), `no CyberImpact token in ${where}`);
    }
  });
});
