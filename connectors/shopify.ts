// Shopify adapter: the OAuth install of one shop (signed callback checked, offline token, granted scopes
// checked), discovery of the store and its blogs, the credential check, and the data sync that counts the
// store's products through the Admin GraphQL API. Publishing (articles, SEO) is not part of it yet.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { setTimeout as wait } from 'node:timers/promises';
import { z } from 'zod';
import { platformDescriptors } from '../domain/platforms.ts';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { createSender, parseRetryAfter, type RequestBody, redact } from './http.ts';
import type { DiscoveredAccount, OAuthConnector, PlatformAdapter, SyncResult } from './types.ts';
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
}

export type ShopifyAdapter = PlatformAdapter<ShopifyCredentials> &
  Required<Pick<PlatformAdapter<ShopifyCredentials>, 'verifyCredentials' | 'sync'>> & {
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

export function createShopifyAdapter(options: ShopifyAdapterOptions): ShopifyAdapter {
  if (!options.shopBaseUrl.includes('{shop}'))
    throw new Error('shopBaseUrl must hold {shop}, e.g. https://{shop}.myshopify.com');
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const sleep = options.sleep ?? ((ms: number) => wait(ms));
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
  ) =>
    transport({
      method: 'POST',
      url,
      headers: { accept: 'application/json', ...headers },
      body,
      secrets: [options.clientSecret, ...secrets],
    });

  async function graphql<T>(
    schema: z.ZodType<T>,
    credentials: Pick<ShopifyCredentials, 'accessToken' | 'shop'>,
    query: string,
    variables: Record<string, unknown> = {},
  ): Promise<T> {
    return (await graphqlWithCost(schema, credentials, query, variables)).data;
  }

  /** One GraphQL call; also gives the query's cost and the bucket after it, for pacing the next call. */
  async function graphqlWithCost<T>(
    schema: z.ZodType<T>,
    credentials: Pick<ShopifyCredentials, 'accessToken' | 'shop'>,
    query: string,
    variables: Record<string, unknown> = {},
  ): Promise<{ data: T; cost: QueryCost | null }> {
    const secrets = [credentials.accessToken];
    const answer = await send(
      `${shopBase(credentials.shop)}/admin/api/${shopifyApiVersion}/graphql.json`,
      { 'x-shopify-access-token': credentials.accessToken },
      { graphql: query, variables },
      secrets,
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

  return {
    platform: 'shopify',
    connector,
    verifyCredentials,

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
