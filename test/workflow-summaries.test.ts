// What the Temporal UI shows for each run before anyone opens it (domain/workflow-summaries.ts): an epic's
// time in the user's zone, title, workspace and channels; a connector's platform, accounts and workspace.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ConnectorSummaryFacts,
  connectorCheckWorkflowTexts,
  connectorFactsUnknown,
  connectorSyncWorkflowTexts,
  connectorTokenWorkflowTexts,
  epicWorkflowTexts,
  everyText,
  wallTimeIn,
} from '../domain/workflow-summaries.ts';

const epic = {
  epicId: '5b0c7a52-1f0e-4d9b-9d55-0a4b3c2d1e0f',
  title: 'Spring launch',
  workspaceId: '0f1e2d3c-4b5a-4968-8776-655443322110',
  workspaceName: 'Demo Coffee Co.',
  channels: ['instagram_post', 'klaviyo_email', 'instagram_post'],
  scheduledAt: '2027-03-14T13:00:00.000Z',
  timeZone: 'America/New_York',
};

const meta: ConnectorSummaryFacts = {
  connectorId: 'c0ffee00-0000-4000-8000-000000000001',
  platform: 'meta',
  workspaceId: epic.workspaceId,
  workspaceName: 'Demo Coffee Co.',
  accounts: [
    { kind: 'facebook_page', name: 'Demo Coffee Co.', enabled: true },
    { kind: 'instagram_account', name: 'democoffee', enabled: true },
    { kind: 'ad_account', name: 'Demo ads', enabled: false },
  ],
};

describe('an epic run reads as a line of the schedule', () => {
  it('says when in the zone the user scheduled in, what, for which workspace and where', () => {
    const { staticSummary, staticDetails } = epicWorkflowTexts(epic);
    assert.equal(
      staticSummary,
      'Sun 14 Mar 2027 09:00 America/New_York · “Spring launch” · workspace Demo Coffee Co. · ' +
        'instagram_post ×2, klaviyo_email',
    );
    assert.match(staticDetails, /^\*\*Spring launch\*\*, workspace \*\*Demo Coffee Co\.\*\*$/m);
    assert.match(
      staticDetails,
      /^- Publishes at: Sun 14 Mar 2027 09:00 America\/New_York \(UTC-04:00\), 2027-03-14T13:00:00\.000Z$/m,
    );
    assert.match(staticDetails, /^- Channels: instagram_post ×2, klaviyo_email$/m);
    assert.ok(staticDetails.includes(epic.epicId) && staticDetails.includes(epic.workspaceId));
  });

  it('reads the same instant in each zone, across a daylight-saving change, UTC when none was given', () => {
    assert.equal(
      wallTimeIn('2027-03-14T06:30:00Z', 'America/New_York').text,
      'Sun 14 Mar 2027 01:30 America/New_York',
    );
    assert.equal(
      wallTimeIn('2027-03-14T07:30:00Z', 'America/New_York').text,
      'Sun 14 Mar 2027 03:30 America/New_York',
    );
    assert.equal(wallTimeIn('2027-03-14T13:00:00Z', 'Asia/Tokyo').text, 'Sun 14 Mar 2027 22:00 Asia/Tokyo');
    assert.equal(wallTimeIn('2027-03-14T13:00:00Z', 'Australia/Sydney').offset, '+11:00');
    assert.equal(wallTimeIn('2027-03-14T13:00:07.250Z').text, 'Sun 14 Mar 2027 13:00:07 UTC');
    assert.equal(wallTimeIn('2027-03-14T13:00:00Z', 'Not/A_Zone').text, 'Sun 14 Mar 2027 13:00 UTC');
    assert.equal(wallTimeIn('not a time', 'Asia/Tokyo').text, 'not a time');
    const { staticSummary } = epicWorkflowTexts({ ...epic, timeZone: undefined });
    assert.ok(staticSummary.startsWith('Sun 14 Mar 2027 13:00 UTC · '), staticSummary);
  });

  it('stays one short line whatever the title, and shows user text literally in the Markdown details', () => {
    const long = epicWorkflowTexts({
      ...epic,
      title: `Line one\nline two\t${'x'.repeat(300)}`,
      workspaceName: 'W'.repeat(100),
      channels: [
        'instagram_post',
        'facebook_post',
        'linkedin_post',
        'tiktok_video',
        'klaviyo_email',
        'wordpress_article',
      ],
    });
    assert.ok(!/[\n\t]/.test(long.staticSummary));
    assert.ok([...long.staticSummary].length <= 200, long.staticSummary);
    assert.match(long.staticSummary, /“Line one line two x+…”/);
    const marked = epicWorkflowTexts({ ...epic, title: '**Sale** <b>[now](https://x.example)</b> _50%_' });
    assert.match(marked.staticSummary, /“\*\*Sale\*\* <b>\[now\]\(https:\/\/x\.example\)<\/b> _50%_”/);
    assert.ok(
      marked.staticDetails.startsWith(
        '**\\*\\*Sale\\*\\* \\<b\\>\\[now\\](https://x.example)\\</b\\> \\_50%\\_**, workspace',
      ),
      marked.staticDetails,
    );
  });

  it('names the workspace by its id when its name could not be read', () => {
    const { staticSummary, staticDetails } = epicWorkflowTexts({ ...epic, workspaceName: null });
    assert.ok(staticSummary.includes(`workspace ${epic.workspaceId}`));
    assert.ok(staticDetails.includes(`workspace **${epic.workspaceId}**`));
  });

  it('lists many channels in the details, the first four in the summary', () => {
    const channels = ['a_post', 'b_post', 'c_post', 'd_post', 'e_post', 'f_post'];
    const { staticSummary, staticDetails } = epicWorkflowTexts({ ...epic, channels });
    assert.ok(staticSummary.endsWith('a_post, b_post, c_post, d_post, +2 more'), staticSummary);
    assert.match(staticDetails, /^- Channels: a_post, b_post, c_post, d_post, e_post, f_post$/m);
  });
});

