// Minor units, the product's one convention for amounts: each currency's ISO 4217 exponent, as Intl knows it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { microsPerMinorUnit, minorUnitsPer } from '../domain/money.ts';

describe('minor units', () => {
  it('follows ISO 4217: two decimals for most, none for JPY, three for KWD and BHD', () => {
    assert.deepEqual(
      ['USD', 'CAD', 'EUR', 'JPY', 'KRW', 'KWD', 'BHD'].map((currency) => minorUnitsPer(currency)),
      [100, 100, 100, 1, 1, 1000, 1000],
    );
    assert.equal(minorUnitsPer('not a currency'), 100);
  });

  it('gives Google Ads micros per minor unit', () => {
    assert.equal(microsPerMinorUnit('USD'), 10_000);
    assert.equal(microsPerMinorUnit('JPY'), 1_000_000);
    assert.equal(microsPerMinorUnit('KWD'), 1_000);
  });
});
