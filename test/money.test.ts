// Minor units, the product's one convention for amounts: a fixed table, whatever the ICU build says.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { microsPerMinorUnit, minorUnitsPer } from '../domain/money.ts';

describe('minor units', () => {
  it('two decimals for most (IDR and COP too, as the platforms bill them), none for JPY or HUF, three for KWD', () => {
    assert.deepEqual(
      ['USD', 'CAD', 'EUR', 'IDR', 'COP', 'JPY', 'KRW', 'HUF', 'TWD', 'KWD', 'BHD'].map((currency) =>
        minorUnitsPer(currency),
      ),
      [100, 100, 100, 100, 100, 1, 1, 1, 1, 1000, 1000],
    );
    assert.equal(minorUnitsPer('not a currency'), 100);
  });

  it('gives Google Ads micros per minor unit', () => {
    assert.equal(microsPerMinorUnit('USD'), 10_000);
    assert.equal(microsPerMinorUnit('JPY'), 1_000_000);
    assert.equal(microsPerMinorUnit('KWD'), 1_000);
  });
});
