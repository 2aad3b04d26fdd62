// Model weights, from the manifest's shards into GPU buffers.
//
// The caller plans GPU tensors: each is one or more manifest tensors with the same row width whose
// rows are stacked (q/k/v into one QKV weight, gate/up into one). A GPU tensor marked `split` that
// is bigger than one storage binding (a 128k-vocabulary LM head, say) is split into row blocks,
// each its own buffers; kernels run once per block. Shards are read one at a time (readShard: see
// model_cache.js, which verifies them) and written piece by piece where the plan puts them, so
// peak memory stays near one shard.

import { UnsupportedModelError } from './errors.js';

// Bytes of one row of each part of a tensor with `cols` values per row.
const PART_ROW_BYTES = {
  q4g32: { codes: (cols) => cols / 2, scales: (cols) => cols / 16 },
  f16: { data: (cols) => 2 * cols },
  f32: { data: (cols) => 4 * cols },
};
const REPORT_EVERY_MS = 100; // progress within a shard, at most this often

// plan: [{ key, tensors: [manifest tensor names], split: may be split into row blocks }]
// readShard(shard, onBytes(count, fromCache)) -> Uint8Array: the shard's bytes; onBytes (optional
//   for the reader) reports them as they arrive.
// onProgress({ stage: 'weights', loaded, total, fromCache }): bytes read so far, of the shards the
//   plan uses; fromCache: how many of them came from the cache.
// -> Map key -> { scheme, rows, cols, blocks: [{ row0, rows, buffers: { part: GPUBuffer } }] }
export async function loadWeights(gpu, manifest, plan, {
  readShard,
  maxBindingBytes = gpu.limits.maxStorageBufferBindingSize,
  onProgress = () => {},
}) {
  const tensors = new Map();
  const writes = manifest.shards.map(() => []); // per shard: { from, bytes, buffer, at }
  for (const { key, tensors: names, split = false } of plan) {
    const tensor = allocate(gpu, key, names.map((name) => record(manifest, name)), split ? maxBindingBytes : Infinity);
    tensors.set(key, tensor);
    scheduleWrites(tensor, names.map((name) => manifest.tensors[name]), writes);
  }

  const pending = new PartialWords(gpu.device.queue);
  const total = manifest.shards.reduce((sum, shard, index) => sum + (writes[index].length ? shard.bytes : 0), 0);
  let done = 0; // bytes of the shards read completely
  let fromCache = 0;
  let reportedAt = -Infinity;
  const report = (loaded) => {
    reportedAt = performance.now();
    onProgress({ stage: 'weights', loaded, total, fromCache });
  };
  report(0);
  for (const [index, shard] of manifest.shards.entries()) {
    if (!writes[index].length) continue;
    let arrived = 0;
    const bytes = await readShard(shard, (count, cached) => {
      arrived += count;
      if (cached) fromCache += count;
      if (performance.now() - reportedAt >= REPORT_EVERY_MS) report(done + arrived);
    });
    for (const { from, bytes: size, buffer, at } of writes[index]) pending.write(buffer, at, bytes.subarray(from, from + size));
    // let the queue drain its staging copies before the next shard, so host memory stays bounded
    await gpu.device.queue.onSubmittedWorkDone();
    done += shard.bytes;
    report(done);
  }
  pending.flush();
  return tensors;
}

function record(manifest, name) {
  const tensor = manifest.tensors[name];
  if (!tensor) throw new UnsupportedModelError(`The manifest has no tensor ${name}.`);
  if (!PART_ROW_BYTES[tensor.scheme]) throw new UnsupportedModelError(`${name}: unknown scheme ${tensor.scheme}.`);
  return { name, scheme: tensor.scheme, rows: tensor.shape[0], cols: tensor.shape[1] ?? 1 };
}

function allocate(gpu, key, members, blockBytes) {
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
  const blockRows = Math.floor(blockBytes / widest);
  if (blockRows < 1) throw new UnsupportedModelError(`${key}: one row (${widest} bytes) exceeds the binding limit.`);
  const blocks = [];
  for (let row0 = 0; row0 < rows; row0 += blockRows) {
    const count = Math.min(blockRows, rows - row0);
    const buffers = Object.fromEntries(Object.entries(rowBytes).map(([part, bytes]) => [part, gpu.buffer({
      label: `${key}.${part}[${row0}]`, size: count * bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    })]));
    blocks.push({ row0, rows: count, buffers });
  }
  return { key, scheme, rows, cols, rowBytes, blocks };
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
