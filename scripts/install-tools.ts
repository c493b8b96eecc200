// Fetches the servers the project runs that npm does not bring (the Temporal CLI) into the cache outside the
// repository, with visible progress; `npm test` and `npm start` would do it on first use anyway.
import { resolveTemporalCli } from '../dev/temporal-cli.ts';

const cliPath = await resolveTemporalCli({ log: (line) => process.stdout.write(`${line}\n`) });
process.stdout.write(`Temporal CLI: ${cliPath}\n`);
