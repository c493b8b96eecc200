// The static summary and details each epic, token, check and sync workflow starts with (SPEC §8), so an
// operator reads in the Temporal UI and `temporal workflow describe` what a run is for without its input:
// the epic's time in the user's zone, title, workspace and channels; a connector's platform and accounts.
// Pure: the starters (api/epic-workflows.ts, api/connector-workflows.ts) gather the facts and pass them in.
// Nothing secret goes in: names, channels, ids and times only, never a token, key or address.
import { Temporal } from 'temporal-polyfill';
import { Platform, platformDescriptor } from './platforms.ts';

/** What the Temporal UI shows as a workflow's summary (one line) and details (Markdown). */
export interface WorkflowTexts {
  staticSummary: string;
  staticDetails: string;
}

export interface EpicSummaryFacts {
  epicId: string;
  title: string;
  workspaceId: string;
  /** Null when it could not be read: the summary names the workspace by its id instead. */
  workspaceName: string | null;
  /** One per task (repeats counted). */
  channels: readonly string[];
  /** The instant the run publishes at (ISO 8601). */
  scheduledAt: string;
  /** The IANA zone the user scheduled in; absent when they gave an instant alone (then UTC). */
  timeZone?: string | null | undefined;
}

export interface ConnectorSummaryFacts {
  connectorId: string;
  platform: string;
  workspaceId: string;
  workspaceName: string | null;
  /** The connector's accounts as discovered; those enabled are the ones it works for. */
  accounts: readonly { kind: string; name: string; enabled: boolean }[];
}

/** Past these the summary would not fit a line of the UI; the details keep everything. */
const summaryMaxChars = 200;
const titleMaxChars = 60;
const nameMaxChars = 40;
const summaryAccounts = 3;
const summaryChannelKinds = 4;

const weekdays = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

/** One line of plain text: control characters and runs of spaces become one space. */
function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point.
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029\s]+/g, ' ').trim();
}

/** At most `max` characters (code points), an ellipsis marking a cut. */
function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** User text shown in Markdown as typed, not as formatting (the UI renders the details as Markdown). */
function literal(text: string): string {
  return oneLine(text).replace(/[\\`*_[\]<>|~]/g, (char) => `\\${char}`);
}

const two = (value: number) => String(value).padStart(2, '0');

/**
 * The wall time of `instant` in `timeZone` (UTC when absent or unknown), as an operator reads a schedule:
 * `Sun 14 Mar 2027 09:00 America/New_York`; seconds only when they are not zero.
 */
export function wallTimeIn(instant: string, timeZone?: string | null): { text: string; offset: string } {
  const epochMs = Date.parse(instant);
  // Never the reason a start fails: an instant that does not parse is shown as given.
  if (Number.isNaN(epochMs)) return { text: instant, offset: '' };
  const at = Temporal.Instant.fromEpochMilliseconds(epochMs);
  let zone = timeZone || 'UTC';
  let zoned: Temporal.ZonedDateTime;
  try {
    zoned = at.toZonedDateTimeISO(zone);
  } catch {
    zone = 'UTC';
    zoned = at.toZonedDateTimeISO(zone);
  }
  const seconds = zoned.second === 0 ? '' : `:${two(zoned.second)}`;
  const text =
    `${weekdays[zoned.dayOfWeek - 1]} ${zoned.day} ${months[zoned.month - 1]} ${zoned.year} ` +
    `${two(zoned.hour)}:${two(zoned.minute)}${seconds} ${zone}`;
  return { text, offset: zoned.offset };
}

/** `instagram_post ×2, klaviyo_email`: each channel once, in the order first met, with its count. */
function channelList(channels: readonly string[], maxKinds = Number.POSITIVE_INFINITY): string {
  const counts = new Map<string, number>();
  for (const channel of channels) counts.set(channel, (counts.get(channel) ?? 0) + 1);
  const entries = [...counts].map(([channel, count]) => (count > 1 ? `${channel} ×${count}` : channel));
  if (entries.length === 0) return 'no channels';
  if (entries.length <= maxKinds) return entries.join(', ');
  return `${entries.slice(0, maxKinds).join(', ')}, +${entries.length - maxKinds} more`;
}

const workspaceLabel = (facts: { workspaceId: string; workspaceName: string | null }) =>
  facts.workspaceName ? clip(oneLine(facts.workspaceName), nameMaxChars) : facts.workspaceId;

/** The summary as one line within the UI's width. */
const summaryLine = (parts: string[]) => clip(parts.join(' · '), summaryMaxChars);

export function epicWorkflowTexts(facts: EpicSummaryFacts): WorkflowTexts {
  const when = wallTimeIn(facts.scheduledAt, facts.timeZone);
  const title = clip(oneLine(facts.title), titleMaxChars) || '(untitled)';
  const staticSummary = summaryLine([
    when.text,
    `“${title}”`,
    `workspace ${workspaceLabel(facts)}`,
    channelList(facts.channels, summaryChannelKinds),
  ]);
  const staticDetails = [
    `**${literal(facts.title) || '(untitled)'}**, workspace **${facts.workspaceName ? literal(facts.workspaceName) : facts.workspaceId}**`,
    '',
    `- Publishes at: ${when.text}${when.offset ? ` (UTC${when.offset}), ${new Date(facts.scheduledAt).toISOString()}` : ''}`,
    `- Channels: ${channelList(facts.channels)}`,
    `- Epic \`${facts.epicId}\`, workspace \`${facts.workspaceId}\``,
    '',
    'The time is the one this run started for: a reschedule moves it in the run, as the `ScheduledAt` search ' +
      'attribute and the `state` query show.',
  ].join('\n');
  return { staticSummary, staticDetails };
}

function descriptorOf(platform: string) {
  const known = Platform.safeParse(platform);
  return known.success ? platformDescriptor(known.data) : null;
}

/**
 * Which accounts a run works for, in the platform's order of kinds (a Page before its Instagram account):
 * a token or a key reaches every account found (`granted`); a sync reads the enabled accounts of the kinds it
 * syncs (`synced`), so while none is enabled it names those it could read, saying so.
 */
function accountsFor(facts: ConnectorSummaryFacts, scope: 'granted' | 'synced') {
  const descriptor = descriptorOf(facts.platform);
  const kinds = descriptor?.accountKinds ?? [];
  const rank = (kind: string) => (kinds.includes(kind) ? kinds.indexOf(kind) : kinds.length);
  const ordered = [...facts.accounts].sort(
    (a, b) => rank(a.kind) - rank(b.kind) || a.name.localeCompare(b.name, 'en'),
  );
  if (scope === 'granted') return { accounts: ordered, noneEnabled: false };
  const synced = descriptor?.syncedKinds.length
    ? ordered.filter((account) => descriptor.syncedKinds.includes(account.kind))
    : ordered;
  const enabled = synced.filter((account) => account.enabled);
  return enabled.length > 0
    ? { accounts: enabled, noneEnabled: false }
    : { accounts: synced, noneEnabled: synced.length > 0 };
}

function accountList(
  chosen: ReturnType<typeof accountsFor>,
  options: { max?: number; markdown?: boolean } = {},
): string {
  const { accounts, noneEnabled } = chosen;
  if (accounts.length === 0) return 'no accounts yet';
  const max = options.max ?? Number.POSITIVE_INFINITY;
  // The kind says which is which only when there are several kinds (Meta's Pages and Instagram accounts).
  const withKind = new Set(accounts.map((account) => account.kind)).size > 1;
  const named = accounts.map((account) => {
    const name = options.markdown ? literal(account.name) : clip(oneLine(account.name), nameMaxChars);
    return withKind ? `${name} (${account.kind})` : name;
  });
  const listed =
    named.length <= max ? named.join(', ') : `${named.slice(0, max).join(', ')}, +${named.length - max} more`;
  return noneEnabled ? `${listed} (none enabled yet)` : listed;
}

/** `every 6 h`, `every 15 min`. */
export function everyText(intervalMs: number): string {
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1_000, 's'],
  ];
  for (const [size, unit] of units) {
    if (intervalMs >= size && intervalMs % size === 0) return `every ${intervalMs / size} ${unit}`;
  }
  return `every ${intervalMs} ms`;
}

