// The pre-flight check of an epic's soft publications before their time: each is checked against its platform
// without publishing — its connector connected and its token valid at the time, every media URL reachable and
// of a kind and size the channel takes, and what the platform can tell in advance (the adapter's
// `preflight`). What will fail is flagged at risk with the reason and told in one notification, and the epic
// stays scheduled so the user can fix it; a check that could not tell flags nothing; one that passes lifts
// only what an earlier check flagged.
import { Context } from '@temporalio/activity';
import { and, asc, eq, inArray } from 'drizzle-orm';
import type { CredentialsKeys } from '../config.ts';
import { createMediaProbe, type MediaExpectation, type MediaProbe } from '../connectors/media.ts';
import type { AdapterRegistry } from '../connectors/registry.ts';
import type { Database } from '../db/client.ts';
import { clearPreflightRisk, flagPreflightRisk, notifyAtRisk } from '../db/connectors/at-risk.ts';
import { openConnectorCredentials } from '../db/connectors/credentials.ts';
import { connectorAccounts, connectors, epics, publications, tasks } from '../db/schema.ts';
import { type Channel, channelsOfMode } from '../domain/channels.ts';
import type { TaskContent } from '../domain/content.ts';
import { nonRetryableClasses, PlatformError } from '../domain/publication-errors.ts';
import { createCallTurns } from './call-turns.ts';
import { flagTargetsExpiringBefore } from './epic.ts';

export interface PreflightInput {
  epicId: string;
  /** The time this check is for: an epic moved or unscheduled since is not acted on. */
  scheduledAt: string;
  /** The schedule the run serves (absent in runs started before schedules carried one). */
  scheduleToken?: string;
  /** The epic was just scheduled (or moved), or its time is PREFLIGHT_AHEAD_MS away. */
  occasion: 'scheduled' | 'ahead';
}

export interface PreflightSummary {
  /** Soft publications checked. */
  checked: number;
  /** Tasks found at risk by this check (flagged now, or already flagged for the same reason). */
  atRisk: string[];
  /** Tasks whose earlier pre-flight flag this check lifted. */
  cleared: string[];
  /** Tasks this check could not tell about (a platform or a media host did not answer): left as they were. */
  unknown: string[];
  /** Why the check acted on nothing (the epic was moved or unscheduled, or its time has come). */
  skipped?: string;
}

export interface PreflightActivityDependencies {
  db: Database;
  credentialsKeys: CredentialsKeys;
  adapters: AdapterRegistry;
  /** Looks at a media URL (default: through the public-host guard, private addresses refused). */
  mediaProbe?: MediaProbe;
  now?: () => Date;
}

type Verdict =
  | { state: 'ready' }
  | { state: 'at_risk'; reasons: string[] }
  | { state: 'unknown'; reasons: string[] };

// Instagram refuses an image of 8 MiB or more (its error 36000/2207004, "It should be less than 8 MiB").
const instagramImageMaxBytes = 8 * 1_048_576;

/** What each channel's media URLs must hold; a `videoUrl` is always a video. */
const mediaExpectations: Partial<Record<Channel, MediaExpectation>> = {
  // Attached to the post as Page photos.
  facebook_post: { kind: 'image' },
  // LinkedIn's Images API.
  linkedin_post: { kind: 'image' },
  // The adapter sends a video URL as a reel (a carousel item) and anything else as an image.
  instagram_post: { kind: 'image_or_video', maxImageBytes: instagramImageMaxBytes },
  instagram_story: { kind: 'image_or_video', maxImageBytes: instagramImageMaxBytes },
  facebook_ad: { kind: 'image' },
  google_ads_campaign: { kind: 'image' },
};

/** Every media URL of the content (`mediaUrls`, `mediaUrl`, `videoUrl`), each with what it must hold. */
function mediaOf(channel: Channel, content: TaskContent) {
  const fields = content as Record<string, unknown>;
  const urls = (value: unknown): string[] =>
    Array.isArray(value)
      ? value.filter((item): item is string => typeof item === 'string')
      : typeof value === 'string'
        ? [value]
        : [];
  const media = new Map<string, MediaExpectation>();
  for (const url of [...urls(fields.mediaUrls), ...urls(fields.mediaUrl)])
    media.set(url, mediaExpectations[channel] ?? { kind: 'image_or_video' });
  for (const url of urls(fields.videoUrl)) media.set(url, { kind: 'video' });
  return [...media].map(([url, expectation]) => ({ url, expectation }));
}

