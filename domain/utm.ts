// Auto-UTM (SPEC §5, PLATFORMS.md "UTM conventions"): tags every absolute http(s) link of a task's content
// so Google Analytics can credit the visit to the channel, the epic and the task. Pure: no I/O.
import { type DefaultTreeAdapterTypes, parse } from 'parse5';
import type { Channel } from './channels.ts';
import { contentSchemas, type TaskContent } from './content.ts';

export interface UtmTags {
  source: string;
  medium: string;
  /** The epic's slug. */
  campaign: string;
  /** The task's id. */
  content: string;
}

type SourceAndMedium = { source: string; medium: string };

const social = (source: string): SourceAndMedium => ({ source, medium: 'social' });
const email = (source: string): SourceAndMedium => ({ source, medium: 'email' });
const blog = (source: string): SourceAndMedium => ({ source, medium: 'blog' });

const utmByChannel: Record<Channel, SourceAndMedium | null> = {
  facebook_post: social('facebook'),
  instagram_post: social('instagram'),
  instagram_story: social('instagram'),
  linkedin_post: social('linkedin'),
  tiktok_video: social('tiktok'),
  facebook_ad: { source: 'facebook', medium: 'paid_social' },
  google_ads_campaign: { source: 'google', medium: 'cpc' },
  // SEO fields carry no links, and the table has no row for them.
  shopify_product_seo: null,
  klaviyo_email: email('klaviyo'),
  mailchimp_email: email('mailchimp'),
  cyberimpact_email: email('cyberimpact'),
  wordpress_article: blog('wordpress'),
  shopify_article: blog('shopify'),
};

export function utmFor(channel: Channel): SourceAndMedium | null {
  const found = utmByChannel[channel];
  return found ? { ...found } : null;
}

// Letters NFKD does not decompose into ASCII; without these "Straße" would become "stra-e".
const asciiFolds: Record<string, string> = { ß: 'ss', æ: 'ae', œ: 'oe', ø: 'o', đ: 'd', ł: 'l', þ: 'th' };
const slugMaxLength = 60;

/** The epic's title as a campaign name: lowercase ASCII words joined by '-', at most 60 characters. */
/** Where a publication keeps the UTM campaign its links carried when it went out (its progress). */
export const utmCampaignKey = 'utmCampaign';

export function epicSlug(title: string): string {
  const words = title
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[ßæœøđłþ]/g, (letter) => asciiFolds[letter] ?? '')
    .replace(/[\u0300-\u036f]/g, '')
    .split(/[^a-z0-9]+/)
    .filter((word) => word !== '');
  let slug = '';
  for (const word of words) {
    const next = slug === '' ? word : `${slug}-${word}`;
    if (next.length > slugMaxLength) {
      // Cut at a word boundary; a first word longer than the limit is cut inside itself.
      if (slug === '') slug = word.slice(0, slugMaxLength);
      break;
    }
    slug = next;
  }
  // A title of emoji or non-Latin script leaves nothing; GA still needs a campaign name.
  return slug === '' ? 'epic' : slug;
}

const utmKeys = [
  ['utm_source', 'source'],
  ['utm_medium', 'medium'],
  ['utm_campaign', 'campaign'],
  ['utm_content', 'content'],
] as const satisfies readonly (readonly [string, keyof UtmTags])[];

