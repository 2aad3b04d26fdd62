// The manifest's runtime tensors as every backend loads them (runtime/webgpu/weights.js onto the
// GPU, runtime/wasm/weights.js into WebAssembly memory): which manifest tensors stack into each,
// the table the forward pass asks by name (so a manifest that lists more or fewer tensors than it
// runs is refused before any shard is read), and the walk that reads the shards one at a time and
// hands each piece of each to where its backend placed it, so peak memory stays near one shard.
//
// A runtime tensor ({ name, tensors: [manifest tensor names], split }) stacks manifest tensors of
// one scheme and row width row after row (q/k/v into one QKV weight, gate/up into one).

import { UnsupportedModelError } from './errors.js';

const REPORT_EVERY_MS = 100;  // progress within a shard, at most this often

/**
 * The manifest tensors `names` of `manifest` as one stack: { members: [{ name, scheme, rows, cols,
 * parts (the manifest's: { part: { pieces: [{ shard, offset, bytes }] } }) }], scheme, cols, rows
 * (all members') }; cols is 1 for a 1-D tensor. assertScheme(name, scheme) throws for a scheme the
 * backend cannot run. Throws UnsupportedModelError for a tensor the manifest lacks, or members of
 * different schemes or row widths.
 */
export function stackMembers(manifest, names, assertScheme) {
  const members = names.map((name) => {
    const tensor = manifest.tensors[name];
    if (!tensor) throw new UnsupportedModelError(`The manifest has no tensor ${name}.`);
    assertScheme(name, tensor.scheme);
    return { name, scheme: tensor.scheme, rows: tensor.shape[0], cols: tensor.shape[1] ?? 1, parts: tensor.parts };
  });
  const [{ scheme, cols }] = members;
  for (const member of members) {
    if (member.scheme !== scheme || member.cols !== cols) {
      throw new UnsupportedModelError(`${member.name} cannot be stacked with ${members[0].name}: `
        + `${member.scheme} x ${member.cols} vs ${scheme} x ${cols}.`);
    }
  }
  return { members, scheme, cols, rows: members.reduce((sum, member) => sum + member.rows, 0) };
}

/**
 * A model's runtime tensors by name, and the writes that fill them from the shards. A backend's
 * Weights extends it: its constructor places each tensor (add()) and says where each piece of a
 * shard goes (addWrite()); the backend's load then calls readShards() with how to place one.
 */
export class RuntimeTensors {
  #tensors = new Map();  // name -> the backend's tensor
  #unused = new Set();   // names no one has asked for yet
  #writes;               // per shard: [{ from, bytes, ...where (the backend's) }]

  /** manifest: the sitegen-model manifest object the tensors are of. */
  constructor(manifest) {
    this.manifest = manifest;
    this.#writes = manifest.shards.map(() => []);
  }

  /** Adds `tensor` (the backend's record of it, with its `name`), unused until get() asks for it. */
  add(tensor) {
    this.#tensors.set(tensor.name, tensor);
    this.#unused.add(tensor.name);
  }

  /**
   * Says that `bytes` bytes of shard index `shard`, from byte `from` on, go to `where` (the
   * backend's destination, handed back to readShards' place()).
   */
  addWrite(shard, from, bytes, where) {
    this.#writes[shard].push({ from, bytes, where });
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

  /**
   * Throws UnsupportedModelError naming every runtime tensor get() was never asked for: the
   * manifest describes a model other than the one the forward pass runs.
   */
  assertAllUsed() {
    if (this.#unused.size) {
      throw new UnsupportedModelError(`${this.manifest.model_id}: this runtime does not use the manifest's runtime `
        + `tensors ${[...this.#unused].join(', ')}. The site was built by another version of sitegen: rebuild it.`);
    }
  }

  /**
   * Reads the shards the writes use, in order, one at a time, and calls place(where, bytes) for
   * each write (bytes: a Uint8Array view of the shard's piece), then awaits settle() (optional:
   * lets the backend drain before the next shard is read).
   * readShard(shard, onBytes(count, fromCache)) -> Promise<Uint8Array>: a manifest shard's bytes;
   *   onBytes (optional for the reader) reports them as they arrive. Its errors propagate
   *   (IntegrityError from model_cache.js, say).
   * onProgress({ stage: 'weights', loaded, total, fromCache }): bytes read so far, of the shards
   *   the writes use (at 0, after each shard, and at most every REPORT_EVERY_MS within one);
   *   fromCache: how many of them came from the cache.
   */
  async readShards({ readShard, onProgress = () => {} }, { place, settle = async () => {} }) {
    const { shards } = this.manifest;
    const writes = this.#writes;
    const total = shards.reduce((sum, shard, index) => sum + (writes[index].length ? shard.bytes : 0), 0);
    let done = 0;  // bytes of the shards read completely
    let fromCache = 0;
    let reportedAt = -Infinity;
    const report = (loaded) => {
      reportedAt = performance.now();
      onProgress({ stage: 'weights', loaded, total, fromCache });
    };
    report(0);
    for (const [index, shard] of shards.entries()) {
      if (!writes[index].length) continue;
      let arrived = 0;
      const bytes = await readShard(shard, (count, cached) => {
        arrived += count;
        if (cached) fromCache += count;
        if (performance.now() - reportedAt >= REPORT_EVERY_MS) report(done + arrived);
      });
      for (const { from, bytes: size, where } of writes[index]) place(where, bytes.subarray(from, from + size));
      await settle();
      done += shard.bytes;
      report(done);
    }
  }
}
