// The epic workflow's activities: every db write of its state changes, and every platform call through
// the adapters. The duplicate guards live here: a publication with an external id is never sent again, and
// what an adapter learns mid-way (an Instagram container, a Klaviyo campaign) is saved before its next call.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { and, asc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { CredentialsKeys } from '../config.ts';
import type { AdapterRegistry } from '../connectors/registry.ts';
import type { PlatformAdapter, PublicationContext, PublicationProgress } from '../connectors/types.ts';
import { recordAudit } from '../db/audit.ts';
import type { Database, Executor } from '../db/client.ts';
import { openCredentials } from '../db/credentials-codec.ts';
import { connectorAccounts, connectors, epics, notifications, publications, tasks } from '../db/schema.ts';
import { type Channel, channelFacts, type Platform } from '../domain/channels.ts';
import type { TaskContent } from '../domain/content.ts';
import type { EpicStatus } from '../domain/epic-state-machine.ts';
import {
  HandOffLockedError,
  nonRetryableClasses,
  PlatformError,
  type PublicationFailure,
  reconnectClasses,
} from '../domain/publication-errors.ts';
import { applyUtm } from '../domain/utm.ts';
import type { PublicationStatus } from '../workflows/epic-messages.ts';
import { flagBeyondExpiry, flagReconnectRequired } from './connector-state.ts';
import { isRenewable } from './connector-token.ts';

export interface PublishPolicy {
  attemptsLimit: number;
  initialIntervalMs: number;
  maxIntervalMs: number;
  backoff: number;
  heartbeatTimeoutMs: number;
  confirmationWindowMs: number;
  confirmPollMs: number;
  errorRunOpenMs: number;
}

export interface PlannedTask {
  taskId: string;
  channel: Channel;
  mode: 'soft' | 'real';
  /** Where the task stands for this run: failed, cancelled or interrupted work is pending again. */
  status: PublicationStatus;
}

export interface EpicPlan {
  policy: PublishPolicy;
  tasks: PlannedTask[];
}

export interface EpicActivityDependencies {
  db: Database;
  credentialsKeys: CredentialsKeys;
  adapters: AdapterRegistry;
  policy: PublishPolicy;
  now?: () => Date;
}

const workflowActor = () => {
  try {
    return `workflow:${Context.current().info.workflowExecution?.workflowId ?? 'unknown'}`;
  } catch {
    return 'workflow';
  }
};

