// WordPress simulator (tests and `npm run demo`): a site's REST index and `wp/v2/users/me`, behaving like
// WordPress 6.x: application passwords over HTTP Basic (a wrong one makes the request anonymous, so users/me
// answers 401 rest_not_logged_in), capabilities from the default roles, and plain permalinks, where only the
// `?rest_route=` form works and `/wp-json/…` is the theme's 404 page.
import {
  type FailureMatch,
  type RecordedRequest,
  type SimulatorResponse,
  type SimulatorServer,
  startSimulatorServer,
} from './simulator-server.ts';

export interface WordPressSimulatorUser {
  /** The login name; the email address works too, as in WordPress. */
  username: string;
  /** As WordPress shows it (`abcd EFGH 1234 …`); spaces and other separators are ignored when checked. */
  applicationPassword: string;
  /** Default: ['administrator']. */
  roles?: string[];
  /** Replaces the capabilities the roles give (what `users/me?context=edit` reports). */
  capabilities?: Record<string, boolean>;
  email?: string;
  name?: string;
}

export interface WordPressSimulatorOptions {
  port?: number;
  users?: WordPressSimulatorUser[];
  /** true: `/wp-json/…` works (and `?rest_route=` too); false: only `?rest_route=`. Default true. */
  prettyPermalinks?: boolean;
  /** The site title (Settings → General); WordPress returns it HTML-escaped. */
  siteName?: string;
  siteDescription?: string;
}

export type WordPressFailureKind = 'transient' | 'rate_limited' | 'forbidden';

export type WordPressSimulator = SimulatorServer & {
  /** Changes a user's roles (their capabilities follow, unless set explicitly). */
  setRoles(username: string, roles: string[]): void;
  /** Revokes a user's application passwords (Users → Profile → Application Passwords → Revoke all). */
  revokeApplicationPasswords(username: string): void;
  setPrettyPermalinks(pretty: boolean): void;
  /** Makes the next matching requests fail the way a WordPress site (or its host's WAF) fails them. */
  failWith(kind: WordPressFailureKind, rule: FailureMatch & { retryAfterSeconds?: number }): void;
};

export const wordPressSandboxUsername = 'glowtify';
/** The application password `npm run demo` connects with (WordPress's own 24-character format). */
export const wordPressSandboxApplicationPassword = 'abcd EFGH 1234 ijkl MNOP 5678';

// WordPress's default roles (wp-admin/includes/schema.php populate_roles), without the legacy level_N keys.
const author = [
  'upload_files',
  'edit_posts',
  'edit_published_posts',
  'publish_posts',
  'read',
  'delete_posts',
  'delete_published_posts',
];
const editor = [
  ...author,
  'moderate_comments',
  'manage_categories',
  'manage_links',
  'unfiltered_html',
  'edit_others_posts',
  'edit_pages',
  'edit_others_pages',
  'edit_published_pages',
  'publish_pages',
  'delete_pages',
  'delete_others_pages',
  'delete_published_pages',
  'delete_others_posts',
  'delete_private_posts',
  'edit_private_posts',
  'read_private_posts',
  'delete_private_pages',
  'edit_private_pages',
  'read_private_pages',
];
const roleCapabilities: Record<string, string[]> = {
  administrator: [
    ...editor,
    'switch_themes',
    'edit_themes',
    'activate_plugins',
    'edit_plugins',
    'edit_users',
    'edit_files',
    'manage_options',
    'import',
    'delete_users',
    'create_users',
    'unfiltered_upload',
    'edit_dashboard',
    'update_plugins',
    'delete_plugins',
    'install_plugins',
    'update_themes',
    'install_themes',
    'update_core',
    'list_users',
    'remove_users',
    'promote_users',
    'edit_theme_options',
    'delete_themes',
    'export',
  ],
  editor,
  author,
  // A Contributor writes drafts: no publish_posts key at all.
  contributor: ['edit_posts', 'read', 'delete_posts'],
  subscriber: ['read'],
};

interface UserRecord {
  id: number;
  username: string;
  email: string;
  name: string;
  roles: string[];
  capabilities: Record<string, boolean> | undefined;
  passwords: string[];
  registered: Date;
}

const json = { 'content-type': 'application/json; charset=UTF-8' };

function restError(status: number, code: string, message: string, data: Record<string, unknown> = {}) {
  return { status, headers: json, body: { code, message, data: { status, ...data } } };
}

