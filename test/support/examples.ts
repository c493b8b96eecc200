// One valid content example per channel (SPEC §7), shared by the content and API tests.
import type { Channel } from '../../domain/channels.ts';

const email = {
  subject: 'Spring sale',
  previewText: 'Up to 30% off',
  fromName: 'Acme',
  fromEmail: 'news@acme.example',
  replyTo: 'hello@acme.example',
  html: '<p>Hello <a href="https://acme.example/sale?x=1&amp;y=2">shop</a></p>',
  text: 'Hello',
  audiences: { included: ['Y6nRLr'], excluded: ['Xb2Kq9'] },
};

export const contentExamples: Record<Channel, Record<string, unknown>> = {
  facebook_post: {
    text: 'New collection',
    link: 'https://acme.example/new',
    mediaUrls: ['https://cdn.acme.example/1.jpg'],
  },
  linkedin_post: { text: 'We are hiring', link: 'https://acme.example/jobs' },
  instagram_post: {
    caption: 'Spring!',
    mediaUrls: ['https://cdn.acme.example/1.jpg', 'https://cdn.acme.example/2.jpg'],
  },
  instagram_story: { mediaUrl: 'https://cdn.acme.example/story.jpg' },
  tiktok_video: {
    title: 'Behind the scenes',
    videoUrl: 'https://cdn.acme.example/v.mp4',
    privacyLevel: 'SELF_ONLY',
  },
  facebook_ad: {
    name: 'Spring ad',
    text: 'Shop now',
    link: 'https://acme.example/sale',
    mediaUrls: ['https://cdn.acme.example/ad.jpg'],
    dailyBudget: { amountMinor: 5000, currency: 'USD' },
    pageId: '1001',
    countries: ['US', 'CA'],
  },
  google_ads_campaign: {
    name: 'Spring search',
    headlines: ['Spring sale', 'Linen shirts', 'Free returns'],
    descriptions: ['Light linen shirts for warm days.', 'Order today, returned free for 30 days.'],
    link: 'https://acme.example/sale',
    keywords: ['linen shirt', 'summer shirt'],
    dailyBudget: { amountMinor: 2500, currency: 'CAD' },
  },
  shopify_product_seo: {
    resource: { type: 'product', id: 'gid://shopify/Product/1' },
    seoTitle: 'Linen shirt',
    seoDescription: 'A light linen shirt',
  },
  // Mailchimp: one audience, none excluded.
  mailchimp_email: { ...email, audiences: { included: ['a1b2c3d4e5'] } },
  klaviyo_email: { ...email, smartSending: false },
  cyberimpact_email: { ...email, language: 'fr_ca', audiences: { included: ['11', '12'] } },
  wordpress_article: {
    title: 'Our story',
    html: '<p>Once</p>',
    excerpt: 'Once',
    tags: ['news'],
    authorName: 'Ann',
  },
  shopify_article: { title: 'Care guide', html: '<p>Wash cold</p>' },
};
