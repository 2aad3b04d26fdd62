// The runtime's RoPE speeds against sitegen/rope.py's (build/js-fixtures/rope.expected.json, made
// by `.venv/bin/python tests/js/fixtures/make_model_fixtures.py`): every rope_scaling kind, at
// several head sizes. Python computes in float64 and the runtime rounds to float32: 1e-6 relative.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { ropeInverseFrequencies } from '../../runtime/rope.js';
import { UnsupportedModelError } from '../../runtime/errors.js';

const EXPECTED = new URL('../../build/js-fixtures/rope.expected.json', import.meta.url);

test('inverse frequencies match the Python ones for every scaling', () => {
  if (!existsSync(EXPECTED)) throw new Error(`Missing ${EXPECTED.pathname}: run .venv/bin/python tests/js/fixtures/make_model_fixtures.py`);
  const cases = JSON.parse(readFileSync(EXPECTED, 'utf8'));
  assert.deepEqual(new Set(cases.map(({ architecture }) => architecture.rope_scaling?.type ?? 'none')),
    new Set(['none', 'linear', 'llama3', 'longrope']));
  for (const { architecture, context, inv_freq: expected } of cases) {
    const actual = ropeInverseFrequencies(architecture, context);
    assert.equal(actual.length, expected.length);
    expected.forEach((value, i) => {
      assert.ok(Math.abs(actual[i] - value) <= 1e-6 * Math.abs(value),
        `${JSON.stringify(architecture)} pair ${i}: ${actual[i]} vs ${value}`);
    });
  }
});

test('an unknown rope_scaling type is UnsupportedModelError', () => {
  assert.throws(() => ropeInverseFrequencies({ head_dim: 16, rope_theta: 10000, rope_scaling: { type: 'yarn', factor: 4 } }),
    UnsupportedModelError);
});
