// How a connector is shown (SPEC §6): the connectors page's schemas, a connector's status, counts and
// sub-connections read from its reachable accounts, and the actions each state offers. Never credentials.
import { z } from 'zod';
import { type CatalogEntry, catalogEntry } from '../../connectors/catalog.ts';
import type { Connector } from '../../connectors/types.ts';
import type { Executor } from '../../db/client.ts';
import { listAccounts } from '../../db/connectors/reads.ts';
import type { AccountRow, ConnectorRow } from '../../db/schema.ts';
import { Platform } from '../../domain/channels.ts';
import { connectFieldsByMethod } from './connector-body.ts';

const AccountView = z.object({
  id: z.uuid(),
  kind: z.string(),
  externalId: z.string(),
  name: z.string(),
  enabled: z.boolean(),
  status: z.enum(['connected', 'not_connected']),
  syncStatus: z.enum(['completed', 'failed']).nullable(),
  lastSyncAt: z.string().nullable(),
  nextSyncAt: z.string().nullable(),
  lastSyncError: z.string().nullable(),
  /**
   * TikTok: the privacy levels the creator offers, as of the last connection or token refresh (an app TikTok
   * has not audited is offered SELF_ONLY alone); a tiktok_video task asking for another is refused when the
   * epic is scheduled.
   */
  privacyLevelOptions: z.array(z.string()).optional().meta({
    description: "TikTok: the privacy levels the creator offers (creator_info's privacy_level_options)",
  }),
});

export const ConnectorView = z
  .object({
    id: z.uuid(),
    platform: Platform,
    status: z.enum(['connected', 'not_connected', 'reconnect_required', 'partially_connected']),
    connectedCount: z.number().int(),
    totalCount: z.number().int(),
    /** Meta only: its four sub-connections, each connected once an account of its kind is reachable. */
    subConnections: z
      .array(z.object({ kind: z.string(), name: z.string(), connected: z.boolean() }))
      .optional(),
    accounts: z.array(AccountView),
    settings: z.record(z.string(), z.unknown()),
    tokenExpiresAt: z.string().nullable(),
    actions: z.array(z.string()),
    lastError: z
      .object({ class: z.string(), message: z.string(), platformCode: z.string().optional() })
      .nullable(),
    /**
     * Publication connectors: the last reading of their published items' performance, why the last one failed,
     * and the read scopes the grant lacks ("Reconnect to read insights").
     */
    metrics: z.object({
      lastSyncAt: z.string().nullable(),
      lastSyncError: z.object({ class: z.string(), message: z.string(), at: z.string() }).nullable(),
      missingScopes: z.array(z.string()),
    }),
  })
  .meta({ id: 'Connector' });

const CatalogView = z
  .object({
    platform: Platform,
    name: z.string(),
    family: z.enum(['publication', 'data', 'both']),
    authMethod: z.enum(['oauth', 'api_key', 'site_credentials']),
    channels: z.array(z.object({ channel: z.string(), mode: z.enum(['soft', 'real']) })),
    scopes: z.array(z.string()),
    accountKinds: z.array(z.string()),
    subConnections: z.array(z.object({ kind: z.string(), name: z.string() })).optional(),
    /** What the connect request needs besides the workspace (Shopify's shop, a key, site credentials). */
    connectWith: z.array(z.string()),
  })
  .meta({ id: 'CatalogEntry' });

export const ConnectorsPage = z.object({
  connected: z.array(ConnectorView),
  available: z.array(CatalogView),
  comingSoon: z.array(z.object({ key: z.string(), name: z.string() })),
  counts: z.object({
    connected: z.number().int(),
    available: z.number().int(),
    comingSoon: z.number().int(),
  }),
  plan: z.object({ name: z.string(), connectorLimit: z.number().int(), used: z.number().int() }),
});

const iso = (value: Date | null) => (value ? value.toISOString() : null);

