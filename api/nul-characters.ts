// PostgreSQL's text and jsonb cannot hold U+0000: a request carrying one anywhere (a note, a title, a key of a
// task's content) would fail at the write with a 500. Every request is checked once, before validation, so
// every text field — and every one added later — answers 400 naming the field instead.
import type { FieldIssue } from './errors.ts';

const nul = '\u0000';
const message = 'must not contain the NUL character (U+0000)';

/** Each place in `value` (a parsed body, query or params) where a string or a key holds U+0000. */
export function nulCharacterIssues(value: unknown, where: string): FieldIssue[] {
  if (typeof value === 'string') return value.includes(nul) ? [{ field: where, message }] : [];
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value))
    return value.flatMap((item, index) => nulCharacterIssues(item, `${where}.${index}`));
  return Object.entries(value).flatMap(([key, item]) => {
    const field = `${where}.${key.replaceAll(nul, '\\u0000')}`;
    return key.includes(nul) ? [{ field, message }] : nulCharacterIssues(item, field);
  });
}
