// A token refresh racing a reconnect, on the real stack with 20-second tokens: while the platform holds the
// refresh's answer, no database transaction stays open and the reconnect goes through at once; the refresh's
// late answer — a refusal or new tokens — then changes nothing of the credentials the reconnect brought.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { and, eq } from 'drizzle-orm';
import { notifications } from '../db/schema.ts';
import type { HeldRequest } from '../sandbox/simulator-server.ts';
import { createWorkspace } from './support/api.ts';
import { browserOf, type ConnectorBody, connectOAuth, followConsent } from './support/platforms.ts';
import { type Stack, storedConnector, storedCredentials, useStack, waitFor } from './support/stack.ts';

const stack = useStack({ platforms: { accessTokenSeconds: 20 } });

const db = () => stack.harness.database.db;
const connectorRow = (id: string) => storedConnector(stack, id);
const credentialsOf = (id: string) => storedCredentials(stack, id);
/** Transactions left open, idle, for more than a second (a refresh waiting on the platform inside one). */
const openTransactions = async () =>
  (
    await stack.harness.database.sql<{ count: number }[]>`
      select count(*)::int as count from pg_stat_activity
      where datname = current_database() and state like 'idle in transaction%'
      and now() - state_change > interval '1 second'`
  )[0]!.count;

/** Reconnects through the consent flow; resolves with the callback's answer, or rejects after `ms`. */
async function reconnectWithin(
  connector: ConnectorBody,
  workspace: Awaited<ReturnType<typeof createWorkspace>>,
  ms: number,
) {
  const reconnect = await workspace.api.post(`/v1/connectors/${connector.id}/reconnect`, {});
  assert.equal(reconnect.statusCode, 200, reconnect.body);
  const callback = stack.harness.app.inject({
    method: 'GET',
    url: await followConsent(reconnect.json().authorizeUrl),
    cookies: browserOf(reconnect),
  });
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`the reconnect did not answer within ${ms} ms`)), ms),
  );
  return Promise.race([callback, timeout]);
}

async function heldRefresh(
  platform: 'canva' | 'tiktok',
  hold: (sim: Stack['platforms']) => HeldRequest,
  isRefresh: (body: Record<string, string>) => boolean,
) {
  const workspace = await createWorkspace(stack.harness, `Refresh race ${platform}`);
  const connector = await connectOAuth(stack.harness.app, workspace, platform);
  const before = await credentialsOf(connector.id);
  const held = hold(stack.platforms);
  const request = await held.reached;
  assert.ok(isRefresh(request.body as Record<string, string>), 'the held request is the refresh');
  // The platform is answering the refresh: nothing in the database waits on it.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.equal(await openTransactions(), 0, 'no transaction is held open across the platform call');
  const callback = await reconnectWithin(connector, workspace, 10_000);
  assert.equal(callback.statusCode, 200, callback.body);
  const reconnected = await credentialsOf(connector.id);
  assert.notEqual(reconnected.refreshToken, before.refreshToken);
  return { workspace, connector, held, reconnected };
}

describe('a token refresh racing a reconnect', { concurrency: true }, () => {
  it("a refusal of the credentials the reconnect replaced flips nothing (Canva's invalid_grant)", async () => {
    const { workspace, connector, held, reconnected } = await heldRefresh(
      'canva',
      (sims) => sims!.canva.holdNext({ path: /\/oauth\/token$/, method: 'POST' }),
      (body) => body.grant_type === 'refresh_token',
    );
    held.answer({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'The refresh token was already used' },
    });
    // The refresh workflow carries on with the new credentials; give it time to act on the refusal.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const row = await connectorRow(connector.id);
    assert.equal(row.status, 'connected');
    assert.deepEqual((await credentialsOf(connector.id)).refreshToken, reconnected.refreshToken);
    const told = await db()
      .select()
      .from(notifications)
      .where(and(eq(notifications.workspaceId, workspace.id), eq(notifications.kind, 'reconnect_required')));
    assert.deepEqual(told, [], 'nobody is told to reconnect');
  });

  it("new tokens for the credentials the reconnect replaced are not written over it (TikTok's rotation)", async () => {
    const { connector, held, reconnected } = await heldRefresh(
      'tiktok',
      (sims) => sims!.tiktok.holdNext({ path: /\/v2\/oauth\/token\/?$/, method: 'POST' }),
      (body) => body.grant_type === 'refresh_token',
    );
    held.release();
    // The refresh succeeded at TikTok, for the old credentials: the reconnect's stay.
    await waitFor(
      async () => (await connectorRow(connector.id)).refreshLeaseUntil,
      (lease) => lease === null,
    );
    const row = await connectorRow(connector.id);
    assert.equal(row.status, 'connected');
    assert.equal((await credentialsOf(connector.id)).refreshToken, reconnected.refreshToken);
  });
});
