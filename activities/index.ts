// Activities: everything with I/O that workflows need. Built by a factory that receives its dependencies,
// so the worker wires real ones and tests can wire a fresh database.
import type { Database } from '../db/client.ts';
import { createProbeActivities } from './probe.ts';

export interface ActivityDependencies {
  db: Database;
  /** Names the worker in probe answers, so an operator sees which process answered. */
  workerIdentity: string;
}

export function createActivities(dependencies: ActivityDependencies) {
  return {
    ...createProbeActivities(dependencies),
  };
}

export type Activities = ReturnType<typeof createActivities>;
