// Every platform simulator beyond Meta and Klaviyo, started together with the configuration that points the
// adapters at them, and the browser's part of an OAuth consent (follow the consent page back to the callback).
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { OAuthSimulatorKey, SimulatorKey } from '../../domain/platforms.ts';
import type { GoogleSimulatorCustomer } from '../../sandbox/google.ts';
import {
  type OAuthApp,
  type RunningSimulators,
  type SimulatorOptions,
  simulatorConfig,
  startSimulators,
} from '../../sandbox/platforms.ts';
import type { TestWorkspace } from './api.ts';

export const cyberImpactToken = 'ci-test-token-good-0001';
export const cyberImpactNarrowToken = 'ci-test-token-narrow-0001';
export const wordPressAdmin = {
  username: 'editor-in-chief',
  applicationPassword: 'AbCd EfGh IjKl MnOp QrSt UvWx',
};
export const wordPressContributor = {
  username: 'guest-writer',
  applicationPassword: 'ZyXw VuTs RqPo NmLk JiHg FeDc',
};
export const shopifyTestSecret = 'shpss_test_secret_0001';

/** Meta and Klaviyo are started by the stack itself (test/support/stack.ts), with each suite's options. */
type OtherSimulator = Exclude<SimulatorKey, 'meta' | 'klaviyo'>;

// The OAuth app each simulator is started with, which the configuration then names.
const testApps: Record<Exclude<OAuthSimulatorKey, 'meta'>, OAuthApp> = {
  linkedin: { id: 'li-test-app', secret: 'li-test-secret' },
  tiktok: { id: 'tttestkey', secret: 'tt-test-secret' },
  google: { id: 'test.apps.googleusercontent.com', secret: 'GOCSPX-test-secret' },
  mailchimp: { id: '998877665544', secret: 'mc-test-secret' },
  canva: { id: 'OC-test-app', secret: 'cnvca-test-secret' },
  shopify: { id: 'shopify-test-app', secret: shopifyTestSecret },
};

export type PlatformSimulators = RunningSimulators<OtherSimulator> & {
  /** The configuration pointing every adapter at its simulator (with each OAuth app's id and secret). */
  config: Record<string, string>;
  close(): Promise<void>;
};

export async function startPlatformSimulators(
  options: {
    accessTokenSeconds?: number;
    linkedin?: { issueRefreshTokens?: boolean; accessTokenSeconds?: number };
    google?: { accessTokenSeconds?: number; customers?: GoogleSimulatorCustomer[] };
  } = {},
): Promise<PlatformSimulators> {
  const tokenSeconds = options.accessTokenSeconds ?? 3_600;
  const simulatorOptions: { [K in OtherSimulator]: SimulatorOptions<K> } = {
    linkedin: {
      clientId: testApps.linkedin.id,
      clientSecret: testApps.linkedin.secret,
      organizations: [
        { id: 5001, localizedName: 'Glow Beauty', vanityName: 'glow-beauty' },
        { id: 5002, localizedName: 'Glow Labs', vanityName: 'glow-labs' },
      ],
      accessTokenSeconds: options.linkedin?.accessTokenSeconds ?? tokenSeconds,
      ...(options.linkedin?.issueRefreshTokens === undefined
        ? {}
        : { issueRefreshTokens: options.linkedin.issueRefreshTokens }),
    },
    tiktok: {
      clientKey: testApps.tiktok.id,
      clientSecret: testApps.tiktok.secret,
      accessTokenSeconds: tokenSeconds,
    },
    google: {
      clientId: testApps.google.id,
      clientSecret: testApps.google.secret,
      accessTokenSeconds: options.google?.accessTokenSeconds ?? tokenSeconds,
      properties: [
        { id: '310000001', name: 'Glow Web', accountId: '91001', accountName: 'Glow' },
        { id: '310000002', name: 'Glow Shop', accountId: '91001', accountName: 'Glow' },
      ],
      customers: options.google?.customers ?? [{ id: '1234567890', name: 'Glow Ads' }],
    },
    mailchimp: {
      clientId: testApps.mailchimp.id,
      clientSecret: testApps.mailchimp.secret,
      lists: [
        { id: 'a1b2c3d4e5', name: 'Newsletter' },
        { id: 'f6g7h8i9j0', name: 'Customers' },
      ],
    },
    canva: {
      clientId: testApps.canva.id,
      clientSecret: testApps.canva.secret,
      accessTokenSeconds: tokenSeconds,
      designs: [
        { id: 'DAF1', title: 'Spring banner' },
        { id: 'DAF2', title: 'Story' },
      ],
    },
    shopify: {
      clientId: testApps.shopify.id,
      clientSecret: testApps.shopify.secret,
      shops: [{ shop: 'glow-beauty', name: 'Glow Beauty', blogs: [{ title: 'News' }], products: 7 }],
    },
    cyberimpact: {
      apiTokens: { [cyberImpactToken]: {}, [cyberImpactNarrowToken]: { forbiddenPaths: ['/groups'] } },
      groups: [
        { id: 11, title: 'Clients' },
        { id: 12, title: 'Prospects' },
      ],
    },
    wordpress: {
      siteName: 'Glow Journal',
      users: [
        { ...wordPressAdmin, roles: ['administrator'] },
        { ...wordPressContributor, roles: ['contributor'] },
      ],
    },
  };
  const sims = await startSimulators(simulatorOptions);
  return {
    ...sims,
    config: simulatorConfig(sims, testApps),
    async close() {
      await Promise.all(Object.values(sims).map((sim) => sim.close()));
    },
  };
}

