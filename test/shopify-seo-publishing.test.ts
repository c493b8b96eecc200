// Product SEO published by Glowtify at the time, end to end through the API on the real stack (Temporal,
// PostgreSQL, the worker, the Shopify simulator): one change at the time with the product's id, its admin URL
// and the values it replaced on the publication; a lost answer then the retry still one change with the
// originals shown; Shopify failing at the time tried three times (the limit), then the epic in error.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ShopifySimulator } from '../sandbox/shopify.ts';
import { createWorkspace } from './support/api.ts';
import { connectOAuth } from './support/platforms.ts';
import { isoInSeconds, useStack, waitForStatus } from './support/stack.ts';

const stack = useStack({ platforms: {} });
const shopify = (): ShopifySimulator => stack.platforms!.shopify;
const original = { title: 'Linen shirt | Glow Beauty', description: 'Our linen shirt, cut in Montréal.' };
const wanted = { seoTitle: 'Linen shirt for hot days', seoDescription: 'Breathable linen, washed soft.' };

interface SeoPublication {
  status: string;
  attempts: number;
  externalId: string | null;
  externalUrl: string | null;
  lastError: { class: string } | null;
  publishedAt: string | null;
  revert?: { resource: { type: string; id: string }; seoTitle: string | null; seoDescription: string | null };
}

const product = (index: number) => shopify().products()[index]!;
/** The productUpdate requests Shopify received for one product. */
const updatesOf = (id: string) =>
  shopify()
    .receivedMatching('/graphql.json', 'POST')
    .filter((request) => {
      const body = JSON.stringify(request.body);
      return body.includes('productUpdate') && body.includes(id);
    });

/**
 * A workspace with Shopify connected and an epic scheduled a few seconds out, changing the SEO of the store's
 * product number `index` (named by its bare number, as the admin's URL shows it), which the merchant gave SEO
 * of its own first.
 */
async function scheduledSeoChange(name: string, index: number) {
  const target = product(index);
  shopify().setSeo(target.id, original);
  const changesBefore = product(index).seoChanges.length;
  const workspace = await createWorkspace(stack.harness, name);
  const connector = await connectOAuth(stack.harness.app, workspace, 'shopify', { shop: 'glow-beauty' });
  const store = connector.accounts.find((account) => account.kind === 'shopify_store')!;
  const epic = (await workspace.api.post('/v1/epics', { title: name })).json() as { id: string };
  const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
    channel: 'shopify_product_seo',
    connectorId: connector.id,
    accountId: store.id,
    content: { resource: { type: 'product', id: target.id.split('/').at(-1) }, ...wanted },
  });
  assert.equal(task.statusCode, 201, task.body);
  assert.equal(task.json().content.resource.id, target.id, 'the bare number is stored as the global id');
  await workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.json().id}/approve`);
  assert.equal((await workspace.api.post(`/v1/epics/${epic.id}/review`)).statusCode, 200);
  const scheduledAt = isoInSeconds(3);
  const scheduled = await workspace.api.post(`/v1/epics/${epic.id}/schedule`, { scheduledAt });
  assert.equal(scheduled.statusCode, 200, scheduled.body);
  return { workspace, epicId: epic.id, target, changesBefore, scheduledAt };
}

const publicationOf = (epic: { tasks: { publication: unknown }[] }) =>
  epic.tasks[0]?.publication as SeoPublication;

describe('a product’s SEO published by Glowtify at the time', () => {
  it('changes once at the time, with the product’s id, its admin URL and the values it replaced', async () => {
    const { workspace, epicId, target, changesBefore, scheduledAt } = await scheduledSeoChange(
      'SEO at the time',
      0,
    );
    assert.deepEqual(product(0).seo, original, 'nothing changes before the time');

    const publication = publicationOf(await waitForStatus(workspace, epicId, 'published'));
    assert.equal(publication.status, 'published');
    assert.equal(publication.attempts, 1);
    assert.equal(publication.externalId, target.id);
    assert.equal(
      publication.externalUrl,
      `https://admin.shopify.com/store/glow-beauty/products/${target.id.split('/').at(-1)}`,
    );
    assert.deepEqual(publication.revert, {
      resource: { type: 'product', id: target.id },
      seoTitle: original.title,
      seoDescription: original.description,
    });
    assert.deepEqual(product(0).seo, { title: wanted.seoTitle, description: wanted.seoDescription });
    const changes = product(0).seoChanges.slice(changesBefore);
    assert.equal(changes.length, 1, 'one change');
    assert.ok(changes[0]!.at.getTime() >= Date.parse(scheduledAt), 'not before the time');
    assert.equal(updatesOf(target.id).length, 1);
  });

  it('a lost answer to the update, then the retry: one change, the originals still on the publication', async () => {
    shopify().dropAnswerNext({ path: '/graphql.json', body: 'productUpdate' });
    const { workspace, epicId, target, changesBefore } = await scheduledSeoChange('SEO lost answer', 1);

    const publication = publicationOf(await waitForStatus(workspace, epicId, 'published'));
    assert.ok(publication.attempts >= 2, 'the lost answer cost an attempt');
    assert.equal(publication.externalId, target.id);
    assert.equal(publication.revert?.seoTitle, original.title, 'not Glowtify’s own values read back');
    assert.equal(publication.revert?.seoDescription, original.description);
    assert.equal(product(1).seoChanges.length - changesBefore, 1, 'one change');
    assert.equal(updatesOf(target.id).length, 1, 'the retry saw it applied and sent nothing');
  });

  it('Shopify failing at the time: three attempts (the limit), then the epic is in error and nothing changed', async () => {
    shopify().failWith('transient', { path: '/graphql.json', body: 'productUpdate', times: 10 });
    try {
      const { workspace, epicId, target, changesBefore } = await scheduledSeoChange('SEO Shopify down', 2);
      const publication = publicationOf(await waitForStatus(workspace, epicId, 'error'));
      assert.equal(publication.status, 'failed');
      assert.equal(publication.attempts, 3);
      assert.equal(publication.lastError?.class, 'TRANSIENT');
      assert.equal(updatesOf(target.id).length, 3, 'one update per attempt');
      assert.equal(product(2).seoChanges.length, changesBefore);
      // Read before the first update: what a revert would write is known even though nothing changed.
      assert.equal(publication.revert?.seoTitle, original.title);
    } finally {
      shopify().clearFailures();
    }
  });
});
