// Request and response schemas of the REST API (SPEC §7), declared once: routes validate with them, the
// OpenAPI description is generated from them, and the route handlers' types are inferred from them.
import { z } from 'zod';
import { Channel, channelFacts, channels } from '../domain/channels.ts';
import { AnyTaskContent, contentSchemas } from '../domain/content.ts';
import { epicStatuses } from '../domain/epic-state-machine.ts';
import { PlanName } from '../domain/plans.ts';

const isoInstant = z.iso.datetime({ offset: true });
const EpicStatus = z.enum(epicStatuses);

export const IdParams = z.strictObject({ id: z.uuid({ error: 'must be a UUID' }) });
export const TaskParams = z.strictObject({
  id: z.uuid({ error: 'must be a UUID' }),
  taskId: z.uuid({ error: 'must be a UUID' }),
});

export const CreateWorkspaceBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  plan: PlanName.default('starter'),
});
export const CreatedWorkspace = z
  .object({ id: z.uuid(), name: z.string(), plan: PlanName, apiKey: z.string() })
  .meta({ id: 'CreatedWorkspace', description: 'The API key is shown once, here.' });

export const PublicationView = z.object({
  status: z.enum(['pending', 'publishing', 'handed_off', 'published', 'failed', 'cancelled']),
  attempts: z.number().int(),
  externalId: z.string().nullable(),
  externalUrl: z.string().nullable(),
  lastError: z
    .object({ class: z.string(), message: z.string(), platformCode: z.string().optional() })
    .nullable(),
  atRisk: z.boolean(),
  /** Why it is at risk (a connector down, a token expiring before the time, what a pre-flight check found). */
  atRiskReason: z.string().nullable(),
  publishedAt: z.string().nullable(),
  /** How late it went out after scheduledAt (a worker that was down shows here). */
  lagMs: z.number().int().nullable(),
  /** A real hand-off the platform did not confirm within the confirmation window. */
  unconfirmed: z.boolean(),
  revert: z
    .object({
      resource: z.object({ type: z.enum(['product', 'collection']), id: z.string() }),
      seoTitle: z.string().nullable(),
      seoDescription: z.string().nullable(),
    })
    .optional()
    .meta({
      description:
        'shopify_product_seo only, once read at the time: the SEO the product or collection had before this ' +
        'publication changed it (null: none of its own), i.e. what a new epic writes to undo the change',
    }),
});

export const TaskView = z
  .object({
    id: z.uuid(),
    channel: Channel,
    mode: z.enum(['soft', 'real']),
    connectorId: z.uuid(),
    accountId: z.uuid().nullable(),
    content: AnyTaskContent,
    approved: z.boolean(),
    publication: PublicationView.nullable(),
  })
  .meta({ id: 'Task' });

export const EpicView = z
  .object({
    id: z.uuid(),
    title: z.string(),
    brief: z.string().nullable(),
    status: EpicStatus,
    scheduledAt: z.string().nullable(),
    timeZone: z.string().nullable(),
    atRisk: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
    tasks: z.array(TaskView),
  })
  .meta({ id: 'Epic' });

export const EpicList = z.object({ items: z.array(EpicView), nextCursor: z.string().nullable() });

const title = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const brief = z.string().max(20_000, 'must be at most 20,000 characters');

export const CreateEpicBody = z.strictObject({ title, brief: brief.optional() });
export const PatchEpicBody = z
  .strictObject({ title: title.optional(), brief: brief.nullable().optional() })
  .refine((body) => Object.keys(body).length > 0, 'send at least one of title, brief');

/**
 * A channel's content schema as JSON Schema, for the OpenAPI description only: the routes validate content with
 * parseTaskContent once the channel is known (its messages name the channel and each field).
 */
function contentJsonSchema(channel: Channel) {
  const { $schema: _dialect, ...schema } = z.toJSONSchema(contentSchemas[channel], {
    io: 'input',
    unrepresentable: 'any',
  });
  return schema;
}

// What the task routes check beyond the body's shape, stated in the description: each channel's content, and
// an account for the channels that publish to one (none for those that address audiences).
const perChannelTask = channels.map((channel) => {
  const target = channelFacts(channel).target;
  return {
    properties: { channel: { const: channel }, content: contentJsonSchema(channel) },
    ...(target === 'account' ? { required: ['accountId'] } : {}),
    ...(target === 'audiences' ? { not: { required: ['accountId'] } } : {}),
  };
});

export const CreateTaskBody = z
  .strictObject({
    channel: Channel,
    connectorId: z.uuid({ error: 'must be a UUID' }),
    accountId: z.uuid({ error: 'must be a UUID' }).optional(),
    content: AnyTaskContent,
  })
  .meta({ oneOf: perChannelTask });
export const PatchTaskBody = z
  .strictObject({
    connectorId: z.uuid({ error: 'must be a UUID' }).optional(),
    accountId: z.uuid({ error: 'must be a UUID' }).nullable().optional(),
    // The task's channel is stored, not sent: the content is one channel's (checked against the task's).
    content: AnyTaskContent.meta({ anyOf: channels.map(contentJsonSchema) }).optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'send at least one of connectorId, accountId, content');

export const EditBody = z.strictObject({
  confirm: z.literal(true, { error: 'must be true: editing back to draft needs a confirmation' }),
  reason: z.string().max(1_000).optional(),
});

export const ListEpicsQuery = z.strictObject({
  status: EpicStatus.optional(),
  from: isoInstant.optional(),
  to: isoInstant.optional(),
  cursor: z.string().max(500).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});