/**
 * The cookies a consent's start set on the browser that started it: the callback must carry them back (a
 * consent is bound to its browser).
 */
export const browserOf = (started: { cookies: { name: string; value: string }[] }): Record<string, string> =>
  Object.fromEntries(started.cookies.map((cookie) => [cookie.name, cookie.value]));

/** The browser's part of a consent: open the authorize URL, follow the platform's redirect to our callback. */
export async function followConsent(authorizeUrl: string): Promise<string> {
  const consent = await fetch(authorizeUrl, { redirect: 'manual' });
  assert.equal(consent.status, 302, `the consent page redirects back (${consent.status})`);
  const location = new URL(consent.headers.get('location') ?? '');
  return `${location.pathname}${location.search}`;
}

export interface ConnectorBody {
  id: string;
  platform: string;
  status: string;
  connectedCount: number;
  totalCount: number;
  actions: string[];
  tokenExpiresAt: string | null;
  accounts: {
    id: string;
    kind: string;
    externalId: string;
    name: string;
    enabled: boolean;
    status: string;
    syncStatus: string | null;
    lastSyncAt: string | null;
    nextSyncAt: string | null;
    lastSyncError: string | null;
  }[];
}

/** Connects an OAuth platform end to end and enables every account found. */
export async function connectOAuth(
  app: FastifyInstance,
  workspace: TestWorkspace,
  platform: string,
  body: Record<string, unknown> = {},
): Promise<ConnectorBody> {
  const started = await workspace.api.post(`/v1/connectors/${platform}/connect`, body);
  assert.equal(started.statusCode, 200, `${platform} connect: ${started.body}`);
  const callback = await app.inject({
    method: 'GET',
    url: await followConsent(started.json().authorizeUrl),
    cookies: browserOf(started),
  });
  assert.equal(callback.statusCode, 200, `${platform} callback: ${callback.body}`);
  const connector = callback.json() as ConnectorBody;
  const enabled = await workspace.api.request({
    method: 'PUT',
    url: `/v1/connectors/${connector.id}/accounts`,
    payload: { enabled: connector.accounts.map((account) => account.id) },
  });
  assert.equal(enabled.statusCode, 200, enabled.body);
  return enabled.json() as ConnectorBody;
}
