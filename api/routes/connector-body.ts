// The connect and reconnect body: one schema for every platform, and the check that only the fields of the
// platform's way of connecting are given (and all of them).
import { z } from 'zod';
import type { AuthMethod, CatalogEntry } from '../../connectors/catalog.ts';
import type { OAuthConnector } from '../../connectors/types.ts';
import { invalidInput } from '../errors.ts';

/** The connect and reconnect body: which fields apply depends on how the platform connects. */
export const ConnectBody = z
  .strictObject({
    // Sent in a header as it is: a character no header can carry would fail the request before it left (found
    // by API fuzzing as a 503 "could not be reached" on a Klaviyo reconnect).
    apiKey: z
      .string()
      .trim()
      .min(1)
      .max(500)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces, as API keys are')
      .optional(),
    siteUrl: z.string().trim().min(1).max(2_000).optional(),
    username: z.string().min(1).max(200).optional(),
    applicationPassword: z.string().min(1).max(200).optional(),
    shop: z.string().trim().min(1).max(200).optional(),
    /** A second consent round for more permissions (Meta: "ads", Enable Ad Account permissions). */
    permissions: z.enum(['ads']).optional(),
  })
  .nullish();
export type ConnectBody = NonNullable<z.infer<typeof ConnectBody>>;

export const connectFieldsByMethod = {
  api_key: ['apiKey'],
  site_credentials: ['siteUrl', 'username', 'applicationPassword'],
  oauth: ['shop', 'permissions'],
} as const satisfies Record<AuthMethod, readonly (keyof ConnectBody)[]>;

/** Refuses the fields that do not belong to the platform's way of connecting, and names the missing ones. */
export function checkConnectBody(entry: CatalogEntry, oauth: OAuthConnector | null, body: ConnectBody) {
  const allowed: readonly string[] = connectFieldsByMethod[entry.authMethod];
  const problems: { field: string; message: string }[] = [];
  for (const [field, value] of Object.entries(body)) {
    if (value === undefined) continue;
    if (!allowed.includes(field)) {
      problems.push({ field: `body.${field}`, message: `does not apply to ${entry.name}` });
    }
  }
  const required: string[] =
    entry.authMethod === 'oauth'
      ? oauth?.needsShop
        ? ['shop']
        : []
      : [...connectFieldsByMethod[entry.authMethod]];
  for (const field of required) {
    if (body[field as keyof ConnectBody] === undefined)
      problems.push({ field: `body.${field}`, message: `is required for ${entry.name}` });
  }
  if (body.shop !== undefined && !oauth?.needsShop)
    problems.push({ field: 'body.shop', message: `does not apply to ${entry.name}` });
  if (body.permissions !== undefined && entry.extraPermissions?.name !== body.permissions)
    problems.push({
      field: 'body.permissions',
      message: `${entry.name} has no "${body.permissions}" permissions`,
    });
  if (problems.length > 0) throw invalidInput(problems);
}
