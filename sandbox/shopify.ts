// Shopify simulator (tests and `npm run demo`): one loopback server playing every shop it knows under
// `/shops/{shop}` (the adapter's template is http://127.0.0.1:PORT/shops/{shop}): the install page (a redirect
// signed with `hmac`), the access-token endpoint, and the Admin GraphQL API (2026-10) for the fields Glowtify
// reads, the article mutations it sends and the SEO of products and collections (`productUpdate`,
// `collectionUpdate`), with Shopify's query costs, its leaky bucket, variable coercion, userErrors, THROTTLED
// and ACCESS_DENIED answers, in its shapes. A scheduled article (hidden, with a future publish date) becomes
// visible once that date has passed by the simulator's clock.
import { createHmac, randomBytes } from 'node:crypto';
import {
  type FailureMatch,
  type RecordedRequest,
  type SimulatorResponse,
  type SimulatorServer,
  startSimulatorServer,
} from './simulator-server.ts';

// Its own copy on purpose: an adapter that drifts to another version must fail against the simulator.
const simulatedVersion = '2026-10';
const codeLifetimeMs = 10 * 60 * 1000;
const maxPageSize = 250;
const maxQueryCost = 1000;
const knownScopes = new Set(
  [
    'content',
    'products',
    'orders',
    'customers',
    'themes',
    'online_store_pages',
    'inventory',
    'files',
  ].flatMap((resource) => [`read_${resource}`, `write_${resource}`]),
);

export const shopifySandboxClientId = 'glowtify-sandbox-shopify-app';
export const shopifySandboxClientSecret = 'shpss_glowtify_sandbox_secret';

export interface ShopifySimulatorShop {
  /** The subdomain: `glow-beauty` for glow-beauty.myshopify.com. */
  shop: string;
  name: string;
  blogs?: { title: string; id?: string }[];
  /** The store's products, or how many (titled "Product n", with no SEO of their own). */
  products?: number | ShopifySimulatorResource[];
  /** The store's collections. */
  collections?: ShopifySimulatorResource[];
}

/** A product or collection as a test sets it up: the search engine listing the merchant wrote, if any. */
export interface ShopifySimulatorResource {
  title: string;
  /** A global id of its kind (`gid://shopify/Product/…`); default: one the simulator numbers. */
  id?: string;
  seo?: { title?: string | null; description?: string | null };
}

export interface ShopifySimulatorOptions {
  port?: number;
  clientId?: string;
  clientSecret?: string;
  shops?: ShopifySimulatorShop[];
  /** What the merchant grants at install; default: every scope asked for. */
  grantScopes?: string[];
  /** The app's cost bucket per shop (Shopify's standard plans: 2,000 points refilled at 100 a second). */
  throttle?: { maximumAvailable: number; restoreRate: number };
  /** The simulator's clock: codes, `timestamp`, the bucket's refill and articles going visible follow it. */
  now?: () => Date;
  /** How long a new article stays out of `articles(query:)` results (Shopify's search index lags); default 0. */
  searchIndexDelayMs?: number;
  /**
   * The longest SEO title and description an update may set. (unconfirmed) Shopify's admin stops the search
   * engine listing at 70 and 320 characters; the API's own limits are not documented: the defaults.
   */
  seoLimits?: { title: number; description: number };
}

/** A product's or collection's search engine listing; null: none of its own (Shopify shows the title). */
export interface SimulatedSeo {
  title: string | null;
  description: string | null;
}

/** A product or collection as a test reads it (deleted ones too). */
export interface SimulatedSeoResource {
  id: string;
  shop: string;
  title: string;
  seo: SimulatedSeo;
  /** Every change of its SEO, oldest first: an update that sets the values it already has is not one. */
  seoChanges: (SimulatedSeo & { at: Date })[];
  deleted: boolean;
}

/** An article as a test reads it (deleted ones too, with `deletedAt`). */
export interface SimulatedArticle {
  id: string;
  shop: string;
  blogId: string;
  title: string;
  handle: string;
  body: string;
  summary: string | null;
  tags: string[];
  authorName: string;
  /** When it becomes or became visible; null: hidden. */
  publishedAt: Date | null;
  /** Visible on the storefront now, by the simulator's clock. */
  visible: boolean;
  createdAt: Date;
  deletedAt: Date | null;
}

/**
 * A throttle failure carries the bucket it reports: what is left of it, how fast it refills, and what the
 * refused request would have cost (a products page 102, a mutation 10).
 */
export type ShopifyFailureRule = FailureMatch & {
  currentlyAvailable?: number;
  restoreRate?: number;
  requestedQueryCost?: number;
  /** ACCESS_DENIED: the field refused and the scope it names (default `products`, `read_products`). */
  deniedField?: string;
  requiredAccess?: string;
};

export type ShopifyFailureKind =
  | 'transient'
  | 'unauthorized'
  | 'throttled'
  | 'throttled_429'
  | 'access_denied';

export type ShopifySimulator = SimulatorServer & {
  /** What the next installs grant (null: every scope asked for). */
  grantScopes: string[] | null;
  /** The next merchant does not install: the install page answers, and nothing comes back to the app. */
  denyNextConsent(): void;
  /** The app was uninstalled: every token issued so far (for `shop`, or every shop) answers 401. */
  revokeTokens(shop?: string): void;
  /** Every article created, in creation order. */
  articles(): SimulatedArticle[];
  /** Every product, with its SEO and the changes made to it. */
  products(): SimulatedSeoResource[];
  /** Every collection, likewise. */
  collections(): SimulatedSeoResource[];
  /** The merchant edits a product's or collection's search engine listing in Shopify's admin. */
  setSeo(id: string, seo: Partial<SimulatedSeo>): void;
  /** The merchant deletes a product or collection. */
  deleteResource(id: string): void;
  /** The merchant makes the article visible now, in Shopify's admin. */
  publishArticleNow(id: string): void;
  /**
   * The merchant hides the article in Shopify's admin (no date: it will not go visible by itself), or with
   * `keepDate`, hides it keeping its date (how Shopify then treats a scheduled article is unconfirmed).
   */
  hideArticle(id: string, options?: { keepDate?: boolean }): void;
  /** Shopify's scheduler misses its dates (true) or catches up (false): scheduled articles stay hidden past them. */
  stallScheduler(stalled: boolean): void;
  /** How long a new article stays out of search results from now on. */
  setSearchIndexDelay(ms: number): void;
  /** Makes the next matching requests fail the way Shopify fails them (its status and body). */
  failWith(kind: ShopifyFailureKind, rule: ShopifyFailureRule): void;
};

/** Signs a callback query as Shopify does (hex HMAC-SHA256 of the sorted, form-encoded rest); tests tamper with it. */
export function signShopifyQuery(
  query: Record<string, string>,
  clientSecret: string,
): Record<string, string> {
  const { hmac: _old, signature: _signature, ...rest } = query;
  const message = new URLSearchParams(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { ...rest, hmac: createHmac('sha256', clientSecret).update(message.toString()).digest('hex') };
}

/** Shopify omits a read scope from the granted list when its write scope is granted. */
function compressScopes(scopes: string[]): string[] {
  return scopes.filter(
    (scope) => !(scope.startsWith('read_') && scopes.includes(`write_${scope.slice('read_'.length)}`)),
  );
}

function covers(granted: string[], scope: string): boolean {
  return granted.includes(scope) || granted.includes(scope.replace(/^read_/, 'write_'));
}

// ——— A small GraphQL reader: the query language subset the adapter and tests use ———

type Value =
  | { kind: 'variable'; name: string }
  | { kind: 'literal'; value: unknown }
  | { kind: 'object'; fields: Record<string, Value> }
  | { kind: 'list'; items: Value[] };

interface Field {
  name: string;
  alias: string;
  args: Record<string, Value>;
  selections: Field[] | null;
  line: number;
  column: number;
}

interface VariableDefinition {
  /** As written, e.g. `ArticleCreateInput!`. */
  type: string;
  line: number;
  column: number;
}

interface Operation {
  kind: 'query' | 'mutation';
  variables: Map<string, VariableDefinition>;
  selections: Field[];
}

class GraphQLSyntaxError extends Error {}

interface Token {
  text: string;
  line: number;
  column: number;
}

const tokenPattern =
  /[\s,]+|#[^\n]*|(\.\.\.|[{}():!$[\]=@]|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|"(?:[^"\\\n]|\\.)*"|[_A-Za-z][_0-9A-Za-z]*)/y;

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  tokenPattern.lastIndex = 0;
  while (tokenPattern.lastIndex < source.length) {
    const at = tokenPattern.lastIndex;
    const match = tokenPattern.exec(source);
    const before = source.slice(0, at);
    const line = before.split('\n').length;
    const column = at - before.lastIndexOf('\n');
    if (!match) throw new GraphQLSyntaxError(`Parse error on "${source[at]}" at [${line}, ${column}]`);
    if (match[1]) tokens.push({ text: match[1], line, column });
  }
  return tokens;
}

