// Activities: everything with I/O that workflows need. Built by a factory that receives its dependencies,
// so the worker wires real ones (the configured platform hosts) and tests wire simulators.
import type { Config } from '../config.ts';
import type { MediaProbe } from '../connectors/media.ts';
import type { AdapterRegistry } from '../connectors/registry.ts';
import type { Database } from '../db/client.ts';
import { createWorkerMetrics, type WorkerMetrics } from '../observability/metrics.ts';
import { createConnectorSyncActivities } from './connector-sync.ts';
import { createConnectorTokenActivities } from './connector-token.ts';
import { createEpicActivities, type PublishPolicy } from './epic.ts';
import { createFollowUpActivities } from './follow-up.ts';
import { createMetricsActivities } from './metrics.ts';
import { createOperationsSweepActivities } from './operations-sweep.ts';
import { createPreflightActivities } from './preflight.ts';
import { createProbeActivities } from './probe.ts';

export interface ActivityDependencies {
  db: Database;
  /** Names the worker in probe answers, so an operator sees which process answered. */
  workerIdentity: string;
  credentialsKeys: Config['CREDENTIALS_KEY'];
  adapters: AdapterRegistry;
  policy: PublishPolicy;
  /** How the pre-flight looks at media URLs (the worker's allows private hosts only when configured to). */
  mediaProbe?: MediaProbe;
  /** Where publications, attempts, lag and token refreshes are counted (the worker's /metrics). */
  metrics?: WorkerMetrics;
  /** When the operations sweep tells an epic overdue and a publication stuck (config.ts). */
  operations?: { overdueThresholdMs: number; stuckAfterMs: number };
}

export function publishPolicyFrom(config: Config): PublishPolicy {
  return {
    attemptsLimit: config.PUBLICATION_ATTEMPTS_LIMIT,
    initialIntervalMs: config.PUBLICATION_RETRY_INITIAL_INTERVAL_MS,
    maxIntervalMs: config.PUBLICATION_RETRY_MAX_INTERVAL_MS,
    backoff: config.PUBLICATION_RETRY_BACKOFF,
    heartbeatTimeoutMs: config.PUBLICATION_HEARTBEAT_TIMEOUT_MS,
    confirmationWindowMs: config.HANDOFF_CONFIRMATION_WINDOW_MS,
    confirmPollMs: config.HANDOFF_CONFIRMATION_POLL_MS,
    missedScheduleGraceMs: config.HANDOFF_MISSED_SCHEDULE_GRACE_MS,
    errorRunOpenMs: Math.round(config.EPIC_ERROR_RUN_OPEN_DAYS * 86_400_000),
    maxLatenessMs: config.PUBLICATION_MAX_LATENESS_MS,
    transitionTimeoutMs: config.TRANSITION_TIMEOUT_MS,
    preflightAheadMs: config.PREFLIGHT_AHEAD_MS,
    prepareAheadMs: config.PUBLICATION_PREPARE_AHEAD_MS,
    metricsScheduleScale: config.METRICS_SCHEDULE_SCALE,
    followUp: {
      firstDelayMs: config.PUBLICATION_FOLLOW_UP_FIRST_MS,
      maxDelayMs: 6 * 3_600_000,
      forMs: config.PUBLICATION_FOLLOW_UP_FOR_MS,
    },
  };
}

export function createActivities(given: ActivityDependencies) {
  const dependencies = { ...given, metrics: given.metrics ?? createWorkerMetrics() };
  const preflight = createPreflightActivities(dependencies);
  return {
    ...createProbeActivities(dependencies),
    ...createEpicActivities({ ...dependencies, preflightEpic: preflight.preflightEpic }),
    ...preflight,
    ...createFollowUpActivities(dependencies),
    ...createMetricsActivities(dependencies),
    ...createConnectorTokenActivities(dependencies),
    ...createConnectorSyncActivities(dependencies),
    ...createOperationsSweepActivities({
      db: dependencies.db,
      ...(dependencies.operations ?? { overdueThresholdMs: 300_000, stuckAfterMs: 840_000 }),
    }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
