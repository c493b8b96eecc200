// The Mailchimp simulator's campaign report (`GET /3.0/reports/{campaign_id}`): Mailchimp's shape, with
// counts (Apple Mail Privacy Protection opens apart) that grow with the simulator's clock since the send.
import type { CampaignRecord } from './mailchimp.ts';
import { problem } from './mailchimp.ts';
import { grown } from './report-growth.ts';
import type { RecordedRequest, SimulatorResponse } from './simulator-server.ts';

const listSize = 800;

/** `GET /reports/{id}`: null when the path is not a report; a 404 for a campaign that is gone or unsent. */
export function mailchimpReport(
  request: RecordedRequest,
  resource: string,
  input: { campaign(id: string): CampaignRecord | undefined; now: number },
): SimulatorResponse | null {
  const match = /^\/reports\/([^/]+)$/.exec(resource);
  if (!match) return null;
  if (request.method !== 'GET')
    return problem(405, 'Method Not Allowed', 'The requested method is not allowed.');
  const campaign = input.campaign(decodeURIComponent(match[1] as string));
  if (!campaign?.sendStartedAt || (campaign.status !== 'sending' && campaign.status !== 'sent')) {
    return problem(404, 'Resource Not Found', 'The requested resource could not be found.');
  }
  const elapsed = input.now - campaign.sendStartedAt.getTime();
  const hard = 6;
  const soft = 4;
  const delivered = listSize - hard - soft;
  const uniqueOpens = grown(380, elapsed, 4);
  // Apple Mail opens every message on arrival: those come at once and are counted apart.
  const machineOpens = elapsed > 0 ? 120 : 0;
  const proxyExcludedUnique = Math.max(0, uniqueOpens - machineOpens);
  const opensTotal = Math.floor(uniqueOpens * 1.5);
  const proxyExcludedOpens = Math.max(0, opensTotal - machineOpens);
  const uniqueClicks = grown(70, elapsed, 6);
  const rate = (part: number) => (delivered === 0 ? 0 : part / delivered);
  return {
    status: 200,
    body: {
      id: campaign.id,
      campaign_title: campaign.settings.title ?? '',
      type: campaign.type,
      list_id: campaign.listId,
      list_is_active: true,
      list_name: 'Audience',
      subject_line: campaign.settings.subject_line ?? '',
      preview_text: campaign.settings.preview_text ?? '',
      emails_sent: listSize,
      abuse_reports: grown(1, elapsed, 12),
      unsubscribed: grown(5, elapsed, 6),
      send_time: campaign.sendStartedAt.toISOString().replace(/\.\d{3}Z$/, '+00:00'),
      bounces: { hard_bounces: hard, soft_bounces: soft, syntax_errors: 0 },
      forwards: { forwards_count: 0, forwards_opens: 0 },
      opens: {
        opens_total: opensTotal,
        proxy_excluded_opens: proxyExcludedOpens,
        unique_opens: uniqueOpens,
        proxy_excluded_unique_opens: proxyExcludedUnique,
        open_rate: rate(uniqueOpens),
        proxy_excluded_open_rate: rate(proxyExcludedUnique),
        last_open: elapsed > 0 ? new Date(input.now).toISOString().replace(/\.\d{3}Z$/, '+00:00') : '',
      },
      clicks: {
        clicks_total: Math.floor(uniqueClicks * 1.4),
        unique_clicks: uniqueClicks,
        unique_subscriber_clicks: uniqueClicks,
        click_rate: rate(uniqueClicks),
        last_click: '',
      },
      ecommerce: {
        total_orders: grown(9, elapsed, 24),
        total_spent: 0,
        total_revenue: 0,
        currency_code: 'USD',
      },
      _links: [],
    },
  };
}
