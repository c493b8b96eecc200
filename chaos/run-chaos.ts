// One chaos run: epics on Meta, LinkedIn and Klaviyo scheduled through the API and coming due while the plan's
// faults are injected into the real servers, then every epic's final state checked against what the platforms'
// simulators themselves recorded: exactly one post or send for each publication the product calls published,
// none for the others, none left unfinished, and every late publication's lateness on record.
import type { RecordedRequest, RequestMatch, SimulatorServer } from '../sandbox/simulator-server.ts';
import { createWorkspace, type TestWorkspace } from '../test/support/api.ts';
import { contentExamples } from '../test/support/examples.ts';
import { connectOAuth } from '../test/support/platforms.ts';
import { connectKlaviyo, connectMeta } from '../test/support/stack.ts';
import {
  type ChaosChannel,
  type ChaosPlan,
  type ChaosPlatform,
  chaosChannels,
  type FaultKind,
  type PlannedFault,
} from './plan.ts';
import type { ChaosWorld } from './world.ts';

/** The request that makes a publication happen on each platform: a post, or the send job of a campaign. */
const publishingRequest: Record<ChaosPlatform, RequestMatch> = {
  meta: { method: 'POST', path: /^\/v[\d.]+\/\d+\/feed$/ },
  linkedin: { method: 'POST', path: /^\/rest\/posts$/ },
  klaviyo: { method: 'POST', path: /^\/api\/campaign-send-jobs\/?$/ },
};

/** A platform fault that waited this long without a matching request is withdrawn: not reached. */
const armedForMs = 60_000;
/** Lateness under this is punctuality, not lateness (the timer, the worker and the platform's own clock). */
const lateAfterMs = 5_000;

export interface FaultOutcome {
  index: number;
  kind: FaultKind;
  platform: ChaosPlatform | null;
  armedAtMs: number;
  /** When it struck, from the run's start; null when no matching request came while it was armed. */
  struckAtMs: number | null;
  /** The epic whose request it struck (platform faults), or the epics due while a server was down. */
  epics: string[];
  /** What was done, e.g. "2 workers killed; started again after 4.1 s". */
  detail: string;
}

export type TaskVerdict =
  | 'published once'
  | 'failed, nothing on the platform'
  | 'not scheduled, nothing on the platform'
  | 'duplicate'
  | 'published but missing on the platform'
  | 'failed but on the platform'
  | 'not final'
  | 'lateness not reported';

export interface TaskOutcome {
  epicId: string;
  channel: ChaosChannel;
  status: string | null;
  onPlatform: number;
  /** How late the platform's own record is against the epic's time, in ms (null: nothing there). */
  latenessMs: number | null;
  reportedLagMs: number | null;
  verdict: TaskVerdict;
}

export interface ChaosResult {
  seed: number;
  epics: { planned: number; scheduled: number; published: number; error: number; notFinal: number };
  tasks: { total: number; published: number; failed: number };
  faults: FaultOutcome[];
  faultsInjected: number;
  duplicates: number;
  lost: number;
  /** Publications failed, or epics never scheduled: nothing on the platform, but a post missed all the same. */
  missed: number;
  /** Workers that died without a fault killing them. */
  workerCrashes: string[];
  mismatches: number;
  late: { count: number; maxMs: number; unreported: number };
  connectorsNotConnected: string[];
  scheduleRetries: number;
  violations: TaskOutcome[];
  /** For each epic with a violation: its rows and its audit trail, as the run left them (to find out why). */
  evidence: Record<string, unknown>[];
  tasksByVerdict: Record<string, number>;
  durationMs: number;
}

