// The WASM CPU backend's kernels (runtime/wasm/*.c, built into kernels.wasm and, for threads,
// kernels-threads.wasm by `python -m sitegen.wasm_kernels`): loading the module, its memory, and
// typed calls.
//
// Memory layout: the C stack and static data sit below the module's `__heap_base`; everything
// above it is handed out by alloc(), a bump allocator (weights, activations, caches and scratch
// are allocated once at load, so nothing is ever freed one by one: release(mark) drops
// everything allocated after mark()). Pointers are byte offsets into the module's memory.
// Growing the memory detaches earlier views of it: take views (f32(), u8(), ...) after the
// allocations they follow, and never keep one across an alloc().

import { readBytes } from '../io.js';
import { OutOfMemoryError, UnsupportedModelError } from '../errors.js';

const PAGE = 65536;
const MAX_PAGES = 65536;  // the most memory a wasm32 module can address: 4 GiB
// kernels-threads.wasm's memory: its declared maximum (sitegen/wasm_kernels.py SHARED_MAX_MEMORY:
// 4 GiB less a page), and a start above its declared minimum (the 64 KiB stack and static data).
const SHARED_MAX_PAGES = MAX_PAGES - 1;
const SHARED_INITIAL_PAGES = 16;
// Literal URLs: the site builder (sitegen/site.py) ships the files a module names this way.
const BUILD = new URL('./kernels.wasm', import.meta.url);
const THREADS_BUILD = new URL('./kernels-threads.wasm', import.meta.url);
const ALIGN = 16;         // v128 loads and stores

/** `bytes` in GiB, to two decimals ("3.99 GiB"): the unit of wasm32's limit, as memory messages say sizes. */
export const gib = (bytes) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** Bytes of codes and of scales per group of 32 values, for each weight scheme (sitegen/quantize.py). */
export const SCHEMES = {
  q4g32: { codeBytes: 16, scaleBytes: 2 },
  q4g32m: { codeBytes: 16, scaleBytes: 4 },
  q8g32: { codeBytes: 32, scaleBytes: 2 },
};

// hidden_activation (transformers' name) -> the gated kernel's export
const GATED = { silu: 'silu_mul', gelu_pytorch_tanh: 'gelu_mul' };

export class WasmKernels {
  /**
   * Compile and instantiate the kernels.
   * source: the module's bytes (ArrayBuffer | Uint8Array), or a URL or Node path to read them
   *   from; default kernels.wasm next to this file, or kernels-threads.wasm when `shared`.
   * shared: instantiate the threads build on a new shared WebAssembly.Memory (needs
   *   SharedArrayBuffer: a cross-origin isolated page, or Node), which runtime/wasm/threads.js's
   *   workers instantiate the same module on.
   * Rejects with the reader's NetworkError, or with a CompileError that names WebAssembly SIMD (what
   * an engine without it, Chrome < 91, Firefox < 89, Safari < 16.4, fails on) and the engine's reason.
   */
  static async create(source, { shared = false } = {}) {
    source ??= shared ? THREADS_BUILD : BUILD;
    const bytes = source instanceof ArrayBuffer || ArrayBuffer.isView(source) ? source : await readBytes(source);
    let module;
    try {
      module = await WebAssembly.compile(bytes);
    } catch (error) {
      throw new WebAssembly.CompileError(`Could not compile the CPU kernels (they need WebAssembly SIMD: Chrome 91+, `
        + `Firefox 89+, Safari 16.4+; update the browser): ${error.message}`);
    }
    const memory = shared
      ? new WebAssembly.Memory({ initial: SHARED_INITIAL_PAGES, maximum: SHARED_MAX_PAGES, shared: true }) : null;
    const instance = await WebAssembly.instantiate(module, shared ? { env: { memory } } : {});
    return new WasmKernels(module, instance, memory);
  }

