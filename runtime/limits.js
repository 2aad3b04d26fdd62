// The models the kernels can run: the rules and features of kernels/limits.json, the one list of
// them (sitegen/limits.py reads the same file, so the build refuses what the runtime would).
//
// A rule: { quantity: an architecture field or a product of fields written `a * b`, then any of
// min, max, multiple_of, and why: the kernel that needs it }.
// A feature: { feature: an architecture feature (sitegen/arch.py), runs: the values this runtime
// runs, or "any" for a feature the kernels take as a parameter, why }.

import { readJSON } from './io.js';

const LIMITS = new URL('../kernels/limits.json', import.meta.url).href;
const RULE_KEYS = new Set(['quantity', 'why', 'min', 'max', 'multiple_of']);
const FEATURE_KEYS = ['feature', 'runs', 'why'];

/**
 * kernels/limits.json (or the limits file at `url`) as it stands: { rules: [rule], features:
 * [feature] }, in file order. Rejects when the file cannot be read.
 */
export function readLimits(url = LIMITS) {
  return readJSON(url);
}

/**
 * One line for each rule of the limits file that `architecture` (a manifest's) breaks, then one
 * for each feature it has at a value this runtime does not run, in file order: "head_dim is 18,
 * but the kernels need a multiple of 4 from 16 to 256", "sliding_window is 4096, but the kernels
 * run only null" (a feature the manifest lacks reads as undefined: a manifest of another
 * version). Empty when it breaks none. Rejects when the file cannot be read, a rule or feature
 * has a key this code does not know or a quantity names a field the architecture lacks (a
 * runtime that lags the limits file).
 */
export async function brokenLimits(architecture, url = LIMITS) {
  const { rules, features } = await readLimits(url);
  const problems = [];
  for (const rule of rules) {
    const unknown = Object.keys(rule).filter((key) => !RULE_KEYS.has(key));
    if (unknown.length) throw new Error(`${url}: the rule on ${rule.quantity} has unknown keys ${unknown.join(', ')}`);
    const value = quantity(architecture, rule.quantity, url);
    if (breaks(rule, value)) problems.push(`${rule.quantity} is ${value}, but the kernels need ${requirement(rule)}`);
  }
  for (const entry of features) {
    if (Object.keys(entry).sort().join() !== FEATURE_KEYS.join()) {
      throw new Error(`${url}: the feature ${entry.feature} has keys ${Object.keys(entry).join(', ')}`);
    }
    const value = architecture[entry.feature];
    if (entry.runs !== 'any' && !entry.runs.includes(value)) {
      problems.push(`${entry.feature} is ${JSON.stringify(value)}, but the kernels run only `
        + `${entry.runs.map((v) => JSON.stringify(v)).join(' or ')}`);
    }
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
  return (rule.multiple_of !== undefined && value % rule.multiple_of !== 0)
    || (rule.min !== undefined && value < rule.min)
    || (rule.max !== undefined && value > rule.max);
}

// What a rule asks, in words: "a multiple of 4 from 16 to 256", "a multiple of 32".
function requirement(rule) {
  const words = [];
  if (rule.multiple_of !== undefined) words.push(`a multiple of ${rule.multiple_of}`);
  if (rule.min !== undefined && rule.max !== undefined) words.push(`from ${rule.min} to ${rule.max}`);
  else if (rule.min !== undefined) words.push(`at least ${rule.min}`);
  else if (rule.max !== undefined) words.push(`at most ${rule.max}`);
  return words.join(' ');
}
