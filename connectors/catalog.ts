// The connector catalog: every platform the connectors page shows, how it connects, and what it is for.
import type { Platform } from '../domain/channels.ts';

export type AuthMethod = 'oauth' | 'api_key' | 'site_credentials';
export type Family = 'publication' | 'data' | 'both';

export interface CatalogEntry {
  platform: Platform;
  name: string;
  family: Family;
  authMethod: AuthMethod;
  /** Whether this build can connect it yet; the others are listed but refuse to connect. */
  connectable: boolean;
}

export const catalog: readonly CatalogEntry[] = [
  {
    platform: 'meta',
    name: 'Meta (Facebook & Instagram)',
    family: 'publication',
    authMethod: 'oauth',
    connectable: true,
  },
  { platform: 'linkedin', name: 'LinkedIn', family: 'publication', authMethod: 'oauth', connectable: false },
  { platform: 'tiktok', name: 'TikTok', family: 'publication', authMethod: 'oauth', connectable: false },
  {
    platform: 'google_ads',
    name: 'Google Ads',
    family: 'publication',
    authMethod: 'oauth',
    connectable: false,
  },
  {
    platform: 'mailchimp',
    name: 'Mailchimp',
    family: 'publication',
    authMethod: 'oauth',
    connectable: false,
  },
  { platform: 'klaviyo', name: 'Klaviyo', family: 'publication', authMethod: 'api_key', connectable: true },
  {
    platform: 'cyberimpact',
    name: 'CyberImpact',
    family: 'publication',
    authMethod: 'api_key',
    connectable: false,
  },
  {
    platform: 'wordpress',
    name: 'WordPress',
    family: 'publication',
    authMethod: 'site_credentials',
    connectable: false,
  },
  { platform: 'shopify', name: 'Shopify', family: 'both', authMethod: 'oauth', connectable: false },
  {
    platform: 'google_analytics',
    name: 'Google Analytics',
    family: 'data',
    authMethod: 'oauth',
    connectable: false,
  },
  { platform: 'canva', name: 'Canva', family: 'data', authMethod: 'oauth', connectable: false },
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
