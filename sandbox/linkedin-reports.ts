// The LinkedIn simulator's organizationalEntityShareStatistics (`q=organizationalEntity`, posts by
// `shares=List(…)` and `ugcPosts=List(…)`, scope rw_organization_admin, ADMINISTRATOR role): lifetime totals
// that grow with the simulator's clock since each post; a deleted post is simply not counted any more.
import type { SimulatorResponse } from './simulator-server.ts';

export interface StatisticsPost {
  id: string;
  author: string;
  createdAt: Date;
}

export interface LinkedInReportsDependencies {
  clock: () => number;
  posts: () => StatisticsPost[];
  /** Whether the token may read this organization's statistics (scope and ADMINISTRATOR role). */
  administers: (scopes: string[], organizationUrn: string) => boolean;
  restError: (
    status: number,
    fields: { message: string; serviceErrorCode?: number; code?: string },
  ) => SimulatorResponse;
  accessDenied: (resource: string) => SimulatorResponse;
}

const grow = (rate: number, elapsedMs: number) =>
  Math.floor(rate * Math.sqrt(Math.max(0, elapsedMs) / 60_000));

/** `List(a,b)` as Rest.li 2.0 writes it (already URL-decoded), or null when it is not one. */
function restliList(value: string | undefined): string[] | null {
  if (value === undefined) return [];
  const match = /^List\((.*)\)$/.exec(value);
  if (!match) return null;
  return (match[1] ?? '')
    .split(',')
    .map((item) => decodeURIComponent(item.trim()))
    .filter(Boolean);
}

export function createLinkedInReports(deps: LinkedInReportsDependencies) {
  const shareStatistics = (
    request: { query: Record<string, string> },
    token: { scopes: string[] },
  ): SimulatorResponse => {
    const { query } = request;
    if (query.q !== 'organizationalEntity' || !query.organizationalEntity)
      return deps.restError(400, {
        code: 'ILLEGAL_ARGUMENT',
        message: 'q=organizationalEntity and organizationalEntity are required',
      });
    const organization = query.organizationalEntity;
    if (!/^urn:li:organization:\d+$/.test(organization))
      return deps.restError(400, {
        code: 'ILLEGAL_ARGUMENT',
        message: `Invalid organizationalEntity ${organization}`,
      });
    if (!deps.administers(token.scopes, organization))
      return deps.accessDenied('organizationalEntityShareStatistics.FINDER-organizationalEntity');
    const shares = restliList(query.shares);
    const ugcPosts = restliList(query.ugcPosts);
    if (shares === null || ugcPosts === null)
      return deps.restError(400, {
        code: 'ILLEGAL_ARGUMENT',
        message: 'shares and ugcPosts must be Rest.li lists: List(urn,…)',
      });
    if (
      shares.some((urn) => !urn.startsWith('urn:li:share:')) ||
      ugcPosts.some((urn) => !urn.startsWith('urn:li:ugcPost:'))
    )
      return deps.restError(400, {
        code: 'ILLEGAL_ARGUMENT',
        message: 'shares take share URNs and ugcPosts ugcPost URNs',
      });
    const wanted = new Set([...shares, ...ugcPosts]);
    const now = deps.clock();
    const elements = deps
      .posts()
      .filter((post) => wanted.has(post.id) && post.author === organization)
      .map((post) => {
        const impressionCount = grow(80, now - post.createdAt.getTime());
        const clickCount = Math.floor(impressionCount / 30);
        const likeCount = Math.floor(impressionCount / 20);
        const commentCount = Math.floor(impressionCount / 120);
        const shareCount = Math.floor(impressionCount / 150);
        return {
          organizationalEntity: organization,
          [post.id.startsWith('urn:li:share:') ? 'share' : 'ugcPost']: post.id,
          totalShareStatistics: {
            impressionCount,
            uniqueImpressionsCount: Math.floor(impressionCount * 0.75),
            clickCount,
            likeCount,
            commentCount,
            shareCount,
            engagement:
              impressionCount > 0
                ? (clickCount + likeCount + commentCount + shareCount) / impressionCount
                : 0,
          },
        };
      });
    return { status: 200, body: { paging: { start: 0, count: elements.length, links: [] }, elements } };
  };
  return { shareStatistics };
}
