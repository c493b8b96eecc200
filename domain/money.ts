// Amounts in a currency's minor units, the product's one convention (budgets in content, `spend_minor` in
// metrics): how many minor units make one major unit is the currency's ISO 4217 exponent, as Intl knows it.

/** A currency's minor units per major unit: USD 100, JPY 1, KWD 1000 (an unknown code counts as 100). */
export function minorUnitsPer(currency: string): number {
  try {
    const digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions()
      .maximumFractionDigits;
    return 10 ** (digits ?? 2);
  } catch {
    return 100;
  }
}

/** Micros (millionths of the major unit, as Google Ads counts money) in one minor unit of the currency. */
export function microsPerMinorUnit(currency: string): number {
  return 1_000_000 / minorUnitsPer(currency);
}
