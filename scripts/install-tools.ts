// Fetches the servers the project runs that npm does not bring (the Temporal CLI, the Java time-skipping
// test server) into the cache outside the repository, with visible progress; tests would do it on first use.
import { resolveTemporalCli } from '../dev/temporal-cli.ts';
import { resolveTimeSkippingServer } from '../dev/time-skipping-server.ts';

const log = (line: string) => process.stdout.write(`${line}\n`);
const cliPath = await resolveTemporalCli({ log });
log(`Temporal CLI: ${cliPath}`);
const testServerPath = await resolveTimeSkippingServer({ log });
log(`Temporal time-skipping test server: ${testServerPath}`);
