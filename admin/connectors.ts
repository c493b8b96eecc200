// The admin command's connector check: triggers the connector's credential-check Schedule now (what
// `temporal schedule trigger --schedule-id connector-check-<id>` does), waits for that run's outcome and says
// what it found and what it changed; an audit entry keeps who asked and why.
import {
  type Client,
  ScheduleNotFoundError,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { auditConnector } from '../db/audit.ts';
import { connectors } from '../db/schema.ts';
import {
  type ConnectorCheckOutcome,
  connectorCheckScheduleId,
} from '../workflows/connector-check-messages.ts';
import {
  type ConnectorTokenState,
  connectorTokenWorkflowId,
  tokenStateQuery,
} from '../workflows/connector-token-messages.ts';
import type { AdminContext } from './context.ts';
import type { Print } from './epics.ts';
import { refusal } from './failures.ts';

const outcomeSays: Record<ConnectorCheckOutcome, string> = {
  ok: 'the platform accepted the credentials',
  refused: 'the platform refused the credentials',
  not_connected: 'nothing to check: the connector is not connected',
  unknown:
    'the platform could not be asked (transient failures through every attempt); the next check asks again',
};

async function loadConnector(context: AdminContext, id: string) {
  const [row] = await context.db
    .select({
      id: connectors.id,
      workspaceId: connectors.workspaceId,
      platform: connectors.platform,
      status: connectors.status,
      lastError: connectors.lastError,
    })
    .from(connectors)
    .where(eq(connectors.id, id));
  if (!row) throw refusal(`connector ${id} not found`);
  return row;
}

/** What a connector without a check Schedule has instead, for the refusal's message. */
async function tokenWatch(client: Client, connectorId: string): Promise<string> {
  const handle = client.workflow.getHandle(connectorTokenWorkflowId(connectorId));
  try {
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') {
      return `its token workflow ${handle.workflowId} is ${description.status.name.toLowerCase()}`;
    }
    const state: ConnectorTokenState = await client.connection.withDeadline(Date.now() + 5_000, () =>
      handle.query(tokenStateQuery),
    );
    return (
      `its token is watched by the workflow ${handle.workflowId} (phase ${state.phase}, expires ` +
      `${state.tokenExpiresAt ?? '—'}, refresh at ${state.refreshAt ?? '—'})`
    );
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return 'nothing watches it';
    return `its token workflow ${handle.workflowId} did not answer (${(error as Error).message.split('\n')[0]})`;
  }
}

export async function checkConnector(
  context: AdminContext,
  print: Print,
  connectorId: string,
  request: { reason: string; waitMs: number },
) {
  const before = await loadConnector(context, connectorId);
  const client = await context.temporal();
  const schedule = client.schedule.getHandle(connectorCheckScheduleId(connectorId));
  const actionsBefore = new Set<string>();
  try {
    for (const action of (await schedule.describe()).info.recentActions) {
      if (action.action.type === 'startWorkflow')
        actionsBefore.add(action.action.workflow.firstExecutionRunId);
    }
  } catch (error) {
    if (!(error instanceof ScheduleNotFoundError)) throw error;
    throw refusal(
      `connector ${connectorId} (${before.platform}, ${before.status}) has no credential check ` +
        `(${schedule.scheduleId}): ${await tokenWatch(client, connectorId)}`,
    );
  }

  await schedule.trigger();
  // The Schedule starts the run a moment later: the new entry of its recent actions names it.
  const deadline = Date.now() + request.waitMs;
  let run: { workflowId: string; runId: string } | undefined;
  while (!run) {
    const recent = (await schedule.describe()).info.recentActions;
    for (const action of recent) {
      if (
        action.action.type === 'startWorkflow' &&
        !actionsBefore.has(action.action.workflow.firstExecutionRunId)
      ) {
        run = {
          workflowId: action.action.workflow.workflowId,
          runId: action.action.workflow.firstExecutionRunId,
        };
      }
    }
    if (run) break;
    if (Date.now() > deadline) {
      throw refusal(`the check was triggered but its run did not start within ${request.waitMs / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  const ended = client.workflow
    .getHandle(run.workflowId, run.runId)
    .result() as Promise<ConnectorCheckOutcome>;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), Math.max(0, deadline - Date.now()));
  });
  let outcome: ConnectorCheckOutcome | 'pending';
  try {
    outcome = await Promise.race([ended, late]);
  } catch (error) {
    if (!(error instanceof WorkflowFailedError)) throw error;
    throw refusal(`the check ${run.workflowId} failed: ${error.cause?.message ?? error.message}`);
  } finally {
    clearTimeout(timer);
  }

  const after = await loadConnector(context, connectorId);
  await auditConnector(context.db, after, {
    action: 'admin_command',
    fromStatus: before.status,
    toStatus: after.status,
    actor: context.actor,
    details: { command: 'check-connector', reason: request.reason, outcome, workflowId: run.workflowId },
  });
  if (outcome === 'pending') {
    throw refusal(
      `the check ${run.workflowId} (run ${run.runId}) was triggered but has not ended within ` +
        `${request.waitMs / 1000} s (is a worker running?); its outcome will show on the connector`,
    );
  }
  const change =
    before.status === after.status ? `still ${after.status}` : `${before.status} → ${after.status}`;
  const error =
    outcome === 'refused' && after.lastError ? ` (${after.lastError.class}: ${after.lastError.message})` : '';
  print(
    `connector ${connectorId} (${after.platform}) checked by ${context.actor} (reason: ${request.reason}): ` +
      `${outcome}: ${outcomeSays[outcome]}; ${change}${error} [${run.workflowId}]`,
  );
}
