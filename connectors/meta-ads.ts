// Facebook Ads (Marketing API) for the Meta adapter: a link ad's campaign, ad set, creative and ad are made
// PAUSED before the time, switched ACTIVE at it, and deleted when the publication will not go out.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { contentSchemas, type TaskContent } from '../domain/content.ts';
import { PlatformError } from '../domain/publication-errors.ts';
import type {
  DiscardContext,
  PreflightContext,
  PrepareContext,
  PublicationContext,
  PublicationProgress,
  Published,
} from './types.ts';

/** One Graph API call of the Meta adapter (its pinned version, its error mapping). */
export type GraphCall = <T>(
  schema: z.ZodType<T>,
  request: {
    method: 'GET' | 'POST' | 'DELETE';
    path: string;
    params?: Record<string, string | undefined>;
    token?: string;
    signal?: AbortSignal | undefined;
  },
) => Promise<T>;

/** What Meta's ads need of the connection: the user token (ads_management) and the Pages it reaches. */
interface AdsCredentials {
  userAccessToken: string;
  pages: Record<string, { name: string }>;
}

/**
 * What a Facebook ad publication keeps in progress: the marker every object's name carries (saved before the
 * first create, so an object whose create answer was lost is found by it instead of made twice), the digest
 * of the content and the ad account it was made for, and each object's id the moment Meta names it.
 */
export const metaAdsProgressKeys = {
  marker: 'fbAdsMarker',
  digest: 'fbAdsDigest',
  account: 'fbAdsAccount',
  campaign: 'fbAdsCampaign',
  adSet: 'fbAdsAdSet',
  creative: 'fbAdsCreative',
  ad: 'fbAdsAd',
} as const;
const keys = metaAdsProgressKeys;

const forgotten: PublicationProgress = Object.fromEntries(Object.values(keys).map((key) => [key, '']));

type FacebookAdContent = TaskContent<'facebook_ad'>;

/** The objects of one ad, in the order they are made (each one names the one before). */
const steps = [
  { key: keys.campaign, edge: 'campaigns' },
  { key: keys.adSet, edge: 'adsets' },
  { key: keys.creative, edge: 'adcreatives' },
  { key: keys.ad, edge: 'ads' },
] as const;
type Step = (typeof steps)[number];
type Prepared = { accountId: string } & Record<Step['key'], string>;

// The EU and EEA: the Digital Services Act makes an ad shown there name who benefits from it and who pays.
const dsaCountries = new Set(
  'AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO'.split(' '),
);

const NodeId = z.object({ id: z.string().min(1) });
const Success = z.object({ success: z.literal(true) });
const Status = z.object({ id: z.string(), status: z.string().optional() });
const Found = z.object({ data: z.array(z.object({ id: z.string(), name: z.string().optional() })) });
const AdAccount = z.object({
  id: z.string(),
  currency: z.string().optional(),
  account_status: z.coerce.number().optional(),
});

function invalid(message: string, platformCode?: string): PlatformError {
  return new PlatformError({ class: 'INVALID_REQUEST', message, ...(platformCode ? { platformCode } : {}) });
}

/** Letters, digits and dashes only: found by a name filter, unique per preparation. */
const adsMarker = (taskId: string) => `glw-${taskId.slice(0, 8)}-${randomBytes(6).toString('hex')}`;

