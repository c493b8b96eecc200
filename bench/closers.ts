// What a benchmark run started is stopped in reverse order, once, whatever happens (failure, Ctrl-C too).
import { progress } from './stats.ts';

const closers: { name: string; close: () => Promise<void> }[] = [];
let cleaning: Promise<void> | undefined;

/** Registers something to stop at the end of the run. */
export function onCleanup(name: string, close: () => Promise<void>): void {
  closers.push({ name, close });
}

/** Stops everything registered, in reverse order; a second call waits for the first. */
export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const { name, close } of closers.reverse()) {
      try {
        await close();
      } catch (error) {
        progress(`cleanup of ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    progress(`${signal}: stopping everything started`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}
