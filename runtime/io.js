// Reading the model's files, the same way in a page, a worker and Node.
// Browsers and workers use fetch. Node reads file:// URLs and plain paths with node:fs, imported
// lazily inside Node only (a static import would break browsers, and top-level await is not
// allowed in service workers).

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

export async function readBytes(url) {
  const where = String(url);
  if (isNode && (!hasScheme(where) || where.startsWith('file:'))) return readNodeFile(where);
  let response;
  try {
    response = await fetch(where);
  } catch (error) {
    throw new Error(`Could not fetch ${where}: ${error.message}`, { cause: error });
  }
  if (!response.ok) throw new Error(`Could not fetch ${where}: HTTP ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

export async function readText(url) {
  return new TextDecoder().decode(await readBytes(url));
}

export async function readJSON(url) {
  const text = await readText(url);
  try {
    return JSON.parse(text);
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
