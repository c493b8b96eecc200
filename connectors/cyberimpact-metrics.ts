// CyberImpact's side of reading sent mailings back (SPEC §5 "Analytics"): `GET /mailings/{id}` for its
// delivered, views and clicks, and the recipients of each kind (`/mailings/{id}/recipients/{kind}?limit=1`,
// whose `totalCount` is the count) for unique opens, bounces and unsubscribes. A mailing not found is deleted.
import { z } from 'zod';
import type { MetricReading } from '../domain/metrics.ts';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { type HttpAnswer, isSuccess } from './http.ts';
import { type MetricsAnswer, type MetricsContext, throttledRest } from './types.ts';

const count = z.coerce.number().nullish();
const MailingCounts = z.object({
  emailsDelivered: count,
  views: count,
  clicks: count,
  status: z.string().nullish(),
});
const Recipients = z.object({ totalCount: z.coerce.number() });

type Send = (
  apiKey: string,
  method: string,
  path: string,
  extra?: { query?: Record<string, string>; signal?: AbortSignal | undefined },
) => Promise<HttpAnswer>;

/** Recipient kinds counted, as the normalised metric and the platform's name for it. */
const kinds = [
  ['opened', 'unique_opens'],
  ['hard-bounced', 'bounces'],
  ['soft-bounced', 'bounces'],
  ['unsubscribed', 'unsubscribes'],
] as const;

export function createCyberImpactMetrics(input: {
  send: Send;
  failureOf: (answer: HttpAnswer, apiKey: string) => PublicationFailure;
}) {
  const { send, failureOf } = input;
  const read = <T>(schema: z.ZodType<T, unknown>, answer: HttpAnswer, what: string): T => {
    const parsed = schema.safeParse(answer.body);
    if (!parsed.success) {
      throw new PlatformError({
        class: 'TRANSIENT',
        message: `Unexpected answer from CyberImpact (${what})`,
      });
    }
    return parsed.data;
  };

  async function readOne(apiKey: string, id: string, signal?: AbortSignal): Promise<MetricsAnswer> {
    const path = `/mailings/${encodeURIComponent(id)}`;
    const mailing = await send(apiKey, 'GET', path, { query: { dateReturnFormat: 'ISO8601' }, signal });
    if (mailing.status === 404) return { state: 'deleted' };
    if (!isSuccess(mailing.status)) throw new PlatformError(failureOf(mailing, apiKey));
    const found = read(MailingCounts, mailing, 'mailing');
    if (found.status && found.status !== 'sent') {
      return { state: 'unavailable', reason: `The mailing is ${found.status}, not sent yet` };
    }
    const readings: MetricReading[] = [];
    const add = (
      metric: MetricReading['metric'],
      platformMetric: string,
      value: number | null | undefined,
    ) => {
      if (typeof value === 'number' && Number.isFinite(value))
        readings.push({ metric, platformMetric, value });
    };
    add('delivered', 'emailsDelivered', found.emailsDelivered);
    add('opens', 'views', found.views);
    add('clicks', 'clicks', found.clicks);
    const totals = new Map<string, { names: string[]; value: number }>();
    for (const [kind, metric] of kinds) {
      const answer = await send(apiKey, 'GET', `${path}/recipients/${kind}`, {
        query: { limit: '1' },
        signal,
      });
      if (answer.status === 404) return { state: 'deleted' };
      if (!isSuccess(answer.status)) throw new PlatformError(failureOf(answer, apiKey));
      const total = totals.get(metric) ?? { names: [], value: 0 };
      total.names.push(`recipients/${kind}`);
      total.value += read(Recipients, answer, 'recipients').totalCount;
      totals.set(metric, total);
    }
    for (const [metric, total] of totals) {
      add(metric as MetricReading['metric'], total.names.join('+'), total.value);
    }
    return { state: 'read', metrics: readings };
  }

  return async function collectMetrics(
    context: MetricsContext<{ apiKey: string }>,
  ): Promise<Record<string, MetricsAnswer>> {
    const answers: Record<string, MetricsAnswer> = {};
    for (const item of context.items) {
      try {
        answers[item.publicationId] = await readOne(
          context.credentials.apiKey,
          item.externalId,
          context.signal,
        );
      } catch (error) {
        const rateLimited = error instanceof PlatformError && error.failure.class === 'RATE_LIMITED';
        if (rateLimited && Object.keys(answers).length > 0)
          return throttledRest(answers, context.items, error.failure);
        throw error;
      }
    }
    return answers;
  };
}
