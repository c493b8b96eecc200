// Shopify adapter: the OAuth install of one shop (signed callback checked, offline token, granted scopes
// checked), discovery of the store and its blogs, the credential check, the data sync that counts the store's
// products, shopify_article hand-offs (an article created hidden, published by Shopify at its date;
// cancelled by deleting it; confirmed by reading it back), and shopify_product_seo publications (a product's or
// collection's search engine listing changed at the time, the values it replaces kept for a revert), all
// through the Admin GraphQL API.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { setTimeout as wait } from 'node:timers/promises';
import { z } from 'zod';
import { contentSchemas, type TaskContent } from '../domain/content.ts';
import { platformDescriptors } from '../domain/platforms.ts';
import { HandOffLockedError, PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { waitForInstant } from './hand-off-timing.ts';
import { createSender, parseRetryAfter, type RequestBody, redact } from './http.ts';
import type {
  DiscoveredAccount,
  HandOffContext,
  HandOffStatus,
  OAuthConnector,
  PlatformAdapter,
  PublicationContext,
  PublicationProgress,
  Published,
  SyncResult,
} from './types.ts';
import { CredentialsRejectedError } from './types.ts';

/** The one Admin API version this adapter speaks (PLATFORMS.md: newest seen `2026-10`). */
export const shopifyApiVersion = '2026-10';

export const shopifyScopes = platformDescriptors.shopify.scopes;

export interface ShopifyCredentials {
  /** Offline access token (`shpat_…`): it does not expire; uninstalling the app revokes it. */
  accessToken: string;
  /** The shop's subdomain, e.g. `glow-beauty` for glow-beauty.myshopify.com. */
  shop: string;
  /** The scopes Shopify says it granted (a write scope stands for its read scope too). */
  scopes: string[];
}

export interface ShopifyAdapterOptions {
  /** A template with `{shop}`: https://{shop}.myshopify.com (tests: http://127.0.0.1:PORT/shops/{shop}). */
  shopBaseUrl: string;
  clientId: string;
  clientSecret: string;
  fetch?: typeof fetch;
  /** One request's time limit; a hung request becomes TRANSIENT. */
  requestTimeoutMs?: number;
  /** How the sync waits for Shopify's cost bucket to refill between pages (injectable for tests). */
  sleep?: (ms: number) => Promise<void>;
  /** Our clock: whether a hand-off's time has come, whether an article's publish date has passed. */
  now?: () => Date;
  /**
   * A time closer than this is not left to Shopify's scheduler: the hand-off waits for it and creates the
   * article visible then (default 60 s; see handOff).
   */
  scheduleLeadMs?: number;
  /**
   * How long after a create may have been applied Shopify's search may still miss the article it made (its
   * index lags): a cancel that finds nothing under the handle that soon is tried again after (default 15 s).
   */
  searchSettleMs?: number;
}

export type ShopifyAdapter = PlatformAdapter<ShopifyCredentials> &
  Required<
    Pick<
      PlatformAdapter<ShopifyCredentials>,
      'verifyCredentials' | 'sync' | 'handOff' | 'cancelHandOff' | 'handOffStatus' | 'publish'
    >
  > & {
    connector: OAuthConnector<ShopifyCredentials>;
  };

const shopPattern = /^[a-z0-9][a-z0-9-]*$/;
// DNS label limit: a subdomain longer than this cannot be a shop.
const maxShopLength = 63;
// When Shopify gives no cost to compute a wait from.
const defaultRateLimitRetryMs = 1000;
// The shortest wait a throttle asks for: Shopify's bucket refills continuously, so no less is useful.
const minimumRateLimitRetryMs = 250;
// The longest the sync paces itself between two pages; beyond that the bucket is not refilling as it says.
const maxPacingMs = 60_000;
// Far beyond any store; reaching it means the cursor chain does not end.
const maxPages = 10_000;
const productsPageSize = 100;
const blogsPageSize = 50;
/**
 * Shopify refuses a visible article with a future date (INVALID_PUBLISH_DATE), and a hidden one whose date has
 * passed by the time Shopify reads it is not documented to go visible. A scheduled article is therefore dated
 * at least this far ahead (request latency and clock skew fit in it many times over); a closer time is waited
 * for and published then.
 */
const defaultScheduleLeadMs = 60_000;
const defaultSearchSettleMs = 15_000;
// How much of the title the handle keeps before the hand-off key (Shopify's handles run to 255).
const handleTitleLength = 60;
/** Shown as the author when the task names none (`author` is required): the shop's own name, else this. */
const fallbackAuthor = 'Glowtify';
/** userError fields that hold what the user wrote: a refusal there is the content's, not the request's. */
const contentFields = new Set(['title', 'body', 'summary', 'tags', 'author']);

/**
 * The article's handle: the title's words, then the hand-off key, so the look-up before creating (and a
 * cancel) finds what an attempt whose answer was lost created, and Shopify itself refuses a second article
 * under it (TAKEN).
 */
export function articleHandle(title: string, handOffKey: string): string {
  const slug = (text: string) =>
    text
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '');
  const words = slug(title).slice(0, handleTitleLength).replace(/-+$/, '');
  const key = slug(handOffKey);
  return words ? `${words}-${key}` : key;
}

const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The shop's subdomain from what a user typed (`glow-beauty`, `Glow-Beauty.myshopify.com`, or its https URL),
 * or null when it cannot be one.
 */
