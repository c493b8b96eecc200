// Every platform simulator, keyed as the platform descriptors (domain/platforms.ts) name them: how to start
// it, the sandbox app it accepts, what `npm run demo` starts it with, and the configuration that points each
// adapter at its simulator. Test and demo code only: production never imports sandbox/.
import {
  type OAuthSimulatorKey,
  type PlatformVariable,
  platformDescriptor,
  platforms,
  type SimulatorKey,
} from '../domain/platforms.ts';
import { canvaSandboxClientId, canvaSandboxClientSecret, startCanvaSimulator } from './canva.ts';
import { cyberImpactSandboxApiToken, startCyberImpactSimulator } from './cyberimpact.ts';
import { googleSandboxClientId, googleSandboxClientSecret, startGoogleSimulator } from './google.ts';
import { startKlaviyoSimulator } from './klaviyo.ts';
import { linkedinSandboxClientId, linkedinSandboxClientSecret, startLinkedInSimulator } from './linkedin.ts';
import {
  mailchimpSandboxClientId,
  mailchimpSandboxClientSecret,
  startMailchimpSimulator,
} from './mailchimp.ts';
import { metaSandboxClientId, metaSandboxClientSecret, startMetaSimulator } from './meta.ts';
import { shopifySandboxClientId, shopifySandboxClientSecret, startShopifySimulator } from './shopify.ts';
import type { SimulatorServer } from './simulator-server.ts';
import { startTikTokSimulator, tiktokSandboxClientId, tiktokSandboxClientSecret } from './tiktok.ts';
import {
  startWordPressSimulator,
  wordPressSandboxApplicationPassword,
  wordPressSandboxUsername,
} from './wordpress.ts';

export interface OAuthApp {
  id: string;
  secret: string;
}

interface SimulatorEntry<Options, Simulator extends SimulatorServer> {
  start: (options: Options) => Promise<Simulator>;
  /** What the demo starts it with (its sandbox app, as it accepts one when given none). */
  demo: NoInfer<Options>;
  /**
   * Variables its platforms need besides their hosts, which all point at the simulator's URL; the URL is
   * passed for the hosts the simulator serves under a path of its own.
   */
  environment?: (url: string) => Partial<Record<PlatformVariable, string>>;
}

// Checks each entry's demo options against its own starter.
const simulator = <Options, Simulator extends SimulatorServer>(entry: SimulatorEntry<Options, Simulator>) =>
  entry;

const simulators = {
  meta: simulator({
    start: startMetaSimulator,
    demo: {
      pages: [
        {
          id: '1001',
          name: 'Demo Coffee Co.',
          instagram: { id: '17841400000000001', username: 'democoffee' },
        },
      ],
      // The demo shows an Instagram post's first metrics seconds after it is published.
      insightsLagMs: 2_000,
    },
  }),
  klaviyo: simulator({
    start: startKlaviyoSimulator,
    demo: {
      lists: [{ id: 'DemoList1', name: 'Newsletter' }],
      segments: [{ id: 'DemoSeg1', name: 'Regulars' }],
      editLockSeconds: 0,
    },
  }),
  linkedin: simulator({ start: startLinkedInSimulator, demo: {} }),
  tiktok: simulator({ start: startTikTokSimulator, demo: {} }),
  google: simulator({
    start: startGoogleSimulator,
    demo: {
      properties: [{ id: '310000001', name: 'Demo web', accountId: '91001', accountName: 'Demo Coffee Co.' }],
      customers: [{ id: '1234567890', name: 'Demo Coffee Ads' }],
    },
  }),
  mailchimp: simulator({
    start: startMailchimpSimulator,
    demo: { lists: [{ id: 'a1b2c3d4e5', name: 'Newsletter' }] },
  }),
  canva: simulator({
    start: startCanvaSimulator,
    demo: { designs: [{ id: 'DAF1', title: 'Spring banner' }] },
  }),
  shopify: simulator({
    start: startShopifySimulator,
    demo: {},
    // Every shop is served under /shops/{shop} of the one simulator.
    environment: (url) => ({ SHOPIFY_SHOP_BASE_URL: `${url}/shops/{shop}` }),
  }),
  cyberimpact: simulator({
    start: startCyberImpactSimulator,
    demo: { apiTokens: { [cyberImpactSandboxApiToken]: {} }, groups: [{ id: 11, title: 'Clients' }] },
  }),
  wordpress: simulator({
    start: startWordPressSimulator,
    demo: {
      siteName: 'Demo Coffee Journal',
      users: [
        { username: wordPressSandboxUsername, applicationPassword: wordPressSandboxApplicationPassword },
      ],
    },
    // The simulator runs on loopback.
    environment: () => ({ WORDPRESS_ALLOW_PRIVATE_HOSTS: 'true' }),
  }),
} satisfies Record<SimulatorKey, unknown>;

