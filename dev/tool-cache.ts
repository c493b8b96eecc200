// What the tool installers share (dev/temporal-cli.ts, dev/time-skipping-server.ts): finding executables,
// and clearing what an install killed midway left in the cache.
import { constants } from 'node:fs';
import { access, readdir, rename, rm, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

export async function findOnPath(name: string, pathVariable: string): Promise<string | null> {
  for (const dir of pathVariable.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return null;
}

/** Temporary install directories older than an hour belong to an install that was killed: remove them. */
export async function removeAbandonedTempDirs(cacheRoot: string, prefix: string): Promise<void> {
  for (const name of await readdir(cacheRoot)) {
    if (!name.startsWith(prefix)) continue;
    const path = join(cacheRoot, name);
    const info = await stat(path).catch(() => null);
    if (info && Date.now() - info.mtimeMs > 60 * 60 * 1000) await rm(path, { recursive: true, force: true });
  }
}

/**
 * Removes a cache directory that is not a completed install. It is moved aside first, so another process
 * looking at the same path never sees a half-deleted directory there.
 */
export async function discardCacheDir(cacheDir: string): Promise<void> {
  const trash = `${cacheDir}.trash-${process.pid}-${Date.now()}`;
  await rename(cacheDir, trash).catch(() => undefined);
  await rm(trash, { recursive: true, force: true });
}

/** Written last into an install's directory, just before the rename that puts it in place. */
export const INSTALL_MARKER = '.complete';

/**
 * Whether a completed install is at `cacheDir` and `works` confirms it. Completed installs only appear through
 * one rename with the marker inside, so anything else there (no marker, or one that no longer works) is debris
 * from an interrupted or tampered install, and is removed.
 */
export async function completedInstall(cacheDir: string, works: () => Promise<boolean>): Promise<boolean> {
  const hasMarker = await exists(join(cacheDir, INSTALL_MARKER));
  if (hasMarker && (await works())) return true;
  if (hasMarker || (await exists(cacheDir))) await discardCacheDir(cacheDir);
  return false;
}
