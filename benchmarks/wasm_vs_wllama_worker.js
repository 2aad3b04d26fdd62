// Our engine's half of benchmarks/wasm_vs_wllama_page.js, in a module worker as the site runs it
// (and as wllama runs llama.cpp): there a thread may block in Atomics.wait between steps, where a
// page's main thread would have to spin. Message in: the page's options; out: { result } or { error }.

import { loadModel } from '/runtime/wasm/model.js';
import { readBytes, readJSON, resolveUrl } from '/runtime/io.js';
import { Tokenizer } from '/runtime/tokenizer.js';

const seconds = (start) => (performance.now() - start) / 1000;

// One generation: prefill (and the first token's sampling), then decode - 1 steps; seconds of each.
async function generate(model, ids, decode) {
  let start = performance.now();
  await model.prefill(ids);
  let { token } = await model.sample({ temperature: 0 });
  const prefillSeconds = seconds(start);
  start = performance.now();
  for (let i = 1; i < decode; i++) ({ token } = await model.step(token, { temperature: 0 }));
  return { prefillSeconds, decodeSeconds: seconds(start) };
}

// The same request twice, as the page runs wllama: the first untimed (JIT tier-up), the cache then
// emptied (truncate(0)), the second timed.
async function run({ threads, prompt, decode, manifest: manifestUrl }) {
  const start = performance.now();
  const manifest = await readJSON(manifestUrl);
  const tokenizer = Tokenizer.fromJSON(await readJSON(resolveUrl('tokenizer.json', manifestUrl)));
  const ids = tokenizer.encode(prompt);
  const model = await loadModel(manifest, { readShard: (shard) => readBytes(resolveUrl(shard.file, manifestUrl)),
    maxContext: ids.length + decode + 1, threads });
  const loadSeconds = seconds(start);
  await generate(model, ids, decode);
  model.truncate(0);
  const { prefillSeconds, decodeSeconds } = await generate(model, ids, decode);
  const result = { threads: model.threads, promptTokens: ids.length, prefillSeconds, decodeTokens: decode - 1,
    decodeSeconds, loadSeconds, schemes: [...new Set(Object.values(manifest.tensors).map((t) => t.scheme))].join(' ') };
  await model.destroy();
  return result;
}

self.onmessage = async ({ data }) => {
  try {
    self.postMessage({ result: await run(data) });
  } catch (error) {
    self.postMessage({ error: `${error.name}: ${error.message}` });
  }
};