function parseOperation(source: string): Operation {
  const tokens = tokenize(source);
  let index = 0;
  const peek = () => tokens[index]?.text;
  const next = () => {
    const token = tokens[index++];
    if (!token) throw new GraphQLSyntaxError('Parse error on end of query: unexpected end of document');
    return token;
  };
  const expect = (text: string) => {
    const token = next();
    if (token.text !== text)
      throw new GraphQLSyntaxError(
        `Parse error on "${token.text}" at [${token.line}, ${token.column}]: expected ${text}`,
      );
  };
  const name = () => {
    const token = next();
    if (!/^[_A-Za-z]/.test(token.text))
      throw new GraphQLSyntaxError(`Parse error on "${token.text}" at [${token.line}, ${token.column}]`);
    return token;
  };
  const parseType = (): string => {
    let type: string;
    if (peek() === '[') {
      next();
      type = `[${parseType()}]`;
      expect(']');
    } else type = name().text;
    if (peek() === '!') {
      next();
      type += '!';
    }
    return type;
  };
  const parseValue = (): Value => {
    const token = next();
    if (token.text === '$') return { kind: 'variable', name: name().text };
    if (token.text === '[') {
      const items: Value[] = [];
      while (peek() !== ']') items.push(parseValue());
      next();
      return { kind: 'list', items };
    }
    if (token.text === '{') {
      const fields: Record<string, Value> = {};
      while (peek() !== '}') {
        const field = name().text;
        expect(':');
        fields[field] = parseValue();
      }
      next();
      return { kind: 'object', fields };
    }
    if (token.text.startsWith('"')) return { kind: 'literal', value: JSON.parse(token.text) };
    if (/^-?\d/.test(token.text)) return { kind: 'literal', value: Number(token.text) };
    if (token.text === 'true' || token.text === 'false')
      return { kind: 'literal', value: token.text === 'true' };
    if (token.text === 'null') return { kind: 'literal', value: null };
    if (/^[_A-Za-z]/.test(token.text)) return { kind: 'literal', value: token.text };
    throw new GraphQLSyntaxError(`Parse error on "${token.text}" at [${token.line}, ${token.column}]`);
  };
  const parseSelections = (): Field[] => {
    expect('{');
    const fields: Field[] = [];
    while (peek() !== '}') {
      if (peek() === '...')
        throw new GraphQLSyntaxError('Fragments are not supported by the simulator (Shopify takes them)');
      const first = name();
      let fieldName = first.text;
      const alias = first.text;
      if (peek() === ':') {
        next();
        fieldName = name().text;
      }
      const args: Record<string, Value> = {};
      if (peek() === '(') {
        next();
        while (peek() !== ')') {
          const argument = name().text;
          expect(':');
          args[argument] = parseValue();
        }
        next();
      }
      const selections = peek() === '{' ? parseSelections() : null;
      fields.push({ name: fieldName, alias, args, selections, line: first.line, column: first.column });
    }
    next();
    if (fields.length === 0)
      throw new GraphQLSyntaxError('Parse error on "}": a selection set cannot be empty');
    return fields;
  };

  const variables = new Map<string, VariableDefinition>();
  let kind: Operation['kind'] = 'query';
  if (peek() !== '{') {
    const keyword = name();
    if (keyword.text !== 'query' && keyword.text !== 'mutation')
      throw new GraphQLSyntaxError(
        `Parse error on "${keyword.text}": only queries and mutations are simulated`,
      );
    kind = keyword.text;
    if (peek() !== '(' && peek() !== '{') name();
    if (peek() === '(') {
      next();
      while (peek() !== ')') {
        expect('$');
        const variable = name();
        expect(':');
        variables.set(variable.text, {
          type: parseType(),
          line: variable.line,
          column: variable.column,
        });
        if (peek() === '=') {
          next();
          parseValue();
        }
      }
      next();
    }
  }
  const selections = parseSelections();
  if (index < tokens.length) {
    const extra = tokens[index]!;
    throw new GraphQLSyntaxError(`Parse error on "${extra.text}" at [${extra.line}, ${extra.column}]`);
  }
  return { kind, variables, selections };
}

/** An argument's value with the request's variables put in. */
function resolveValue(value: Value, variables: Record<string, unknown>): unknown {
  if (value.kind === 'variable') return variables[value.name];
  if (value.kind === 'literal') return value.value;
  if (value.kind === 'list') return value.items.map((item) => resolveValue(item, variables));
  return Object.fromEntries(
    Object.entries(value.fields).map(([key, item]) => [key, resolveValue(item, variables)]),
  );
}

// ——— The schema subset ———

type FieldType =
  | { kind: 'scalar' }
  /** `args`: each argument's type as written in Shopify's schema (`ID!`); `needs`: the scope it takes. */
  | { kind: 'object'; of: string; needs?: string; args?: Record<string, string> }
  | { kind: 'list'; of: string }
  | { kind: 'connection'; of: string; needs?: string };

/** Fields that hold a value: the schema subset needs no more of their type than that. */
const scalars = (...names: string[]): Record<string, FieldType> =>
  Object.fromEntries(names.map((name) => [name, { kind: 'scalar' }]));

const userError = scalars('field', 'message', 'code');
const schema: Record<string, Record<string, FieldType>> = {
  QueryRoot: {
    shop: { kind: 'object', of: 'Shop' },
    blogs: { kind: 'connection', of: 'Blog', needs: 'read_content' },
    products: { kind: 'connection', of: 'Product', needs: 'read_products' },
    product: { kind: 'object', of: 'Product', needs: 'read_products', args: { id: 'ID!' } },
    collection: { kind: 'object', of: 'Collection', needs: 'read_products', args: { id: 'ID!' } },
    article: { kind: 'object', of: 'Article', needs: 'read_content', args: { id: 'ID!' } },
    articles: { kind: 'connection', of: 'Article', needs: 'read_content' },
  },
  Mutation: {
    // `blog:` (a blog created with the article) is left out: Glowtify writes into blogs that exist.
    articleCreate: {
      kind: 'object',
      of: 'ArticleCreatePayload',
      needs: 'write_content',
      args: { article: 'ArticleCreateInput!' },
    },
    articleUpdate: {
      kind: 'object',
      of: 'ArticleUpdatePayload',
      needs: 'write_content',
      args: { id: 'ID!', article: 'ArticleUpdateInput!' },
    },
    articleDelete: {
      kind: 'object',
      of: 'ArticleDeletePayload',
      needs: 'write_content',
      args: { id: 'ID!' },
    },
    // Left out: productUpdate's `input:` (deprecated since 2024-10) and `media:`, and collectionUpdate's
    // `input:` of the versions before 2026-07. A drift back to `input:` fails here.
    productUpdate: {
      kind: 'object',
      of: 'ProductUpdatePayload',
      needs: 'write_products',
      args: { product: 'ProductUpdateInput' },
    },
    collectionUpdate: {
      kind: 'object',
      of: 'CollectionUpdatePayload',
      needs: 'write_products',
      args: { collection: 'CollectionUpdateInput' },
    },
  },
  Shop: scalars('id', 'name', 'myshopifyDomain', 'email', 'currencyCode', 'url'),
  Blog: scalars('id', 'title', 'handle'),
  Product: { ...scalars('id', 'title', 'handle', 'status', 'updatedAt'), seo: { kind: 'object', of: 'SEO' } },
  Collection: { ...scalars('id', 'title', 'handle', 'updatedAt'), seo: { kind: 'object', of: 'SEO' } },
  SEO: scalars('title', 'description'),
  Article: {
    ...scalars(
      'id',
      'title',
      'handle',
      'body',
      'summary',
      'tags',
      'templateSuffix',
      'isPublished',
      'publishedAt',
      'createdAt',
      'updatedAt',
    ),
    author: { kind: 'object', of: 'ArticleAuthor' },
    blog: { kind: 'object', of: 'Blog' },
  },
  ArticleAuthor: scalars('name'),
  ArticleCreatePayload: {
    article: { kind: 'object', of: 'Article' },
    userErrors: { kind: 'list', of: 'ArticleCreateUserError' },
  },
  ArticleUpdatePayload: {
    article: { kind: 'object', of: 'Article' },
    userErrors: { kind: 'list', of: 'ArticleUpdateUserError' },
  },
  ArticleDeletePayload: {
    ...scalars('deletedArticleId'),
    userErrors: { kind: 'list', of: 'ArticleDeleteUserError' },
  },
  ArticleCreateUserError: userError,
  ArticleUpdateUserError: userError,
  ArticleDeleteUserError: userError,
  // productUpdate and collectionUpdate answer with the plain UserError, which has no `code`.
  ProductUpdatePayload: {
    product: { kind: 'object', of: 'Product' },
    userErrors: { kind: 'list', of: 'UserError' },
  },
  CollectionUpdatePayload: {
    collection: { kind: 'object', of: 'Collection' },
    job: { kind: 'object', of: 'Job' },
    userErrors: { kind: 'list', of: 'UserError' },
  },
  Job: scalars('id', 'done'),
  UserError: scalars('field', 'message'),
  PageInfo: scalars('hasNextPage', 'hasPreviousPage', 'startCursor', 'endCursor'),
};
const connectionArgs = new Set(['first', 'after', 'last', 'before', 'query', 'sortKey', 'reverse']);

