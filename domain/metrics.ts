// Performance read back after publication (SPEC §5 "Analytics"): the metric names every platform's own are
// normalised to, and when each channel's published items are read, a schedule that thins out over 30 days.
import { z } from 'zod';
import type { Channel } from './channels.ts';

export const metricNames = [
  'impressions',
  'reach',
  'clicks',
  'likes',
  'comments',
  'shares',
  'saves',
  'views',
  'opens',
  'unique_opens',
  'delivered',
  'bounces',
  'unsubscribes',
  /** Money spent, in the currency's minor units (cents). */
  'spend_minor',
  'conversions',
] as const;
export const MetricName = z.enum(metricNames);
export type MetricName = z.infer<typeof MetricName>;

const hour = 3_600_000;
const day = 24 * hour;
const daily = (days: number) => Array.from({ length: days }, (_, index) => (index + 1) * day);

/**
 * When a channel's published item is read, as delays after its publication (PLATFORMS.md "Polling that
 * fits"): most activity comes early, so readings thin out; the last one is the final value. Each platform's
 * data lag and lifetime shape it (Instagram stories' insights live 24 h; Page insights update about daily;
 * Google Ads conversions move for about 30 days).
 */
export const readingSchedules: Record<Channel, readonly number[]> = {
  facebook_post: [hour, 6 * hour, ...daily(30)],
  instagram_post: [hour, 6 * hour, day, 3 * day, 7 * day, 30 * day],
  instagram_story: [hour, 6 * hour, 20 * hour],
  facebook_ad: [hour, 6 * hour, ...daily(30)],
  linkedin_post: [hour, 6 * hour, day, 3 * day, 7 * day, 14 * day, 30 * day],
  tiktok_video: [hour, 6 * hour, day, 3 * day, 7 * day, 14 * day, 30 * day],
  google_ads_campaign: [3 * hour, ...daily(30)],
  mailchimp_email: [hour, 6 * hour, day, 3 * day, 7 * day, 30 * day],
  klaviyo_email: [hour, 6 * hour, day, 3 * day, 7 * day, 30 * day],
  cyberimpact_email: [hour, 6 * hour, day, 3 * day, 7 * day, 30 * day],
  // Measured through the GA4 sessions of the epic's UTM campaign, which the Google Analytics sync reads.
  wordpress_article: [],
  shopify_article: [],
  shopify_product_seo: [],
};

/** One value as read: the normalised name, the platform's own name for it, and the value. */
export const MetricReading = z.strictObject({
  metric: MetricName,
  platformMetric: z.string().min(1),
  value: z.number().finite(),
  /** What a money value (`spend_minor`) is in, ISO 4217: spends in two currencies are never added up. */
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/)
    .optional(),
});
export type MetricReading = z.infer<typeof MetricReading>;