interface CreatedEpic {
  id: string;
  index: number;
  channels: ChaosChannel[];
  dueAt: Date;
  /** When the schedule call was first made. */
  scheduleCalledAt: number;
  /** The client's view: a 200 came back. The verdict reads the database instead. */
  scheduled: boolean;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const uuidPattern = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

export async function runChaos(
  world: ChaosWorld,
  plan: ChaosPlan,
  log: (line: string) => void,
): Promise<ChaosResult> {
  const { stack } = world;
  const simulators: Record<ChaosPlatform, SimulatorServer> = {
    meta: stack.meta,
    linkedin: stack.platforms!.linkedin,
    klaviyo: stack.klaviyo,
  };

  // ---- the workspace and its epics, all in review before the clock starts --------------------------------
  const workspace = await createWorkspace(stack.harness, 'Chaos');
  const meta = await connectMeta(stack, workspace);
  const klaviyo = await connectKlaviyo(workspace);
  const linkedin = await connectOAuth(stack.harness.app, workspace, 'linkedin');
  const page = meta.accounts.find((account) => account.kind === 'facebook_page')!;
  const organization = linkedin.accounts[0]!;
  const taskBody = (channel: ChaosChannel, epicId: string) => {
    const text = `Chaos ${epicId} on ${channel}`;
    switch (channel) {
      case 'facebook_post':
        return { channel, connectorId: meta.id, accountId: page.id, content: { text } };
      case 'linkedin_post':
        return { channel, connectorId: linkedin.id, accountId: organization.id, content: { text } };
      case 'klaviyo_email':
        return {
          channel,
          connectorId: klaviyo.id,
          content: { ...contentExamples.klaviyo_email, subject: text },
        };
    }
  };
  const epics: CreatedEpic[] = [];
  for (const planned of plan.epics) {
    const epic = await expectOk(workspace, 'POST', '/v1/epics', { title: `Chaos ${planned.index}` });
    for (const channel of planned.channels) {
      const task = await expectOk(
        workspace,
        'POST',
        `/v1/epics/${epic.id}/tasks`,
        taskBody(channel, epic.id),
      );
      await expectOk(workspace, 'POST', `/v1/epics/${epic.id}/tasks/${task.id}/approve`);
    }
    await expectOk(workspace, 'POST', `/v1/epics/${epic.id}/review`);
    epics.push({
      id: epic.id,
      index: planned.index,
      channels: planned.channels,
      dueAt: new Date(0),
      scheduleCalledAt: 0,
      scheduled: false,
    });
  }
  log(
    `${epics.length} epics in review (${plan.epics.reduce((sum, epic) => sum + epic.channels.length, 0)} tasks)`,
  );

  const epicOf = (request: RecordedRequest, platform: ChaosPlatform): string[] => {
    let text = JSON.stringify(request.body ?? '');
    if (platform === 'klaviyo') {
      // A send job names its campaign; the campaign's name carries the hand-off key, which begins with the epic's id.
      const campaignIds = new Set(text.match(/"id":"([^"]+)"/g)?.map((match) => match.slice(6, -1)) ?? []);
      text = stack.klaviyo
        .campaigns()
        .filter((campaign) => campaignIds.has(campaign.id))
        .map((campaign) => campaign.name)
        .join(' ');
    }
    const ids = new Set(text.match(uuidPattern) ?? []);
    return epics
      .filter((epic) => ids.has(epic.id) || (platform === 'klaviyo' && text.includes(epic.id.slice(0, 8))))
      .map((epic) => epic.id.slice(0, 8));
  };

  // ---- the timeline: schedule calls and faults at their planned instants ------------------------------
  const startedAt = Date.now();
  const sinceStart = () => Date.now() - startedAt;
  const at = (ms: number) => pause(Math.max(0, startedAt + ms - Date.now()));
  let scheduleRetries = 0;

  const scheduling = plan.epics.map(async (planned) => {
    await at(planned.scheduleAtMs);
    const epic = epics[planned.index]!;
    epic.dueAt = new Date(startedAt + planned.dueAtMs);
    epic.scheduleCalledAt = Date.now();
    // A client retries what the API could not do for now (503 while Temporal or PostgreSQL is down).
    for (;;) {
      const response = await workspace.api.post(`/v1/epics/${epic.id}/schedule`, {
        scheduledAt: epic.dueAt.toISOString(),
      });
      if (response.statusCode === 200) {
        epic.scheduled = true;
        return;
      }
      if (response.statusCode < 500 || Date.now() > epic.dueAt.getTime() - 2_000) {
        log(
          `schedule of epic ${epic.id.slice(0, 8)} refused for good: ${response.statusCode} ${response.body}`,
        );
        return;
      }
      scheduleRetries += 1;
      await pause(1_000);
    }
  });

  // Armed after-answer faults, first armed first struck: each strikes one answer.
  const afterAnswer: Record<ChaosPlatform, ((request: RecordedRequest) => void)[]> = {
    meta: [],
    linkedin: [],
    klaviyo: [],
  };
  for (const platform of Object.keys(simulators) as ChaosPlatform[]) {
    simulators[platform].onResponded((request, response) => {
      if (response.status < 300 && matchesRequest(request, publishingRequest[platform])) {
        afterAnswer[platform].shift()?.(request);
      }
    });
  }

  const workersBackAfter = async (ms: number) => {
    await pause(ms);
    const started = Date.now();
    await world.startWorkers();
    return `; started again after ${((ms + Date.now() - started) / 1000).toFixed(1)} s`;
  };
  const dueWithin = (from: number, to: number) =>
    epics
      .filter((epic) => epic.scheduled && epic.dueAt.getTime() >= from && epic.dueAt.getTime() <= to)
      .map((epic) => epic.id.slice(0, 8));
  /** The epics whose request to the platform fell in a window: Klaviyo's at the schedule call, the others' when due. */
  const requestedWithin = (from: number, to: number, platform: ChaosPlatform) =>
    epics
      .filter((epic) => epic.channels.some((channel) => chaosChannels[channel] === platform))
      .filter((epic) => {
        const at = platform === 'klaviyo' ? epic.scheduleCalledAt : epic.dueAt.getTime();
        return epic.scheduled && at >= from && at <= to;
      })
      .map((epic) => epic.id.slice(0, 8));

  const inject = async (fault: PlannedFault): Promise<FaultOutcome> => {
    await at(fault.atMs);
    const outcome: FaultOutcome = {
      index: fault.index,
      kind: fault.kind,
      platform: fault.platform,
      armedAtMs: sinceStart(),
      struckAtMs: null,
      epics: [],
      detail: '',
    };
    const platform = fault.platform!;
    const simulator = fault.platform ? simulators[fault.platform] : null;
    const match = fault.platform ? publishingRequest[fault.platform] : null;
    const struck = (request: RecordedRequest) => {
      outcome.struckAtMs = sinceStart();
      outcome.epics = epicOf(request, platform);
    };
    /** Waits for a matching request while armed; false (and the rule withdrawn) when none came. */
    const armed = async (reached: Promise<unknown>, withdraw: () => void) => {
      const expired = pause(armedForMs).then(() => 'expired' as const);
      if ((await Promise.race([reached, expired])) === 'expired') {
        withdraw();
        outcome.detail = `no matching request in ${armedForMs / 1000} s`;
        return false;
      }
      return true;
    };

    switch (fault.kind) {
      case 'worker-kill-before-call': {
        const held = simulator!.holdNext(match!);
        if (!(await armed(held.reached, held.withdraw))) break;
        struck(await held.reached);
        const killed = await world.killWorkers();
        held.answer({ status: 503, body: 'Service Unavailable' });
        outcome.detail = `${killed} workers killed before the platform acted${await workersBackAfter(fault.durationMs)}`;
        break;
      }
      case 'worker-kill-before-db-write': {
        const held = simulator!.holdNext({ ...match!, acted: true });
        if (!(await armed(held.reached, held.withdraw))) break;
        struck(await held.reached);
        const killed = await world.killWorkers();
        held.release();
        outcome.detail = `the platform acted; ${killed} workers killed before its answer${await workersBackAfter(fault.durationMs)}`;
        break;
      }
      case 'worker-kill-after-answer': {
        let killing: Promise<number> | null = null;
        let strike!: (request: RecordedRequest) => void;
        const reached = new Promise<void>((resolve) => {
          strike = (request) => {
            struck(request);
            killing = world.killWorkers();
            resolve();
          };
        });
        afterAnswer[platform].push(strike);
        const withdraw = () => {
          const index = afterAnswer[platform].indexOf(strike);
          if (index >= 0) afterAnswer[platform].splice(index, 1);
        };
        if (!(await armed(reached, withdraw))) break;
        const killed = await killing!;
        outcome.detail = `${killed} workers killed as the platform answered${await workersBackAfter(fault.durationMs)}`;
        break;
      }
      case 'platform-drop-answer': {
        let dropped!: (request: RecordedRequest) => void;
        const reached = new Promise<RecordedRequest>((resolve) => {
          dropped = resolve;
        });
        const withdraw = simulator!.dropAnswerNext(match!, dropped);
        if (!(await armed(reached, withdraw))) break;
        struck(await reached);
        outcome.detail = 'the platform acted; the connection died before its answer';
        break;
      }
      case 'platform-slow': {
        const held = simulator!.holdNext({ ...match!, acted: true });
        if (!(await armed(held.reached, held.withdraw))) break;
        struck(await held.reached);
        await pause(fault.durationMs);
        held.release();
        outcome.detail = `the platform acted at once and answered ${fault.durationMs / 1000} s later`;
        break;
      }
      case 'platform-down': {
        const from = Date.now();
        const refused = { count: 0, first: null as number | null };
        let restored = false;
        const restore = simulator!.failNext({
          path: /./,
          times: Number.MAX_SAFE_INTEGER,
          response: { status: 503, body: 'Service Unavailable' },
        });
        simulator!.onResponded((request, response) => {
          if (restored || request.receivedAt.getTime() < from || response.status !== 503) return;
          refused.count += 1;
          refused.first ??= sinceStart();
        });
        await pause(fault.durationMs);
        restore();
        restored = true;
        // It struck only if some request met the outage.
        outcome.struckAtMs = refused.first;
        outcome.epics = requestedWithin(from, Date.now(), platform);
        outcome.detail = `every request answered 503 for ${fault.durationMs / 1000} s: ${refused.count} refused`;
        break;
      }
      case 'temporal-restart':
      case 'postgres-restart': {
        const from = Date.now();
        const [kill, start] =
          fault.kind === 'temporal-restart'
            ? [world.killTemporal, world.startTemporal]
            : [world.killPostgres, world.startPostgres];
        if (!(await kill())) {
          outcome.detail = 'down already (another fault of the same kind): not killed again';
          break;
        }
        outcome.struckAtMs = sinceStart();
        await pause(fault.durationMs);
        await start();
        outcome.epics = dueWithin(from, Date.now());
        outcome.detail = `SIGKILLed; up again after ${((Date.now() - from) / 1000).toFixed(1)} s`;
        break;
      }
    }
    log(
      `fault ${fault.index} ${fault.kind}${fault.platform ? ` on ${fault.platform}` : ''}: ` +
        `${outcome.struckAtMs === null ? 'not reached' : `struck at ${(outcome.struckAtMs / 1000).toFixed(1)} s`}; ` +
        `${outcome.detail}${outcome.epics.length ? ` (epics ${outcome.epics.join(', ')})` : ''}`,
    );
    return outcome;
  };

  const faults = await Promise.all(plan.faults.map(inject));
  await Promise.all(scheduling);
  await world.startWorkers();
  log(`every fault is over at ${(sinceStart() / 1000).toFixed(0)} s; waiting for every epic to end`);

  // ---- the end: every scheduled epic final, or the deadline ---------------------------------------------
  const { sql } = stack.harness.database;
  const lastDue = Math.max(...epics.map((epic) => epic.dueAt.getTime()));
  const deadline = Math.max(lastDue, Date.now()) + 5 * 60_000;
  // Scheduled as the database says, not as the client saw it: a schedule whose answer was a 5xx may have
  // committed, and its epic must be checked like the others.
  const scheduledIds = (
    await sql<{ id: string }[]>`
      select id from epics where workspace_id = ${workspace.id}::uuid and status not in ('draft', 'review')`
  ).map((row) => row.id);
  const scheduledInDatabase = new Set(scheduledIds);
  for (;;) {
    const [open] = await sql<{ count: number }[]>`
      select count(*)::int as count from epics e
      where e.id = any(${scheduledIds}::uuid[])
        and (e.status not in ('published', 'error')
          or exists (select 1 from publications p join tasks t on t.id = p.task_id
                     where t.epic_id = e.id and p.status in ('pending', 'publishing', 'handed_off')))`.catch(
      () => [{ count: -1 }],
    );
    if (open?.count === 0 || Date.now() > deadline) break;
    await pause(1_000);
  }
  // A duplicate made by a late retry just after the last confirmation is still counted.
  await pause(3_000);

  // ---- the verdict, against the platforms' own records --------------------------------------------------
  const rows = await sql<
    {
      epicId: string;
      epicStatus: string;
      channel: ChaosChannel;
      status: string | null;
      externalId: string | null;
      lagMs: number | null;
    }[]
  >`
    select e.id as "epicId", e.status as "epicStatus", t.channel, p.status, p.external_id as "externalId",
           p.lag_ms as "lagMs"
    from epics e join tasks t on t.epic_id = e.id left join publications p on p.task_id = t.id
    where e.workspace_id = ${workspace.id}::uuid`;
  const tasks: TaskOutcome[] = rows.map((row) => {
    const epic = epics.find((candidate) => candidate.id === row.epicId)!;
    const records = platformRecords(world, row.channel, row.epicId);
    const latenessMs = records.length > 0 ? Math.min(...records) - epic.dueAt.getTime() : null;
    const final = row.status === 'published' || row.status === 'failed' || row.status === 'cancelled';
    let verdict: TaskVerdict;
    if (records.length > 1) verdict = 'duplicate';
    else if (!scheduledInDatabase.has(row.epicId))
      verdict =
        records.length === 0 && row.status === null
          ? 'not scheduled, nothing on the platform'
          : 'failed but on the platform';
    else if (!final) verdict = 'not final';
    else if (row.status === 'published' && records.length === 0)
      verdict = 'published but missing on the platform';
    else if (row.status !== 'published' && records.length > 0) verdict = 'failed but on the platform';
    else if (row.status !== 'published') verdict = 'failed, nothing on the platform';
    else if (
      Number.isNaN(latenessMs) ||
      (latenessMs! > lateAfterMs && (row.lagMs === null || row.lagMs < latenessMs! - 1_000))
    )
      verdict = 'lateness not reported';
    else verdict = 'published once';
    return {
      epicId: row.epicId,
      channel: row.channel,
      status: row.status,
      onPlatform: records.length,
      latenessMs,
      reportedLagMs: row.lagMs,
      verdict,
    };
  });
  const count = (verdict: TaskVerdict) => tasks.filter((task) => task.verdict === verdict).length;
  const statuses = await sql<{ status: string; count: number }[]>`
    select status, count(*)::int as count from epics where workspace_id = ${workspace.id}::uuid group by status`;
  const epicsIn = (status: string) => statuses.find((row) => row.status === status)?.count ?? 0;
  const connectorRows = await sql<{ platform: string; status: string }[]>`
    select platform, status from connectors where workspace_id = ${workspace.id}::uuid`;
  const late = tasks.filter((task) => task.latenessMs !== null && task.latenessMs > lateAfterMs);
  // Every fault here is one a retry outlives: a publication that failed, or an epic never scheduled, is a
  // post missed, even with nothing wrong on the platform.
  const violations = tasks.filter((task) => task.verdict !== 'published once');
  const evidence: Record<string, unknown>[] = [];
  for (const epicId of new Set(violations.map((task) => task.epicId))) {
    evidence.push({
      epic: (
        await sql`select id, status, scheduled_at, schedule_token, updated_at from epics where id = ${epicId}::uuid`
      )[0],
      dueAt: epics.find((epic) => epic.id === epicId)?.dueAt.toISOString(),
      tasks: await sql`select id, channel, created_at from tasks where epic_id = ${epicId}::uuid`,
      publications: await sql`select task_id, status, attempts, external_id, last_error, updated_at
                              from publications where epic_id = ${epicId}::uuid`,
      audit: await sql`select action, from_status, to_status, actor, details, created_at from audit_events
                       where subject_id = ${epicId}::uuid order by created_at`,
      workflow: await stack
        .temporalCli('workflow', 'show', '--workflow-id', `epic-${epicId}`)
        .then((text) => text.slice(0, 20_000))
        .catch((error: unknown) => String(error)),
    });
  }
  const tasksByVerdict: Record<string, number> = {};
  for (const task of tasks) tasksByVerdict[task.verdict] = (tasksByVerdict[task.verdict] ?? 0) + 1;
  return {
    seed: plan.seed,
    epics: {
      planned: epics.length,
      scheduled: scheduledIds.length,
      published: epicsIn('published'),
      error: epicsIn('error'),
      notFinal: scheduledIds.length - epicsIn('published') - epicsIn('error'),
    },
    tasks: {
      total: tasks.length,
      published: tasks.filter((task) => task.status === 'published').length,
      failed: tasks.filter((task) => task.status === 'failed').length,
    },
    faults,
    faultsInjected: faults.filter((fault) => fault.struckAtMs !== null).length,
    duplicates: count('duplicate'),
    lost: count('published but missing on the platform') + count('not final'),
    missed: count('failed, nothing on the platform') + count('not scheduled, nothing on the platform'),
    workerCrashes: world.crashes(),
    mismatches: count('failed but on the platform'),
    late: {
      count: late.length,
      maxMs: Math.max(0, ...late.map((task) => task.latenessMs!)),
      unreported: count('lateness not reported'),
    },
    connectorsNotConnected: connectorRows
      .filter((row) => row.status !== 'connected')
      .map((row) => `${row.platform}: ${row.status}`),
    scheduleRetries,
    violations,
    evidence,
    tasksByVerdict,
    durationMs: sinceStart(),
  };
}

/**
 * A run passes when every planned epic was scheduled and every publication went out exactly once, none is
 * late without a word, no connector fell, and no worker died but of the faults' own kills.
 */
export function chaosPassed(result: ChaosResult): boolean {
  return (
    result.violations.length === 0 &&
    result.epics.scheduled === result.epics.planned &&
    result.epics.notFinal === 0 &&
    result.connectorsNotConnected.length === 0 &&
    result.workerCrashes.length === 0
  );
}

/** When each of the epic's publications of this channel happened, as the platform itself recorded it. */
function platformRecords(world: ChaosWorld, channel: ChaosChannel, epicId: string): number[] {
  const { stack } = world;
  switch (chaosChannels[channel]) {
    case 'meta':
      return stack.meta
        .posts()
        .filter((post) => post.kind === 'page_post' && post.text?.includes(epicId))
        .map((post) => post.publishedAt.getTime());
    case 'linkedin':
      return stack
        .platforms!.linkedin.posts()
        .filter((post) => post.commentary.includes(epicId))
        .map((post) => post.createdAt.getTime());
    case 'klaviyo': {
      // A send that will go (queued) or went (complete); one cancelled before its time sends nothing. It goes
      // at its send time, or, handed off too late for one (an immediate send), when its send job was made.
      const sendJobs = stack.klaviyo.receivedMatching(/^\/api\/campaign-send-jobs\/?$/, 'POST');
      return stack.klaviyo
        .campaigns()
        .filter(
          (campaign) =>
            campaign.name.includes(epicId.slice(0, 8)) &&
            (campaign.sendJob === 'queued' || campaign.sendJob === 'complete'),
        )
        .map((campaign) => {
          if (campaign.sendAt) return Date.parse(campaign.sendAt);
          const job = sendJobs.find((request) => JSON.stringify(request.body).includes(campaign.id));
          return job ? job.receivedAt.getTime() : Number.NaN;
        });
    }
  }
}

function matchesRequest(request: RecordedRequest, match: RequestMatch) {
  if (match.method && match.method !== request.method) return false;
  return typeof match.path === 'string' ? request.path.includes(match.path) : match.path.test(request.path);
}

async function expectOk(workspace: TestWorkspace, method: 'POST', url: string, body?: object) {
  const response = await workspace.api.request({
    method,
    url,
    ...(body === undefined ? {} : { payload: body }),
  });
  if (response.statusCode >= 300)
    throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
  return response.json() as { id: string };
}