/** Runs `work` over the items, at most `limit` at a time, answering in the items' order. */
async function eachLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < items.length; index = next++) results[index] = await work(items[index]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const softChannels = channelsOfMode('soft');
/** The longest one task's checks may take, and how many tasks are checked at once: 50 tasks fit in 5 min. */
const targetBudgetMs = 20_000;
const targetsAtOnce = 6;

export function createPreflightActivities({
  db,
  credentialsKeys,
  adapters,
  mediaProbe = createMediaProbe(),
  now = () => new Date(),
}: PreflightActivityDependencies) {
  const turns = createCallTurns(db);
  async function loadTargets(epicId: string) {
    return db
      .select({ task: tasks, publication: publications, connector: connectors, account: connectorAccounts })
      .from(tasks)
      .innerJoin(publications, eq(publications.taskId, tasks.id))
      .innerJoin(connectors, eq(connectors.id, tasks.connectorId))
      .leftJoin(connectorAccounts, eq(connectorAccounts.id, tasks.accountId))
      .where(
        and(
          eq(tasks.epicId, epicId),
          inArray(tasks.channel, softChannels),
          // Not yet out: what publishes (or has published) is past checking.
          inArray(publications.status, ['pending', 'failed']),
        ),
      )
      .orderBy(asc(tasks.createdAt), asc(tasks.id));
  }
  type Target = Awaited<ReturnType<typeof loadTargets>>[number];

  async function check(target: Target, scheduledAt: Date, cancelled: AbortSignal): Promise<Verdict> {
    const { connector, task } = target;
    if (connector.status !== 'connected' || !connector.credentials || !connector.credentialsKeyId) {
      return {
        state: 'at_risk',
        reasons: [
          `the ${connector.platform} connector is ${connector.status.replace('_', ' ')}: reconnect it before ${scheduledAt.toISOString()}`,
        ],
      };
    }
    const definite: string[] = [];
    const unknown: string[] = [];
    // One slow platform must not use up the activity's time for the tasks after it.
    const budget = AbortSignal.timeout(targetBudgetMs);
    const signal = AbortSignal.any([cancelled, budget]);
    try {
      const content = task.content as TaskContent;
      const looks = await Promise.all(
        mediaOf(task.channel, content).map(({ url, expectation }) => mediaProbe(url, expectation, signal)),
      );
      for (const look of looks) {
        if (look.state === 'unusable') definite.push(look.reason);
        if (look.state === 'unknown') unknown.push(look.reason);
      }
      const adapter = adapters[connector.platform];
      if (adapter?.preflight) {
        try {
          await adapter.preflight({
            taskId: task.id,
            channel: task.channel,
            content,
            account: target.account
              ? { kind: target.account.kind, externalId: target.account.externalId }
              : null,
            credentials: openConnectorCredentials(credentialsKeys, connector),
            scheduledAt,
            signal,
            takeTurn: turns.forHolder({ platform: connector.platform, connectorId: connector.id, signal }),
          });
        } catch (error) {
          if (signal.aborted) throw error;
          if (error instanceof PlatformError && nonRetryableClasses.includes(error.failure.class)) {
            definite.push(error.failure.message);
          } else {
            unknown.push(`${connector.platform} could not be asked: ${(error as Error).message}`);
          }
        }
      }
    } catch (error) {
      if (cancelled.aborted || !budget.aborted) throw error;
      unknown.push(`no answer within ${targetBudgetMs / 1000} s`);
    }
    if (definite.length > 0) return { state: 'at_risk', reasons: definite };
    if (unknown.length > 0) return { state: 'unknown', reasons: unknown };
    return { state: 'ready' };
  }

  return {
    /**
     * One pre-flight check of every soft publication of the epic not yet out (one activity for them all, a
     * few at a time). It reads the platforms first and writes after, in one transaction whose every flag
     * holds only while the epic is still scheduled for this time and that time has not come.
     */
    async preflightEpic(input: PreflightInput): Promise<PreflightSummary> {
      const context = Context.current();
      const scheduledAt = new Date(input.scheduledAt);
      const summary: PreflightSummary = { checked: 0, atRisk: [], cleared: [], unknown: [] };
      const [epic] = await db.select().from(epics).where(eq(epics.id, input.epicId));
      if (
        epic?.status !== 'scheduled' ||
        epic.scheduledAt?.getTime() !== scheduledAt.getTime() ||
        (input.scheduleToken !== undefined && epic.scheduleToken !== input.scheduleToken)
      ) {
        return { ...summary, skipped: 'the epic is no longer scheduled for this time' };
      }
      if (now().getTime() >= scheduledAt.getTime()) {
        return { ...summary, skipped: 'its time has come' };
      }

      const targets = await loadTargets(input.epicId);
      // The token at the time: one that expires before it and that nothing renews.
      await db.transaction((tx) =>
        flagTargetsExpiringBefore(
          { adapters, credentialsKeys, now },
          tx,
          epic,
          targets.map((target) => target.task),
        ),
      );
      const verdicts = await eachLimited(targets, targetsAtOnce, (target) =>
        check(target, scheduledAt, context.cancellationSignal),
      );
      summary.checked = targets.length;

      const told: { target: Target; reason: string }[] = [];
      await db.transaction(async (tx) => {
        for (const [index, target] of targets.entries()) {
          const verdict = verdicts[index]!;
          if (verdict.state === 'unknown') {
            summary.unknown.push(target.task.id);
            context.log.info(
              `pre-flight of task ${target.task.id} could not tell: ${verdict.reasons.join('; ')}`,
            );
          }
          if (verdict.state !== 'at_risk') continue;
          summary.atRisk.push(target.task.id);
          const reason = verdict.reasons.join('; ');
          const flagged = await flagPreflightRisk(tx, {
            publicationId: target.publication.id,
            epicId: epic.id,
            scheduledAt,
            reason,
            now: now(),
          });
          if (flagged) told.push({ target, reason });
        }
        const ready = targets.filter((_, index) => verdicts[index]!.state === 'ready');
        const cleared = await clearPreflightRisk(tx, {
          epicId: epic.id,
          scheduledAt,
          publicationIds: ready.map((target) => target.publication.id),
          now: now(),
        });
        summary.cleared = ready
          .filter((target) => cleared.includes(target.publication.id))
          .map((target) => target.task.id);
        await notifyAtRisk(tx, {
          epic,
          scheduledAt,
          check: 'preflight',
          told: told.map(({ target, reason }) => ({
            taskId: target.task.id,
            publicationId: target.publication.id,
            channel: target.task.channel,
            reason,
          })),
        });
      });
      return summary;
    },
  };
}

export type PreflightActivities = ReturnType<typeof createPreflightActivities>;