function connectorTexts(
  facts: ConnectorSummaryFacts,
  scope: 'granted' | 'synced',
  what: string,
  purpose: string,
): WorkflowTexts {
  const chosen = accountsFor(facts, scope);
  const staticSummary = summaryLine([
    what,
    facts.platform,
    accountList(chosen, { max: summaryAccounts }),
    `workspace ${workspaceLabel(facts)}`,
  ]);
  const workspace = facts.workspaceName ? literal(facts.workspaceName) : facts.workspaceId;
  const staticDetails = [
    `**${descriptorOf(facts.platform)?.name ?? facts.platform}** connector of workspace **${workspace}**: ${purpose}`,
    '',
    `- Accounts: ${accountList(chosen, { markdown: true })}`,
    `- Connector \`${facts.connectorId}\`, workspace \`${facts.workspaceId}\``,
  ].join('\n');
  return { staticSummary, staticDetails };
}

/** The token-refresh workflow (`connector-token-<id>`): the accounts its grant reaches. */
export function connectorTokenWorkflowTexts(facts: ConnectorSummaryFacts): WorkflowTexts {
  return connectorTexts(
    facts,
    'granted',
    'Token refresh',
    'renews its access token shortly before it expires, or flags the connector for a reconnect.',
  );
}

/** The runs of the Schedule that checks an API-key connector's credentials (`connector-check-<id>`). */
export function connectorCheckWorkflowTexts(facts: ConnectorSummaryFacts, intervalMs: number): WorkflowTexts {
  return connectorTexts(
    facts,
    'granted',
    `Credentials check ${everyText(intervalMs)}`,
    'checks that its key still works.',
  );
}

/** The runs of the Schedule that syncs a data connector's accounts (`connector-sync-<id>`). */
export function connectorSyncWorkflowTexts(facts: ConnectorSummaryFacts, intervalMs: number): WorkflowTexts {
  return connectorTexts(
    facts,
    'synced',
    `Data sync ${everyText(intervalMs)}`,
    'reads the data of its enabled accounts.',
  );
}

/** The facts of a connector that could not be read: its id and platform still say what the run is for. */
export function connectorFactsUnknown(connector: {
  id: string;
  platform: string;
  workspaceId: string;
}): ConnectorSummaryFacts {
  return {
    connectorId: connector.id,
    platform: connector.platform,
    workspaceId: connector.workspaceId,
    workspaceName: null,
    accounts: [],
  };
}
