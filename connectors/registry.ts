// The adapters this build has, wired to the hosts of the configuration (the platforms' real ones, or the
// sandbox simulators in tests and the demo).
import type { Config } from '../config.ts';
import type { Platform } from '../domain/channels.ts';
import { createKlaviyoAdapter } from './klaviyo.ts';
import { createMetaAdapter } from './meta.ts';
import type { PlatformAdapter } from './types.ts';

export type AdapterRegistry = Partial<Record<Platform, PlatformAdapter<unknown>>>;

export type AdapterConfig = Pick<
  Config,
  | 'META_API_BASE_URL'
  | 'META_AUTH_BASE_URL'
  | 'META_CLIENT_ID'
  | 'META_CLIENT_SECRET'
  | 'KLAVIYO_API_BASE_URL'
>;

export function createAdapters(config: AdapterConfig) {
  return {
    meta: createMetaAdapter({
      apiBaseUrl: config.META_API_BASE_URL!,
      authBaseUrl: config.META_AUTH_BASE_URL!,
      clientId: config.META_CLIENT_ID ?? '',
      clientSecret: config.META_CLIENT_SECRET ?? '',
    }),
    klaviyo: createKlaviyoAdapter({ apiBaseUrl: config.KLAVIYO_API_BASE_URL! }),
  };
}

export type Adapters = ReturnType<typeof createAdapters>;
