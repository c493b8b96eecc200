// Every platform declared once: what the connectors page shows, the channels it publishes and their mode, the
// scopes it asks for, the environment variables of its hosts and OAuth app, and which sandbox simulator plays
// it. Pure data in domain/ because channels.ts (used by the API, activities and workflows) derives from it, and
// config.ts must read it without loading the adapters; the adapters themselves are bound to it in
// connectors/registry.ts and the simulators in sandbox/platforms.ts, both keyed by the ids below.
import { z } from 'zod';

export type ChannelMode = 'soft' | 'real';
export type AuthMethod = 'oauth' | 'api_key' | 'site_credentials';
export type Family = 'publication' | 'data' | 'both';

export interface ChannelDescriptor {
  /** soft: we keep the content and publish at the time; real: the platform holds it and sends it. */
  mode: ChannelMode;
  /** Email channels address audiences instead of one sub-account. */
  target: 'account' | 'audiences';
  /**
   * The platform schedules only at whole multiples of this many minutes (UTC): another time is refused when
   * the epic is scheduled, before anything is created anywhere.
   */
  scheduleStepMinutes?: number;
  /**
   * Soft channels whose platform can hold the publication unpublished (a PAUSED ad): prepared there before the
   * time by the adapter's `prepare`, so the time takes one request.
   */
  preparedAhead?: true;
}

/**
 * One environment variable an adapter reads, keyed in `settings` by the adapter option it fills. A host with
 * a default is the platform's real one (SPEC §9); a host without one is an override the adapter can do without.
 */
export type PlatformSetting =
  | { variable: string; kind: 'url'; default?: string }
  /** A host per customer, e.g. Shopify's `https://{shop}.myshopify.com`. */
  | { variable: string; kind: 'url_template'; placeholder: string; default: string }
  | { variable: string; kind: 'text' }
  | { variable: string; kind: 'flag' }
  /** An IANA time zone, e.g. the one a platform reads wall times in when its API does not say. */
  | { variable: string; kind: 'time_zone'; default: string }
  /** A duration in milliseconds, within bounds. */
  | { variable: string; kind: 'milliseconds'; default: number; min: number; max: number };

/**
 * A limit the platform documents on one kind of request: at most `requests` in any `windowMs`, counted per
 * access token (`token`) or for the whole app (`app`). Adapters take a turn before each such request, so a
 * burst due at one instant is spread over the windows instead of refused with 429s.
 */
export interface CallLimit {
  per: 'token' | 'app';
  requests: number;
  windowMs: number;
  /** Of `requests`, those left to calls that take no turn (TikTok reads creator_info at connection too). */
  reserved?: number;
}

/**
 * A limit the platform documents on requests at once (Mailchimp: 10 simultaneous connections), per access
 * token or for the whole app. An adapter call sends its requests one after another, so it is kept as a limit
 * on the adapter calls that run at once.
 */
export interface ConnectionLimit {
  per: 'token' | 'app';
  connections: number;
}

export interface PlatformDescriptor {
  name: string;
  family: Family;
  authMethod: AuthMethod;
  /** What it publishes; a data connector publishes nothing. */
  channels: Readonly<Record<string, ChannelDescriptor>>;
  /**
   * Only what Glowtify uses. OAuth platforms: what the consent asks for, in this order (the URL carries it as
   * is). The others cannot ask, so these say what the key or site user must be allowed. The catalog shows them.
   */
  scopes: readonly string[];
  /** The kinds of sub-accounts discovery finds; the user enables which to use. */
  accountKinds: readonly string[];
  /**
   * Sub-connections the page counts one by one ("2 / 4"), each connected once it has an account. Only Meta
   * has several; the others count their accounts.
   */
  subConnections?: readonly { kind: string; name: string }[];
  /** A second consent round that asks for `scopes` besides the platform's own (Meta's Ad Account). */
  extraPermissions?: { name: 'ads'; action: string; kind: string; scopes: readonly string[] };
  /**
   * Data connectors: the account kinds synced on a schedule (per-account Completed/Failed, last and next
   * sync); empty for connectors that only publish.
   */
  syncedKinds: readonly string[];
  settings: Readonly<Record<string, PlatformSetting>>;
  /** Request limits, by the name the adapter gives the request when it takes a turn (see CallLimit). */
  callLimits?: Readonly<Record<string, CallLimit>>;
  connectionLimit?: ConnectionLimit;
  /** OAuth platforms: the prefix of `{APP}_CLIENT_ID` and `{APP}_CLIENT_SECRET`; platforms may share an app. */
  oauthApp?: string;
  /** The key of the simulator that plays it in tests and the demo (sandbox/platforms.ts). */
  simulator: string;
}

