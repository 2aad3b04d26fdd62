// A model's files: manifest.json and tokenizer.json from the site, the weight shards from the
// site or from `weightsUrl` (another host, e.g. a Hugging Face `resolve/main/` folder, fetched
// with CORS). They are kept in Cache Storage where there is one (pages, dedicated and service
// workers) and read straight from the network or disk where there is not (Node, or a browser that
// refuses storage).
//
// - manifest.json, tokenizer.json: network first, so a rebuilt site is picked up; the cached copy
//   when the network fails (offline).
// - shards: cache first. Every shard, cached or downloaded, is checked against the manifest's byte
//   length and sha256 before use. A cached shard that fails is deleted and downloaded again; a
//   downloaded one that fails is an IntegrityError. Each verified shard is cached at once, so a
//   failed or interrupted load resumes with only the shards still missing.
// - Before downloading, the missing bytes must fit the storage quota (QuotaExceededError).
// - After a successful load, prune() deletes what the manifest no longer names (old versions).
//
// Cache Storage is per origin and several sitegen sites may share one (GitHub Pages project
// sites): the cache is named by the model folder's URL, which names both the site and the model.

import { IntegrityError, QuotaExceededError } from './errors.js';
import { parseJSON, readBytes, resolveUrl } from './io.js';
import { formatBytes } from './units.js';

const CACHE_PREFIX = 'sitegen-model:';

export class ModelFiles {
  #manifestUrl;
  #weightsBase; // the shards' folder URL, ending in '/'; or the manifest URL (its folder is meant)
  #cache = null; // Promise<Cache | null>
  #missing = 0; // bytes of shards not yet in the cache, as far as checkRoom() found

  /** manifestUrl: the site's manifest.json; weightsUrl: the shards' folder, if not the manifest's. */
  constructor(manifestUrl, { weightsUrl } = {}) {
    // Cache keys and names are absolute URLs; outside Node, a relative URL is relative to this global.
    const absolute = (url) => (globalThis.location ? new URL(url, globalThis.location.href).href : String(url));
    this.#manifestUrl = absolute(manifestUrl);
    this.#weightsBase = weightsUrl ? absolute(String(weightsUrl).replace(/\/?$/, '/')) : this.#manifestUrl;
  }

  async manifest() {
    return this.#readJSON(this.#manifestUrl);
  }

  async tokenizer(manifest) {
    return this.#readJSON(this.#tokenizerUrl(manifest));
  }