/** The input objects of the fields above, each field's type as in Shopify's schema (2026-10). */
const inputTypes: Record<string, Record<string, string>> = {
  ArticleCreateInput: {
    author: 'AuthorInput!',
    blogId: 'ID',
    body: 'HTML',
    handle: 'String',
    image: 'ArticleImageInput',
    isPublished: 'Boolean',
    metafields: '[MetafieldInput!]',
    publishDate: 'DateTime',
    summary: 'HTML',
    tags: '[String!]',
    templateSuffix: 'String',
    title: 'String!',
  },
  ArticleUpdateInput: {
    author: 'AuthorInput',
    blogId: 'ID',
    body: 'HTML',
    handle: 'String',
    image: 'ArticleImageInput',
    isPublished: 'Boolean',
    metafields: '[MetafieldInput!]',
    publishDate: 'DateTime',
    redirectNewHandle: 'Boolean',
    summary: 'HTML',
    tags: '[String!]',
    templateSuffix: 'String',
    title: 'String',
  },
  // Their SEO and the plain fields beside it; Glowtify sends `id` and `seo` only.
  ProductUpdateInput: {
    id: 'ID',
    title: 'String',
    descriptionHtml: 'String',
    handle: 'String',
    seo: 'SEOInput',
    productType: 'String',
    vendor: 'String',
    tags: '[String!]',
    templateSuffix: 'String',
    redirectNewHandle: 'Boolean',
    metafields: '[MetafieldInput!]',
  },
  // (unconfirmed) which of its fields are required: the adapter always sends `id`.
  CollectionUpdateInput: {
    id: 'ID',
    title: 'String',
    descriptionHtml: 'String',
    handle: 'String',
    seo: 'SEOInput',
    templateSuffix: 'String',
    redirectNewHandle: 'Boolean',
    metafields: '[MetafieldInput!]',
  },
  SEOInput: { title: 'String', description: 'String' },
  AuthorInput: { name: 'String', userId: 'ID' },
  ArticleImageInput: { altText: 'String', url: 'String' },
  MetafieldInput: { id: 'ID', namespace: 'String', key: 'String', value: 'String', type: 'String' },
};
const scalarTypes = new Set(['String', 'ID', 'HTML', 'DateTime', 'Boolean', 'Int', 'URL']);
const isoDateTime = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

interface InputProblem {
  path: (string | number)[];
  explanation: string;
}

/** GraphQL input coercion of one value against a type as written (`[String!]`, `ArticleCreateInput!`). */
function coerceInput(type: string, value: unknown, path: (string | number)[] = []): InputProblem[] {
  const nonNull = type.endsWith('!');
  const base = nonNull ? type.slice(0, -1) : type;
  if (value === null || value === undefined)
    return nonNull ? [{ path, explanation: 'Expected value to not be null' }] : [];
  if (base.startsWith('[')) {
    const item = base.slice(1, -1);
    // A single value where a list is expected counts as a list of one (GraphQL input coercion).
    return Array.isArray(value)
      ? value.flatMap((entry, index) => coerceInput(item, entry, [...path, index]))
      : coerceInput(item, value, path);
  }
  const couldNot = [{ path, explanation: `Could not coerce value ${JSON.stringify(value)} to ${base}` }];
  const fields = inputTypes[base];
  if (fields) {
    if (typeof value !== 'object' || Array.isArray(value)) return couldNot;
    const given = value as Record<string, unknown>;
    return [
      ...Object.keys(given)
        .filter((key) => !(key in fields))
        .map((key) => ({ path: [...path, key], explanation: `Field is not defined on ${base}` })),
      ...Object.entries(fields).flatMap(([key, fieldType]) =>
        coerceInput(fieldType, given[key], [...path, key]),
      ),
    ];
  }
  const fits =
    base === 'Boolean'
      ? typeof value === 'boolean'
      : base === 'Int'
        ? Number.isInteger(value)
        : base === 'ID'
          ? typeof value === 'string' || Number.isInteger(value)
          : base === 'DateTime'
            ? typeof value === 'string' && isoDateTime.test(value) && !Number.isNaN(Date.parse(value))
            : typeof value === 'string';
  return fits ? [] : couldNot;
}

const knownInputType = (type: string) => {
  const base = type.replace(/[[\]!]/g, '');
  return scalarTypes.has(base) || base in inputTypes;
};

/** A variable fits an argument when the types match, or a non-null variable fills a nullable argument. */
const variableFits = (declared: string, expected: string) =>
  declared === expected || declared === `${expected}!`;

interface GraphQLErrorShape {
  message: string;
  locations?: { line: number; column: number }[];
  path?: (string | number)[];
  extensions?: Record<string, unknown>;
}

const at = (field: Field) => [{ line: field.line, column: field.column }];

