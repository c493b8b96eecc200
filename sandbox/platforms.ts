// Every simulator beyond Meta and Klaviyo with its sandbox app, for `npm run demo`: started together, with the
// configuration that points each adapter at its simulator, so every connector on the page can be connected.
import { canvaSandboxClientId, canvaSandboxClientSecret, startCanvaSimulator } from './canva.ts';
import { cyberImpactSandboxApiToken, startCyberImpactSimulator } from './cyberimpact.ts';
import { googleSandboxClientId, googleSandboxClientSecret, startGoogleSimulator } from './google.ts';
import { linkedinSandboxClientId, linkedinSandboxClientSecret, startLinkedInSimulator } from './linkedin.ts';
import {
  mailchimpSandboxClientId,
  mailchimpSandboxClientSecret,
  startMailchimpSimulator,
} from './mailchimp.ts';
import { shopifySandboxClientId, shopifySandboxClientSecret, startShopifySimulator } from './shopify.ts';
import { startTikTokSimulator, tiktokSandboxClientId, tiktokSandboxClientSecret } from './tiktok.ts';
import {
  startWordPressSimulator,
  wordPressSandboxApplicationPassword,
  wordPressSandboxUsername,
} from './wordpress.ts';

type OAuthApps = Record<
  'linkedin' | 'tiktok' | 'google' | 'mailchimp' | 'canva' | 'shopify',
  { id: string; secret: string }
>;

/**
 * The configuration that points every adapter at its simulator, with the OAuth apps the simulators were
 * started with (the demo's sandbox apps, or a test's own).
 */
export function simulatorConfig(
  sims: Record<
    'linkedin' | 'tiktok' | 'google' | 'mailchimp' | 'canva' | 'shopify' | 'cyberimpact',
    { url: string }
  >,
  apps: OAuthApps,
): Record<string, string> {
  return {
    LINKEDIN_API_BASE_URL: sims.linkedin.url,
    LINKEDIN_AUTH_BASE_URL: sims.linkedin.url,
    LINKEDIN_CLIENT_ID: apps.linkedin.id,
    LINKEDIN_CLIENT_SECRET: apps.linkedin.secret,
    TIKTOK_API_BASE_URL: sims.tiktok.url,
    TIKTOK_AUTH_BASE_URL: sims.tiktok.url,
    TIKTOK_CLIENT_ID: apps.tiktok.id,
    TIKTOK_CLIENT_SECRET: apps.tiktok.secret,
    GOOGLE_AUTH_BASE_URL: sims.google.url,
    GOOGLE_TOKEN_BASE_URL: sims.google.url,
    GOOGLE_ANALYTICS_API_BASE_URL: sims.google.url,
    GOOGLE_ANALYTICS_ADMIN_API_BASE_URL: sims.google.url,
    GOOGLE_ADS_API_BASE_URL: sims.google.url,
    GOOGLE_CLIENT_ID: apps.google.id,
    GOOGLE_CLIENT_SECRET: apps.google.secret,
    MAILCHIMP_AUTH_BASE_URL: sims.mailchimp.url,
    MAILCHIMP_CLIENT_ID: apps.mailchimp.id,
    MAILCHIMP_CLIENT_SECRET: apps.mailchimp.secret,
    CANVA_API_BASE_URL: sims.canva.url,
    CANVA_AUTH_BASE_URL: sims.canva.url,
    CANVA_CLIENT_ID: apps.canva.id,
    CANVA_CLIENT_SECRET: apps.canva.secret,
    SHOPIFY_SHOP_BASE_URL: `${sims.shopify.url}/shops/{shop}`,
    SHOPIFY_CLIENT_ID: apps.shopify.id,
    SHOPIFY_CLIENT_SECRET: apps.shopify.secret,
    CYBERIMPACT_API_BASE_URL: sims.cyberimpact.url,
    // The WordPress simulator runs on loopback.
    WORDPRESS_ALLOW_PRIVATE_HOSTS: 'true',
  };
}

export async function startSandboxPlatforms() {
  const linkedin = await startLinkedInSimulator({});
  const tiktok = await startTikTokSimulator({});
  const google = await startGoogleSimulator({
    properties: [{ id: '310000001', name: 'Demo web', accountId: '91001', accountName: 'Demo Coffee Co.' }],
    customers: [{ id: '1234567890', name: 'Demo Coffee Ads' }],
  });
  const mailchimp = await startMailchimpSimulator({ lists: [{ id: 'a1b2c3d4e5', name: 'Newsletter' }] });
  const canva = await startCanvaSimulator({ designs: [{ id: 'DAF1', title: 'Spring banner' }] });
  const shopify = await startShopifySimulator({});
  const cyberimpact = await startCyberImpactSimulator({
    apiTokens: { [cyberImpactSandboxApiToken]: {} },
    groups: [{ id: 11, title: 'Clients' }],
  });
  const wordpress = await startWordPressSimulator({
    siteName: 'Demo Coffee Journal',
    users: [{ username: wordPressSandboxUsername, applicationPassword: wordPressSandboxApplicationPassword }],
  });
  const all = { linkedin, tiktok, google, mailchimp, canva, shopify, cyberimpact, wordpress };
  return {
    ...all,
    config: simulatorConfig(all, {
      linkedin: { id: linkedinSandboxClientId, secret: linkedinSandboxClientSecret },
      tiktok: { id: tiktokSandboxClientId, secret: tiktokSandboxClientSecret },
      google: { id: googleSandboxClientId, secret: googleSandboxClientSecret },
      mailchimp: { id: mailchimpSandboxClientId, secret: mailchimpSandboxClientSecret },
      canva: { id: canvaSandboxClientId, secret: canvaSandboxClientSecret },
      shopify: { id: shopifySandboxClientId, secret: shopifySandboxClientSecret },
    }),
    /** Where each simulator listens, for the demo's banner. */
    urls: Object.fromEntries(Object.entries(all).map(([name, sim]) => [name, sim.url])),
    async close() {
      await Promise.all(Object.values(all).map((sim) => sim.close()));
    },
  };
}