export function normalizeShop(input: string): string | null {
  let shop = input.trim().toLowerCase();
  shop = shop.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  if (shop.endsWith('.myshopify.com')) shop = shop.slice(0, -'.myshopify.com'.length);
  return shop.length <= maxShopLength && shopPattern.test(shop) ? shop : null;
}

/**
 * Checks the `hmac` Shopify puts on its redirects: HMAC-SHA256 (hex) of the other parameters, sorted by name
 * and form-encoded, keyed by the app's client secret; compared in constant time.
 */
export function verifyShopifyHmac(query: Record<string, string>, clientSecret: string): boolean {
  const given = query.hmac;
  if (!given || !/^[0-9a-f]+$/i.test(given)) return false;
  const entries = Object.entries(query)
    .filter(([name]) => name !== 'hmac' && name !== 'signature')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const expected = createHmac('sha256', clientSecret)
    .update(new URLSearchParams(entries).toString())
    .digest();
  const received = Buffer.from(given, 'hex');
  return received.length === expected.length && timingSafeEqual(received, expected);
}

/** Whether the granted scopes cover `needed`; Shopify omits a read scope when its write scope is granted. */
export function shopifyScopesCover(granted: readonly string[], needed: readonly string[]): boolean {
  return needed.every(
    (scope) =>
      granted.includes(scope) ||
      (scope.startsWith('read_') && granted.includes(`write_${scope.slice('read_'.length)}`)),
  );
}

const GraphQLError = z.object({
  message: z.string().nullish(),
  extensions: z.object({ code: z.string().nullish() }).passthrough().nullish(),
});
const GraphQLBody = z.object({
  data: z.unknown().optional(),
  errors: z.union([z.array(GraphQLError), z.string(), z.record(z.string(), z.unknown())]).optional(),
  extensions: z
    .object({
      cost: z
        .object({
          requestedQueryCost: z.coerce.number().nullish(),
          throttleStatus: z
            .object({ currentlyAvailable: z.coerce.number(), restoreRate: z.coerce.number() })
            .nullish(),
        })
        .nullish(),
    })
    .nullish(),
});

type QueryCost = NonNullable<NonNullable<z.infer<typeof GraphQLBody>['extensions']>['cost']>;

/** Waits as long as the bucket needs to hold the query's cost again, from Shopify's own numbers. */
function throttleDelayMs(body: z.infer<typeof GraphQLBody> | undefined, headers: Headers): number {
  const cost = body?.extensions?.cost;
  const status = cost?.throttleStatus;
  if (status && status.restoreRate > 0) {
    const missing = (cost?.requestedQueryCost ?? status.restoreRate) - status.currentlyAvailable;
    return Math.max(minimumRateLimitRetryMs, Math.ceil((missing / status.restoreRate) * 1000));
  }
  return parseRetryAfter(headers.get('retry-after')) || defaultRateLimitRetryMs;
}

/** Maps an Admin API answer that is not a clean success (HTTP status, or GraphQL `errors`) onto an error. */
export function mapShopifyError(status: number, body: unknown, headers: Headers): PublicationFailure {
  const parsed = GraphQLBody.safeParse(body).data;
  const errors = Array.isArray(parsed?.errors) ? parsed.errors : [];
  const said =
    typeof parsed?.errors === 'string'
      ? parsed.errors
      : errors
          .map((error) => error.message ?? '')
          .filter(Boolean)
          .slice(0, 3)
          .join('; ');
  const code = errors.find((error) => error.extensions?.code)?.extensions?.code ?? undefined;
  const failure = (errorClass: PublicationFailure['class'], fallback: string, delayMs?: number) => ({
    class: errorClass,
    message: (said || fallback).slice(0, 500),
    ...(code ? { platformCode: code } : {}),
    ...(delayMs === undefined ? {} : { retryAfterMs: delayMs }),
  });

  if (code === 'THROTTLED' || status === 429)
    return failure('RATE_LIMITED', 'Shopify throttled the request', throttleDelayMs(parsed, headers));
  if (status === 401) return failure('TOKEN_EXPIRED', 'Shopify refused the access token (app uninstalled?)');
  if (status === 403 || code === 'ACCESS_DENIED')
    return failure('PERMISSION_REVOKED', 'Shopify refused the request: a scope is missing');
  if (status === 402) return failure('INVALID_REQUEST', 'The shop is frozen (Shopify: payment required)');
  if (status === 423) return failure('INVALID_REQUEST', 'The shop is locked (Shopify HTTP 423)');
  if (status === 404) return failure('INVALID_REQUEST', 'Shopify knows no such shop (HTTP 404)');
  if (status === 408 || status >= 500 || code === 'INTERNAL_SERVER_ERROR')
    return failure('TRANSIENT', `Shopify answered HTTP ${status}`);
  return failure('INVALID_REQUEST', `Shopify refused the request (HTTP ${status})`);
}

const TokenAnswer = z.object({ access_token: z.string().min(1), scope: z.string().nullish() });
const OAuthErrorBody = z.object({ error: z.string(), error_description: z.string().nullish() });
const PageInfo = z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullish() });
const Discovery = z.object({
  shop: z.object({ name: z.string(), myshopifyDomain: z.string() }),
  blogs: z.object({ nodes: z.array(z.object({ id: z.string(), title: z.string() })), pageInfo: PageInfo }),
});
const BlogsOnly = Discovery.pick({ blogs: true });
const ShopName = z.object({ shop: z.object({ name: z.string() }) });
const Products = z.object({
  products: z.object({ nodes: z.array(z.object({ id: z.string() })), pageInfo: PageInfo }),
});