/** Static checks, as Shopify's validation does before running anything. */
function validate(
  fields: Field[],
  typeName: string,
  path: string[],
  variables: Map<string, VariableDefinition>,
  errors: GraphQLErrorShape[],
  used: Set<string>,
) {
  const type = schema[typeName] ?? {};
  for (const field of fields) {
    const fieldType = type[field.name];
    const fieldPath = [...path, field.alias];
    if (!fieldType) {
      errors.push({
        message: `Field '${field.name}' doesn't exist on type '${typeName}'`,
        locations: at(field),
        path: fieldPath,
        extensions: { code: 'undefinedField', typeName, fieldName: field.name },
      });
      continue;
    }
    for (const value of Object.values(field.args)) {
      for (const name of variablesIn(value)) {
        used.add(name);
        if (!variables.has(name))
          errors.push({
            message: `Variable $${name} is used by anonymous query but not declared`,
            locations: at(field),
            path: fieldPath,
            extensions: { code: 'variableNotDefined', variableName: name },
          });
      }
    }
    if (fieldType.kind === 'scalar') {
      if (field.selections)
        errors.push({
          message: `Selections can't be made on scalars (field '${field.name}' returns String but has selections)`,
          locations: at(field),
          path: fieldPath,
          extensions: { code: 'selectionMismatch', nodeName: `field '${field.name}'`, typeName: 'String' },
        });
      if (Object.keys(field.args).length > 0)
        errors.push(notAccepted(field, fieldPath, Object.keys(field.args)[0]!));
      continue;
    }
    if (!field.selections) {
      errors.push({
        message: `Field must have selections (field '${field.name}' returns ${fieldType.of} but has no selections)`,
        locations: at(field),
        path: fieldPath,
        extensions: { code: 'selectionMismatch', nodeName: `field '${field.name}'`, typeName: fieldType.of },
      });
      continue;
    }
    if (fieldType.kind === 'object' || fieldType.kind === 'list') {
      const specs = fieldType.kind === 'object' ? (fieldType.args ?? {}) : {};
      validateArguments(field, fieldPath, specs, variables, errors);
      validate(field.selections, fieldType.of, fieldPath, variables, errors, used);
      continue;
    }
    for (const argument of Object.keys(field.args)) {
      if (!connectionArgs.has(argument)) errors.push(notAccepted(field, fieldPath, argument));
    }
    for (const sub of field.selections) {
      const subPath = [...fieldPath, sub.alias];
      if ((sub.name === 'nodes' || sub.name === 'pageInfo' || sub.name === 'edges') && !sub.selections)
        errors.push({
          message: `Field must have selections (field '${sub.name}' returns an object but has no selections)`,
          locations: at(sub),
          path: subPath,
          extensions: { code: 'selectionMismatch', nodeName: `field '${sub.name}'` },
        });
      else if (sub.name === 'nodes' && sub.selections)
        validate(sub.selections, fieldType.of, subPath, variables, errors, used);
      else if (sub.name === 'pageInfo' && sub.selections)
        validate(sub.selections, 'PageInfo', subPath, variables, errors, used);
      else if (sub.name === 'edges' && sub.selections) {
        for (const edgeField of sub.selections) {
          if (edgeField.name === 'cursor' && !edgeField.selections) continue;
          if (edgeField.name === 'node' && edgeField.selections)
            validate(
              edgeField.selections,
              fieldType.of,
              [...subPath, edgeField.alias],
              variables,
              errors,
              used,
            );
          else
            errors.push({
              message: `Field '${edgeField.name}' doesn't exist on type '${fieldType.of}Edge'`,
              locations: at(edgeField),
              path: [...subPath, edgeField.alias],
              extensions: {
                code: 'undefinedField',
                typeName: `${fieldType.of}Edge`,
                fieldName: edgeField.name,
              },
            });
        }
      } else
        errors.push({
          message: `Field '${sub.name}' doesn't exist on type '${fieldType.of}Connection'`,
          locations: at(sub),
          path: subPath,
          extensions: { code: 'undefinedField', typeName: `${fieldType.of}Connection`, fieldName: sub.name },
        });
    }
  }
}

function variablesIn(value: Value): string[] {
  if (value.kind === 'variable') return [value.name];
  if (value.kind === 'list') return value.items.flatMap(variablesIn);
  if (value.kind === 'object') return Object.values(value.fields).flatMap(variablesIn);
  return [];
}

function notAccepted(field: Field, path: string[], argument: string): GraphQLErrorShape {
  return {
    message: `Field '${field.name}' doesn't accept argument '${argument}'`,
    locations: at(field),
    path,
    extensions: { code: 'argumentNotAccepted', name: field.name, typeName: 'Field', argumentName: argument },
  };
}

/** Arguments of an object field: known, required ones given, variables of the argument's type, literals valid. */
function validateArguments(
  field: Field,
  path: string[],
  specs: Record<string, string>,
  variables: Map<string, VariableDefinition>,
  errors: GraphQLErrorShape[],
) {
  for (const argument of Object.keys(field.args))
    if (!(argument in specs)) errors.push(notAccepted(field, path, argument));
  const missing = Object.entries(specs)
    .filter(([argument, type]) => type.endsWith('!') && !(argument in field.args))
    .map(([argument]) => argument);
  if (missing.length > 0)
    errors.push({
      message: `Field '${field.name}' is missing required arguments: ${missing.join(', ')}`,
      locations: at(field),
      path,
      extensions: {
        code: 'missingRequiredArguments',
        className: 'Field',
        name: field.name,
        arguments: missing.join(', '),
      },
    });
  for (const [argument, value] of Object.entries(field.args)) {
    const expected = specs[argument];
    if (!expected) continue;
    if (value.kind === 'variable') {
      const declared = variables.get(value.name)?.type;
      if (declared && !variableFits(declared, expected))
        errors.push({
          message: `Type mismatch on variable $${value.name} and argument ${argument} (${declared} / ${expected})`,
          locations: at(field),
          path: [...path, argument],
          extensions: {
            code: 'variableMismatch',
            variableName: value.name,
            typeName: declared,
            argumentName: argument,
            errorMessage: 'Type mismatch',
          },
        });
    } else if (variablesIn(value).length === 0 && coerceInput(expected, resolveValue(value, {})).length > 0)
      errors.push({
        message: `Argument '${argument}' on Field '${field.name}' has an invalid value (${JSON.stringify(resolveValue(value, {}))}). Expected type '${expected}'.`,
        locations: at(field),
        path: [...path, argument],
        extensions: { code: 'argumentLiteralsIncompatible', typeName: 'Field', argumentName: argument },
      });
  }
}

/** The request's variables against their declared types, as Shopify coerces them before running anything. */
function validateVariables(
  operation: Operation,
  values: Record<string, unknown>,
  errors: GraphQLErrorShape[],
) {
  for (const [name, definition] of operation.variables) {
    const location = [{ line: definition.line, column: definition.column }];
    if (!knownInputType(definition.type)) {
      errors.push({
        message: `${definition.type.replace(/[[\]!]/g, '')} isn't a defined input type (on $${name})`,
        locations: location,
        extensions: { code: 'variableRequiresValidType', typeName: definition.type, variableName: name },
      });
      continue;
    }
    const problems = coerceInput(definition.type, values[name]);
    if (problems.length === 0) continue;
    const where = problems
      .filter((problem) => problem.path.length > 0)
      .map((problem) => `${problem.path.join('.')} (${problem.explanation})`);
    errors.push({
      message:
        `Variable $${name} of type ${definition.type} was provided invalid value` +
        (where.length > 0 ? ` for ${where.join(', ')}` : ''),
      locations: location,
      extensions: { code: 'INVALID_VARIABLE', value: values[name] ?? null, problems },
    });
  }
}

function argument(field: Field, name: string, variables: Record<string, unknown>): unknown {
  const value = field.args[name];
  return value ? resolveValue(value, variables) : undefined;
}

/** The node part of a connection's selection (`nodes { … }` or `edges { node { … } }`). */
function nodeSelections(field: Field): Field[] {
  return (field.selections ?? []).flatMap((sub) =>
    sub.name === 'nodes'
      ? (sub.selections ?? [])
      : sub.name === 'edges'
        ? (sub.selections ?? [])
            .filter((edge) => edge.name === 'node')
            .flatMap((edge) => edge.selections ?? [])
        : [],
  );
}

/** Shopify's cost rules: scalars 0, objects 1, connections 2 + the page size times one node. */
function queryCost(fields: Field[], typeName: string, variables: Record<string, unknown>): number {
  let total = 0;
  for (const field of fields) {
    const fieldType = schema[typeName]?.[field.name];
    if (!fieldType || fieldType.kind === 'scalar') continue;
    if (fieldType.kind === 'object') total += 1 + queryCost(field.selections ?? [], fieldType.of, variables);
    else if (fieldType.kind === 'list') total += queryCost(field.selections ?? [], fieldType.of, variables);
    else {
      const size = Number(argument(field, 'first', variables) ?? argument(field, 'last', variables) ?? 0);
      total += 2 + size * (1 + queryCost(nodeSelections(field), fieldType.of, variables));
    }
  }
  return total;
}

/** A mutation costs 10 points whatever it selects (Shopify's rate-limit documentation). */
const mutationCost = 10;

/** Shapes a resolved value (plain objects in the schema's field names) as the selection asks. */
function project(value: unknown, selections: Field[], typeName: string): unknown {
  if (value === null || value === undefined || typeof value !== 'object') return null;
  const source = value as Record<string, unknown>;
  const shaped: Record<string, unknown> = {};
  for (const sub of selections) {
    const fieldType = schema[typeName]?.[sub.name];
    const inner = source[sub.name];
    if (!fieldType || fieldType.kind === 'scalar') shaped[sub.alias] = inner ?? null;
    else if (fieldType.kind === 'list')
      shaped[sub.alias] = Array.isArray(inner)
        ? inner.map((item) => project(item, sub.selections ?? [], fieldType.of))
        : null;
    else shaped[sub.alias] = project(inner, sub.selections ?? [], fieldType.of);
  }
  return shaped;
}

