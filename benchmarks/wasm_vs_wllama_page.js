// The browser half of benchmarks/wasm_vs_wllama.py: runs one engine on one model in this page and
// returns its timings. Served with the repository root at / (and the GGUF at /model.gguf) by the
// driver's own server, cross-origin isolated so both engines may use threads.
//
// window.benchmark({ engine: 'sitegen-wasm' | 'wllama', threads, prompt (text), decode (tokens),
//   manifest (URL of our model's manifest), gguf (URL of the same model's GGUF), wllamaLog (true:
//   return every line wllama logs, not only WLLAMA_EVIDENCE's) })
//   -> { engine, threads (the count the engine reports), promptTokens, prefillSeconds,
//        decodeTokens, decodeSeconds, loadSeconds, ...engine-specific evidence }
// Both decode greedily from the prompt's end, each in a worker of this page, each timing a second
// run of the same request after an untimed first (JIT tier-up); times are wall-clock. Prefill is
// the prompt's evaluation plus the first token's sampling; decode the decode - 1 steps after it.

import { Wllama } from '/node_modules/@wllama/wllama/esm/index.js';

const seconds = (start) => (performance.now() - start) / 1000;

// Ours in a module worker (wasm_vs_wllama_worker.js), as the site runs it.
async function sitegenWasm(options) {
  const worker = new Worker('/benchmarks/wasm_vs_wllama_worker.js', { type: 'module' });
  try {
    const { result, error } = await new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => resolve(data);
      worker.onerror = (event) => reject(new Error(`The benchmark worker failed: ${event.message}`));
      worker.postMessage(options);
    });
    if (error) throw new Error(error);
    return result;
  } finally {
    worker.terminate();
  }
}

// Native log lines worth keeping as evidence of what wllama ran: whether it started threads
// ("Multithread enabled: true, pthreadPoolSize: N"), the tensor types, the weight buffers (a
// CPU_REPACK one would mean llama.cpp repacked Q4_0 for its interleaved kernels), WebGPU's absence.
const WLLAMA_EVIDENCE = /Multithread|REPACK|model buffer|loader: - type|file type|WebGPU|flash_attn|n_batch|n_ubatch/i;

// wllama's own figures (llama.cpp's timings): prompt_n / prompt_ms (prompt evaluation and the first
// token's sampling, as ours is timed) and decode as (predicted_n - 1) / predicted_ms: llama.cpp's
// generation clock starts when the first token is sampled, so predicted_ms spans predicted_n - 1
// evaluations (tools/server: t_start_generation set at n_decoded == 1). One untimed completion of
// the same prompt runs first (JIT tier-up, buffers; ours gets the same), then the timed one; with
// cache_prompt false the timed one evaluates the whole prompt again (its prompt_n says so).
async function wllama({ threads, prompt, decode, gguf, wllamaLog = false }) {
  const log = [];
  const keep = (...args) => {
    const line = args.map(String).join(' ');
    if (wllamaLog || WLLAMA_EVIDENCE.test(line)) log.push(line.trim());
  };
  let start = performance.now();
  const engine = new Wllama({ default: '/node_modules/@wllama/wllama/esm/wasm/wllama.wasm' },
    { logger: { debug: keep, log: keep, info: keep, warn: keep, error: (...args) => { keep(...args); console.error(...args); } } });
  await engine.loadModelFromUrl(gguf, { n_threads: threads, n_gpu_layers: 0, n_ctx: 1024, n_batch: 512 });
  const loadSeconds = seconds(start);
  const request = { prompt, max_tokens: decode, temperature: 0, ignore_eos: true, cache_prompt: false };
  await engine.createCompletion(request);  // warm-up, untimed
  const response = await engine.createCompletion(request);
  const { timings } = response;
  if (!timings) throw new Error(`wllama returned no timings: ${JSON.stringify(response).slice(0, 300)}`);
  const result = { threads: engine.getNumThreads(), promptTokens: timings.prompt_n, prefillSeconds: timings.prompt_ms / 1000,
    decodeTokens: timings.predicted_n - 1, decodeSeconds: timings.predicted_ms / 1000, loadSeconds,
    multiThread: engine.isMultithread(), log };
  await engine.exit();
  return result;
}

const ENGINES = { 'sitegen-wasm': sitegenWasm, wllama };

window.benchmark = async (options) => ({ engine: options.engine, ...await ENGINES[options.engine](options) });
window.benchmarkReady = true;
