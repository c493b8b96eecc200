// The baseline's platform: an HTTP endpoint that records when each key arrived, and how many times.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function startReceiptServer() {
  const receipts = new Map<string, number[]>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const at = Date.now();
      try {
        const { key } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { key: string };
        receipts.set(key, [...(receipts.get(key) ?? []), at]);
        response.writeHead(204).end();
      } catch {
        response.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/receive`,
    receipts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
