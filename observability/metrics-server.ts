// The worker's /metrics: its own registry followed by the Temporal SDK's worker metrics, which the SDK's core
// serves on a loopback port of its own (one scrape target per worker, not two).
import http from 'node:http';
import net from 'node:net';
import type { Registry } from 'prom-client';

/** A free loopback port for the SDK's exporter (it takes an address, not an already-open socket). */
export async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function serveMetrics(options: {
  host: string;
  port: number;
  registry: Registry;
  /** The SDK's Prometheus endpoint, appended to every answer. */
  sdkMetricsUrl?: string;
}): Promise<{ url: string; close(): Promise<void> }> {
  const sdkMetrics = async () => {
    if (!options.sdkMetricsUrl) return '';
    try {
      const response = await fetch(options.sdkMetricsUrl, { signal: AbortSignal.timeout(2_000) });
      return `${await response.text()}\n`;
    } catch (error) {
      return `# the Temporal SDK's metrics could not be read: ${(error as Error).message}\n`;
    }
  };
  const server = http.createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    Promise.all([options.registry.metrics(), sdkMetrics()]).then(
      ([own, sdk]) =>
        response.writeHead(200, { 'content-type': options.registry.contentType }).end(own + sdk),
      (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}/metrics`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
