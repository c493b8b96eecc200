// The Klaviyo simulator's reporting endpoints (`POST /api/campaign-values-reports`, `GET /api/metrics`), as
// strict as Klaviyo about the report body (statistics, timeframe, conversion metric, filter ≤ 100 ids), with
// counts that grow with the simulator's clock since each campaign was sent.
import {
  type Call,
  FilterError,
  type FilterNode,
  invalid,
  type Json,
  type Operation,
  parseDateTime,
  parseFilter,
  rejectUnknownKeys,
  requireObject,
} from './klaviyo.ts';
import { grown } from './report-growth.ts';

/** What the simulator knows of a campaign, for its reports. */
export interface ReportedCampaign {
  id: string;
  messageIds: string[];
  /** When it went out; null while it has not been sent. */
  sentAt: Date | null;
}

/** The metrics of the simulated account; a Shopify-connected workspace has "Placed Order". */
export const defaultKlaviyoMetrics = [
  { id: 'RcvEml', name: 'Received Email' },
  { id: 'OpnEml', name: 'Opened Email' },
  { id: 'ClkEml', name: 'Clicked Email' },
  { id: 'PlcOrd', name: 'Placed Order' },
];

// Klaviyo's campaign statistics (counts and rates) as of the 2025 revisions.
const knownStatistics = new Set([
  'average_order_value',
  'bounce_rate',
  'bounced',
  'bounced_or_failed',
  'bounced_or_failed_rate',
  'click_rate',
  'click_to_open_rate',
  'clicks',
  'clicks_unique',
  'conversion_rate',
  'conversion_uniques',
  'conversion_value',
  'conversions',
  'delivered',
  'delivery_rate',
  'failed',
  'failed_rate',
  'open_rate',
  'opens',
  'opens_unique',
  'recipients',
  'revenue_per_recipient',
  'spam_complaint_rate',
  'spam_complaints',
  'unsubscribe_rate',
  'unsubscribe_uniques',
  'unsubscribes',
]);
const day = 24 * 3_600_000;
const timeframeKeys: Record<string, number> = {
  today: day,
  last_7_days: 7 * day,
  last_30_days: 30 * day,
  last_90_days: 90 * day,
  last_365_days: 365 * day,
};
const maxIds = 100;
const groupingFields = ['campaign_id', 'campaign_message_id', 'send_channel'];

/** A sent campaign's counts `elapsedMs` after it went out (1,000 recipients). */
function campaignStatistics(elapsedMs: number): Record<string, number> {
  const recipients = 1000;
  const bounced = 15;
  const delivered = recipients - bounced;
  const opensUnique = grown(420, elapsedMs, 4);
  const clicksUnique = grown(90, elapsedMs, 6);
  const conversions = grown(12, elapsedMs, 24);
  const counts: Record<string, number> = {
    recipients,
    delivered,
    bounced,
    bounced_or_failed: bounced,
    failed: 0,
    opens_unique: opensUnique,
    opens: Math.floor(opensUnique * 1.6),
    clicks_unique: clicksUnique,
    clicks: Math.floor(clicksUnique * 1.3),
    unsubscribes: grown(6, elapsedMs, 6),
    unsubscribe_uniques: grown(6, elapsedMs, 6),
    spam_complaints: grown(1, elapsedMs, 6),
    conversions,
    conversion_uniques: conversions,
    conversion_value: conversions * 48.5,
  };
  const ratio = (part: number, whole: number) => (whole === 0 ? 0 : part / whole);
  return {
    ...counts,
    open_rate: ratio(opensUnique, delivered),
    click_rate: ratio(clicksUnique, delivered),
    click_to_open_rate: ratio(clicksUnique, opensUnique),
    bounce_rate: ratio(bounced, recipients),
    bounced_or_failed_rate: ratio(bounced, recipients),
    failed_rate: 0,
    delivery_rate: ratio(delivered, recipients),
    unsubscribe_rate: ratio(counts.unsubscribes ?? 0, delivered),
    spam_complaint_rate: ratio(counts.spam_complaints ?? 0, delivered),
    conversion_rate: ratio(conversions, delivered),
    average_order_value: conversions === 0 ? 0 : 48.5,
    revenue_per_recipient: ratio(counts.conversion_value ?? 0, recipients),
  };
}

/** The report's filter as a test on one row: equals / contains-any on its groupings, joined by and(). */
function rowFilter(text: string): (row: Record<string, string>) => boolean {
  let tree: FilterNode;
  try {
    tree = parseFilter(text);
  } catch (error) {
    if (error instanceof FilterError) {
      throw invalid(`Invalid filter provided: ${error.message}.`, { pointer: '/data/attributes/filter' });
    }
    throw error;
  }
  const compile = (node: FilterNode): ((row: Record<string, string>) => boolean) => {
    if (node.kind === 'call' && node.name === 'and') {
      const parts = node.args.map(compile);
      return (row) => parts.every((part) => part(row));
    }
    const [field, value] = node.kind === 'call' ? node.args : [];
    if (
      node.kind !== 'call' ||
      field?.kind !== 'field' ||
      value?.kind !== 'value' ||
      !groupingFields.includes(field.path)
    ) {
      throw invalid('Invalid filter provided: only equals and contains-any on groupings are supported.', {
        pointer: '/data/attributes/filter',
      });
    }
    if (node.name === 'equals' && typeof value.value === 'string') {
      const expected = value.value;
      return (row) => row[field.path] === expected;
    }
    if (node.name === 'contains-any' && Array.isArray(value.value)) {
      if (value.value.length > maxIds) {
        throw invalid(`contains-any accepts at most ${maxIds} values.`, {
          pointer: '/data/attributes/filter',
        });
      }
      const expected = value.value.map(String);
      return (row) => expected.includes(row[field.path] ?? '');
    }
    throw invalid(`Invalid filter provided: '${node.name}' is not valid for '${field.path}'.`, {
      pointer: '/data/attributes/filter',
    });
  };
  return compile(tree);
}

