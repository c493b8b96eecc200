// Prometheus metrics (prom-client). The worker counts what its activities do (publications, attempts, publish
// lag, token refreshes) and adds the Temporal SDK's own worker metrics; the API counts requests and reads the
// state of the whole deployment from PostgreSQL when scraped (connectors by status, epics by status, overdue
// epics, stuck publications), so every API process reports the same figures and no worker has to keep them.
// Labels never name a workspace: a tenant's figures are not an operator metric, and ids would explode series.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds from the scheduled time to the platform's confirmation: on time is under a few seconds. */
const publishLagBuckets = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600];

export interface WorkerMetricsOptions {
  /** The process's own figures (CPU, memory, event loop); off where several workers share one process (tests). */
  processMetrics?: boolean;
}

export function createWorkerMetrics(options: WorkerMetricsOptions = {}) {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const publications = new Counter({
    name: 'glowtify_publications_total',
    help: 'Publications that reached a final state, by platform, channel and outcome (published, unconfirmed, failed)',
    labelNames: ['platform', 'channel', 'outcome'] as const,
    registers,
  });
  const attempts = new Counter({
    name: 'glowtify_publication_attempts_total',
    help: 'Tries to publish or hand off a publication, by platform, channel and result (published, handed_off, or the error class)',
    labelNames: ['platform', 'channel', 'result'] as const,
    registers,
  });
  const publishLag = new Histogram({
    name: 'glowtify_publish_lag_seconds',
    help: 'From the scheduled time to the platform confirming the publication',
    labelNames: ['platform', 'channel'] as const,
    buckets: publishLagBuckets,
    registers,
  });
  const tokenRefreshes = new Counter({
    name: 'glowtify_token_refreshes_total',
    help: 'Token renewals by platform and outcome (renewed, superseded by a reconnect, refused, transient_error)',
    labelNames: ['platform', 'outcome'] as const,
    registers,
  });
  const webhookDeliveries = new Counter({
    name: 'glowtify_webhook_deliveries_total',
    help: 'Webhook delivery tries by outcome (delivered, retrying, failed: given up after 24 h)',
    labelNames: ['outcome'] as const,
    registers,
  });
  return {
    registry,
    webhookDelivery(outcome: 'delivered' | 'retrying' | 'failed') {
      webhookDeliveries.inc({ outcome });
    },
    attempt(platform: string, channel: string, result: string) {
      attempts.inc({ platform, channel, result: result.toLowerCase() });
    },
    published(platform: string, channel: string, lagMs: number | null) {
      publications.inc({ platform, channel, outcome: 'published' });
      if (lagMs !== null) publishLag.observe({ platform, channel }, lagMs / 1000);
    },
    ended(platform: string, channel: string, outcome: 'unconfirmed' | 'failed') {
      publications.inc({ platform, channel, outcome });
    },
    tokenRefresh(platform: string, outcome: 'renewed' | 'superseded' | 'refused' | 'transient_error') {
      tokenRefreshes.inc({ platform, outcome });
    },
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** A query the API runs when scraped: rows of label values and a count. */
export type CountQuery = () => Promise<{ labels: Record<string, string>; count: number }[]>;

export interface ApiMetricsSources {
  connectorsByStatus: CountQuery;
  epicsByStatus: CountQuery;
  overdueEpics: () => Promise<number>;
  stuckPublications: () => Promise<number>;
}

export function createApiMetrics(sources: ApiMetricsSources, options: WorkerMetricsOptions = {}) {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const requests = new Counter({
    name: 'glowtify_http_requests_total',
    help: 'API requests by method, route (its pattern, not its ids) and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers,
  });
  const requestDuration = new Histogram({
    name: 'glowtify_http_request_duration_seconds',
    help: 'API request durations by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const countGauge = (name: string, help: string, labelNames: string[], query: CountQuery) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      async collect() {
        const rows = await query();
        this.reset();
        for (const row of rows) this.set(row.labels, row.count);
      },
    });
  countGauge(
    'glowtify_connectors',
    'Connectors by platform and status',
    ['platform', 'status'],
    sources.connectorsByStatus,
  );
  countGauge('glowtify_epics', 'Epics by status', ['status'], sources.epicsByStatus);
  new Gauge({
    name: 'glowtify_overdue_epics',
    help: 'Scheduled epics due for longer than OVERDUE_THRESHOLD_MS with nothing attempted',
    registers,
    async collect() {
      this.set(await sources.overdueEpics());
    },
  });
  new Gauge({
    name: 'glowtify_stuck_publications',
    help: 'Publications publishing for longer than their attempts and time-outs allow',
    registers,
    async collect() {
      this.set(await sources.stuckPublications());
    },
  });
  return {
    registry,
    request(method: string, route: string, status: number, seconds: number) {
      requests.inc({ method, route, status: String(status) });
      requestDuration.observe({ method, route }, seconds);
    },
  };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;
