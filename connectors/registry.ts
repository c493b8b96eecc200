// The adapters this build has, wired to the hosts of the configuration (the platforms' real ones, or the
// sandbox simulators in tests and the demo).
import type { Config } from '../config.ts';
import type { Platform } from '../domain/channels.ts';
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

export type AdapterConfig = Pick<
  Config,
  | 'META_API_BASE_URL'
  | 'META_AUTH_BASE_URL'
  | 'META_CLIENT_ID'
  | 'META_CLIENT_SECRET'
  | 'KLAVIYO_API_BASE_URL'
  | 'LINKEDIN_API_BASE_URL'
  | 'LINKEDIN_AUTH_BASE_URL'
  | 'LINKEDIN_CLIENT_ID'
  | 'LINKEDIN_CLIENT_SECRET'
  | 'TIKTOK_API_BASE_URL'
  | 'TIKTOK_AUTH_BASE_URL'
  | 'TIKTOK_CLIENT_ID'
  | 'TIKTOK_CLIENT_SECRET'
  | 'GOOGLE_AUTH_BASE_URL'
  | 'GOOGLE_TOKEN_BASE_URL'
  | 'GOOGLE_ANALYTICS_API_BASE_URL'
  | 'GOOGLE_ANALYTICS_ADMIN_API_BASE_URL'
  | 'GOOGLE_ADS_API_BASE_URL'
  | 'GOOGLE_ADS_DEVELOPER_TOKEN'
  | 'GOOGLE_CLIENT_ID'
  | 'GOOGLE_CLIENT_SECRET'
  | 'MAILCHIMP_AUTH_BASE_URL'
  | 'MAILCHIMP_API_BASE_URL'
  | 'MAILCHIMP_CLIENT_ID'
  | 'MAILCHIMP_CLIENT_SECRET'
  | 'CANVA_API_BASE_URL'
  | 'CANVA_AUTH_BASE_URL'
  | 'CANVA_CLIENT_ID'
  | 'CANVA_CLIENT_SECRET'
  | 'SHOPIFY_SHOP_BASE_URL'
  | 'SHOPIFY_CLIENT_ID'
  | 'SHOPIFY_CLIENT_SECRET'
  | 'CYBERIMPACT_API_BASE_URL'
  | 'WORDPRESS_ALLOW_PRIVATE_HOSTS'
>;

/** The OAuth app (client id and secret variables) each OAuth platform uses; the two Google ones share one. */
const oauthApps: Partial<
  Record<Platform, 'META' | 'LINKEDIN' | 'TIKTOK' | 'GOOGLE' | 'MAILCHIMP' | 'CANVA' | 'SHOPIFY'>
> = {
  meta: 'META',
  linkedin: 'LINKEDIN',
  tiktok: 'TIKTOK',
  google_ads: 'GOOGLE',
  google_analytics: 'GOOGLE',
  mailchimp: 'MAILCHIMP',
  canva: 'CANVA',
  shopify: 'SHOPIFY',
};

/** Whether the server has the platform's OAuth app; without it a consent could never complete. */
export function oauthAppConfigured(config: AdapterConfig, platform: string): boolean {
  const app = oauthApps[platform as Platform];
  if (!app) return true;
  return Boolean(config[`${app}_CLIENT_ID`] && config[`${app}_CLIENT_SECRET`]);
}

export function createAdapters(config: AdapterConfig) {
  const google = {
    authBaseUrl: config.GOOGLE_AUTH_BASE_URL!,
    tokenBaseUrl: config.GOOGLE_TOKEN_BASE_URL!,
    analyticsApiBaseUrl: config.GOOGLE_ANALYTICS_API_BASE_URL!,
    analyticsAdminApiBaseUrl: config.GOOGLE_ANALYTICS_ADMIN_API_BASE_URL!,
    adsApiBaseUrl: config.GOOGLE_ADS_API_BASE_URL!,
    clientId: config.GOOGLE_CLIENT_ID ?? '',
    clientSecret: config.GOOGLE_CLIENT_SECRET ?? '',
    ...(config.GOOGLE_ADS_DEVELOPER_TOKEN ? { adsDeveloperToken: config.GOOGLE_ADS_DEVELOPER_TOKEN } : {}),
  };
  return {
    meta: createMetaAdapter({
      apiBaseUrl: config.META_API_BASE_URL!,
      authBaseUrl: config.META_AUTH_BASE_URL!,
      clientId: config.META_CLIENT_ID ?? '',
      clientSecret: config.META_CLIENT_SECRET ?? '',
    }),
    klaviyo: createKlaviyoAdapter({ apiBaseUrl: config.KLAVIYO_API_BASE_URL! }),
    linkedin: createLinkedInAdapter({
      apiBaseUrl: config.LINKEDIN_API_BASE_URL!,
      authBaseUrl: config.LINKEDIN_AUTH_BASE_URL!,
      clientId: config.LINKEDIN_CLIENT_ID ?? '',
      clientSecret: config.LINKEDIN_CLIENT_SECRET ?? '',
    }),
    tiktok: createTikTokAdapter({
      apiBaseUrl: config.TIKTOK_API_BASE_URL!,
      authBaseUrl: config.TIKTOK_AUTH_BASE_URL!,
      clientId: config.TIKTOK_CLIENT_ID ?? '',
      clientSecret: config.TIKTOK_CLIENT_SECRET ?? '',
    }),
    google_analytics: createGoogleAnalyticsAdapter(google),
    google_ads: createGoogleAdsAdapter(google),
    mailchimp: createMailchimpAdapter({
      authBaseUrl: config.MAILCHIMP_AUTH_BASE_URL!,
      ...(config.MAILCHIMP_API_BASE_URL ? { apiBaseUrl: config.MAILCHIMP_API_BASE_URL } : {}),
      clientId: config.MAILCHIMP_CLIENT_ID ?? '',
      clientSecret: config.MAILCHIMP_CLIENT_SECRET ?? '',
    }),
    canva: createCanvaAdapter({
      apiBaseUrl: config.CANVA_API_BASE_URL!,
      authBaseUrl: config.CANVA_AUTH_BASE_URL!,
      clientId: config.CANVA_CLIENT_ID ?? '',
      clientSecret: config.CANVA_CLIENT_SECRET ?? '',
    }),
    shopify: createShopifyAdapter({
      shopBaseUrl: config.SHOPIFY_SHOP_BASE_URL,
      clientId: config.SHOPIFY_CLIENT_ID ?? '',
      clientSecret: config.SHOPIFY_CLIENT_SECRET ?? '',
    }),
    cyberimpact: createCyberImpactAdapter({ apiBaseUrl: config.CYBERIMPACT_API_BASE_URL! }),
    wordpress: createWordPressAdapter({ allowPrivateHosts: config.WORDPRESS_ALLOW_PRIVATE_HOSTS }),
  } satisfies AdapterRegistry;
}

export type Adapters = ReturnType<typeof createAdapters>;
