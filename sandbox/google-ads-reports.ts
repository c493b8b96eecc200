// The Google simulator's campaign metrics: GAQL `SELECT … metrics.* FROM campaign WHERE campaign.resource_name
// IN (…)` (or `=`) answered as googleAds:search does (proto3 JSON: int64 as strings, zero values left out),
// with impressions, clicks, cost and conversions that grow with the simulator's clock while a campaign serves.
import type { GoogleSimulatorCampaign } from './google.ts';
import { grown } from './report-growth.ts';
import type { SimulatorResponse } from './simulator-server.ts';

const fields: Record<string, (row: MetricsRow) => [string, string, unknown]> = {
  'campaign.resource_name': (row) => ['campaign', 'resourceName', row.campaign.resourceName],
  'campaign.id': (row) => ['campaign', 'id', row.campaign.resourceName.split('/').pop()],
  'campaign.name': (row) => ['campaign', 'name', row.campaign.name],
  'campaign.status': (row) => ['campaign', 'status', row.campaign.status],
  'customer.currency_code': (row) => ['customer', 'currencyCode', row.currencyCode],
  'metrics.impressions': (row) => ['metrics', 'impressions', String(row.impressions)],
  'metrics.clicks': (row) => ['metrics', 'clicks', String(row.clicks)],
  'metrics.cost_micros': (row) => ['metrics', 'costMicros', String(row.costMicros)],
  'metrics.conversions': (row) => ['metrics', 'conversions', row.conversions],
};

interface MetricsRow {
  campaign: GoogleSimulatorCampaign;
  currencyCode: string;
  impressions: number;
  clicks: number;
  costMicros: number;
  conversions: number;
}

/** How long the campaign has served (ENABLED) up to `now`, in ms. */
function servedMs(campaign: GoogleSimulatorCampaign, now: number): number {
  let served = 0;
  let since: number | null = null;
  for (const change of campaign.statusChanges) {
    const at = change.at.getTime();
    if (at > now) break;
    if (change.status === 'ENABLED' && since === null) since = at;
    else if (change.status !== 'ENABLED' && since !== null) {
      served += at - since;
      since = null;
    }
  }
  return since === null ? served : served + (now - since);
}

/** A campaign metrics search; null when the query selects no metrics (the other searches answer it). */
export function searchCampaignMetrics(input: {
  query: string;
  customerId: string;
  campaigns: readonly GoogleSimulatorCampaign[];
  now: number;
  currencyCode: string;
  invalidArgument: (errorCode: Record<string, string>, message: string) => SimulatorResponse;
}): SimulatorResponse | null {
  const { query, invalidArgument } = input;
  if (!/\bmetrics\./i.test(query)) return null;
  const parsed = /^\s*SELECT\s+(.+?)\s+FROM\s+campaign(?:\s+WHERE\s+(.+?))?\s*$/is.exec(query);
  if (!parsed?.[1]) {
    return invalidArgument(
      { queryError: 'UNEXPECTED_END_OF_QUERY' },
      'Error in query: unexpected end of query.',
    );
  }
  const selected = parsed[1].split(',').map((field) => field.trim());
  const unknown = selected.find((field) => !(field in fields));
  if (unknown) {
    return invalidArgument(
      { queryError: 'UNRECOGNIZED_FIELD' },
      `Unrecognized field in the query: '${unknown}'.`,
    );
  }
  let wanted: Set<string> | null = null;
  if (parsed[2]) {
    const condition = /^campaign\.resource_name\s+(?:IN\s*\(([^)]*)\)|=\s*('[^']*'))$/i.exec(
      parsed[2].trim(),
    );
    if (!condition) {
      return invalidArgument({ queryError: 'UNEXPECTED_INPUT' }, `Error in query near '${parsed[2]}'.`);
    }
    const literals = (condition[1] ?? condition[2] ?? '').split(',').map((part) => part.trim());
    if (literals.some((literal) => !/^'[^']*'$/.test(literal))) {
      return invalidArgument({ queryError: 'BAD_VALUE' }, 'Resource names must be quoted string literals.');
    }
    wanted = new Set(literals.map((literal) => literal.slice(1, -1)));
  }
  const results = input.campaigns
    .filter((campaign) => campaign.customerId === input.customerId)
    .filter((campaign) => wanted === null || wanted.has(campaign.resourceName))
    .map((campaign) => {
      const served = servedMs(campaign, input.now);
      const impressions = grown(5000, served, 24);
      const clicks = grown(240, served, 24);
      const row: MetricsRow = {
        campaign,
        currencyCode: input.currencyCode,
        impressions,
        clicks,
        // 0.85 per click, in micros.
        costMicros: clicks * 850_000,
        // Conversions come late and keep moving for days; fractional, as data-driven attribution gives them.
        conversions: grown(18, served, 72) + (clicks > 0 ? 0.5 : 0),
      };
      const answer: Record<string, Record<string, unknown>> = {
        campaign: { resourceName: campaign.resourceName },
      };
      for (const field of selected) {
        const [resource, key, value] = (fields[field] as (row: MetricsRow) => [string, string, unknown])(row);
        // proto3 JSON leaves out zero values.
        if (value === 0 || value === '0' || value === '') continue;
        answer[resource] = { ...(answer[resource] ?? {}), [key]: value };
      }
      if (selected.some((field) => field.startsWith('metrics.'))) answer.metrics ??= {};
      return answer;
    });
  return {
    status: 200,
    body: {
      ...(results.length > 0 ? { results } : {}),
      fieldMask: selected
        .map((field) => field.replace(/_(\w)/g, (_, letter: string) => letter.toUpperCase()))
        .join(','),
      requestId: 'sim-metrics',
    },
  };
}
