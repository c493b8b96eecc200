// The pre-flight's look at a media URL before the time: does it answer, with an image or a video the channel
// takes, of a size the platform accepts, without downloading it (HEAD, or a one-byte ranged GET where HEAD is
// refused). A media URL comes from a user, so it goes through the same host guard as WordPress site URLs
// (public-hosts.ts); the platform fetches it from the public internet anyway, so a private address is a
// fault.
import { PlatformError } from '../domain/publication-errors.ts';
import { networkReason } from './http.ts';
import { type HostLookup, HostRefusedError, pinnedFetch, systemLookup } from './public-hosts.ts';

export type MediaKind = 'image' | 'video' | 'image_or_video';

export interface MediaExpectation {
  kind: MediaKind;
  /** The largest image the platform takes (bytes), where it documents one. */
  maxImageBytes?: number;
}

/**
 * What one look found: `usable`; `unusable` when the platform will refuse it (gone, not media, too big, not a
 * public address); `unknown` when this look could not tell (no answer, a 5xx, a time-out): nothing to flag.
 */
export type MediaCheck =
  | { state: 'usable'; contentType: string; bytes: number | null }
  | { state: 'unusable'; reason: string }
  | { state: 'unknown'; reason: string };

export type MediaProbe = (
  url: string,
  expectation: MediaExpectation,
  signal?: AbortSignal,
) => Promise<MediaCheck>;

export interface MediaProbeOptions {
  /** Lets media on private or loopback addresses be checked (tests, the demo); never in production. */
  allowPrivateHosts?: boolean;
  /** One look's time limit, redirects included: a pre-flight has many to make and none may hold it. */
  timeoutMs?: number;
  lookup?: HostLookup;
  maxRedirects?: number;
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
// Servers that refuse HEAD (or sign URLs for GET only) answer these to it: the ranged GET decides then.
const headRefusedStatuses = new Set([400, 403, 405, 501]);
const goneStatuses = new Set([404, 410]);

/** A URL as it may be shown in a reason: no query (a signed URL's signature) and no fragment. */
export function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return url.slice(0, 200);
  }
}

const kindLabel: Record<MediaKind, string> = {
  image: 'an image',
  video: 'a video',
  image_or_video: 'an image or a video',
};

function accepts(kind: MediaKind, contentType: string): boolean {
  const image = contentType.startsWith('image/');
  const video = contentType.startsWith('video/');
  return kind === 'image' ? image : kind === 'video' ? video : image || video;
}

/** The whole file's size: a ranged answer's Content-Range total, else its Content-Length. */
function sizeOf(status: number, headers: Headers): number | null {
  const range = /\/(\d+)\s*$/.exec(headers.get('content-range') ?? '');
  if (status === 206) return range?.[1] ? Number(range[1]) : null;
  const length = Number(headers.get('content-length') ?? Number.NaN);
  return Number.isSafeInteger(length) && length >= 0 ? length : null;
}

const mebibytes = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MiB`;

export function createMediaProbe(options: MediaProbeOptions = {}): MediaProbe {
  const reach = pinnedFetch({
    allowPrivateHosts: options.allowPrivateHosts ?? false,
    lookup: options.lookup ?? systemLookup,
  });
  const timeoutMs = options.timeoutMs ?? 5_000;
  const maxRedirects = options.maxRedirects ?? 5;

  /** One request, redirects followed hop by hop (each hop's host checked); the body is never read. */
  async function look(method: 'HEAD' | 'GET', start: URL, shown: string, signal: AbortSignal) {
    let url = start;
    for (let hops = 0; ; hops += 1) {
      const refused = hops === 0 ? 'points at' : 'redirects to';
      const response = await reach({
        message: `the media URL ${shown} ${refused} a private or loopback address`,
        unknownHost: 'transient',
      })(url.toString(), {
        method,
        headers: {
          accept: 'image/*, video/*',
          'user-agent': 'Glowtify pre-flight (media check)',
          ...(method === 'GET' ? { range: 'bytes=0-0' } : {}),
        },
        signal,
      });
      await response.body?.cancel();
      const location = response.headers.get('location');
      if (!redirectStatuses.has(response.status) || !location) return response;
      if (hops >= maxRedirects) return { unusable: `the media URL ${shown} redirects too many times` };
      const next = new URL(location, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        return { unusable: `the media URL ${shown} redirects to an address that is not http(s)` };
      }
      url = next;
    }
  }

  return async (url, expectation, signal) => {
    const shown = shownUrl(url);
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let answer: Awaited<ReturnType<typeof look>>;
    try {
      const start = new URL(url);
      answer = await look('HEAD', start, shown, combined);
      if ('status' in answer && headRefusedStatuses.has(answer.status)) {
        answer = await look('GET', start, shown, combined);
      }
    } catch (error) {
      if (signal?.aborted) throw error;
      if (error instanceof HostRefusedError) return { state: 'unusable', reason: error.message };
      if (error instanceof PlatformError) return { state: 'unknown', reason: error.failure.message };
      const why = timeout.aborted ? `no answer within ${timeoutMs} ms` : networkReason(error);
      return { state: 'unknown', reason: `the media URL ${shown} could not be reached (${why})` };
    }
    if (!('status' in answer)) return { state: 'unusable', reason: answer.unusable };
    const { status, headers } = answer;
    if (goneStatuses.has(status))
      return { state: 'unusable', reason: `the media URL ${shown} answers ${status}` };
    if (status < 200 || status >= 300) {
      return { state: 'unknown', reason: `the media URL ${shown} answers ${status}` };
    }
    const contentType = (headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType === '') {
      return { state: 'unknown', reason: `the media URL ${shown} does not say what it holds` };
    }
    if (!accepts(expectation.kind, contentType)) {
      return {
        state: 'unusable',
        reason: `the media URL ${shown} holds ${contentType}, not ${kindLabel[expectation.kind]}`,
      };
    }
    const bytes = sizeOf(status, headers);
    const max = expectation.maxImageBytes;
    if (contentType.startsWith('image/') && max !== undefined && bytes !== null && bytes > max) {
      return {
        state: 'unusable',
        reason: `the image at ${shown} is ${mebibytes(bytes)}; the platform takes at most ${mebibytes(max)}`,
      };
    }
    return { state: 'usable', contentType, bytes };
  };
}
