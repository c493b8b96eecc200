// What an operator reads in the Temporal UI and `temporal workflow describe`, on the real dev server: an epic
// run, a token-refresh run and a data sync run each start with a summary and details naming what they are
// for (time in the user's zone, title, workspace, channels; platform, accounts), and nothing secret.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectorCheckScheduleId } from '../workflows/connector-check-messages.ts';
import { connectorSyncScheduleId } from '../workflows/connector-sync-messages.ts';
import { connectorTokenWorkflowId } from '../workflows/connector-token-messages.ts';
import { epicWorkflowId } from '../workflows/epic-messages.ts';
import { createWorkspace } from './support/api.ts';
import { browserOf, type ConnectorBody, connectOAuth, followConsent } from './support/platforms.ts';
import {
  connectedWorkspace,
  connectKlaviyo,
  reviewedEpic,
  storedCredentials,
  useStack,
  waitFor,
} from './support/stack.ts';

const stack = useStack({
  platforms: { linkedin: { accessTokenSeconds: 6 } },
  config: { DATA_SYNC_INTERVAL_MS: '3600000' },
});

async function texts(workflowId: string, runId?: string) {
  const description = await stack.client.workflow.getHandle(workflowId, runId).describe();
  return { summary: await description.staticSummary(), details: await description.staticDetails() };
}

