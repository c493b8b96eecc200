// The CyberImpact simulator's mailing statistics: the counts `GET /mailings/{id}` carries and the recipients
// of each kind (`GET /mailings/{id}/recipients/{kind}`, paged, with `totalCount`), growing with the
// simulator's clock since the mailing started.
import { grown } from './report-growth.ts';
import type { SimulatorResponse } from './simulator-server.ts';

export const recipientKinds = [
  'delivered',
  'hard-bounced',
  'soft-bounced',
  'unsubscribed',
  'opened',
  'clicked',
] as const;
export type RecipientKind = (typeof recipientKinds)[number];

/** What a mailing sent to `sent` recipients has gathered `elapsedMs` after it started. */
export function mailingActivity(sent: number, elapsedMs: number) {
  const hardBounced = Math.floor(sent * 0.01);
  const softBounced = Math.floor(sent * 0.01);
  const delivered = sent - hardBounced - softBounced;
  const opened = grown(Math.floor(delivered * 0.4), elapsedMs, 4);
  const clicked = grown(Math.floor(delivered * 0.08), elapsedMs, 6);
  const counts: Record<RecipientKind, number> = {
    delivered,
    'hard-bounced': hardBounced,
    'soft-bounced': softBounced,
    unsubscribed: grown(Math.floor(delivered * 0.005), elapsedMs, 6),
    opened,
    clicked,
  };
  return { counts, views: Math.floor(opened * 1.5), clicks: Math.floor(clicked * 1.3) };
}

/** `GET /mailings/{id}/recipients/{kind}?page&limit`: one page of members and the total. (unconfirmed list key) */
export function recipientsPage(
  query: Record<string, string>,
  kind: string,
  counts: Record<RecipientKind, number> | null,
): SimulatorResponse {
  if (!(recipientKinds as readonly string[]).includes(kind))
    return { status: 404, body: { message: 'Not found.' } };
  const page = Number(query.page ?? '1');
  const limit = Number(query.limit ?? '100');
  if (!Number.isInteger(page) || page < 1 || !Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    return {
      status: 400,
      body: { message: 'The page and limit parameters must be positive integers (limit ≤ 10000).' },
    };
  }
  const totalCount = counts?.[kind as RecipientKind] ?? 0;
  const first = (page - 1) * limit;
  const recipients = Array.from({ length: Math.max(0, Math.min(limit, totalCount - first)) }, (_, index) => ({
    email: `member${first + index + 1}@example.test`,
  }));
  return { status: 200, body: { recipients, totalCount, page, limit } };
}
