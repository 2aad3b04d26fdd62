// The CPU backend's weights: the manifest's runtime tensors in WebAssembly memory, kept in the
// shards' own encoding (4-bit codes and f16 scales stay 4-bit; norms and biases f32), so the
// model takes about its download size, never an f32 copy.
//
// A runtime tensor stacks manifest tensors row after row (runtime/runtime_tensors.js). Each part
// (codes and scales; data for f32) is one region: its members' pieces in order, concatenated.
// The layout is planned from the manifest alone (its byte count decides whether the model fits
// the WebAssembly memory before anything is allocated), then allocated, then filled one shard at
// a time (runtime_tensors.js readShards).

import { SCHEMES } from './kernels.js';
import { RuntimeTensors, stackMembers } from '../runtime_tensors.js';
import { UnsupportedModelError } from '../errors.js';

const ALIGN = 16;  // kernels.js alloc()'s alignment: the plan counts what alloc() will take

/** Bytes alloc() takes for `bytes`, rounded up to its alignment. */
export const aligned = (bytes) => Math.ceil(bytes / ALIGN) * ALIGN;

/**
 * The runtime tensors' layout, from `manifest` alone: [{ name, scheme, rows, cols, parts: { part:
 * { bytes, pieces: [{ shard, offset, bytes }] } } }] and `bytes`, the aligned total. scheme: a
 * kernels.js SCHEMES matrix scheme, or 'f32' (1-D: norm gains, biases). Throws
 * UnsupportedModelError for a tensor the manifest lacks, a scheme without a CPU kernel (naming it),
 * or members that cannot be stacked (runtime_tensors.js stackMembers).
 */
export function planWeights(manifest) {
  const tensors = manifest.runtime_tensors.map(({ name, tensors: names }) => {
    const { members, scheme, cols, rows } = stackMembers(manifest, names, assertCpuScheme);
    const parts = Object.fromEntries(Object.keys(members[0].parts).map((part) => {
      const pieces = members.flatMap((member) => member.parts[part].pieces);
      return [part, { pieces, bytes: pieces.reduce((sum, piece) => sum + piece.bytes, 0) }];
    }));
    return { name, scheme, cols, rows, parts };
  });
  const bytes = tensors.reduce((sum, tensor) => sum + Object.values(tensor.parts)
    .reduce((partSum, part) => partSum + aligned(part.bytes), 0), 0);
  return { tensors, bytes };
}

function assertCpuScheme(name, scheme) {
  if (!SCHEMES[scheme] && scheme !== 'f32') {
    throw new UnsupportedModelError(`${name} is stored as ${scheme}, which the CPU backend has no kernel for `
      + `(it runs ${Object.keys(SCHEMES).join(', ')} and f32): run this model on WebGPU, or rebuild it quantised.`);
  }
}

/**
 * A model's runtime tensors in `wasm` (a kernels.js WasmKernels), laid out by planWeights().
 * get(name) -> { name, scheme, rows, cols, parts: { part: pointer } }; get() and assertAllUsed()
 * as runtime_tensors.js RuntimeTensors says.
 */
export class Weights extends RuntimeTensors {
  /** Allocates every tensor of `plan` (planWeights(manifest)) in `wasm`; nothing is read yet. */
  constructor(wasm, manifest, plan) {
    super(manifest);
    this.wasm = wasm;
    for (const tensor of plan.tensors) {
      const parts = {};
      for (const [part, { bytes, pieces }] of Object.entries(tensor.parts)) {
        parts[part] = wasm.alloc(bytes);
        let at = parts[part];
        for (const { shard, offset, bytes: size } of pieces) {
          this.addWrite(shard, offset, size, at);
          at += size;
        }
      }
      this.add({ name: tensor.name, scheme: tensor.scheme, rows: tensor.rows, cols: tensor.cols, parts });
    }
  }

  /**
   * Reads the shards the tensors use, one at a time, and copies them into place. readShard and
   * onProgress as runtime_tensors.js readShards takes them (stage 'weights', bytes).
   */
  async load({ readShard, onProgress }) {
    await this.readShards({ readShard, onProgress }, { place: (at, bytes) => this.wasm.u8(at, bytes.length).set(bytes) });
  }
}
