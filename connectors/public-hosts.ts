// The guard every request to a host a user named goes through (a WordPress site, a media URL): http(s) only,
// no private, loopback, link-local or metadata address, checked at every redirect hop, and the socket
// connects only to the addresses that were just checked.
//
// DNS rebinding: checking a host's addresses and then letting an HTTP client resolve the name again would let
// a host answer a public address to the check and 169.254.169.254 to the request. So callers are handed a
// fetch over node:http(s) with a `lookup` of our own: it resolves the host once, refuses if any address is
// non-public, and hands exactly those checked addresses to the socket (the host name stays in the URL: Host,
// SNI and certificate checks are unchanged). IP-literal hosts, which are never looked up, are checked as they
// are. Redirects are left to the caller, hop by hop, each hop checked the same way.
import { lookup as dnsLookup } from 'node:dns/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { PlatformError } from '../domain/publication-errors.ts';
import { CredentialsRejectedError } from './types.ts';

/** Resolves a host name to every address it has (tests stub it; default: the system resolver). */
export type HostLookup = (hostname: string) => Promise<{ address: string; family: number }[]>;

/**
 * A host the guard refused; the message is shown to the user as it is. A WordPress site URL is part of its
 * credentials, so it is a CredentialsRejectedError there; other callers tell it apart by this class.
 */
export class HostRefusedError extends CredentialsRejectedError {}

function rejected(message: string): HostRefusedError {
  return new HostRefusedError(message);
}

const notFoundCodes = new Set(['ENOTFOUND', 'EAI_NONAME', 'EAI_NODATA', 'ENODATA']);

type Range = readonly [base: number, prefix: number];

const ipv4 = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

// Not public unicast: what a server-side request must never reach on a user's say-so.
const nonPublicV4: readonly Range[] = [
  [ipv4(0, 0, 0, 0), 8], // "this network", 0.0.0.0
  [ipv4(10, 0, 0, 0), 8], // private
  [ipv4(100, 64, 0, 0), 10], // carrier-grade NAT (also cloud metadata such as 100.100.100.200)
  [ipv4(127, 0, 0, 0), 8], // loopback
  [ipv4(169, 254, 0, 0), 16], // link-local (cloud metadata 169.254.169.254)
  [ipv4(172, 16, 0, 0), 12], // private
  [ipv4(192, 0, 0, 0), 24], // IETF protocol assignments
  [ipv4(192, 0, 2, 0), 24], // documentation
  [ipv4(192, 168, 0, 0), 16], // private
  [ipv4(198, 18, 0, 0), 15], // benchmarking
  [ipv4(198, 51, 100, 0), 24], // documentation
  [ipv4(203, 0, 113, 0), 24], // documentation
  [ipv4(224, 0, 0, 0), 4], // multicast
  [ipv4(240, 0, 0, 0), 4], // reserved, broadcast
];

function inRange(value: number, [base, prefix]: Range): boolean {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (value & mask) >>> 0 === (base & mask) >>> 0;
}

function parseIPv4(text: string): number | null {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!match) return null;
  const parts = match.slice(1).map(Number);
  if (parts.some((part) => part > 255)) return null;
  const [a, b, c, d] = parts as [number, number, number, number];
  return ipv4(a, b, c, d);
}

/** The eight 16-bit groups of an IPv6 address (an embedded dotted IPv4 tail allowed), or null. */
function parseIPv6(text: string): number[] | null {
  if (isIP(text) !== 6) return null;
  let head = text;
  const tail: number[] = [];
  const dotted = /:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (dotted?.[1]) {
    const v4 = parseIPv4(dotted[1]);
    if (v4 === null) return null;
    tail.push(v4 >>> 16, v4 & 0xffff);
    head = `${text.slice(0, dotted.index)}:`;
  }
  const halves = head.split('::');
  const groups = (part: string | undefined) =>
    part === undefined || part === '' ? [] : part.split(':').filter((group) => group !== '');
  const left = groups(halves[0]).map((group) => Number.parseInt(group, 16));
  const right = groups(halves[1]).map((group) => Number.parseInt(group, 16));
  const missing = 8 - tail.length - left.length - right.length;
  if (halves.length === 1 && missing !== 0) return null;
  if (missing < 0) return null;
  return [...left, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...right, ...tail];
}

