// The worker probe's activity: proves that a worker polls the task queue and reaches PostgreSQL.
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.ts';

export interface ProbeAnswer {
  workerIdentity: string;
  databaseTime: string;
}

export function createProbeActivities({ db, workerIdentity }: { db: Database; workerIdentity: string }) {
  return {
    async probeDatabase(): Promise<ProbeAnswer> {
      const [row] = await db.execute<{ now: string }>(sql`select now()::text as now`);
      return { workerIdentity, databaseTime: String(row?.now) };
    },
  };
}
