// The model's files in Cache Storage (runtime/model_cache.js), against in-memory stand-ins for
// Cache Storage, the network and the storage quota: what is fetched, what is cached, what is
// verified, and the typed errors. No GPU needed.
//
//   node --test tests/js/model_cache.test.js

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';

import { IntegrityError, QuotaExceededError } from '../../runtime/errors.js';
import { useFetch } from '../../runtime/io.js';
import { ModelFiles } from '../../runtime/model_cache.js';

const SITE = 'https://user.example/repo/models/m/';
const MANIFEST = `${SITE}manifest.json`;
const CHUNK = 256; // the fake network sends bodies in chunks of this size

// Cache Storage in memory, with the origin's storage quota: put() fails as browsers do when the
// cached bytes and `otherUsage` (the origin's other data) would exceed it.
class MemoryCaches {
  caches = new Map();
  quota = 1e9;
  otherUsage = 0;

  async estimate() {
    return { quota: this.quota, usage: this.stored() + this.otherUsage };
  }

  async open(name) {
    if (!this.caches.has(name)) this.caches.set(name, new MemoryCache(this));
    return this.caches.get(name);
  }

  stored() {
    return [...this.caches.values()].reduce((sum, cache) => sum + cache.bytes(), 0);
  }
}

class MemoryCache {
  entries = new Map(); // url -> Uint8Array

  constructor(storage) {
    this.storage = storage;
  }

  async match(request) {
    const bytes = this.entries.get(urlOf(request));
    return bytes && new Response(bytes);
  }

  async put(request, response) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    const { quota, usage } = await this.storage.estimate();
    if (usage + bytes.length > quota) {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    }
    this.entries.set(urlOf(request), bytes);
  }

  async delete(request) {
    return this.entries.delete(urlOf(request));
  }

  async keys() {
    return [...this.entries.keys()].map((url) => new Request(url));
  }

  bytes() {
    return [...this.entries.values()].reduce((sum, bytes) => sum + bytes.length, 0);
  }
}

const urlOf = (request) => (typeof request === 'string' ? request : request.url);

// The network: files by URL, a log of what was fetched, and an off switch.
const network = { files: new Map(), log: [], offline: false };

async function fakeFetch(url) {
  network.log.push(url);
  if (network.offline) throw new TypeError('Failed to fetch');
  const bytes = network.files.get(url);
  if (!bytes) return new Response('not found', { status: 404, statusText: 'Not Found' });
  let at = 0;
  return new Response(new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) controller.close();
      else controller.enqueue(bytes.slice(at, (at += CHUNK)));
    },
  }));
}

const encode = (value) => new TextEncoder().encode(JSON.stringify(value));
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

// A model of three shards of `size` bytes; its shards live under `shardBase` on the network.
function publishModel({ size = 1000, shardBase = SITE, seed = 1 } = {}) {
  const shards = [0, 1, 2].map((index) => {
    const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 31 + index * 7 + seed) & 255);
    const file = `shard-0000${index}.bin`;
    network.files.set(shardBase + file, bytes);
    return { file, bytes: size, sha256: sha256(bytes) };
  });
  const manifest = { model_id: 'm', tokenizer: { file: 'tokenizer.json' }, shards };
  network.files.set(MANIFEST, encode(manifest));
  network.files.set(`${SITE}tokenizer.json`, encode({ model: 'tokens' }));
  return manifest;
}

// Reads every shard as the loader does; returns the onBytes reports.
async function readAll(files, manifest) {
  const reports = [];
  for (const shard of manifest.shards) {
    const bytes = await files.shard(shard, (count, fromCache) => reports.push({ file: shard.file, count, fromCache }));
    assert.equal(sha256(bytes), shard.sha256);
  }
  return reports;
}

const shardFetches = () => network.log.filter((url) => url.endsWith('.bin')).map((url) => url.split('/').pop());
let storage;

beforeEach(() => {
  storage = new MemoryCaches();
  globalThis.caches = storage;
  Object.defineProperty(globalThis, 'navigator', {
    value: { storage: { estimate: () => storage.estimate() } }, configurable: true, writable: true,
  });
  Object.assign(network, { files: new Map(), log: [], offline: false });
  useFetch(fakeFetch);
});

afterEach(() => {
  delete globalThis.caches;
  useFetch((url, init) => fetch(url, init));
});

