// Reading an epic as its workspace sees it, and asking the lifecycle before changing it: shared by the
// editing routes and the transition routes so both answer 404 and 409 the same way.
import { and, eq } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import type { EpicRow } from '../db/epic-transitions.ts';
import { epics } from '../db/schema.ts';
import { decideTransition, type EpicStatus, type EpicTransition } from '../domain/epic-state-machine.ts';
import { ApiError, notFound } from './errors.ts';

export type { EpicRow };

/** The epic, row-locked for the rest of the transaction; another workspace's epic is not found. */
export async function lockEpic(executor: Executor, workspaceId: string, id: string): Promise<EpicRow> {
  const [row] = await executor
    .select()
    .from(epics)
    .where(and(eq(epics.id, id), eq(epics.workspaceId, workspaceId)))
    .for('update');
  if (!row) throw notFound('epic');
  return row;
}

export async function loadEpic(executor: Executor, workspaceId: string, id: string): Promise<EpicRow> {
  const [row] = await executor
    .select()
    .from(epics)
    .where(and(eq(epics.id, id), eq(epics.workspaceId, workspaceId)));
  if (!row) throw notFound('epic');
  return row;
}

/** The status the transition leads to, or a 409 saying why the lifecycle refuses it. */
export function refuseUnless(
  status: EpicStatus,
  transition: EpicTransition,
  facts?: Parameters<typeof decideTransition>[2],
): EpicStatus {
  const decision = decideTransition(status, transition, facts);
  if (!decision.allowed) throw new ApiError(409, decision.code, decision.message, decision.details);
  return decision.to;
}
