// The channel catalog (SPEC §3): each channel's platform, scheduling mode, and whether it targets a sub-account.
import { z } from 'zod';

export const platforms = [
  'meta',
  'linkedin',
  'tiktok',
  'google_ads',
  'google_analytics',
  'mailchimp',
  'klaviyo',
  'cyberimpact',
  'wordpress',
  'shopify',
  'canva',
] as const;
export const Platform = z.enum(platforms);
export type Platform = z.infer<typeof Platform>;

export type ChannelMode = 'soft' | 'real';

interface ChannelFacts {
  platform: Platform;
  /** soft: we keep the content and publish at the time; real: the platform holds it and sends it. */
  mode: ChannelMode;
  /** Email channels address audiences instead of one sub-account. */
  target: 'account' | 'audiences';
}

export const channelCatalog = {
  facebook_post: { platform: 'meta', mode: 'soft', target: 'account' },
  instagram_post: { platform: 'meta', mode: 'soft', target: 'account' },
  instagram_story: { platform: 'meta', mode: 'soft', target: 'account' },
  facebook_ad: { platform: 'meta', mode: 'soft', target: 'account' },
  linkedin_post: { platform: 'linkedin', mode: 'soft', target: 'account' },
  tiktok_video: { platform: 'tiktok', mode: 'soft', target: 'account' },
  google_ads_campaign: { platform: 'google_ads', mode: 'soft', target: 'account' },
  shopify_product_seo: { platform: 'shopify', mode: 'soft', target: 'account' },
  mailchimp_email: { platform: 'mailchimp', mode: 'real', target: 'audiences' },
  klaviyo_email: { platform: 'klaviyo', mode: 'real', target: 'audiences' },
  cyberimpact_email: { platform: 'cyberimpact', mode: 'real', target: 'audiences' },
  wordpress_article: { platform: 'wordpress', mode: 'real', target: 'account' },
  shopify_article: { platform: 'shopify', mode: 'real', target: 'account' },
} as const satisfies Record<string, ChannelFacts>;

export type Channel = keyof typeof channelCatalog;
export const channels = Object.keys(channelCatalog) as [Channel, ...Channel[]];
export const Channel = z.enum(channels);

export function channelFacts(channel: Channel): ChannelFacts {
  return channelCatalog[channel];
}

/** The channels scheduled one way (soft: we publish at the time; real: handed to the platform). */
export function channelsOfMode(mode: ChannelMode): Channel[] {
  return channels.filter((channel) => channelCatalog[channel].mode === mode);
}
