// The adapters this build has, wired to the hosts of the configuration (the platforms' real ones, or the
// sandbox simulators in tests and the demo). Each platform's descriptor (domain/platforms.ts) says which
// variables fill which adapter options; this file binds each platform to its adapter's factory.
import type { Config } from '../config.ts';
import {
  type OAuthAppOf,
  type OAuthAppVariable,
  oauthAppOf,
  type Platform,
  type PlatformDescriptor,
  type PlatformVariable,
  platformDescriptor,
  platforms,
  type SettingsOf,
  type SettingValue,
} from '../domain/platforms.ts';
import { createCanvaAdapter } from './canva.ts';
import { createCyberImpactAdapter } from './cyberimpact.ts';
import { createGoogleAdsAdapter, createGoogleAnalyticsAdapter } from './google.ts';
import { createKlaviyoAdapter } from './klaviyo.ts';
import { createLinkedInAdapter } from './linkedin.ts';
import { createMailchimpAdapter } from './mailchimp.ts';
import { createMetaAdapter } from './meta.ts';
import { createShopifyAdapter } from './shopify.ts';
import { createTikTokAdapter } from './tiktok.ts';
import type { PlatformAdapter } from './types.ts';
import { createWordPressAdapter } from './wordpress.ts';

export type AdapterRegistry = Partial<Record<Platform, PlatformAdapter<unknown>>>;

export type AdapterConfig = Pick<Config, PlatformVariable | OAuthAppVariable>;

/**
 * The options a platform's descriptor fills: every setting by its option name (optional when it may be unset)
 * and, for OAuth platforms, the app's client id and secret ('' when unset: the consent refuses to start).
 */
export type AdapterOptionsFor<P extends Platform> = {
  [O in keyof SettingsOf<P> as undefined extends SettingValue<SettingsOf<P>[O]> ? never : O]: SettingValue<
    SettingsOf<P>[O]
  >;
} & {
  [O in keyof SettingsOf<P> as undefined extends SettingValue<SettingsOf<P>[O]> ? O : never]?: string;
} & ([OAuthAppOf<P>] extends [never] ? unknown : { clientId: string; clientSecret: string });

type AdapterFactory<P extends Platform> = (options: AdapterOptionsFor<P>) => PlatformAdapter<unknown>;

// The compiler checks each descriptor's settings against its adapter's options.
const adapterFactories = {
  meta: createMetaAdapter,
  linkedin: createLinkedInAdapter,
  tiktok: createTikTokAdapter,
  google_ads: createGoogleAdsAdapter,
  google_analytics: createGoogleAnalyticsAdapter,
  mailchimp: createMailchimpAdapter,
  klaviyo: createKlaviyoAdapter,
  cyberimpact: createCyberImpactAdapter,
  wordpress: createWordPressAdapter,
  shopify: createShopifyAdapter,
  canva: createCanvaAdapter,
} as const satisfies { [P in Platform]: AdapterFactory<P> };

type AdapterFactories = typeof adapterFactories;
export type Adapters = { [P in Platform]: ReturnType<AdapterFactories[P]> };

/** Whether the server has the platform's OAuth app; without it a consent could never complete. */
export function oauthAppConfigured(config: AdapterConfig, platform: string): boolean {
  const app = platforms.includes(platform as Platform) ? oauthAppOf(platform as Platform) : undefined;
  if (!app) return true;
  return Boolean(config[`${app}_CLIENT_ID`] && config[`${app}_CLIENT_SECRET`]);
}

export function adapterOptions<P extends Platform>(config: AdapterConfig, platform: P): AdapterOptionsFor<P> {
  const descriptor: PlatformDescriptor = platformDescriptor(platform);
  const options: Record<string, unknown> = {};
  for (const [option, setting] of Object.entries(descriptor.settings)) {
    const value = config[setting.variable as PlatformVariable];
    if (value !== undefined) options[option] = value;
  }
  const app = oauthAppOf(platform);
  if (app) {
    options.clientId = config[`${app}_CLIENT_ID`] ?? '';
    options.clientSecret = config[`${app}_CLIENT_SECRET`] ?? '';
  }
  return options as AdapterOptionsFor<P>;
}

export function createAdapters(config: AdapterConfig): Adapters {
  const create = <P extends Platform>(platform: P) =>
    (adapterFactories[platform] as AdapterFactory<P>)(adapterOptions(config, platform));
  return Object.fromEntries(platforms.map((platform) => [platform, create(platform)])) as Adapters;
}
