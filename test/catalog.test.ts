// The catalog and the adapters agree: every platform of SPEC §6 is listed once, connects the way its adapter
// does, lists every channel of its platform, and Meta has its four sub-connections.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { catalog, catalogEntry } from '../connectors/catalog.ts';
import { createAdapters } from '../connectors/registry.ts';
import { channelCatalog, platforms } from '../domain/channels.ts';
import { testConfig } from './support/api.ts';

const adapters = createAdapters(testConfig());

describe('the connector catalog', () => {
  it('lists each platform once, with an adapter that connects the way the catalog says', () => {
    assert.deepEqual(catalog.map((entry) => entry.platform).sort(), [...platforms].sort());
    for (const entry of catalog) {
      const connector = adapters[entry.platform].connector;
      assert.ok(connector, `${entry.platform} has a connection flow`);
      assert.equal(connector.kind, entry.authMethod, `${entry.platform} connects by ${entry.authMethod}`);
      if (connector.kind === 'oauth')
        assert.deepEqual(connector.scopes, entry.scopes, `${entry.platform} scopes`);
    }
  });

  it("lists every channel with its platform's mode, and families match what a platform does", () => {
    for (const [channel, facts] of Object.entries(channelCatalog)) {
      const entry = catalogEntry(facts.platform);
      assert.ok(
        entry?.channels.some((listed) => listed.channel === channel && listed.mode === facts.mode),
        `${channel} is listed under ${facts.platform} as ${facts.mode}`,
      );
    }
    for (const entry of catalog) {
      if (entry.family === 'data')
        assert.equal(entry.channels.length, 0, `${entry.platform} publishes nothing`);
      else assert.ok(entry.channels.length > 0, `${entry.platform} publishes something`);
      if (entry.syncedKinds.length > 0) {
        assert.notEqual(entry.family, 'publication', `${entry.platform} syncs data`);
        assert.ok(adapters[entry.platform].sync, `${entry.platform} has a sync`);
        for (const kind of entry.syncedKinds)
          assert.ok(entry.accountKinds.includes(kind), `${kind} is found`);
      } else
        assert.notEqual(entry.family, 'data', `${entry.platform} is a data connector with nothing to sync`);
    }
  });

  it("has Meta's four sub-connections and its Ad Account round", () => {
    const meta = catalogEntry('meta')!;
    assert.deepEqual(
      meta.subConnections?.map((sub) => sub.kind),
      ['instagram_account', 'facebook_page', 'business_account', 'ad_account'],
    );
    assert.equal(meta.extraPermissions?.action, 'Enable Ad Account permissions');
    const url = new URL(
      adapters.meta.authorizeUrl({ state: 's', redirectUri: 'http://127.0.0.1/cb', extra: 'ads' }),
    );
    assert.match(url.searchParams.get('scope') ?? '', /ads_management/);
    const plain = new URL(adapters.meta.authorizeUrl({ state: 's', redirectUri: 'http://127.0.0.1/cb' }));
    assert.doesNotMatch(plain.searchParams.get('scope') ?? '', /ads_management/, 'ads only when asked');
  });
});
