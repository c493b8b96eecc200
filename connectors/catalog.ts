// The connector catalog: every platform the connectors page shows, how it connects, what it is for (its
// channels and their scheduling mode), the scopes it asks for and the kinds of sub-accounts it finds.
import { type Channel, type ChannelMode, channelCatalog, type Platform } from '../domain/channels.ts';
import { canvaScopes } from './canva.ts';
import { googleAdsScopes, googleAnalyticsScopes } from './google.ts';
import { linkedinScopes } from './linkedin.ts';
import { mailchimpScopes } from './mailchimp.ts';
import { metaScopes } from './meta.ts';
import { shopifyScopes } from './shopify.ts';
import { tiktokScopes } from './tiktok.ts';

export type AuthMethod = 'oauth' | 'api_key' | 'site_credentials';
export type Family = 'publication' | 'data' | 'both';

export interface CatalogEntry {
  platform: Platform;
  name: string;
  family: Family;
  authMethod: AuthMethod;
  /** What it publishes, and whether we publish at the time (soft) or the platform holds it (real). */
  channels: readonly { channel: Channel; mode: ChannelMode }[];
  /** What the consent asks for (OAuth) or what the key must allow (API keys): only what we use. */
  scopes: readonly string[];
  /** The kinds of sub-accounts discovery finds; the user enables which to use. */
  accountKinds: readonly string[];
  /**
   * Sub-connections the page counts one by one ("2 / 4"), each connected once it has an account. Only Meta
   * has several; the others count their accounts.
   */
  subConnections?: readonly { kind: string; name: string }[];
  /** A second consent round that adds permissions to a connected connector (Meta's Ad Account). */
  extraPermissions?: { name: 'ads'; action: string; kind: string };
  /**
   * Data connectors: the account kinds synced on a schedule (per-account Completed/Failed, last and next
   * sync); empty for connectors that only publish.
   */
  syncedKinds: readonly string[];
}

const channelsOf = (platform: Platform) =>
  (Object.entries(channelCatalog) as [Channel, (typeof channelCatalog)[Channel]][])
    .filter(([, facts]) => facts.platform === platform)
    .map(([channel, facts]) => ({ channel, mode: facts.mode }));

// Scope lists are the adapters' own constants (declared once, next to the code that asks for them).
export const catalog: readonly CatalogEntry[] = [
  {
    platform: 'meta',
    name: 'Meta (Facebook & Instagram)',
    family: 'publication',
    authMethod: 'oauth',
    channels: channelsOf('meta'),
    scopes: metaScopes,
    accountKinds: ['facebook_page', 'instagram_account', 'business_account', 'ad_account'],
    subConnections: [
      { kind: 'instagram_account', name: 'Instagram' },
      { kind: 'facebook_page', name: 'Facebook Pages' },
      { kind: 'business_account', name: 'Facebook Business Account' },
      { kind: 'ad_account', name: 'Facebook Ad Account' },
    ],
    extraPermissions: { name: 'ads', action: 'Enable Ad Account permissions', kind: 'ad_account' },
    syncedKinds: [],
  },
  {
    platform: 'linkedin',
    name: 'LinkedIn',
    family: 'publication',
    authMethod: 'oauth',
    channels: channelsOf('linkedin'),
    scopes: linkedinScopes,
    accountKinds: ['linkedin_organization'],
    syncedKinds: [],
  },
  {
    platform: 'tiktok',
    name: 'TikTok',
    family: 'publication',
    authMethod: 'oauth',
    channels: channelsOf('tiktok'),
    scopes: tiktokScopes,
    accountKinds: ['tiktok_account'],
    syncedKinds: [],
  },
  {
    platform: 'google_ads',
    name: 'Google Ads',
    family: 'publication',
    authMethod: 'oauth',
    channels: channelsOf('google_ads'),
    scopes: googleAdsScopes,
    accountKinds: ['ads_customer'],
    syncedKinds: [],
  },
  {
    platform: 'mailchimp',
    name: 'Mailchimp',
    family: 'publication',
    authMethod: 'oauth',
    channels: channelsOf('mailchimp'),
    // Mailchimp's OAuth has no scopes: a token has the user's access.
    scopes: mailchimpScopes,
    accountKinds: ['mailchimp_audience'],
    syncedKinds: [],
  },
  {
    platform: 'klaviyo',
    name: 'Klaviyo',
    family: 'publication',
    authMethod: 'api_key',
    channels: channelsOf('klaviyo'),
    scopes: ['accounts:read', 'campaigns:write', 'templates:write', 'lists:read', 'segments:read'],
    accountKinds: ['list', 'segment'],
    syncedKinds: [],
  },
  {
    platform: 'cyberimpact',
    name: 'CyberImpact',
    family: 'publication',
    authMethod: 'api_key',
    channels: channelsOf('cyberimpact'),
    scopes: [],
    accountKinds: ['cyberimpact_group'],
    syncedKinds: [],
  },
  {
    platform: 'wordpress',
    name: 'WordPress',
    family: 'publication',
    authMethod: 'site_credentials',
    channels: channelsOf('wordpress'),
    // Not an OAuth scope: the WordPress capability the user must have.
    scopes: ['publish_posts'],
    accountKinds: ['wordpress_site'],
    syncedKinds: [],
  },
  {
    platform: 'shopify',
    name: 'Shopify',
    family: 'both',
    authMethod: 'oauth',
    channels: channelsOf('shopify'),
    scopes: shopifyScopes,
    accountKinds: ['shopify_store', 'shopify_blog'],
    syncedKinds: ['shopify_store'],
  },
  {
    platform: 'google_analytics',
    name: 'Google Analytics',
    family: 'data',
    authMethod: 'oauth',
    channels: [],
    scopes: googleAnalyticsScopes,
    accountKinds: ['ga4_property'],
    syncedKinds: ['ga4_property'],
  },
  {
    platform: 'canva',
    name: 'Canva',
    family: 'data',
    authMethod: 'oauth',
    channels: [],
    scopes: canvaScopes,
    accountKinds: ['canva_team'],
    syncedKinds: ['canva_team'],
  },
];

export const comingSoon: readonly { key: string; name: string }[] = [
  { key: 'pinterest', name: 'Pinterest' },
  { key: 'x', name: 'X (Twitter)' },
  { key: 'youtube', name: 'YouTube' },
  { key: 'hubspot', name: 'HubSpot' },
];

export function catalogEntry(platform: string): CatalogEntry | undefined {
  return catalog.find((entry) => entry.platform === platform);
}
