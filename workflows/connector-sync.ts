// The scheduled sync of a data connector (SPEC §6), run by a Temporal Schedule (`connector-sync-<connectorId>`)
// every DATA_SYNC_INTERVAL_MS and triggered at once when the user picks accounts: each enabled account is read
// on its own, so one failing property or store never hides the others' results.
import { proxyActivities } from '@temporalio/workflow';
import type { ConnectorSyncActivities } from '../activities/connector-sync.ts';
import type { ConnectorSyncInput, ConnectorSyncOutcome } from './connector-sync-messages.ts';

const { listSyncAccounts } = proxyActivities<ConnectorSyncActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5 },
  summary: 'List the enabled accounts to sync',
});

// The activity records the failure itself on its last attempt (3), so Temporal never gives up before it.
const { syncAccount } = proxyActivities<ConnectorSyncActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 3 },
  summary: "Read one account's data from the platform",
});

export async function connectorSync(input: ConnectorSyncInput): Promise<ConnectorSyncOutcome> {
  const accountIds = await listSyncAccounts({ connectorId: input.connectorId });
  const outcomes = await Promise.all(
    accountIds.map((accountId) =>
      syncAccount({ connectorId: input.connectorId, accountId, intervalMs: input.intervalMs }).catch(
        () => 'failed' as const,
      ),
    ),
  );
  return {
    completed: outcomes.filter((outcome) => outcome === 'completed').length,
    failed: outcomes.filter((outcome) => outcome === 'failed').length,
    skipped: outcomes.filter((outcome) => outcome === 'skipped').length,
  };
}
