// What the workflow starters read from the database for a run's summary (domain/workflow-summaries.ts): a
// workspace's name, a connector's platform and accounts. A failed or slow read never fails nor holds up a
// start: the summary then names what it knows (ids), and the run is the same.
import { asc, eq } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { connectorAccounts, connectors, workspaces } from '../db/schema.ts';
import type { ConnectorSummaryFacts } from '../domain/workflow-summaries.ts';

export interface SummaryFacts {
  /** The workspace's name; null when it cannot be read. */
  workspaceName(workspaceId: string): Promise<string | null>;
  /** The connector's platform, accounts and workspace name; null when it cannot be read. */
  connector(connectorId: string): Promise<ConnectorSummaryFacts | null>;
}

/**
 * How long a read may take. An epic's start runs inside its schedule's transaction, which holds a pooled
 * connection: with every connection held so, a read waiting for one would wait for ever.
 */
const readTimeoutMs = 1_500;
/** Workspaces are never renamed: a name read once holds. Bounded all the same. */
const cachedNames = 10_000;

async function within<T>(read: Promise<T>): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), readTimeoutMs);
  });
  try {
    return await Promise.race([read.catch(() => null), late]);
  } finally {
    clearTimeout(timer);
  }
}

export function createSummaryFacts(db: Database): SummaryFacts {
  const names = new Map<string, string>();
  async function workspaceName(workspaceId: string) {
    const known = names.get(workspaceId);
    if (known !== undefined) return known;
    const row = await within(
      db
        .select({ name: workspaces.name })
        .from(workspaces)
        .where(eq(workspaces.id, workspaceId))
        .limit(1)
        .then((rows) => rows[0]),
    );
    if (!row) return null;
    if (names.size >= cachedNames) names.clear();
    names.set(workspaceId, row.name);
    return row.name;
  }
  return {
    workspaceName,
    connector: (connectorId) =>
      within(
        (async (): Promise<ConnectorSummaryFacts | null> => {
          const [connector] = await db
            .select({ id: connectors.id, platform: connectors.platform, workspaceId: connectors.workspaceId })
            .from(connectors)
            .where(eq(connectors.id, connectorId))
            .limit(1);
          if (!connector) return null;
          const accounts = await db
            .select({
              kind: connectorAccounts.kind,
              name: connectorAccounts.name,
              enabled: connectorAccounts.enabled,
            })
            .from(connectorAccounts)
            .where(eq(connectorAccounts.connectorId, connectorId))
            .orderBy(asc(connectorAccounts.kind), asc(connectorAccounts.name));
          return {
            connectorId: connector.id,
            platform: connector.platform,
            workspaceId: connector.workspaceId,
            workspaceName: await workspaceName(connector.workspaceId),
            accounts,
          };
        })(),
      ),
  };
}
