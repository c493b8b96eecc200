// A media host simulator (tests and the demo): the CDN a task's media URLs point at. It answers HEAD and
// ranged GETs as a static file server does (Content-Type, Content-Length, 206 with Content-Range), 404 for
// what it does not hold, and takes the failure injection of every simulator (a 503, a dropped answer).
import {
  type RecordedRequest,
  type SimulatorResponse,
  type SimulatorServer,
  startSimulatorServer,
} from './simulator-server.ts';

export interface MediaFile {
  contentType: string;
  /** The file's size; its bytes are never sent beyond the one a ranged GET asks for. */
  bytes: number;
}

export type MediaSimulator = SimulatorServer & {
  /** Serves a file at this path (`/spring/1.jpg`) from now on; answers its URL. */
  put(path: string, file: MediaFile): string;
  /** Stops serving it: from now on the path answers 404. */
  remove(path: string): void;
  /** The URL of a path on this host. */
  urlOf(path: string): string;
  /** When true, HEAD answers 405 (servers that allow GET only), so only a GET can tell. */
  refuseHead: boolean;
};

const rangePattern = /^bytes=(\d+)-(\d*)$/;

export async function startMediaSimulator(options: { port?: number } = {}): Promise<MediaSimulator> {
  const files = new Map<string, MediaFile>();

  const handler = (request: RecordedRequest): SimulatorResponse => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return { status: 405, headers: { allow: 'GET, HEAD' } };
    }
    const file = files.get(request.path);
    if (!file) {
      return request.method === 'HEAD'
        ? { status: 404, headers: { 'content-type': 'text/html' } }
        : { status: 404, headers: { 'content-type': 'text/html' }, body: '<h1>Not Found</h1>' };
    }
    if (request.method === 'HEAD') {
      if (simulator.refuseHead) return { status: 405, headers: { allow: 'GET' } };
      return {
        status: 200,
        headers: {
          'content-type': file.contentType,
          'content-length': String(file.bytes),
          'accept-ranges': 'bytes',
        },
      };
    }
    const range = rangePattern.exec(request.headers.range ?? '');
    const first = range ? Number(range[1]) : 0;
    const last = range
      ? Math.min(range[2] ? Number(range[2]) : file.bytes - 1, file.bytes - 1)
      : file.bytes - 1;
    if (range && first >= file.bytes) {
      return { status: 416, headers: { 'content-range': `bytes */${file.bytes}` } };
    }
    return {
      status: range ? 206 : 200,
      headers: {
        'content-type': file.contentType,
        'content-length': String(last - first + 1),
        ...(range ? { 'content-range': `bytes ${first}-${last}/${file.bytes}` } : {}),
      },
      body: '\0'.repeat(last - first + 1),
    };
  };

  const server = await startSimulatorServer(handler, {
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  const simulator: MediaSimulator = Object.assign(server, {
    refuseHead: false,
    put(path: string, file: MediaFile) {
      files.set(path, file);
      return `${server.url}${path}`;
    },
    remove(path: string) {
      files.delete(path);
    },
    urlOf: (path: string) => `${server.url}${path}`,
  });
  return simulator;
}
