// Model weights, from the manifest's shards into GPU buffers.
//
// The manifest's `runtime_tensors` say which GPU tensors a model has: each is one or more manifest
// tensors with the same row width whose rows are stacked (runtime/runtime_tensors.js). One marked
// `split` that is bigger than one storage binding (a 128k-vocabulary LM head, say) is split into
// row blocks, each its own buffers; kernels run once per block. Buffers are made first, so the
// forward pass can bind them (and say which it uses) before any byte is read; then shards are read
// one at a time (readShard: see model_cache.js, which verifies them) and written piece by piece
// where they belong, so peak memory stays near one shard.

import { RuntimeTensors, stackMembers } from '../runtime_tensors.js';
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

/**
 * A model's runtime tensors on the GPU. get(name) -> { name, scheme, rows, cols, rowBytes: { part:
 * bytes }, blocks: [{ row0, rows, buffers: { part: GPUBuffer } }] }: `rows` x `cols` values,
 * blocks of consecutive rows (one block unless split), each part (codes/scales for q4g32, q8g32 and q4g32m,
 * data for f16/f32) a buffer per block. get() and assertAllUsed() as runtime_tensors.js
 * RuntimeTensors says.
 */
export class Weights extends RuntimeTensors {
  /**
   * Allocates the buffers of `manifest.runtime_tensors` ([{ name, tensors: [manifest tensor names],
   * split }]) on `gpu`; nothing is read yet. maxBindingBytes: the most one buffer may hold.
   * Throws UnsupportedModelError for a tensor the manifest lacks, an unknown scheme, members that
   * cannot be stacked, or an unsplit tensor (or one row) bigger than maxBindingBytes.
   */
  constructor(gpu, manifest, { maxBindingBytes }) {
    super(manifest);
    this.gpu = gpu;
    for (const { name, tensors: names, split } of manifest.runtime_tensors) {
      const stack = stackMembers(manifest, names, assertGpuScheme);
      const tensor = allocate(gpu, name, stack, split, maxBindingBytes);
      this.add(tensor);
      scheduleWrites(tensor, stack.members, (shard, from, bytes, where) => this.addWrite(shard, from, bytes, where));
    }
  }

  /**
   * Reads the shards the tensors use, in order, and writes them into the buffers. readShard and
   * onProgress as runtime_tensors.js readShards takes them (stage 'weights', bytes).
   * Throws OutOfMemoryError, before reading any shard, when the GPU had no memory for a buffer
   * allocated so far (the weights', and the model's others: the load makes them all before this).
   */
  async upload({ readShard, onProgress }) {
    const outOfMemory = await this.gpu.outOfMemory();
    if (outOfMemory) {
      throw new OutOfMemoryError(`The GPU ran out of memory for ${this.manifest.model_id} `
        + `(${outOfMemory.message}). Close other GPU-heavy tabs, or choose a smaller model.`);
    }
    const { queue } = this.gpu.device;
    const pending = new PartialWords(queue);
    await this.readShards({ readShard, onProgress }, {
      place: ({ buffer, at }, bytes) => pending.write(buffer, at, bytes),
      // let the queue drain its staging copies before the next shard, so host memory stays bounded
      settle: () => queue.onSubmittedWorkDone(),
    });
    pending.flush();
  }
}

function assertGpuScheme(name, scheme) {
  if (!PART_ROW_BYTES[scheme]) throw new UnsupportedModelError(`${name}: unknown scheme ${scheme}.`);
}

// The tensor `name` of the stack `{ scheme, cols, rows }` (stackMembers'), its buffers made: in
// row blocks of at most maxBindingBytes where `split`.
function allocate(gpu, name, { scheme, cols, rows }, split, maxBindingBytes) {
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

// Where each piece of each member's parts lands, told to addWrite(shard, from, bytes, { buffer,
// at }): members stack row after row, so a member's part starts where the previous member's
// ended; a piece crossing a block boundary is cut in two.
function scheduleWrites(tensor, members, addWrite) {
  for (const part of Object.keys(tensor.rowBytes)) {
    const rowBytes = tensor.rowBytes[part];
    let at = 0; // byte position in the stacked part
    for (const { parts } of members) {
      for (const { shard, offset, bytes } of parts[part].pieces) {
        for (const block of tensor.blocks) {
          const start = Math.max(at, block.row0 * rowBytes);
          const end = Math.min(at + bytes, (block.row0 + block.rows) * rowBytes);
          if (start >= end) continue;
          addWrite(shard, offset + start - at, end - start, { buffer: block.buffers[part], at: start - block.row0 * rowBytes });
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
