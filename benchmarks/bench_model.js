// What the runtime benchmarks (runtime_bench.js, engine_bench.js) share: their command line's
// choice of model (a --shape's synthetic manifest with random weights made in memory, or a built
// site's --manifest), the WebGPU device (npm `webgpu` = Dawn) on the best adapter present, and the
// decode loops they time. Importing it installs Dawn's WebGPU globals (GPUBufferUsage, ...).

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { create, globals } from 'webgpu';
import { readBytes, readJSON, resolveUrl } from '../runtime/io.js';

Object.assign(globalThis, globals);
process.env.XDG_RUNTIME_DIR ??= '/tmp';

/** The repository root, with a trailing slash. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

// node:util parseArgs options every benchmark takes: which model, the f32 path, the context cap.
const MODEL_OPTIONS = {
  shape: { type: 'string' }, manifest: { type: 'string' }, f32: { type: 'boolean', default: false },
  'max-context': { type: 'string', default: '2048' },
};

/**
 * The command line (process.argv) of benchmark `script` (its file name, for the usage line),
 * parsed by node:util parseArgs with `options` (its own, in parseArgs' form) besides the shared
 * ones: --shape NAME | --manifest PATH (exactly one), --f32, --max-context N (tokens, default
 * 2048). Returns parseArgs' `values`. Exits with status 2 after a usage line naming the shapes
 * when neither or both of --shape and --manifest are given; parseArgs throws on an unknown option.
 */
export function parseBenchArgs(script, options) {
  const { values } = parseArgs({ options: { ...MODEL_OPTIONS, ...options } });
  if (!values.shape === !values.manifest) {
    console.error(`usage: ${script} --shape ${syntheticModel('--list').trim().split('\n').join('|')} `
      + '| --manifest PATH [options]');
    process.exit(2);
  }
  return values;
}

/**
 * stdout of benchmarks/synthetic_model.py with `arg` (a shape name: its manifest as JSON;
 * '--list': the shape names, one a line). Its own error (an unknown shape, say) has gone to
 * stderr; either that or no python3 ends the benchmark (exit status 2).
 */
export function syntheticModel(arg) {
  try {
    return execFileSync('python3', ['benchmarks/synthetic_model.py', arg], { cwd: ROOT, encoding: 'utf8',
      maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'inherit'] });
  } catch (error) {
    if (error.status === null) console.error(`benchmarks/synthetic_model.py did not run: ${error.message}`);
    process.exit(2);
  }
}

/**
 * The model that parseBenchArgs' `args` name: { manifest, readShard(shard, onBytes) ->
 * Promise<Uint8Array> } as backend.js loadBackend takes them: a --shape's synthetic manifest
 * (synthetic_model.py) with its shards made up in memory, or a --manifest's own, with its shard
 * files read as they are (runtime/io.js; no cache, no sha256 check).
 */
export async function benchModel(args) {
  if (args.shape) return { manifest: JSON.parse(syntheticModel(args.shape)), readShard: syntheticShard };
  return { manifest: await readJSON(args.manifest), readShard: shardReader(args.manifest) };
}

// Random codes; scales small f16 values (0.0005..0.001, random sign) so activations stay finite.
const PATTERN = (() => {
  const words = new Uint32Array(1 << 20);
  let state = 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13; state ^= state >>> 17; state ^= state << 5;
    words[i] = state >>> 0;
  }
  return new Uint8Array(words.buffer);
})();

// A synthetic shard's bytes, as its `fill` (synthetic_model.py) says.
function syntheticShard(shard) {
  const bytes = new Uint8Array(shard.bytes);
  if (shard.fill === 'codes') {
    for (let at = 0; at < bytes.length; at += PATTERN.length) bytes.set(PATTERN.subarray(0, bytes.length - at), at);
  } else if (shard.fill === 'scales') {
    const halves = new Uint16Array(bytes.buffer);
    for (let i = 0; i < halves.length; i++) halves[i] = 0x1000 + (PATTERN[i % PATTERN.length] << 2) | ((i & 1) << 15);
  } else if (shard.fill === 'ones') {
    new Float32Array(bytes.buffer).fill(1);
  }
  return bytes;
}

// The shard files next to a manifest, read as they are (runtime/io.js; no cache, no sha256 check).
function shardReader(manifestPath) {
  return (shard, onBytes = () => {}) => readBytes(resolveUrl(shard.file, manifestPath),
    { onChunk: (count) => onBytes(count, false) });
}

// Dawn aborts the process when the object create() made is collected: each is held here for good.
const GPUS = [];

// The adapter limits a benchmark asks for: all the adapter has, not WebGPU's defaults.
const LIMITS = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension'];

/**
 * A GPUDevice on the high-performance adapter with 'shader-f16' (unless `f32`) and 'subgroups'
 * where the adapter has them, plus 'timestamp-query' (unquantised) when `timestamps`, and the
 * adapter's own LIMITS. Prints the adapter and its features. Resolves to { device, features
 * (names), limits (name -> value) }; throws when there is no adapter.
 */
export async function openDevice({ f32 = false, timestamps = false } = {}) {
  const gpu = create(timestamps ? ['disable-dawn-features=timestamp_quantization'] : []);
  GPUS.push(gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter');
  const features = ['shader-f16', 'subgroups', ...(timestamps ? ['timestamp-query'] : [])]
    .filter((f) => adapter.features.has(f) && !(f32 && f === 'shader-f16'));
  const limits = Object.fromEntries(LIMITS.map((k) => [k, adapter.limits[k]]));
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits: limits });
  const info = adapter.info;
  console.log(`adapter: ${info.vendor} ${info.architecture} ${info.device} ${info.description}`.replace(/\s+/g, ' '));
  console.log(`features: ${features.join(', ') || 'none'}; subgroup size ${info.subgroupMinSize}..${info.subgroupMaxSize}`);
  return { device, features, limits };
}

/**
 * Decode `tokens` tokens with a backend Model (backend.js) from its last draw (`token`, read
 * back), the sampling options of draw i being options(i): 'plain' steps after each readback
 * (step), 'ahead' as drawAhead does. Resolves to { seconds (wall time, first call to last
 * readback), token (the last draw) }.
 */
export async function decodeRun(model, mode, token, tokens, options) {
  const start = performance.now();
  let last;
  if (mode === 'plain') {
    last = token;
    for (let i = 0; i < tokens; i++) ({ token: last } = await model.step(last, options(i)));
  } else {
    ({ token: last } = await drawAhead(model, model.stepAhead(options(0)), tokens, options));
  }
  return { seconds: (performance.now() - start) / 1000, token: last };
}

/**
 * Draws 1..tokens-1 of a Model (backend.js) run ahead as the engine's decode loop runs them: each
 * queued (stepAhead(options(i))) before the draw before it is read back. `first`: draw 0, already
 * queued (the promise of sample(), step() or stepAhead()). Resolves to the last draw ({ token, ... }).
 */
export async function drawAhead(model, first, tokens, options) {
  let pending = first;
  for (let i = 1; i < tokens; i++) {
    const next = model.stepAhead(options(i));
    await pending;
    pending = next;
  }
  return pending;
}
