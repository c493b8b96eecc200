// Fetches the servers the project runs that npm does not bring (the Temporal CLI, the Java time-skipping
// test server) into the cache outside the repository, and installs Debian's packages for the real WordPress
// the tests run (dev/wordpress.ts), with visible progress; tests would do it on first use.
import { resolveTemporalCli } from '../dev/temporal-cli.ts';
import { resolveTimeSkippingServer } from '../dev/time-skipping-server.ts';
import { ensureWordPressPackages, wordPressPackages } from '../dev/wordpress.ts';

const log = (line: string) => process.stdout.write(`${line}\n`);
const cliPath = await resolveTemporalCli({ log });
log(`Temporal CLI: ${cliPath}`);
const testServerPath = await resolveTimeSkippingServer({ log });
log(`Temporal time-skipping test server: ${testServerPath}`);
await ensureWordPressPackages({ log });
log(`real WordPress: Debian packages ${wordPressPackages.join(', ')} installed`);