function nonPublicV6(groups: number[]): boolean {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = groups;
  const embedded = ((g6 << 16) | g7) >>> 0;
  const v4Private = (value: number) => nonPublicV4.some((range) => inRange(value, range));
  const zeroTo = (count: number) => groups.slice(0, count).every((group) => group === 0);
  if (zeroTo(8)) return true; // :: unspecified
  if (zeroTo(7) && g7 === 1) return true; // ::1 loopback
  if (zeroTo(5) && g5 === 0xffff) return v4Private(embedded); // ::ffff:a.b.c.d mapped
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return v4Private(embedded); // ::ffff:0:a.b.c.d translated
  if (zeroTo(6)) return v4Private(embedded); // ::a.b.c.d (deprecated IPv4-compatible)
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return v4Private(embedded); // 64:ff9b::/96 NAT64 reaches the embedded IPv4 address
  }
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return true; // 64:ff9b:1::/48 local-use NAT64
  if (g0 === 0x2002) return v4Private(((g1 << 16) | g2) >>> 0); // 6to4 embeds an IPv4 address
  if ((g0 & 0xfe00) === 0xfc00) return true; // fc00::/7 unique local (AWS metadata fd00:ec2::254)
  if ((g0 & 0xffc0) === 0xfe80) return true; // fe80::/10 link-local
  if ((g0 & 0xffc0) === 0xfec0) return true; // fec0::/10 site-local (deprecated)
  if ((g0 & 0xff00) === 0xff00) return true; // multicast
  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return true; // 100::/64 discard
  if (g0 === 0x2001 && g1 === 0xdb8) return true; // documentation
  return false;
}

/**
 * Whether an IP address is not a public unicast address: private, loopback, link-local, CGNAT, unique-local,
 * unspecified, metadata, multicast, reserved or documentation ranges, IPv4-mapped/NAT64/6to4 forms of those.
 * Accepts IPv6 with or without brackets or a zone, and the legacy IPv4 spellings a URL parser accepts
 * (`2130706433`, `0x7f.1`). Anything that is not an IP address answers false.
 */
export function isPrivateAddress(ip: string): boolean {
  const text =
    ip
      .trim()
      .replace(/^\[(.*)\]$/, '$1')
      .split('%')[0] ?? '';
  const v6 = parseIPv6(text);
  if (v6) return nonPublicV6(v6);
  let v4 = parseIPv4(text);
  if (v4 === null && /^[0-9a-fx.]+$/i.test(text)) {
    // The WHATWG URL parser reads inet_aton spellings (decimal, hex, octal, short forms) as IPv4.
    try {
      v4 = parseIPv4(new URL(`http://${text}/`).hostname);
    } catch {
      v4 = null;
    }
  }
  return v4 === null ? false : nonPublicV4.some((range) => inRange(v4, range));
}

/** Whether a host name is loopback by name alone (RFC 6761: `localhost` and anything under it). */
function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.+$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

export async function systemLookup(hostname: string) {
  return dnsLookup(hostname, { all: true, verbatim: true });
}

export interface HostGuard {
  allowPrivateHosts: boolean;
  lookup: HostLookup;
}

export type Refusal = { message: string; unknownHost: 'reject' | 'transient' };

/** A URL's host name without IPv6 brackets. */
const hostnameOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * Checks a host that needs no DNS: an IP literal (refused when non-public) or a loopback name (refused).
 * Returns whether the host was one of those; a host name is left to resolveHost.
 */
function checkLiteralHost(hostname: string, guard: HostGuard, refusal: Refusal): boolean {
  if (isIP(hostname) !== 0) {
    if (!guard.allowPrivateHosts && isPrivateAddress(hostname)) throw rejected(refusal.message);
    return true;
  }
  if (!guard.allowPrivateHosts && isLocalhostName(hostname)) throw rejected(refusal.message);
  return false;
}

/**
 * Every address of a host name, refused (`refusal.message`) when any of them is not a public address, unless
 * `allowPrivateHosts`. An unknown host name is refused when `unknownHost` is 'reject' and TRANSIENT otherwise
 * (a DNS hiccup during a periodic check says nothing about the site).
 */
async function resolveHost(
  hostname: string,
  guard: HostGuard,
  refusal: Refusal,
): Promise<{ address: string; family: 4 | 6 }[]> {
  let addresses: { address: string }[];
  try {
    addresses = await guard.lookup(hostname);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && notFoundCodes.has(code) && refusal.unknownHost === 'reject') {
      throw rejected(`The site URL's host name ${hostname} does not resolve`);
    }
    throw new PlatformError({
      class: 'TRANSIENT',
      message: `The site's host name ${hostname} could not be resolved (${typeof code === 'string' ? code : 'DNS error'})`,
    });
  }
  if (addresses.length === 0) {
    if (refusal.unknownHost === 'reject')
      throw rejected(`The site URL's host name ${hostname} does not resolve`);
    throw new PlatformError({
      class: 'TRANSIENT',
      message: `The site's host name ${hostname} has no address`,
    });
  }
  // The family comes from the address itself; what is not an IP address at all is never connected to.
  const typed = addresses.map(({ address }) => ({ address, family: isIP(address) }));
  if (typed.some(({ family }) => family === 0)) throw rejected(refusal.message);
  if (!guard.allowPrivateHosts && typed.some(({ address }) => isPrivateAddress(address))) {
    throw rejected(refusal.message);
  }
  return typed as { address: string; family: 4 | 6 }[];
}

