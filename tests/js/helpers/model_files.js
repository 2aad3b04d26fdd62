// A built model's files for the backend tests: its manifest and a readShard for loadModel, read
// straight from disk or URL with runtime/io.js (no cache, no sha256 check: model_cache.js's job,
// tested through it).

import { readBytes, readJSON, resolveUrl } from '../../../runtime/io.js';

/**
 * { manifest, readShard } of the manifest at `manifestUrl` (a file:// URL or a path). readShard
 * (shard, onBytes) resolves to the bytes of the shard file next to the manifest, telling onBytes
 * (count, fromCache = false) as they arrive.
 */
export async function modelFiles(manifestUrl) {
  const manifest = await readJSON(manifestUrl);
  const readShard = (shard, onBytes = () => {}) => readBytes(resolveUrl(shard.file, manifestUrl),
    { onChunk: (count) => onBytes(count, false) });
  return { manifest, readShard };
}