function isAbsoluteHttpUrl(value: string): boolean {
  // `https:host` parses too (the scheme is special), but it is not what anyone means by an absolute link.
  if (!/^https?:\/\//i.test(value)) return false;
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * Adds the utm_* parameters the URL lacks. Only absolute http(s) URLs are tagged; anything else comes back
 * unchanged. The URL is edited as a string, not re-serialized through `URL`, so its existing query (its
 * encoding, its order, template placeholders such as `{{ id }}`) and its fragment stay exactly as written.
 */
export function tagUrl(url: string, tags: UtmTags): string {
  const trimmed = url.trim();
  if (!isAbsoluteHttpUrl(trimmed)) return url;
  const hashAt = trimmed.indexOf('#');
  const beforeHash = hashAt === -1 ? trimmed : trimmed.slice(0, hashAt);
  const fragment = hashAt === -1 ? '' : trimmed.slice(hashAt);
  const queryAt = beforeHash.indexOf('?');
  const query = queryAt === -1 ? '' : beforeHash.slice(queryAt + 1);
  const present = new Set(new URLSearchParams(query).keys());
  const missing = utmKeys
    .filter(([key]) => !present.has(key))
    .map(([key, field]) => `${key}=${encodeURIComponent(tags[field])}`);
  if (missing.length === 0) return url;
  const joiner = queryAt === -1 ? '?' : query === '' || query.endsWith('&') ? '' : '&';
  return `${beforeHash}${joiner}${missing.join('&')}${fragment}`;
}

// Up to whitespace or a character that cannot be in a URL written in prose (`<https://…>`, `"https://…"`).
const urlInText = /\bhttps?:\/\/[^\s<>"`]+/gi;
const sentencePunctuation = new Set(['.', ',', ';', ':', '!', '?', "'", '…']);
const closerToOpener: Record<string, string> = { ')': '(', ']': '[', '}': '{' };

function count(text: string, char: string): number {
  let total = 0;
  for (const c of text) if (c === char) total += 1;
  return total;
}

/**
 * How much of a URL-looking run is the URL: punctuation ending the sentence is not, and neither is a
 * closing bracket without its opener inside the URL ("(see https://x.example/a)" vs ".../wiki/A_(b)").
 */
function urlLength(candidate: string): number {
  let end = candidate.length;
  while (end > 0) {
    const last = candidate[end - 1]!;
    const opener = closerToOpener[last];
    const unbalanced =
      opener !== undefined && count(candidate.slice(0, end), opener) < count(candidate.slice(0, end), last);
    if (!sentencePunctuation.has(last) && !unbalanced) break;
    end -= 1;
  }
  return end;
}

/** Tags the http(s) URLs written in plain text. */
export function tagText(text: string, tags: UtmTags): string {
  return text.replace(urlInText, (candidate) => {
    const end = urlLength(candidate);
    return tagUrl(candidate.slice(0, end), tags) + candidate.slice(end);
  });
}

type Node = DefaultTreeAdapterTypes.Node;
type Element = DefaultTreeAdapterTypes.Element;

interface Edit {
  start: number;
  end: number;
  text: string;
}

const isElement = (node: Node): node is Element => 'tagName' in node;
const isComment = (node: Node): node is DefaultTreeAdapterTypes.CommentNode => node.nodeName === '#comment';

/** `<a>`, `<area>`, and the VML shapes (`<v:roundrect href>`) Outlook shows instead of "bulletproof" buttons. */
const isLinkElement = (element: Element) =>
  element.tagName === 'a' || element.tagName === 'area' || element.tagName.startsWith('v:');

function escapeAttribute(value: string, quote: '"' | "'"): string {
  const escaped = value.replaceAll('&', '&amp;');
  return quote === '"' ? escaped.replaceAll('"', '&quot;') : escaped.replaceAll("'", '&#39;');
}

/** The new text for the value part of `raw` (an attribute as written: `href = 'value'`, `HREF=value`). */
function valueEdit(raw: string, offset: number, value: string): Edit | null {
  const equals = raw.indexOf('=');
  if (equals === -1) return null;
  let start = equals + 1;
  while (start < raw.length && /[\t\n\f\r ]/.test(raw[start]!)) start += 1;
  const quote = raw[start];
  if (quote === '"' || quote === "'") {
    return { start: offset + start + 1, end: offset + raw.length - 1, text: escapeAttribute(value, quote) };
  }
  // An unquoted value ends at whitespace or '>' and breaks on some characters: quoting it is always safe.
  return { start: offset + start, end: offset + raw.length, text: `"${escapeAttribute(value, '"')}"` };
}

/**
 * Finds the hrefs to rewrite in `html` (whose first character is at `offset` of the whole document). The
 * parser decodes each value (`&amp;` is `&`); the edit re-encodes it into the very span it came from.
 */
function collectEdits(html: string, offset: number, tags: UtmTags, edits: Map<number, Edit>): void {
  // Email clients run no scripts: <noscript> holds markup, as it does for them.
  const document = parse(html, { sourceCodeLocationInfo: true, scriptingEnabled: false });
  const pending: Node[] = [document];
  for (let node = pending.pop(); node; node = pending.pop()) {
    if (isComment(node)) {
      // Outlook's conditional comments (`<!--[if mso]>…<![endif]-->`) hold real markup for Outlook readers.
      const location = node.sourceCodeLocation;
      if (location && /^\[if\s/i.test(node.data)) {
        const raw = html.slice(location.startOffset, location.endOffset);
        if (raw.startsWith('<!--') && raw.endsWith('-->'))
          collectEdits(raw.slice(4, -3), offset + location.startOffset + 4, tags, edits);
      }
      continue;
    }
    if ('childNodes' in node) pending.push(...node.childNodes);
    if (!isElement(node)) continue;
    if (node.nodeName === 'template') pending.push((node as DefaultTreeAdapterTypes.Template).content);
    if (!isLinkElement(node)) continue;
    const href = node.attrs.find((attribute) => attribute.name === 'href');
    const location = node.sourceCodeLocation?.attrs?.href;
    // The parser re-creates misnested <a>s: the copies share the original's location, or have none.
    if (!href || !location || edits.has(offset + location.startOffset)) continue;
    const tagged = tagUrl(href.value, tags);
    if (tagged === href.value) continue;
    const edit = valueEdit(
      html.slice(location.startOffset, location.endOffset),
      offset + location.startOffset,
      tagged,
    );
    if (edit) edits.set(offset + location.startOffset, edit);
  }
}

/**
 * Tags the absolute http(s) `href`s of `<a>` and `<area>` in an HTML document or fragment. Only those
 * attribute values change: the rest of the markup is kept byte for byte (nothing is re-serialized, so a
 * fragment stays a fragment and a doctype, comments and formatting are untouched).
 */
export function tagHtml(html: string, tags: UtmTags): string {
  const edits = new Map<number, Edit>();
  collectEdits(html, 0, tags, edits);
  if (edits.size === 0) return html;
  let result = '';
  let from = 0;
  for (const edit of [...edits.values()].sort((a, b) => a.start - b.start)) {
    result += html.slice(from, edit.start) + edit.text;
    from = edit.end;
  }
  return result + html.slice(from);
}

type Tagger = (value: string, tags: UtmTags) => string;
const taggers = { url: tagUrl, text: tagText, html: tagHtml } as const satisfies Record<string, Tagger>;

/** The fields of each channel's content that carry links, and how each is written. Media URLs are not links. */
const linkFields: { [C in Channel]: Partial<Record<keyof TaskContent<C>, keyof typeof taggers>> } = {
  facebook_post: { text: 'text', link: 'url' },
  linkedin_post: { text: 'text', link: 'url' },
  instagram_post: { caption: 'text' },
  instagram_story: {},
  tiktok_video: { title: 'text' },
  facebook_ad: { text: 'text', link: 'url' },
  google_ads_campaign: { link: 'url' },
  shopify_product_seo: {},
  klaviyo_email: { html: 'html', text: 'text' },
  mailchimp_email: { html: 'html', text: 'text' },
  cyberimpact_email: { html: 'html', text: 'text' },
  wordpress_article: { html: 'html', excerpt: 'text' },
  shopify_article: { html: 'html', excerpt: 'text' },
};

/** The content as it goes out: every link of the channel's link-bearing fields tagged (SPEC §5). */
export function applyUtm(
  channel: Channel,
  content: TaskContent,
  input: { epicTitle: string; taskId: string },
): TaskContent {
  const utm = utmFor(channel);
  if (!utm) return content;
  const tags: UtmTags = { ...utm, campaign: epicSlug(input.epicTitle), content: input.taskId };
  let tagged: Record<string, unknown> = content;
  for (const [field, kind] of Object.entries(linkFields[channel] as Record<string, keyof typeof taggers>)) {
    const value = tagged[field];
    if (typeof value !== 'string') continue;
    const next = { ...tagged, [field]: taggers[kind](value, tags) };
    // Tagging lengthens the field: one near its limit (a 2,200-character caption) goes out untagged rather
    // than being refused by the adapter's own check of the content.
    if (contentSchemas[channel].safeParse(next).success) tagged = next;
  }
  return tagged as TaskContent;
}