const discoveryQuery = `query GlowtifyDiscovery($after: String) {
  shop { name myshopifyDomain }
  blogs(first: ${blogsPageSize}, after: $after) { nodes { id title } pageInfo { hasNextPage endCursor } }
}`;
const blogsQuery = `query GlowtifyBlogs($after: String) {
  blogs(first: ${blogsPageSize}, after: $after) { nodes { id title } pageInfo { hasNextPage endCursor } }
}`;
const verifyQuery = '{ shop { name } }';
const productsQuery = `query GlowtifyProducts($after: String) {
  products(first: ${productsPageSize}, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } }
}`;

const ArticleNode = z.object({
  id: z.string(),
  handle: z.string(),
  isPublished: z.boolean(),
  publishedAt: z.string().nullish(),
  createdAt: z.string().nullish(),
  updatedAt: z.string().nullish(),
  blog: z.object({ id: z.string(), handle: z.string() }).nullish(),
});
type ArticleNode = z.infer<typeof ArticleNode>;
const UserErrors = z.array(
  z.object({ field: z.array(z.string()).nullish(), message: z.string(), code: z.string().nullish() }),
);
type UserErrors = z.infer<typeof UserErrors>;
const ArticleCreated = z.object({
  articleCreate: z.object({ article: ArticleNode.nullish(), userErrors: UserErrors }),
});
const ArticleUpdated = z.object({
  articleUpdate: z.object({ article: ArticleNode.nullish(), userErrors: UserErrors }),
});
const ArticleDeleted = z.object({
  articleDelete: z.object({ deletedArticleId: z.string().nullish(), userErrors: UserErrors }),
});
const ArticleRead = z.object({ article: ArticleNode.nullish() });
const ArticleLookup = z.object({
  shop: z.object({ name: z.string() }),
  articles: z.object({ nodes: z.array(ArticleNode) }),
});

const articleFields = 'id handle isPublished publishedAt createdAt updatedAt blog { id handle }';
const articleCreateMutation = `mutation GlowtifyArticleCreate($article: ArticleCreateInput!) {
  articleCreate(article: $article) { article { ${articleFields} } userErrors { field message code } }
}`;
const articleUpdateMutation = `mutation GlowtifyArticlePublish($id: ID!, $article: ArticleUpdateInput!) {
  articleUpdate(id: $id, article: $article) { article { ${articleFields} } userErrors { field message code } }
}`;
const articleDeleteMutation = `mutation GlowtifyArticleDelete($id: ID!) {
  articleDelete(id: $id) { deletedArticleId userErrors { field message code } }
}`;
const articleQuery = `query GlowtifyArticle($id: ID!) { article(id: $id) { ${articleFields} } }`;
const articleLookupQuery = `query GlowtifyArticleByHandle($query: String!) {
  shop { name }
  articles(first: 5, query: $query) { nodes { ${articleFields} } }
}`;

/** Keys in progress, written the moment they are known. */
interface ShopifyArticleProgress {
  /** Saved BEFORE the create: what names an article whose answer was lost, for the retry and for a cancel. */
  articleHandle?: string;
  /** Saved the moment Shopify answers the create (or a look-up finds it). */
  articleId?: string;
}

// ——— Product and collection SEO ———

type SeoResource = TaskContent<'shopify_product_seo'>['resource'];

/** A search engine listing; null: none of its own (Shopify then shows the product's or collection's title). */
const Seo = z.object({ title: z.string().nullable(), description: z.string().nullable() });
export type ShopifySeo = z.infer<typeof Seo>;
const SeoAnswer = z
  .object({ title: z.string().nullish(), description: z.string().nullish() })
  .transform((seo): ShopifySeo => ({ title: seo.title ?? null, description: seo.description ?? null }));
const SeoNode = z.object({ id: z.string(), seo: SeoAnswer });
const ProductSeo = z.object({ product: SeoNode.nullish() });
const CollectionSeo = z.object({ collection: SeoNode.nullish() });
/** productUpdate and collectionUpdate answer with the plain UserError: a field and a message, no code. */
const PlainUserErrors = z.array(z.object({ field: z.array(z.string()).nullish(), message: z.string() }));
type PlainUserErrors = z.infer<typeof PlainUserErrors>;
const ProductSeoUpdated = z.object({
  productUpdate: z.object({ product: SeoNode.nullish(), userErrors: PlainUserErrors }),
});
const CollectionSeoUpdated = z.object({
  collectionUpdate: z.object({ collection: SeoNode.nullish(), userErrors: PlainUserErrors }),
});

const seoFields = 'id seo { title description }';
const productSeoQuery = `query GlowtifyProductSeo($id: ID!) { product(id: $id) { ${seoFields} } }`;
const collectionSeoQuery = `query GlowtifyCollectionSeo($id: ID!) { collection(id: $id) { ${seoFields} } }`;
// `product:`, not the `input:` deprecated since 2024-10; `collection:` exists from 2026-07.
const productSeoMutation = `mutation GlowtifyProductSeoUpdate($product: ProductUpdateInput!) {
  productUpdate(product: $product) { product { ${seoFields} } userErrors { field message } }
}`;
const collectionSeoMutation = `mutation GlowtifyCollectionSeoUpdate($collection: CollectionUpdateInput!) {
  collectionUpdate(collection: $collection) { collection { ${seoFields} } userErrors { field message } }
}`;

/**
 * Progress keys, one of each per resource (a task edited to target another one keeps what the first held).
 * `previousSeo`: the resource's SEO before this publication changed it, read at the time. `seoUpdateSentAt`:
 * saved right before the update; from then on Shopify may show Glowtify's own values (a lost answer), so the
 * previous ones are never read again. Before it, nothing of ours went out and a new read is the merchant's.
 */
