// Fetches the servers and tools the project runs that npm does not bring (the Temporal CLI, the Java
// time-skipping test server, schemathesis for `npm run fuzz`, the real Temporal server and its SQL tool for
// `npm run topology`, built from the Go module proxy) into the cache outside the repository, and installs
// Debian's packages for the real WordPress the tests run (dev/wordpress.ts), with visible progress; tests
// would do it on first use.
import { resolveSchemathesis } from '../dev/schemathesis.ts';
import { resolveTemporalCli } from '../dev/temporal-cli.ts';
import { resolveTemporalServer } from '../dev/temporal-server.ts';
import { resolveTimeSkippingServer } from '../dev/time-skipping-server.ts';
import { ensureWordPressPackages, wordPressPackages } from '../dev/wordpress.ts';

const log = (line: string) => process.stdout.write(`${line}\n`);
const cliPath = await resolveTemporalCli({ log });
log(`Temporal CLI: ${cliPath}`);
const testServerPath = await resolveTimeSkippingServer({ log });
log(`Temporal time-skipping test server: ${testServerPath}`);
const schemathesis = await resolveSchemathesis({ log });
log(`schemathesis ${schemathesis.version}: ${schemathesis.python} ${schemathesis.args.join(' ')}`);
const temporalServer = await resolveTemporalServer({ log });
log(`Temporal server and temporal-sql-tool (npm run topology): ${temporalServer.dir}`);
await ensureWordPressPackages({ log });
log(`real WordPress: Debian packages ${wordPressPackages.join(', ')} installed`);
