// Task content per channel (SPEC §7): one strict zod schema each, so an unknown field is a 400 naming it.
import { z } from 'zod';
import type { Channel } from './channels.ts';

const httpUrl = z
  .string()
  .max(2048)
  .refine((value) => {
    try {
      const { protocol } = new URL(value);
      return protocol === 'http:' || protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an absolute http(s) URL');

const email = z.email().max(320);
const audienceId = z.string().min(1).max(200);

const socialPost = z.strictObject({
  text: z.string().min(1).max(63_206),
  link: httpUrl.optional(),
  mediaUrls: z.array(httpUrl).max(10).optional(),
});

/** LinkedIn's limit on a post's commentary. */
export const linkedinCommentaryLimit = 3_000;

/**
 * The text of a LinkedIn post as people read it. The Posts API does not scrape a link for a preview (an article
 * share needs a title and thumbnail a task does not have), so the link rides at the end of the commentary,
 * where LinkedIn makes it clickable, unless the text already holds it.
 */
export function linkedinCommentary(content: { text: string; link?: string | undefined }): string {
  return content.link && !content.text.includes(content.link)
    ? `${content.text}\n\n${content.link}`
    : content.text;
}

const linkedinPost = z
  .strictObject({
    text: z.string().min(1).max(linkedinCommentaryLimit),
    link: httpUrl.optional(),
    // One image, or a multi-image post of 2 to 20.
    mediaUrls: z.array(httpUrl).max(20).optional(),
  })
  .superRefine((content, issues) => {
    const length = linkedinCommentary(content).length;
    if (content.text.length <= linkedinCommentaryLimit && length > linkedinCommentaryLimit) {
      issues.addIssue({
        code: 'custom',
        path: ['text'],
        message: `with the link added at its end the post has ${length} characters; LinkedIn takes ${linkedinCommentaryLimit}`,
      });
    }
  });

const adCampaign = z.strictObject({
  name: z.string().min(1).max(200),
  text: z.string().min(1).max(5_000),
  link: httpUrl,
  mediaUrls: z.array(httpUrl).max(10).optional(),
  dailyBudget: z.strictObject({
    amountMinor: z.number().int().positive(),
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD'),
  }),
});

/**
 * A Facebook link ad (PLATFORMS.md, Meta Ads): it runs as a Facebook Page (`pageId`, one of the connector's
 * Pages), shows to people in `countries` (ISO 3166 alpha-2), and carries at most one image (a link ad's
 * picture), so a task Meta would refuse is a 400 here rather than a failure at the time.
 */
const facebookAd = adCampaign.extend({
  pageId: z.string().regex(/^\d{1,20}$/, "must be the Facebook Page's numeric id"),
  countries: z
    .array(z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166 alpha-2 code such as US'))
    .min(1)
    .max(25)
    .refine((codes) => new Set(codes).size === codes.length, 'countries must all differ'),
  mediaUrls: z.array(httpUrl).max(1, 'a Facebook link ad shows one image').optional(),
});

const distinct = (lines: string[], key: (line: string) => string = (line) => line) =>
  new Set(lines.map(key)).size === lines.length;

/**
 * A Google Ads search campaign with one responsive search ad, within Google's limits for it (PLATFORMS.md):
 * 3–15 headlines of at most 30 characters, which Google refuses when two are the same, 2–4 distinct
 * descriptions of at most 90, the final URL (`link`) the ad leads to, and the keywords it shows for (at most
 * 80 characters and 10 words each).
 */
const googleAdsCampaign = z.strictObject({
  name: z.string().trim().min(1).max(200),
  headlines: z
    .array(z.string().trim().min(1).max(30))
    .min(3)
    .max(15)
    .refine(
      // Google refuses a responsive search ad whose headlines repeat, whatever their case.
      (lines) => distinct(lines, (line) => line.toLocaleLowerCase()),
      'headlines must all differ (ignoring case)',
    ),
  descriptions: z
    .array(z.string().trim().min(1).max(90))
    .min(2)
    .max(4)
    .refine((lines) => distinct(lines), 'descriptions must all differ'),
  link: httpUrl,
  /** What the ad shows for (broad match); a search ad group without keywords serves nothing. */
  keywords: z
    .array(
      z
        .string()
        .trim()
        .min(1)
        .max(80)
        .refine((text) => text.split(/\s+/).length <= 10, 'a keyword has at most 10 words'),
    )
    .max(100)
    .optional(),
  dailyBudget: adCampaign.shape.dailyBudget,
});

const emailCampaign = z.strictObject({
  subject: z.string().min(1).max(998),
  previewText: z.string().max(500).optional(),
  fromName: z.string().min(1).max(200),
  fromEmail: email,
  replyTo: email.optional(),
  html: z.string().min(1).max(1_000_000),
  text: z.string().max(1_000_000).optional(),
  audiences: z.strictObject({
    included: z.array(audienceId).min(1).max(100),
    excluded: z.array(audienceId).max(100).optional(),
  }),
});

const article = z.strictObject({
  title: z.string().min(1).max(500),
  html: z.string().min(1).max(1_000_000),
  excerpt: z.string().max(5_000).optional(),
  tags: z.array(z.string().min(1).max(100)).max(50).optional(),
  authorName: z.string().min(1).max(200).optional(),
});

const shopifyGidTypes = { product: 'Product', collection: 'Collection' } as const;
/**
 * The product or collection an SEO task changes: its Shopify global id, or the bare number the admin shows in
 * its URL, stored as the global id. A malformed id, or a product's id given as a collection, is a 400 here
 * rather than a failure at the time.
 */
const shopifySeoResource = z
  .strictObject({
    type: z.enum(['product', 'collection']),
    id: z
      .string()
      .regex(
        /^(?:gid:\/\/shopify\/(?:Product|Collection)\/)?[1-9]\d{0,19}$/,
        'must be a Shopify id: gid://shopify/Product/123, gid://shopify/Collection/123, or the number alone',
      ),
  })
  .superRefine((resource, context) => {
    const named = /^gid:\/\/shopify\/(Product|Collection)\//.exec(resource.id)?.[1];
    if (named && named !== shopifyGidTypes[resource.type])
      context.addIssue({
        code: 'custom',
        path: ['id'],
        message: `is a ${named} id, but resource.type is ${resource.type}`,
      });
  })
  .transform(({ type, id }) => ({
    type,
    id: id.startsWith('gid://') ? id : `gid://shopify/${shopifyGidTypes[type]}/${id}`,
  }));

/** Who may watch a TikTok post; a creator offers some of these (creator_info's privacy_level_options). */
export const tiktokPrivacyLevel = z.enum([
  'PUBLIC_TO_EVERYONE',
  'MUTUAL_FOLLOW_FRIENDS',
  'FOLLOWER_OF_CREATOR',
  'SELF_ONLY',
]);
export type TikTokPrivacyLevel = z.infer<typeof tiktokPrivacyLevel>;

export const contentSchemas = {
  facebook_post: socialPost,
  linkedin_post: linkedinPost,
  instagram_post: z.strictObject({
    caption: z.string().max(2_200),
    mediaUrls: z.array(httpUrl).min(1).max(10),
  }),
  instagram_story: z.strictObject({ mediaUrl: httpUrl }),
  tiktok_video: z.strictObject({
    title: z.string().min(1).max(2_200),
    videoUrl: httpUrl,
    privacyLevel: tiktokPrivacyLevel,
    // Interactions the post turns off; a creator who turned one off for their account has it off anyway.
    disableComment: z.boolean().optional(),
    disableDuet: z.boolean().optional(),
    disableStitch: z.boolean().optional(),
    /** The video's length, when known: checked against the longest video the creator may post. */
    durationSec: z.number().positive().max(86_400).optional(),
  }),
  facebook_ad: facebookAd,
  google_ads_campaign: googleAdsCampaign,
  shopify_product_seo: z.strictObject({
    resource: shopifySeoResource,
    seoTitle: z.string().min(1).max(70),
    seoDescription: z.string().min(1).max(320),
  }),
  // A Mailchimp campaign goes to one audience (list) and cannot leave another out: refused when the task is
  // written, not when it is handed off.
  mailchimp_email: emailCampaign.extend({
    audiences: z.strictObject({
      included: z.array(audienceId).length(1, 'Mailchimp sends a campaign to exactly one audience'),
      excluded: z.array(audienceId).max(0, 'Mailchimp cannot leave an audience out of a campaign').optional(),
    }),
  }),
  klaviyo_email: emailCampaign.extend({ smartSending: z.boolean().optional() }),
  // CyberImpact needs the mailing's language (the adapter sends en_ca when absent) and sends to whole groups:
  // it has no way to leave people out, so an exclusion would be silently ignored there.
  cyberimpact_email: emailCampaign.extend({
    language: z.enum(['en_ca', 'fr_ca']).optional(),
    audiences: z.strictObject({
      included: z.array(audienceId).min(1).max(100),
      excluded: z.array(audienceId).max(0, 'CyberImpact cannot exclude groups').optional(),
    }),
  }),
  wordpress_article: article,
  shopify_article: article,
} as const satisfies Record<Channel, z.ZodType>;

export type TaskContent<C extends Channel = Channel> = z.infer<(typeof contentSchemas)[C]>;

/** Any channel's content; the route narrows it with `parseTaskContent` once the channel is known. */
export const AnyTaskContent = z.record(z.string(), z.unknown());

export interface ContentIssue {
  /** Dotted path inside `content`, e.g. `content.audiences.included`. */
  field: string;
  message: string;
}

export function parseTaskContent(
  channel: Channel,
  content: unknown,
): { ok: true; content: TaskContent } | { ok: false; issues: ContentIssue[] } {
  const result = contentSchemas[channel].safeParse(content);
  if (result.success) return { ok: true, content: result.data };
  const issues = result.error.issues.flatMap((issue): ContentIssue[] => {
    const base = ['content', ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: `${base}.${key}`,
        message: `unknown field "${key}" for ${channel}`,
      }));
    }
    return [{ field: base, message: issue.message }];
  });
  return { ok: false, issues };
}