export function createMetaAds(input: { graph: GraphCall }) {
  const { graph } = input;

  function adAccountOf(account: { kind: string; externalId: string } | null): string {
    if (account?.kind !== 'ad_account' || !/^act_\d+$/.test(account.externalId))
      throw invalid('A Facebook ad needs a Facebook Ad Account as its target account');
    return account.externalId;
  }

  function contentOf(content: TaskContent): FacebookAdContent {
    const parsed = contentSchemas.facebook_ad.safeParse(content);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw invalid(`The facebook_ad content is not valid: ${issue?.path.join('.')}: ${issue?.message}`);
    }
    return parsed.data;
  }

  function pageOf(credentials: AdsCredentials, pageId: string) {
    const page = credentials.pages[pageId];
    // The task names the Page; only one this connection manages can run the ad.
    if (!page) {
      throw invalid(
        `The Facebook Page ${pageId} is not among the Pages this Meta connection reaches: connect it, or change the ad's pageId`,
        'ads:page_not_connected',
      );
    }
    return page;
  }

  /** The account can take the ad: active, and billing in the budget's currency (else it would spend wrong). */
  async function checkAccount(
    accountId: string,
    content: FacebookAdContent,
    token: string,
    signal: AbortSignal | undefined,
  ) {
    const account = await graph(AdAccount, {
      method: 'GET',
      path: `/${accountId}`,
      params: { fields: 'id,currency,account_status' },
      token,
      signal,
    });
    // 1 is ACTIVE; any other (disabled, unsettled, closed, in review…) runs no ad.
    if (account.account_status !== undefined && account.account_status !== 1) {
      throw invalid(
        `The ad account ${accountId} is not active on Meta (account_status ${account.account_status})`,
        'ads:account_not_active',
      );
    }
    if (account.currency && account.currency !== content.dailyBudget.currency) {
      throw invalid(
        `The ad account ${accountId} bills in ${account.currency}; the ad's daily budget is in ${content.dailyBudget.currency}`,
        'ads:currency_mismatch',
      );
    }
  }

  /** The objects of this kind (not deleted) whose name carries the marker: what a lost create made. */
  async function findAll(
    accountId: string,
    edge: Step['edge'],
    marker: string,
    token: string,
    signal: AbortSignal | undefined,
  ): Promise<string[]> {
    // (unconfirmed) that every ad object edge takes a name filter; Meta leaves deleted objects out by default.
    const answer = await graph(Found, {
      method: 'GET',
      path: `/${accountId}/${edge}`,
      params: {
        fields: 'id,name',
        filtering: JSON.stringify([{ field: 'name', operator: 'CONTAIN', value: marker }]),
        limit: '5',
      },
      token,
      signal,
    });
    return answer.data.filter((found) => found.name?.includes(marker)).map((found) => found.id);
  }

  /** Where a saved object stands: deleted (or unknown to Meta), archived (it can only be deleted), or usable. */
  async function standingOf(id: string, token: string, signal: AbortSignal | undefined) {
    try {
      const object = await graph(Status, {
        method: 'GET',
        path: `/${id}`,
        params: { fields: 'id,status' },
        token,
        signal,
      });
      return object.status === 'DELETED' ? 'gone' : object.status === 'ARCHIVED' ? 'archived' : 'usable';
    } catch (error) {
      // Meta answers an object it no longer holds like one that never existed.
      if (error instanceof PlatformError && error.failure.platformCode === '100/33') return 'gone';
      throw error;
    }
  }

  /**
   * Deletes what a preparation left: what carries the marker — the campaigns (Meta deletes their ad sets and
   * ads with them) and the creatives, which live beside them in the account — and the saved campaign and
   * creative, which someone may have renamed in Ads Manager. Found by the marker rather than only the saved
   * ids, so an object whose create or delete answer was lost is dealt with too.
   */
  async function deleteLeftovers(
    accountId: string,
    progress: PublicationProgress,
    token: string,
    signal: AbortSignal | undefined,
  ) {
    const marker = progress[keys.marker];
    for (const [edge, key] of [
      ['campaigns', keys.campaign],
      ['adcreatives', keys.creative],
    ] as const) {
      // Every one found: should a look-up ever have missed a fresh object, its twin goes too.
      const found = marker ? await findAll(accountId, edge, marker, token, signal) : [];
      const saved = progress[key];
      if (saved && !found.includes(saved) && (await standingOf(saved, token, signal)) !== 'gone')
        found.push(saved);
      for (const id of found) await graph(Success, { method: 'DELETE', path: `/${id}`, token, signal });
    }
  }

  /**
   * Deletes the objects that carry the marker but are not the prepared ones: twins a look-up that lagged
   * behind a lost create let a retry make. A twin campaign takes its ad sets and ads with it.
   */
  async function deleteTwins(
    prepared: Prepared,
    marker: string,
    token: string,
    signal: AbortSignal | undefined,
  ) {
    const deleted = new Set<string>();
    for (const step of steps) {
      for (const id of await findAll(prepared.accountId, step.edge, marker, token, signal)) {
        if (id === prepared[step.key] || deleted.has(id)) continue;
        await graph(Success, { method: 'DELETE', path: `/${id}`, token, signal });
        deleted.add(id);
      }
    }
  }

  function createParams(
    step: Step,
    context: { content: FacebookAdContent; marker: string; pageName: string },
    made: Partial<Record<Step['key'], string>>,
  ): Record<string, string> {
    const { content, marker } = context;
    switch (step.key) {
      case keys.campaign:
        return {
          name: `${content.name} (${marker})`,
          objective: 'OUTCOME_TRAFFIC',
          // Nothing serves before the time: the campaign is the last object switched ACTIVE.
          status: 'PAUSED',
          // Required (since v7.0) even when none applies.
          special_ad_categories: '[]',
          // (unconfirmed) Recent versions ask a campaign without a campaign budget to say this.
          is_adset_budget_sharing_enabled: 'false',
        };
      case keys.adSet:
        return {
          name: `${content.name} · ad set (${marker})`,
          campaign_id: made[keys.campaign]!,
          // The ad account currency's minor units, as a string (checked against the account's currency).
          daily_budget: String(content.dailyBudget.amountMinor),
          billing_event: 'IMPRESSIONS',
          optimization_goal: 'LINK_CLICKS',
          bid_strategy: 'LOWEST_COST_WITHOUT_CAP',
          targeting: JSON.stringify({ geo_locations: { countries: content.countries } }),
          status: 'PAUSED',
          // The Page the ad runs as is the advertiser people see: it is named as beneficiary and payer.
          ...(content.countries.some((code) => dsaCountries.has(code))
            ? { dsa_beneficiary: context.pageName, dsa_payor: context.pageName }
            : {}),
        };
      case keys.creative: {
        const [picture] = content.mediaUrls ?? [];
        return {
          name: `${content.name} · creative (${marker})`,
          // A picture by URL, which Meta fetches itself: /adimages takes only the bytes, which the worker
          // would have to download from a URL a user wrote.
          object_story_spec: JSON.stringify({
            page_id: content.pageId,
            link_data: { link: content.link, message: content.text, ...(picture ? { picture } : {}) },
          }),
        };
      }
      case keys.ad:
        return {
          name: `${content.name} · ad (${marker})`,
          adset_id: made[keys.adSet]!,
          creative: JSON.stringify({ creative_id: made[keys.creative]! }),
          status: 'PAUSED',
        };
    }
  }

  /** The progress of one try as it stands, kept current as this try saves (a retry reads it from the row). */
  function progressOf(context: PrepareContext<AdsCredentials>) {
    const state: PublicationProgress = { ...context.progress };
    return {
      state,
      async save(update: PublicationProgress) {
        await context.saveProgress(update);
        Object.assign(state, update);
      },
    };
  }

  /**
   * Makes the campaign, ad set, creative and ad, all PAUSED, or finds what an earlier try made: an id saved in
   * progress is reused, and a missing one is first looked for by the marker when an earlier try may have sent
   * its create. Objects made from content since edited (or for another ad account) are deleted first, and so
   * is what was deleted or archived since on Meta (a discard whose answer was lost, or someone in Ads Manager):
   * switching it ACTIVE at the time would fail on every try. `verify: false` trusts the saved ids without
   * asking (at the time: the switch itself tells).
   */
  async function prepare(
    context: PrepareContext<AdsCredentials>,
    progress: ReturnType<typeof progressOf>,
    verify: boolean,
  ): Promise<Prepared> {
    const accountId = adAccountOf(context.account);
    const content = contentOf(context.content);
    const page = pageOf(context.credentials, content.pageId);
    const token = context.credentials.userAccessToken;
    const signal = context.signal;
    const forget = async () => {
      await deleteLeftovers(progress.state[keys.account] || accountId, progress.state, token, signal);
      await progress.save(forgotten);
    };

    const earlier = progress.state[keys.marker];
    if (
      earlier &&
      (progress.state[keys.digest] !== context.contentDigest || progress.state[keys.account] !== accountId)
    ) {
      await forget();
    } else if (earlier && verify) {
      for (const key of [keys.campaign, keys.adSet, keys.ad] as const) {
        const id = progress.state[key];
        if (id && (await standingOf(id, token, signal)) !== 'usable') {
          await forget();
          break;
        }
      }
    }
    // A marker from an earlier try: any create it sent may have been made without its answer arriving.
    const resumed = Boolean(progress.state[keys.marker]);
    if (!resumed) {
      await checkAccount(accountId, content, token, signal);
      // Saved before the first create: a retry after a lost answer looks for the marker before creating.
      await progress.save({
        [keys.marker]: adsMarker(context.taskId),
        [keys.digest]: context.contentDigest,
        [keys.account]: accountId,
      });
    }
    const marker = progress.state[keys.marker]!;

    const made: Partial<Record<Step['key'], string>> = {};
    let lookedUpThenCreated = false;
    let createdHere = false;
    // A create already on its way when the schedule was withdrawn lands after the discard looked: once the
    // fence says so, the try that made it deletes what it made, and stops.
    const fence = async () => {
      try {
        await context.beforeCreating?.();
      } catch (withdrawn) {
        if (createdHere) await forget();
        throw withdrawn;
      }
    };
    for (const step of steps) {
      const saved = progress.state[step.key];
      let id =
        saved || (resumed ? ((await findAll(accountId, step.edge, marker, token, signal))[0] ?? null) : null);
      if (!id) {
        await fence();
        createdHere = true;
        const answer = await graph(NodeId, {
          method: 'POST',
          path: `/${accountId}/${step.edge}`,
          params: createParams(step, { content, marker, pageName: page.name }, made),
          token,
          signal,
        });
        id = answer.id;
        if (resumed) lookedUpThenCreated = true;
      }
      if (saved !== id) await progress.save({ [step.key]: id });
      made[step.key] = id;
    }
    if (createdHere) await fence();
    const prepared = { accountId, ...(made as Record<Step['key'], string>) };
    // A look-up found nothing and a create followed: had the look-up lagged behind a lost create, a twin stands.
    if (lookedUpThenCreated) await deleteTwins(prepared, marker, token, signal);
    return prepared;
  }

  /** Switches the ad, its ad set, then its campaign ACTIVE: the campaign is the switch that makes it serve. */
  async function switchOn(prepared: Prepared, token: string) {
    for (const key of [keys.ad, keys.adSet, keys.campaign] as const) {
      await graph(Success, {
        method: 'POST',
        path: `/${prepared[key]}`,
        params: { status: 'ACTIVE' },
        token,
      });
    }
  }

  /**
   * Switches the prepared ad ACTIVE (preparing first whatever is missing). All three switches come after the
   * last check, and none is aborted once sent: each is the same request when sent again. Prepared objects
   * deleted or archived since are deleted, made again and switched within this try, still behind the last
   * check; twins of them are deleted once it serves.
   */
  async function publish(context: PublicationContext<AdsCredentials>): Promise<Published> {
    const token = context.credentials.userAccessToken;
    const progress = progressOf(context);
    let prepared = await prepare(context, progress, false);
    await context.beforeGoingLive();
    try {
      await switchOn(prepared, token);
    } catch (error) {
      if (!(error instanceof PlatformError) || error.failure.class !== 'INVALID_REQUEST') throw error;
      const states = [];
      for (const key of [keys.campaign, keys.adSet, keys.ad] as const)
        states.push(await standingOf(prepared[key], token, context.signal));
      if (states.every((state) => state === 'usable')) throw error;
      await deleteLeftovers(prepared.accountId, progress.state, token, context.signal);
      await progress.save(forgotten);
      prepared = await prepare(context, progress, false);
      await context.beforeGoingLive();
      await switchOn(prepared, token);
    }
    try {
      await deleteTwins(prepared, progress.state[keys.marker]!, token, context.signal);
    } catch {
      // It serves: a twin left PAUSED never serves, and failing here would have the ad published again.
    }
    const accountNumber = prepared.accountId.replace(/^act_/, '');
    return {
      externalId: prepared[keys.ad],
      externalUrl: `https://adsmanager.facebook.com/adsmanager/manage/ads?act=${accountNumber}&selected_ad_ids=${prepared[keys.ad]}`,
    };
  }

  /** Deletes what a preparation made, found by its marker and its saved ids in the account it was made in. */
  async function discardPrepared(context: DiscardContext<AdsCredentials>) {
    const progress = context.progress;
    if (!progress[keys.marker] && !progress[keys.campaign] && !progress[keys.creative]) return;
    const accountId = progress[keys.account] || adAccountOf(context.account);
    await deleteLeftovers(accountId, progress, context.credentials.userAccessToken, context.signal);
    await context.saveProgress(forgotten);
  }

  /** Before the time: the ad account is reachable, active and billing in the budget's currency. */
  async function preflight(context: PreflightContext<AdsCredentials>) {
    const content = contentOf(context.content);
    pageOf(context.credentials, content.pageId);
    await checkAccount(
      adAccountOf(context.account),
      content,
      context.credentials.userAccessToken,
      context.signal,
    );
  }

  return {
    prepare: async (context: PrepareContext<AdsCredentials>) => {
      await prepare(context, progressOf(context), true);
    },
    publish,
    discardPrepared,
    preflight,
  };
}