export function klaviyoReportRoutes(input: {
  now: () => Date;
  campaigns: () => ReportedCampaign[];
  metrics: { id: string; name: string }[];
}): { pattern: RegExp; operations: Record<string, Operation> }[] {
  const { now } = input;

  const metricsList = (call: Call) => {
    for (const name of Object.keys(call.request.query)) {
      if (name.startsWith('page')) {
        throw invalid(`'${name}' is not a valid field for the resource 'metric'.`, { parameter: name });
      }
    }
    const stamp = now()
      .toISOString()
      .replace(/\.\d{3}Z$/, '+00:00');
    return {
      status: 200,
      body: {
        data: input.metrics.map((metric) => ({
          type: 'metric',
          id: metric.id,
          attributes: {
            name: metric.name,
            created: stamp,
            updated: stamp,
            integration: { object: 'integration', id: '0rG4eQ', name: 'Klaviyo', category: 'Internal' },
          },
          links: { self: `${call.origin}/api/metrics/${metric.id}` },
        })),
        links: { self: `${call.origin}/api/metrics`, next: null, prev: null },
      },
    };
  };

  const valuesReport = (call: Call) => {
    const data = requireObject(requireObject(call.request.body, '/').data, '/data');
    rejectUnknownKeys(data, ['type', 'attributes'], 'campaign-values-report', '/data');
    if (data.type !== 'campaign-values-report') {
      throw invalid("Type must be 'campaign-values-report'.", { pointer: '/data/type' });
    }
    const attributes = requireObject(data.attributes, '/data/attributes');
    rejectUnknownKeys(
      attributes,
      ['statistics', 'timeframe', 'conversion_metric_id', 'filter', 'group_by'],
      'campaign-values-report',
      '/data/attributes',
    );
    const asked = attributes.statistics;
    if (!Array.isArray(asked) || asked.length === 0) {
      throw invalid('statistics is required.', { pointer: '/data/attributes/statistics' });
    }
    for (const name of asked) {
      if (typeof name !== 'string' || !knownStatistics.has(name)) {
        throw invalid(`'${String(name)}' is not a valid statistic.`, {
          pointer: '/data/attributes/statistics',
        });
      }
    }
    if (typeof attributes.conversion_metric_id !== 'string' || attributes.conversion_metric_id === '') {
      throw invalid('conversion_metric_id is required.', {
        pointer: '/data/attributes/conversion_metric_id',
      });
    }
    if (!input.metrics.some((metric) => metric.id === attributes.conversion_metric_id)) {
      throw invalid(`Metric ${attributes.conversion_metric_id} does not exist.`, {
        pointer: '/data/attributes/conversion_metric_id',
      });
    }
    const timeframe = requireObject(attributes.timeframe, '/data/attributes/timeframe');
    let start: Date;
    let end: Date;
    if ('key' in timeframe) {
      rejectUnknownKeys(timeframe, ['key'], 'campaign-values-report', '/data/attributes/timeframe');
      const span = timeframeKeys[String(timeframe.key)];
      if (span === undefined) {
        throw invalid(`'${String(timeframe.key)}' is not a valid timeframe key.`, {
          pointer: '/data/attributes/timeframe/key',
        });
      }
      end = now();
      start = new Date(end.getTime() - span);
    } else {
      rejectUnknownKeys(timeframe, ['start', 'end'], 'campaign-values-report', '/data/attributes/timeframe');
      start = parseDateTime(timeframe.start, '/data/attributes/timeframe/start');
      end = parseDateTime(timeframe.end, '/data/attributes/timeframe/end');
      if (end.getTime() <= start.getTime()) {
        throw invalid('The timeframe end must be after its start.', {
          pointer: '/data/attributes/timeframe',
        });
      }
      if (end.getTime() - start.getTime() > 365 * day) {
        throw invalid('The timeframe must be less than 1 year.', { pointer: '/data/attributes/timeframe' });
      }
    }
    const keep =
      attributes.filter === undefined || attributes.filter === null
        ? () => true
        : rowFilter(String(attributes.filter));
    const results: Json[] = [];
    for (const campaign of input.campaigns()) {
      const { sentAt } = campaign;
      if (!sentAt || sentAt < start || sentAt > end) continue;
      const groupings = {
        send_channel: 'email',
        campaign_id: campaign.id,
        campaign_message_id: campaign.messageIds[0] ?? '',
      };
      if (!keep(groupings)) continue;
      const all = campaignStatistics(now().getTime() - sentAt.getTime());
      const statistics = Object.fromEntries(asked.map((name: string) => [name, all[name] ?? 0]));
      results.push({ groupings, statistics });
    }
    return {
      status: 200,
      body: {
        data: {
          type: 'campaign-values-report',
          id: crypto.randomUUID(),
          attributes: { results },
          links: { self: `${call.origin}/api/campaign-values-reports` },
        },
        links: { self: `${call.origin}/api/campaign-values-reports` },
      },
    };
  };

  return [
    { pattern: /^\/api\/metrics\/?$/, operations: { GET: { scope: 'metrics:read', handle: metricsList } } },
    {
      pattern: /^\/api\/campaign-values-reports\/?$/,
      operations: { POST: { scope: 'campaigns:read', handle: valuesReport } },
    },
  ];
}