  /** Throws QuotaExceededError if the shards not yet cached do not fit the storage left. */
  async checkRoom(manifest) {
    const cache = await this.#openCache();
    if (!cache) return;
    this.#missing = manifest.shards.reduce((sum, shard) => sum + shard.bytes, 0) - await this.#cachedBytes(cache, manifest);
    const available = await availableBytes();
    if (available !== null && this.#missing > available) throw quotaError(this.#missing, available);
  }

  /**
   * Bytes of this model's shards in the cache (verified when they were stored), read without the
   * network: 0 when nothing was downloaded yet (its manifest is not cached), or where there is no
   * Cache Storage. What a page shows as "downloaded".
   */
  async storedBytes() {
    // Looked up, not opened: opening would create an empty cache for a model never downloaded.
    if (typeof caches === 'undefined' || !(await caches.has(this.#cacheName()).catch(() => false))) return 0;
    const cache = await this.#openCache();
    const cachedManifest = await cache?.match(this.#manifestUrl);
    if (!cachedManifest) return 0;
    return this.#cachedBytes(cache, parseJSON(new Uint8Array(await cachedManifest.arrayBuffer()), this.#manifestUrl));
  }

  /** Delete every cached file of this model (a page's "delete the download"); the next load downloads it again. */
  async remove() {
    if (typeof caches === 'undefined') return;
    await caches.delete(this.#cacheName());
    this.#cache = null;
  }

  // Bytes of `manifest`'s shards that `cache` holds.
  async #cachedBytes(cache, manifest) {
    const cached = await Promise.all(manifest.shards.map((shard) => cache.match(this.#shardUrl(shard))));
    return manifest.shards.reduce((sum, shard, i) => sum + (cached[i] ? shard.bytes : 0), 0);
  }

  /**
   * The verified bytes of one shard of the manifest. onBytes(count, fromCache) is told of the bytes
   * as they arrive: a cached shard at once, once verified; a download chunk by chunk.
   */
  async shard(shard, onBytes = () => {}) {
    const url = this.#shardUrl(shard);
    const cache = await this.#openCache();
    const cached = await cache?.match(url);
    if (cached) {
      const bytes = new Uint8Array(await cached.arrayBuffer());
      if (!(await flawOf(shard, bytes))) {
        onBytes(bytes.length, true);
        return bytes;
      }
      await cache.delete(url); // corrupted, or left by another version of the model: download it again
    }
    const bytes = await readBytes(url, { onChunk: (count) => onBytes(count, false) });
    const flaw = await flawOf(shard, bytes);
    if (flaw) throw new IntegrityError(`${flaw} Reload; if it persists, rebuild the site.`, { shard: shard.file });
    await this.#put(cache, url, bytes);
    this.#missing = Math.max(0, this.#missing - bytes.length);
    return bytes;
  }

  /** Delete the cached files that `manifest` (the one just loaded) no longer names. */
  async prune(manifest) {
    const cache = await this.#openCache();
    if (!cache) return;
    const current = new Set([this.#manifestUrl, this.#tokenizerUrl(manifest),
      ...manifest.shards.map((shard) => this.#shardUrl(shard))]);
    for (const request of await cache.keys()) {
      if (!current.has(request.url)) await cache.delete(request);
    }
  }

  #shardUrl(shard) {
    return resolveUrl(shard.file, this.#weightsBase);
  }

  #tokenizerUrl(manifest) {
    return resolveUrl(manifest.tokenizer.file, this.#manifestUrl);
  }

  // Network first (revalidating any HTTP-cached copy), else the copy in the cache.
  async #readJSON(url) {
    const cache = await this.#openCache();
    let bytes;
    try {
      bytes = await readBytes(url, cache ? { init: { cache: 'no-cache' } } : {});
    } catch (error) {
      const cached = await cache?.match(url);
      if (!cached) throw error;
      return parseJSON(new Uint8Array(await cached.arrayBuffer()), url);
    }
    const json = parseJSON(bytes, url);
    await this.#put(cache, url, bytes);
    return json;
  }

  async #put(cache, url, bytes) {
    if (!cache) return;
    try {
      await cache.put(url, new Response(bytes, { headers: { 'Content-Type': 'application/octet-stream' } }));
    } catch (error) {
      if (error?.name !== 'QuotaExceededError') throw error;
      throw quotaError(Math.max(this.#missing, bytes.length), (await availableBytes()) ?? 0);
    }
  }

  // null where there is no Cache Storage, or the browser refuses it (some private modes): the
  // files are then read from the network on every load.
  #openCache() {
    if (!this.#cache) {
      this.#cache = typeof caches === 'undefined' ? Promise.resolve(null)
        : caches.open(this.#cacheName()).catch(() => null);
    }
    return this.#cache;
  }

  #cacheName() {
    return CACHE_PREFIX + new URL('./', this.#manifestUrl).href;
  }
}

// What is wrong with a shard's bytes, or null if they are what the manifest says.
async function flawOf(shard, bytes) {
  if (bytes.length !== shard.bytes) {
    return `Shard ${shard.file} is ${bytes.length} bytes, the manifest says ${shard.bytes}: the download is `
      + 'incomplete or the site is corrupted.';
  }
  const digest = hex(await crypto.subtle.digest('SHA-256', bytes));
  return digest === shard.sha256 ? null : `Shard ${shard.file} does not match its sha256 in the manifest: the download is corrupted.`;
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Bytes this origin may still store (navigator.storage.estimate(): quota less usage, which counts
 *  what is already cached), or null where the browser does not say. */
export async function availableBytes() {
  const estimate = await globalThis.navigator?.storage?.estimate?.();
  return estimate?.quota === undefined ? null : Math.max(0, estimate.quota - (estimate.usage ?? 0));
}

function quotaError(needed, available) {
  return new QuotaExceededError(`Not enough storage for the model: it needs ${formatBytes(needed)} more, `
    + `and the browser lets this site store only ${formatBytes(available)} more. Free up disk space (private `
    + 'windows get little storage), then reload.', { needed, available });
}
