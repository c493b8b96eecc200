// The workflow bundle's entry: every workflow type the worker registers is exported here.
export { epic } from './epic.ts';
export { workerProbe } from './worker-probe.ts';
