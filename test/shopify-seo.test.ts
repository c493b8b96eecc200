// shopify_product_seo against the Shopify simulator over real HTTP: the content's resource id (a global id or
// the bare number), the SEO read and kept before the one update, a lost answer then a retry (the originals
// stay what was kept, one change on Shopify), collections, and every failure as its publication error class.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import {
  createShopifyAdapter,
  mapShopifySeoUserErrors,
  type ShopifyCredentials,
  shopifyApiVersion,
  shopifySeoRevert,
} from '../connectors/shopify.ts';
import type { PublicationContext, PublicationProgress } from '../connectors/types.ts';
import { parseTaskContent, type TaskContent } from '../domain/content.ts';
import type { PublicationErrorClass } from '../domain/publication-errors.ts';
import { type ShopifySimulator, startShopifySimulator } from '../sandbox/shopify.ts';
import { expectFailure, followConsent, harnessPerTest } from './support/adapter-harness.ts';

const clientId = 'shopify-seo-test-app';
const clientSecret = 'shpss_seo_test_secret_5e6f';
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/shopify/callback';
const original = { title: 'Linen shirt | Glow Beauty', description: 'Our linen shirt, cut in Montréal.' };
const collectionOriginal = { title: 'Summer edit', description: null };
const store = { kind: 'shopify_store', externalId: 'glow-beauty.myshopify.com' };
const wanted = { seoTitle: 'Linen shirt for hot days', seoDescription: 'Breathable linen, washed soft.' };

/** A simulator with one shop (a product with SEO of its own, one without, a collection), connected. */
async function startSeoHarness(seoLimits?: { title: number; description: number }) {
  const sim = await startShopifySimulator({
    clientId,
    clientSecret,
    shops: [
      {
        shop: 'glow-beauty',
        name: 'Glow Beauty',
        blogs: [{ title: 'News' }],
        products: [{ title: 'Linen shirt', seo: original }, { title: 'Bare tee' }],
        collections: [{ title: 'Summer', seo: collectionOriginal }],
      },
    ],
    ...(seoLimits ? { seoLimits } : {}),
  });
  const adapter = createShopifyAdapter({ shopBaseUrl: `${sim.url}/shops/{shop}`, clientId, clientSecret });
  const { query } = await followConsent(
    adapter.connector.authorizeUrl({ state: 'seo-state', redirectUri, shop: 'glow-beauty' }),
  );
  const { credentials } = await adapter.connector.completeConsent({
    code: query.code ?? '',
    redirectUri,
    shop: 'glow-beauty',
    query,
  });
  return { sim, adapter, credentials };
}

const harness = harnessPerTest(startSeoHarness);
const shirt = () => harness.sim.products()[0]!;
const collection = () => harness.sim.collections()[0]!;
const seoContent = (
  resource: TaskContent<'shopify_product_seo'>['resource'] = { type: 'product', id: shirt().id },
) => ({ resource, ...wanted }) satisfies TaskContent<'shopify_product_seo'>;
const updates = (sim: ShopifySimulator = harness.sim) =>
  sim
    .receivedMatching(`/admin/api/${shopifyApiVersion}/graphql.json`, 'POST')
    .filter((request) => /productUpdate|collectionUpdate/.test(JSON.stringify(request.body)));

/**
 * A publication context as the activity gives one: saved progress lands in `stored`; `goingLive` records how
 * many updates had been sent each time the last check ran, `savedAt` how many at each save.
 */
function seoContext(
  overrides: Partial<PublicationContext<ShopifyCredentials>> = {},
  options: { withdrawn?: boolean } = {},
) {
  const stored: PublicationProgress = { ...(overrides.progress ?? {}) };
  const goingLive: number[] = [];
  const savedAt: { keys: string[]; updatesSent: number }[] = [];
  const context: PublicationContext<ShopifyCredentials> = {
    taskId: 'task-seo-1',
    channel: 'shopify_product_seo',
    content: seoContent(),
    contentDigest: 'digest-seo',
    account: store,
    credentials: harness.credentials,
    progress: {},
    async saveProgress(update) {
      savedAt.push({ keys: Object.keys(update), updatesSent: updates().length });
      Object.assign(stored, update);
    },
    heartbeat() {},
    async beforeGoingLive() {
      goingLive.push(updates().length);
      if (options.withdrawn) throw new Error('the schedule was withdrawn before this went out');
    },
    ...overrides,
  };
  return { context, stored, goingLive, savedAt };
}