// Google Ads and Analytics are one Google app on the same hosts, served by one simulator.
const google = {
  settings: {
    authBaseUrl: { variable: 'GOOGLE_AUTH_BASE_URL', kind: 'url', default: 'https://accounts.google.com' },
    tokenBaseUrl: {
      variable: 'GOOGLE_TOKEN_BASE_URL',
      kind: 'url',
      default: 'https://oauth2.googleapis.com',
    },
    analyticsApiBaseUrl: {
      variable: 'GOOGLE_ANALYTICS_API_BASE_URL',
      kind: 'url',
      default: 'https://analyticsdata.googleapis.com',
    },
    analyticsAdminApiBaseUrl: {
      variable: 'GOOGLE_ANALYTICS_ADMIN_API_BASE_URL',
      kind: 'url',
      default: 'https://analyticsadmin.googleapis.com',
    },
    adsApiBaseUrl: {
      variable: 'GOOGLE_ADS_API_BASE_URL',
      kind: 'url',
      default: 'https://googleads.googleapis.com',
    },
    /** Google Ads retired the developer-token header in 2026-09: sent only when set. */
    adsDeveloperToken: { variable: 'GOOGLE_ADS_DEVELOPER_TOKEN', kind: 'text' },
  },
  oauthApp: 'GOOGLE',
  simulator: 'google',
} as const;