export function createEpicActivities({
  db,
  credentialsKeys,
  adapters,
  policy,
  now = () => new Date(),
}: EpicActivityDependencies) {
  async function loadTarget(taskId: string) {
    const [row] = await db
      .select({
        task: tasks,
        publication: publications,
        connector: connectors,
        account: connectorAccounts,
        epic: epics,
      })
      .from(tasks)
      .innerJoin(epics, eq(epics.id, tasks.epicId))
      .innerJoin(connectors, eq(connectors.id, tasks.connectorId))
      .leftJoin(publications, eq(publications.taskId, tasks.id))
      .leftJoin(connectorAccounts, eq(connectorAccounts.id, tasks.accountId))
      .where(eq(tasks.id, taskId));
    if (!row?.publication) {
      throw ApplicationFailure.create({
        type: 'INVALID_REQUEST',
        message: `task ${taskId} has no publication`,
        nonRetryable: true,
      });
    }
    return { ...row, publication: row.publication };
  }

  function adapterFor(platform: string): PlatformAdapter<unknown> {
    const adapter = adapters[platform as Platform];
    if (!adapter) {
      throw ApplicationFailure.create({
        type: 'INVALID_REQUEST',
        message: `no adapter for ${platform} in this build`,
        nonRetryable: true,
      });
    }
    return adapter;
  }

  function credentialsOf(connector: typeof connectors.$inferSelect): unknown {
    if (connector.status !== 'connected' || !connector.credentials || !connector.credentialsKeyId) {
      throw ApplicationFailure.create({
        type: 'TOKEN_EXPIRED',
        message: `the ${connector.platform} connector is ${connector.status.replace('_', ' ')}: reconnect it`,
        nonRetryable: true,
      });
    }
    return openCredentials(credentialsKeys, connector.id, {
      keyId: connector.credentialsKeyId,
      ciphertext: connector.credentials,
    });
  }

  const saveProgress = (publicationId: string) => async (update: PublicationProgress) => {
    await db
      .update(publications)
      .set({ progress: sql`${publications.progress} || ${JSON.stringify(update)}::jsonb`, updatedAt: now() })
      .where(eq(publications.id, publicationId));
  };

  /** What an adapter gets for one try: the content as it goes out, the target, credentials and progress. */
  async function publicationContext(
    target: Awaited<ReturnType<typeof loadTarget>>,
    progress: PublicationProgress,
  ): Promise<PublicationContext<unknown>> {
    const context = Context.current();
    return {
      taskId: target.task.id,
      channel: target.task.channel as Channel,
      content: await outgoingContent(target),
      account: target.account ? { kind: target.account.kind, externalId: target.account.externalId } : null,
      credentials: credentialsOf(target.connector),
      progress,
      saveProgress: saveProgress(target.publication.id),
      heartbeat: () => context.heartbeat(),
      signal: context.cancellationSignal,
    };
  }

  /** Records a failed try and turns it into the failure Temporal's retry policy understands. */
  async function failTry(target: Awaited<ReturnType<typeof loadTarget>>, error: unknown): Promise<never> {
    let failure: PublicationFailure =
      error instanceof PlatformError
        ? error.failure
        : { class: 'TRANSIENT', message: `unexpected: ${(error as Error).message}` };
    // Refused with a token we know has expired but its refresh workflow can still renew (it is late: the
    // platform's token endpoint was down, or no worker ran): not a dead connection, so no reconnect is asked;
    // the attempt is retried, by when the token is renewed.
    const expiresAt = target.connector.tokenExpiresAt;
    if (
      failure.class === 'TOKEN_EXPIRED' &&
      expiresAt !== null &&
      expiresAt.getTime() <= now().getTime() &&
      isRenewable(adapters, credentialsKeys, target.connector)
    ) {
      failure = {
        class: 'TRANSIENT',
        message: `the ${target.connector.platform} token expired before it was renewed; retrying after the renewal`,
        ...(failure.platformCode ? { platformCode: failure.platformCode } : {}),
      };
    }
    await db.transaction(async (tx) => {
      await tx
        .update(publications)
        .set({
          lastError: {
            class: failure.class,
            message: failure.message,
            ...(failure.platformCode ? { platformCode: failure.platformCode } : {}),
          },
          updatedAt: now(),
        })
        .where(eq(publications.id, target.publication.id));
      if (reconnectClasses.includes(failure.class)) {
        await flagReconnectRequired(tx, target.connector, failure, workflowActor(), now());
      }
    });
    throw ApplicationFailure.create({
      type: failure.class,
      message: failure.message,
      nonRetryable: nonRetryableClasses.includes(failure.class),
      ...(failure.class === 'RATE_LIMITED' && failure.retryAfterMs !== undefined
        ? { nextRetryDelay: failure.retryAfterMs }
        : {}),
    });
  }

  /**
   * The content as the platform gets it. Auto-UTM (SPEC §5) belongs to the workspace's Google Analytics
   * connector: without one there is nothing to credit visits to, and its `autoUtm` setting is on unless set
   * to false. The stored content stays as written; the tags are computed again, identically, on each try.
   */
  async function outgoingContent(target: Awaited<ReturnType<typeof loadTarget>>): Promise<TaskContent> {
    const content = target.task.content as TaskContent;
    const [analytics] = await db
      .select({ settings: connectors.settings })
      .from(connectors)
      .where(
        and(eq(connectors.workspaceId, target.task.workspaceId), eq(connectors.platform, 'google_analytics')),
      );
    if (!analytics || analytics.settings.autoUtm === false) return content;
    return applyUtm(target.task.channel as Channel, content, {
      epicTitle: target.epic.title,
      taskId: target.task.id,
    });
  }

  /**
   * A soft publication due after its connector's token expires, when nothing can renew that token, is at
   * risk from the moment it is scheduled (the user has until then to reconnect).
   */
  async function flagTargetsExpiringBefore(
    tx: Executor,
    epicId: string,
    epicTasks: (typeof tasks.$inferSelect)[],
  ) {
    const [epic] = await tx.select().from(epics).where(eq(epics.id, epicId));
    if (!epic?.scheduledAt || epic.status !== 'scheduled') return;
    const connectorIds = [
      ...new Set(
        epicTasks
          .filter((task) => channelFacts(task.channel as Channel).mode === 'soft')
          .map((task) => task.connectorId),
      ),
    ];
    if (connectorIds.length === 0) return;
    const expiring = await tx
      .select()
      .from(connectors)
      .where(and(inArray(connectors.id, connectorIds), lt(connectors.tokenExpiresAt, epic.scheduledAt)));
    for (const connector of expiring) {
      if (connector.status !== 'connected' || isRenewable(adapters, credentialsKeys, connector)) continue;
      const flagged = await flagBeyondExpiry(
        tx,
        connector.id,
        connector.tokenExpiresAt!,
        `the ${connector.platform} token expires at ${connector.tokenExpiresAt!.toISOString()} and cannot be renewed`,
        now(),
      );
      if (flagged.length > 0) {
        const expiry = connector.tokenExpiresAt!.toISOString();
        await tx.insert(notifications).values({
          workspaceId: connector.workspaceId,
          kind: 'publications_at_risk',
          title: `Reconnect ${connector.platform} before ${expiry.slice(0, 10)}`,
          message:
            `"${epic.title}" publishes after the ${connector.platform} access expires (${expiry}); ` +
            'reconnect before then so it goes out.',
          data: { connectorId: connector.id, epicIds: flagged, tokenExpiresAt: expiry },
        });
      }
    }
  }

  async function startTry(publicationId: string, status: PublicationStatus = 'publishing') {
    await db
      .update(publications)
      .set({ status, attempts: sql`${publications.attempts} + 1`, updatedAt: now() })
      .where(eq(publications.id, publicationId));
  }

  return {
    async loadEpicPlan({ epicId }: { epicId: string }): Promise<EpicPlan> {
      return db.transaction(async (tx) => {
        const epicTasks = await tx
          .select()
          .from(tasks)
          .where(eq(tasks.epicId, epicId))
          .orderBy(asc(tasks.createdAt), asc(tasks.id));
        const existing = await tx.select().from(publications).where(eq(publications.epicId, epicId));
        const byTask = new Map(existing.map((row) => [row.taskId, row]));
        const planned: PlannedTask[] = [];
        for (const task of epicTasks) {
          const channel = task.channel as Channel;
          let publication = byTask.get(task.id);
          if (!publication) {
            [publication] = await tx
              .insert(publications)
              .values({ workspaceId: task.workspaceId, epicId, taskId: task.id })
              .returning();
          } else if (publication.status === 'cancelled') {
            // A cancelled hand-off is gone from the platform: scheduling again starts afresh.
            [publication] = await tx
              .update(publications)
              .set({
                status: 'pending',
                externalId: null,
                externalUrl: null,
                progress: {},
                handOffKey: null,
                lastError: null,
                updatedAt: now(),
              })
              .where(eq(publications.id, publication.id))
              .returning();
          }
          const stored = publication!.status as PublicationStatus;
          const status: PublicationStatus =
            stored === 'published' || stored === 'handed_off' ? stored : 'pending';
          planned.push({ taskId: task.id, channel, mode: channelFacts(channel).mode, status });
        }
        await flagTargetsExpiringBefore(tx, epicId, epicTasks);
        return { policy, tasks: planned };
      });
    },

    async recordEpicStatus(input: {
      epicId: string;
      from: EpicStatus;
      status: EpicStatus;
      action: string;
      actor: string;
      details?: Record<string, unknown>;
      scheduledAt?: string;
    }): Promise<void> {
      await db.transaction(async (tx) => {
        const leaving = input.status === 'draft' || input.status === 'review';
        const [epic] = await tx
          .update(epics)
          .set({
            status: input.status,
            updatedAt: now(),
            ...(input.scheduledAt ? { scheduledAt: new Date(input.scheduledAt) } : {}),
            ...(leaving ? { scheduledAt: null, timeZone: null } : {}),
          })
          .where(eq(epics.id, input.epicId))
          .returning();
        if (!epic) return;
        if (leaving) {
          // Nothing that had not gone out will go out: the soft publications of this schedule are cancelled.
          await tx
            .update(publications)
            .set({ status: 'cancelled', updatedAt: now() })
            .where(
              and(
                eq(publications.epicId, input.epicId),
                sql`${publications.status} in ('pending', 'failed')`,
              ),
            );
        }
        if (input.status === 'error') {
          await tx.insert(notifications).values({
            workspaceId: epic.workspaceId,
            kind: 'publication_error',
            title: `"${epic.title}" could not be published`,
            message: 'A publication failed after its retries. Retry it, or edit the epic back to draft.',
            data: { epicId: epic.id, ...(input.details ?? {}) },
          });
        }
        await recordAudit(tx, {
          workspaceId: epic.workspaceId,
          subjectType: 'epic',
          subjectId: epic.id,
          action: input.action,
          fromStatus: input.from,
          toStatus: input.status,
          actor: input.actor,
          details: input.details ?? {},
        });
      });
    },

    async publishTask(input: {
      epicId: string;
      taskId: string;
      scheduledAt: string;
    }): Promise<{ status: PublicationStatus }> {
      const target = await loadTarget(input.taskId);
      if (target.publication.status === 'published' && target.publication.externalId)
        return { status: 'published' };
      const adapter = adapterFor(target.connector.platform);
      if (!adapter.publish) {
        throw ApplicationFailure.create({
          type: 'INVALID_REQUEST',
          message: `${target.task.channel} cannot be published now`,
          nonRetryable: true,
        });
      }
      await startTry(target.publication.id);
      let published: Awaited<ReturnType<NonNullable<PlatformAdapter['publish']>>>;
      try {
        published = await adapter.publish(await publicationContext(target, target.publication.progress));
      } catch (error) {
        if (error instanceof ApplicationFailure) throw error;
        return failTry(target, error);
      }
      const publishedAt = now();
      await db.transaction(async (tx) => {
        await tx
          .update(publications)
          .set({
            status: 'published',
            externalId: published.externalId,
            externalUrl: published.externalUrl,
            publishedAt,
            lagMs: Math.max(0, publishedAt.getTime() - Date.parse(input.scheduledAt)),
            lastError: null,
            updatedAt: publishedAt,
          })
          .where(eq(publications.id, target.publication.id));
        await recordAudit(tx, {
          workspaceId: target.task.workspaceId,
          subjectType: 'publication',
          subjectId: target.publication.id,
          action: 'publish',
          fromStatus: 'publishing',
          toStatus: 'published',
          actor: workflowActor(),
          details: { taskId: target.task.id, externalId: published.externalId },
        });
      });
      return { status: 'published' };
    },

    async handOffTask(input: {
      epicId: string;
      taskId: string;
      scheduledAt: string;
      handOffKey: string;
    }): Promise<{ status: PublicationStatus }> {
      const target = await loadTarget(input.taskId);
      const { publication } = target;
      if (publication.status === 'handed_off' && publication.handOffKey === input.handOffKey)
        return { status: 'handed_off' };
      const adapter = adapterFor(target.connector.platform);
      if (!adapter.handOff) {
        throw ApplicationFailure.create({
          type: 'INVALID_REQUEST',
          message: `${target.task.channel} cannot be handed off now`,
          nonRetryable: true,
        });
      }
      // Progress belongs to one hand-off: a new key (after a cancel) must not resume the old campaign.
      const progress = publication.handOffKey === input.handOffKey ? publication.progress : {};
      await db
        .update(publications)
        .set({
          status: 'publishing',
          handOffKey: input.handOffKey,
          progress,
          attempts: sql`${publications.attempts} + 1`,
          updatedAt: now(),
        })
        .where(eq(publications.id, publication.id));
      let handedOff: Awaited<ReturnType<NonNullable<PlatformAdapter['handOff']>>>;
      try {
        handedOff = await adapter.handOff({
          ...(await publicationContext(target, progress)),
          scheduledAt: new Date(input.scheduledAt),
          epicTitle: target.epic.title,
          handOffKey: input.handOffKey,
        });
      } catch (error) {
        if (error instanceof ApplicationFailure) throw error;
        return failTry(target, error);
      }
      await db.transaction(async (tx) => {
        await tx
          .update(publications)
          .set({
            status: 'handed_off',
            externalId: handedOff.externalId,
            externalUrl: handedOff.externalUrl,
            lastError: null,
            updatedAt: now(),
          })
          .where(eq(publications.id, publication.id));
        await recordAudit(tx, {
          workspaceId: target.task.workspaceId,
          subjectType: 'publication',
          subjectId: publication.id,
          action: 'hand_off',
          fromStatus: 'publishing',
          toStatus: 'handed_off',
          actor: workflowActor(),
          details: {
            taskId: target.task.id,
            externalId: handedOff.externalId,
            scheduledAt: input.scheduledAt,
          },
        });
      });
      return { status: 'handed_off' };
    },

    async cancelHandOff(input: { epicId: string; taskId: string; actor: string }): Promise<void> {
      const target = await loadTarget(input.taskId);
      const { publication } = target;
      if (publication.status !== 'handed_off' || !publication.externalId) return;
      const adapter = adapterFor(target.connector.platform);
      try {
        await adapter.cancelHandOff?.({
          externalId: publication.externalId,
          credentials: credentialsOf(target.connector),
          progress: publication.progress,
        });
      } catch (error) {
        if (error instanceof HandOffLockedError) {
          throw ApplicationFailure.create({
            type: 'LOCKED_BY_PLATFORM',
            message: error.message,
            nonRetryable: true,
          });
        }
        if (error instanceof PlatformError && nonRetryableClasses.includes(error.failure.class)) {
          throw ApplicationFailure.create({
            type: error.failure.class,
            message: error.failure.message,
            nonRetryable: true,
          });
        }
        throw error;
      }
      await db.transaction(async (tx) => {
        await tx
          .update(publications)
          .set({ status: 'cancelled', updatedAt: now() })
          .where(eq(publications.id, publication.id));
        await recordAudit(tx, {
          workspaceId: target.task.workspaceId,
          subjectType: 'publication',
          subjectId: publication.id,
          action: 'cancel_hand_off',
          fromStatus: 'handed_off',
          toStatus: 'cancelled',
          actor: input.actor,
          details: { taskId: target.task.id, externalId: publication.externalId },
        });
      });
    },

    async checkHandOff(input: {
      epicId: string;
      taskId: string;
    }): Promise<'sent' | 'pending' | 'cancelled' | 'failed'> {
      const target = await loadTarget(input.taskId);
      const { publication } = target;
      if (publication.status === 'published') return 'sent';
      if (publication.status !== 'handed_off' || !publication.externalId) return 'failed';
      const adapter = adapterFor(target.connector.platform);
      if (!adapter.handOffStatus) return 'pending';
      const state = await adapter.handOffStatus({
        externalId: publication.externalId,
        credentials: credentialsOf(target.connector),
      });
      if (state.state === 'pending') return 'pending';
      const sentAt = state.state === 'sent' ? (state.sentAt ?? now()) : null;
      const [epic] = await db
        .select({ scheduledAt: epics.scheduledAt })
        .from(epics)
        .where(eq(epics.id, input.epicId));
      await db
        .update(publications)
        .set(
          state.state === 'sent'
            ? {
                status: 'published',
                publishedAt: sentAt,
                lagMs: epic?.scheduledAt ? Math.max(0, sentAt!.getTime() - epic.scheduledAt.getTime()) : null,
                updatedAt: now(),
              }
            : {
                status: 'failed',
                lastError: {
                  class: 'INVALID_REQUEST',
                  message: `the platform reports the send as ${state.platformStatus}`,
                },
                updatedAt: now(),
              },
        )
        .where(eq(publications.id, publication.id));
      return state.state;
    },

    async recordPublicationOutcome(input: {
      epicId: string;
      taskId: string;
      status: 'failed' | 'published';
      failure?: { class: string; message: string };
      unconfirmed?: boolean;
    }): Promise<void> {
      await db
        .update(publications)
        .set({
          status: input.status,
          ...(input.failure ? { lastError: input.failure } : {}),
          ...(input.unconfirmed ? { unconfirmed: true } : {}),
          updatedAt: now(),
        })
        .where(and(eq(publications.taskId, input.taskId), eq(publications.epicId, input.epicId)));
    },
  };
}

export type EpicActivities = ReturnType<typeof createEpicActivities>;