/** WordPress's application-password check ignores everything but letters and digits. */
const passwordCore = (password: string) => password.replace(/[^a-z\d]/gi, '');

const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function page404(siteName: string): SimulatorResponse {
  return {
    status: 404,
    headers: { 'content-type': 'text/html; charset=UTF-8' },
    body: `<!DOCTYPE html><html lang="en-US"><head><title>Page not found – ${escapeHtml(siteName)}</title></head><body class="error404"><h1>Oops! That page can’t be found.</h1></body></html>`,
  };
}

export async function startWordPressSimulator(
  options: WordPressSimulatorOptions = {},
): Promise<WordPressSimulator> {
  let pretty = options.prettyPermalinks ?? true;
  const siteName = options.siteName ?? 'Glowtify Beauty Blog';
  const siteDescription = options.siteDescription ?? 'Just another WordPress site';
  const users: UserRecord[] = (
    options.users ?? [
      {
        username: wordPressSandboxUsername,
        applicationPassword: wordPressSandboxApplicationPassword,
        roles: ['administrator'],
      },
    ]
  ).map((user, index) => ({
    id: index + 1,
    username: user.username,
    email: user.email ?? `${user.username}@brand.example`,
    name: user.name ?? user.username,
    roles: user.roles ?? ['administrator'],
    capabilities: user.capabilities,
    passwords: [passwordCore(user.applicationPassword)],
    registered: new Date(Date.UTC(2024, 0, 15 + index, 9, 30)),
  }));

  const find = (username: string) => {
    const user = users.find((candidate) => candidate.username === username);
    if (!user) throw new Error(`no simulated WordPress user ${username}`);
    return user;
  };

  /** `$user->allcaps`: every capability of every role, plus the role names themselves. */
  const capabilitiesOf = (user: UserRecord): Record<string, boolean> => {
    if (user.capabilities) return { ...user.capabilities };
    const capabilities: Record<string, boolean> = {};
    for (const role of user.roles) {
      for (const capability of roleCapabilities[role] ?? []) capabilities[capability] = true;
      capabilities[role] = true;
    }
    return capabilities;
  };

  /** The logged-in user, or null: a wrong or unknown login is not an error, just an anonymous request. */
  const currentUser = (request: RecordedRequest): UserRecord | null => {
    const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(request.headers.authorization ?? '');
    if (!match?.[1]) return null;
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return null;
    const login = decoded.slice(0, colon);
    const password = passwordCore(decoded.slice(colon + 1));
    const user = users.find((candidate) => candidate.username === login || candidate.email === login);
    return user && password !== '' && user.passwords.includes(password) ? user : null;
  };

  const siteUrl = (request: RecordedRequest) => `http://${request.headers.host ?? '127.0.0.1'}`;
  const apiRoot = (request: RecordedRequest) =>
    pretty ? `${siteUrl(request)}/wp-json/` : `${siteUrl(request)}/?rest_route=/`;
  const restHeaders = (request: RecordedRequest) => ({
    ...json,
    'x-robots-tag': 'noindex',
    link: `<${apiRoot(request)}>; rel="https://api.w.org/"`,
    'access-control-expose-headers': 'X-WP-Total, X-WP-TotalPages, Link',
    allow: 'GET',
  });

  const index = (request: RecordedRequest): SimulatorResponse => {
    const home = siteUrl(request);
    return {
      status: 200,
      headers: restHeaders(request),
      body: {
        name: escapeHtml(siteName),
        description: escapeHtml(siteDescription),
        url: home,
        home,
        gmt_offset: '0',
        timezone_string: '',
        page_for_posts: 0,
        page_on_front: 0,
        show_on_front: 'posts',
        namespaces: ['oembed/1.0', 'wp/v2', 'wp-site-health/v1', 'wp-block-editor/v1'],
        authentication: {
          'application-passwords': {
            endpoints: { authorization: `${home}/wp-admin/authorize-application.php` },
          },
        },
        routes: {
          '/': { namespace: '', methods: ['GET'] },
          '/wp/v2/users/me': { namespace: 'wp/v2', methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] },
        },
        site_logo: 0,
        site_icon: 0,
        site_icon_url: '',
        _links: { help: [{ href: 'https://developer.wordpress.org/rest-api/' }] },
      },
    };
  };

  const me = (request: RecordedRequest): SimulatorResponse => {
    const context = request.query.context ?? 'view';
    if (!['view', 'embed', 'edit'].includes(context)) {
      return restError(400, 'rest_invalid_param', 'Invalid parameter(s): context', {
        params: { context: 'context is not one of view, embed, and edit.' },
      });
    }
    const user = currentUser(request);
    if (!user) return restError(401, 'rest_not_logged_in', 'You are not currently logged in.');
    const home = siteUrl(request);
    const slug = user.username.toLowerCase().replace(/[^a-z0-9]+/g, '-');
    const view = {
      id: user.id,
      name: user.name,
      url: '',
      description: '',
      link: `${home}/author/${slug}/`,
      slug,
      avatar_urls: { 24: 'https://secure.gravatar.com/avatar/0?s=24&d=mm&r=g' },
    };
    const body =
      context === 'edit'
        ? {
            ...view,
            username: user.username,
            first_name: '',
            last_name: '',
            email: user.email,
            locale: 'en_US',
            nickname: user.username,
            roles: user.roles,
            registered_date: user.registered.toISOString().replace(/\.\d{3}Z$/, '+00:00'),
            capabilities: capabilitiesOf(user),
            extra_capabilities: Object.fromEntries(user.roles.map((role) => [role, true])),
            meta: [],
          }
        : context === 'embed'
          ? {
              id: view.id,
              name: view.name,
              url: view.url,
              description: view.description,
              link: view.link,
              slug,
            }
          : { ...view, meta: [] };
    return {
      status: 200,
      headers: restHeaders(request),
      body: {
        ...body,
        _links: {
          self: [{ href: `${apiRoot(request)}wp/v2/users/${user.id}` }],
          collection: [{ href: `${apiRoot(request)}wp/v2/users` }],
        },
      },
    };
  };

  /** The REST server: `rest_route` is untrailingslashed and matched against the routes. */
  const rest = (request: RecordedRequest, route: string): SimulatorResponse => {
    const path = route.replace(/\/+$/, '') || '/';
    const routes: Record<string, (request: RecordedRequest) => SimulatorResponse> = {
      '/': index,
      '/wp/v2/users/me': me,
    };
    const handler = routes[path];
    if (!handler || request.method !== 'GET') {
      return restError(404, 'rest_no_route', 'No route was found matching the URL and request method.');
    }
    return handler(request);
  };

  const server = await startSimulatorServer(
    (request) => {
      const restRoute = request.query.rest_route;
      if (request.path === '/' && restRoute !== undefined) return rest(request, restRoute || '/');
      const wpJson = /^\/wp-json(\/.*)?$/.exec(request.path);
      if (wpJson) return pretty ? rest(request, wpJson[1] ?? '/') : page404(siteName);
      if (request.path === '/' || request.path === '/index.php') {
        return {
          status: 200,
          headers: {
            'content-type': 'text/html; charset=UTF-8',
            link: `<${apiRoot(request)}>; rel="https://api.w.org/"`,
          },
          body: `<!DOCTYPE html><html lang="en-US"><head><title>${escapeHtml(siteName)}</title></head><body class="home blog"></body></html>`,
        };
      }
      return page404(siteName);
    },
    { port: options.port },
  );

  const failure = (kind: WordPressFailureKind, retryAfterSeconds: number): SimulatorResponse => {
    switch (kind) {
      case 'transient':
        // What a PHP fatal error looks like through the REST API (wp_die in a REST request).
        return restError(
          500,
          'internal_server_error',
          '<p>There has been a critical error on this website.</p><p><a href="https://wordpress.org/documentation/article/faq-troubleshooting/">Learn more about troubleshooting WordPress.</a></p>',
        );
      case 'rate_limited':
        // Hosts and security plugins throttle, not WordPress itself: an HTML page with Retry-After.
        return {
          status: 429,
          headers: { 'content-type': 'text/html; charset=UTF-8', 'retry-after': String(retryAfterSeconds) },
          body: '<html><body><h1>429 Too Many Requests</h1></body></html>',
        };
      case 'forbidden':
        return restError(403, 'rest_forbidden', 'Sorry, you are not allowed to do that.');
    }
  };

  return {
    ...server,
    setRoles(username, roles) {
      const user = find(username);
      user.roles = roles;
      user.capabilities = undefined;
    },
    revokeApplicationPasswords(username) {
      find(username).passwords = [];
    },
    setPrettyPermalinks(value) {
      pretty = value;
    },
    failWith(kind, { retryAfterSeconds, ...match }) {
      server.failNext({ ...match, response: failure(kind, retryAfterSeconds ?? 1) });
    },
  };
}
