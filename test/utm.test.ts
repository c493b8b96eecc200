// Auto-UTM without I/O (SPEC §5, PLATFORMS.md "UTM conventions"): URLs, plain text, HTML, each channel's
// link-bearing fields, and the epic slug.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Channel, channels } from '../domain/channels.ts';
import { parseTaskContent, type TaskContent } from '../domain/content.ts';
import { applyUtm, epicSlug, tagHtml, tagText, tagUrl, type UtmTags, utmFor } from '../domain/utm.ts';
import { contentExamples } from './support/examples.ts';

const tags: UtmTags = { source: 'klaviyo', medium: 'email', campaign: 'spring-sale', content: 'task-1' };
const all = 'utm_source=klaviyo&utm_medium=email&utm_campaign=spring-sale&utm_content=task-1';
/** The same, as it must be written inside an HTML attribute. */
const allInHtml = all.replaceAll('&', '&amp;');

const paramsOf = (url: string) => Object.fromEntries(new URL(url).searchParams);

describe('tagUrl', () => {
  it('adds the four parameters to a bare URL', () => {
    assert.equal(tagUrl('https://acme.example/sale', tags), `https://acme.example/sale?${all}`);
  });

  it('keeps the query as written and puts the parameters before the fragment', () => {
    assert.equal(
      tagUrl('https://acme.example/a?q=linen%20shirt&sort=new#reviews', tags),
      `https://acme.example/a?q=linen%20shirt&sort=new&${all}#reviews`,
    );
  });

  it('keeps an existing utm_* untouched and adds only the missing ones', () => {
    const tagged = tagUrl('https://acme.example/?utm_source=newsletter&utm_campaign=fall', tags);
    assert.equal(
      tagged,
      'https://acme.example/?utm_source=newsletter&utm_campaign=fall&utm_medium=email&utm_content=task-1',
    );
    assert.deepEqual(paramsOf(tagged), {
      utm_source: 'newsletter',
      utm_campaign: 'fall',
      utm_medium: 'email',
      utm_content: 'task-1',
    });
  });

  it('returns a fully tagged URL unchanged', () => {
    const url = `https://acme.example/?${all}`;
    assert.equal(tagUrl(url, { ...tags, source: 'other' }), url);
  });

  it('joins cleanly onto an empty query or a trailing &', () => {
    assert.equal(tagUrl('https://acme.example/?', tags), `https://acme.example/?${all}`);
    assert.equal(tagUrl('https://acme.example/?a=1&', tags), `https://acme.example/?a=1&${all}`);
  });

  it('leaves anything that is not an absolute http(s) URL alone', () => {
    for (const url of [
      '/about',
      'about',
      '#top',
      '//acme.example/a',
      'mailto:hello@acme.example',
      'tel:+15551234567',
      'ftp://acme.example/file',
      'https:acme.example',
      'javascript:void(0)',
      '',
    ]) {
      assert.equal(tagUrl(url, tags), url, url);
    }
  });

  it('encodes the values', () => {
    const tagged = tagUrl('http://acme.example', { ...tags, campaign: 'a b&c' });
    assert.equal(paramsOf(tagged).utm_campaign, 'a b&c');
  });
});

describe('tagText', () => {
  it('tags every URL and leaves the sentence punctuation outside', () => {
    const text =
      'Shop https://acme.example/sale. See also https://acme.example/new, and (https://acme.example/faq)!';
    assert.equal(
      tagText(text, tags),
      `Shop https://acme.example/sale?${all}. See also https://acme.example/new?${all}, ` +
        `and (https://acme.example/faq?${all})!`,
    );
  });

  it('keeps a closing bracket that belongs to the URL', () => {
    assert.equal(
      tagText('Read https://en.wikipedia.org/wiki/Linen_(fabric).', tags),
      `Read https://en.wikipedia.org/wiki/Linen_(fabric)?${all}.`,
    );
  });

  it('handles queries, fragments, existing utm_* and several links on several lines', () => {
    const text =
      'Sale: https://acme.example/a?size=m&utm_source=promo#top\n' +
      'Blog: <https://acme.example/blog>\n"https://acme.example/q?x=1"';
    assert.equal(
      tagText(text, tags),
      'Sale: https://acme.example/a?size=m&utm_source=promo' +
        '&utm_medium=email&utm_campaign=spring-sale&utm_content=task-1#top\n' +
        `Blog: <https://acme.example/blog?${all}>\n"https://acme.example/q?x=1&${all}"`,
    );
  });

  it('leaves text without http(s) URLs as it is', () => {
    const text =
      'Write to hello@acme.example or mailto:hello@acme.example, call tel:+1555, see www.acme.example.';
    assert.equal(tagText(text, tags), text);
  });
});

