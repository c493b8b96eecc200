// The OpenAPI description is generated from the zod schemas: every route is in it with its error responses,
// and Swagger UI serves it at /docs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ApiHarness, startApiHarness } from './support/api.ts';

let harness: ApiHarness;
before(async () => {
  harness = await startApiHarness();
});
after(async () => harness?.close());

interface Operation {
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
  requestBody?: unknown;
}

describe('OpenAPI', () => {
  it('describes every route, each with its error responses in the error format', async () => {
    const response = await harness.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(response.statusCode, 200);
    const document = response.json() as {
      openapi: string;
      paths: Record<string, Record<string, Operation>>;
      components?: { schemas?: Record<string, unknown> };
    };
    const resolve = (schema: unknown) => {
      const ref = (schema as { $ref?: string } | undefined)?.$ref;
      return ref ? document.components?.schemas?.[ref.replace('#/components/schemas/', '')] : schema;
    };
    assert.match(document.openapi, /^3\./);
    const operations = Object.entries(document.paths).flatMap(([route, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({
        key: `${method.toUpperCase()} ${route}`,
        operation,
      })),
    );
    const expected = [
      'POST /v1/workspaces',
      'POST /v1/workspaces/current/api-keys',
      'POST /v1/epics',
      'GET /v1/epics',
      'GET /v1/epics/{id}',
      'GET /v1/epics/{id}/analytics',
      'GET /v1/epics/{id}/tasks/{taskId}/analytics',
      'PATCH /v1/connectors/{id}',
      'PATCH /v1/epics/{id}',
      'DELETE /v1/epics/{id}',
      'POST /v1/epics/{id}/tasks',
      'PATCH /v1/epics/{id}/tasks/{taskId}',
      'DELETE /v1/epics/{id}/tasks/{taskId}',
      'POST /v1/epics/{id}/tasks/{taskId}/approve',
      'POST /v1/epics/{id}/review',
      'POST /v1/epics/{id}/edit',
      'POST /v1/epics/{id}/duplicate',
      'POST /v1/epics/{id}/schedule',
      'POST /v1/epics/{id}/reschedule',
      'POST /v1/epics/{id}/unschedule',
      'POST /v1/epics/{id}/retry',
      'GET /v1/connectors',
      'GET /v1/connectors/{id}',
      'POST /v1/connectors/{platform}/connect',
      'PUT /v1/connectors/{id}/accounts',
      'GET /v1/connectors/{id}/audiences',
      'POST /v1/connectors/{id}/reconnect',
      'DELETE /v1/connectors/{id}',
      'POST /v1/connector-requests',
      'GET /v1/notifications',
      'POST /v1/notifications/{id}/read',
      'GET /v1/oauth/{platform}/callback',
      'GET /healthz',
      'GET /readyz',
      'GET /metrics',
      'POST /v1/webhooks',
      'GET /v1/webhooks',
      'GET /v1/webhooks/{id}',
      'DELETE /v1/webhooks/{id}',
      'POST /v1/webhooks/{id}/replay',
      'GET /v1/webhooks/{id}/deliveries',
    ];
    assert.deepEqual(operations.map((entry) => entry.key).sort(), expected.sort());
    for (const { key, operation } of operations) {
      if (!key.includes('/v1/')) continue;
      const codes = Object.keys(operation.responses ?? {});
      assert.ok(codes.includes('400'), `${key} documents 400`);
      // The OAuth callback is the one route without a bearer: the state binds the workspace.
      if (!key.includes('/oauth/')) assert.ok(codes.includes('401'), `${key} documents 401`);
      for (const code of codes.filter((status) => Number(status) >= 400)) {
        const schema = JSON.stringify(
          resolve(operation.responses?.[code]?.content?.['application/json']?.schema),
        );
        assert.match(schema, /"error"/, `${key} ${code} uses the error format`);
      }
    }
    const createTask = document.paths['/v1/epics/{id}/tasks']?.post;
    assert.ok(
      JSON.stringify(createTask?.requestBody).includes('instagram_story'),
      'the channel enum is documented',
    );
  });

  it('links every operation that takes an id to an operation that gives one, each link to a real operation', async () => {
    const document = (await harness.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, Operation & { responses: Record<string, { links?: Links }> }>>;
    };
    type Links = Record<string, { operationRef: string; parameters: Record<string, string> }>;
    const targets = new Set<string>();
    for (const [route, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          for (const [name, link] of Object.entries(response.links ?? {})) {
            const where = `${method.toUpperCase()} ${route} ${status} → ${name}`;
            assert.match(status, /^2/, `${where}: links leave a success`);
            const [, path, target] = /^#\/paths\/(.+)\/(\w+)$/.exec(link.operationRef) ?? [];
            const targetPath = path?.replaceAll('~1', '/').replaceAll('~0', '~') ?? '';
            assert.ok(document.paths[targetPath]?.[target ?? ''], `${where}: ${link.operationRef} exists`);
            const names = [...targetPath.matchAll(/\{([^}]+)\}/g)].map((match) => `path.${match[1]}`);
            assert.deepEqual(Object.keys(link.parameters).sort(), names.sort(), `${where}: every path id`);
            for (const expression of Object.values(link.parameters)) {
              assert.match(expression, /^\$(response\.body#\/|request\.path\.)/, `${where}: ${expression}`);
            }
            targets.add(`${target?.toUpperCase()} ${targetPath}`);
          }
        }
      }
    }
    const takingIds = Object.entries(document.paths).flatMap(([route, methods]) =>
      /\{(id|taskId)\}/.test(route)
        ? Object.keys(methods).map((method) => `${method.toUpperCase()} ${route}`)
        : [],
    );
    assert.ok(takingIds.length >= 20);
    assert.deepEqual(
      takingIds.filter((key) => !targets.has(key)),
      [],
      'every operation with an id in its path is reachable by a link',
    );
  });

  it('documents what answers before the handlers: 408 and 431 everywhere, 413 and 415 where a body is read', async () => {
    const document = (await harness.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, Operation & { security?: unknown[] }>>;
    };
    for (const [route, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const codes = Object.keys(operation.responses ?? {});
        const key = `${method.toUpperCase()} ${route}`;
        for (const code of ['400', '408', '431']) assert.ok(codes.includes(code), `${key} documents ${code}`);
        if (['post', 'put', 'patch', 'delete'].includes(method)) {
          for (const code of ['413', '415']) assert.ok(codes.includes(code), `${key} documents ${code}`);
        }
        if (route.startsWith('/v1')) assert.ok(codes.includes('429'), `${key} documents 429`);
      }
    }
    // The routes without a bearer say so (a fuzzer's ignored-auth check relies on it).
    assert.deepEqual(document.paths['/healthz']?.get?.security, []);
    assert.deepEqual(document.paths['/v1/oauth/{platform}/callback']?.get?.security, []);
    assert.deepEqual(document.paths['/readyz']?.get?.security, [{}, { bearer: [] }]);
  });

  it('serves Swagger UI at /docs', async () => {
    const response = await harness.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(response.statusCode, 200);
    assert.match(response.body, /swagger/i);
  });
});