/** Refuses a URL whose host is, or resolves (every address) to, a non-public address (see resolveHost). */
export async function guardHost(url: URL, guard: HostGuard, refusal: Refusal): Promise<void> {
  if (guard.allowPrivateHosts) return;
  const hostname = hostnameOf(url);
  if (checkLiteralHost(hostname, guard, refusal)) return;
  await resolveHost(hostname, guard, refusal);
}

/**
 * The `lookup` of a socket: resolves the host with resolveHost (so it is checked) and gives the socket exactly
 * the addresses that were checked. A refusal reaches the request's 'error' event as it was thrown.
 */
function checkedLookup(guard: HostGuard, refusal: Refusal): LookupFunction {
  return (hostname, options, callback) => {
    const wanted = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
    resolveHost(hostname, guard, refusal).then(
      (addresses) => {
        const usable = addresses.filter(({ family }) => wanted === 0 || family === wanted);
        const [first] = usable;
        if (!first) {
          const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
          error.code = 'ENOTFOUND';
          callback(error, '');
        } else if (options.all) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
}

/**
 * How one hop reaches the site, as the fetch the shared transport calls: it refuses the hop's host unless the
 * host is allowed (throwing the refusal as the check raised it), and never follows a redirect.
 */
export type HopFetch = (refusal: Refusal) => typeof fetch;

const decoders: Record<string, (body: Buffer) => Buffer> = {
  gzip: gunzipSync,
  'x-gzip': gunzipSync,
  deflate: inflateSync,
  br: brotliDecompressSync,
};

// A Response must be built without a body for these.
const nullBodyStatuses = new Set([101, 103, 204, 205, 304]);

function headersOf(response: http.IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
      try {
        headers.append(name, item);
      } catch {
        // A header value fetch would not accept either: ignored.
      }
    }
  }
  return headers;
}

/**
 * An answer's body for a Response, read whole when first asked for and decoded as its Content-Encoding says;
 * a body that is not what it says it is, is read as it came (fetch would fail the whole answer).
 */
function bodyOf(response: http.IncomingMessage): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunks: Buffer[] = [];
      for await (const chunk of response) chunks.push(chunk as Buffer);
      let body: Buffer = Buffer.concat(chunks);
      const decode = decoders[(response.headers['content-encoding'] ?? '').trim().toLowerCase()];
      if (decode) {
        try {
          body = decode(body);
        } catch {
          // Read as it came.
        }
      }
      controller.enqueue(body);
      controller.close();
    },
    cancel() {
      response.destroy();
    },
  });
}

/**
 * A fetch over node:http(s) whose socket connects only to addresses checked by the same look-up
 * (checkedLookup), so nothing resolves the name again between the check and the connection; an IP-literal host
 * is checked as it is, since it is never looked up. No connection pooling: a pooled socket is keyed by host
 * name, not by the address it was opened to. A redirect comes back as an answer, as with `redirect: 'manual'`.
 * It takes what the shared transport sends: a URL, and a text or form body.
 */
export function pinnedFetch(guard: HostGuard): HopFetch {
  return (refusal) =>
    async (input, init = {}) => {
      if (input instanceof Request) throw new TypeError('The pinned fetch takes a URL, not a Request');
      init.signal?.throwIfAborted();
      const url = new URL(input);
      const hostname = hostnameOf(url);
      checkLiteralHost(hostname, guard, refusal);
      const body = init.body;
      if (body != null && typeof body !== 'string' && !(body instanceof URLSearchParams)) {
        throw new TypeError('The pinned fetch sends text and form bodies only');
      }
      return new Promise<Response>((resolve, reject) => {
        const options: http.RequestOptions = {
          protocol: url.protocol,
          hostname,
          port: url.port === '' ? undefined : Number(url.port),
          path: `${url.pathname}${url.search}`,
          method: init.method ?? 'GET',
          headers: Object.fromEntries(new Headers(init.headers).entries()),
          lookup: checkedLookup(guard, refusal),
          agent: false,
          signal: init.signal ?? undefined,
        };
        const request = (url.protocol === 'https:' ? https.request : http.request)(options, (response) => {
          const status = response.statusCode ?? 0;
          const nullBody = nullBodyStatuses.has(status);
          if (nullBody) response.resume();
          try {
            resolve(
              new Response(nullBody ? null : bodyOf(response), { status, headers: headersOf(response) }),
            );
          } catch (error) {
            // A status a Response cannot carry (outside 200-599): no answer anyone could read.
            response.destroy();
            reject(error);
          }
        });
        request.on('error', reject);
        request.end(body == null ? undefined : String(body));
      });
    };
}

/**
 * Tests only: the injected fetch behind the same host check, but it resolves the name again itself, so the
 * checked address is not pinned. Redirects are left to the adapter, as with the pinned fetch.
 */
export function checkedFetch(injected: typeof fetch, guard: HostGuard): HopFetch {
  return (refusal) => async (input, init) => {
    await guardHost(new URL(input instanceof Request ? input.url : input), guard, refusal);
    return injected(input, { ...init, redirect: 'manual' });
  };
}