/**
 * The part of Shopify's search syntax the simulator reads: `handle:x`, `blog_id:n`, `id:n` and free words
 * (matched in title or handle), all of which must hold. Other `field:value` terms are ignored, as Shopify
 * ignores a filter it does not know (with a search warning).
 */
function matchesSearch(article: ArticleRecord, query: unknown): boolean {
  if (typeof query !== 'string' || query.trim() === '') return true;
  const numeric = (gid: string) => gid.slice(gid.lastIndexOf('/') + 1);
  for (const term of query.match(/[A-Za-z_]+:(?:"[^"]*"|'[^']*'|\S+)|\S+/g) ?? []) {
    const filter = /^([A-Za-z_]+):(.*)$/.exec(term);
    if (!filter) {
      const word = term.toLowerCase();
      if (!article.title.toLowerCase().includes(word) && !article.handle.includes(word)) return false;
      continue;
    }
    const value = filter[2]!.replace(/^["']|["']$/g, '');
    if (filter[1] === 'handle' && article.handle !== value) return false;
    if (filter[1] === 'blog_id' && numeric(article.blogId) !== value) return false;
    if (filter[1] === 'id' && numeric(article.id) !== value) return false;
  }
  return true;
}

/** Shopify makes handles of lowercase letters, digits and hyphens. */
function slugify(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

interface ArticleRecord {
  id: string;
  blogId: string;
  title: string;
  handle: string;
  body: string;
  summary: string | null;
  tags: string[];
  authorName: string;
  templateSuffix: string | null;
  /** When it becomes (or became) visible; null: hidden. Visible = this has passed by the simulator's clock. */
  publishedAt: number | null;
  /** Created hidden with a date ahead: Shopify's scheduler, not a request, makes it visible. */
  awaitsScheduler: boolean;
  createdAt: number;
  updatedAt: number;
  deletedAt: number | null;
}

/** A product or a collection: the same fields matter for SEO. */
interface ResourceRecord {
  id: string;
  title: string;
  handle: string;
  updatedAt: string;
  seo: SimulatedSeo;
  seoChanges: (SimulatedSeo & { at: number })[];
  deleted: boolean;
}

interface ShopState {
  config: ShopifySimulatorShop;
  blogs: { id: string; title: string; handle: string }[];
  products: ResourceRecord[];
  collections: ResourceRecord[];
  articles: ArticleRecord[];
  bucket: { available: number; at: number };
}

export async function startShopifySimulator(
  options: ShopifySimulatorOptions = {},
): Promise<ShopifySimulator> {
  const clientId = options.clientId ?? shopifySandboxClientId;
  const clientSecret = options.clientSecret ?? shopifySandboxClientSecret;
  const throttle = options.throttle ?? { maximumAvailable: 2000, restoreRate: 100 };
  const seoLimits = options.seoLimits ?? { title: 70, description: 320 };
  const clock = () => (options.now ?? (() => new Date()))().getTime();
  let nextId = 1;
  /** Shopify's scheduler misses its dates: articles waiting for one stay hidden past it. */
  let schedulerStalled = false;
  const shops = new Map<string, ShopState>();
  for (const config of options.shops ?? [
    {
      shop: 'glow-beauty',
      name: 'Glow Beauty',
      blogs: [{ title: 'News' }, { title: 'Skincare tips' }],
      products: 12,
    },
  ]) {
    const products =
      typeof config.products === 'number'
        ? Array.from({ length: config.products }, (_, index) => ({ title: `Product ${index + 1}` }))
        : (config.products ?? []);
    const handle = (title: string) => title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
    const resource = (kind: 'Product' | 'Collection', base: number) => (given: ShopifySimulatorResource) => ({
      id: given.id ?? `gid://shopify/${kind}/${base + nextId++}`,
      title: given.title,
      handle: handle(given.title),
      updatedAt: new Date(clock()).toISOString(),
      seo: { title: given.seo?.title ?? null, description: given.seo?.description ?? null },
      seoChanges: [],
      deleted: false,
    });
    shops.set(config.shop, {
      config,
      blogs: (config.blogs ?? []).map((blog) => ({
        id: blog.id ?? `gid://shopify/Blog/${80_000_000 + nextId++}`,
        title: blog.title,
        handle: handle(blog.title),
      })),
      products: products.map(resource('Product', 7_000_000_000)),
      collections: (config.collections ?? []).map(resource('Collection', 400_000_000)),
      articles: [],
      bucket: { available: throttle.maximumAvailable, at: clock() },
    });
  }
  const codes = new Map<string, { shop: string; scopes: string[]; issuedAt: number; used: boolean }>();
  const tokens = new Map<string, { shop: string; scopes: string[]; revoked: boolean }>();
  let denyNext = false;

  const notFound = (): SimulatorResponse => ({
    status: 404,
    headers: { 'content-type': 'text/html; charset=utf-8' },
    body: '<!DOCTYPE html><html><body><h1>Sorry, this shop is currently unavailable.</h1></body></html>',
  });
  const oauthError = (status: number, error: string, description: string): SimulatorResponse => ({
    status,
    body: { error, error_description: description },
  });

  const install = (shop: string, request: RecordedRequest): SimulatorResponse => {
    const q = request.query;
    // Shopify shows an error page (no redirect) for a wrong app, redirect URL or scope.
    const errorPage = (text: string): SimulatorResponse => ({
      status: 400,
      headers: { 'content-type': 'text/html; charset=utf-8' },
      body: `<!DOCTYPE html><html><body><h1>Oauth error invalid_request: ${text}</h1></body></html>`,
    });
    if (q.client_id !== clientId) return errorPage('Could not find the application');
    if (!q.redirect_uri || !/^https?:\/\//.test(q.redirect_uri))
      return errorPage('The redirect_uri is missing or not whitelisted');
    const asked = (q.scope ?? '')
      .split(',')
      .map((scope) => scope.trim())
      .filter(Boolean);
    const unknown = asked.find((scope) => !knownScopes.has(scope));
    if (unknown) return errorPage(`The scope ${unknown} is not valid`);
    if (denyNext) {
      denyNext = false;
      // The merchant closed the install page: Shopify sends nothing back to the app.
      return {
        status: 200,
        headers: { 'content-type': 'text/html; charset=utf-8' },
        body: '<!DOCTYPE html><html><body><h1>Install app</h1><p>The app was not installed.</p></body></html>',
      };
    }
    const granted = simulator.grantScopes
      ? asked.filter((scope) => simulator.grantScopes?.includes(scope))
      : asked;
    const code = randomBytes(16).toString('hex');
    codes.set(code, { shop, scopes: granted, issuedAt: clock(), used: false });
    const query: Record<string, string> = {
      code,
      host: Buffer.from(`admin.shopify.com/store/${shop}`).toString('base64'),
      shop: `${shop}.myshopify.com`,
      timestamp: String(Math.floor(clock() / 1000)),
    };
    if (q.state !== undefined) query.state = q.state;
    const back = new URL(q.redirect_uri);
    for (const [name, value] of Object.entries(signShopifyQuery(query, clientSecret)))
      back.searchParams.set(name, value);
    return { status: 302, headers: { location: back.toString() } };
  };

  const accessToken = (shop: string, request: RecordedRequest): SimulatorResponse => {
    const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<
      string,
      unknown
    >;
    // (unconfirmed) Shopify's exact refusal of wrong app credentials.
    if (body.client_id !== clientId || body.client_secret !== clientSecret)
      return oauthError(400, 'invalid_client', 'Client credentials are invalid');
    const code = typeof body.code === 'string' ? codes.get(body.code) : undefined;
    if (!code || code.used || code.shop !== shop || clock() - code.issuedAt > codeLifetimeMs)
      return oauthError(400, 'invalid_request', 'The authorization code was not found or was already used');
    code.used = true;
    const value = `shpat_${randomBytes(16).toString('hex')}`;
    tokens.set(value, { shop, scopes: code.scopes, revoked: false });
    return { status: 200, body: { access_token: value, scope: compressScopes(code.scopes).join(',') } };
  };

  const refill = (state: ShopState) => {
    const now = clock();
    const restored = ((now - state.bucket.at) / 1000) * throttle.restoreRate;
    state.bucket = {
      available: Math.min(throttle.maximumAvailable, state.bucket.available + restored),
      at: now,
    };
  };

  const throttleStatus = (available: number) => ({
    maximumAvailable: throttle.maximumAvailable,
    currentlyAvailable: Math.floor(available),
    restoreRate: throttle.restoreRate,
  });

  // ——— Articles ———

  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const isVisible = (article: ArticleRecord) =>
    article.publishedAt !== null &&
    article.publishedAt <= clock() &&
    !(article.awaitsScheduler && schedulerStalled);
  const liveArticles = (state: ShopState) => state.articles.filter((article) => article.deletedAt === null);
  /** An article as the Admin API shows it. */
  const articleView = (state: ShopState, article: ArticleRecord) => ({
    id: article.id,
    title: article.title,
    handle: article.handle,
    body: article.body,
    summary: article.summary,
    tags: article.tags,
    templateSuffix: article.templateSuffix,
    isPublished: isVisible(article),
    publishedAt: iso(article.publishedAt),
    createdAt: iso(article.createdAt),
    updatedAt: iso(article.updatedAt),
    author: { name: article.authorName },
    blog: state.blogs.find((blog) => blog.id === article.blogId) ?? null,
  });
  const articleError = (field: string[] | null, message: string, code: string) => ({ field, message, code });

  function articleCreate(state: ShopState, input: Record<string, unknown>) {
    const errors: ReturnType<typeof articleError>[] = [];
    const title = typeof input.title === 'string' ? input.title : '';
    // (unconfirmed) the wording of the title, blog and handle refusals; the codes are Shopify's enum values.
    if (title.trim() === '') errors.push(articleError(['article', 'title'], "Title can't be blank", 'BLANK'));
    else if (title.length > 255)
      errors.push(
        articleError(['article', 'title'], 'Title is too long (maximum is 255 characters)', 'TOO_LONG'),
      );
    const blogId = typeof input.blogId === 'string' ? input.blogId : null;
    const blog = blogId === null ? undefined : state.blogs.find((candidate) => candidate.id === blogId);
    if (blogId === null)
      errors.push(
        articleError(
          ['article'],
          'Must reference or create a blog when creating an article.',
          'BLOG_REFERENCE_REQUIRED',
        ),
      );
    else if (!blog) errors.push(articleError(['article', 'blogId'], 'Blog not found', 'NOT_FOUND'));
    const author = (input.author ?? {}) as { name?: string | null; userId?: string | null };
    const name = author.name?.trim() ?? '';
    const userId = author.userId?.trim() ?? '';
    if (name !== '' && userId !== '')
      errors.push(
        articleError(
          ['article'],
          "Can't create an article author if both author name and user ID are supplied.",
          'AMBIGUOUS_AUTHOR',
        ),
      );
    else if (name === '' && userId === '')
      errors.push(
        articleError(
          ['article'],
          "Can't create an article if both author name and user ID are blank.",
          'AUTHOR_FIELD_REQUIRED',
        ),
      );
    else if (userId !== '')
      // The simulator has no staff: a user id names nobody.
      errors.push(
        articleError(['article'], 'User must exist if a user ID is supplied.', 'AUTHOR_MUST_EXIST'),
      );
    // Shopify's default is visible; a visible article cannot also wait for a future date.
    const isPublished = input.isPublished !== false;
    const publishDate = typeof input.publishDate === 'string' ? Date.parse(input.publishDate) : null;
    if (isPublished && publishDate !== null && publishDate > clock())
      errors.push(
        articleError(
          ['article'],
          'Can’t set isPublished to true and also set a future publish date.',
          'INVALID_PUBLISH_DATE',
        ),
      );
    let handle: string;
    if (typeof input.handle === 'string' && slugify(input.handle) !== '') {
      handle = slugify(input.handle);
      if (liveArticles(state).some((article) => article.blogId === blogId && article.handle === handle))
        errors.push(articleError(['article', 'handle'], 'Handle has already been taken', 'TAKEN'));
    } else {
      const base = slugify(title) || 'article';
      handle = base;
      for (let suffix = 1; liveArticles(state).some((article) => article.handle === handle); suffix += 1)
        handle = `${base}-${suffix}`;
    }
    if (errors.length > 0 || !blog) return { article: null, userErrors: errors };

    const now = clock();
    // A date makes it wait (hidden) until then; without one, visible now or hidden. (unconfirmed) a past date
    // with isPublished false: read as hidden here; Glowtify never sends it.
    const publishedAt =
      publishDate === null
        ? isPublished
          ? now
          : null
        : isPublished || publishDate > now
          ? publishDate
          : null;
    const article: ArticleRecord = {
      id: `gid://shopify/Article/${600_000_000 + nextId++}`,
      blogId: blog.id,
      title,
      handle,
      body: typeof input.body === 'string' ? input.body : '',
      summary: typeof input.summary === 'string' ? input.summary : null,
      tags: Array.isArray(input.tags)
        ? (input.tags as string[])
        : typeof input.tags === 'string'
          ? [input.tags]
          : [],
      authorName: name,
      templateSuffix: typeof input.templateSuffix === 'string' ? input.templateSuffix : null,
      publishedAt,
      awaitsScheduler: publishedAt !== null && publishedAt > now,
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
    };
    state.articles.push(article);
    return { article: articleView(state, article), userErrors: [] };
  }

  /** The visibility part of `articleUpdate`: what Glowtify sends (other fields are kept as they are). */
  function articleUpdate(state: ShopState, id: unknown, input: Record<string, unknown>) {
    const article = liveArticles(state).find((candidate) => candidate.id === id);
    if (!article)
      return { article: null, userErrors: [articleError(['id'], 'Article does not exist', 'NOT_FOUND')] };
    const now = clock();
    const publishDate = typeof input.publishDate === 'string' ? Date.parse(input.publishDate) : null;
    if (input.isPublished === true && publishDate !== null && publishDate > now)
      return {
        article: null,
        userErrors: [
          articleError(
            ['article'],
            'Can’t set isPublished to true and also set a future publish date.',
            'INVALID_PUBLISH_DATE',
          ),
        ],
      };
    if (input.isPublished === true) {
      // (unconfirmed) the date a hidden article keeps once published by request: its own when past, else now.
      article.publishedAt =
        publishDate ??
        (article.publishedAt !== null && article.publishedAt <= now ? article.publishedAt : now);
      article.awaitsScheduler = false;
    } else if (input.isPublished === false) {
      article.publishedAt = publishDate !== null && publishDate > now ? publishDate : null;
      article.awaitsScheduler = article.publishedAt !== null;
    } else if (publishDate !== null && !isVisible(article)) {
      article.publishedAt = publishDate > now ? publishDate : null;
      article.awaitsScheduler = article.publishedAt !== null;
    }
    if (typeof input.title === 'string') article.title = input.title;
    if (typeof input.body === 'string') article.body = input.body;
    article.updatedAt = now;
    return { article: articleView(state, article), userErrors: [] };
  }

  function articleDelete(state: ShopState, id: unknown) {
    const article = liveArticles(state).find((candidate) => candidate.id === id);
    if (!article)
      return {
        deletedArticleId: null,
        userErrors: [articleError(['id'], 'Article does not exist', 'NOT_FOUND')],
      };
    article.deletedAt = clock();
    return { deletedArticleId: article.id, userErrors: [] };
  }

  // ——— Products and collections: their SEO ———

  const resourceKinds = { product: 'Product', collection: 'Collection' } as const;
  type ResourceKind = keyof typeof resourceKinds;
  const resourcesOf = (state: ShopState, kind: ResourceKind) =>
    (kind === 'product' ? state.products : state.collections).filter((resource) => !resource.deleted);
  const resourceView = (resource: ResourceRecord) => ({
    id: resource.id,
    title: resource.title,
    handle: resource.handle,
    status: 'ACTIVE',
    updatedAt: resource.updatedAt,
    seo: { ...resource.seo },
  });

  /**
   * `product(id:)` / `collection(id:)`: null for an id of nothing (or of another kind); an id that is not a
   * global id is a top-level error. (unconfirmed) the wording and code of that error.
   */
  function readResource(
    state: ShopState,
    kind: ResourceKind,
    field: Field,
    id: unknown,
    errors: GraphQLErrorShape[],
  ) {
    if (typeof id !== 'string' || !/^gid:\/\/shopify\/\w+\/\w+$/.test(id)) {
      errors.push({
        message: `Invalid global id '${String(id)}'`,
        locations: at(field),
        path: [field.alias],
        extensions: { code: 'argumentLiteralsIncompatible', typeName: 'CoercionError' },
      });
      return null;
    }
    const found = resourcesOf(state, kind).find((resource) => resource.id === id);
    return found ? resourceView(found) : null;
  }

  /**
   * The SEO part of `productUpdate(product:)` / `collectionUpdate(collection:)`: what Glowtify sends (other
   * fields are accepted and kept as they are). A key given as null or "" clears that value; an absent one
   * keeps it. (unconfirmed) the userErrors' field paths and wording: Shopify answers these mutations with the
   * plain UserError (field, message), no code.
   */
  function updateResource(state: ShopState, kind: ResourceKind, input: unknown) {
    const given = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
    const noun = resourceKinds[kind];
    const refused = (field: string[], message: string) => ({
      [kind]: null,
      ...(kind === 'collection' ? { job: null } : {}),
      userErrors: [{ field, message }],
    });
    const resource = resourcesOf(state, kind).find((candidate) => candidate.id === given.id);
    if (!resource) return refused(['id'], `${noun} does not exist`);
    const seo = (typeof given.seo === 'object' && given.seo !== null ? given.seo : {}) as Record<
      string,
      unknown
    >;
    const next = { ...resource.seo };
    for (const key of ['title', 'description'] as const) {
      if (!(key in seo)) continue;
      const value = seo[key];
      if (typeof value === 'string' && value.length > seoLimits[key])
        return refused(['seo', key], `SEO ${key} is too long (maximum is ${seoLimits[key]} characters)`);
      next[key] = typeof value === 'string' && value !== '' ? value : null;
    }
    if (next.title !== resource.seo.title || next.description !== resource.seo.description) {
      resource.seo = next;
      resource.seoChanges.push({ ...next, at: clock() });
    }
    resource.updatedAt = new Date(clock()).toISOString();
    return {
      [kind]: resourceView(resource),
      ...(kind === 'collection' ? { job: null } : {}),
      userErrors: [],
    };
  }

  /** What a search sees: Shopify's index takes a moment to hold a new article. */
  const searchable = (state: ShopState) =>
    liveArticles(state).filter((article) => article.createdAt + searchIndexDelayMs <= clock());
  let searchIndexDelayMs = options.searchIndexDelayMs ?? 0;

  // ——— The Admin GraphQL endpoint ———

  /** The value of one root field that returns an object (a query or a mutation). */
  function resolveObject(
    state: ShopState,
    field: Field,
    variables: Record<string, unknown>,
    errors: GraphQLErrorShape[],
  ): unknown {
    const id = () => argument(field, 'id', variables);
    switch (field.name) {
      case 'shop':
        return {
          id: `gid://shopify/Shop/${60_000_000 + state.config.shop.length}`,
          name: state.config.name,
          myshopifyDomain: `${state.config.shop}.myshopify.com`,
          email: `owner@${state.config.shop}.example`,
          currencyCode: 'CAD',
          url: `https://${state.config.shop}.example`,
        };
      case 'article': {
        const found = liveArticles(state).find((article) => article.id === id());
        return found ? articleView(state, found) : null;
      }
      case 'articleCreate':
        return articleCreate(state, argument(field, 'article', variables) as Record<string, unknown>);
      case 'articleUpdate':
        return articleUpdate(state, id(), argument(field, 'article', variables) as Record<string, unknown>);
      case 'articleDelete':
        return articleDelete(state, id());
      case 'product':
      case 'collection':
        return readResource(state, field.name, field, id(), errors);
      case 'productUpdate':
        return updateResource(state, 'product', argument(field, 'product', variables));
      case 'collectionUpdate':
        return updateResource(state, 'collection', argument(field, 'collection', variables));
      default:
        throw new Error(`the Shopify simulator resolves no ${field.name}`);
    }
  }

  const graphql = (state: ShopState, request: RecordedRequest): SimulatorResponse => {
    const value = request.headers['x-shopify-access-token'];
    const token = value ? tokens.get(value) : undefined;
    if (!token || token.revoked || token.shop !== state.config.shop)
      return {
        status: 401,
        body: { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' },
      };
    const body = request.body as { query?: unknown; variables?: unknown } | null;
    if (typeof body !== 'object' || body === null || typeof body.query !== 'string')
      return { status: 400, body: { errors: { query: 'Required parameter missing or invalid' } } };
    const variables =
      typeof body.variables === 'object' && body.variables !== null
        ? (body.variables as Record<string, unknown>)
        : {};

    let operation: Operation;
    try {
      operation = parseOperation(body.query);
    } catch (error) {
      if (!(error instanceof GraphQLSyntaxError)) throw error;
      return { status: 200, body: { errors: [{ message: error.message }] } };
    }
    const root = operation.kind === 'mutation' ? 'Mutation' : 'QueryRoot';
    const errors: GraphQLErrorShape[] = [];
    const used = new Set<string>();
    validate(operation.selections, root, [operation.kind], operation.variables, errors, used);
    for (const [name, definition] of operation.variables)
      if (!used.has(name))
        errors.push({
          message: `Variable $${name} is declared by anonymous ${operation.kind} but not used`,
          locations: [{ line: definition.line, column: definition.column }],
          path: [operation.kind],
          extensions: { code: 'variableNotUsed', variableName: name },
        });
    if (errors.length === 0) validateVariables(operation, variables, errors);
    for (const field of operation.selections) {
      const fieldType = schema[root]?.[field.name];
      if (fieldType?.kind !== 'connection') continue;
      const first = argument(field, 'first', variables);
      const last = argument(field, 'last', variables);
      if (first === undefined && last === undefined)
        errors.push({
          message: 'you must provide one of first or last',
          locations: at(field),
          path: [field.alias],
        });
      else if (Number(first ?? last) > maxPageSize || Number(first ?? last) < 0)
        errors.push({
          message: `The maximum page size is ${maxPageSize}`,
          locations: at(field),
          path: [field.alias],
          extensions: { code: 'BAD_REQUEST' },
        });
    }
    if (errors.length > 0) return { status: 200, body: { errors } };

    refill(state);
    const requested =
      operation.kind === 'mutation'
        ? mutationCost * operation.selections.length
        : queryCost(operation.selections, 'QueryRoot', variables);
    if (requested > maxQueryCost) {
      return {
        status: 200,
        body: {
          errors: [
            {
              message: `Query cost is ${requested}, which exceeds the single query max cost limit (${maxQueryCost}).`,
              extensions: { code: 'MAX_COST_EXCEEDED', cost: requested, maxCost: maxQueryCost },
            },
          ],
          extensions: {
            cost: {
              requestedQueryCost: requested,
              actualQueryCost: null,
              throttleStatus: throttleStatus(state.bucket.available),
            },
          },
        },
      };
    }
    if (requested > state.bucket.available)
      return throttled(requested, state.bucket.available, throttle.restoreRate, 200);

    // Run it, field after field (mutations in order, as GraphQL requires).
    let actual = operation.kind === 'mutation' ? requested : 0;
    const data: Record<string, unknown> = {};
    for (const field of operation.selections) {
      const fieldType = schema[root]?.[field.name];
      if (!fieldType || fieldType.kind === 'scalar' || fieldType.kind === 'list') continue;
      if (fieldType.needs && !covers(token.scopes, fieldType.needs)) {
        data[field.alias] = null;
        errors.push({
          message: `Access denied for ${field.name} field. Required access: \`${fieldType.needs}\` access scope.`,
          locations: at(field),
          path: [field.alias],
          extensions: {
            code: 'ACCESS_DENIED',
            documentation: 'https://shopify.dev/api/usage/access-scopes',
            requiredAccess: `\`${fieldType.needs}\` access scope.`,
          },
        });
        continue;
      }
      if (fieldType.kind === 'object') {
        if (operation.kind === 'query')
          actual += 1 + queryCost(field.selections ?? [], fieldType.of, variables);
        const resolved = resolveObject(state, field, variables, errors);
        data[field.alias] = project(resolved, field.selections ?? [], fieldType.of);
        continue;
      }
      const all: Record<string, unknown>[] =
        field.name === 'blogs'
          ? state.blogs
          : field.name === 'products'
            ? resourcesOf(state, 'product').map(resourceView)
            : searchable(state)
                .filter((article) => matchesSearch(article, argument(field, 'query', variables)))
                .map((article) => articleView(state, article));
      const after = argument(field, 'after', variables);
      let start = 0;
      if (typeof after === 'string') {
        const decoded = Number(
          Buffer.from(after, 'base64url')
            .toString('utf8')
            .replace(/^cursor:/, ''),
        );
        if (!Number.isInteger(decoded) || decoded < 1) {
          errors.push({
            message: 'Invalid cursor for current pagination sort.',
            path: [field.alias],
            extensions: { code: 'BAD_REQUEST' },
          });
          continue;
        }
        start = decoded;
      }
      const size = Number(argument(field, 'first', variables) ?? argument(field, 'last', variables));
      const slice = all.slice(start, start + size);
      const cursor = (index: number) => Buffer.from(`cursor:${index + 1}`).toString('base64url');
      const nodeCost = 1 + queryCost(nodeSelections(field), fieldType.of, variables);
      actual += 2 + slice.length * nodeCost;
      const connection: Record<string, unknown> = {};
      for (const sub of field.selections ?? []) {
        if (sub.name === 'nodes')
          connection[sub.alias] = slice.map((node) => project(node, sub.selections ?? [], fieldType.of));
        else if (sub.name === 'edges')
          connection[sub.alias] = slice.map((node, offset) =>
            Object.fromEntries(
              (sub.selections ?? []).map((edgeField) => [
                edgeField.alias,
                edgeField.name === 'cursor'
                  ? cursor(start + offset)
                  : project(node, edgeField.selections ?? [], fieldType.of),
              ]),
            ),
          );
        else if (sub.name === 'pageInfo')
          connection[sub.alias] = project(
            {
              hasNextPage: start + slice.length < all.length,
              hasPreviousPage: start > 0,
              startCursor: slice.length > 0 ? cursor(start) : null,
              endCursor: slice.length > 0 ? cursor(start + slice.length - 1) : null,
            },
            sub.selections ?? [],
            'PageInfo',
          );
      }
      data[field.alias] = connection;
    }
    state.bucket.available -= actual;
    return {
      status: 200,
      body: {
        data,
        ...(errors.length > 0 ? { errors } : {}),
        extensions: {
          cost: {
            requestedQueryCost: requested,
            actualQueryCost: actual,
            throttleStatus: throttleStatus(state.bucket.available),
          },
        },
      },
    };
  };

  const throttled = (
    requested: number,
    available: number,
    restoreRate: number,
    status: number,
  ): SimulatorResponse => ({
    status,
    body: {
      errors: [
        {
          message: 'Throttled',
          extensions: { code: 'THROTTLED', documentation: 'https://shopify.dev/api/usage/rate-limits' },
        },
      ],
      extensions: {
        cost: {
          requestedQueryCost: requested,
          actualQueryCost: null,
          throttleStatus: {
            maximumAvailable: throttle.maximumAvailable,
            currentlyAvailable: Math.floor(available),
            restoreRate,
          },
        },
      },
    },
  });

  const handler = (request: RecordedRequest): SimulatorResponse => {
    const match = /^\/shops\/([^/]+)(\/.*)$/.exec(request.path);
    const state = match?.[1] ? shops.get(match[1]) : undefined;
    if (!match || !state) return notFound();
    const shop = state.config.shop;
    const route = match[2];
    if (route === '/admin/oauth/authorize' && request.method === 'GET') return install(shop, request);
    if (route === '/admin/oauth/access_token' && request.method === 'POST') return accessToken(shop, request);
    const api = /^\/admin\/api\/([^/]+)\/graphql\.json$/.exec(route ?? '');
    if (api && request.method === 'POST') {
      // Shopify serves other supported versions too; the simulator plays one, so drift shows.
      if (api[1] !== simulatedVersion) return { status: 404, body: { errors: 'Not Found' } };
      return graphql(state, request);
    }
    return { status: 404, body: { errors: 'Not Found' } };
  };

  const findArticle = (id: string) => {
    for (const state of shops.values()) {
      const article = liveArticles(state).find((candidate) => candidate.id === id);
      if (article) return article;
    }
    throw new Error(`no article ${id} in the Shopify simulator`);
  };

  const findResource = (id: string) => {
    for (const state of shops.values()) {
      const resource = [...state.products, ...state.collections].find((candidate) => candidate.id === id);
      if (resource && !resource.deleted) return resource;
    }
    throw new Error(`no product or collection ${id} in the Shopify simulator`);
  };
  const seoResources = (kind: 'product' | 'collection'): SimulatedSeoResource[] =>
    [...shops.values()].flatMap((state) =>
      (kind === 'product' ? state.products : state.collections).map((resource) => ({
        id: resource.id,
        shop: state.config.shop,
        title: resource.title,
        seo: { ...resource.seo },
        seoChanges: resource.seoChanges.map((change) => ({ ...change, at: new Date(change.at) })),
        deleted: resource.deleted,
      })),
    );

  const server = await startSimulatorServer(handler, {
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  const simulator: ShopifySimulator = Object.assign(server, {
    grantScopes: options.grantScopes ?? null,
    denyNextConsent() {
      denyNext = true;
    },
    revokeTokens(shop?: string) {
      for (const token of tokens.values()) if (!shop || token.shop === shop) token.revoked = true;
    },
    articles(): SimulatedArticle[] {
      return [...shops.values()].flatMap((state) =>
        state.articles.map((article) => ({
          id: article.id,
          shop: state.config.shop,
          blogId: article.blogId,
          title: article.title,
          handle: article.handle,
          body: article.body,
          summary: article.summary,
          tags: article.tags,
          authorName: article.authorName,
          publishedAt: article.publishedAt === null ? null : new Date(article.publishedAt),
          visible: article.deletedAt === null && isVisible(article),
          createdAt: new Date(article.createdAt),
          deletedAt: article.deletedAt === null ? null : new Date(article.deletedAt),
        })),
      );
    },
    products: () => seoResources('product'),
    collections: () => seoResources('collection'),
    setSeo(id: string, seo: Partial<SimulatedSeo>) {
      const resource = findResource(id);
      resource.seo = { ...resource.seo, ...seo };
      resource.seoChanges.push({ ...resource.seo, at: clock() });
    },
    deleteResource(id: string) {
      findResource(id).deleted = true;
    },
    publishArticleNow(id: string) {
      const article = findArticle(id);
      article.publishedAt = clock();
      article.awaitsScheduler = false;
      article.updatedAt = clock();
    },
    hideArticle(id: string, { keepDate = false } = {}) {
      const article = findArticle(id);
      if (!keepDate) {
        article.publishedAt = null;
        article.awaitsScheduler = false;
      }
      article.updatedAt = clock();
    },
    stallScheduler(stalled: boolean) {
      schedulerStalled = stalled;
    },
    setSearchIndexDelay(ms: number) {
      searchIndexDelayMs = ms;
    },
    failWith(kind: ShopifyFailureKind, rule: ShopifyFailureRule) {
      const {
        currentlyAvailable = 2,
        restoreRate = 50,
        requestedQueryCost = 102,
        deniedField = 'products',
        requiredAccess = 'read_products',
        ...match
      } = rule;
      const response: SimulatorResponse =
        kind === 'transient'
          ? {
              status: 503,
              headers: { 'content-type': 'text/html; charset=utf-8' },
              body: '<html><body>Service Unavailable</body></html>',
            }
          : kind === 'unauthorized'
            ? {
                status: 401,
                body: {
                  errors: '[API] Invalid API key or access token (unrecognized login or wrong password)',
                },
              }
            : kind === 'access_denied'
              ? {
                  status: 200,
                  body: {
                    data: null,
                    errors: [
                      {
                        message: `Access denied for ${deniedField} field. Required access: \`${requiredAccess}\` access scope.`,
                        extensions: {
                          code: 'ACCESS_DENIED',
                          requiredAccess: `\`${requiredAccess}\` access scope.`,
                        },
                      },
                    ],
                  },
                }
              : throttled(
                  requestedQueryCost,
                  currentlyAvailable,
                  restoreRate,
                  kind === 'throttled_429' ? 429 : 200,
                );
      server.failNext({ ...match, response });
    },
  });
  return simulator;
}
