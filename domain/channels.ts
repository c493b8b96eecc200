// The channel catalog (SPEC §3): each channel's platform, scheduling mode, and whether it targets a sub-account,
// gathered from the platform descriptors (domain/platforms.ts), where each channel is declared with its platform.
import { z } from 'zod';
import {
  type ChannelDescriptor,
  type ChannelMode,
  Platform,
  platformDescriptor,
  type platformDescriptors,
  platforms,
} from './platforms.ts';

export { type ChannelMode, Platform, platforms };

interface ChannelFacts extends ChannelDescriptor {
  platform: Platform;
}

type Descriptors = typeof platformDescriptors;
export type Channel = { [P in Platform]: keyof Descriptors[P]['channels'] & string }[Platform];

// Soft channels first, then real ones (stable within each): the order the API has always listed them in.
const modeOrder: Record<ChannelMode, number> = { soft: 0, real: 1 };
const channelEntries = platforms
  .flatMap((platform) =>
    Object.entries(platformDescriptor(platform).channels).map(
      ([channel, facts]) => [channel as Channel, { platform, ...facts }] as const,
    ),
  )
  .sort(([, a], [, b]) => modeOrder[a.mode] - modeOrder[b.mode]);

export const channelCatalog = Object.fromEntries(channelEntries) as { readonly [C in Channel]: ChannelFacts };

export const channels = channelEntries.map(([channel]) => channel) as [Channel, ...Channel[]];
export const Channel = z.enum(channels);

export function channelFacts(channel: Channel): ChannelFacts {
  return channelCatalog[channel];
}

/** The channels scheduled one way (soft: we publish at the time; real: handed to the platform). */
export function channelsOfMode(mode: ChannelMode): Channel[] {
  return channels.filter((channel) => channelCatalog[channel].mode === mode);
}
