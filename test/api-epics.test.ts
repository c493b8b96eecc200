// Epics through HTTP: the draft → review → draft path, approvals, duplicates, and each channel's content.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { and, eq } from 'drizzle-orm';
import { auditEvents } from '../db/schema.ts';
import { channelCatalog, channels } from '../domain/channels.ts';
import { useApiWorkspace } from './support/api.ts';
import { contentExamples } from './support/examples.ts';

const setup = useApiWorkspace();

async function addTask(epicId: string, channel: keyof typeof channelCatalog) {
  const target = await setup.workspace.connectorFor(channelCatalog[channel].platform);
  const body =
    channelCatalog[channel].target === 'account'
      ? { channel, ...target, content: contentExamples[channel] }
      : { channel, connectorId: target.connectorId, content: contentExamples[channel] };
  return setup.workspace.api.post(`/v1/epics/${epicId}/tasks`, body);
}

describe('epics and tasks over HTTP', () => {
  it('goes draft → review → draft, keeping the content, and records who did each step', async () => {
    const created = await setup.workspace.api.post('/v1/epics', {
      title: 'Spring launch',
      brief: 'Sell linen',
    });
    assert.equal(created.statusCode, 201);
    const epic = created.json();
    assert.equal(epic.status, 'draft');
    assert.equal(epic.scheduledAt, null);

    const instagram = (await addTask(epic.id, 'instagram_post')).json();
    const klaviyo = (await addTask(epic.id, 'klaviyo_email')).json();
    assert.equal(instagram.mode, 'soft');
    assert.equal(klaviyo.mode, 'real');
    assert.equal(klaviyo.accountId, null);

    const notYet = await setup.workspace.api.post(`/v1/epics/${epic.id}/review`);
    assert.equal(notYet.statusCode, 409);
    assert.equal(notYet.json().error.code, 'TASKS_NOT_APPROVED');
    assert.deepEqual(notYet.json().error.details.unapprovedTaskIds, [instagram.id, klaviyo.id]);

    assert.equal(
      (await setup.workspace.api.post(`/v1/epics/${epic.id}/tasks/${instagram.id}/approve`)).json().approved,
      true,
    );
    const stillOne = await setup.workspace.api.post(`/v1/epics/${epic.id}/review`);
    assert.equal(stillOne.statusCode, 409);
    assert.deepEqual(stillOne.json().error.details.unapprovedTaskIds, [klaviyo.id]);
    assert.match(stillOne.json().error.message, new RegExp(klaviyo.id));

    await setup.workspace.api.post(`/v1/epics/${epic.id}/tasks/${klaviyo.id}/approve`);
    const reviewed = await setup.workspace.api.post(`/v1/epics/${epic.id}/review`);
    assert.equal(reviewed.statusCode, 200);
    assert.equal(reviewed.json().status, 'review');

    const locked = await setup.workspace.api.patch(`/v1/epics/${epic.id}/tasks/${instagram.id}`, {
      content: { caption: 'changed', mediaUrls: ['https://cdn.acme.example/x.jpg'] },
    });
    assert.equal(locked.statusCode, 409);
    assert.equal(locked.json().error.code, 'EPIC_NOT_EDITABLE');

    const unconfirmed = await setup.workspace.api.post(`/v1/epics/${epic.id}/edit`, {});
    assert.equal(unconfirmed.statusCode, 400);
    assert.match(unconfirmed.json().error.message, /body\.confirm/);

    const back = await setup.workspace.api.post(`/v1/epics/${epic.id}/edit`, {
      confirm: true,
      reason: 'typo',
    });
    assert.equal(back.statusCode, 200);
    const draft = back.json();
    assert.equal(draft.status, 'draft');
    assert.deepEqual(
      draft.tasks.map((task: { content: unknown }) => task.content),
      [contentExamples.instagram_post, contentExamples.klaviyo_email],
    );

    const trail = await setup.harness.database.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.subjectId, epic.id), eq(auditEvents.subjectType, 'epic')))
      .orderBy(auditEvents.createdAt);
    assert.deepEqual(
      trail.map((event) => [event.action, event.fromStatus, event.toStatus]),
      [
        ['create', null, 'draft'],
        ['review', 'draft', 'review'],
        ['edit', 'review', 'draft'],
      ],
    );
    assert.ok(trail.every((event) => event.actor.startsWith('api-key:')));
  });

  it('withdraws a task’s approval when its content changes', async () => {
    const epic = (await setup.workspace.api.post('/v1/epics', { title: 'Edits' })).json();
    const task = (await addTask(epic.id, 'facebook_post')).json();
    await setup.workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.id}/approve`);
    const edited = await setup.workspace.api.patch(`/v1/epics/${epic.id}/tasks/${task.id}`, {
      content: { text: 'New text' },
    });
    assert.equal(edited.statusCode, 200);
    assert.equal(edited.json().approved, false);
    assert.deepEqual(edited.json().content, { text: 'New text' });
    const review = await setup.workspace.api.post(`/v1/epics/${epic.id}/review`);
    assert.deepEqual(review.json().error.details.unapprovedTaskIds, [task.id]);
  });

  it('duplicates any epic into a new draft with approvals reset', async () => {
    const epic = (await setup.workspace.api.post('/v1/epics', { title: 'Original', brief: 'b' })).json();
    const first = (await addTask(epic.id, 'linkedin_post')).json();
    const second = (await addTask(epic.id, 'wordpress_article')).json();
    for (const task of [first, second])
      await setup.workspace.api.post(`/v1/epics/${epic.id}/tasks/${task.id}/approve`);
    await setup.workspace.api.post(`/v1/epics/${epic.id}/review`);

    const copy = await setup.workspace.api.post(`/v1/epics/${epic.id}/duplicate`);
    assert.equal(copy.statusCode, 201);
    const duplicate = copy.json();
    assert.notEqual(duplicate.id, epic.id);
    assert.equal(duplicate.status, 'draft');
    assert.equal(duplicate.title, 'Original');
    assert.deepEqual(
      duplicate.tasks.map((task: { channel: string; approved: boolean; id: string }) => [
        task.channel,
        task.approved,
      ]),
      [
        ['linkedin_post', false],
        ['wordpress_article', false],
      ],
    );
    assert.ok(duplicate.tasks.every((task: { id: string }) => task.id !== first.id && task.id !== second.id));
    const original = (await setup.workspace.api.get(`/v1/epics/${epic.id}`)).json();
    assert.equal(original.status, 'review');
    assert.ok(original.tasks.every((task: { approved: boolean }) => task.approved));
  });

  it('edits title and brief only in draft, and deletes drafts and reviews', async () => {
    const epic = (await setup.workspace.api.post('/v1/epics', { title: 'Draft' })).json();
    const renamed = await setup.workspace.api.patch(`/v1/epics/${epic.id}`, {
      title: 'Renamed',
      brief: null,
    });
    assert.equal(renamed.json().title, 'Renamed');
    const removed = await setup.workspace.api.delete(`/v1/epics/${epic.id}`);
    assert.equal(removed.statusCode, 204);
    assert.equal((await setup.workspace.api.get(`/v1/epics/${epic.id}`)).statusCode, 404);
  });

  for (const channel of channels) {
    it(`${channel}: accepts a valid example and refuses an unknown field with a 400 naming it`, async () => {
      const epic = (await setup.workspace.api.post('/v1/epics', { title: channel })).json();
      const accepted = await addTask(epic.id, channel);
      assert.equal(accepted.statusCode, 201, accepted.body);
      assert.deepEqual(accepted.json().content, contentExamples[channel]);

      const target = await setup.workspace.connectorFor(channelCatalog[channel].platform);
      const refused = await setup.workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
        channel,
        ...(channelCatalog[channel].target === 'account' ? target : { connectorId: target.connectorId }),
        content: { ...contentExamples[channel], unexpectedField: 'x' },
      });
      assert.equal(refused.statusCode, 400);
      const error = refused.json().error;
      assert.equal(error.code, 'INVALID_INPUT');
      assert.deepEqual(error.details.issues, [
        { field: 'body.content.unexpectedField', message: `unknown field "unexpectedField" for ${channel}` },
      ]);
      const after = (await setup.workspace.api.get(`/v1/epics/${epic.id}`)).json();
      assert.equal(after.tasks.length, 1, 'the refused task was not written');
    });
  }

  it('requires an account for account channels and refuses one for email channels', async () => {
    const epic = (await setup.workspace.api.post('/v1/epics', { title: 'Targets' })).json();
    const meta = await setup.workspace.connectorFor('meta');
    const missing = await setup.workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
      channel: 'instagram_story',
      connectorId: meta.connectorId,
      content: contentExamples.instagram_story,
    });
    assert.equal(missing.statusCode, 400);
    assert.deepEqual(missing.json().error.details.issues, [
      { field: 'body.accountId', message: 'is required for instagram_story' },
    ]);
    const klaviyo = await setup.workspace.connectorFor('klaviyo');
    const wrongPlatform = await setup.workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
      channel: 'instagram_story',
      ...klaviyo,
      content: contentExamples.instagram_story,
    });
    assert.equal(wrongPlatform.statusCode, 400);
    assert.match(wrongPlatform.json().error.message, /meta connector, this one is klaviyo/);
  });
});
