// Worker processes of the scale benchmarks: each a Node process of its own (as in production), so its memory
// is its own and a second one can be added; lines at warning level or above are passed to stderr.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { progress } from './stats.ts';

export interface BenchProcess {
  name: string;
  pid: number;
  /** Resident memory in MiB, from /proc (Linux). */
  rssMiB(): number;
  /** CPU seconds used so far (user + system), from /proc. */
  cpuSeconds(): number;
  stop(): Promise<void>;
  /** SIGKILL, as a crash or the OOM killer would: no shutdown, no last word; resolves once it is gone. */
  kill(): Promise<void>;
}

const repoRoot = path.resolve(import.meta.dirname, '..');

/** A pino line (JSON) at warn or above, or any line that is not JSON (a crash's stack). */
const worthTelling = (line: string) => {
  if (!line.startsWith('{')) return line.trim() !== '';
  try {
    return (JSON.parse(line) as { level?: number }).level! >= 40;
  } catch {
    return true;
  }
};

export async function startNodeProcess(
  name: string,
  script: string,
  env: Record<string, string>,
  readyText: string,
  nodeArgs: string[] = [],
  timeoutMs = 180_000,
  /** Where its lines worth telling go (default: the bench's progress on stderr). */
  tell: (line: string) => void = (line) => progress(`${name}: ${line.slice(0, 400)}`),
  /** Told when it ends without stop() or kill() having been asked: a crash. */
  onCrash: (how: string) => void = () => {},
): Promise<BenchProcess> {
  // A compiled entry point (`npm run build`'s dist/*.js) runs on Node alone, as in the image; sources on tsx.
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, ...loader, path.join(repoRoot, script)], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exited = false;
  let ending = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true;
      if (!ending) onCrash(signal ? `killed by ${signal}` : `exit code ${code}`);
      resolve();
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready in ${timeoutMs} ms`)), timeoutMs);
    const watch = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.includes(readyText)) {
          clearTimeout(timer);
          resolve();
        } else if (worthTelling(line)) tell(line);
      }
    };
    child.stdout!.on('data', watch);
    child.stderr!.on('data', watch);
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready`));
    });
  });
  await ready;
  return {
    name,
    pid: child.pid!,
    rssMiB() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kib = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1]);
      return Math.round(kib / 1024);
    },
    cpuSeconds() {
      // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th, in clock ticks.
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
    async stop() {
      ending = true;
      if (exited) return;
      child.kill('SIGTERM');
      const killed = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exit;
      clearTimeout(killed);
    },
    async kill() {
      ending = true;
      if (!exited) child.kill('SIGKILL');
      await exit;
    },
  };
}

/**
 * Waits until the processes are idle (each under 15% of a core over 2 s), at most `limitMs`: a measurement
 * must not start while the previous one's work is still being done.
 */
export async function settle(processes: BenchProcess[], limitMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const before = processes.map((process) => process.cpuSeconds());
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const busy = processes.some((process, index) => process.cpuSeconds() - before[index]! > 0.3);
    if (!busy || Date.now() - started > limitMs) return Date.now() - started;
  }
}