/** The OAuth app each simulator accepts when started without one of its own. */
export const sandboxApps: Record<OAuthSimulatorKey, OAuthApp> = {
  meta: { id: metaSandboxClientId, secret: metaSandboxClientSecret },
  linkedin: { id: linkedinSandboxClientId, secret: linkedinSandboxClientSecret },
  tiktok: { id: tiktokSandboxClientId, secret: tiktokSandboxClientSecret },
  google: { id: googleSandboxClientId, secret: googleSandboxClientSecret },
  mailchimp: { id: mailchimpSandboxClientId, secret: mailchimpSandboxClientSecret },
  canva: { id: canvaSandboxClientId, secret: canvaSandboxClientSecret },
  shopify: { id: shopifySandboxClientId, secret: shopifySandboxClientSecret },
};

type Simulators = typeof simulators;
export type SimulatorOptions<K extends SimulatorKey> = Parameters<Simulators[K]['start']>[0];
export type RunningSimulators<K extends SimulatorKey> = {
  [P in K]: Awaited<ReturnType<Simulators[P]['start']>>;
};

/** Starts the simulators named, one after the other, each with its options. */
export async function startSimulators<K extends SimulatorKey>(
  options: {
    [P in K]: SimulatorOptions<P>;
  },
): Promise<RunningSimulators<K>> {
  const running: Partial<Record<SimulatorKey, SimulatorServer>> = {};
  for (const key of Object.keys(options) as K[]) {
    const start = simulators[key].start as (options: SimulatorOptions<K>) => Promise<SimulatorServer>;
    running[key] = await start(options[key]);
  }
  return running as RunningSimulators<K>;
}

/**
 * The configuration that points every platform played by one of these simulators at it, with the OAuth apps
 * the simulators were started with (the sandbox apps, or a test's own). A host the descriptor gives no default
 * is left alone: the adapter learns it from the platform (Mailchimp's data center), i.e. from the simulator.
 */
export function simulatorConfig(
  sims: Partial<Record<SimulatorKey, { url: string }>>,
  apps: Partial<Record<OAuthSimulatorKey, OAuthApp>>,
): Record<string, string> {
  const config: Record<string, string> = {};
  for (const platform of platforms) {
    const descriptor = platformDescriptor(platform);
    const key = descriptor.simulator as SimulatorKey;
    const sim = sims[key];
    if (!sim) continue;
    for (const setting of Object.values(descriptor.settings)) {
      if (setting.kind === 'url' && setting.default !== undefined) config[setting.variable] = sim.url;
    }
    const entry: Pick<SimulatorEntry<unknown, SimulatorServer>, 'environment'> = simulators[key];
    Object.assign(config, entry.environment?.(sim.url));
    const app = apps[key as OAuthSimulatorKey];
    if (descriptor.oauthApp && app) {
      config[`${descriptor.oauthApp}_CLIENT_ID`] = app.id;
      config[`${descriptor.oauthApp}_CLIENT_SECRET`] = app.secret;
    }
  }
  return config;
}

/** Every simulator with the demo's data and its sandbox app, for `npm run demo`. */
export async function startSandboxPlatforms() {
  const all = await startSimulators(
    Object.fromEntries(Object.entries(simulators).map(([key, entry]) => [key, entry.demo])) as {
      [K in SimulatorKey]: SimulatorOptions<K>;
    },
  );
  return {
    ...all,
    config: simulatorConfig(all, sandboxApps),
    /** Where each simulator listens, for the demo's banner. */
    urls: Object.fromEntries(Object.entries(all).map(([name, sim]) => [name, sim.url])),
    async close() {
      await Promise.all(Object.values(all).map((sim) => sim.close()));
    },
  };
}
