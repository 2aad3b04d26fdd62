// Model weights, from the manifest's shards into GPU buffers.
//
// The manifest's `runtime_tensors` say which GPU tensors a model has: each is one or more manifest
// tensors with the same row width whose rows are stacked (q/k/v into one QKV weight, gate/up into
// one). One marked `split` that is bigger than one storage binding (a 128k-vocabulary LM head,
// say) is split into row blocks, each its own buffers; kernels run once per block. Buffers are
// made first, so the forward pass can bind them (and say which it uses) before any byte is read;
// then shards are read one at a time (readShard: see model_cache.js, which verifies them) and
// written piece by piece where they belong, so peak memory stays near one shard.

import { OutOfMemoryError, UnsupportedModelError } from '../errors.js';

// Bytes of one row of each part of a tensor with `cols` values per row (the layouts:
// sitegen/quantize.py). A scheme here has a kernels/<scheme>.wgsl weight part.
const PART_ROW_BYTES = {
  q4g32: { codes: (cols) => cols / 2, scales: (cols) => cols / 16 },
  q8g32: { codes: (cols) => cols, scales: (cols) => cols / 16 },
  q4g32m: { codes: (cols) => cols / 2, scales: (cols) => cols / 8 },
  f16: { data: (cols) => 2 * cols },
  f32: { data: (cols) => 4 * cols },
};
const REPORT_EVERY_MS = 100; // progress within a shard, at most this often

/**
 * A model's runtime tensors on the GPU. get(name) -> { name, scheme, rows, cols, rowBytes: { part:
 * bytes }, blocks: [{ row0, rows, buffers: { part: GPUBuffer } }] }: `rows` x `cols` values,
 * blocks of consecutive rows (one block unless split), each part (codes/scales for q4g32, q8g32 and q4g32m,
 * data for f16/f32) a buffer per block.
 */
export class Weights {
  #tensors = new Map(); // name -> tensor
  #unused;              // names no one has asked for yet
  #writes;              // per shard: [{ from, bytes, buffer, at }]

  /**
   * Allocates the buffers of `manifest.runtime_tensors` ([{ name, tensors: [manifest tensor names],
   * split }]) on `gpu`; nothing is read yet. maxBindingBytes: the most one buffer may hold.
   * Throws UnsupportedModelError for a tensor the manifest lacks, an unknown scheme, members that
   * cannot be stacked, or an unsplit tensor (or one row) bigger than maxBindingBytes.
   */
  constructor(gpu, manifest, { maxBindingBytes }) {
    this.gpu = gpu;
    this.manifest = manifest;
    this.#writes = manifest.shards.map(() => []);
    for (const { name, tensors: names, split } of manifest.runtime_tensors) {
      const tensor = allocate(gpu, name, names.map((member) => record(manifest, member)), split, maxBindingBytes);
      this.#tensors.set(name, tensor);
      scheduleWrites(tensor, names.map((member) => manifest.tensors[member]), this.#writes);
    }
    this.#unused = new Set(this.#tensors.keys());
  }

  // The runtime tensor `name`, now counted as used; UnsupportedModelError when the manifest has none.
  get(name) {
    const tensor = this.#tensors.get(name);
    if (!tensor) {
      throw new UnsupportedModelError(`${this.manifest.model_id}: the manifest has no runtime tensor ${name}, which `
        + 'this runtime needs. The site was built by another version of sitegen: rebuild it.');
    }
    this.#unused.delete(name);
    return tensor;
  }

  // Throws UnsupportedModelError naming every runtime tensor get() was never asked for: the
  // manifest describes a model other than the one the forward pass runs.
  assertAllUsed() {
    if (this.#unused.size) {
      throw new UnsupportedModelError(`${this.manifest.model_id}: this runtime does not use the manifest's runtime `
        + `tensors ${[...this.#unused].join(', ')}. The site was built by another version of sitegen: rebuild it.`);
    }
  }

  /**
   * Reads the shards the tensors use, in order, and writes them into the buffers.
   * readShard(shard, onBytes(count, fromCache)) -> Promise<Uint8Array>: a manifest shard's bytes;
   *   onBytes (optional for the reader) reports them as they arrive. Its errors propagate
   *   (IntegrityError from model_cache.js, say).
   * onProgress({ stage: 'weights', loaded, total, fromCache }): bytes read so far, of the shards
   *   the tensors use; fromCache: how many of them came from the cache.
   * Throws OutOfMemoryError, before reading any shard, when the GPU had no memory for a buffer
   * allocated so far (the weights', and the model's others: the load makes them all before this).
   */
  async upload({ readShard, onProgress = () => {} }) {
    const outOfMemory = await this.gpu.outOfMemory();
    if (outOfMemory) {
      throw new OutOfMemoryError(`The GPU ran out of memory for ${this.manifest.model_id} `
        + `(${outOfMemory.message}). Close other GPU-heavy tabs, or choose a smaller model.`);
    }
    const { queue } = this.gpu.device;
    const { shards } = this.manifest;
    const writes = this.#writes;
    const pending = new PartialWords(queue);
    const total = shards.reduce((sum, shard, index) => sum + (writes[index].length ? shard.bytes : 0), 0);
    let done = 0; // bytes of the shards read completely
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
      for (const { from, bytes: size, buffer, at } of writes[index]) pending.write(buffer, at, bytes.subarray(from, from + size));
      // let the queue drain its staging copies before the next shard, so host memory stays bounded
      await queue.onSubmittedWorkDone();
      done += shard.bytes;
      report(done);
    }
    pending.flush();
  }
}

