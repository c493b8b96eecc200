// Reads of connectors the API and the store share: a workspace's connectors and their accounts in the order
// the page shows them, and the plan that bounds how many platforms it may connect.
import { and, asc, eq } from 'drizzle-orm';
import { type PlanName, plans } from '../../domain/plans.ts';
import type { Executor } from '../client.ts';
import { type AccountRow, connectorAccounts, connectors, workspaces } from '../schema.ts';

/** The workspace's connector (a query: lock it with `.for('update')`); another workspace's finds nothing. */
export function selectConnector(executor: Executor, workspaceId: string, connectorId: string) {
  return executor
    .select()
    .from(connectors)
    .where(and(eq(connectors.id, connectorId), eq(connectors.workspaceId, workspaceId)));
}

/** The connector's accounts in the order the page shows them. */
export function listAccounts(executor: Executor, connectorId: string): Promise<AccountRow[]> {
  return executor
    .select()
    .from(connectorAccounts)
    .where(eq(connectorAccounts.connectorId, connectorId))
    .orderBy(asc(connectorAccounts.kind), asc(connectorAccounts.name), asc(connectorAccounts.id));
}

/** The workspace's connectors, by platform. */
export function listConnectors(executor: Executor, workspaceId: string) {
  return executor
    .select()
    .from(connectors)
    .where(eq(connectors.workspaceId, workspaceId))
    .orderBy(asc(connectors.platform));
}

/** The workspace's plan (starter when it names none); `lock` holds the workspace row until the commit. */
export async function planOf(executor: Executor, workspaceId: string, options: { lock?: boolean } = {}) {
  const query = executor.select().from(workspaces).where(eq(workspaces.id, workspaceId));
  const [workspace] = options.lock ? await query.for('update') : await query;
  return plans[(workspace?.plan ?? 'starter') as PlanName] ?? plans.starter;
}
