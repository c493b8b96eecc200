// What the user chooses on a connector: its settings (Google Analytics' autoUtm) and the accounts to publish
// to or sync. Neither touches credentials or status; each change is audited with who made it.
import { eq } from 'drizzle-orm';
import { auditConnector } from '../audit.ts';
import type { Database } from '../client.ts';
import { type AccountRow, type ConnectorRow, connectorAccounts, connectors } from '../schema.ts';
import { listAccounts, selectConnector } from './reads.ts';
import { ConnectorNotFound } from './transitions.ts';

/**
 * Merges settings into the connector's. `refuse` sees the locked connector first and throws to refuse a
 * setting that does not belong to it.
 */
export async function changeSettings(
  db: Database,
  input: {
    workspaceId: string;
    connectorId: string;
    actor: string;
    settings: Record<string, unknown>;
    refuse: (connector: ConnectorRow) => void;
  },
) {
  return db.transaction(async (tx) => {
    const [connector] = await selectConnector(tx, input.workspaceId, input.connectorId).for('update');
    if (!connector) throw new ConnectorNotFound('connector');
    input.refuse(connector);
    const [updated] = await tx
      .update(connectors)
      .set({ settings: { ...connector.settings, ...input.settings }, updatedAt: new Date() })
      .where(eq(connectors.id, connector.id))
      .returning();
    await auditConnector(tx, connector, {
      action: 'settings',
      actor: input.actor,
      details: { settings: input.settings },
    });
    return { connector: updated!, accounts: await listAccounts(tx, connector.id) };
  });
}

/**
 * Enables exactly the accounts named (the others are disabled). Names that are not this connector's accounts
 * refuse the whole choice: they come back as `unknown`, and nothing changes.
 */
export async function chooseAccounts(
  db: Database,
  input: { workspaceId: string; connectorId: string; actor: string; enabled: string[] },
): Promise<{ unknown: string[] } | { connector: ConnectorRow; accounts: AccountRow[] }> {
  return db.transaction(async (tx) => {
    const [connector] = await selectConnector(tx, input.workspaceId, input.connectorId);
    if (!connector) throw new ConnectorNotFound('connector');
    const accounts = await tx
      .select()
      .from(connectorAccounts)
      .where(eq(connectorAccounts.connectorId, connector.id));
    const known = new Set(accounts.map((account) => account.id));
    const unknown = input.enabled.filter((id) => !known.has(id));
    if (unknown.length > 0) return { unknown };
    const wanted = new Set(input.enabled);
    for (const account of accounts) {
      if (account.enabled !== wanted.has(account.id)) {
        await tx
          .update(connectorAccounts)
          .set({ enabled: wanted.has(account.id), updatedAt: new Date() })
          .where(eq(connectorAccounts.id, account.id));
      }
    }
    await auditConnector(tx, connector, {
      action: 'select_accounts',
      actor: input.actor,
      details: { enabled: [...wanted] },
    });
    return { connector, accounts: await listAccounts(tx, connector.id) };
  });
}
