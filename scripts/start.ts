// `npm start`: the whole stack on one machine (dev/stack.ts), then what to do next.
import { loadConfigOrExit } from '../config.ts';
import { runStack, say } from '../dev/stack.ts';

const config = loadConfigOrExit();
if (config.generatedSecrets.length > 0) {
  say(
    `WARNING: generated ${config.generatedSecrets.join(' and ')} into ${config.DATA_DIR} for development. ` +
      'Set them in the environment in production.',
  );
}
const stack = await runStack(config);
say('');
say('Glowtify orchestrator is up.');
say(`  API          ${stack.apiUrl}`);
say(`  API docs     ${stack.apiUrl}/docs`);
say(`  Temporal UI  ${stack.temporalUiUrl ?? `(external Temporal at ${stack.temporalAddress})`}`);
say(`  Admin token  ${config.ADMIN_TOKEN}`);
say('  Create a workspace:');
say(
  `    curl -s -X POST ${stack.apiUrl}/v1/workspaces -H 'Authorization: Bearer ${config.ADMIN_TOKEN}' ` +
    `-H 'Content-Type: application/json' -d '{"name":"My brand"}'`,
);
say('Press Ctrl-C to stop everything.');
