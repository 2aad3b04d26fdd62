#!/usr/bin/env node
// Micro-benchmark of the WASM CPU backend's matrix-vector kernel (runtime/wasm/), one thread, in
// Node: GB/s of weight bytes (codes + scales) read per second, on the decode matrices of
// SmolLM2-135M (hidden 576, FFN 1536, vocabulary 49152) and Llama-3.2-1B (hidden 2048, FFN 8192),
// and that as a fraction of a plain memory copy of the same bytes inside the same WebAssembly
// memory, measured in the same run (the memory-bound ceiling a kernel cannot beat; absolute
// figures drift between machines).
//
// With --manifest, the whole model instead (runtime/wasm/model.js): load time, prefill tok/s of
// a prompt (in blocks of tokens through the matrix-matrix kernel) and greedy decode tok/s, on
// --threads threads (worker_threads; CPU time is the whole process's, every thread's).
//
//   node benchmarks/wasm_kernels_bench.js                  q4g32
//   node benchmarks/wasm_kernels_bench.js --scheme q8g32   (q4g32 | q4g32m | q8g32)
//   node benchmarks/wasm_kernels_bench.js --manifest build/js-fixtures/smollm2/models/smollm2-135m/manifest.json
//     [--prompt 64] [--decode 64]  (tokens; the prompt's ids are arbitrary ones of the vocabulary) [--threads 2]

import { parseArgs } from 'node:util';
import { SCHEMES, WasmKernels } from '../runtime/wasm/kernels.js';
import { loadModel } from '../runtime/wasm/model.js';
import { readBytes, readJSON, resolveUrl } from '../runtime/io.js';

const { values: args } = parseArgs({ options: {
  scheme: { type: 'string', default: 'q4g32' }, seconds: { type: 'string', default: '1' },
  manifest: { type: 'string' }, prompt: { type: 'string', default: '64' }, decode: { type: 'string', default: '64' },
  threads: { type: 'string', default: '1' },
} });

// [label, rows N, K]: W [N, K] as each model's decode step multiplies it
const MATRICES = [
  ['SmolLM2-135M gate/up [3072, 576]', 3072, 576],
  ['SmolLM2-135M down [576, 1536]', 576, 1536],
  ['SmolLM2-135M LM head [49152, 576]', 49152, 576],
  ['Llama-3.2-1B gate/up [16384, 2048]', 16384, 2048],
  ['Llama-3.2-1B down [2048, 8192]', 2048, 8192],
];

// view (a typed array) filled with xorshift32 output, truncated to its element size.
function fillRandom(view, seed) {
  let state = seed >>> 0 || 1;
  for (let i = 0; i < view.length; i++) {
    state ^= state << 13; state ^= state >>> 17; state ^= state << 5;
    view[i] = state;
  }
}

// Seconds per call of fn: repeated until `seconds` have passed, after one warm-up call.
function timePerCall(fn, seconds) {
  fn();
  let calls = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) { fn(); calls++; }
  return (performance.now() - start) / 1000 / calls;
}

async function main() {
  const layout = SCHEMES[args.scheme];
  if (!layout) throw new Error(`--scheme ${args.scheme}: one of ${Object.keys(SCHEMES)}`);
  const wasm = await WasmKernels.create();
  const seconds = Number(args.seconds);
  console.log(`WASM ${args.scheme} matvec, 1 thread, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
  for (const [label, rows, K] of MATRICES) {
    const mark = wasm.mark();
    const groups = (rows * K) / 32;
    const [codeBytes, scaleBytes] = [groups * layout.codeBytes, groups * layout.scaleBytes];
    const codes = wasm.alloc(codeBytes);
    const scales = wasm.alloc(scaleBytes);
    const x = wasm.alloc(4 * K);
    const y = wasm.alloc(4 * rows);
    const scratch = wasm.alloc(WasmKernels.matmulScratchBytes(K));
    const copy = wasm.alloc(codeBytes + scaleBytes);
    fillRandom(new Uint32Array(wasm.memory.buffer, codes, codeBytes / 4), rows);
    const halves = new Uint16Array(wasm.memory.buffer, scales, scaleBytes / 2);
    fillRandom(halves, K);
    halves.forEach((h, i) => { halves[i] = (h & 0x83ff) | 0x1c00; });  // finite f16 scales, ±2^-8..2^-7
    fillRandom(new Uint32Array(wasm.memory.buffer, x, K), 7);
    new Float32Array(wasm.memory.buffer, x, K).forEach((_, i, v) => { v[i] = ((v[i] >>> 0) % 2000) / 1000 - 1; });

    const bytes = codeBytes + scaleBytes;
    const matvec = timePerCall(() => wasm.matmul(args.scheme, { codes, scales }, x, y, { K, rows, scratch }), seconds);
    const memory = new Uint8Array(wasm.memory.buffer);
    const copyTime = timePerCall(() => memory.copyWithin(copy, codes, codes + bytes), seconds);
    const gbs = bytes / matvec / 1e9;
    // a copy reads and writes every byte: its read rate is bytes / time
    const copyGbs = bytes / copyTime / 1e9;
    console.log(`${label.padEnd(36)} ${(bytes / 2 ** 20).toFixed(1).padStart(6)} MiB  ${(matvec * 1e3).toFixed(2).padStart(7)} ms`
      + `  ${gbs.toFixed(2).padStart(6)} GB/s  (memory copy ${copyGbs.toFixed(1)} GB/s: ${(100 * gbs / copyGbs).toFixed(0)}%)`);
    wasm.release(mark);
  }
}

// Seconds of wall time and of this process's CPU time `fn` takes: on a shared machine the CPU
// time is the fairer figure (the wall time also counts waits for a core).
async function timed(fn) {
  const [wall, cpu] = [performance.now(), process.cpuUsage()];
  await fn();
  const { user, system } = process.cpuUsage(cpu);
  return { wall: (performance.now() - wall) / 1000, cpu: (user + system) / 1e6 };
}

// Load, prefill and greedy decode of the model at --manifest.
async function modelBenchmark() {
  const manifest = await readJSON(args.manifest);
  const [promptLength, decodeLength] = [Number(args.prompt), Number(args.decode)];
  let model;
  const load = await timed(async () => {
    model = await loadModel(manifest, { readShard: (shard) => readBytes(resolveUrl(shard.file, args.manifest)),
      maxContext: promptLength + decodeLength + 1, threads: Number(args.threads) });
  });
  const prompt = Array.from({ length: promptLength }, (_, i) => (i * 7919 + 13) % model.vocabSize);
  const prefill = await timed(() => model.prefill(prompt));
  let { token } = await model.sample({ temperature: 0 });
  const decode = await timed(async () => {
    for (let i = 0; i < decodeLength; i++) ({ token } = await model.step(token, { temperature: 0 }));
  });
  const rate = (tokens, time) => `${(tokens / time.wall).toFixed(1)} tok/s (CPU time: ${(tokens / time.cpu).toFixed(1)})`;
  console.log(`WASM backend, ${model.threads} thread(s), Node ${process.version}, ${manifest.model_id}: load ${load.wall.toFixed(2)} s, `
    + `prefill ${rate(promptLength, prefill)} over ${promptLength} tokens, decode ${rate(decodeLength, decode)} over `
    + `${decodeLength} tokens (greedy)`);
  await model.destroy();
}

await (args.manifest ? modelBenchmark() : main());
