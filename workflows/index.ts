// The workflow bundle's entry: every workflow type the worker registers is exported here.
export { connectorCredentialCheck } from './connector-check.ts';
export { connectorSync } from './connector-sync.ts';
export { connectorToken } from './connector-token.ts';
export { epic } from './epic.ts';
export { epicMetrics } from './epic-metrics.ts';
export { operationsSweep } from './operations-sweep.ts';
export { publicationFollowUp } from './publication-follow-up.ts';
export { webhookDelivery } from './webhook-delivery.ts';
export { workerProbe } from './worker-probe.ts';