const previousSeoKey = (resourceId: string) => `previousSeo:${resourceId}`;
const seoUpdateSentKey = (resourceId: string) => `seoUpdateSentAt:${resourceId}`;

function savedPreviousSeo(progress: PublicationProgress, resourceId: string): ShopifySeo | null {
  const saved = progress[previousSeoKey(resourceId)];
  if (!saved) return null;
  try {
    return Seo.safeParse(JSON.parse(saved)).data ?? null;
  } catch {
    return null;
  }
}

/** What a new epic would write to undo a shopify_product_seo publication, or null before it was read. */
export interface ShopifySeoRevert {
  resource: SeoResource;
  seoTitle: string | null;
  seoDescription: string | null;
}

/**
 * The product's or collection's SEO as it was before the publication (kept in its progress), for showing the
 * change and reverting it; null while nothing was read, or for content that is not a valid SEO task.
 */
export function shopifySeoRevert(content: unknown, progress: PublicationProgress): ShopifySeoRevert | null {
  const parsed = contentSchemas.shopify_product_seo.safeParse(content);
  if (!parsed.success) return null;
  const { resource } = parsed.data;
  const previous = savedPreviousSeo(progress, resource.id);
  return previous ? { resource, seoTitle: previous.title, seoDescription: previous.description } : null;
}

/** Maps productUpdate / collectionUpdate userErrors: a resource gone, SEO values refused, or another refusal. */
export function mapShopifySeoUserErrors(errors: PlainUserErrors, resource: SeoResource): PublicationFailure {
  const said = errors
    .slice(0, 3)
    .map((error) => (error.field?.length ? `${error.field.join('.')}: ${error.message}` : error.message))
    .join('; ');
  const gone = errors.some(
    (error) => error.field?.at(-1) === 'id' || /does not exist|not found/i.test(error.message),
  );
  if (gone)
    return {
      class: 'INVALID_REQUEST',
      message: `The Shopify ${resource.type} ${resource.id} no longer exists: choose another (${said})`.slice(
        0,
        500,
      ),
    };
  return {
    class: errors.some((error) => error.field?.includes('seo')) ? 'CONTENT_REJECTED' : 'INVALID_REQUEST',
    message: `Shopify refused the ${resource.type}'s SEO: ${said || 'no reason given'}`.slice(0, 500),
  };
}

/** The publish date an article scheduled for `at` gets: Shopify keeps whole seconds, so it is rounded up. */
export function shopifyPublishDate(at: Date): Date {
  return new Date(Math.ceil(at.getTime() / 1000) * 1000);
}

/** Maps `userErrors` (HTTP 200) onto a failure: the content's fault, or a request that cannot succeed. */
export function mapShopifyUserErrors(errors: UserErrors): PublicationFailure {
  const said = errors
    .slice(0, 3)
    .map((error) => (error.field?.length ? `${error.field.join('.')}: ${error.message}` : error.message))
    .join('; ');
  const code = errors.find((error) => error.code)?.code ?? undefined;
  const withCode = (failure: PublicationFailure): PublicationFailure =>
    code ? { ...failure, platformCode: code } : failure;
  if (errors.some((error) => error.code === 'NOT_FOUND' && error.field?.at(-1) === 'blogId'))
    return withCode({
      class: 'INVALID_REQUEST',
      message: `The Shopify blog of this task no longer exists: choose another blog (${said})`.slice(0, 500),
    });
  const aboutContent = errors.some(
    (error) =>
      ['BLANK', 'TOO_LONG', 'INVALID'].includes(error.code ?? '') &&
      contentFields.has(error.field?.[1] ?? ''),
  );
  return withCode({
    class: aboutContent ? 'CONTENT_REJECTED' : 'INVALID_REQUEST',
    message: `Shopify refused the article: ${said || 'no reason given'}`.slice(0, 500),
  });
}

