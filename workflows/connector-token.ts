// The token-refresh workflow (SPEC §6), one per connector with expiring credentials: it sleeps until shortly
// before expiry, renews the token where the platform allows, and otherwise — or when the platform refuses for
// good — flags the connector reconnect_required; then it waits for `reconnected` or `disconnected`. Transient
// failures are retried with backoff and never flip the connector. Each renewal continues as new, so the
// history stays bounded however long the connector lives.
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { ConnectorTokenActivities } from '../activities/connector-token.ts';
import { connectorSearchAttributes } from '../domain/search-attributes.ts';
import {
  type ConnectorTokenInput,
  type ConnectorTokenState,
  disconnectedSignal,
  reconnectedSignal,
  refreshMarginMs,
  tokenStateQuery,
} from './connector-token-messages.ts';

const { loadConnectorToken, markReconnectRequired, flagPublicationsBeyondExpiry } =
  proxyActivities<ConnectorTokenActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
    summary: 'Read or flag the connector in PostgreSQL',
  });

// No attempt limit: a platform that keeps failing transiently is asked again until it answers for good
// (a dead token gets a definitive refusal, which is not retried).
const { refreshConnectorToken } = proxyActivities<ConnectorTokenActivities>({
  startToCloseTimeout: '1 minute',
  retry: {
    // Quick first retries: a blip must not eat the margin before expiry; the backoff then caps at a minute.
    initialInterval: '100 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: ['REFRESH_REFUSED', 'NOT_CONNECTED', 'NOT_REFRESHABLE'],
  },
  summary: 'Renew the token with the platform',
});

export async function connectorToken(input: ConnectorTokenInput): Promise<void> {
  let reconnected = false;
  let disconnected = false;
  let obtainedAt = Date.parse(input.obtainedAt);
  const state: ConnectorTokenState = {
    phase: 'starting',
    tokenExpiresAt: null,
    refreshAt: null,
    refreshes: 0,
  };
  setHandler(reconnectedSignal, () => {
    reconnected = true;
  });
  setHandler(disconnectedSignal, () => {
    disconnected = true;
  });
  setHandler(tokenStateQuery, () => state);
  const iso = (ms: number) => new Date(ms).toISOString();
  const setStatus = (status: string) =>
    upsertSearchAttributes([{ key: connectorSearchAttributes.ConnectorStatus, value: status }]);

  for (;;) {
    const token = await loadConnectorToken({ connectorId: input.connectorId });
    setStatus(token.status);
    if (token.status === 'not_connected' || disconnected) {
      state.phase = 'ended';
      return;
    }
    state.tokenExpiresAt = token.tokenExpiresAt;
    if (token.status === 'connected' && token.tokenExpiresAt === null) {
      state.phase = 'no_expiry';
    } else if (token.status === 'connected' && token.tokenExpiresAt !== null) {
      const expiresAt = Date.parse(token.tokenExpiresAt);
      const refreshAt = expiresAt - refreshMarginMs(Math.max(expiresAt - obtainedAt, 1_000));
      state.phase = 'waiting_to_refresh';
      state.refreshAt = iso(refreshAt);
      reconnected = false;
      // Nothing will renew this token: what is scheduled after it expires is at risk now, not at expiry.
      if (!token.refreshable && patched('flag-beyond-expiry'))
        await flagPublicationsBeyondExpiry({ connectorId: input.connectorId });
      const interrupted = await condition(
        () => reconnected || disconnected,
        Math.max(refreshAt - Date.now(), 0),
        {
          summary: `Sleep until ${iso(refreshAt)}, shortly before the token expires at ${token.tokenExpiresAt}`,
        },
      );
      if (interrupted) {
        if (disconnected) continue;
        obtainedAt = Date.now();
        continue;
      }
      const failure = await (async () => {
        if (!token.refreshable) {
          return {
            class: 'TOKEN_EXPIRED' as const,
            message: `${token.platform} tokens cannot be renewed without the user`,
          };
        }
        state.phase = 'refreshing';
        try {
          await refreshConnectorToken({ connectorId: input.connectorId });
          return null;
        } catch (error) {
          const cause = error instanceof ActivityFailure ? error.cause : error;
          if (cause instanceof ApplicationFailure && cause.type === 'NOT_CONNECTED')
            return 'not_connected' as const;
          const details =
            cause instanceof ApplicationFailure
              ? (cause.details?.[0] as { class?: string } | undefined)
              : undefined;
          return {
            class:
              details?.class === 'PERMISSION_REVOKED'
                ? ('PERMISSION_REVOKED' as const)
                : ('TOKEN_EXPIRED' as const),
            message: (cause as Error).message,
            // The refresh records a refusal itself, in the transaction that read the refused credentials.
            flaggedByRefresh: cause instanceof ApplicationFailure && cause.type === 'REFRESH_REFUSED',
          };
        }
      })();
      if (failure === 'not_connected') continue;
      if (failure === null) {
        state.refreshes += 1;
        // A fresh run per token keeps the history short; the new token's lifetime counts from now.
        await continueAsNew<typeof connectorToken>({ ...input, obtainedAt: iso(Date.now()) });
      } else {
        // Flagging again here could flip a reconnect made in between (older runs did; replay keeps them so).
        const flagged = 'flaggedByRefresh' in failure && failure.flaggedByRefresh;
        if (!(flagged && patched('refusal-flagged-by-refresh'))) {
          await markReconnectRequired({
            connectorId: input.connectorId,
            failure: { class: failure.class, message: failure.message },
          });
        }
        setStatus('reconnect_required');
      }
    }
    // Reconnect required (or nothing to refresh): wait for the user.
    if (state.phase !== 'no_expiry') state.phase = 'reconnect_required';
    // A reconnect that arrived while the refusal was being recorded is kept, not waited for again (older
    // runs cleared it here, and replay keeps them doing so).
    const keepsReconnect = state.phase === 'reconnect_required' && patched('keep-reconnect-during-refusal');
    if (!keepsReconnect) reconnected = false;
    await condition(() => reconnected || disconnected);
    if (keepsReconnect) reconnected = false;
    if (disconnected) {
      state.phase = 'ended';
      return;
    }
    obtainedAt = Date.now();
  }
}