describe('shopify_product_seo content', () => {
  const content = (resource: unknown) => parseTaskContent('shopify_product_seo', { resource, ...wanted });

  it('takes a global id, or the bare number stored as the global id of its type', () => {
    assert.deepEqual(content({ type: 'product', id: '8124163522853' }), {
      ok: true,
      content: { resource: { type: 'product', id: 'gid://shopify/Product/8124163522853' }, ...wanted },
    });
    assert.deepEqual(content({ type: 'collection', id: 'gid://shopify/Collection/42' }), {
      ok: true,
      content: { resource: { type: 'collection', id: 'gid://shopify/Collection/42' }, ...wanted },
    });
  });

  it('refuses a malformed id, or one of the other type, naming content.resource.id (a 400 when written)', () => {
    for (const id of ['linen-shirt', '0', 'gid://shopify/Product/', 'gid://shopify/Blog/1', '12 34']) {
      const result = content({ type: 'product', id });
      assert.equal(result.ok, false, id);
      if (!result.ok)
        assert.deepEqual(
          result.issues.map((issue) => issue.field),
          ['content.resource.id'],
        );
    }
    const mixed = content({ type: 'collection', id: 'gid://shopify/Product/1' });
    assert.deepEqual(mixed.ok ? null : mixed.issues, [
      { field: 'content.resource.id', message: 'is a Product id, but resource.type is collection' },
    ]);
  });
});

describe('publishing a product’s SEO at the time', () => {
  it('reads the SEO and keeps it before the one update, then sets the new values', async () => {
    const { context, stored, goingLive, savedAt } = seoContext();
    const published = await harness.adapter.publish(context);

    const product = shirt();
    assert.deepEqual(published, {
      externalId: product.id,
      externalUrl: `https://admin.shopify.com/store/glow-beauty/products/${product.id.split('/').at(-1)}`,
    });
    assert.deepEqual(product.seo, { title: wanted.seoTitle, description: wanted.seoDescription });
    assert.equal(product.seoChanges.length, 1);
    assert.deepEqual(JSON.parse(stored[`previousSeo:${product.id}`] ?? ''), original);
    assert.deepEqual(
      savedAt.map((save) => save.updatesSent),
      [0, 0],
      'the originals (and the marker) were kept before the update went out',
    );
    assert.deepEqual(goingLive, [0], 'beforeGoingLive is asked once, right before the update');
    assert.deepEqual(shopifySeoRevert(context.content, stored), {
      resource: { type: 'product', id: product.id },
      seoTitle: original.title,
      seoDescription: original.description,
    });

    const [update, ...more] = updates();
    assert.deepEqual(more, []);
    const body = update?.body as { query: string; variables: Record<string, unknown> };
    assert.match(body.query, /productUpdate\(product: \$product\)/);
    assert.doesNotMatch(body.query, /input:/);
    assert.deepEqual(body.variables, {
      product: { id: product.id, seo: { title: wanted.seoTitle, description: wanted.seoDescription } },
    });
  });

  it('a product with no SEO of its own: the originals are kept as null (Shopify shows its title)', async () => {
    const bare = harness.sim.products()[1]!;
    const { context, stored } = seoContext({ content: seoContent({ type: 'product', id: bare.id }) });
    await harness.adapter.publish(context);
    assert.deepEqual(shopifySeoRevert(context.content, stored), {
      resource: { type: 'product', id: bare.id },
      seoTitle: null,
      seoDescription: null,
    });
  });

  it('a lost answer to the update, then the retry: the originals stay kept, one change on Shopify', async () => {
    harness.sim.dropAnswerNext({ path: '/graphql.json', body: 'productUpdate' });
    const first = seoContext();
    await expectFailure(harness.adapter.publish(first.context), 'TRANSIENT', [
      harness.credentials.accessToken,
    ]);
    assert.deepEqual(shirt().seo, { title: wanted.seoTitle, description: wanted.seoDescription }, 'applied');

    // The retry reads Glowtify's own values back: they must not become "previous".
    const retry = seoContext({ progress: { ...first.stored } });
    const published = await harness.adapter.publish(retry.context);
    assert.equal(published.externalId, shirt().id);
    assert.deepEqual(shopifySeoRevert(retry.context.content, retry.stored), {
      resource: { type: 'product', id: shirt().id },
      seoTitle: original.title,
      seoDescription: original.description,
    });
    assert.equal(shirt().seoChanges.length, 1, 'one change');
    assert.equal(updates().length, 1, 'the update was not sent again');
    assert.deepEqual(retry.goingLive, [], 'nothing went live again');
  });

  it('a lost answer, then the merchant edits the SEO before the retry: sent again, the originals stay kept', async () => {
    harness.sim.dropAnswerNext({ path: '/graphql.json', body: 'productUpdate' });
    const first = seoContext();
    await expectFailure(harness.adapter.publish(first.context), 'TRANSIENT');
    harness.sim.setSeo(shirt().id, { title: 'Edited in the admin' });

    const retry = seoContext({ progress: { ...first.stored } });
    await harness.adapter.publish(retry.context);
    assert.deepEqual(shirt().seo, { title: wanted.seoTitle, description: wanted.seoDescription });
    assert.equal(shopifySeoRevert(retry.context.content, retry.stored)?.seoTitle, original.title);
    assert.equal(updates().length, 2);
  });

  it('an attempt stopped before its update: the retry reads again, and keeps the merchant’s latest values', async () => {
    const first = seoContext({}, { withdrawn: true });
    await assert.rejects(harness.adapter.publish(first.context), /withdrawn/);
    assert.equal(updates().length, 0);
    harness.sim.setSeo(shirt().id, { description: 'Edited since' });

    const retry = seoContext({ progress: { ...first.stored } });
    await harness.adapter.publish(retry.context);
    assert.deepEqual(shopifySeoRevert(retry.context.content, retry.stored), {
      resource: { type: 'product', id: shirt().id },
      seoTitle: original.title,
      seoDescription: 'Edited since',
    });
    assert.equal(updates().length, 1);
  });

  it('a collection: collectionUpdate(collection:), its admin URL, its originals kept', async () => {
    const target = collection();
    const { context, stored } = seoContext({ content: seoContent({ type: 'collection', id: target.id }) });
    const published = await harness.adapter.publish(context);
    assert.deepEqual(published, {
      externalId: target.id,
      externalUrl: `https://admin.shopify.com/store/glow-beauty/collections/${target.id.split('/').at(-1)}`,
    });
    assert.deepEqual(collection().seo, { title: wanted.seoTitle, description: wanted.seoDescription });
    assert.equal(collection().seoChanges.length, 1);
    assert.deepEqual(shopifySeoRevert(context.content, stored), {
      resource: { type: 'collection', id: target.id },
      seoTitle: collectionOriginal.title,
      seoDescription: null,
    });
    const body = updates()[0]?.body as { query: string; variables: Record<string, unknown> };
    assert.match(body.query, /collectionUpdate\(collection: \$collection\)/);
    assert.deepEqual(Object.keys(body.variables), ['collection']);
    assert.deepEqual(shirt().seoChanges, [], 'the product is untouched');
  });

  it('a collection’s lost answer, then the retry: one change, originals kept', async () => {
    harness.sim.dropAnswerNext({ path: '/graphql.json', body: 'collectionUpdate' });
    const content = seoContent({ type: 'collection', id: collection().id });
    const first = seoContext({ content });
    await expectFailure(harness.adapter.publish(first.context), 'TRANSIENT');
    const retry = seoContext({ content, progress: { ...first.stored } });
    await harness.adapter.publish(retry.context);
    assert.equal(collection().seoChanges.length, 1);
    assert.equal(shopifySeoRevert(content, retry.stored)?.seoTitle, collectionOriginal.title);
    assert.equal(updates().length, 1);
  });
});