describe('a connector run names its platform, accounts and workspace', () => {
  it("token refresh: every account its grant reaches, in the platform's order, each with its kind", () => {
    const { staticSummary, staticDetails } = connectorTokenWorkflowTexts({
      ...meta,
      accounts: [...meta.accounts].reverse(),
    });
    assert.equal(
      staticSummary,
      'Token refresh · meta · Demo Coffee Co. (facebook_page), democoffee (instagram_account), ' +
        'Demo ads (ad_account) · workspace Demo Coffee Co.',
    );
    assert.match(
      staticDetails,
      /^\*\*Meta \(Facebook & Instagram\)\*\* connector of workspace \*\*Demo Coffee Co\.\*\*: renews/,
    );
    assert.match(
      staticDetails,
      /^- Accounts: Demo Coffee Co\. \(facebook_page\), .*Demo ads \(ad_account\)$/m,
    );
    assert.ok(staticDetails.includes(meta.connectorId));
  });

  it('sync and check: how often, and the accounts found while none is enabled yet', () => {
    const analytics: ConnectorSummaryFacts = {
      ...meta,
      platform: 'google_analytics',
      accounts: [{ kind: 'ga4_property', name: 'Demo Coffee – GA4', enabled: false }],
    };
    assert.equal(
      connectorSyncWorkflowTexts(analytics, 3_600_000).staticSummary,
      'Data sync every 1 h · google_analytics · Demo Coffee – GA4 (none enabled yet) · workspace Demo Coffee Co.',
    );
    // Only the kinds the platform syncs are read: another kind found on the grant is not named.
    const enabled = {
      ...analytics,
      accounts: [
        { ...analytics.accounts[0]!, enabled: true },
        { kind: 'ga_account', name: 'Demo account', enabled: true },
      ],
    };
    assert.equal(
      connectorSyncWorkflowTexts(enabled, 900_000).staticSummary,
      'Data sync every 15 min · google_analytics · Demo Coffee – GA4 · workspace Demo Coffee Co.',
    );
    const klaviyo: ConnectorSummaryFacts = {
      ...meta,
      platform: 'klaviyo',
      accounts: [
        { kind: 'list', name: 'Newsletter', enabled: true },
        { kind: 'list', name: 'Regulars', enabled: true },
      ],
    };
    assert.equal(
      connectorCheckWorkflowTexts(klaviyo, 21_600_000).staticSummary,
      'Credentials check every 6 h · klaviyo · Newsletter, Regulars · workspace Demo Coffee Co.',
    );
  });

  it('with facts that could not be read, still says the platform and names ids', () => {
    const unknown = connectorFactsUnknown({ id: meta.connectorId, platform: 'linkedin', workspaceId: 'w-1' });
    assert.equal(
      connectorTokenWorkflowTexts(unknown).staticSummary,
      'Token refresh · linkedin · no accounts yet · workspace w-1',
    );
  });

  it('caps the accounts in the summary, lists them all in the details', () => {
    const many: ConnectorSummaryFacts = {
      ...meta,
      accounts: Array.from({ length: 5 }, (_, index) => ({
        kind: 'facebook_page',
        name: `Page ${index + 1}`,
        enabled: true,
      })),
    };
    const { staticSummary, staticDetails } = connectorTokenWorkflowTexts(many);
    assert.ok(staticSummary.includes('Page 1, Page 2, Page 3, +2 more'), staticSummary);
    assert.match(staticDetails, /^- Accounts: Page 1, Page 2, Page 3, Page 4, Page 5$/m);
  });

  it('reads intervals as an operator says them', () => {
    assert.deepEqual([86_400_000, 21_600_000, 90_000, 1_500].map(everyText), [
      'every 1 d',
      'every 6 h',
      'every 90 s',
      'every 1500 ms',
    ]);
  });
});
