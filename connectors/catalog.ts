// The connector catalog: every platform the connectors page shows, how it connects, what it is for (its
// channels and their scheduling mode), the scopes it asks for and the kinds of sub-accounts it finds. Read off
// the platform descriptors (domain/platforms.ts).
import { type Channel, type ChannelMode, channelCatalog } from '../domain/channels.ts';
import {
  type AuthMethod,
  type Family,
  type Platform,
  type PlatformDescriptor,
  platformDescriptor,
  platforms,
} from '../domain/platforms.ts';

export type { AuthMethod, Family };

export interface CatalogEntry
  extends Pick<
    PlatformDescriptor,
    | 'name'
    | 'family'
    | 'authMethod'
    | 'scopes'
    | 'accountKinds'
    | 'subConnections'
    | 'extraPermissions'
    | 'syncedKinds'
  > {
  platform: Platform;
  /** What it publishes, and whether we publish at the time (soft) or the platform holds it (real). */
  channels: readonly { channel: Channel; mode: ChannelMode }[];
}

const channelsOf = (platform: Platform) =>
  (Object.entries(channelCatalog) as [Channel, (typeof channelCatalog)[Channel]][])
    .filter(([, facts]) => facts.platform === platform)
    .map(([channel, facts]) => ({ channel, mode: facts.mode }));

// The page lists the platforms that publish first, then those that also sync data, then data sources.
const familyOrder: Record<Family, number> = { publication: 0, both: 1, data: 2 };

export const catalog: readonly CatalogEntry[] = platforms
  .map((platform): CatalogEntry => {
    const { name, family, authMethod, scopes, accountKinds, subConnections, extraPermissions, syncedKinds } =
      platformDescriptor(platform);
    return {
      platform,
      name,
      family,
      authMethod,
      channels: channelsOf(platform),
      scopes,
      accountKinds,
      ...(subConnections ? { subConnections } : {}),
      ...(extraPermissions ? { extraPermissions } : {}),
      syncedKinds,
    };
  })
  .sort((a, b) => familyOrder[a.family] - familyOrder[b.family]);

export const comingSoon: readonly { key: string; name: string }[] = [
  { key: 'pinterest', name: 'Pinterest' },
  { key: 'x', name: 'X (Twitter)' },
  { key: 'youtube', name: 'YouTube' },
  { key: 'hubspot', name: 'HubSpot' },
];

export function catalogEntry(platform: string): CatalogEntry | undefined {
  return catalog.find((entry) => entry.platform === platform);
}