describe('Shopify SEO failures become publication error classes', () => {
  const secrets = () => [harness.credentials.accessToken, clientSecret];

  it('a product that does not exist → INVALID_REQUEST naming it, nothing updated', async () => {
    const missing = 'gid://shopify/Product/999999';
    const { context, stored } = seoContext({ content: seoContent({ type: 'product', id: missing }) });
    const error = await expectFailure(harness.adapter.publish(context), 'INVALID_REQUEST', secrets());
    assert.match(error.message, /product gid:\/\/shopify\/Product\/999999 does not exist/);
    assert.deepEqual(stored, {});
    assert.equal(updates().length, 0);
  });

  it('a product deleted between the read and the update → INVALID_REQUEST from its userError', async () => {
    const held = harness.sim.holdNext({ path: '/graphql.json', body: 'productUpdate' });
    const attempt = harness.adapter.publish(seoContext().context);
    await held.reached;
    harness.sim.deleteResource(shirt().id);
    held.release();
    const error = await expectFailure(attempt, 'INVALID_REQUEST', secrets());
    assert.match(error.message, /no longer exists.*id: Product does not exist/);
  });

  it('a value longer than Shopify takes → CONTENT_REJECTED with its userError', async () => {
    await harness.restart({ title: 20, description: 320 });
    const error = await expectFailure(harness.adapter.publish(seoContext().context), 'CONTENT_REJECTED', [
      harness.credentials.accessToken,
    ]);
    assert.match(error.message, /seo\.title: SEO title is too long \(maximum is 20 characters\)/);
    assert.deepEqual(shirt().seo, original);
  });

  it('THROTTLED on the update (HTTP 200, then 429) → RATE_LIMITED after the wait its cost needs', async () => {
    for (const kind of ['throttled', 'throttled_429'] as const) {
      harness.sim.failWith(kind, {
        path: '/graphql.json',
        body: 'productUpdate',
        requestedQueryCost: 10,
        currentlyAvailable: 4,
        restoreRate: 2,
      });
      const error = await expectFailure(
        harness.adapter.publish(seoContext().context),
        'RATE_LIMITED',
        secrets(),
      );
      assert.equal(error.failure.retryAfterMs, 3000, '(10 − 4) points at 2 a second');
      assert.equal(error.failure.platformCode, 'THROTTLED');
    }
    assert.deepEqual(shirt().seo, original);
  });

  it('401 (app uninstalled) → TOKEN_EXPIRED; write_products refused → PERMISSION_REVOKED; 503 → TRANSIENT', async () => {
    const cases: [() => void, PublicationErrorClass][] = [
      [
        () =>
          harness.sim.failWith('access_denied', {
            path: '/graphql.json',
            body: 'productUpdate',
            deniedField: 'productUpdate',
            requiredAccess: 'write_products',
          }),
        'PERMISSION_REVOKED',
      ],
      [
        () => harness.sim.failWith('transient', { path: '/graphql.json', body: 'productUpdate' }),
        'TRANSIENT',
      ],
      [() => harness.sim.revokeTokens('glow-beauty'), 'TOKEN_EXPIRED'],
    ];
    for (const [fail, expected] of cases) {
      fail();
      const error = await expectFailure(harness.adapter.publish(seoContext().context), expected, secrets());
      if (expected === 'PERMISSION_REVOKED') assert.match(error.message, /write_products/);
    }
    assert.deepEqual(shirt().seo, original);
  });

  it('another channel, or an account that is not this store, is INVALID_REQUEST before any request', async () => {
    const before = harness.sim.received.length;
    await expectFailure(
      harness.adapter.publish(seoContext({ channel: 'shopify_article' }).context),
      'INVALID_REQUEST',
    );
    for (const account of [
      { kind: 'shopify_blog', externalId: 'gid://shopify/Blog/1' },
      { kind: 'shopify_store', externalId: 'other-store.myshopify.com' },
      null,
    ])
      await expectFailure(harness.adapter.publish(seoContext({ account }).context), 'INVALID_REQUEST');
    assert.equal(harness.sim.received.length, before);
  });

  it('mapShopifySeoUserErrors: a resource gone is INVALID_REQUEST, an SEO field CONTENT_REJECTED', () => {
    const resource = { type: 'collection' as const, id: 'gid://shopify/Collection/7' };
    assert.deepEqual(
      mapShopifySeoUserErrors([{ field: ['id'], message: 'Collection does not exist' }], resource),
      {
        class: 'INVALID_REQUEST',
        message:
          'The Shopify collection gid://shopify/Collection/7 no longer exists: choose another (id: Collection does not exist)',
      },
    );
    assert.equal(
      mapShopifySeoUserErrors(
        [{ field: ['collection', 'seo', 'description'], message: 'is invalid' }],
        resource,
      ).class,
      'CONTENT_REJECTED',
    );
    assert.equal(
      mapShopifySeoUserErrors([{ field: null, message: 'Something else' }], resource).class,
      'INVALID_REQUEST',
    );
  });
});

