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

  /**
   * Deletes what carries the marker: the campaign (Meta deletes its ad sets and ads with it) and the creative,
   * which lives beside it in the account. Found by the marker rather than the saved ids, so an object whose
   * create or delete answer was lost is dealt with too.
   */
  async function deleteMarked(
    accountId: string,
    marker: string,
    token: string,
    signal: AbortSignal | undefined,
  ) {
    for (const edge of ['campaigns', 'adcreatives'] as const) {
      // Every one found: should a look-up ever have missed a fresh object, its twin goes too.
      for (const id of await findAll(accountId, edge, marker, token, signal))
        await graph(Success, { method: 'DELETE', path: `/${id}`, token, signal });
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

  /**
   * Makes the campaign, ad set, creative and ad, all PAUSED, or finds what an earlier try made: an id saved in
   * progress is reused, and a missing one is first looked for by the marker when an earlier try may have sent
   * its create. Objects made from content since edited (or for another ad account) are deleted first.
   */
  async function prepare(context: PrepareContext<AdsCredentials>): Promise<Prepared> {
    const accountId = adAccountOf(context.account);
    const content = contentOf(context.content);
    const page = pageOf(context.credentials, content.pageId);
    const token = context.credentials.userAccessToken;
    const signal = context.signal;
    let progress: PublicationProgress = { ...context.progress };
    const save = async (update: PublicationProgress) => {
      await context.saveProgress(update);
      progress = { ...progress, ...update };
    };

    const earlier = progress[keys.marker];
    if (
      earlier &&
      (progress[keys.digest] !== context.contentDigest || progress[keys.account] !== accountId)
    ) {
      await deleteMarked(progress[keys.account] || accountId, earlier, token, signal);
      await save(forgotten);
    }
    // A marker from an earlier try: any create it sent may have been made without its answer arriving.
    const resumed = Boolean(progress[keys.marker]);
    if (!resumed) {
      await checkAccount(accountId, content, token, signal);
      // Saved before the first create: a retry after a lost answer looks for the marker before creating.
      await save({
        [keys.marker]: adsMarker(context.taskId),
        [keys.digest]: context.contentDigest,
        [keys.account]: accountId,
      });
    }
    const marker = progress[keys.marker]!;

    const made: Partial<Record<Step['key'], string>> = {};
    for (const step of steps) {
      let id =
        progress[step.key] ||
        (resumed ? ((await findAll(accountId, step.edge, marker, token, signal))[0] ?? null) : null);
      if (!id) {
        const answer = await graph(NodeId, {
          method: 'POST',
          path: `/${accountId}/${step.edge}`,
          params: createParams(step, { content, marker, pageName: page.name }, made),
          token,
          signal,
        });
        id = answer.id;
      }
      if (progress[step.key] !== id) await save({ [step.key]: id });
      made[step.key] = id;
    }
    return { accountId, ...(made as Record<Step['key'], string>) };
  }

  /**
   * Switches the prepared ad ACTIVE (preparing first whatever is missing): the ad, its ad set, then its
   * campaign, which is the switch that makes it serve. All three come after the last check, and none is
   * aborted once sent: each is the same request when sent again.
   */
  async function publish(context: PublicationContext<AdsCredentials>): Promise<Published> {
    const prepared = await prepare(context);
    await context.beforeGoingLive();
    for (const key of [keys.ad, keys.adSet, keys.campaign] as const) {
      await graph(Success, {
        method: 'POST',
        path: `/${prepared[key]}`,
        params: { status: 'ACTIVE' },
        token: context.credentials.userAccessToken,
      });
    }
    const accountNumber = prepared.accountId.replace(/^act_/, '');
    return {
      externalId: prepared[keys.ad],
      externalUrl: `https://adsmanager.facebook.com/adsmanager/manage/ads?act=${accountNumber}&selected_ad_ids=${prepared[keys.ad]}`,
    };
  }

  /** Deletes what a preparation made, found by its marker in the account it was made in. */
  async function discardPrepared(context: DiscardContext<AdsCredentials>) {
    const marker = context.progress[keys.marker];
    if (!marker) return;
    const accountId = context.progress[keys.account] || adAccountOf(context.account);
    await deleteMarked(accountId, marker, context.credentials.userAccessToken, context.signal);
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

  return { prepare, publish, discardPrepared, preflight };
}
