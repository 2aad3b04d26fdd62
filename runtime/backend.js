// The one boundary between the engine and the code that runs a model. A backend (WebGPU in
// runtime/webgpu/, the WASM CPU one in runtime/wasm/) loads a manifest's weights and returns a
// Model with the interface below. The engine, constrained decoding and the engine hosts use only this
// interface: nothing else of a backend.
//
// Model (what loadBackend resolves to):
//   manifest          the manifest object it was loaded from (sitegen/manifest.py)
//   backend           'webgpu' | 'wasm' (which backend runs it, for messages and usage reports)
//   vocabSize         logits per position
//   contextLength     tokens the KV cache holds (the model's window, capped by maxContext and the device)
//   length            tokens cached now
//   lost              Promise that settles with an Error (DeviceLostError) once the backend can no
//                     longer run (its GPU device was lost; on WASM a thread worker died); pending while it can
//   prefillChunk      prompt tokens the backend runs best in one prefill call: the engine hands it
//                     whole ones, and honours a stop between calls (WebGPU: rows per submit, 512 on
//                     GPUs, 128 on CPU adapters; WASM: 128)
//   prefill(ids, { onProgress })  runs ids (token ids, numbers) at positions length..; leaves the
//                     last position's logits for sample(). onProgress(done) (optional; must not
//                     throw) hears, in order, how many of ids have run, as the backend's chunks
//                     finish, the last time with ids.length before prefill resolves; without it
//                     the backend does no work for reports. Throws ContextWindowExceededError when
//                     the cache cannot hold them
//   resetPenalties(promptIds)  start of a generation: no tokens generated, promptIds seen (for
//                     repetition_penalty)
//   sample(options)   -> Promise<{ token, logprob (null unless asked), topLogprobs (null | [{ token, logprob }]) }>:
//                     draws the next token from the current logits (and counts it for the penalties)
//   step(token, options)  runs `token` at position length (appending it to the cache), then samples:
//                     the decode loop's one call per token
//   stepAhead(options)  (optional: backends whose sampler writes the token where their next step
//                     reads it, WebGPU) step() of the token the last sample()/step()/stepAhead()
//                     drew, without a host round trip: the caller may call it before that call's
//                     promise settles, so the device runs step t+1 while the host reads token t
//                     back (one draw ahead at most: a third unread draw rejects). The options must
//                     not depend on token t (no token mask from a grammar that token t advances).
//                     A backend without it runs step(token, options) after token t is read: the
//                     engine's decode loop does that for it (engine.js #generate)
//   forwardAhead()    (optional, beside stepAhead: WebGPU) the forward pass of stepAhead's step
//                     alone, no draw: runs the token the last sample()/step()/stepAhead() drew at
//                     position length, leaving its logits for sample(). For options that depend on
//                     token t (a grammar's mask): the caller queues it before reading token t back,
//                     computes the options from t while the device runs it, then calls
//                     sample(options). Returns nothing; throws what step() throws before it runs
//                     (ModelNotLoadedError, ContextWindowExceededError, a DeviceLostError seen);
//                     a failure on the device reaches the sample() after it. A backend without it:
//                     the engine runs step(token, options) after token t is read (engine.js #generate)
//   discard(sampled)  (with stepAhead / forwardAhead) undo the last step run ahead, which the
//                     caller will not use (run past the reply's end): truncate(length - 1) and, for
//                     stepAhead's (`sampled`: its result), forget its token's count for the
//                     penalties; null for forwardAhead's, which drew nothing
//   truncate(n)       forget every cached position from n on (0 <= n <= length)
//   logits()          -> Promise<Float32Array [vocabSize]> of the current position (tests, diagnostics)
//   destroy()         frees everything the model holds; later calls throw ModelNotLoadedError
//
// Sampling options (all optional; defaults: temperature 1, topP 1, topK 0 = off, penalties off):
//   { temperature, topP, topK, frequencyPenalty, presencePenalty, repetitionPenalty,
//     logitBias: { tokenId: bias }, random: uniform draw in [0, 1), logprobs: boolean,
//     topLogprobs: 0..MAX_TOP_LOGPROBS (sampling_limits.js), tokenMask: Uint32Array | null }
//   tokenMask: the tokens that may be sampled, as a bitmask of ceil(vocabSize / 32) words: token t
//   is allowed when bit (t & 31) of word (t >> 5) is set (xgrammar's token-bitmask layout). Applied
//   to the logits after penalties and logit bias (a banned token stays banned whatever its bias),
//   before temperature, top-k and top-p; logprobs are those of the masked distribution, and
//   topLogprobs lists only allowed tokens (fewer than asked when the mask allows fewer). At
//   least one token must be allowed. The mask is read when the call is made: the caller may reuse
//   its array at once. The engine's constrained decoding (grammar.js: a response_format's grammar,
//   through xgrammar) makes one per step; a backend knows nothing of grammars.
//   Backends trust these values: runtime/request.js validates what users send, and the engine
//   builds the rest. A backend may assert (throw a plain Error on a caller's bug); it does not
//   re-validate.

import { loadModel as loadWebGPUModel } from './webgpu/model.js';
import { loadModel as loadWasmModel } from './wasm/model.js';
import { cpuMayReplace } from './gpu_fallback.js';
import { assertBackendChoice } from './backend_choice.js';


/**
 * Load `manifest`'s model on a backend and return its Model (above).
 * options: { backend: 'webgpu' (the default here: tests and benchmarks that pass a GPU mean it;
 *   the engine passes its own, 'auto' unless told) | 'wasm' | 'auto' (WebGPU, else WASM where
 *   the WebGPU load fails as gpu_fallback.js lists: no usable WebGPU, a GPU that cannot hold the
 *   model), readShard(shard,
 *   onBytes(count, fromCache)) -> Promise<Uint8Array> (the verified bytes of a manifest shard:
 *   model_cache.js), onProgress({ stage, loaded, total, fromCache }), maxContext (cap of the KV
 *   cache, tokens), gpu (a navigator.gpu-like object or a GPUDevice; Node passes Dawn's; WebGPU
 *   only) }.
 * Rejects with WebGPUNotAvailableError, UnsupportedModelError, OutOfMemoryError (under 'auto', the
 * WebGPU load's make the CPU backend run instead, whose own may then reject), IntegrityError (from
 * readShard), DeviceLostError, WebAssembly.CompileError (the CPU backend without WebAssembly SIMD); a
 * RangeError for an unknown backend name.
 */
export async function loadBackend(manifest, { backend = 'webgpu', ...options } = {}) {
  // Static imports above: service workers may not use import().
  assertBackendChoice(backend);
  if (backend === 'wasm') return loadWasmModel(manifest, options);
  try {
    return await loadWebGPUModel(manifest, options);
  } catch (error) {
    if (backend === 'auto' && cpuMayReplace(error)) return loadWasmModel(manifest, options);
    throw error;
  }
}
