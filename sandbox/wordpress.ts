// WordPress simulator (tests and `npm run demo`): a site's REST index, `wp/v2/users/me` and `wp/v2/posts`, and
// `wp-cron.php`, behaving like WordPress 6.1 core: application passwords over HTTP Basic (a wrong one makes the
// request anonymous, so users/me answers 401 rest_not_logged_in), capabilities from the default roles, plain
// permalinks (only the `?rest_route=` form works and `/wp-json/…` is the theme's 404 page), wp_insert_post's
// one-minute rule (`future` less than 60 s ahead is published at once, `publish` 60 s or more ahead becomes
// `future`), and WP-Cron: a due `future` post stays `future` until a request runs the cron.
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
  /** The site's clock (default: the real one): the one-minute rule and WP-Cron read it. */
  now?: () => Date;
  /**
   * Visitors keep coming (default false): WP-Cron then runs as each request arrives (WordPress spawns it from
   * every page load) and every 100 ms besides, so a due `future` post is published about on time. Without
   * traffic the site is idle: only a request to `wp-cron.php` (or `runCron()`) publishes due posts.
   */
  traffic?: boolean;
}

/** A post as the site's database holds it (what tests read back). */
export interface WordPressPost {
  id: number;
  title: string;
  content: string;
  excerpt: string;
  /** publish, future, draft, pending, private or trash. */
  status: string;
  slug: string;
  /** `post_date_gmt` as WordPress writes it (`YYYY-MM-DD HH:MM:SS`, UTC); null while a draft's date floats. */
  dateGmt: string | null;
  modifiedGmt: string;
  author: number;
  /** When it became `publish`, by the site's clock; null while it has not. */
  publishedAt: Date | null;
  /** What published it: the request that wrote it, or WP-Cron. */
  publishedBy: 'request' | 'cron' | null;
  /** The status it had before it was trashed. */
  trashedFrom?: string;
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
  /** Every post, trashed ones included, oldest first (copies). */
  posts(): WordPressPost[];
  /** Runs WP-Cron now, as a visitor's page load would: every due `future` post is published. */
  runCron(): void;
  /** Turns visitor traffic on or off (see `traffic`). */
  setTraffic(on: boolean): void;
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

/** `gmdate('Y-m-d H:i:s')`: whole seconds, the fraction dropped. */
const mysqlDate = (date: Date) =>
  date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, '');
/** `mysql_to_rfc3339`: how the REST API writes `date_gmt` (no offset: the name says GMT). */
const rfc3339 = (mysql: string) => mysql.replace(' ', 'T');
const mysqlToDate = (mysql: string) => new Date(`${mysql.replace(' ', 'T')}Z`);

/**
 * `rest_parse_date`: the REST API's date-time format. A value without an offset is read as UTC (WordPress runs
 * PHP in UTC); null when it is not one.
 */
function parseRestDate(value: unknown): Date | null {
  if (typeof value !== 'string') return null;
  if (!/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}(?::\d{2})?)?$/.test(value))
    return null;
  const iso = value.replace(' ', 'T');
  const parsed = Date.parse(/(?:Z|[+-]\d{2}(?::\d{2})?)$/.test(iso) ? iso : `${iso}Z`);
  return Number.isNaN(parsed) ? null : new Date(parsed);
}

/**
 * `sanitize_title` for slugs: tags stripped, accents removed, lower case, `.` and spaces to dashes, anything but
 * `a-z 0-9 _ -` dropped, dashes collapsed and trimmed. (WordPress percent-encodes letters it cannot
 * transliterate; the simulator drops them.)
 */
export function wordPressSanitizeTitle(text: string): string {
  return text
    .replace(/<[^>]*>/g, '')
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/&.+?;/g, '')
    .replace(/\./g, '-')
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/\s+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
}

// The item schema's statuses (get_post_stati(['internal' => false])) and every status a collection may ask for.
const writableStatuses = ['publish', 'future', 'draft', 'pending', 'private'];
const listableStatuses = [
  'publish',
  'future',
  'draft',
  'pending',
  'private',
  'trash',
  'auto-draft',
  'inherit',
  'request-pending',
  'request-confirmed',
  'request-failed',
  'request-completed',
  'any',
];
/** `wp_sprintf('%l')`: "a, b, and c". */
const listed = (values: string[]) =>
  values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')}, and ${values.at(-1)}`;

