// The sitegen model manifest (sitegen/manifest.py writes it) as every backend reads it: the format
// it must declare, the default KV-cache cap, the checks made before anything is allocated, and the
// facts of the architecture each backend's forward pass works from. runtime/webgpu/model.js and
// runtime/wasm/model.js both load through these.

import { brokenLimits } from './limits.js';
import { rotaryDim } from './rope.js';
import { UnsupportedModelError } from './errors.js';

/** The manifest's `format` and `format_version` this runtime reads (sitegen/manifest.py FORMAT). */
export const FORMAT = 'sitegen-model';
export const FORMAT_VERSION = 3;
/** KV-cache cap in tokens when the caller gives no maxContext (the model's context_length caps it too). */
export const DEFAULT_MAX_CONTEXT = 4096;

/**
 * Throws UnsupportedModelError naming every reason `manifest`'s model cannot run: a format or
 * version other than FORMAT, FORMAT_VERSION (alone: its architecture may not be this version's);
 * otherwise heads not a multiple of KV heads, each of kernels/limits.json's rules and features it
 * breaks (limits.js brokenLimits), then whatever `moreProblems(architecture)` (async; a backend's
 * own, one line each) returns. runner: who cannot run it, to begin the message ("The CPU backend").
 * Rejects as brokenLimits where kernels/limits.json cannot be read.
 */
export async function assertRunnable(manifest, { runner, moreProblems = async () => [] }) {
  if (manifest.format !== FORMAT || manifest.format_version !== FORMAT_VERSION) {
    throw new UnsupportedModelError(`Not a sitegen model manifest this runtime reads (format ${manifest.format} `
      + `version ${manifest.format_version}; it reads ${FORMAT} version ${FORMAT_VERSION}). Rebuild the site.`);
  }
  const a = manifest.architecture;
  const problems = [];
  if (a.num_heads % a.num_kv_heads) problems.push(`${a.num_heads} heads over ${a.num_kv_heads} KV heads`);
  problems.push(...await brokenLimits(a), ...await moreProblems(a));
  if (problems.length) throw new UnsupportedModelError(`${runner} cannot run ${manifest.model_id}: ${problems.join('; ')}.`);
}

/**
 * The sizes a forward pass works with, from the manifest's `architecture`: { hidden, heads,
 * kvHeads, headDim, ffn, layers, vocab, eps, q (heads x head_dim: a token's query values), kv
 * (kv_heads x head_dim: its key values, and its value values), rotary (rope.js rotaryDim) }.
 */
export function dimensionsOf(a) {
  return {
    hidden: a.hidden_size, heads: a.num_heads, kvHeads: a.num_kv_heads, headDim: a.head_dim, ffn: a.ffn_size,
    layers: a.num_layers, vocab: a.vocab_size, eps: a.rms_norm_eps,
    q: a.num_heads * a.head_dim, kv: a.num_kv_heads * a.head_dim, rotary: rotaryDim(a),
  };
}

/** Whether layer i attends through the sliding window: sitegen/arch.py's Architecture.sliding. */
export function slidingLayer(a, i) {
  return a.sliding_window !== null && (a.layer_types === null || a.layer_types[i] === 'sliding_attention');
}
