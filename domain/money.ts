// Amounts in a currency's minor units, the product's one convention (budgets in content, `spend_minor` in
// metrics). A fixed table, not Intl: Intl follows CLDR's display digits, which differ from what the ad
// platforms bill in (IDR, COP) and change with the ICU build, and a budget's meaning must never move with a
// Node upgrade.

/** Billed in whole units (Google Ads' zero-decimal currencies; budgets saved before count on this list). */
const wholeUnitCurrencies = new Set(['JPY', 'KRW', 'CLP', 'VND', 'ISK', 'HUF', 'TWD', 'UGX', 'PYG']);
/** ISO 4217's three-decimal currencies: a dinar or rial is 1,000 fils or baisa. */
const thousandthCurrencies = new Set(['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND']);

/** A currency's minor units per major unit: USD 100, JPY 1, KWD 1000 (any other code counts as 100). */
export function minorUnitsPer(currency: string): number {
  if (wholeUnitCurrencies.has(currency)) return 1;
  if (thousandthCurrencies.has(currency)) return 1000;
  return 100;
}

/** Micros (millionths of the major unit, as Google Ads counts money) in one minor unit of the currency. */
export function microsPerMinorUnit(currency: string): number {
  return 1_000_000 / minorUnitsPer(currency);
}