describe('tagHtml', () => {
  it('decodes entities in an href and writes them back encoded', () => {
    const html = '<p>Hello <a href="https://x.example/a?b=1&amp;c=2">shop</a></p>';
    const tagged = tagHtml(html, tags);
    assert.equal(tagged, `<p>Hello <a href="https://x.example/a?b=1&amp;c=2&amp;${allInHtml}">shop</a></p>`);
    const href = /href="([^"]*)"/.exec(tagged)![1]!.replaceAll('&amp;', '&');
    assert.deepEqual(paramsOf(href), {
      b: '1',
      c: '2',
      utm_source: 'klaviyo',
      utm_medium: 'email',
      utm_campaign: 'spring-sale',
      utm_content: 'task-1',
    });
  });

  it('reads an unterminated legacy entity the way browsers do (not as ©)', () => {
    // In an attribute, `&copy=` is literally "&copy=": a regex decoding entities would turn it into "©=".
    assert.equal(
      tagHtml('<a href="https://x.example/?a=1&copy=2">x</a>', tags),
      `<a href="https://x.example/?a=1&amp;copy=2&amp;${allInHtml}">x</a>`,
    );
  });

  it('leaves relative links, mailto:, tel:, anchors, images and text alone', () => {
    const html =
      '<p><a href="/about">About</a> <a href="mailto:hello@acme.example">Mail</a> <a href="tel:+1555">Call</a>' +
      ' <a href="#top">Top</a> <a>none</a> <img src="https://cdn.acme.example/1.jpg" alt="https://a.example">' +
      ' Visit https://acme.example/ today <link href="https://acme.example/style.css"></p>';
    assert.equal(tagHtml(html, tags), html);
  });

  it('keeps the quoting, the attribute name and the other attributes as written', () => {
    const html =
      "<a class='btn' HREF = 'https://x.example/it' target=_blank>x</a><area shape=rect href=https://x.example/m>";
    assert.equal(
      tagHtml(html, tags),
      `<a class='btn' HREF = 'https://x.example/it?${allInHtml}' target=_blank>x</a>` +
        `<area shape=rect href="https://x.example/m?${allInHtml}">`,
    );
  });

  it('keeps an existing utm_* in an href', () => {
    assert.equal(
      tagHtml('<a href="https://x.example/?utm_campaign=own#f">x</a>', tags),
      '<a href="https://x.example/?utm_campaign=own&amp;utm_source=klaviyo&amp;utm_medium=email' +
        '&amp;utm_content=task-1#f">x</a>',
    );
  });

  it('returns a fragment as a fragment: no html, head or body added', () => {
    const html = '<table><tr><td><a href="https://x.example/">x</a></td></tr></table>\n<p>after</p>';
    assert.equal(
      tagHtml(html, tags),
      `<table><tr><td><a href="https://x.example/?${allInHtml}">x</a></td></tr></table>\n<p>after</p>`,
    );
  });

  it('keeps a full document, its doctype, comments and Outlook-only markup, tagging the links inside', () => {
    const html =
      '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" ' +
      '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\r\n' +
      '<html xmlns:v="urn:schemas-microsoft-com:vml"><head><title>Spring</title>' +
      '<style>a[href^="https://"] { color: red }</style></head>\r\n<body>\r\n' +
      '<!-- a note https://x.example/ -->' +
      '<!--[if mso]><v:roundrect href="https://x.example/b" style="width:200px"><![endif]-->' +
      '<a href="https://x.example/b">Buy</a>' +
      '<!--[if mso]></v:roundrect><![endif]-->\r\n</body></html>';
    const expected = html
      .replace('href="https://x.example/b" style', `href="https://x.example/b?${allInHtml}" style`)
      .replace('<a href="https://x.example/b">', `<a href="https://x.example/b?${allInHtml}">`);
    assert.notEqual(expected, html);
    assert.equal(tagHtml(html, tags), expected);
  });

  it('tags each misnested link once', () => {
    // The parser re-creates the <a> inside the second <p>: the copy must not be edited a second time.
    assert.equal(
      tagHtml('<p><a href="https://x.example/">one<p>two</a>', tags),
      `<p><a href="https://x.example/?${allInHtml}">one<p>two</a>`,
    );
  });

  it('leaves HTML without links byte for byte', () => {
    const html = '<P>Caf&eacute; &nbsp; <BR/>  <b>bold</i>';
    assert.equal(tagHtml(html, tags), html);
  });
});

describe('utmFor', () => {
  it('follows PLATFORMS.md', () => {
    const expected: Record<Channel, { source: string; medium: string } | null> = {
      klaviyo_email: { source: 'klaviyo', medium: 'email' },
      mailchimp_email: { source: 'mailchimp', medium: 'email' },
      cyberimpact_email: { source: 'cyberimpact', medium: 'email' },
      facebook_post: { source: 'facebook', medium: 'social' },
      instagram_post: { source: 'instagram', medium: 'social' },
      instagram_story: { source: 'instagram', medium: 'social' },
      linkedin_post: { source: 'linkedin', medium: 'social' },
      tiktok_video: { source: 'tiktok', medium: 'social' },
      facebook_ad: { source: 'facebook', medium: 'paid_social' },
      google_ads_campaign: { source: 'google', medium: 'cpc' },
      wordpress_article: { source: 'wordpress', medium: 'blog' },
      shopify_article: { source: 'shopify', medium: 'blog' },
      shopify_product_seo: null,
    };
    for (const channel of channels) assert.deepEqual(utmFor(channel), expected[channel], channel);
  });
});

