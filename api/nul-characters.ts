// PostgreSQL's text and jsonb cannot hold U+0000: a request carrying one anywhere (a note, a title, a key of a
// task's content) would fail at the write with a 500. Every request is checked once, before validation, so
// every text field — and every one added later — answers 400 naming the field instead. The walk is a loop, not a
// recursion, and stops at a depth no route takes: a body of nested arrays must not overflow the stack.
import type { FieldIssue } from './errors.ts';

const nul = '\u0000';
const message = 'must not contain the NUL character (U+0000)';
/** Deeper than any content a route takes (an email's blocks are a few levels deep). */
export const maxRequestDepth = 32;

/** Each place in `value` (a parsed body, query or params) where a string or a key holds U+0000. */
export function nulCharacterIssues(value: unknown, where: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const pending: { value: unknown; field: string; depth: number }[] = [{ value, field: where, depth: 0 }];
  while (pending.length > 0) {
    const next = pending.pop()!;
    if (typeof next.value === 'string') {
      if (next.value.includes(nul)) issues.push({ field: next.field, message });
      continue;
    }
    if (next.value === null || typeof next.value !== 'object') continue;
    if (next.depth >= maxRequestDepth) {
      issues.push({ field: next.field, message: `is nested more than ${maxRequestDepth} levels deep` });
      continue;
    }
    const entries = Array.isArray(next.value)
      ? next.value.map((item, index) => [String(index), item] as const)
      : Object.entries(next.value);
    for (const [key, item] of entries) {
      const field = `${next.field}.${key.replaceAll(nul, '\\u0000')}`;
      if (key.includes(nul)) issues.push({ field, message });
      else pending.push({ value: item, field, depth: next.depth + 1 });
    }
  }
  return issues;
}
