// The OAuth2 authorization server every OAuth simulator plays: codes, access and refresh tokens with their
// lifetimes, a refresh that rotates or keeps the refresh token, revocation, and the token endpoint's form.
// Each simulator keeps its own consent page, error wording and answer shape: those are the platform's.
import type { RecordedRequest, SimulatorResponse } from './simulator-server.ts';

export interface IssuedAccessToken {
  scopes: string[];
  expiresAt: number;
  revoked: boolean;
}

export interface IssuedRefreshToken {
  scopes: string[];
  /** Infinity where the platform gives refresh tokens no end (Canva). */
  expiresAt: number;
  /** Set once it was exchanged on a rotating platform: it is useless afterwards. */
  used: boolean;
  revoked: boolean;
}

export interface IssuedCode {
  redirectUri: string;
  scopes: string[];
  issuedAt: number;
  used: boolean;
}

export interface GrantStoreOptions {
  clock: () => number;
  accessTokenSeconds: number;
  /** Absent: refresh tokens do not expire. */
  refreshTokenSeconds?: number;
  codeLifetimeMs: number;
  /** 'rotate': a refresh spends the refresh token (TikTok, Canva); 'keep': it stays valid (LinkedIn, Google). */
  refresh: 'rotate' | 'keep';
  /** The platform's token formats. */
  mint: { access: () => string; refresh: () => string };
}

/** Why a code could not be redeemed; each platform words (and statuses) these its own way. */
export type CodeRefusal = 'unknown' | 'spent' | 'redirect_mismatch';

export function createGrantStore<Code extends IssuedCode = IssuedCode>(options: GrantStoreOptions) {
  const { clock } = options;
  const codes = new Map<string, Code>();
  const accessTokens = new Map<string, IssuedAccessToken>();
  const refreshTokens = new Map<string, IssuedRefreshToken>();

  return {
    issueCode(value: string, code: Code): string {
      codes.set(value, code);
      return value;
    },

    /** The code behind `value` if it may still be exchanged for this redirect URI; spends it on success. */
    redeemCode(value: string | undefined, redirectUri: string | undefined): Code | CodeRefusal {
      const code = value ? codes.get(value) : undefined;
      if (!code) return 'unknown';
      if (code.used || clock() - code.issuedAt > options.codeLifetimeMs) return 'spent';
      if (code.redirectUri !== redirectUri) return 'redirect_mismatch';
      return code;
    },

    spendCode(code: Code): void {
      code.used = true;
    },

    issueAccessToken(scopes: string[]): string {
      const value = options.mint.access();
      accessTokens.set(value, {
        scopes,
        expiresAt: clock() + options.accessTokenSeconds * 1000,
        revoked: false,
      });
      return value;
    },

    issueRefreshToken(scopes: string[]): string {
      const value = options.mint.refresh();
      const lifetime = options.refreshTokenSeconds;
      refreshTokens.set(value, {
        scopes,
        expiresAt: lifetime === undefined ? Number.POSITIVE_INFINITY : clock() + lifetime * 1000,
        used: false,
        revoked: false,
      });
      return value;
    },

    /**
     * The refresh token behind `value` if it is alive; on a rotating platform it is spent here, so only the
     * one issued with this refresh works afterwards.
     */
    redeemRefreshToken(value: string | undefined): IssuedRefreshToken | null {
      const refresh = value ? refreshTokens.get(value) : undefined;
      if (!refresh || refresh.used || refresh.revoked || clock() >= refresh.expiresAt) return null;
      if (options.refresh === 'rotate') refresh.used = true;
      return refresh;
    },

    /** Seconds left before a refresh token's fixed end (a platform that keeps it reports what is left). */
    secondsLeft(refresh: IssuedRefreshToken): number {
      return Math.floor((refresh.expiresAt - clock()) / 1000);
    },

    /** Whatever was issued under `value`, alive or not, for a platform that says why a token is refused. */
    findAccessToken(value: string): IssuedAccessToken | undefined {
      return accessTokens.get(value);
    },

    /** The live access token an `Authorization` header carries under `scheme`, or null. */
    authenticate(authorization: string | undefined, scheme = 'Bearer'): IssuedAccessToken | null {
      const value = new RegExp(`^${scheme}\\s+(.+)$`, 'i').exec(authorization ?? '')?.[1]?.trim();
      const found = value ? accessTokens.get(value) : undefined;
      return found && !found.revoked && clock() < found.expiresAt ? found : null;
    },

    revokeAccessTokens(): void {
      for (const token of accessTokens.values()) token.revoked = true;
    },

    revokeRefreshTokens(): void {
      for (const token of refreshTokens.values()) token.revoked = true;
    },

    expireAccessTokens(): void {
      for (const token of accessTokens.values()) token.expiresAt = clock() - 1;
    },
  };
}