describe('the runs an operator lists in the Temporal UI say what they are for', () => {
  it('an epic: its time in the zone it was scheduled in, title, workspace and channels', async () => {
    const setup = await connectedWorkspace(stack, 'Demo Coffee Co.');
    const { epicId } = await reviewedEpic(setup, ['instagram_post', 'klaviyo_email'], 'Spring launch');
    const year = new Date().getUTCFullYear() + 1;
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: `${year}-03-14T09:00`,
      timeZone: 'America/New_York',
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);

    const { summary, details } = await texts(epicWorkflowId(epicId));
    assert.match(
      summary ?? '',
      new RegExp(
        `^\\w{3} 14 Mar ${year} 09:00 America/New_York · “Spring launch” · workspace Demo Coffee Co\\. · ` +
          'instagram_post, klaviyo_email$',
      ),
    );
    assert.match(details ?? '', /^\*\*Spring launch\*\*, workspace \*\*Demo Coffee Co\.\*\*$/m);
    assert.match(
      details ?? '',
      new RegExp(`America/New_York \\(UTC-04:00\\), ${year}-03-14T13:00:00\\.000Z$`, 'm'),
    );
    assert.ok(details?.includes(epicId) && details.includes(setup.workspace.id));
    assert.ok(!details?.includes(setup.workspace.apiKey) && !summary?.includes(setup.workspace.apiKey));
    const { memo } = await stack.client.workflow.getHandle(epicWorkflowId(epicId)).describe();
    assert.equal(memo?.summary, summary);
    assert.equal(typeof memo?.scheduleToken, 'string');

    // What `temporal workflow describe` prints for it.
    const described = await stack.temporalCli(
      'workflow',
      'describe',
      '--workflow-id',
      epicWorkflowId(epicId),
    );
    assert.match(described, /StaticSummary\s+".*“Spring launch” · workspace Demo Coffee Co\./);
  });

  it('a token refresh: the platform, the accounts its grant reaches, the workspace; never the token', async () => {
    const setup = await connectedWorkspace(stack, 'Token Co.');
    const { summary, details } = await texts(connectorTokenWorkflowId(setup.meta.id));
    assert.match(
      summary ?? '',
      /^Token refresh · meta · Acme Page \(facebook_page\), acme \(instagram_account\).* · workspace Token Co\.$/,
    );
    assert.match(
      details ?? '',
      /^\*\*Meta \(Facebook & Instagram\)\*\* connector of workspace \*\*Token Co\.\*\*/,
    );
    assert.ok(details?.includes(setup.meta.id));
    const description = await stack.client.workflow
      .getHandle(connectorTokenWorkflowId(setup.meta.id))
      .describe();
    assert.equal(description.memo?.summary, summary, 'the summary in the memo too');
    const credentials = await storedCredentials(stack, setup.meta.id);
    const secrets = [...Object.values(credentials), setup.workspace.apiKey].filter(
      (value) => typeof value === 'string' && value.length >= 8,
    );
    assert.ok(secrets.length >= 2, 'the stored token and the API key are looked for');
    for (const secret of secrets) {
      assert.ok(!summary?.includes(secret) && !details?.includes(secret), 'no secret in the texts');
    }

    // An API-key connector's periodic check names the lists its key reaches.
    const check = await stack.client.schedule
      .getHandle(connectorCheckScheduleId(setup.klaviyo.id))
      .describe();
    assert.equal(check.action.type, 'startWorkflow');
    assert.match(
      check.action.type === 'startWorkflow' ? (check.action.staticSummary ?? '') : '',
      /^Credentials check every \d+ \w+ · klaviyo · .*Newsletter.* · workspace Token Co\.$/,
    );

    // Connected again with the key: the Schedule it has is renamed, its timing and arguments kept.
    const again = await connectKlaviyo(setup.workspace);
    assert.equal(again.id, setup.klaviyo.id);
    const renamed = await stack.client.schedule
      .getHandle(connectorCheckScheduleId(setup.klaviyo.id))
      .describe();
    assert.deepEqual(renamed.spec, check.spec);
    assert.deepEqual(renamed.action, check.action);
    assert.equal(renamed.info.recentActions.length, check.info.recentActions.length);
  });

  it('a data sync: what it reads, named again once the accounts are chosen, in the run it starts', async () => {
    const workspace = await createWorkspace(stack.harness, 'Sync Co.');
    // Connected, no account chosen yet: the Schedule's runs would name what they could read.
    const started = await workspace.api.post('/v1/connectors/google_analytics/connect', {});
    assert.equal(started.statusCode, 200, started.body);
    const callback = await stack.harness.app.inject({
      method: 'GET',
      url: await followConsent(started.json().authorizeUrl),
      cookies: browserOf(started),
    });
    assert.equal(callback.statusCode, 200, callback.body);
    const connector = callback.json() as ConnectorBody;
    const schedule = stack.client.schedule.getHandle(connectorSyncScheduleId(connector.id));
    const summaryOf = async () => {
      const { action } = await schedule.describe();
      return action.type === 'startWorkflow' ? (action.staticSummary ?? '') : '';
    };
    assert.equal(
      await summaryOf(),
      'Data sync every 1 h · google_analytics · Glow / Glow Shop, Glow / Glow Web (none enabled yet) · ' +
        'workspace Sync Co.',
    );

    // Choosing a property triggers a sync now, under the summary that names it.
    const shop = connector.accounts.find((account) => account.name === 'Glow / Glow Shop')!;
    const chosen = await workspace.api.request({
      method: 'PUT',
      url: `/v1/connectors/${connector.id}/accounts`,
      payload: { enabled: [shop.id] },
    });
    assert.equal(chosen.statusCode, 200, chosen.body);
    const expected = 'Data sync every 1 h · google_analytics · Glow / Glow Shop · workspace Sync Co.';
    assert.equal(await summaryOf(), expected);
    const run = await waitFor(
      async () => (await schedule.describe()).info.recentActions.at(-1)?.action,
      (action) => action !== undefined,
    );
    const { summary, details } = await texts(run!.workflow.workflowId, run!.workflow.firstExecutionRunId);
    assert.equal(summary, expected);
    assert.match(details ?? '', /^\*\*Google Analytics\*\* connector of workspace \*\*Sync Co\.\*\*/);
    assert.match(details ?? '', /^- Accounts: Glow \/ Glow Shop$/m);

    // Its token workflow names every property the grant reaches.
    const token = await texts(connectorTokenWorkflowId(connector.id));
    assert.match(
      token.summary ?? '',
      /^Token refresh · google_analytics · Glow \/ Glow Shop, Glow \/ Glow Web · workspace Sync Co\.$/,
    );
  });

  it('a token workflow continued as new after a renewal keeps its summary in its memo', async () => {
    // LinkedIn's simulator issues 6-second tokens here: the workflow renews one about a second before it
    // expires, then continues as new.
    const workspace = await createWorkspace(stack.harness, 'LinkedIn Co.');
    const connector = await connectOAuth(stack.harness.app, workspace, 'linkedin');
    const handle = stack.client.workflow.getHandle(connectorTokenWorkflowId(connector.id));
    const first = await handle.describe();
    const { summary } = await texts(first.workflowId, first.runId);
    assert.equal(summary, 'Token refresh · linkedin · Glow Beauty, Glow Labs · workspace LinkedIn Co.');
    assert.equal(first.memo?.summary, summary);

    const continued = await waitFor(
      () => handle.describe(),
      (description) => description.runId !== first.runId,
      250,
    );
    assert.equal(continued.memo?.summary, summary, 'the memo carries over');
  });
});
