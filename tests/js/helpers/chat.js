// Shared by the engine tests (in-thread and worker): the built fixture sites and small request
// and stream helpers.

import { readFileSync } from 'node:fs';

export const FIXTURES = new URL('../../../build/js-fixtures/', import.meta.url);

export const expectedOf = (name) => JSON.parse(readFileSync(new URL(`${name}.expected.json`, FIXTURES), 'utf8'));
export const manifestOf = (name) => new URL(expectedOf(name).manifest, FIXTURES).href;

export const greedy = (messages, fields = {}) => ({ messages, temperature: 0, ...fields });
export const ask = (content) => [{ role: 'user', content }];

export async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

export const contentOf = (chunks) => chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
