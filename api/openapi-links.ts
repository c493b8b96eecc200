// The OpenAPI links of the REST API, declared once: from each operation that creates or lists an object to the
// operations that take its id (create → read → transition), so a client generator or a fuzzer (`npm run fuzz`)
// can follow them. Added to the generated document by api/plugins/swagger.ts; test/openapi.test.ts checks that
// every operation with an id in its path is the target of a link and that each link names real parameters.

/** `METHOD /path/{param}` as the document spells it. */
type OperationKey = `${'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'} /${string}`;

interface LinkSource {
  from: OperationKey;
  status: '200' | '201';
  /** Where the ids come from: runtime expressions (`$response.body#/id`, `$request.path.id`). */
  ids: Record<string, string>;
  to: OperationKey[];
}

const epicOperations: OperationKey[] = [
  'GET /v1/epics/{id}',
  'PATCH /v1/epics/{id}',
  'DELETE /v1/epics/{id}',
  'POST /v1/epics/{id}/tasks',
  'POST /v1/epics/{id}/review',
  'POST /v1/epics/{id}/edit',
  'POST /v1/epics/{id}/duplicate',
  'POST /v1/epics/{id}/schedule',
  'POST /v1/epics/{id}/reschedule',
  'POST /v1/epics/{id}/unschedule',
  'POST /v1/epics/{id}/retry',
  'GET /v1/epics/{id}/analytics',
];

const taskOperations: OperationKey[] = [
  'PATCH /v1/epics/{id}/tasks/{taskId}',
  'DELETE /v1/epics/{id}/tasks/{taskId}',
  'POST /v1/epics/{id}/tasks/{taskId}/approve',
  'GET /v1/epics/{id}/tasks/{taskId}/analytics',
];

const webhookOperations: OperationKey[] = [
  'GET /v1/webhooks/{id}',
  'DELETE /v1/webhooks/{id}',
  'POST /v1/webhooks/{id}/replay',
  'GET /v1/webhooks/{id}/deliveries',
];

const connectorOperations: OperationKey[] = [
  'GET /v1/connectors/{id}',
  'PATCH /v1/connectors/{id}',
  'PUT /v1/connectors/{id}/accounts',
  'GET /v1/connectors/{id}/audiences',
  'POST /v1/connectors/{id}/reconnect',
  'DELETE /v1/connectors/{id}',
];