describe('model files in Cache Storage', () => {
  test('a first load downloads every file in chunks and caches it under the model folder\'s name', async () => {
    const published = publishModel();
    const files = new ModelFiles(MANIFEST);
    const manifest = await files.manifest();
    assert.deepEqual(manifest, published);
    await files.checkRoom(manifest);
    assert.deepEqual(await files.tokenizer(manifest), { model: 'tokens' });
    const reports = await readAll(files, manifest);
    assert.ok(reports.length >= 12, 'progress within each shard');
    assert.ok(reports.every((report) => !report.fromCache));
    assert.deepEqual([...storage.caches.keys()], [`sitegen-model:${SITE}`]);
    assert.equal(storage.caches.get(`sitegen-model:${SITE}`).entries.size, 5);
  });

  test('a second load revalidates manifest and tokenizer and reads the shards from the cache', async () => {
    const manifest = publishModel();
    await readAll(new ModelFiles(MANIFEST), manifest);
    network.log = [];
    const files = new ModelFiles(MANIFEST);
    await files.manifest();
    await files.tokenizer(manifest);
    const reports = await readAll(files, manifest);
    assert.deepEqual(network.log, [MANIFEST, `${SITE}tokenizer.json`]);
    assert.deepEqual(reports.map(({ count, fromCache }) => [count, fromCache]), [[1000, true], [1000, true], [1000, true]]);
  });

  test('offline, every file comes from the cache', async () => {
    const published = publishModel();
    const first = new ModelFiles(MANIFEST);
    await first.tokenizer(await first.manifest());
    await readAll(first, published);
    network.offline = true;
    const files = new ModelFiles(MANIFEST);
    const manifest = await files.manifest();
    assert.deepEqual(manifest, published);
    assert.deepEqual(await files.tokenizer(manifest), { model: 'tokens' });
    await readAll(files, manifest);
  });

  test('offline without a cached manifest, the network error stands', async () => {
    network.offline = true;
    await assert.rejects(new ModelFiles(MANIFEST).manifest(), /Could not fetch .*manifest\.json: Failed to fetch/);
  });

  test('a corrupted cached shard is downloaded again, alone', async () => {
    const manifest = publishModel();
    await readAll(new ModelFiles(MANIFEST), manifest);
    const cache = storage.caches.get(`sitegen-model:${SITE}`);
    cache.entries.set(`${SITE}shard-00001.bin`, new Uint8Array(1000));
    network.log = [];
    const reports = await readAll(new ModelFiles(MANIFEST), manifest);
    assert.deepEqual(shardFetches(), ['shard-00001.bin']);
    assert.deepEqual([...new Set(reports.map(({ file, fromCache }) => `${file} ${fromCache}`))],
      ['shard-00000.bin true', 'shard-00001.bin false', 'shard-00002.bin true']);
    assert.equal(sha256(cache.entries.get(`${SITE}shard-00001.bin`)), manifest.shards[1].sha256);
  });

  test('a bad download is IntegrityError naming the shard; a retry downloads only what is missing', async () => {
    const manifest = publishModel();
    const good = network.files.get(`${SITE}shard-00001.bin`);
    network.files.set(`${SITE}shard-00001.bin`, good.slice(0, 900));
    const files = new ModelFiles(MANIFEST);
    await files.shard(manifest.shards[0]);
    await assert.rejects(files.shard(manifest.shards[1]), (error) => {
      assert.ok(error instanceof IntegrityError);
      assert.equal(error.shard, 'shard-00001.bin');
      assert.match(error.message, /shard-00001\.bin is 900 bytes, the manifest says 1000/);
      return true;
    });
    network.files.set(`${SITE}shard-00001.bin`, Uint8Array.from(good, (byte) => byte ^ 1));
    await assert.rejects(files.shard(manifest.shards[1]), /shard-00001\.bin does not match its sha256/);
    network.files.set(`${SITE}shard-00001.bin`, good);
    network.log = [];
    await readAll(new ModelFiles(MANIFEST), manifest);
    assert.deepEqual(shardFetches(), ['shard-00001.bin', 'shard-00002.bin']);
  });

  test('shards that do not fit the quota left: QuotaExceededError before any download', async () => {
    const manifest = publishModel({ size: 2e6 });
    await new ModelFiles(MANIFEST).shard(manifest.shards[0]);
    Object.assign(storage, { quota: 5e6, otherUsage: 0.5e6 });
    network.log = [];
    await assert.rejects(new ModelFiles(MANIFEST).checkRoom(manifest), (error) => {
      assert.ok(error instanceof QuotaExceededError);
      assert.equal(error.needed, 4e6); // the two shards not cached yet
      assert.equal(error.available, 2.5e6);
      assert.match(error.message, /needs 4\.0 MB more, and the browser lets this site store only 2\.5 MB more/);
      return true;
    });
    assert.deepEqual(network.log, []);
  });

  test('a cache that refuses to store is QuotaExceededError too', async () => {
    const manifest = publishModel({ size: 2e6 });
    storage.quota = 7e6;
    const files = new ModelFiles(MANIFEST);
    await files.checkRoom(manifest); // 6 MB to download, 7 MB free
    storage.otherUsage = 4e6; // then the origin's other data grows
    await files.shard(manifest.shards[0]);
    await assert.rejects(files.shard(manifest.shards[1]), (error) => {
      assert.ok(error instanceof QuotaExceededError);
      assert.deepEqual([error.needed, error.available], [4e6, 1e6]);
      return true;
    });
  });

  test('prune() deletes the files an updated manifest no longer names', async () => {
    const old = publishModel({ seed: 1 });
    await readAll(new ModelFiles(MANIFEST), old);
    const cache = storage.caches.get(`sitegen-model:${SITE}`);
    cache.entries.set(`${SITE}shard-00009.bin`, new Uint8Array(3)); // from an older build
    const files = new ModelFiles(MANIFEST);
    const manifest = await files.manifest();
    manifest.shards = manifest.shards.slice(0, 2);
    await files.tokenizer(manifest);
    await files.prune(manifest);
    assert.deepEqual([...cache.entries.keys()].sort(), [
      MANIFEST, `${SITE}shard-00000.bin`, `${SITE}shard-00001.bin`, `${SITE}tokenizer.json`]);
  });

  test('weightsUrl: shards from another host, manifest and tokenizer from the site', async () => {
    const weights = 'https://huggingface.example/org/model/resolve/main';
    const manifest = publishModel({ shardBase: `${weights}/` });
    const files = new ModelFiles(MANIFEST, { weightsUrl: weights });
    await files.tokenizer(await files.manifest());
    await readAll(files, manifest);
    assert.deepEqual(network.log, [MANIFEST, `${SITE}tokenizer.json`,
      ...manifest.shards.map((shard) => `${weights}/${shard.file}`)]);
    assert.ok(storage.caches.get(`sitegen-model:${SITE}`).entries.has(`${weights}/shard-00000.bin`));
  });
});
