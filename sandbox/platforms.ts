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
    config: {
      LINKEDIN_API_BASE_URL: linkedin.url,
      LINKEDIN_AUTH_BASE_URL: linkedin.url,
      LINKEDIN_CLIENT_ID: linkedinSandboxClientId,
      LINKEDIN_CLIENT_SECRET: linkedinSandboxClientSecret,
      TIKTOK_API_BASE_URL: tiktok.url,
      TIKTOK_AUTH_BASE_URL: tiktok.url,
      TIKTOK_CLIENT_ID: tiktokSandboxClientId,
      TIKTOK_CLIENT_SECRET: tiktokSandboxClientSecret,
      GOOGLE_AUTH_BASE_URL: google.url,
      GOOGLE_TOKEN_BASE_URL: google.url,
      GOOGLE_ANALYTICS_API_BASE_URL: google.url,
      GOOGLE_ANALYTICS_ADMIN_API_BASE_URL: google.url,
      GOOGLE_ADS_API_BASE_URL: google.url,
      GOOGLE_CLIENT_ID: googleSandboxClientId,
      GOOGLE_CLIENT_SECRET: googleSandboxClientSecret,
      MAILCHIMP_AUTH_BASE_URL: mailchimp.url,
      MAILCHIMP_CLIENT_ID: mailchimpSandboxClientId,
      MAILCHIMP_CLIENT_SECRET: mailchimpSandboxClientSecret,
      CANVA_API_BASE_URL: canva.url,
      CANVA_AUTH_BASE_URL: canva.url,
      CANVA_CLIENT_ID: canvaSandboxClientId,
      CANVA_CLIENT_SECRET: canvaSandboxClientSecret,
      SHOPIFY_SHOP_BASE_URL: `${shopify.url}/shops/{shop}`,
      SHOPIFY_CLIENT_ID: shopifySandboxClientId,
      SHOPIFY_CLIENT_SECRET: shopifySandboxClientSecret,
      CYBERIMPACT_API_BASE_URL: cyberimpact.url,
      // The WordPress simulator runs on loopback.
      WORDPRESS_ALLOW_PRIVATE_HOSTS: 'true',
    },
    /** Where each simulator listens, for the demo's banner. */
    urls: Object.fromEntries(Object.entries(all).map(([name, sim]) => [name, sim.url])),
    async close() {
      await Promise.all(Object.values(all).map((sim) => sim.close()));
    },
  };
}
