// The REST calls `npm run demo` and `npm run screenshot` make as a user would, against a stack whose platforms
// are the sandbox simulators: workspaces, connections (the demo plays the browser of a consent), epics taken
// from draft to scheduled.
import { klaviyoSandboxApiKey } from '../sandbox/klaviyo.ts';

export interface DemoConnector {
  id: string;
  accounts: { id: string; kind: string; name: string; externalId: string }[];
}

export interface DemoTask {
  channel: string;
  connectorId: string;
  accountId?: string;
  content: unknown;
}

export function demoApi(apiUrl: string) {
  /** The demo plays the browser too: the cookie a consent's start sets must come back with its callback. */
  let browserCookies: string[] = [];

  async function call<T>(method: string, path: string, token: string, body?: unknown): Promise<T> {
    const response = await fetch(`${apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    browserCookies.push(...response.headers.getSetCookie().map((cookie) => cookie.split(';')[0]!));
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${text}`);
    return (text ? JSON.parse(text) : null) as T;
  }

  return {
    call,

    async createWorkspace(adminToken: string, name: string) {
      return call<{ id: string; apiKey: string }>('POST', '/v1/workspaces', adminToken, { name });
    },

    connectKlaviyo: (key: string) =>
      call<DemoConnector>('POST', '/v1/connectors/klaviyo/connect', key, { apiKey: klaviyoSandboxApiKey }),

    /** Meta's consent played as the browser would (the simulator consents at once), every account enabled. */
    async connectMeta(key: string) {
      const { authorizeUrl } = await call<{ authorizeUrl: string }>(
        'POST',
        '/v1/connectors/meta/connect',
        key,
        {},
      );
      const consent = await fetch(authorizeUrl, { redirect: 'manual' });
      const callback = await fetch(consent.headers.get('location')!, {
        redirect: 'manual',
        headers: { cookie: browserCookies.join('; ') },
      });
      browserCookies = [];
      const connector = (await callback.json()) as DemoConnector;
      await call('PUT', `/v1/connectors/${connector.id}/accounts`, key, {
        enabled: connector.accounts.map((account) => account.id),
      });
      return connector;
    },

    /** An epic with its tasks approved and reviewed, then scheduled (a wall time in `timeZone` if given). */
    async scheduleEpic(
      key: string,
      epic: { title: string; brief: string; tasks: DemoTask[]; scheduledAt: string; timeZone?: string },
    ) {
      const created = await call<{ id: string }>('POST', '/v1/epics', key, {
        title: epic.title,
        brief: epic.brief,
      });
      for (const task of epic.tasks) {
        const added = await call<{ id: string }>('POST', `/v1/epics/${created.id}/tasks`, key, task);
        await call('POST', `/v1/epics/${created.id}/tasks/${added.id}/approve`, key);
      }
      await call('POST', `/v1/epics/${created.id}/review`, key);
      await call('POST', `/v1/epics/${created.id}/schedule`, key, {
        scheduledAt: epic.scheduledAt,
        ...(epic.timeZone ? { timeZone: epic.timeZone } : {}),
      });
      return created.id;
    },
  };
}

/** The Temporal UI's list of the epic runs whose `EpicStatus` is one of `statuses`. */
export function epicListUrl(uiUrl: string, namespace: string, statuses: readonly string[]): string {
  const quoted = statuses.map((status) => `"${status}"`);
  const query = quoted.length === 1 ? `EpicStatus=${quoted[0]}` : `EpicStatus IN (${quoted.join(', ')})`;
  return `${uiUrl}/namespaces/${namespace}/workflows?query=${encodeURIComponent(query)}`;
}