/** `rest_invalid_param` as WP_REST_Request::sanitize_params/has_valid_params build it. */
function invalidParams(problems: Record<string, { code: string; message: string; status?: number }>) {
  const names = Object.keys(problems);
  return restError(400, 'rest_invalid_param', `Invalid parameter(s): ${names.join(', ')}`, {
    params: Object.fromEntries(names.map((name) => [name, problems[name]!.message])),
    details: Object.fromEntries(
      names.map((name) => {
        const { code, message, status } = problems[name]!;
        return [name, { code, message, data: status === undefined ? null : { status } }];
      }),
    ),
  });
}

/** A comma- or space-separated list, or repeated values (`wp_parse_list`). */
const parseList = (value: unknown): string[] =>
  (Array.isArray(value) ? value.map(String) : typeof value === 'string' ? value.split(/[\s,]+/) : [])
    .map((item) => item.trim())
    .filter((item) => item !== '');

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
          '/wp/v2/posts': { namespace: 'wp/v2', methods: ['GET', 'POST'] },
          '/wp/v2/posts/(?P<id>[\\d]+)': {
            namespace: 'wp/v2',
            methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
          },
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

  // --- posts ------------------------------------------------------------------------------------------

  const now = options.now ?? (() => new Date());
  const posts: WordPressPost[] = [];
  let nextPostId = 1;

  const can = (user: UserRecord | null, capability: string) =>
    user !== null && capabilitiesOf(user)[capability] === true;
  /** `rest_authorization_required_code()`: 401 for an anonymous request, 403 for a logged-in user. */
  const refusedStatus = (user: UserRecord | null) => (user ? 403 : 401);

  /** map_meta_cap('edit_post'): one's own drafts with edit_posts, published or scheduled ones with more. */
  const canEdit = (user: UserRecord | null, post: WordPressPost) => {
    if (!user) return false;
    const status = post.status === 'trash' ? (post.trashedFrom ?? 'draft') : post.status;
    const published = status === 'publish' || status === 'future';
    if (post.author === user.id) return can(user, published ? 'edit_published_posts' : 'edit_posts');
    return (
      can(user, 'edit_others_posts') &&
      (!published || can(user, 'edit_published_posts')) &&
      (status !== 'private' || can(user, 'edit_private_posts'))
    );
  };
  const canRead = (user: UserRecord | null, post: WordPressPost) =>
    post.status === 'publish' || canEdit(user, post);

  const permalink = (request: RecordedRequest, post: WordPressPost) =>
    post.status === 'publish' && pretty && post.slug !== ''
      ? `${siteUrl(request)}/${post.slug}/`
      : `${siteUrl(request)}/?p=${post.id}`;

  /** `prepare_item_for_response` for the fields a client reads, in the view or edit context. */
  const postBody = (request: RecordedRequest, post: WordPressPost, context: string) => {
    const dateGmt = post.dateGmt ?? post.modifiedGmt;
    const edit = context === 'edit';
    const raw = <T extends object>(rendered: T, value: string) =>
      edit ? { raw: value, ...rendered } : rendered;
    return {
      id: post.id,
      date: rfc3339(dateGmt),
      date_gmt: rfc3339(dateGmt),
      guid: raw({ rendered: `${siteUrl(request)}/?p=${post.id}` }, `${siteUrl(request)}/?p=${post.id}`),
      modified: rfc3339(post.modifiedGmt),
      modified_gmt: rfc3339(post.modifiedGmt),
      ...(edit ? { password: '' } : {}),
      slug: post.slug,
      status: post.status,
      type: 'post',
      link: permalink(request, post),
      title: raw({ rendered: post.title }, post.title),
      content: raw(
        { rendered: post.content === '' ? '' : `${post.content}\n`, protected: false },
        post.content,
      ),
      excerpt: raw(
        { rendered: post.excerpt === '' ? '' : `<p>${post.excerpt}</p>\n`, protected: false },
        post.excerpt,
      ),
      author: post.author,
      featured_media: 0,
      comment_status: 'open',
      ping_status: 'open',
      sticky: false,
      template: '',
      format: 'standard',
      meta: [],
      categories: [1],
      tags: [],
      ...(edit
        ? {
            permalink_template: pretty
              ? `${siteUrl(request)}/%postname%/`
              : `${siteUrl(request)}/?p=${post.id}`,
            generated_slug: wordPressSanitizeTitle(post.title),
          }
        : {}),
      _links: {
        self: [{ href: `${apiRoot(request)}wp/v2/posts/${post.id}` }],
        collection: [{ href: `${apiRoot(request)}wp/v2/posts` }],
      },
    };
  };

  /** `wp_unique_post_slug`: drafts keep theirs; anything else taken by another post gets `-2`, `-3`… */
  const uniqueSlug = (slug: string, id: number) => {
    const taken = (candidate: string) => posts.some((post) => post.id !== id && post.slug === candidate);
    if (!taken(slug)) return slug;
    for (let suffix = 2; ; suffix += 1) if (!taken(`${slug}-${suffix}`)) return `${slug}-${suffix}`;
  };

  /** What `publish`/`future` become under wp_insert_post's one-minute rule, by the site's clock. */
  const scheduledStatus = (status: string, dateGmt: string | null) => {
    if (dateGmt === null || (status !== 'publish' && status !== 'future')) return status;
    const ahead = mysqlToDate(dateGmt).getTime() - mysqlToDate(mysqlDate(now())).getTime();
    if (status === 'publish' && ahead >= 60_000) return 'future';
    if (status === 'future' && ahead < 60_000) return 'publish';
    return status;
  };

  const published = (post: WordPressPost, by: 'request' | 'cron') => {
    if (post.status === 'publish' && post.publishedAt === null) {
      post.publishedAt = now();
      post.publishedBy = by;
    }
  };

  /** WP-Cron's `publish_future_post` events that are due: check_and_publish_future_post for each. */
  const runCron = () => {
    const at = now().getTime();
    for (const post of posts) {
      if (post.status === 'future' && post.dateGmt !== null && mysqlToDate(post.dateGmt).getTime() <= at) {
        post.status = 'publish';
        published(post, 'cron');
      }
    }
  };

  const readBodyParams = (request: RecordedRequest): Record<string, unknown> | SimulatorResponse => {
    const { rest_route: _route, ...query } = request.query;
    if (typeof request.body === 'string' && (request.headers['content-type'] ?? '').includes('json')) {
      return restError(400, 'rest_invalid_json', 'Invalid JSON body passed.', { json_error_code: 4 });
    }
    const body =
      request.body && typeof request.body === 'object' && !Array.isArray(request.body)
        ? (request.body as Record<string, unknown>)
        : {};
    return { ...query, ...body };
  };
  const isResponse = (value: unknown): value is SimulatorResponse =>
    typeof value === 'object' &&
    value !== null &&
    'status' in value &&
    typeof value.status === 'number' &&
    'body' in value;

  /** Title, content and excerpt are objects in the schema, but a string is what clients send. */
  const textOf = (value: unknown): string | undefined =>
    typeof value === 'string'
      ? value
      : value && typeof value === 'object' && typeof (value as { raw?: unknown }).raw === 'string'
        ? (value as { raw: string }).raw
        : undefined;

  /** The argument checks of the create and update routes (before any permission check, as WordPress runs them). */
  const checkWriteParams = (params: Record<string, unknown>, current: WordPressPost | null) => {
    const problems: Parameters<typeof invalidParams>[0] = {};
    if (params.status !== undefined) {
      const status = String(params.status);
      if (!writableStatuses.includes(status) && status !== current?.status) {
        problems.status = {
          code: 'rest_not_in_enum',
          message: `status is not one of ${listed(writableStatuses)}.`,
        };
      }
    }
    if (params.date_gmt !== undefined && params.date_gmt !== null && !parseRestDate(params.date_gmt)) {
      problems.date_gmt = { code: 'rest_invalid_date', message: 'Invalid date.' };
    }
    if (params.slug !== undefined && typeof params.slug !== 'string') {
      problems.slug = { code: 'rest_invalid_type', message: 'slug is not of type string.' };
    }
    return Object.keys(problems).length > 0 ? invalidParams(problems) : null;
  };

  /** `handle_status_param`: future, publish and private need publish_posts. */
  const statusRefusal = (user: UserRecord | null, status: string | undefined) =>
    status !== undefined && ['publish', 'future', 'private'].includes(status) && !can(user, 'publish_posts')
      ? restError(
          refusedStatus(user),
          'rest_cannot_publish',
          status === 'private'
            ? 'Sorry, you are not allowed to create private posts in this post type.'
            : 'Sorry, you are not allowed to publish posts in this post type.',
        )
      : null;

  /** prepare_item_for_database + wp_insert_post/wp_update_post, for the fields this simulator keeps. */
  const writePost = (
    request: RecordedRequest,
    user: UserRecord,
    params: Record<string, unknown>,
    current: WordPressPost | null,
  ): SimulatorResponse => {
    const requested =
      params.status !== undefined && String(params.status) !== current?.status
        ? String(params.status)
        : undefined;
    const refused = statusRefusal(user, requested);
    if (refused) return refused;
    const title = textOf(params.title) ?? current?.title ?? '';
    const content = textOf(params.content) ?? current?.content ?? '';
    const excerpt = textOf(params.excerpt) ?? current?.excerpt ?? '';
    if (!current && title === '' && content === '' && excerpt === '') {
      return restError(400, 'empty_content', 'Content, title, and excerpt are empty.');
    }
    let status = requested ?? current?.status ?? 'draft';
    let dateGmt = current?.dateGmt ?? null;
    const date = params.date_gmt === null ? null : parseRestDate(params.date_gmt);
    if (date) dateGmt = mysqlDate(date);
    else if (params.date_gmt === null) dateGmt = null;
    const floating = status === 'draft' || status === 'pending';
    // A post that is not a draft always has a date: now, when none was given.
    if (dateGmt === null && !floating) dateGmt = mysqlDate(now());
    status = scheduledStatus(status, dateGmt);
    let slug = current?.slug ?? '';
    if (typeof params.slug === 'string') {
      slug = wordPressSanitizeTitle(params.slug);
      // The REST controller makes a draft's given slug unique as if it were published.
      if (floating && slug !== '') slug = uniqueSlug(slug, current?.id ?? 0);
    }
    if (slug === '' && !floating) slug = wordPressSanitizeTitle(title);
    if (!floating && slug !== '') slug = uniqueSlug(slug, current?.id ?? 0);
    const modifiedGmt = mysqlDate(now());
    const post: WordPressPost = current ?? {
      id: nextPostId++,
      title,
      content,
      excerpt,
      status,
      slug,
      dateGmt,
      modifiedGmt,
      author: user.id,
      publishedAt: null,
      publishedBy: null,
    };
    Object.assign(post, { title, content, excerpt, status, slug, dateGmt, modifiedGmt });
    if (!current) posts.push(post);
    published(post, 'request');
    const body = postBody(request, post, 'edit');
    return current
      ? { status: 200, headers: restHeaders(request), body }
      : {
          status: 201,
          headers: { ...restHeaders(request), location: `${apiRoot(request)}wp/v2/posts/${post.id}` },
          body,
        };
  };

  const contextOf = (params: Record<string, unknown>) => {
    const context = params.context === undefined ? 'view' : String(params.context);
    return ['view', 'embed', 'edit'].includes(context) ? context : null;
  };
  const badContext = () =>
    invalidParams({
      context: { code: 'rest_not_in_enum', message: 'context is not one of view, embed, and edit.' },
    });

  const listPosts = (request: RecordedRequest): SimulatorResponse => {
    const params: Record<string, unknown> = request.query;
    const context = contextOf(params);
    if (!context) return badContext();
    const user = currentUser(request);
    const perPage = params.per_page === undefined ? 10 : Number(params.per_page);
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100) {
      return invalidParams({
        per_page: {
          code: 'rest_out_of_bounds',
          message: 'per_page must be between 1 (inclusive) and 100 (inclusive)',
        },
      });
    }
    const statuses = params.status === undefined ? ['publish'] : parseList(params.status);
    const unknown = statuses.findIndex((status) => !listableStatuses.includes(status));
    if (unknown >= 0) {
      return invalidParams({
        status: {
          code: 'rest_not_in_enum',
          message: `status[${unknown}] is not one of ${listed(listableStatuses)}.`,
        },
      });
    }
    // sanitize_post_statuses: any status but the default one needs edit_posts; it runs before permissions.
    if (statuses.some((status) => status !== 'publish') && !can(user, 'edit_posts')) {
      return invalidParams({
        status: {
          code: 'rest_forbidden_status',
          message: 'Status is forbidden.',
          status: refusedStatus(user),
        },
      });
    }
    if (context === 'edit' && !can(user, 'edit_posts')) {
      return restError(
        refusedStatus(user),
        'rest_forbidden_context',
        'Sorry, you are not allowed to edit posts in this post type.',
      );
    }
    const slugs = params.slug === undefined ? null : parseList(params.slug).map(wordPressSanitizeTitle);
    const wanted = statuses.includes('any')
      ? (post: WordPressPost) => post.status !== 'trash' && post.status !== 'auto-draft'
      : (post: WordPressPost) => statuses.includes(post.status);
    const found = posts
      .filter((post) => wanted(post) && (slugs === null || slugs.includes(post.slug)))
      .filter((post) => (context === 'edit' ? canEdit(user, post) : canRead(user, post)))
      .sort((a, b) => ((a.dateGmt ?? a.modifiedGmt) < (b.dateGmt ?? b.modifiedGmt) ? 1 : -1));
    const page = params.page === undefined ? 1 : Number(params.page);
    const pages = Math.ceil(found.length / perPage);
    if (page > pages && found.length > 0) {
      return restError(
        400,
        'rest_post_invalid_page_number',
        'The page number requested is larger than the number of pages available.',
      );
    }
    return {
      status: 200,
      headers: {
        ...restHeaders(request),
        'x-wp-total': String(found.length),
        'x-wp-totalpages': String(pages),
      },
      body: found.slice((page - 1) * perPage, page * perPage).map((post) => postBody(request, post, context)),
    };
  };

  const invalidId = () => restError(404, 'rest_post_invalid_id', 'Invalid post ID.');

  const postItem = (request: RecordedRequest, id: number): SimulatorResponse => {
    const user = currentUser(request);
    const post = posts.find((candidate) => candidate.id === id);
    if (request.method === 'GET') {
      const context = contextOf(request.query);
      if (!context) return badContext();
      if (!post) return invalidId();
      if (context === 'edit' && !canEdit(user, post)) {
        return restError(
          refusedStatus(user),
          'rest_forbidden_context',
          'Sorry, you are not allowed to edit this post.',
        );
      }
      if (!canRead(user, post)) {
        return restError(refusedStatus(user), 'rest_forbidden', 'Sorry, you are not allowed to do that.');
      }
      return { status: 200, headers: restHeaders(request), body: postBody(request, post, context) };
    }
    if (request.method === 'DELETE') {
      if (!post) return invalidId();
      const own = post.author === user?.id;
      const published = post.status === 'publish' || post.status === 'future';
      const allowed =
        user !== null &&
        (own
          ? can(user, published ? 'delete_published_posts' : 'delete_posts')
          : can(user, 'delete_others_posts') && (!published || can(user, 'delete_published_posts')));
      if (!allowed) {
        return restError(
          refusedStatus(user),
          'rest_cannot_delete',
          'Sorry, you are not allowed to delete this post.',
        );
      }
      const force = ['1', 'true'].includes(
        String(request.query.force ?? (request.body as { force?: unknown })?.force),
      );
      if (force) {
        const previous = postBody(request, post, 'edit');
        posts.splice(posts.indexOf(post), 1);
        return { status: 200, headers: restHeaders(request), body: { deleted: true, previous } };
      }
      if (post.status === 'trash') {
        return restError(410, 'rest_already_trashed', 'The post has already been deleted.');
      }
      // wp_trash_post: the slug gets `__trashed` so that a post created later may have it.
      post.trashedFrom = post.status;
      post.status = 'trash';
      if (post.slug !== '') post.slug = `${post.slug}__trashed`;
      post.modifiedGmt = mysqlDate(now());
      return { status: 200, headers: restHeaders(request), body: postBody(request, post, 'edit') };
    }
    // POST, PUT and PATCH update.
    const params = readBodyParams(request);
    if (isResponse(params)) return params;
    const invalid = checkWriteParams(params, post ?? null);
    if (invalid) return invalid;
    if (!post) return invalidId();
    if (!canEdit(user, post)) {
      return restError(
        refusedStatus(user),
        'rest_cannot_edit',
        'Sorry, you are not allowed to edit this post.',
      );
    }
    return writePost(request, user!, params, post);
  };

  const createPost = (request: RecordedRequest): SimulatorResponse => {
    const params = readBodyParams(request);
    if (isResponse(params)) return params;
    const invalid = checkWriteParams(params, null);
    if (invalid) return invalid;
    if (params.id !== undefined && params.id !== '' && Number(params.id) !== 0) {
      return restError(400, 'rest_post_exists', 'Cannot create existing post.');
    }
    const user = currentUser(request);
    if (!user || !can(user, 'edit_posts')) {
      return restError(
        refusedStatus(user),
        'rest_cannot_create',
        'Sorry, you are not allowed to create posts as this user.',
      );
    }
    return writePost(request, user, params, null);
  };

  const cronPage = (request: RecordedRequest): SimulatorResponse => {
    // wp-cron.php ends at once for a POST with a body; a GET runs every due event before it answers.
    const hasPostBody = request.method === 'POST' && request.body !== null && request.body !== '';
    if (!hasPostBody) runCron();
    return {
      status: 200,
      headers: {
        'content-type': 'text/html; charset=UTF-8',
        expires: 'Wed, 11 Jan 1984 05:00:00 GMT',
        'cache-control': 'no-cache, must-revalidate, max-age=0',
      },
      body: '',
    };
  };

  let traffic = options.traffic ?? false;
  let visitors: NodeJS.Timeout | null = null;
  const setTraffic = (on: boolean) => {
    traffic = on;
    if (on && !visitors) {
      visitors = setInterval(runCron, 100);
      visitors.unref();
    } else if (!on && visitors) {
      clearInterval(visitors);
      visitors = null;
    }
  };
  setTraffic(traffic);

  /** The REST server: `rest_route` is untrailingslashed and matched against the routes. */
  const rest = (request: RecordedRequest, route: string): SimulatorResponse => {
    const path = route.replace(/\/+$/, '') || '/';
    const noRoute = () =>
      restError(404, 'rest_no_route', 'No route was found matching the URL and request method.');
    const item = /^\/wp\/v2\/posts\/(\d+)$/.exec(path);
    if (item) {
      if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(request.method)) return noRoute();
      return postItem(request, Number(item[1]));
    }
    if (path === '/wp/v2/posts') {
      if (request.method === 'GET') return listPosts(request);
      if (request.method === 'POST') return createPost(request);
      return noRoute();
    }
    const routes: Record<string, (request: RecordedRequest) => SimulatorResponse> = {
      '/': index,
      '/wp/v2/users/me': me,
    };
    const handler = routes[path];
    if (!handler || request.method !== 'GET') return noRoute();
    return handler(request);
  };

  const server = await startSimulatorServer(
    (request) => {
      if (request.path === '/wp-cron.php') return cronPage(request);
      // Every other page load spawns WP-Cron when visitors come (the loopback request runs it just after).
      if (traffic) setImmediate(runCron);
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
    posts: () => posts.map((post) => ({ ...post })),
    runCron,
    setTraffic,
    async close() {
      setTraffic(false);
      await server.close();
    },
  };
}
