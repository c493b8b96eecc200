// The token-refresh workflow's contract, shared by the workflow and the API: id, input and signals.
import { defineQuery, defineSignal } from '@temporalio/workflow';

export const connectorTokenWorkflowType = 'connectorToken';
export const connectorTokenWorkflowId = (connectorId: string) => `connector-token-${connectorId}`;

/** Ids and times only: the token itself is loaded, refreshed and sealed by activities. */
export interface ConnectorTokenInput {
  connectorId: string;
  workspaceId: string;
  /** When the current token was obtained (ISO): with its expiry, it gives the lifetime the margin is cut from. */
  obtainedAt: string;
}

export interface ConnectorTokenState {
  phase: 'starting' | 'waiting_to_refresh' | 'refreshing' | 'reconnect_required' | 'no_expiry' | 'ended';
  tokenExpiresAt: string | null;
  refreshAt: string | null;
  refreshes: number;
}

/** The user reconnected: new credentials are in the db, so the workflow reads them and starts over. */
export const reconnectedSignal = defineSignal('reconnected');
/** The user disconnected: nothing is left to refresh, so the workflow ends. */
export const disconnectedSignal = defineSignal('disconnected');
export const tokenStateQuery = defineQuery<ConnectorTokenState>('state');

/**
 * How long before expiry to refresh: a tenth of the token's lifetime, at most 10 minutes, at least 1 s — so
 * a 60-day token refreshes 10 minutes early and a 60-second one 6 seconds early, never in a loop.
 */
export function refreshMarginMs(lifetimeMs: number): number {
  return Math.max(1_000, Math.min(lifetimeMs / 10, 10 * 60_000));
}
