// benchmarks/engine_bench.js end to end on the tiny random Llama fixture (its own tokenizer and
// chat template), with a short protocol that SwiftShader runs in seconds:
//
//   .venv/bin/python tests/js/fixtures/make_model_fixtures.py      (once: builds build/js-fixtures)
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp \
//     node --test tests/js/engine_bench.test.js

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { manifestOf } from './helpers/chat.js';

const BENCH = fileURLToPath(new URL('../../benchmarks/engine_bench.js', import.meta.url));

// The benchmark's run on tiny-llama with `options`: { status, stdout, stderr }.
function bench(...options) {
  return spawnSync(process.execPath, [BENCH, '--manifest', fileURLToPath(manifestOf('tiny-llama')), ...options],
                   { encoding: 'utf8', timeout: 120_000 });
}

test('prints engine and runtime figures for exactly the prompt and reply tokens asked for', () => {
  const { status, stdout, stderr } = bench('--prompt', '64', '--decode', '16', '--runs', '1');
  assert.equal(status, 0, stderr);
  assert.match(stdout, /^prompt: 64 tokens after the chat template \(a user message of \d+ tokens of /m);
  // the benchmark itself fails unless every engine run's usage says 64 prompt tokens, none cached, 16 completion tokens
  const sections = stdout.split(/^(?=greedy|sampled)/m).slice(1);
  assert.deepEqual(sections.map((section) => section.split(',')[0]), ['greedy (temperature 0)', 'sampled (temperature 0.7']);
  for (const section of sections) {
    assert.match(section, /64 prompt \+ 16 completion tokens/);
    const rates = [...section.matchAll(/(prefill|decode) ([\d.]+) tok\/s/g)].map((match) => Number(match[2]));
    assert.equal(rates.length, 6, section); // engine (client and usage.extra) and runtime, prefill and decode each
    for (const rate of rates) assert.ok(rate > 0 && Number.isFinite(rate), section);
    assert.match(section, /engine - runtime: time to first token [+-][\d.]+ ms, per decoded token [+-]\d+ µs/);
  }
});

test('a prompt shorter than the chat template itself is refused, naming --prompt and the least that fits', () => {
  const { status, stdout, stderr } = bench('--prompt', '3', '--decode', '4', '--runs', '1');
  assert.notEqual(status, 0);
  assert.doesNotMatch(stdout, /^model: /m, 'refused before the model loads');
  assert.match(stderr, /--prompt 3 leaves no room for a message: the chat template alone makes (\d+) tokens; give --prompt \d+ or more/);
});

test('its special-token names are the build\'s (sitegen/chat_template.py SPECIAL_TOKEN_NAMES)', () => {
  // The benchmark runs where sitegen (Python, jinja2) does not, so it keeps its own copy: kept equal here.
  const names = (file, pattern) => {
    const text = readFileSync(fileURLToPath(new URL(`../../${file}`, import.meta.url)), 'utf8');
    return [...text.match(pattern)[1].matchAll(/["'](\w+)["']/g)].map((match) => match[1]);
  };
  const build = names('sitegen/chat_template.py', /^SPECIAL_TOKEN_NAMES = \(([^)]*)\)/m);
  assert.ok(build.includes('bos_token'), build);
  assert.deepEqual(names('benchmarks/engine_bench.js', /^const SPECIAL_TOKEN_NAMES = \[([^\]]*)\]/m), build);
});