/** What the page offers for a connector in its state (each label maps to one request, see the README). */
function actionsFor(
  platform: string,
  status: ConnectorViewStatus,
  missingKinds: readonly string[],
  missingInsightScopes: readonly string[],
): string[] {
  if (status === 'not_connected') return ['Connect'];
  if (status === 'reconnect_required') return ['Reconnect', 'Disconnect'];
  const entry = catalogEntry(platform);
  const actions = ['Connect a different account'];
  // Publishing works; only reading performance back needs the scopes the grant lacks.
  if (missingInsightScopes.length > 0) actions.push('Reconnect to read insights');
  if (status === 'partially_connected') actions.push('Continue connection');
  if (entry?.extraPermissions && missingKinds.includes(entry.extraPermissions.kind))
    actions.push(entry.extraPermissions.action);
  if (platform === 'google_analytics') actions.push('Select a new view');
  if (platform === 'google_ads') actions.push('Change Customer Account');
  actions.push('Disconnect');
  return actions;
}

type ConnectorViewStatus = z.infer<typeof ConnectorView>['status'];

export function toConnectorView(
  connector: ConnectorRow,
  accounts: AccountRow[],
): z.infer<typeof ConnectorView> {
  const entry = catalogEntry(connector.platform);
  const reachable = accounts.filter((account) => account.status === 'connected');
  // Meta counts its four sub-connections ("2 / 4"); the others count the accounts chosen among those found.
  const subConnections = entry?.subConnections;
  const missingKinds = subConnections
    ? subConnections
        .filter(({ kind }) => !reachable.some((account) => account.kind === kind))
        .map(({ kind }) => kind)
    : [];
  const connectedCount = subConnections
    ? subConnections.length - missingKinds.length
    : reachable.filter((account) => account.enabled).length;
  const totalCount = subConnections ? subConnections.length : accounts.length;
  let status: ConnectorViewStatus = connector.status;
  if (status === 'connected' && subConnections && missingKinds.length > 0) status = 'partially_connected';
  return {
    id: connector.id,
    platform: connector.platform as z.infer<typeof Platform>,
    status,
    connectedCount,
    totalCount,
    ...(subConnections
      ? {
          subConnections: subConnections.map(({ kind, name }) => ({
            kind,
            name,
            connected: !missingKinds.includes(kind),
          })),
        }
      : {}),
    accounts: accounts.map((account) => ({
      id: account.id,
      kind: account.kind,
      externalId: account.externalId,
      name: account.name,
      enabled: account.enabled,
      status: account.status as 'connected' | 'not_connected',
      syncStatus: account.syncStatus as 'completed' | 'failed' | null,
      lastSyncAt: iso(account.lastSyncAt),
      nextSyncAt: iso(account.nextSyncAt),
      lastSyncError: account.lastSyncError,
      ...(account.metadata.privacyLevelOptions
        ? { privacyLevelOptions: account.metadata.privacyLevelOptions }
        : {}),
    })),
    settings: connector.settings,
    tokenExpiresAt: iso(connector.tokenExpiresAt),
    actions: actionsFor(connector.platform, status, missingKinds, connector.insightsMissingScopes),
    lastError: connector.lastError ?? null,
    metrics: {
      lastSyncAt: iso(connector.metricsSyncedAt),
      lastSyncError: connector.metricsError ?? null,
      missingScopes: connector.insightsMissingScopes,
    },
  };
}

/** A connector and its accounts as the store returns them after a change. */
export const viewOf = (saved: { connector: ConnectorRow; accounts: AccountRow[] }) =>
  toConnectorView(saved.connector, saved.accounts);

export async function viewConnector(executor: Executor, connector: ConnectorRow) {
  return toConnectorView(connector, await listAccounts(executor, connector.id));
}

export function catalogView(entry: CatalogEntry, connector: Connector | undefined) {
  return {
    platform: entry.platform,
    name: entry.name,
    family: entry.family,
    authMethod: entry.authMethod,
    channels: entry.channels.map(({ channel, mode }) => ({ channel, mode })),
    scopes: [...entry.scopes],
    accountKinds: [...entry.accountKinds],
    ...(entry.subConnections
      ? { subConnections: entry.subConnections.map(({ kind, name }) => ({ kind, name })) }
      : {}),
    connectWith:
      entry.authMethod === 'oauth'
        ? connector?.kind === 'oauth' && connector.needsShop
          ? ['shop']
          : []
        : [...connectFieldsByMethod[entry.authMethod]],
  };
}