function record(manifest, name) {
  const tensor = manifest.tensors[name];
  if (!tensor) throw new UnsupportedModelError(`The manifest has no tensor ${name}.`);
  if (!PART_ROW_BYTES[tensor.scheme]) throw new UnsupportedModelError(`${name}: unknown scheme ${tensor.scheme}.`);
  return { name, scheme: tensor.scheme, rows: tensor.shape[0], cols: tensor.shape[1] ?? 1 };
}

function allocate(gpu, name, members, split, maxBindingBytes) {
  const { scheme, cols } = members[0];
  for (const member of members) {
    if (member.scheme !== scheme || member.cols !== cols) {
      throw new UnsupportedModelError(`${member.name} cannot be stacked with ${members[0].name}: `
        + `${member.scheme} x ${member.cols} vs ${scheme} x ${cols}.`);
    }
  }
  const rows = members.reduce((sum, member) => sum + member.rows, 0);
  const rowBytes = Object.fromEntries(Object.entries(PART_ROW_BYTES[scheme]).map(([part, of]) => [part, of(cols)]));
  const widest = Math.max(...Object.values(rowBytes));
  if (!split && widest * rows > maxBindingBytes) {
    throw new UnsupportedModelError(`${name} (${widest * rows} bytes) exceeds this GPU's storage binding limit `
      + `(${maxBindingBytes} bytes); only the embedding and LM head are split into row blocks.`);
  }
  const blockRows = split ? Math.floor(maxBindingBytes / widest) : rows;
  if (blockRows < 1) throw new UnsupportedModelError(`${name}: one row (${widest} bytes) exceeds the binding limit.`);
  const blocks = [];
  for (let row0 = 0; row0 < rows; row0 += blockRows) {
    const count = Math.min(blockRows, rows - row0);
    const buffers = Object.fromEntries(Object.entries(rowBytes).map(([part, bytes]) => [part, gpu.buffer({
      label: `${name}.${part}[${row0}]`, size: count * bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    })]));
    blocks.push({ row0, rows: count, buffers });
  }
  return { name, scheme, rows, cols, rowBytes, blocks };
}

// Where each piece of each member's parts lands: members stack row after row, so a member's part
// starts where the previous member's ended; a piece crossing a block boundary is cut in two.
function scheduleWrites(tensor, records, writes) {
  for (const part of Object.keys(tensor.rowBytes)) {
    const rowBytes = tensor.rowBytes[part];
    let at = 0; // byte position in the stacked part
    for (const { parts } of records) {
      for (const { shard, offset, bytes } of parts[part].pieces) {
        for (const block of tensor.blocks) {
          const start = Math.max(at, block.row0 * rowBytes);
          const end = Math.min(at + bytes, (block.row0 + block.rows) * rowBytes);
          if (start >= end) continue;
          writes[shard].push({
            from: offset + start - at, bytes: end - start, buffer: block.buffers[part], at: start - block.row0 * rowBytes,
          });
        }
        at += bytes;
      }
    }
  }
}

// queue.writeBuffer wants 4-byte aligned offsets and sizes; pieces need not be (an f16 scale
// array of odd length, say). Aligned middles go straight out; the bytes of words shared between
// pieces are gathered here and written at the end.
class PartialWords {
  #words = new Map(); // buffer -> Map(word offset -> Uint8Array(4))

  constructor(queue) {
    this.queue = queue;
  }

  write(buffer, at, bytes) {
    const head = Math.min((4 - (at % 4)) % 4, bytes.length);
    const body = (bytes.length - head) & ~3;
    for (let i = 0; i < head; i++) this.#byte(buffer, at + i, bytes[i]);
    if (body) this.queue.writeBuffer(buffer, at + head, bytes, head, body);
    for (let i = head + body; i < bytes.length; i++) this.#byte(buffer, at + i, bytes[i]);
  }

  #byte(buffer, at, value) {
    if (!this.#words.has(buffer)) this.#words.set(buffer, new Map());
    const words = this.#words.get(buffer);
    const word = at & ~3;
    if (!words.has(word)) words.set(word, new Uint8Array(4));
    words.get(word)[at - word] = value;
  }

  flush() {
    for (const [buffer, words] of this.#words) {
      for (const [offset, word] of words) this.queue.writeBuffer(buffer, offset, word);
    }
    this.#words.clear();
  }
}
