// The browser half of benchmarks/wasm_vs_wllama.py: runs one engine on one model in this page and
// returns its timings. Served with the repository root at / (and the GGUF at /model.gguf) by the
// driver's own server, cross-origin isolated so both engines may use threads.
//
// window.benchmark({ engine: 'sitegen-wasm' | 'wllama', threads, prompt (text), decode (tokens),
//   manifest (URL of our model's manifest), gguf (URL of the same model's GGUF) })
//   -> { engine, threads (the count the engine reports), promptTokens, prefillSeconds,
//        decodeTokens, decodeSeconds, loadSeconds }
// Both decode greedily from the prompt's end, each in a worker of this page; times are wall-clock.

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

// wllama's own figures (llama.cpp's timings: prompt_n / prompt_ms, predicted_n / predicted_ms).
async function wllama({ threads, prompt, decode, gguf }) {
  let start = performance.now();
  const engine = new Wllama({ default: '/node_modules/@wllama/wllama/esm/wasm/wllama.wasm' });
  await engine.loadModelFromUrl(gguf, { n_threads: threads, n_gpu_layers: 0, n_ctx: 1024, n_batch: 512 });
  const loadSeconds = seconds(start);
  const response = await engine.createCompletion({ prompt, max_tokens: decode, temperature: 0, ignore_eos: true,
    cache_prompt: false });
  const { timings } = response;
  if (!timings) throw new Error(`wllama returned no timings: ${JSON.stringify(response).slice(0, 300)}`);
  const result = { threads: engine.getNumThreads(), promptTokens: timings.prompt_n, prefillSeconds: timings.prompt_ms / 1000,
    decodeTokens: timings.predicted_n, decodeSeconds: timings.predicted_ms / 1000, loadSeconds };
  await engine.exit();
  return result;
}

const ENGINES = { 'sitegen-wasm': sitegenWasm, wllama };

window.benchmark = async (options) => ({ engine: options.engine, ...await ENGINES[options.engine](options) });
window.benchmarkReady = true;
