// After publication: a post the platform names publicly only later (TikTok's public id comes after moderation,
// minutes to hours after the post is live) is asked about until it is named, and its id and URL replace the
// interim ones on the publication. Asking never changes anything on the platform, and never touches the
// connector's status: the connector's own workflows tell a dead token.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { and, eq, sql } from 'drizzle-orm';
import type { CredentialsKeys } from '../config.ts';
import type { AdapterRegistry } from '../connectors/registry.ts';
import { recordAudit } from '../db/audit.ts';
import type { Database } from '../db/client.ts';
import { openConnectorCredentials } from '../db/connectors/credentials.ts';
import { connectorAccounts, connectors, publications, tasks } from '../db/schema.ts';
import { PlatformError } from '../domain/publication-errors.ts';
import { attemptHolder, createCallTurns } from './call-turns.ts';

/** Set in a publication's progress when it was published with `followUp`; cleared once the post is named. */
export const awaitingFinalId = 'awaitingFinalIdSince';

export interface FollowUpInput {
  taskId: string;
}

/** final: the public id is recorded; pending: ask again later; ended: nothing more will come. */
export type FollowUpOutcome = 'final' | 'pending' | 'ended';

export interface FollowUpActivityDependencies {
  db: Database;
  credentialsKeys: CredentialsKeys;
  adapters: AdapterRegistry;
}

export function createFollowUpActivities({ db, credentialsKeys, adapters }: FollowUpActivityDependencies) {
  const turns = createCallTurns(db);
  return {
    async followUpPublished(input: FollowUpInput): Promise<FollowUpOutcome> {
      const [row] = await db
        .select({ task: tasks, publication: publications, connector: connectors, account: connectorAccounts })
        .from(tasks)
        .innerJoin(publications, eq(publications.taskId, tasks.id))
        .innerJoin(connectors, eq(connectors.id, tasks.connectorId))
        .leftJoin(connectorAccounts, eq(connectorAccounts.id, tasks.accountId))
        .where(eq(tasks.id, input.taskId));
      if (!row) return 'ended';
      const interimId = row.publication.externalId;
      if (row.publication.status !== 'published' || !interimId) return 'ended';
      if (!row.publication.progress[awaitingFinalId]) return 'final';
      const adapter = adapters[row.connector.platform];
      if (!adapter?.completePublished) return 'ended';
      // A connector reconnecting later can still be asked: nothing to do until then.
      if (row.connector.status !== 'connected' || !row.connector.credentials) return 'pending';

      let answer: Awaited<ReturnType<NonNullable<typeof adapter.completePublished>>>;
      try {
        answer = await adapter.completePublished({
          taskId: row.task.id,
          account: row.account ? { kind: row.account.kind, externalId: row.account.externalId } : null,
          credentials: openConnectorCredentials(credentialsKeys, row.connector),
          externalId: interimId,
          progress: row.publication.progress,
          signal: Context.current().cancellationSignal,
          // This activity has no heartbeat time-out: it must not heartbeat.
          takeTurn: turns.forHolder(attemptHolder(row.connector, { heartbeats: false })),
        });
      } catch (error) {
        if (!(error instanceof PlatformError)) throw error;
        // Could not ask this time; the workflow asks again at its next interval.
        throw ApplicationFailure.create({ type: error.failure.class, message: error.failure.message });
      }
      if (answer.state === 'pending') return 'pending';

      await db.transaction(async (tx) => {
        const [named] = await tx
          .update(publications)
          .set({
            ...(answer.state === 'final'
              ? { externalId: answer.externalId, externalUrl: answer.externalUrl }
              : {}),
            progress: sql`${publications.progress} - ${awaitingFinalId}::text`,
            updatedAt: new Date(),
          })
          .where(
            and(
              eq(publications.id, row.publication.id),
              eq(publications.status, 'published'),
              eq(publications.externalId, interimId),
            ),
          )
          .returning({ id: publications.id });
        if (!named) return;
        await recordAudit(tx, {
          workspaceId: row.task.workspaceId,
          subjectType: 'publication',
          subjectId: row.publication.id,
          action: answer.state === 'final' ? 'named_by_platform' : 'follow_up_ended',
          actor: `workflow:${Context.current().info.workflowExecution?.workflowId ?? 'unknown'}`,
          details:
            answer.state === 'final'
              ? { taskId: row.task.id, interimId, externalId: answer.externalId }
              : { taskId: row.task.id, interimId, reason: answer.reason },
        });
      });
      return answer.state;
    },
  };
}

export type FollowUpActivities = ReturnType<typeof createFollowUpActivities>;
