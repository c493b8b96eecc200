// `npm run admin -- <command>`: what an operator does to epics and connectors, with the effects of the
// README's `temporal` recipes but through the product's own code (the API's transitions, the workflows'
// updates), naming the admin and the reason in the audit log. Exit codes: 0 done, 1 refused or not found,
// 2 bad usage or configuration.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { checkConnector } from '../admin/connectors.ts';
import { type AdminContext, openAdminContext } from '../admin/context.ts';
import {
  checkId,
  checkSchedule,
  checkStatus,
  type EpicCommand,
  listEpics,
  showEpic,
  transitionEpic,
} from '../admin/epics.ts';
import { AdminFailure, usageError } from '../admin/failures.ts';
import { checkSince, replayWebhooks } from '../admin/webhooks.ts';

const usage = `Usage: npm run admin -- <command> [options]

Commands:
  epics [--status S] [--workspace W] [--limit N]
      List epics (newest change first; scheduled ones by their time), with counts by status.
  epic <epicId> [--limit N]
      Show one epic: its row, tasks and publications (status, attempts, last error), its workflow run
      (Temporal's description and the \`state\` query while it runs) and its last N audit events (10).
  unschedule <epicId> --reason R
      Scheduled (or error) → review: nothing is published; hand-offs are cancelled on the platforms.
  edit <epicId> --reason R
      Back to draft (from review, scheduled or error); content is kept.
  reschedule <epicId> --at ISO [--zone Z] --reason R
      Move a scheduled epic (and its hand-offs) to a new time: an instant (2027-03-01T09:00:00Z) or a wall
      time in the IANA zone Z (--at 2027-03-01T09:00 --zone Europe/Paris).
  retry <epicId> --reason R
      Re-attempt the failed publications of an epic in error (published ones are never sent again).
  check-connector <connectorId> --reason R [--wait SECONDS]
      Run the connector's credential check now (its Schedule connector-check-<id>) and print the outcome.
  replay-webhooks <webhookId> --since ISO --reason R
      Send the endpoint every event since that time again (at most 30 days back), in order, with their ids.

Options:
  --by NAME     who acts, recorded as admin:NAME in the audit log (default: the OS user)
  -h, --help    this help

Configuration: the worker's environment (DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, …); without
DATABASE_URL and TEMPORAL_ADDRESS, the stack \`npm start\` runs on this machine.
Exit codes: 0 done, 1 refused or not found (the message says why), 2 bad usage or configuration.`;

const commands = [
  'epics',
  'epic',
  'unschedule',
  'edit',
  'reschedule',
  'retry',
  'check-connector',
  'replay-webhooks',
] as const;
type Command = (typeof commands)[number];

/** The options each command takes (besides --by and --help). */
const optionsOf: Record<Command, string[]> = {
  epics: ['status', 'workspace', 'limit'],
  epic: ['limit'],
  unschedule: ['reason'],
  edit: ['reason'],
  reschedule: ['reason', 'at', 'zone'],
  retry: ['reason'],
  'check-connector': ['reason', 'wait'],
  'replay-webhooks': ['reason', 'since'],
};

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        status: { type: 'string' },
        workspace: { type: 'string' },
        limit: { type: 'string' },
        reason: { type: 'string' },
        at: { type: 'string' },
        zone: { type: 'string' },
        wait: { type: 'string' },
        since: { type: 'string' },
        by: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw usageError(`${(error as Error).message}\nSee: npm run admin -- --help`);
  }
}

function integerOption(raw: string | undefined, name: string, min: number, max: number, fallback: number) {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw usageError(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return Number(raw);
}

function reasonOption(raw: string | undefined, command: string) {
  const reason = raw?.trim();
  if (!reason) throw usageError(`${command} needs --reason "<why>" (it is kept in the audit log)`);
  if (reason.length > 1_000) throw usageError('--reason must be at most 1000 characters');
  return reason;
}

function actorName(raw: string | undefined) {
  const name = raw ?? os.userInfo().username;
  if (!/^[A-Za-z0-9._@+-]{1,100}$/.test(name)) {
    throw usageError('--by must be 1 to 100 letters, digits or . _ @ + -');
  }
  return name;
}

async function runAdmin(
  argv: string[],
  env: NodeJS.ProcessEnv,
  print: (line: string) => void,
): Promise<void> {
  const { values, positionals } = parse(argv);
  const [name, target, ...extra] = positionals;
  if (values.help) {
    print(usage);
    return;
  }
  if (!name) throw usageError(usage);
  if (!commands.includes(name as Command)) {
    throw usageError(`unknown command "${name}"; commands: ${commands.join(', ')} (see --help)`);
  }
  const command = name as Command;
  const given = Object.keys(values).filter((option) => option !== 'by' && option !== 'help');
  const foreign = given.filter((option) => !optionsOf[command].includes(option));
  if (foreign.length > 0) {
    throw usageError(`${command} takes no ${foreign.map((option) => `--${option}`).join(', ')} (see --help)`);
  }
  const surplus = command === 'epics' ? [target, ...extra] : extra;
  if (surplus.some((argument) => argument !== undefined)) {
    throw usageError(`${command} takes ${command === 'epics' ? 'no argument' : 'one id'}; got more`);
  }

  // Everything about the arguments is checked before connecting to anything.
  let run: (context: AdminContext) => Promise<void>;
  switch (command) {
    case 'epics': {
      const filter = {
        ...(values.status !== undefined ? { status: checkStatus(values.status) } : {}),
        ...(values.workspace !== undefined ? { workspaceId: checkId(values.workspace, 'workspace') } : {}),
        limit: integerOption(values.limit, 'limit', 1, 1_000, 50),
      };
      run = (context) => listEpics(context, print, filter);
      break;
    }
    case 'epic': {
      const epicId = checkId(target, 'epic');
      const auditLimit = integerOption(values.limit, 'limit', 1, 1_000, 10);
      run = (context) => showEpic(context, print, epicId, auditLimit);
      break;
    }
    case 'check-connector': {
      const connectorId = checkId(target, 'connector');
      const reason = reasonOption(values.reason, command);
      const waitMs = integerOption(values.wait, 'wait', 1, 3_600, 120) * 1000;
      run = (context) => checkConnector(context, print, connectorId, { reason, waitMs });
      break;
    }
    case 'replay-webhooks': {
      const webhookId = checkId(target, 'webhook');
      const reason = reasonOption(values.reason, command);
      const since = checkSince(values.since);
      run = (context) => replayWebhooks(context, print, webhookId, { since, reason });
      break;
    }
    default: {
      const epicCommand: EpicCommand = command;
      const epicId = checkId(target, 'epic');
      const reason = reasonOption(values.reason, command);
      const request = {
        reason,
        ...(epicCommand === 'reschedule' ? { schedule: checkSchedule(values.at, values.zone) } : {}),
      };
      run = (context) => transitionEpic(context, print, epicCommand, epicId, request);
    }
  }

  const context = await openAdminContext(env, { actorName: actorName(values.by) });
  try {
    await run(context);
  } finally {
    await context.close();
  }
}

async function main() {
  const print = (line: string) => process.stdout.write(`${line}\n`);
  try {
    await runAdmin(process.argv.slice(2), process.env, print);
    process.exitCode = 0;
  } catch (error) {
    if (error instanceof AdminFailure) {
      process.stderr.write(`${error.message}\n`);
      process.exitCode = error.exitCode;
    } else {
      // Not one of the outcomes the command knows: the whole story, for a bug report.
      process.stderr.write(`admin: unexpected failure: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    }
  }
}

await main();
