// A built model's files for the backend tests: its manifest and a readShard for loadModel, read
// straight from disk or URL with runtime/io.js (no cache, no sha256 check: model_cache.js's job,
// tested through it); and the fixtures of tests/js/fixtures/make_model_fixtures.py, with their
// reference outputs.

import { existsSync, readFileSync } from 'node:fs';
import { readBytes, readJSON, resolveUrl } from '../../../runtime/io.js';

const FIXTURES = new URL('../../../build/js-fixtures/', import.meta.url);

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

/**
 * The reference outputs of fixture `name` (build/js-fixtures/<name>.expected.json: prompt_ids,
 * last_logits, greedy_ids, manifest, ...), with `url`: its manifest's file:// URL. Throws, naming
 * the command that makes them, when the fixtures were not made.
 */
export function fixture(name) {
  const path = new URL(`${name}.expected.json`, FIXTURES);
  if (!existsSync(path)) throw new Error(`Missing ${path.pathname}: run .venv/bin/python tests/js/fixtures/make_model_fixtures.py`);
  const expected = JSON.parse(readFileSync(path, 'utf8'));
  return { ...expected, url: new URL(expected.manifest, FIXTURES).href };
}

/** The model of `expected` (fixture()'s), loaded from its files by a backend's `loadModel`; options as its. */
export async function loadFixture(loadModel, expected, options = {}) {
  const { manifest, readShard } = await modelFiles(expected.url);
  return loadModel(manifest, { readShard, ...options });
}