export const linkSources: LinkSource[] = [
  // An epic made, copied, read or moved: everything that takes its id.
  { from: 'POST /v1/epics', status: '201', ids: { id: '$response.body#/id' }, to: epicOperations },
  {
    from: 'POST /v1/epics/{id}/duplicate',
    status: '201',
    ids: { id: '$response.body#/id' },
    to: epicOperations,
  },
  { from: 'GET /v1/epics', status: '200', ids: { id: '$response.body#/items/0/id' }, to: epicOperations },
  { from: 'GET /v1/epics/{id}', status: '200', ids: { id: '$response.body#/id' }, to: epicOperations },
  ...(
    [
      'PATCH /v1/epics/{id}',
      'POST /v1/epics/{id}/review',
      'POST /v1/epics/{id}/edit',
      'POST /v1/epics/{id}/schedule',
      'POST /v1/epics/{id}/reschedule',
      'POST /v1/epics/{id}/unschedule',
      'POST /v1/epics/{id}/retry',
    ] as const
  ).map(
    (from): LinkSource => ({ from, status: '200', ids: { id: '$response.body#/id' }, to: epicOperations }),
  ),
  // A task made, or read within its epic: its own routes, under its epic's id.
  {
    from: 'POST /v1/epics/{id}/tasks',
    status: '201',
    ids: { id: '$request.path.id', taskId: '$response.body#/id' },
    to: taskOperations,
  },
  {
    from: 'GET /v1/epics/{id}',
    status: '200',
    ids: { id: '$response.body#/id', taskId: '$response.body#/tasks/0/id' },
    to: taskOperations,
  },
  {
    from: 'PATCH /v1/epics/{id}/tasks/{taskId}',
    status: '200',
    ids: { id: '$request.path.id', taskId: '$response.body#/id' },
    to: taskOperations,
  },
  {
    from: 'POST /v1/epics/{id}/tasks/{taskId}/approve',
    status: '200',
    ids: { id: '$request.path.id' },
    to: ['POST /v1/epics/{id}/review', 'GET /v1/epics/{id}'],
  },
  // A connector connected (API key, WordPress), listed or read: its routes.
  {
    from: 'POST /v1/connectors/{platform}/connect',
    status: '201',
    ids: { id: '$response.body#/id' },
    to: connectorOperations,
  },
  {
    from: 'GET /v1/connectors',
    status: '200',
    ids: { id: '$response.body#/connected/0/id' },
    to: connectorOperations,
  },
  ...(
    [
      'GET /v1/connectors/{id}',
      'PATCH /v1/connectors/{id}',
      'PUT /v1/connectors/{id}/accounts',
      'POST /v1/connectors/{id}/reconnect',
    ] as const
  ).map(
    (from): LinkSource => ({
      from,
      status: '200',
      ids: { id: '$response.body#/id' },
      to: connectorOperations,
    }),
  ),
  {
    from: 'DELETE /v1/connectors/{id}',
    status: '200',
    ids: { id: '$request.path.id' },
    to: ['GET /v1/connectors/{id}', 'POST /v1/connectors/{id}/reconnect'],
  },
  { from: 'POST /v1/webhooks', status: '201', ids: { id: '$response.body#/id' }, to: webhookOperations },
  {
    from: 'GET /v1/webhooks',
    status: '200',
    ids: { id: '$response.body#/items/0/id' },
    to: webhookOperations,
  },
  {
    from: 'GET /v1/webhooks/{id}',
    status: '200',
    ids: { id: '$response.body#/id' },
    to: webhookOperations,
  },
  {
    from: 'GET /v1/notifications',
    status: '200',
    ids: { id: '$response.body#/items/0/id' },
    to: ['POST /v1/notifications/{id}/read'],
  },
];

interface OpenApiOperation {
  responses?: Record<string, { links?: Record<string, unknown> }>;
}
interface OpenApiDocument {
  paths?: Record<string, Record<string, OpenApiOperation>>;
}

const split = (key: OperationKey) => {
  const [method, path] = key.split(' ') as [string, string];
  return { method: method.toLowerCase(), path };
};

/** Links point at their target by its place in the document (no operationId needed on every route). */
const operationRef = (key: OperationKey) => {
  const { method, path } = split(key);
  return `#/paths/${path.replaceAll('~', '~0').replaceAll('/', '~1')}/${method}`;
};

const linkName = (key: OperationKey) =>
  key
    .toLowerCase()
    .replace(/[{}]/g, '')
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '');

/**
 * The document with every link of `linkSources` on its source's response. A link takes, of the ids, those the
 * target's path names. Throws on a source or target the document does not have (a route renamed).
 */
export function withLinks<Document extends object>(document: Document): Document {
  // The generated document's paths, typed as far as links need (the swagger types nest unions of versions).
  const paths = (document as OpenApiDocument).paths;
  const operation = (key: OperationKey) => {
    const { method, path } = split(key);
    const found = paths?.[path]?.[method];
    if (!found) throw new Error(`OpenAPI links: no operation ${key} in the document`);
    return found;
  };
  for (const source of linkSources) {
    const response = operation(source.from).responses?.[source.status];
    if (!response) throw new Error(`OpenAPI links: ${source.from} has no ${source.status} response`);
    for (const target of source.to) {
      operation(target);
      const names = [...split(target).path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]!);
      if (!names.every((name) => name in source.ids)) continue;
      response.links ??= {};
      response.links[linkName(target)] = {
        operationRef: operationRef(target),
        parameters: Object.fromEntries(names.map((name) => [`path.${name}`, source.ids[name]])),
      };
    }
  }
  return document;
}