  // Use WasmKernels.create().
  constructor(module, instance, sharedMemory) {
    this.module = module;
    this.exports = instance.exports;
    this.memory = sharedMemory ?? instance.exports.memory;
    this.shared = Boolean(sharedMemory);
    // bytes the memory can grow to: wasm32's 4 GiB, or the threads build's declared maximum
    this.maxBytes = (sharedMemory ? SHARED_MAX_PAGES : MAX_PAGES) * PAGE;
    this.top = instance.exports.__heap_base.value;
  }

  /**
   * A pointer to `bytes` fresh zeroed bytes, 16-byte aligned. Grows the memory as needed (which
   * detaches earlier views of an unshared memory). Throws UnsupportedModelError ({ needed,
   * available }: bytes) when the memory would pass maxBytes (the model does not fit the CPU
   * backend), OutOfMemoryError when the engine refuses to grow the memory.
   */
  alloc(bytes) {
    const ptr = Math.ceil(this.top / ALIGN) * ALIGN;
    const end = ptr + bytes;
    if (end > this.maxBytes) {
      throw new UnsupportedModelError(`The CPU backend needs more than ${gib(end)} of WebAssembly memory for this `
        + `model; its memory holds at most ${gib(this.maxBytes)}: choose a smaller model or a shorter context `
        + '(maxContext), or a device with WebGPU.', { needed: end, available: this.maxBytes });
    }
    const pages = Math.ceil(end / PAGE);
    const have = this.memory.buffer.byteLength / PAGE;
    if (pages > have) this.#grow(pages - have, end);
    new Uint8Array(this.memory.buffer, ptr, bytes).fill(0);  // memory released and allocated again
    this.top = end;
    return ptr;
  }