describe('the Shopify simulator’s SEO subset', () => {
  beforeEach(() => harness.sim.clearFailures());

  const graphql = async (query: string, variables: Record<string, unknown> = {}) => {
    const answer = await fetch(
      `${harness.sim.url}/shops/glow-beauty/admin/api/${shopifyApiVersion}/graphql.json`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-shopify-access-token': harness.credentials.accessToken,
        },
        body: JSON.stringify({ query, variables }),
      },
    );
    return (await answer.json()) as { data?: Record<string, unknown>; errors?: { message: string }[] };
  };

  it('refuses productUpdate’s deprecated input:, a code on the plain UserError, and an id that is not global', async () => {
    const deprecated = await graphql(
      'mutation($input: ProductInput!) { productUpdate(input: $input) { userErrors { field message } } }',
      { input: { id: shirt().id } },
    );
    assert.match(
      deprecated.errors?.map((error) => error.message).join('\n') ?? '',
      /doesn't accept argument 'input'/,
    );
    const coded = await graphql(
      'mutation($p: ProductUpdateInput!) { productUpdate(product: $p) { userErrors { field message code } } }',
      { p: { id: shirt().id } },
    );
    assert.match(coded.errors?.[0]?.message ?? '', /Field 'code' doesn't exist on type 'UserError'/);
    const bare = await graphql('{ product(id: "123") { id } }');
    assert.match(bare.errors?.[0]?.message ?? '', /Invalid global id '123'/);
    assert.deepEqual(shirt().seoChanges, []);
  });
});
