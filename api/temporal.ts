// The API's link to Temporal: connects lazily and reconnects after a failure, so the API starts before the
// Temporal server and /readyz turns true by itself once the namespace answers.
import { Connection } from '@temporalio/client';

export interface TemporalLink {
  /** Resolves when the namespace answers within the timeout; otherwise says why not. */
  check(timeoutMs?: number): Promise<{ ok: true } | { ok: false; reason: string }>;
  /** The connection for workflow calls; throws if Temporal is not reachable now. */
  connection(): Promise<Connection>;
  close(): Promise<void>;
}

export function createTemporalLink(address: string, namespace: string): TemporalLink {
  let current: Promise<Connection> | null = null;

  const connect = () => {
    current ??= Connection.connect({ address, connectTimeout: 2_000 }).catch((error: unknown) => {
      current = null;
      throw error;
    });
    return current;
  };

  return {
    async check(timeoutMs = 2_000) {
      try {
        const connection = await connect();
        await connection.withDeadline(Date.now() + timeoutMs, () =>
          connection.workflowService.describeNamespace({ namespace }),
        );
        return { ok: true };
      } catch (error) {
        const reason = (error as Error).message.split('\n')[0] ?? 'unreachable';
        // A connection whose server went away is replaced on the next check rather than trusted forever.
        const stale = current;
        current = null;
        if (stale) await stale.then((connection) => connection.close()).catch(() => {});
        return { ok: false, reason: `Temporal at ${address}, namespace ${namespace}: ${reason}` };
      }
    },
    connection: connect,
    async close() {
      const stale = current;
      current = null;
      if (stale) await stale.then((connection) => connection.close()).catch(() => {});
    },
  };
}
