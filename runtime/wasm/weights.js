// The CPU backend's weights: the manifest's runtime tensors in WebAssembly memory, kept in the
// shards' own encoding (4-bit codes and f16 scales stay 4-bit; norms and biases f32), so the
// model takes about its download size, never an f32 copy.
//
// A runtime tensor stacks manifest tensors of one scheme and row width row after row (q/k/v into
// one QKV weight, gate/up into one: runtime/webgpu/weights.js says the same of the GPU's). Each
// part (codes and scales; data for f32) is one region: its members' pieces in order, concatenated.
// The layout is planned from the manifest alone (its byte count decides whether the model fits
// wasm32 before anything is allocated), then allocated, then filled one shard at a time.

import { SCHEMES } from './kernels.js';
import { UnsupportedModelError } from '../errors.js';

const ALIGN = 16;  // kernels.js alloc()'s alignment: the plan counts what alloc() will take
const REPORT_EVERY_MS = 100;

/** Bytes alloc() takes for `bytes`, rounded up to its alignment. */
export const aligned = (bytes) => Math.ceil(bytes / ALIGN) * ALIGN;

/**
 * The runtime tensors' layout, from `manifest` alone: [{ name, scheme, rows, cols, parts: { part:
 * { bytes, pieces: [{ shard, offset, bytes }] } } }] and `bytes`, the aligned total. scheme: a
 * kernels.js SCHEMES matrix scheme, or 'f32' (1-D: norm gains, biases). Throws
 * UnsupportedModelError for a tensor the manifest lacks, a scheme without a CPU kernel (naming it),
 * or members that cannot be stacked.
 */
export function planWeights(manifest) {
  const tensors = manifest.runtime_tensors.map(({ name, tensors: names }) => {
    const members = names.map((member) => {
      const tensor = manifest.tensors[member];
      if (!tensor) throw new UnsupportedModelError(`The manifest has no tensor ${member}.`);
      if (!SCHEMES[tensor.scheme] && tensor.scheme !== 'f32') {
        throw new UnsupportedModelError(`${member} is stored as ${tensor.scheme}, which the CPU backend has no kernel for `
          + `(it runs ${Object.keys(SCHEMES).join(', ')} and f32): run this model on WebGPU, or rebuild it quantised.`);
      }
      return { name: member, scheme: tensor.scheme, rows: tensor.shape[0], cols: tensor.shape[1] ?? 1, parts: tensor.parts };
    });
    const [{ scheme, cols }] = members;
    for (const member of members) {
      if (member.scheme !== scheme || member.cols !== cols) {
        throw new UnsupportedModelError(`${member.name} cannot be stacked with ${members[0].name}: `
          + `${member.scheme} x ${member.cols} vs ${scheme} x ${cols}.`);
      }
    }
    const parts = Object.fromEntries(Object.keys(members[0].parts).map((part) => {
      const pieces = members.flatMap((member) => member.parts[part].pieces);
      return [part, { pieces, bytes: pieces.reduce((sum, piece) => sum + piece.bytes, 0) }];
    }));
    return { name, scheme, cols, rows: members.reduce((sum, member) => sum + member.rows, 0), parts };
  });
  const bytes = tensors.reduce((sum, tensor) => sum + Object.values(tensor.parts)
    .reduce((partSum, part) => partSum + aligned(part.bytes), 0), 0);
  return { tensors, bytes };
}

/**
 * A model's runtime tensors in `wasm` (a kernels.js WasmKernels), laid out by planWeights().
 * get(name) -> { name, scheme, rows, cols, parts: { part: pointer } }.
 */
export class Weights {
  #tensors = new Map();
  #unused;
  #writes;  // per shard: [{ from, bytes, at (pointer) }]

  /** Allocates every tensor of `plan` (planWeights(manifest)) in `wasm`; nothing is read yet. */
  constructor(wasm, manifest, plan) {
    this.wasm = wasm;
    this.manifest = manifest;
    this.#writes = manifest.shards.map(() => []);
    for (const tensor of plan.tensors) {
      const parts = {};
      for (const [part, { bytes, pieces }] of Object.entries(tensor.parts)) {
        parts[part] = wasm.alloc(bytes);
        let at = parts[part];
        for (const { shard, offset, bytes: size } of pieces) {
          this.#writes[shard].push({ from: offset, bytes: size, at });
          at += size;
        }
      }
      this.#tensors.set(tensor.name, { name: tensor.name, scheme: tensor.scheme, rows: tensor.rows, cols: tensor.cols, parts });
    }
    this.#unused = new Set(this.#tensors.keys());
  }

  /** The runtime tensor `name`, now counted as used; UnsupportedModelError when the manifest has none. */
  get(name) {
    const tensor = this.#tensors.get(name);
    if (!tensor) {
      throw new UnsupportedModelError(`${this.manifest.model_id}: the manifest has no runtime tensor ${name}, which `
        + 'this runtime needs. The site was built by another version of sitegen: rebuild it.');
    }
    this.#unused.delete(name);
    return tensor;
  }

  /** Throws UnsupportedModelError naming every runtime tensor get() was never asked for. */
  assertAllUsed() {
    if (this.#unused.size) {
      throw new UnsupportedModelError(`${this.manifest.model_id}: this runtime does not use the manifest's runtime `
        + `tensors ${[...this.#unused].join(', ')}. The site was built by another version of sitegen: rebuild it.`);
    }
  }

  /**
   * Reads the shards the tensors use, one at a time, and copies them into place. readShard and
   * onProgress as runtime/webgpu/weights.js upload() takes them (stage 'weights', bytes).
   */
  async load({ readShard, onProgress = () => {} }) {
    const { shards } = this.manifest;
    const total = shards.reduce((sum, shard, index) => sum + (this.#writes[index].length ? shard.bytes : 0), 0);
    let done = 0;
    let fromCache = 0;
    let reportedAt = -Infinity;
    const report = (loaded) => {
      reportedAt = performance.now();
      onProgress({ stage: 'weights', loaded, total, fromCache });
    };
    report(0);
    for (const [index, shard] of shards.entries()) {
      if (!this.#writes[index].length) continue;
      let arrived = 0;
      const bytes = await readShard(shard, (count, cached) => {
        arrived += count;
        if (cached) fromCache += count;
        if (performance.now() - reportedAt >= REPORT_EVERY_MS) report(done + arrived);
      });
      for (const { from, bytes: size, at } of this.#writes[index]) this.wasm.u8(at, size).set(bytes.subarray(from, from + size));
      done += shard.bytes;
      report(done);
    }
  }
}