describe('epicSlug', () => {
  it('is lowercase ASCII words joined by "-"', () => {
    assert.equal(epicSlug('Spring launch'), 'spring-launch');
    assert.equal(
      epicSlug('  Été 2026: Straße & Co. — the BIG launch!!! '),
      'ete-2026-strasse-co-the-big-launch',
    );
    assert.equal(epicSlug('Spring launch'), epicSlug('Spring launch'), 'stable');
  });

  it('stops at a word boundary within 60 characters', () => {
    const slug = epicSlug('word '.repeat(30));
    assert.ok(slug.length <= 60);
    assert.match(slug, /^word(-word)*$/);
    assert.equal(epicSlug('x'.repeat(80)), 'x'.repeat(60));
  });

  it('never gives an empty campaign', () => {
    assert.equal(epicSlug('🎉🎉'), 'epic');
    assert.equal(epicSlug('春の新作'), 'epic');
  });
});

describe('applyUtm', () => {
  const input = { epicTitle: 'Spring Sale', taskId: 'task-1' };
  const tagsFor = (channel: Channel) => ({
    ...utmFor(channel)!,
    campaign: 'spring-sale',
    content: 'task-1',
  });
  const withContent = (channel: Channel, overrides: Record<string, unknown>) => {
    const parsed = parseTaskContent(channel, { ...contentExamples[channel], ...overrides });
    assert.ok(parsed.ok, `${channel}: ${JSON.stringify(parsed)}`);
    return parsed.content;
  };
  const text = 'Shop https://acme.example/sale.';
  const html = '<p><a href="https://acme.example/sale?a=1&amp;b=2">Shop</a> <a href="/about">About</a></p>';
  const taggedText = (channel: Channel) => tagText(text, tagsFor(channel));
  const taggedHtml = (channel: Channel) => tagHtml(html, tagsFor(channel));
  const taggedLink = (channel: Channel) => tagUrl('https://acme.example/new', tagsFor(channel));
  const media = ['https://cdn.acme.example/1.jpg'];

  const cases: [Channel, Record<string, unknown>, (channel: Channel) => Record<string, unknown>][] = [
    [
      'facebook_post',
      { text, link: 'https://acme.example/new', mediaUrls: media },
      (c) => ({ text: taggedText(c), link: taggedLink(c), mediaUrls: media }),
    ],
    ['linkedin_post', { link: 'https://acme.example/new' }, (c) => ({ link: taggedLink(c) })],
    [
      'instagram_post',
      { caption: text, mediaUrls: media },
      (c) => ({ caption: taggedText(c), mediaUrls: media }),
    ],
    [
      'tiktok_video',
      { title: text },
      (c) => ({ title: taggedText(c), videoUrl: 'https://cdn.acme.example/v.mp4' }),
    ],
    [
      'facebook_ad',
      { text, link: 'https://acme.example/new', mediaUrls: media },
      (c) => ({ text: taggedText(c), link: taggedLink(c), mediaUrls: media }),
    ],
    ['google_ads_campaign', { link: 'https://acme.example/new' }, (c) => ({ link: taggedLink(c) })],
    ['klaviyo_email', { html, text }, (c) => ({ html: taggedHtml(c), text: taggedText(c) })],
    ['mailchimp_email', { html, text }, (c) => ({ html: taggedHtml(c), text: taggedText(c) })],
    ['cyberimpact_email', { html, text }, (c) => ({ html: taggedHtml(c), text: taggedText(c) })],
    ['wordpress_article', { html, excerpt: text }, (c) => ({ html: taggedHtml(c), excerpt: taggedText(c) })],
    ['shopify_article', { html, excerpt: text }, (c) => ({ html: taggedHtml(c), excerpt: taggedText(c) })],
  ];

  for (const [channel, overrides, expected] of cases) {
    it(`tags the links of ${channel}, and only them`, () => {
      const content = withContent(channel, overrides);
      const before = structuredClone(content);
      const tagged = applyUtm(channel, content, input) as Record<string, unknown>;
      assert.deepEqual(tagged, { ...content, ...expected(channel) });
      assert.deepEqual(content, before, 'the stored content is not modified');
      const source = utmFor(channel)!.source;
      assert.ok(JSON.stringify(tagged).includes(`utm_source=${source}`), channel);
      assert.ok(parseTaskContent(channel, tagged).ok, 'still valid content');
    });
  }

  it('leaves channels without links as they are', () => {
    for (const channel of ['instagram_story', 'shopify_product_seo'] as const) {
      const content = withContent(channel, {});
      assert.deepEqual(applyUtm(channel, content, input), content);
    }
  });

  it('sends a field untagged when tagging would push it past its limit', () => {
    const caption = `${'x'.repeat(2_150)} https://acme.example/sale`;
    const content = withContent('instagram_post', { caption });
    const tagged = applyUtm('instagram_post', content, input) as TaskContent<'instagram_post'>;
    assert.equal(tagged.caption, caption);
  });
});
