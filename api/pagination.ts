// Keyset cursors for lists: an opaque base64url token holding the last row's sort key and id, so a page is
// stable while rows are inserted (no offset to shift) and every page costs one index range scan.
import { z } from 'zod';
import { ApiError } from './errors.ts';

const Cursor = z.object({ o: z.string(), t: z.iso.datetime(), id: z.uuid() });
export type Cursor = z.infer<typeof Cursor>;

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

export function decodeCursor(token: string, order: string): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const cursor = Cursor.safeParse(parsed);
  if (!cursor.success) {
    throw new ApiError(400, 'INVALID_INPUT', 'querystring.cursor: is not a cursor this API returned', {
      issues: [{ field: 'querystring.cursor', message: 'is not a cursor this API returned' }],
    });
  }
  if (cursor.data.o !== order) {
    throw new ApiError(400, 'INVALID_INPUT', 'querystring.cursor: belongs to a list with other filters', {
      issues: [{ field: 'querystring.cursor', message: 'belongs to a list with other filters (from/to)' }],
    });
  }
  return cursor.data;
}