  // The engine may refuse to grow (a browser's own cap below 4 GiB, a device short of memory).
  #grow(pages, end) {
    try {
      this.memory.grow(pages);
    } catch (error) {
      throw new OutOfMemoryError(`The browser could not give the CPU backend ${end} bytes of WebAssembly memory `
        + `(${error.message}): close other tabs, or choose a smaller model or a shorter context.`);
    }
  }

  /** The allocator's position now, for release(). */
  mark() {
    return this.top;
  }

  /** Drop everything allocated since `mark` (from mark()); its pointers must no longer be used. */
  release(mark) {
    this.top = mark;
  }

  /** A pointer to a copy of `array` (any typed array) in the module's memory. */
  put(array) {
    const ptr = this.alloc(array.byteLength);
    this.u8(ptr, array.byteLength).set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    return ptr;
  }

  /** Float32Array view of `length` floats at `ptr` (valid until the next alloc()). */
  f32(ptr, length) {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  /** Uint8Array view of `length` bytes at `ptr` (valid until the next alloc()). */
  u8(ptr, length) {
    return new Uint8Array(this.memory.buffer, ptr, length);
  }

  /** Bytes of matmul()'s scratch for `tokens` rows of K values: int16 codes, f32 scales and sums. */
  static matmulScratchBytes(K, tokens = 1) {
    return tokens * (2 * K + K / 4);
  }

  /**
   * Y[t, n] = Σ_k X[t, k] W[n, k] for tokens t < tokens and rows n in [row0, row1), each token's
   * activations quantised to int16 per group of 32 first (as llama.cpp's q8_0, finer; runtime/wasm/matmul.c
   * says the error), integer dot products per group, f32 sums across groups.
   * scheme: 'q4g32' | 'q4g32m' | 'q8g32'; weight: { codes, scales } pointers to the manifest
   *   tensor's bytes as sitegen/quantize.py lays them out for W [rows, K]; x: f32 [tokens, K];
   *   y: f32 [tokens, rows] (only columns row0..row1 - 1 written); scratch: matmulScratchBytes(K,
   *   tokens) bytes, one per concurrent caller. K a positive multiple of 32. tokens = 1: a
   *   matrix-vector product (decode).
   * Throws a RangeError for another scheme or K.
   */
  matmul(scheme, { codes, scales }, x, y, { K, rows, tokens = 1, row0 = 0, row1 = rows, scratch }) {
    if (!SCHEMES[scheme]) throw new RangeError(`No CPU matmul for weight scheme ${scheme}: one of ${Object.keys(SCHEMES)}.`);
    if (!(K > 0 && K % 32 === 0)) throw new RangeError(`K = ${K}: rows must hold a positive multiple of 32 values.`);
    this.exports[`${scheme}_matmul`](codes, scales, x, tokens, scratch, y, K, rows, row0, row1);
  }

  /** out f32 [n] = x / sqrt(mean(x^2) + eps) ⊙ gain (RMSNorm); x, gain, out pointers, out may be x. */
  rmsNorm(x, gain, out, n, eps) {
    this.exports.rms_norm(x, gain, out, n, eps);
  }

  /**
   * RoPE, rotate_half, on x f32 [heads, headDim] in place at one position. turn: f32 [R/2, 2], the
   * position's row of runtime/rope.js ropeTable (so rope_scaling is applied there);
   * rotaryDim R: the first R dimensions of each head turn (rope.js rotaryDim), the rest do not.
   */
  rope(x, turn, { heads, headDim, rotaryDim }) {
    this.exports.rope(x, turn, heads, headDim, rotaryDim);
  }

  /**
   * One query position's attention over the KV cache (runtime/wasm/attention.c).
   * q: f32 [heads, headDim]; kCache, vCache: f32 [kvHeads, context, headDim]; out: f32 [heads,
   * headDim] (heads head0..head1 - 1 written); scores: scratch f32 [length - first], one per
   * concurrent caller. Positions first..length-1 are attended (first > 0: a sliding window);
   * scale multiplies q.k; softcap > 0 caps scores at softcap tanh(s / softcap).
   */
  attention({ q, kCache, vCache, out, scores }, { heads, kvHeads, headDim, context, first = 0, length, scale,
    softcap = 0, head0 = 0, head1 = heads }) {
    this.exports.attention(q, kCache, vCache, out, scores, heads, kvHeads, headDim, context, first, length, scale,
      softcap, head0, head1);
  }

  /**
   * out f32 [n] = act(gate) ⊙ up (runtime/wasm/activation.c); pointers, out may be either input.
   * activation: the manifest's hidden_activation, 'silu' (SwiGLU) or 'gelu_pytorch_tanh' (GeGLU);
   * a RangeError for another.
   */
  gated(activation, gate, up, out, n) {
    const name = GATED[activation];
    if (!name) throw new RangeError(`No CPU kernel for hidden_activation ${activation}: one of ${Object.keys(GATED)}.`);
    this.exports[name](gate, up, out, n);
  }

  /** x f32 [n] += y f32 [n] (pointers): a residual or bias add. */
  add(x, y, n) {
    this.exports.add(x, y, n);
  }

  /** x f32 [n] <- cap tanh(x / cap) in place, cap > 0 (final_logit_softcapping). */
  softCap(x, n, cap) {
    this.exports.soft_cap(x, n, cap);
  }

  /**
   * out f32 [K] = scale W[row, :] (an embedding lookup; scale: embedding_multiplier). scheme and
   * weight as matmul()'s; K a positive multiple of 32. Throws a RangeError for another scheme.
   */
  dequantizeRow(scheme, { codes, scales }, row, out, { K, scale = 1 }) {
    if (!SCHEMES[scheme]) throw new RangeError(`No CPU kernel for weight scheme ${scheme}: one of ${Object.keys(SCHEMES)}.`);
    this.exports[`${scheme}_dequantize_row`](codes, scales, row, K, scale, out);
  }

  /** The index of the largest of x f32 [n] (n >= 1), the first of ties. */
  argmax(x, n) {
    return this.exports.argmax(x, n);
  }
}
