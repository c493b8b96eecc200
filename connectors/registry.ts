// The adapters this build has, wired to the hosts of the configuration (the platforms' real ones, or the
// sandbox simulators in tests and the demo). Each platform's descriptor (domain/platforms.ts) says which
// variables fill which adapter options; this file binds each platform to its adapter module.
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
import { canvaScopes, createCanvaAdapter } from './canva.ts';
import { createCyberImpactAdapter } from './cyberimpact.ts';
import {
  createGoogleAdsAdapter,
  createGoogleAnalyticsAdapter,
  googleAdsScopes,
  googleAnalyticsScopes,
} from './google.ts';
import { createKlaviyoAdapter } from './klaviyo.ts';
import { createLinkedInAdapter, linkedinScopes } from './linkedin.ts';
import { createMailchimpAdapter, mailchimpScopes } from './mailchimp.ts';
import { createMetaAdapter, metaScopes } from './meta.ts';
import { createShopifyAdapter, shopifyScopes } from './shopify.ts';
import { createTikTokAdapter, tiktokScopes } from './tiktok.ts';
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

interface AdapterModule<P extends Platform> {
  create: (options: AdapterOptionsFor<P>) => PlatformAdapter<unknown>;
  /**
   * What the consent asks for (OAuth: the adapter's own constant, declared next to the code that asks) or what
   * the key or user must be allowed (the others); the catalog shows it.
   */
  scopes: readonly string[];
}

// The compiler checks each descriptor's settings against its adapter's options.
const adapterModules = {
  meta: { create: createMetaAdapter, scopes: metaScopes },
  linkedin: { create: createLinkedInAdapter, scopes: linkedinScopes },
  tiktok: { create: createTikTokAdapter, scopes: tiktokScopes },
  google_ads: { create: createGoogleAdsAdapter, scopes: googleAdsScopes },
  google_analytics: { create: createGoogleAnalyticsAdapter, scopes: googleAnalyticsScopes },
  // Mailchimp's OAuth has no scopes: a token has the user's access.
  mailchimp: { create: createMailchimpAdapter, scopes: mailchimpScopes },
  klaviyo: {
    create: createKlaviyoAdapter,
    scopes: ['accounts:read', 'campaigns:write', 'templates:write', 'lists:read', 'segments:read'],
  },
  cyberimpact: { create: createCyberImpactAdapter, scopes: [] },
  // Not an OAuth scope: the WordPress capability the user must have.
  wordpress: { create: createWordPressAdapter, scopes: ['publish_posts'] },
  shopify: { create: createShopifyAdapter, scopes: shopifyScopes },
  canva: { create: createCanvaAdapter, scopes: canvaScopes },
} as const satisfies { [P in Platform]: AdapterModule<P> };

type AdapterModules = typeof adapterModules;
export type Adapters = { [P in Platform]: ReturnType<AdapterModules[P]['create']> };

export function adapterScopes(platform: Platform): readonly string[] {
  return adapterModules[platform].scopes;
}

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
    (adapterModules[platform].create as AdapterModule<P>['create'])(adapterOptions(config, platform));
  return Object.fromEntries(platforms.map((platform) => [platform, create(platform)])) as Adapters;
}
