// The model shapes the kernels can run: the rules of kernels/limits.json, the one list of them
// (sitegen/limits.py reads the same file, so the build refuses what the runtime would).
//
// A rule: { quantity: an architecture field or a product of fields written `a * b`, then any of
// power_of_two: true, min, max, multiple_of, and why: the kernel that needs it }.

import { readJSON } from '../io.js';

const LIMITS = new URL('../../kernels/limits.json', import.meta.url).href;
const RULE_KEYS = new Set(['quantity', 'why', 'power_of_two', 'min', 'max', 'multiple_of']);

/**
 * One line for each rule of the limits file that `architecture` (a manifest's) breaks, in file
 * order: "head_dim is 24, but the kernels need a power of two from 16 to 256". Empty when it
 * breaks none. Rejects when the file cannot be read, a rule has a key this code does not know
 * or its quantity names a field the architecture lacks (a runtime that lags the limits file).
 */
export async function brokenLimits(architecture, url = LIMITS) {
  const { rules } = await readJSON(url);
  const problems = [];
  for (const rule of rules) {
    const unknown = Object.keys(rule).filter((key) => !RULE_KEYS.has(key));
    if (unknown.length) throw new Error(`${url}: the rule on ${rule.quantity} has unknown keys ${unknown.join(', ')}`);
    const value = quantity(architecture, rule.quantity, url);
    if (breaks(rule, value)) problems.push(`${rule.quantity} is ${value}, but the kernels need ${requirement(rule)}`);
  }
  return problems;
}

function quantity(architecture, expression, url) {
  return expression.split('*').map((name) => name.trim()).reduce((product, name) => {
    if (!Number.isFinite(architecture[name])) throw new Error(`${url}: ${expression} needs architecture.${name}`);
    return product * architecture[name];
  }, 1);
}

function breaks(rule, value) {
  return (rule.power_of_two && (value < 1 || (value & (value - 1)) !== 0))
    || (rule.multiple_of !== undefined && value % rule.multiple_of !== 0)
    || (rule.min !== undefined && value < rule.min)
    || (rule.max !== undefined && value > rule.max);
}

// What a rule asks, in words: "a power of two from 16 to 256", "a multiple of 32".
function requirement(rule) {
  const words = [];
  if (rule.power_of_two) words.push('a power of two');
  if (rule.multiple_of !== undefined) words.push(`a multiple of ${rule.multiple_of}`);
  if (rule.min !== undefined && rule.max !== undefined) words.push(`from ${rule.min} to ${rule.max}`);
  else if (rule.min !== undefined) words.push(`at least ${rule.min}`);
  else if (rule.max !== undefined) words.push(`at most ${rule.max}`);
  return words.join(' ');
}
