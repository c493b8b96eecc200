// The periodic credential check of an API-key connector (SPEC §6), run by a Temporal Schedule
// (`connector-check-<connectorId>`): the platform is asked whether the key still works; only its refusal
// flips the connector to reconnect_required, a transient failure waits for the next run.
import { ActivityFailure, proxyActivities } from '@temporalio/workflow';
import type { ConnectorTokenActivities } from '../activities/connector-token.ts';
import type { ConnectorCheckInput, ConnectorCheckOutcome } from './connector-check-messages.ts';

const { checkConnectorCredentials } = proxyActivities<ConnectorTokenActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 3 },
  summary: 'Ask the platform whether the API key still works',
});

export async function connectorCredentialCheck(input: ConnectorCheckInput): Promise<ConnectorCheckOutcome> {
  try {
    return await checkConnectorCredentials(input);
  } catch (error) {
    if (error instanceof ActivityFailure) return 'unknown';
    throw error;
  }
}