export type GrantStore<Code extends IssuedCode = IssuedCode> = ReturnType<typeof createGrantStore<Code>>;

/** The token endpoint's parameters; null when the body is not form encoded (which OAuth2 requires). */
export function tokenForm(request: RecordedRequest): Record<string, string> | null {
  if (!(request.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded')) return null;
  if (typeof request.body !== 'object' || request.body === null) return {};
  return request.body as Record<string, string>;
}

/** The first of `names` missing from the form, if any. */
export function missingParameter(form: Record<string, string>, names: readonly string[]): string | undefined {
  return names.find((name) => !form[name]);
}

/** Whether a redirect URI may receive a code: one of those registered, or any http(s) URL when none are. */
export function redirectAllowed(registered: readonly string[] | undefined, uri: string): boolean {
  if (registered) return registered.includes(uri);
  try {
    return ['http:', 'https:'].includes(new URL(uri).protocol);
  } catch {
    return false;
  }
}

/** The consent page sending the browser back to the app, with the code or the error in the query. */
export function redirectBack(to: string, params: Record<string, string>): SimulatorResponse {
  const url = new URL(to);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return { status: 302, headers: { location: url.toString() } };
}

/** What a platform shows in the browser when it cannot trust the request enough to redirect. */
export function consentErrorPage(text: string): SimulatorResponse {
  return {
    status: 400,
    headers: { 'content-type': 'text/html; charset=utf-8' },
    body: `<html><body>${text}</body></html>`,
  };
}

/** What a test steers on a platform whose consent and grants it may spoil at will. */
export interface ConsentControls {
  /** The next consent redirects with the platform's denial. */
  denyNextConsent(): void;
  /** Later consents grant only these scopes (null: what is asked again). */
  grantOnlyScopes(scopes: string[] | null): void;
  /** Every refresh token issued so far answers invalid_grant from now on. */
  revokeRefreshTokens(): void;
  /** Every access token issued so far is refused from now on (as after the user revokes the app). */
  revokeAccessTokens(): void;
}

/**
 * The consent state those controls steer, for a platform whose user cannot change their mind between
 * consents: a denial is used up by one consent, a narrowed grant lasts until lifted.
 */
export function consentSteering(
  grants: Pick<GrantStore, 'revokeAccessTokens' | 'revokeRefreshTokens'>,
  grantScopes: string[] | null,
) {
  let denyNext = false;
  let grantOnly = grantScopes;
  const controls: ConsentControls = {
    denyNextConsent: () => {
      denyNext = true;
    },
    grantOnlyScopes: (scopes) => {
      grantOnly = scopes;
    },
    revokeRefreshTokens: () => grants.revokeRefreshTokens(),
    revokeAccessTokens: () => grants.revokeAccessTokens(),
  };
  return {
    controls,
    /** Whether this consent is the one to deny; it spends the denial. */
    denies(): boolean {
      const deny = denyNext;
      denyNext = false;
      return deny;
    },
    /** What the user ends up granting of what the app asked. */
    granted(asked: string[]): string[] {
      return grantOnly ? asked.filter((scope) => grantOnly?.includes(scope)) : asked;
    },
  };
}

/** How a consent page recognises the app asking, in the platform's own words when it does not. */
export interface ConsentGate {
  /** The query parameter naming the app (TikTok calls it `client_key`). */
  clientParameter: string;
  clientId: string;
  /** Redirect URIs registered on the app; absent: any http(s) URL is accepted. */
  redirectUris: readonly string[] | undefined;
  /** The error page's text for an unknown app and for a redirect URI it did not register. */
  unknownClient: string;
  unregisteredRedirect: string;
}

/**
 * The checks a consent page makes before anything else. An unknown app or redirect URI only gets an error page
 * (redirecting there would hand a stranger the answer); after that every answer, `back`, is a redirect to the
 * app carrying the state it sent.
 */
export function openConsent(
  query: Record<string, string>,
  gate: ConsentGate,
):
  | { response: SimulatorResponse }
  | { redirectUri: string; back: (params: Record<string, string>) => SimulatorResponse } {
  if (query[gate.clientParameter] !== gate.clientId)
    return { response: consentErrorPage(gate.unknownClient) };
  const redirectUri = query.redirect_uri ?? '';
  if (!redirectAllowed(gate.redirectUris, redirectUri))
    return { response: consentErrorPage(gate.unregisteredRedirect) };
  const state: Record<string, string> = query.state === undefined ? {} : { state: query.state };
  const back = (params: Record<string, string>) => redirectBack(redirectUri, { ...params, ...state });
  if (query.response_type !== 'code') {
    return {
      response: back({ error: 'unsupported_response_type', error_description: 'response_type must be code' }),
    };
  }
  return { redirectUri, back };
}
