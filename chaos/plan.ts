// The chaos run's plan, drawn from one seed: which epics (their channels, when each is scheduled and when it is
// due) and which faults (their kind, target and instant). The same seed gives the same plan, so a failing run
// can be run again; what the real servers do with it still varies with timing, which is what it is for.

export const chaosPlatforms = ['meta', 'linkedin', 'klaviyo'] as const;
export type ChaosPlatform = (typeof chaosPlatforms)[number];

/** Soft channels are published by the worker at the time; Klaviyo's email is handed off to Klaviyo ahead. */
export const chaosChannels = {
  facebook_post: 'meta',
  linkedin_post: 'linkedin',
  klaviyo_email: 'klaviyo',
} as const satisfies Record<string, ChaosPlatform>;
export type ChaosChannel = keyof typeof chaosChannels;

export const faultKinds = [
  /** Every worker is SIGKILLed while the platform holds the publishing request, before it acts. */
  'worker-kill-before-call',
  /** Every worker is SIGKILLed the moment the platform has answered the publishing request. */
  'worker-kill-after-answer',
  /** The platform has acted; every worker is SIGKILLed before its answer arrives (so before any db write). */
  'worker-kill-before-db-write',
  /** The Temporal dev server is SIGKILLed, then started again on its database file. */
  'temporal-restart',
  /** PostgreSQL's postmaster is SIGKILLed, then started again on its data directory (crash recovery). */
  'postgres-restart',
  /** Every request to the platform answers 503 for a while. */
  'platform-down',
  /** The platform acts on the publishing request at once but answers only after the request's time-out. */
  'platform-slow',
  /** The platform acts on the publishing request and the connection dies before its answer leaves. */
  'platform-drop-answer',
] as const;
export type FaultKind = (typeof faultKinds)[number];

/** The faults that aim at one platform's publishing request (the others hit the whole stack). */
export const platformFaults: ReadonlySet<FaultKind> = new Set([
  'worker-kill-before-call',
  'worker-kill-after-answer',
  'worker-kill-before-db-write',
  'platform-down',
  'platform-slow',
  'platform-drop-answer',
]);

export interface PlannedEpic {
  index: number;
  channels: ChaosChannel[];
  /** When the schedule call is made, from the run's start. */
  scheduleAtMs: number;
  /** When it is due, from the run's start. */
  dueAtMs: number;
}

export interface PlannedFault {
  index: number;
  kind: FaultKind;
  /** When it is armed (a platform fault then waits for the next matching request), from the run's start. */
  atMs: number;
  platform: ChaosPlatform | null;
  /** How long a server stays down, a platform is down, or a slow answer is held. */
  durationMs: number;
}

export interface ChaosPlan {
  seed: number;
  epics: PlannedEpic[];
  faults: PlannedFault[];
}

export interface ChaosSize {
  epics: number;
  /** At least this many faults: every kind as often as the count allows, in a shuffled order. */
  faults: number;
  /** Schedule calls are spread over this window from the start. */
  scheduleWindowMs: number;
  /** Each epic is due this long after its schedule call (drawn between the two bounds). */
  leadMs: [number, number];
  /** How long a platform outage lasts. */
  outageMs: number;
  /** How long a slow answer is held: longer than the adapters' 30 s request time-out. */
  slowAnswerMs: number;
}

export const fullSize: ChaosSize = {
  epics: 100,
  faults: 24,
  scheduleWindowMs: 150_000,
  leadMs: [20_000, 90_000],
  outageMs: 60_000,
  slowAnswerMs: 35_000,
};

export const quickSize: ChaosSize = {
  epics: 14,
  faults: 8,
  scheduleWindowMs: 30_000,
  leadMs: [15_000, 35_000],
  outageMs: 15_000,
  slowAnswerMs: 35_000,
};

/** mulberry32: a small, well-spread 32-bit generator; enough to draw a plan, not for secrets. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function drawPlan(seed: number, size: ChaosSize): ChaosPlan {
  const random = seededRandom(seed);
  const between = (low: number, high: number) => Math.round(low + random() * (high - low));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const shuffled = <T>(items: T[]): T[] => {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  };

  const channelNames = Object.keys(chaosChannels) as ChaosChannel[];
  const epics: PlannedEpic[] = Array.from({ length: size.epics }, (_, index) => {
    // One to three channels, each at most once: every epic publishes somewhere, many on several platforms.
    const channels = shuffled([...channelNames]).slice(0, between(1, channelNames.length));
    const scheduleAtMs = between(0, size.scheduleWindowMs);
    return { index, channels, scheduleAtMs, dueAtMs: scheduleAtMs + between(...size.leadMs) };
  });

  // The faults fall while epics are being scheduled and coming due, each kind as often as the others.
  const firstDue = Math.min(...epics.map((epic) => epic.dueAtMs));
  const lastDue = Math.max(...epics.map((epic) => epic.dueAtMs));
  const kinds = shuffled(
    Array.from({ length: size.faults }, (_, index) => faultKinds[index % faultKinds.length]!),
  );
  const faults: PlannedFault[] = kinds
    .map((kind) => {
      const atMs = between(Math.max(5_000, firstDue - 10_000), lastDue - 10_000);
      // A platform fault waits for that platform's next publishing request: one with a task still to come.
      // Klaviyo's email is handed off when the epic is scheduled, the soft posts are published when it is due.
      const requestAtMs = (epic: PlannedEpic, platform: ChaosPlatform) =>
        platform === 'klaviyo' ? epic.scheduleAtMs : epic.dueAtMs;
      const coming = chaosPlatforms.filter((platform) =>
        epics.some(
          (epic) =>
            requestAtMs(epic, platform) >= atMs + 3_000 &&
            epic.channels.some((channel) => chaosChannels[channel] === platform),
        ),
      );
      const platform = platformFaults.has(kind) ? pick(coming.length > 0 ? coming : chaosPlatforms) : null;
      const durationMs =
        kind === 'platform-down'
          ? size.outageMs
          : kind === 'platform-slow'
            ? size.slowAnswerMs
            : kind === 'temporal-restart' || kind === 'postgres-restart'
              ? between(2_000, 8_000)
              : // A worker kill: how long until the workers are started again.
                between(1_000, 6_000);
      return { kind, atMs, platform, durationMs };
    })
    .sort((a, b) => a.atMs - b.atMs)
    .map((fault, index) => ({ index, ...fault }));
  return { seed, epics, faults };
}
