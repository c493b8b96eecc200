// The audit log: every transition records who or what caused it, in the same transaction as the change.
import type { Executor } from './client.ts';
import { auditEvents } from './schema.ts';

export interface AuditEntry {
  workspaceId: string;
  subjectType: 'workspace' | 'epic' | 'task' | 'publication' | 'connector' | 'webhook';
  subjectId: string;
  action: string;
  fromStatus?: string | null;
  toStatus?: string | null;
  actor: string;
  details?: Record<string, unknown>;
}

export async function recordAudit(executor: Executor, entry: AuditEntry): Promise<void> {
  await executor.insert(auditEvents).values({
    workspaceId: entry.workspaceId,
    subjectType: entry.subjectType,
    subjectId: entry.subjectId,
    action: entry.action,
    fromStatus: entry.fromStatus ?? null,
    toStatus: entry.toStatus ?? null,
    actor: entry.actor,
    details: entry.details ?? {},
  });
}

/** An event of one connector: its workspace and id name the subject. */
export function auditConnector(
  executor: Executor,
  connector: { id: string; workspaceId: string },
  entry: Omit<AuditEntry, 'workspaceId' | 'subjectType' | 'subjectId'>,
): Promise<void> {
  return recordAudit(executor, {
    workspaceId: connector.workspaceId,
    subjectType: 'connector',
    subjectId: connector.id,
    ...entry,
  });
}