// The order is the Platform enum's (OpenAPI); the catalog and the channel list sort on top of it.
export const platformDescriptors = {
  meta: {
    name: 'Meta (Facebook & Instagram)',
    family: 'publication',
    authMethod: 'oauth',
    channels: {
      facebook_post: { mode: 'soft', target: 'account' },
      instagram_post: { mode: 'soft', target: 'account', preparedAhead: true },
      instagram_story: { mode: 'soft', target: 'account', preparedAhead: true },
      facebook_ad: { mode: 'soft', target: 'account', preparedAhead: true },
    },
    // What publishing needs (ads_management comes with the Ad Account round below), then what reading the
    // published items' performance needs: never required to connect or publish.
    scopes: [
      'pages_show_list',
      'pages_read_engagement',
      'pages_manage_posts',
      'instagram_basic',
      'instagram_content_publish',
      // The Facebook Business Account sub-connection: reading which businesses own the Pages.
      'business_management',
      // Instagram media insights; Page post insights (with pages_read_engagement and the ANALYZE task).
      'instagram_manage_insights',
      'read_insights',
    ],
    accountKinds: ['facebook_page', 'instagram_account', 'business_account', 'ad_account'],
    subConnections: [
      { kind: 'instagram_account', name: 'Instagram' },
      { kind: 'facebook_page', name: 'Facebook Pages' },
      { kind: 'business_account', name: 'Facebook Business Account' },
      { kind: 'ad_account', name: 'Facebook Ad Account' },
    ],
    // Asked only when the user wants ads.
    extraPermissions: {
      name: 'ads',
      action: 'Enable Ad Account permissions',
      kind: 'ad_account',
      // ads_read: the ads' insights (ads_management reads them too; asked so a read-only grant says so).
      scopes: ['ads_management', 'ads_read'],
    },
    syncedKinds: [],
    settings: {
      apiBaseUrl: { variable: 'META_API_BASE_URL', kind: 'url', default: 'https://graph.facebook.com' },
      authBaseUrl: { variable: 'META_AUTH_BASE_URL', kind: 'url', default: 'https://www.facebook.com' },
    },
    oauthApp: 'META',
    simulator: 'meta',
  },
  linkedin: {
    name: 'LinkedIn',
    family: 'publication',
    authMethod: 'oauth',
    channels: { linkedin_post: { mode: 'soft', target: 'account' } },
    // Posting as an organization, reading its posts (a retry looks for the post a lost answer made), and
    // finding the organizations the member may post for; then the posts' share statistics (ADMINISTRATOR
    // role), never required to connect or publish.
    scopes: [
      'w_organization_social',
      'r_organization_social',
      'r_organization_admin',
      'rw_organization_admin',
    ],
    accountKinds: ['linkedin_organization'],
    syncedKinds: [],
    settings: {
      apiBaseUrl: { variable: 'LINKEDIN_API_BASE_URL', kind: 'url', default: 'https://api.linkedin.com' },
      authBaseUrl: { variable: 'LINKEDIN_AUTH_BASE_URL', kind: 'url', default: 'https://www.linkedin.com' },
      // The worker downloads LinkedIn images itself; pre-flight media checks read the same setting.
      allowPrivateMediaHosts: { variable: 'MEDIA_ALLOW_PRIVATE_HOSTS', kind: 'flag' },
    },
    oauthApp: 'LINKEDIN',
    simulator: 'linkedin',
  },
  tiktok: {
    name: 'TikTok',
    family: 'publication',
    authMethod: 'oauth',
    channels: { tiktok_video: { mode: 'soft', target: 'account' } },
    // The account's identity, and posting videos to it; then reading the videos' counts (video/query), never
    // required to connect or publish.
    scopes: ['user.info.basic', 'video.publish', 'video.list'],
    accountKinds: ['tiktok_account'],
    syncedKinds: [],
    settings: {
      apiBaseUrl: { variable: 'TIKTOK_API_BASE_URL', kind: 'url', default: 'https://open.tiktokapis.com' },
      authBaseUrl: { variable: 'TIKTOK_AUTH_BASE_URL', kind: 'url', default: 'https://www.tiktok.com' },
      // Within the publish activity's 3 minutes with the status polling; what outlasts it is followed up.
      moderationWaitMs: {
        variable: 'TIKTOK_MODERATION_WAIT_MS',
        kind: 'milliseconds',
        default: 45_000,
        min: 0,
        max: 60_000,
      },
    },
    // PLATFORMS.md: counted per access token over a sliding minute.
    callLimits: {
      // Discovery (at connection and each token refresh) reads creator_info without a turn.
      creatorInfo: { per: 'token', requests: 20, windowMs: 60_000, reserved: 2 },
      videoInit: { per: 'token', requests: 6, windowMs: 60_000 },
      statusFetch: { per: 'token', requests: 30, windowMs: 60_000 },
    },
    oauthApp: 'TIKTOK',
    simulator: 'tiktok',
  },
  google_ads: {
    name: 'Google Ads',
    family: 'publication',
    authMethod: 'oauth',
    channels: { google_ads_campaign: { mode: 'soft', target: 'account', preparedAhead: true } },
    // Google Ads has one scope for everything.
    scopes: ['https://www.googleapis.com/auth/adwords'],
    accountKinds: ['ads_customer'],
    syncedKinds: [],
    ...google,
  },
  google_analytics: {
    name: 'Google Analytics',
    family: 'data',
    authMethod: 'oauth',
    channels: {},
    // Read-only: reports need nothing more.
    scopes: ['https://www.googleapis.com/auth/analytics.readonly'],
    accountKinds: ['ga4_property'],
    syncedKinds: ['ga4_property'],
    ...google,
  },
  mailchimp: {
    name: 'Mailchimp',
    family: 'publication',
    authMethod: 'oauth',
    // Mailchimp's actions/schedule takes quarter-hours only.
    channels: { mailchimp_email: { mode: 'real', target: 'audiences', scheduleStepMinutes: 15 } },
    // Mailchimp's OAuth has no scopes: a token acts with the connecting user's role.
    scopes: [],
    accountKinds: ['mailchimp_audience'],
    syncedKinds: [],
    settings: {
      authBaseUrl: {
        variable: 'MAILCHIMP_AUTH_BASE_URL',
        kind: 'url',
        default: 'https://login.mailchimp.com',
      },
      /** Mailchimp's API host comes from its OAuth metadata (`api_endpoint`, per data center); set only to override. */
      apiBaseUrl: { variable: 'MAILCHIMP_API_BASE_URL', kind: 'url' },
    },
    // PLATFORMS.md: a 429 past 10 simultaneous connections (per user, so per token).
    connectionLimit: { per: 'token', connections: 10 },
    oauthApp: 'MAILCHIMP',
    simulator: 'mailchimp',
  },
  klaviyo: {
    name: 'Klaviyo',
    family: 'publication',
    authMethod: 'api_key',
    channels: { klaviyo_email: { mode: 'real', target: 'audiences' } },
    scopes: [
      'accounts:read',
      'campaigns:write',
      'templates:write',
      'lists:read',
      'segments:read',
      // Reading campaigns back: the values report (campaigns:read) needs a conversion metric (metrics:read).
      'campaigns:read',
      'metrics:read',
    ],
    accountKinds: ['list', 'segment'],
    syncedKinds: [],
    settings: {
      apiBaseUrl: { variable: 'KLAVIYO_API_BASE_URL', kind: 'url', default: 'https://a.klaviyo.com' },
    },
    simulator: 'klaviyo',
  },
  cyberimpact: {
    name: 'CyberImpact',
    family: 'publication',
    authMethod: 'api_key',
    channels: { cyberimpact_email: { mode: 'real', target: 'audiences' } },
    scopes: [],
    accountKinds: ['cyberimpact_group'],
    syncedKinds: [],
    settings: {
      apiBaseUrl: {
        variable: 'CYBERIMPACT_API_BASE_URL',
        kind: 'url',
        default: 'https://api.cyberimpact.com',
      },
      /**
       * The zone `POST /mailings` reads `sendAt` ("YYYY-MM-DD HH:MM:SS") in, which the API does not state.
       * CyberImpact is a Quebec service and its API reference says it returns dates in EST/EDT.
       */
      sendAtTimeZone: {
        variable: 'CYBERIMPACT_SEND_AT_TIME_ZONE',
        kind: 'time_zone',
        default: 'America/Toronto',
      },
    },
    simulator: 'cyberimpact',
  },
  wordpress: {
    name: 'WordPress',
    family: 'publication',
    authMethod: 'site_credentials',
    channels: { wordpress_article: { mode: 'real', target: 'account' } },
    // Not an OAuth scope: the WordPress capability the user must have.
    scopes: ['publish_posts'],
    accountKinds: ['wordpress_site'],
    syncedKinds: [],
    settings: {
      /** Lets WordPress site URLs point at private or loopback addresses (tests, an intranet site). */
      allowPrivateHosts: { variable: 'WORDPRESS_ALLOW_PRIVATE_HOSTS', kind: 'flag' },
    },
    simulator: 'wordpress',
  },
  shopify: {
    name: 'Shopify',
    family: 'both',
    authMethod: 'oauth',
    channels: {
      shopify_product_seo: { mode: 'soft', target: 'account' },
      shopify_article: { mode: 'real', target: 'account' },
    },
    // write_content: blog articles; write_products: product/collection SEO; read_products: the data sync.
    scopes: ['write_content', 'write_products', 'read_products'],
    accountKinds: ['shopify_store', 'shopify_blog'],
    syncedKinds: ['shopify_store'],
    settings: {
      shopBaseUrl: {
        variable: 'SHOPIFY_SHOP_BASE_URL',
        kind: 'url_template',
        placeholder: '{shop}',
        default: 'https://{shop}.myshopify.com',
      },
      // Closer than this, an article is published at its time by Glowtify rather than dated ahead. At most
      // 60 s: the wait, a read, a look-up and the create must fit in one hand-off attempt's 3 minutes.
      scheduleLeadMs: {
        variable: 'SHOPIFY_SCHEDULE_LEAD_MS',
        kind: 'milliseconds',
        default: 60_000,
        min: 1_000,
        max: 60_000,
      },
    },
    oauthApp: 'SHOPIFY',
    simulator: 'shopify',
  },
  canva: {
    name: 'Canva',
    family: 'data',
    authMethod: 'oauth',
    channels: {},
    // Read only: design metadata for the sync, the profile to name the account.
    scopes: ['design:meta:read', 'profile:read'],
    accountKinds: ['canva_team'],
    syncedKinds: ['canva_team'],
    settings: {
      apiBaseUrl: { variable: 'CANVA_API_BASE_URL', kind: 'url', default: 'https://api.canva.com' },
      authBaseUrl: { variable: 'CANVA_AUTH_BASE_URL', kind: 'url', default: 'https://www.canva.com' },
    },
    oauthApp: 'CANVA',
    simulator: 'canva',
  },
} as const satisfies Record<string, PlatformDescriptor>;

