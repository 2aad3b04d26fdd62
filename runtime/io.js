// Reading the model's files, the same way in a page, a worker, a service worker and Node.
// Browsers and workers use fetch. Node reads file:// URLs and plain paths with node:fs, imported
// lazily inside Node only (a static import would break browsers, and service workers allow no
// import() at all: this one never runs there).

import { NetworkError } from './errors.js';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
const hasScheme = (url) => /^[a-z][a-z0-9+.-]*:/i.test(url);

// `relative` against `base` (the file it was named in). A plain Node path stays a plain path.
export function resolveUrl(relative, base) {
  const target = String(relative);
  if (hasScheme(target)) return target;
  const from = String(base);
  if (hasScheme(from)) return new URL(target, from).href;
  if (target.startsWith('/')) return target;
  return from.slice(0, from.lastIndexOf('/') + 1) + target;
}

const NETWORK_FIX = 'This device may be offline, or the site unreachable: connect to the network and try again.';

// Where the runtime's fetches go. A service worker's own fetches skip its fetch handler, so the
// service-worker host routes them through its shell cache (service_worker.js): the kernels then
// load offline there as they do in pages.
let fetcher = (url, init) => fetch(url, init);

export function useFetch(fetchFunction) {
  fetcher = fetchFunction;
}

/**
 * The bytes of `url`. `onChunk(byteCount)` is told as they arrive (a download is streamed);
 * `init` is fetch's (ignored for Node files). Rejects with a NetworkError (errors.js, field url)
 * when the network fails (fetch() rejects: offline, host unreachable; or the body stops
 * mid-download), with a plain Error when the server answers with an error status.
 */
export async function readBytes(url, { init, onChunk = () => {} } = {}) {
  const where = String(url);
  if (isNode && (!hasScheme(where) || where.startsWith('file:'))) {
    const bytes = await readNodeFile(where);
    onChunk(bytes.length);
    return bytes;
  }
  let response;
  try {
    response = await fetcher(where, init);
  } catch (error) {
    throw new NetworkError(`Could not fetch ${where}: ${error.message}. ${NETWORK_FIX}`, { url: where });
  }
  if (!response.ok) throw new Error(`Could not fetch ${where}: HTTP ${response.status} ${response.statusText}`);
  const chunks = [];
  let length = 0;
  try {
    const reader = response.body.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      chunks.push(read.value);
      length += read.value.length;
      onChunk(read.value.length);
    }
  } catch (error) {
    throw new NetworkError(`The download of ${where} was interrupted: ${error.message}. ${NETWORK_FIX}`,
                           { url: where });
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

export async function readText(url) {
  return new TextDecoder().decode(await readBytes(url));
}

export async function readJSON(url) {
  return parseJSON(await readBytes(url), url);
}

export function parseJSON(bytes, url) {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new Error(`${url} is not valid JSON: ${error.message}`, { cause: error });
  }
}

async function readNodeFile(where) {
  const [{ readFile }, { fileURLToPath }] = await Promise.all([import('node:fs/promises'), import('node:url')]);
  const path = where.startsWith('file:') ? fileURLToPath(where) : where;
  try {
    const data = await readFile(path);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (error) {
    const reason = error.code === 'ENOENT' ? 'no such file' : error.message;
    throw new Error(`Could not read ${where}: ${reason}`, { cause: error });
  }
}
