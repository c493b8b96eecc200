// Signing in to a platform over OAuth (SPEC §6): the consent URL with a single-use expiring `state` (and PKCE
// where the platform takes it), and the platform's return, which exchanges the code and saves the connection.
// Named so that it loads after the other route files: the OpenAPI components keep their order.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { OAuthConnector } from '../../connectors/types.ts';
import type { Database } from '../../db/client.ts';
import { openCodeVerifier } from '../../db/connectors/credentials.ts';
import {
  consentLifetimeSeconds,
  consumeConsentState,
  recordConsentStart,
} from '../../db/connectors/oauth-states.ts';
import { Platform } from '../../domain/channels.ts';
import { ApiError, errorResponses } from '../errors.ts';
import {
  type ConnectorRouteOptions,
  callbackUrl,
  completeConnection,
  hashState,
  platformFailure,
} from './connector-connection.ts';
import { ConnectorView } from './connector-views.ts';

/**
 * The consent is bound to the browser that started it: the start sets a cookie holding a nonce (its hash is kept
 * with the state), and the callback is refused without it. A consent link sent to someone else, who then
 * consents, lands nothing in the sender's workspace. One cookie per consent, named after its state, so two
 * consents in flight in one browser do not overwrite each other; sent back only to the callback's path.
 */
const browserCookieName = (state: string) => `gw_oauth_${hashState(state).toString('hex').slice(0, 16)}`;

function browserCookie(
  config: ConnectorRouteOptions['config'],
  state: string,
  nonce: string,
  maxAgeSeconds: number,
) {
  const secure = config.PUBLIC_URL.startsWith('https:') ? '; Secure' : '';
  // The callback's own path, under PUBLIC_URL's (an API served under a prefix keeps it).
  const path = `${new URL(config.PUBLIC_URL).pathname.replace(/\/+$/, '')}/v1/oauth/`;
  return `${browserCookieName(state)}=${nonce}; Path=${path}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure}`;
}

function cookieValue(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

/** Starts an OAuth consent; a reconnect's state names its connector so the callback updates that one. */
export async function startConsent(
  db: Database,
  oauth: OAuthConnector,
  config: ConnectorRouteOptions['config'],
  input: { workspaceId: string; platform: string; connectorId?: string; shop?: string; extra?: string },
) {
  const state = randomBytes(32).toString('base64url');
  const browserNonce = randomBytes(32).toString('base64url');
  // PKCE (S256): the verifier stays here, sealed; only its hash travels through the browser.
  const codeVerifier = oauth.pkce ? randomBytes(48).toString('base64url') : undefined;
  await recordConsentStart(db, config.CREDENTIALS_KEY, {
    workspaceId: input.workspaceId,
    platform: input.platform,
    stateHash: hashState(state),
    browserBindingHash: hashState(browserNonce),
    ...(input.connectorId ? { connectorId: input.connectorId } : {}),
    ...(codeVerifier ? { codeVerifier } : {}),
    context: {
      ...(input.shop ? { shop: input.shop } : {}),
      ...(input.extra ? { extra: input.extra } : {}),
    },
  });
  const authorizeUrl = oauth.authorizeUrl({
    state,
    redirectUri: callbackUrl(config, input.platform),
    ...(codeVerifier ? { codeChallenge: createHash('sha256').update(codeVerifier).digest('base64url') } : {}),
    ...(input.shop ? { shop: input.shop } : {}),
    ...(input.extra ? { extra: input.extra } : {}),
  });
  return { authorizeUrl, setCookie: browserCookie(config, state, browserNonce, consentLifetimeSeconds) };
}

/** The OAuth return: no bearer (the browser comes back from the platform); the `state` binds the workspace. */
export const oauthCallbackRoutes: FastifyPluginAsyncZod<ConnectorRouteOptions> = async (app, options) => {
  const { db, adapters, config } = options;
  app.get(
    '/oauth/:platform/callback',
    {
      schema: {
        tags: ['connectors'],
        summary: 'OAuth return from the platform’s consent page',
        security: [],
        params: z.strictObject({ platform: Platform }),
        // Loose: platforms add their own parameters (Shopify signs the whole query with `hmac`).
        querystring: z.looseObject({
          state: z.string().min(1).max(200),
          code: z.string().max(2_000).optional(),
          error: z.string().max(200).optional(),
          error_reason: z.string().max(200).optional(),
          error_description: z.string().max(1_000).optional(),
        }),
        response: { 200: ConnectorView, 302: z.null(), ...errorResponses(400, 403, 503) },
      },
    },
    async (request, reply) => {
      const { platform } = request.params;
      const { state, code, error } = request.query;
      // Consumed atomically: a replayed, expired or unknown state finds no row.
      const consumed = await consumeConsentState(db, hashState(state), platform);
      if (!consumed)
        throw new ApiError(
          400,
          'INVALID_STATE',
          'this sign-in link is unknown, expired or already used: start again',
        );
      // Checked once the state is spent: a link opened in the wrong browser cannot be tried again elsewhere.
      void reply.header('set-cookie', browserCookie(config, state, '', 0));
      if (consumed.browserBindingHash) {
        const nonce = cookieValue(request, browserCookieName(state));
        const sameBrowser =
          nonce !== undefined && timingSafeEqual(hashState(nonce), consumed.browserBindingHash);
        if (!sameBrowser) {
          throw new ApiError(
            403,
            'OTHER_BROWSER',
            `this ${platform} sign-in was started in another browser: start connecting again from Glowtify ` +
              'in this one (a sign-in link is not meant to be shared)',
          );
        }
      }
      if (error || !code) {
        throw new ApiError(
          400,
          'CONSENT_DENIED',
          `the consent was not given on ${platform}${error ? ` (${error})` : ''}`,
        );
      }
      const oauth = adapters[platform]?.connector;
      if (oauth?.kind !== 'oauth')
        throw new ApiError(
          400,
          'PLATFORM_NOT_AVAILABLE',
          `${platform} cannot be connected in this build yet`,
        );
      const codeVerifier = openCodeVerifier(config.CREDENTIALS_KEY, consumed);
      const query = Object.fromEntries(
        Object.entries(request.query).filter(
          (entry): entry is [string, string] => typeof entry[1] === 'string',
        ),
      );
      const connection = await oauth
        .completeConsent({
          code,
          redirectUri: callbackUrl(config, platform),
          query,
          ...(codeVerifier ? { codeVerifier } : {}),
          ...(consumed.context.shop ? { shop: consumed.context.shop } : {}),
        })
        .catch(platformFailure);
      const view = await completeConnection(
        options,
        {
          workspaceId: consumed.workspaceId,
          platform,
          connectorId: consumed.connectorId,
          credentials: connection.credentials,
          tokenExpiresAt: connection.expiresAt,
          accounts: connection.accounts,
          actor: `oauth:${platform}`,
        },
        request.log,
      );
      if (config.FRONTEND_URL) return reply.redirect(`${config.FRONTEND_URL}/connectors/${view.id}`, 302);
      return reply.code(200).send(view);
    },
  );
};
