// Shopify simulator (tests and `npm run demo`): one loopback server playing every shop it knows under
// `/shops/{shop}` (the adapter's template is http://127.0.0.1:PORT/shops/{shop}): the install page (a redirect
// signed with `hmac`), the access-token endpoint, and the Admin GraphQL API (2026-10) for the fields Glowtify
// reads, with Shopify's query costs, its leaky bucket, THROTTLED and ACCESS_DENIED answers, in its shapes.
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
  /** The store's products, or how many (titled "Product n"). */
  products?: number | { title: string }[];
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
  /** The simulator's clock: codes, `timestamp` and the bucket's refill follow it. */
  now?: () => Date;
}

/** A throttle failure carries the bucket it reports: what is left of it and how fast it refills. */
export type ShopifyFailureRule = FailureMatch & { currentlyAvailable?: number; restoreRate?: number };

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

type Value = { kind: 'variable'; name: string } | { kind: 'literal'; value: unknown };

interface Field {
  name: string;
  alias: string;
  args: Record<string, Value>;
  selections: Field[] | null;
  line: number;
  column: number;
}

interface Operation {
  variables: Set<string>;
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
  const parseType = (): void => {
    if (peek() === '[') {
      next();
      parseType();
      expect(']');
    } else name();
    if (peek() === '!') next();
  };
  const parseValue = (): Value => {
    const token = next();
    if (token.text === '$') return { kind: 'variable', name: name().text };
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

  const variables = new Set<string>();
  if (peek() !== '{') {
    const keyword = name();
    if (keyword.text !== 'query')
      throw new GraphQLSyntaxError(`Parse error on "${keyword.text}": only queries are simulated`);
    if (peek() !== '(' && peek() !== '{') name();
    if (peek() === '(') {
      next();
      while (peek() !== ')') {
        expect('$');
        variables.add(name().text);
        expect(':');
        parseType();
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
  return { variables, selections };
}

// ——— The schema subset ———

type FieldType =
  | { kind: 'scalar' }
  | { kind: 'object'; of: string }
  | { kind: 'connection'; of: string; needs?: string };

/** Fields that hold a value: the schema subset needs no more of their type than that. */
const scalars = (...names: string[]): Record<string, FieldType> =>
  Object.fromEntries(names.map((name) => [name, { kind: 'scalar' }]));

const schema: Record<string, Record<string, FieldType>> = {
  QueryRoot: {
    shop: { kind: 'object', of: 'Shop' },
    blogs: { kind: 'connection', of: 'Blog', needs: 'read_content' },
    products: { kind: 'connection', of: 'Product', needs: 'read_products' },
  },
  Shop: scalars('id', 'name', 'myshopifyDomain', 'email', 'currencyCode', 'url'),
  Blog: scalars('id', 'title', 'handle'),
  Product: scalars('id', 'title', 'handle', 'status', 'updatedAt'),
  PageInfo: scalars('hasNextPage', 'hasPreviousPage', 'startCursor', 'endCursor'),
};
const connectionArgs = new Set(['first', 'after', 'last', 'before', 'query', 'sortKey', 'reverse']);

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
  variables: Set<string>,
  errors: GraphQLErrorShape[],
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
      if (value.kind === 'variable' && !variables.has(value.name)) {
        errors.push({
          message: `Variable $${value.name} is used by anonymous query but not declared`,
          locations: at(field),
          path: fieldPath,
          extensions: { code: 'variableNotDefined', variableName: value.name },
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
    if (fieldType.kind === 'object') {
      validate(field.selections, fieldType.of, fieldPath, variables, errors);
      continue;
    }
    for (const argument of Object.keys(field.args)) {
      if (!connectionArgs.has(argument))
        errors.push({
          message: `Field '${field.name}' doesn't accept argument '${argument}'`,
          locations: at(field),
          path: fieldPath,
          extensions: {
            code: 'argumentNotAccepted',
            name: field.name,
            typeName: 'Field',
            argumentName: argument,
          },
        });
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
        validate(sub.selections, fieldType.of, subPath, variables, errors);
      else if (sub.name === 'pageInfo' && sub.selections)
        validate(sub.selections, 'PageInfo', subPath, variables, errors);
      else if (sub.name === 'edges' && sub.selections) {
        for (const edgeField of sub.selections) {
          if (edgeField.name === 'cursor' && !edgeField.selections) continue;
          if (edgeField.name === 'node' && edgeField.selections)
            validate(edgeField.selections, fieldType.of, [...subPath, edgeField.alias], variables, errors);
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

function argument(field: Field, name: string, variables: Record<string, unknown>): unknown {
  const value = field.args[name];
  if (!value) return undefined;
  return value.kind === 'literal' ? value.value : variables[value.name];
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
    else {
      const size = Number(argument(field, 'first', variables) ?? argument(field, 'last', variables) ?? 0);
      total += 2 + size * (1 + queryCost(nodeSelections(field), fieldType.of, variables));
    }
  }
  return total;
}

interface ShopState {
  config: ShopifySimulatorShop;
  blogs: { id: string; title: string; handle: string }[];
  products: { id: string; title: string; handle: string; updatedAt: string }[];
  bucket: { available: number; at: number };
}

export async function startShopifySimulator(
  options: ShopifySimulatorOptions = {},
): Promise<ShopifySimulator> {
  const clientId = options.clientId ?? shopifySandboxClientId;
  const clientSecret = options.clientSecret ?? shopifySandboxClientSecret;
  const throttle = options.throttle ?? { maximumAvailable: 2000, restoreRate: 100 };
  const clock = () => (options.now ?? (() => new Date()))().getTime();
  let nextId = 1;
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
    shops.set(config.shop, {
      config,
      blogs: (config.blogs ?? []).map((blog) => ({
        id: blog.id ?? `gid://shopify/Blog/${80_000_000 + nextId++}`,
        title: blog.title,
        handle: handle(blog.title),
      })),
      products: products.map((product) => ({
        id: `gid://shopify/Product/${7_000_000_000 + nextId++}`,
        title: product.title,
        handle: handle(product.title),
        updatedAt: new Date(clock()).toISOString(),
      })),
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
    const errors: GraphQLErrorShape[] = [];
    validate(operation.selections, 'QueryRoot', ['query'], operation.variables, errors);
    for (const field of operation.selections) {
      const fieldType = schema.QueryRoot?.[field.name];
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
    const requested = queryCost(operation.selections, 'QueryRoot', variables);
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

    // Run it.
    let actual = 0;
    const data: Record<string, unknown> = {};
    const scalarsOf = (source: Record<string, unknown>, selections: Field[]) =>
      Object.fromEntries(selections.map((sub) => [sub.alias, source[sub.name] ?? null]));
    for (const field of operation.selections) {
      const fieldType = schema.QueryRoot?.[field.name];
      if (fieldType?.kind === 'object') {
        actual += 1;
        data[field.alias] = scalarsOf(
          {
            id: `gid://shopify/Shop/${60_000_000 + state.config.shop.length}`,
            name: state.config.name,
            myshopifyDomain: `${state.config.shop}.myshopify.com`,
            email: `owner@${state.config.shop}.example`,
            currencyCode: 'CAD',
            url: `https://${state.config.shop}.example`,
          },
          field.selections ?? [],
        );
        continue;
      }
      if (fieldType?.kind !== 'connection') continue;
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
      const all: Record<string, unknown>[] = field.name === 'blogs' ? state.blogs : state.products;
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
          connection[sub.alias] = slice.map((node) => scalarsOf(node, sub.selections ?? []));
        else if (sub.name === 'edges')
          connection[sub.alias] = slice.map((node, offset) =>
            Object.fromEntries(
              (sub.selections ?? []).map((edgeField) => [
                edgeField.alias,
                edgeField.name === 'cursor'
                  ? cursor(start + offset)
                  : scalarsOf(node, edgeField.selections ?? []),
              ]),
            ),
          );
        else if (sub.name === 'pageInfo')
          connection[sub.alias] = scalarsOf(
            {
              hasNextPage: start + slice.length < all.length,
              hasPreviousPage: start > 0,
              startCursor: slice.length > 0 ? cursor(start) : null,
              endCursor: slice.length > 0 ? cursor(start + slice.length - 1) : null,
            },
            sub.selections ?? [],
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
    failWith(kind: ShopifyFailureKind, rule: ShopifyFailureRule) {
      const { currentlyAvailable = 2, restoreRate = 50, ...match } = rule;
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
                        message:
                          'Access denied for products field. Required access: `read_products` access scope.',
                        extensions: {
                          code: 'ACCESS_DENIED',
                          requiredAccess: '`read_products` access scope.',
                        },
                      },
                    ],
                  },
                }
              : throttled(102, currentlyAvailable, restoreRate, kind === 'throttled_429' ? 429 : 200);
      server.failNext({ ...match, response });
    },
  });
  return simulator;
}
