// Builds the Temporal workflow bundle ahead of time (`npm run build:workflows`), so a worker started with
// WORKFLOW_BUNDLE_PATH loads it instead of bundling workflows/index.ts at every start (the Docker image does).
//
// Usage: tsx scripts/build-workflow-bundle.ts [output file = dist/workflow-bundle.js] [workflows entry =
// workflows/index.ts]; relative paths are taken from the current directory, the defaults from the repo root.
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const defaultBundlePath = path.join(repoRoot, 'dist', 'workflow-bundle.js');
export const defaultWorkflowsPath = path.join(repoRoot, 'workflows', 'index.ts');

/** Bundles `workflowsPath` and writes the bundle to `outFile` (atomically); returns its size in bytes. */
export async function buildWorkflowBundle(
  outFile = defaultBundlePath,
  workflowsPath = defaultWorkflowsPath,
): Promise<number> {
  if (!existsSync(workflowsPath)) {
    throw new Error(`workflows entry not found: ${workflowsPath}`);
  }
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    // An entry outside the repo (a scratch file) still finds @temporalio/workflow & co. in the repo's node_modules.
    webpackConfigHook: (config) => {
      config.resolve ??= {};
      config.resolve.modules = [
        ...(config.resolve.modules ?? ['node_modules']),
        path.join(repoRoot, 'node_modules'),
      ];
      return config;
    },
  });
  await mkdir(path.dirname(outFile), { recursive: true });
  // Write beside the target, then rename: a worker never reads a half-written bundle.
  const partial = `${outFile}.${process.pid}.partial`;
  await writeFile(partial, code);
  await rename(partial, outFile);
  return Buffer.byteLength(code);
}

async function main(): Promise<void> {
  const [outArg, workflowsArg] = process.argv.slice(2);
  const outFile = outArg ? path.resolve(outArg) : defaultBundlePath;
  const workflowsPath = workflowsArg ? path.resolve(workflowsArg) : defaultWorkflowsPath;
  const started = Date.now();
  const bytes = await buildWorkflowBundle(outFile, workflowsPath);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(
    `workflow bundle: ${outFile} (${(bytes / 1024).toFixed(0)} KiB from ${workflowsPath}, ${seconds}s)\n`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `build-workflow-bundle failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  });
}
