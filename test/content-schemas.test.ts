// Task content per channel (SPEC §7): each example is accepted; an unknown field is refused by name.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { channels } from '../domain/channels.ts';
import { parseTaskContent } from '../domain/content.ts';
import { contentExamples } from './support/examples.ts';

describe('task content schemas', () => {
  for (const channel of channels) {
    it(`${channel}: accepts the example, refuses an unknown field by name`, () => {
      const valid = parseTaskContent(channel, contentExamples[channel]);
      assert.equal(valid.ok, true, JSON.stringify(valid));
      const invalid = parseTaskContent(channel, { ...contentExamples[channel], surprise: 1 });
      assert.equal(invalid.ok, false);
      if (!invalid.ok)
        assert.deepEqual(
          invalid.issues.map((issue) => issue.field),
          ['content.surprise'],
        );
    });
  }

  it('names nested problems with their path', () => {
    const result = parseTaskContent('klaviyo_email', {
      ...contentExamples.klaviyo_email,
      fromEmail: 'not-an-email',
      audiences: { included: [], extra: true },
    });
    assert.equal(result.ok, false);
    if (!result.ok) {
      const fields = result.issues.map((issue) => issue.field).sort();
      assert.deepEqual(fields, [
        'content.audiences.extra',
        'content.audiences.included',
        'content.fromEmail',
      ]);
    }
  });

  it('accepts only http(s) media URLs and 1 to 10 of them on Instagram', () => {
    assert.equal(parseTaskContent('instagram_post', { caption: '', mediaUrls: [] }).ok, false);
    assert.equal(
      parseTaskContent('instagram_post', { caption: '', mediaUrls: ['javascript:alert(1)'] }).ok,
      false,
    );
    const eleven = Array.from({ length: 11 }, (_, i) => `https://cdn.example/${i}.jpg`);
    assert.equal(parseTaskContent('instagram_post', { caption: '', mediaUrls: eleven }).ok, false);
  });
});