export function createShopifyAdapter(options: ShopifyAdapterOptions): ShopifyAdapter {
  if (!options.shopBaseUrl.includes('{shop}'))
    throw new Error('shopBaseUrl must hold {shop}, e.g. https://{shop}.myshopify.com');
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const sleep = options.sleep ?? ((ms: number) => wait(ms));
  const now = options.now ?? (() => new Date());
  const scheduleLeadMs = options.scheduleLeadMs ?? defaultScheduleLeadMs;
  const searchSettleMs = options.searchSettleMs ?? defaultSearchSettleMs;
  const shopBase = (shop: string) => options.shopBaseUrl.replace('{shop}', shop).replace(/\/+$/, '');

  const scrub = (failure: PublicationFailure, secrets: readonly string[]): PublicationFailure => ({
    ...failure,
    message: redact(failure.message, [options.clientSecret, ...secrets]),
  });

  function requireShop(input: string | undefined): string {
    const shop = input === undefined ? null : normalizeShop(input);
    if (!shop) {
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: 'A Shopify shop is needed: its myshopify.com subdomain, e.g. "glow-beauty"',
      });
    }
    return shop;
  }

  const transport = createSender({
    fetch: options.fetch,
    timeoutMs: requestTimeoutMs,
    platformName: 'Shopify',
  });
  const send = (
    url: string,
    headers: Record<string, string>,
    body: RequestBody,
    secrets: readonly string[],
    signal?: AbortSignal,
  ) =>
    transport({
      method: 'POST',
      url,
      headers: { accept: 'application/json', ...headers },
      body,
      signal,
      secrets: [options.clientSecret, ...secrets],
    });

  async function graphql<T>(
    schema: z.ZodType<T>,
    credentials: Pick<ShopifyCredentials, 'accessToken' | 'shop'>,
    query: string,
    variables: Record<string, unknown> = {},
    signal?: AbortSignal,
  ): Promise<T> {
    return (await graphqlWithCost(schema, credentials, query, variables, signal)).data;
  }

  /** One GraphQL call; also gives the query's cost and the bucket after it, for pacing the next call. */
  async function graphqlWithCost<T>(
    schema: z.ZodType<T>,
    credentials: Pick<ShopifyCredentials, 'accessToken' | 'shop'>,
    query: string,
    variables: Record<string, unknown> = {},
    signal?: AbortSignal,
  ): Promise<{ data: T; cost: QueryCost | null }> {
    const secrets = [credentials.accessToken];
    const answer = await send(
      `${shopBase(credentials.shop)}/admin/api/${shopifyApiVersion}/graphql.json`,
      { 'x-shopify-access-token': credentials.accessToken },
      { graphql: query, variables },
      secrets,
      signal,
    );
    const body = GraphQLBody.safeParse(answer.body).data;
    // Throttling, missing scopes and validation come with HTTP 200: `errors` decides as much as the status.
    const hasErrors = body?.errors !== undefined && !(Array.isArray(body.errors) && body.errors.length === 0);
    if (answer.status < 200 || answer.status >= 300 || hasErrors)
      throw new PlatformError(scrub(mapShopifyError(answer.status, answer.body, answer.headers), secrets));
    const data = schema.safeParse(body?.data);
    if (!data.success)
      throw new PlatformError({
        class: 'TRANSIENT',
        message: 'Unexpected answer from Shopify (GraphQL data)',
      });
    return { data: data.data, cost: body?.extensions?.cost ?? null };
  }

  async function exchangeCode(shop: string, code: string) {
    const secrets = [code];
    const answer = await send(
      `${shopBase(shop)}/admin/oauth/access_token`,
      {},
      { json: { client_id: options.clientId, client_secret: options.clientSecret, code } },
      secrets,
    );
    if (answer.status === 200) {
      const parsed = TokenAnswer.safeParse(answer.body);
      if (!parsed.success)
        throw new PlatformError({
          class: 'TRANSIENT',
          message: 'Unexpected answer from Shopify (access token)',
        });
      return parsed.data;
    }
    if (answer.status === 429 || answer.status === 408 || answer.status >= 500)
      throw new PlatformError(scrub(mapShopifyError(answer.status, answer.body, answer.headers), secrets));
    const oauth = OAuthErrorBody.safeParse(answer.body).data;
    const platformCode = oauth?.error;
    const message =
      answer.status === 404
        ? `Shopify knows no shop ${shop}.myshopify.com`
        : platformCode === 'invalid_client'
          ? "Shopify refused Glowtify's app credentials (SHOPIFY_CLIENT_ID / SHOPIFY_CLIENT_SECRET)"
          : 'The Shopify authorization code is invalid or already used: install again';
    throw new PlatformError(
      scrub({ class: 'INVALID_REQUEST', message, ...(platformCode ? { platformCode } : {}) }, secrets),
    );
  }

  async function discover(credentials: ShopifyCredentials): Promise<DiscoveredAccount[]> {
    const first = await graphql(Discovery, credentials, discoveryQuery);
    const accounts: DiscoveredAccount[] = [
      { kind: 'shopify_store', externalId: first.shop.myshopifyDomain, name: first.shop.name },
    ];
    let blogs = first.blogs;
    for (let page = 0; page < maxPages; page += 1) {
      for (const blog of blogs.nodes)
        accounts.push({ kind: 'shopify_blog', externalId: blog.id, name: blog.title });
      if (!blogs.pageInfo.hasNextPage || !blogs.pageInfo.endCursor) break;
      blogs = (await graphql(BlogsOnly, credentials, blogsQuery, { after: blogs.pageInfo.endCursor })).blogs;
    }
    return accounts;
  }

  async function verifyCredentials(credentials: ShopifyCredentials): Promise<void> {
    try {
      await graphql(ShopName, credentials, verifyQuery);
    } catch (error) {
      if (error instanceof PlatformError && error.failure.class === 'TOKEN_EXPIRED')
        throw new CredentialsRejectedError('Shopify refused the access token (the app was uninstalled?)');
      if (error instanceof PlatformError && error.failure.class === 'PERMISSION_REVOKED')
        throw new CredentialsRejectedError('Scopes insufficient');
      throw error;
    }
  }

  const connector: OAuthConnector<ShopifyCredentials> = {
    kind: 'oauth',
    pkce: false,
    needsShop: true,
    scopes: shopifyScopes,
    authorizeUrl({ state, redirectUri, shop }) {
      const url = new URL(`${shopBase(requireShop(shop))}/admin/oauth/authorize`);
      url.searchParams.set('client_id', options.clientId);
      url.searchParams.set('scope', shopifyScopes.join(','));
      url.searchParams.set('redirect_uri', redirectUri);
      url.searchParams.set('state', state);
      return url.toString();
    },
    async completeConsent({ code, shop: shopInput, query }) {
      const shop = requireShop(shopInput);
      // Anyone can call the callback URL: only Shopify, which knows our secret, can sign its query.
      if (!verifyShopifyHmac(query, options.clientSecret))
        throw new PlatformError({
          class: 'INVALID_REQUEST',
          message: 'The Shopify callback is not signed by Shopify (hmac)',
        });
      if (query.shop !== `${shop}.myshopify.com`)
        throw new PlatformError({
          class: 'INVALID_REQUEST',
          message: `The Shopify callback is for another shop than ${shop}`,
        });
      if (query.code !== undefined && query.code !== code)
        throw new PlatformError({
          class: 'INVALID_REQUEST',
          message: 'The code is not the one Shopify signed',
        });

      const issued = await exchangeCode(shop, code);
      const scopes = (issued.scope ?? '')
        .split(',')
        .map((scope) => scope.trim())
        .filter(Boolean);
      if (!shopifyScopesCover(scopes, shopifyScopes))
        throw new CredentialsRejectedError('Scopes insufficient');
      const credentials: ShopifyCredentials = { accessToken: issued.access_token, shop, scopes };
      const accounts = await discover(credentials);
      // An offline token does not expire.
      return { credentials, expiresAt: null, accounts, grantedScopes: scopes };
    },
  };

  /** The articles under one handle (normally one: Shopify refuses a second under the same handle in a blog). */
  async function findArticles(credentials: ShopifyCredentials, handle: string, signal?: AbortSignal) {
    const found = await graphql(
      ArticleLookup,
      credentials,
      articleLookupQuery,
      { query: `handle:${handle}` },
      signal,
    );
    // Shopify's search is a search: only the exact handle is ours.
    return {
      shopName: found.shop.name,
      articles: found.articles.nodes.filter((article) => article.handle === handle),
    };
  }

  async function readArticle(credentials: ShopifyCredentials, id: string, signal?: AbortSignal) {
    return (await graphql(ArticleRead, credentials, articleQuery, { id }, signal)).article ?? null;
  }

  const handedOff = (credentials: ShopifyCredentials, article: ArticleNode): Published => ({
    externalId: article.id,
    // Where readers find it once it is visible (myshopify.com redirects to the shop's own domain).
    externalUrl: article.blog
      ? `${shopBase(credentials.shop)}/blogs/${article.blog.handle}/${article.handle}`
      : null,
  });

  async function handOff(context: HandOffContext<ShopifyCredentials>): Promise<Published> {
    if (context.channel !== 'shopify_article')
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: `Shopify takes hand-offs of blog articles only, not ${context.channel}`,
      });
    const parsed = contentSchemas.shopify_article.safeParse(context.content);
    if (!parsed.success)
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: 'The shopify_article content is not valid',
      });
    const content = parsed.data;
    const blog = context.account;
    if (blog?.kind !== 'shopify_blog')
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: "A Shopify article goes into a blog: choose one of the store's blogs as the task's account",
      });
    const { credentials, signal } = context;
    // An empty value is how progress forgets a key (it is merged, never replaced).
    const progress: ShopifyArticleProgress = Object.fromEntries(
      Object.entries(context.progress).filter(([, value]) => value !== ''),
    );
    const save = async (update: ShopifyArticleProgress) => {
      Object.assign(progress, update);
      await context.saveProgress(update as PublicationProgress);
    };
    /** Of the articles under our handle, the one in the task's blog. */
    const ours = (articles: ArticleNode[]) =>
      articles.find((article) => article.blog?.id === blog.externalId) ?? articles[0];

    if (progress.articleId) {
      const current = await readArticle(credentials, progress.articleId, signal);
      if (current) return handedOff(credentials, current);
      // Deleted since (in Shopify, or by a cancel whose answer was lost): this hand-off starts over, under
      // the same key and handle, which the deletion freed.
      await save({ articleId: '' });
      delete progress.articleId;
    }

    const handle = progress.articleHandle || articleHandle(content.title, context.handOffKey);
    const lookup = await findArticles(credentials, handle, signal);
    const existing = ours(lookup.articles);
    if (existing) {
      await save({ articleHandle: handle, articleId: existing.id });
      return handedOff(credentials, existing);
    }
    await save({ articleHandle: handle });

    // Scheduling on Shopify is a hidden article with a future publish date (Shopify refuses isPublished:
    // true with a future date: INVALID_PUBLISH_DATE); Shopify makes it visible at that date by itself. A time
    // too close for that (or past: a hand-off retried late) is waited for, then published: never early.
    const at = shopifyPublishDate(context.scheduledAt).getTime();
    const publishAtOnce = at - now().getTime() < scheduleLeadMs;
    if (publishAtOnce) await waitForInstant(at, context, now);
    await context.beforeGoingLive();
    // Not aborted by a cancellation: Shopify may apply a create whose connection we dropped, after the cancel
    // that follows has looked for it. Waiting for its answer (bounded by the request time-out) means either
    // this attempt records the article, or finds its schedule withdrawn and deletes it, or the cancel finds it.
    const created = await graphql(ArticleCreated, credentials, articleCreateMutation, {
      article: {
        blogId: blog.externalId,
        title: content.title,
        author: { name: content.authorName ?? (lookup.shopName.trim() || fallbackAuthor) },
        body: content.html,
        handle,
        ...(content.excerpt ? { summary: escapeHtml(content.excerpt) } : {}),
        ...(content.tags?.length ? { tags: content.tags } : {}),
        ...(publishAtOnce
          ? { isPublished: true }
          : { isPublished: false, publishDate: new Date(at).toISOString() }),
      },
    });
    const { article, userErrors } = created.articleCreate;
    if (article && userErrors.length === 0) {
      await save({ articleId: article.id });
      return handedOff(credentials, article);
    }
    if (userErrors.some((error) => error.code === 'TAKEN' && error.field?.at(-1) === 'handle')) {
      // The handle carries this hand-off's key: an earlier attempt created the article and lost the answer,
      // and the look-up above ran before Shopify's search index held it. Adopt it once the search shows it.
      const again = ours((await findArticles(credentials, handle, signal)).articles);
      if (again) {
        await save({ articleId: again.id });
        return handedOff(credentials, again);
      }
      throw new PlatformError({
        class: 'TRANSIENT',
        message: "Shopify holds this hand-off's article, which its search does not show yet; trying again",
        platformCode: 'TAKEN',
      });
    }
    throw new PlatformError(mapShopifyUserErrors(userErrors));
  }

  /** Deletes one article unless it is already visible; resolves once it can no longer go visible. */
  async function cancelArticle(credentials: ShopifyCredentials, id: string): Promise<void> {
    const current = await readArticle(credentials, id);
    if (!current) return;
    // Readers may have seen it: a cancel cannot take a published article back (the API answers 409).
    if (current.isPublished)
      throw new HandOffLockedError('The article is already published on the Shopify store', id);
    // Deleted rather than unpublished: `articleUpdate(isPublished: false)` on a scheduled article is not
    // documented to drop its publish date, and a hidden Glowtify copy would linger in the blog after every
    // reschedule (which re-creates under a new key). A deleted article cannot go visible, and reads as null.
    const deleted = await graphql(ArticleDeleted, credentials, articleDeleteMutation, { id });
    const { userErrors } = deleted.articleDelete;
    if (userErrors.length === 0 || userErrors.every((error) => error.code === 'NOT_FOUND')) return;
    throw new PlatformError(mapShopifyUserErrors(userErrors));
  }

  async function cancelHandOff(input: {
    externalId: string | null;
    handOffKey: string | null;
    credentials: ShopifyCredentials;
    progress: PublicationProgress;
    liveRequest?: { sentMsAgo: number; endedMsAgo: number | null } | null;
  }): Promise<void> {
    const progress = input.progress as ShopifyArticleProgress;
    const ids = [input.externalId || progress.articleId].filter((id): id is string => Boolean(id));
    // An article no answer named (created, then the answer was lost) carries the handle saved before the
    // create: the key alone cannot find it (the handle also holds the title), the saved handle can.
    if (progress.articleHandle) {
      const found = (await findArticles(input.credentials, progress.articleHandle)).articles;
      // Nothing found, no id known, and a create Shopify may have applied moments ago: its search may not
      // show that article yet, and one left behind would go visible at its date. Not "nothing there" until
      // the index has had its time after the last moment the create could have been applied (its attempt's
      // end, or, not known to have ended, its request time-out): the cancel is tried again then. The
      // transition's bound still holds: past it, the unschedule is refused and the epic stays scheduled.
      const live = input.liveRequest;
      if (ids.length === 0 && found.length === 0 && live) {
        const appliedAtLatestMsAgo =
          live.endedMsAgo !== null && live.endedMsAgo <= live.sentMsAgo
            ? live.endedMsAgo
            : live.sentMsAgo - requestTimeoutMs;
        if (appliedAtLatestMsAgo < searchSettleMs)
          throw new PlatformError({
            class: 'TRANSIENT',
            message: "Shopify's search may not show this hand-off's article yet",
            retryAfterMs: Math.ceil(searchSettleMs - appliedAtLatestMsAgo) + 250,
          });
      }
      for (const article of found) if (!ids.includes(article.id)) ids.push(article.id);
    }
    for (const id of ids) await cancelArticle(input.credentials, id);
  }

  /**
   * Where the article stands. One still hidden past its date once `overdue` was missed by Shopify's own
   * scheduler: it is published now, by our request — only if it is as we made it (dated for the epic's time,
   * never updated since: a merchant who changed or hid it decided otherwise).
   */
  async function handOffStatus(input: {
    externalId: string;
    credentials: ShopifyCredentials;
    overdue?: { scheduledAt: Date; mayGoLive(): Promise<boolean> };
  }): Promise<HandOffStatus> {
    const article = await readArticle(input.credentials, input.externalId);
    if (!article)
      return {
        state: 'failed',
        platformStatus: 'Not found',
        message: 'The article no longer exists in Shopify',
      };
    const publishedAt = article.publishedAt ? new Date(article.publishedAt) : null;
    if (article.isPublished && (!publishedAt || publishedAt.getTime() <= now().getTime()))
      return { state: 'sent', sentAt: publishedAt };
    // Hidden with no date: someone hid it in Shopify, and nothing will publish it.
    if (!publishedAt) return { state: 'cancelled', platformStatus: 'Hidden' };
    const overdue = input.overdue;
    const asWeMadeIt =
      overdue !== undefined &&
      publishedAt.getTime() === shopifyPublishDate(overdue.scheduledAt).getTime() &&
      article.updatedAt != null &&
      article.updatedAt === article.createdAt;
    if (asWeMadeIt && publishedAt.getTime() <= now().getTime() && (await overdue.mayGoLive())) {
      const madeVisibleAt = now();
      const updated = await graphql(ArticleUpdated, input.credentials, articleUpdateMutation, {
        id: article.id,
        article: { isPublished: true },
      });
      const { article: after, userErrors } = updated.articleUpdate;
      if (userErrors.length > 0) throw new PlatformError(mapShopifyUserErrors(userErrors));
      if (after?.isPublished) return { state: 'sent', sentAt: madeVisibleAt };
    }
    return { state: 'pending', platformStatus: `Scheduled for ${publishedAt.toISOString()}` };
  }

  async function readSeo(
    credentials: ShopifyCredentials,
    resource: SeoResource,
    signal?: AbortSignal,
  ): Promise<ShopifySeo | null> {
    const variables = { id: resource.id };
    const node =
      resource.type === 'product'
        ? (await graphql(ProductSeo, credentials, productSeoQuery, variables, signal)).product
        : (await graphql(CollectionSeo, credentials, collectionSeoQuery, variables, signal)).collection;
    return node?.seo ?? null;
  }

  /** One productUpdate / collectionUpdate of the SEO alone; resolves with the userErrors (none: done). */
  async function writeSeo(
    credentials: ShopifyCredentials,
    resource: SeoResource,
    seo: { title: string; description: string },
  ): Promise<PlainUserErrors> {
    const input = { id: resource.id, seo };
    return resource.type === 'product'
      ? (await graphql(ProductSeoUpdated, credentials, productSeoMutation, { product: input })).productUpdate
          .userErrors
      : (await graphql(CollectionSeoUpdated, credentials, collectionSeoMutation, { collection: input }))
          .collectionUpdate.userErrors;
  }

  /** Where the merchant sees the product or collection in Shopify's admin. */
  const adminUrl = (shop: string, resource: SeoResource) =>
    `https://admin.shopify.com/store/${shop}/${resource.type === 'product' ? 'products' : 'collections'}/${resource.id.slice(resource.id.lastIndexOf('/') + 1)}`;

  /**
   * shopify_product_seo at the time: the resource's SEO is read and kept (see previousSeoKey), then one update
   * sets the new values. The update sets values rather than adding anything, so a retry after a lost answer
   * changes nothing twice; a retry that reads the new values back does not even send it again.
   */
  async function publish(context: PublicationContext<ShopifyCredentials>): Promise<Published> {
    if (context.channel !== 'shopify_product_seo')
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: `Shopify publishes product and collection SEO, not ${context.channel}`,
      });
    const parsed = contentSchemas.shopify_product_seo.safeParse(context.content);
    if (!parsed.success)
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: `The shopify_product_seo content is not valid: ${parsed.error.issues[0]?.message}`,
      });
    const { resource, seoTitle, seoDescription } = parsed.data;
    const { credentials, signal } = context;
    const store = context.account;
    if (store?.kind !== 'shopify_store' || store.externalId !== `${credentials.shop}.myshopify.com`)
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: `A product's or collection's SEO is changed in its store: choose the store (${credentials.shop}.myshopify.com) as the task's account`,
      });
    const published: Published = {
      externalId: resource.id,
      externalUrl: adminUrl(credentials.shop, resource),
    };

    const current = await readSeo(credentials, resource, signal);
    if (!current)
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: `The Shopify ${resource.type} ${resource.id} does not exist in ${credentials.shop}.myshopify.com (deleted?): choose another`,
      });
    const updateSent = Boolean(context.progress[seoUpdateSentKey(resource.id)]);
    if (!updateSent) {
      // An attempt Temporal has given up on must not save what it read after a newer attempt's update.
      signal?.throwIfAborted();
      await context.saveProgress({ [previousSeoKey(resource.id)]: JSON.stringify(current) });
    } else if (current.title === seoTitle && current.description === seoDescription) {
      // The update of an earlier attempt went through and only its answer was lost.
      return published;
    }

    await context.beforeGoingLive();
    if (!updateSent) await context.saveProgress({ [seoUpdateSentKey(resource.id)]: now().toISOString() });
    // Not aborted once sent: Shopify may apply an update whose connection we dropped; its answer (bounded by
    // the request time-out) tells whether it did.
    const refused = await writeSeo(credentials, resource, { title: seoTitle, description: seoDescription });
    if (refused.length > 0) throw new PlatformError(mapShopifySeoUserErrors(refused, resource));
    return published;
  }

  return {
    platform: 'shopify',
    connector,
    verifyCredentials,
    publish,
    handOff,
    cancelHandOff,
    handOffStatus,

    async sync({ credentials, account }): Promise<SyncResult> {
      if (account.kind !== 'shopify_store' || account.externalId !== `${credentials.shop}.myshopify.com`) {
        throw new PlatformError({
          class: 'INVALID_REQUEST',
          message: `Shopify syncs its store (${credentials.shop}.myshopify.com), not ${account.kind} ${account.externalId}`,
        });
      }
      let itemsRead = 0;
      let after: string | null = null;
      for (let page = 0; page < maxPages; page += 1) {
        const answer: { data: z.infer<typeof Products>; cost: QueryCost | null } = await graphqlWithCost(
          Products,
          credentials,
          productsQuery,
          { after },
        );
        const { data, cost } = answer;
        itemsRead += data.products.nodes.length;
        const { hasNextPage, endCursor } = data.products.pageInfo;
        if (!hasNextPage || !endCursor) return { itemsRead };
        after = endCursor;
        // Shopify's advice: pace by the bucket it reports rather than run into THROTTLED. Without pacing, a
        // store larger than the bucket would be throttled mid-way on every attempt and never finish.
        const bucket = cost?.throttleStatus;
        const nextCost = cost?.requestedQueryCost;
        if (bucket && nextCost && bucket.restoreRate > 0 && bucket.currentlyAvailable < nextCost) {
          const waitMs = Math.ceil(((nextCost - bucket.currentlyAvailable) / bucket.restoreRate) * 1000);
          await sleep(Math.min(waitMs, maxPacingMs));
        }
      }
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: `Shopify's product list did not end after ${maxPages} pages`,
      });
    },
  };
}
