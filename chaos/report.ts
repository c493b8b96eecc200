// The chaos run's result as a reader wants it: the faults × outcomes table, then the invariants.
import type { ChaosResult } from './run-chaos.ts';

const seconds = (ms: number | null) => (ms === null ? '—' : `${(ms / 1000).toFixed(1)} s`);

export function describeResult(result: ChaosResult): string {
  const lines: string[] = [];
  lines.push(`Chaos run, seed ${result.seed} (${seconds(result.durationMs)})`);
  lines.push('');
  lines.push('| # | fault | target | armed | struck | epics touched | what happened |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const fault of result.faults) {
    lines.push(
      `| ${fault.index} | ${fault.kind} | ${fault.platform ?? 'stack'} | ${seconds(fault.armedAtMs)} | ` +
        `${fault.struckAtMs === null ? 'not reached' : seconds(fault.struckAtMs)} | ` +
        `${fault.epics.length > 4 ? `${fault.epics.length} epics` : fault.epics.join(', ') || '—'} | ${fault.detail} |`,
    );
  }
  lines.push('');
  lines.push('| outcome | count |');
  lines.push('|---|---|');
  const rows: [string, string | number][] = [
    ['faults injected (struck)', `${result.faultsInjected} of ${result.faults.length}`],
    ['epics scheduled', `${result.epics.scheduled} of ${result.epics.planned}`],
    ['epics published', result.epics.published],
    ['epics in error (failed, nothing on the platform)', result.epics.error],
    ['epics not final at the deadline', result.epics.notFinal],
    [
      'publications published / failed',
      `${result.tasks.published} / ${result.tasks.failed} of ${result.tasks.total}`,
    ],
    ['duplicates', result.duplicates],
    ['lost (published but missing, or never final)', result.lost],
    ['failed but on the platform', result.mismatches],
    ['missed (failed or never scheduled, nothing on the platform)', result.missed],
    ['late publications (> 5 s)', `${result.late.count}, at most ${seconds(result.late.maxMs)} late`],
    ['late without their lateness reported', result.late.unreported],
    ['connectors no longer connected', result.connectorsNotConnected.join(', ') || 0],
    ['schedule calls retried after a 5xx', result.scheduleRetries],
    ['workers that died of something else than a fault', result.workerCrashes.join(', ') || 0],
  ];
  for (const [name, value] of rows) lines.push(`| ${name} | ${value} |`);
  for (const task of result.violations) {
    lines.push(
      `VIOLATION: epic ${task.epicId} ${task.channel}: ${task.verdict} (status ${task.status}, ` +
        `${task.onPlatform} on the platform, ${seconds(task.latenessMs)} late, reported ${seconds(task.reportedLagMs)})`,
    );
  }
  return lines.join('\n');
}