type Descriptors = typeof platformDescriptors;
export type Platform = keyof Descriptors;
export const platforms = Object.keys(platformDescriptors) as [Platform, ...Platform[]];
export const Platform = z.enum(platforms);

export function platformDescriptor(platform: Platform): PlatformDescriptor {
  return platformDescriptors[platform];
}

/** A platform's settings, by the adapter option each fills. */
export type SettingsOf<P extends Platform> = Descriptors[P]['settings'];
/** Every setting of every platform (Google's once, though two platforms share it). */
export type AnyPlatformSetting = { [P in Platform]: SettingsOf<P>[keyof SettingsOf<P>] }[Platform];
export type PlatformVariable = AnyPlatformSetting['variable'];

/** What a setting holds once parsed: a flag is a boolean, a host with a default is always there. */
export type SettingValue<S> = S extends { kind: 'flag' }
  ? boolean
  : S extends { kind: 'milliseconds' }
    ? number
    : S extends { default: string }
      ? string
      : string | undefined;

export type OAuthAppOf<P extends Platform> = Descriptors[P] extends { oauthApp: infer App extends string }
  ? App
  : never;
export type OAuthApp = { [P in Platform]: OAuthAppOf<P> }[Platform];
export type OAuthAppVariable = `${OAuthApp}_CLIENT_${'ID' | 'SECRET'}`;

export type SimulatorKey = Descriptors[Platform]['simulator'];
/** The simulators that play an OAuth platform, so are started with an OAuth app. */
export type OAuthSimulatorKey = {
  [P in Platform]: [OAuthAppOf<P>] extends [never] ? never : Descriptors[P]['simulator'];
}[Platform];

/** Every setting once, in platform order. */
export const platformSettings: readonly AnyPlatformSetting[] = [
  ...new Map(
    platforms.flatMap((platform) =>
      Object.values<AnyPlatformSetting>(platformDescriptors[platform].settings).map(
        (setting) => [setting.variable, setting] as const,
      ),
    ),
  ).values(),
];

/** Every OAuth app once, in platform order. */
export const oauthApps: readonly OAuthApp[] = [
  ...new Set(platforms.flatMap((platform) => oauthAppOf(platform) ?? [])),
];

export function oauthAppOf(platform: Platform): OAuthApp | undefined {
  const descriptor: PlatformDescriptor = platformDescriptors[platform];
  return descriptor.oauthApp as OAuthApp | undefined;
}
