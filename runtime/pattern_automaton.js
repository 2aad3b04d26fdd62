// A JSON Schema "pattern" as an automaton over the bytes of a JSON string, for constrained
// decoding (string_guard.js steps it as a reply is written; grammar.js gives xgrammar the pattern
// printed back). Patterns are JavaScript regular expressions with the u flag (what ajv runs), in
// the subset response_format.js lets through: no lookaround, backreferences, named groups, \p{...},
// \b, or anchors inside (xgrammar's converter cannot take them); like xgrammar, the pattern must
// match the whole string ("^" and "$" at the ends change nothing), a subset of what ajv's search
// accepts.
//
// A reply's strings are written without escapes where a pattern constrains them, so every
// character class here loses the characters a JSON string cannot hold raw: the control characters
// U+0000-U+001F, the quote and the backslash (and the lone surrogates, which no UTF-8 text holds).
// A pattern is then read as: parsePattern() -> an expression tree over code-point sets;
// printPattern() -> that tree as a regular expression (xgrammar's, where the pattern stays with
// it: it would otherwise write a raw quote or newline into the string for "." or [^a]);
// patternAutomaton() -> a deterministic automaton over UTF-8 bytes (Thompson's construction, then
// the subset construction), trimmed so that every state it can be in can still reach a match.

const MAX_CODE_POINT = 0x10ffff;
// Characters a JSON string cannot hold unescaped, and the UTF-16 surrogates: no character here.
const SURROGATES = [[0xd800, 0xdfff]];
const UNWRITTEN = [[0x00, 0x1f], [0x22, 0x22], [0x5c, 0x5c], ...SURROGATES];

/** Patterns whose automaton would have more states than this are left to xgrammar (null). */
export const MAX_AUTOMATON_STATES = 4096;
const MAX_NFA_STATES = 1 << 16;

// ---------------------------------------------------------------------------------------------
// Code-point sets: sorted, disjoint, non-adjacent [lo, hi] ranges.

function normalise(ranges) {
  const sorted = ranges.filter(([lo, hi]) => lo <= hi).sort((a, b) => a[0] - b[0]);
  const out = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

function complement(ranges) {
  const out = [];
  let next = 0;
  for (const [lo, hi] of normalise(ranges)) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT]);
  return out;
}

const subtract = (ranges, removed) => intersect(ranges, complement(removed));

function intersect(a, b) {
  const out = [];
  for (const [alo, ahi] of normalise(a)) {
    for (const [blo, bhi] of normalise(b)) {
      const lo = Math.max(alo, blo);
      const hi = Math.min(ahi, bhi);
      if (lo <= hi) out.push([lo, hi]);
    }
  }
  return normalise(out);
}

// The character class escapes, as ECMAScript defines them with the u flag (no i flag here).
const DIGIT = [[0x30, 0x39]];
const WORD = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]];
const SPACE = [[0x09, 0x0d], [0x20, 0x20], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a], [0x2028, 0x2029],
               [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000], [0xfeff, 0xfeff]];
const CLASS_ESCAPES = { d: DIGIT, D: complement(DIGIT), w: WORD, W: complement(WORD), s: SPACE, S: complement(SPACE) };
const DOT = complement([[0x0a, 0x0a], [0x0d, 0x0d], [0x2028, 0x2029]]); // "." without the s flag
const CONTROL_ESCAPES = { t: 0x09, n: 0x0a, v: 0x0b, f: 0x0c, r: 0x0d };

// ---------------------------------------------------------------------------------------------
// The expression tree: { set: ranges } | { seq: [node] } | { alt: [node] } | { repeat: node, min,
// max (Infinity: unbounded) } | NEVER (matches nothing: a class left empty).

const NEVER = { alt: [] };
const EMPTY = { seq: [] };
const isNever = (node) => node.alt !== undefined && node.alt.length === 0;

/**
 * Parse `pattern` (a string that `new RegExp(pattern, 'u')` accepts, checked by response_format.js
 * for the features above) into its expression tree, every class without the characters a JSON
 * string cannot hold raw. Throws a SyntaxError naming the position for a feature outside the subset.
 */
export function parsePattern(pattern) {
  return new PatternParser(pattern).parse();
}

/** Whether the tree of parsePattern() matches no string at all (every way through needs a character it lost). */
export const matchesNothing = (tree) => isNever(tree);

class PatternParser {
  constructor(pattern) {
    this.chars = [...pattern]; // code points: an astral character is one
    this.at = 0;
  }

  parse() {
    if (this.chars[0] === '^') this.at = 1;
    const tree = this.alternation();
    if (this.at < this.chars.length) this.fail(`unexpected "${this.chars[this.at]}"`);
    return tree;
  }

  fail(message) {
    throw new SyntaxError(`pattern, character ${this.at + 1}: ${message}`);
  }

  peek() { return this.chars[this.at]; }

  alternation() {
    const branches = [this.sequence()];
    while (this.peek() === '|') {
      this.at += 1;
      branches.push(this.sequence());
    }
    return branches.length === 1 ? branches[0] : alt(branches);
  }

  sequence() {
    const items = [];
    while (this.at < this.chars.length && this.peek() !== '|' && this.peek() !== ')') {
      if (this.peek() === '$' && this.at === this.chars.length - 1) { // the end anchor: matching is whole-string anyway
        this.at += 1;
        continue;
      }
      items.push(this.quantified(this.atom()));
    }
    return seq(items);
  }

  atom() {
    const char = this.chars[this.at++];
    switch (char) {
      case '(': {
        if (this.peek() === '?') {
          if (this.chars[this.at + 1] !== ':') this.fail('only (?: ) groups are supported');
          this.at += 2;
        }
        const inner = this.alternation();
        if (this.chars[this.at++] !== ')') this.fail('missing ")"');
        return inner;
      }
      case '[': return this.characterClass();
      case '.': return set(DOT);
      case '\\': {
        const escaped = this.escape(false);
        return set(Array.isArray(escaped) ? escaped : [[escaped, escaped]]);
      }
      case '^': case '$': return this.fail(`an anchor "${char}" inside the pattern`);
      default: {
        const code = char.codePointAt(0);
        return set([[code, code]]);
      }
    }
  }

  // After a backslash: a code point, or the ranges of a class escape (\d, \w, \s and their negations).
  escape(inClass) {
    const char = this.chars[this.at++];
    if (char === undefined) this.fail('the pattern ends in a backslash');
    if (Object.hasOwn(CLASS_ESCAPES, char)) return CLASS_ESCAPES[char];
    if (Object.hasOwn(CONTROL_ESCAPES, char)) return CONTROL_ESCAPES[char];
    if (char === 'b' && inClass) return 0x08;
    if (char === '0' && !/[0-9]/.test(this.peek() ?? '')) return 0;
    if (char === 'c' && /[A-Za-z]/.test(this.peek() ?? '')) return this.chars[this.at++].codePointAt(0) % 32;
    if (char === 'x') return this.hex(2);
    if (char === 'u') {
      if (this.peek() !== '{') return this.hex(4);
      const end = this.chars.indexOf('}', this.at);
      if (end < 0) this.fail('missing "}" of a \\u{...} escape');
      const code = parseInt(this.chars.slice(this.at + 1, end).join(''), 16);
      this.at = end + 1;
      return code;
    }
    if (/[\^$\\.*+?()[\]{}|/]/.test(char) || (inClass && char === '-')) return char.codePointAt(0);
    return this.fail(`the escape \\${char} is not supported`);
  }

  hex(digits) {
    const text = this.chars.slice(this.at, this.at + digits).join('');
    if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(text)) this.fail(`a \\x or \\u escape needs ${digits} hex digits`);
    this.at += digits;
    return parseInt(text, 16);
  }

  characterClass() {
    const negated = this.peek() === '^';
    if (negated) this.at += 1;
    const ranges = [];
    while (this.peek() !== ']') {
      if (this.at >= this.chars.length) this.fail('missing "]"');
      const lo = this.classAtom();
      if (this.peek() === '-' && this.chars[this.at + 1] !== ']' && this.at + 1 < this.chars.length) {
        this.at += 1;
        const hi = this.classAtom();
        if (Array.isArray(lo) || Array.isArray(hi)) this.fail('a range bounded by a class escape');
        ranges.push([lo, hi]);
      } else {
        ranges.push(...(Array.isArray(lo) ? lo : [[lo, lo]]));
      }
    }
    this.at += 1;
    return set(negated ? complement(ranges) : ranges);
  }

  classAtom() {
    const char = this.chars[this.at++];
    return char === '\\' ? this.escape(true) : char.codePointAt(0);
  }

  quantified(node) {
    const char = this.peek();
    let min;
    let max;
    if (char === '*' || char === '+' || char === '?') {
      this.at += 1;
      [min, max] = { '*': [0, Infinity], '+': [1, Infinity], '?': [0, 1] }[char];
    } else if (char === '{') {
      const match = /^\{(\d+)(,(\d*))?\}/.exec(this.chars.slice(this.at, this.at + 24).join(''));
      if (!match) this.fail('a "{" that starts no quantifier');
      this.at += [...match[0]].length;
      min = Number(match[1]);
      max = match[2] === undefined ? min : match[3] === '' ? Infinity : Number(match[3]);
    } else {
      return node;
    }
    if (this.peek() === '?') this.at += 1; // lazy: the same strings
    return repeat(node, min, max);
  }
}

// Constructors that keep NEVER and the empty sequence simplified away.
function set(ranges) {
  const kept = subtract(ranges, UNWRITTEN);
  return kept.length ? { set: kept } : NEVER;
}

function seq(items) {
  if (items.some(isNever)) return NEVER;
  const kept = items.filter((item) => item.seq === undefined || item.seq.length > 0);
  return kept.length === 1 ? kept[0] : { seq: kept };
}

function alt(branches) {
  const kept = branches.filter((branch) => !isNever(branch));
  return kept.length === 1 ? kept[0] : { alt: kept };
}

function repeat(node, min, max) {
  if (max === 0) return EMPTY;
  if (isNever(node)) return min === 0 ? EMPTY : NEVER;
  return { repeat: node, min, max };
}

// ---------------------------------------------------------------------------------------------
// Printing for xgrammar

/** The tree of parsePattern() as a regular expression (anchored, \u escapes in classes), as xgrammar reads one. */
export function printPattern(tree) {
  return `^(${print(tree)})$`;
}

function print(node) {
  if (node.set) {
    // A set that lacks only ASCII characters is printed as their negated class: xgrammar 0.1.27
    // lets wrong tokens through a class with a range of 3- or 4-byte characters (after the opening
    // quote of a string of "[\u0800-\u0fff]*", a token of three quotes), and takes a negated
    // class of ASCII characters exactly.
    const missing = subtract(complement(node.set), SURROGATES);
    const negated = missing.length > 0 && missing[missing.length - 1][1] < 0x80;
    const ranges = negated ? missing : node.set;
    return `[${negated ? '^' : ''}${ranges.map(([lo, hi]) => (lo === hi ? escapeCode(lo) : `${escapeCode(lo)}-${escapeCode(hi)}`)).join('')}]`;
  }
  if (node.seq) return node.seq.map((item) => (item.alt && item.alt.length > 1 ? `(${print(item)})` : print(item))).join('');
  if (node.alt) {
    if (!node.alt.length) throw new Error('printPattern: the pattern matches nothing (response_format.js refuses it)');
    return node.alt.map(print).join('|');
  }
  const inner = node.repeat.set ? print(node.repeat) : `(${print(node.repeat)})`;
  if (node.max === Infinity) return node.min === 0 ? `${inner}*` : node.min === 1 ? `${inner}+` : `${inner}{${node.min},}`;
  return node.min === node.max ? `${inner}{${node.min}}` : `${inner}{${node.min},${node.max}}`;
}

const escapeCode = (code) => (code <= 0xffff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\u{${code.toString(16)}}`);

// ---------------------------------------------------------------------------------------------
// The automaton

/**
 * The deterministic automaton of `tree` (parsePattern()'s) over the UTF-8 bytes of a string that
 * matches it whole: { states, start, next: Int32Array [states * 256] (the state after a byte; -1:
 * no string that matches continues so), accepting: Uint8Array [states] (1: the bytes so far
 * match) }. Every state reaches an accepting one. null when the pattern matches nothing, or when
 * it needs more than MAX_AUTOMATON_STATES states (a long bounded repetition of a class, say).
 */
export function patternAutomaton(tree) {
  if (isNever(tree)) return null;
  const nfa = new NFA();
  const final = nfa.state();
  let start;
  try {
    start = nfa.build(tree, final);
  } catch (error) {
    if (error instanceof TooBig) return null;
    throw error;
  }
  return determinise(nfa, start, final);
}

class TooBig extends Error {}

// A Thompson automaton over bytes: each state has epsilon moves and byte-range moves.
class NFA {
  constructor() {
    this.epsilon = [];
    this.moves = []; // per state: [lo, hi, to] byte ranges
  }

  state() {
    if (this.epsilon.length >= MAX_NFA_STATES) throw new TooBig();
    this.epsilon.push([]);
    this.moves.push([]);
    return this.epsilon.length - 1;
  }

  // A fragment for `node` that ends in `to`: returns its entry state.
  build(node, to) {
    if (node.set) {
      const entry = this.state();
      for (const sequence of utf8Sequences(node.set)) {
        let from = entry;
        sequence.forEach(([lo, hi], i) => {
          const next = i === sequence.length - 1 ? to : this.state();
          this.moves[from].push([lo, hi, next]);
          from = next;
        });
      }
      return entry;
    }
    if (node.seq) return node.seq.reduceRight((next, item) => this.build(item, next), to);
    if (node.alt) {
      const entry = this.state();
      for (const branch of node.alt) this.epsilon[entry].push(this.build(branch, to));
      return entry;
    }
    // repeat: min copies, then (max - min) optional ones, or a loop for an unbounded max.
    let next = to;
    if (node.max === Infinity) {
      const loop = this.state();
      this.epsilon[loop].push(to, this.build(node.repeat, loop));
      next = loop;
    } else {
      for (let i = node.min; i < node.max; i++) {
        const optional = this.state();
        this.epsilon[optional].push(to, this.build(node.repeat, next));
        next = optional;
      }
    }
    for (let i = 0; i < node.min; i++) next = this.build(node.repeat, next);
    return next;
  }
}

// The UTF-8 forms of the code points in `ranges` (no surrogates) as sequences of byte ranges, each
// sequence one byte range per position (the split of Russ Cox's "Regular Expression Matching in the
// Wild" and Rust's regex-syntax utf8 module, written out here).
function utf8Sequences(ranges) {
  const out = [];
  const split = (lo, hi) => {
    for (const edge of [0x7f, 0x7ff, 0xffff]) { // ranges of one encoded length
      if (lo <= edge && hi > edge) {
        split(lo, edge);
        split(edge + 1, hi);
        return;
      }
    }
    const length = hi <= 0x7f ? 1 : hi <= 0x7ff ? 2 : hi <= 0xffff ? 3 : 4;
    for (let i = 1; i < length; i++) { // each continuation byte position over its full range, or one value
      const mask = (1 << (6 * i)) - 1;
      if ((lo & ~mask) !== (hi & ~mask)) {
        if ((lo & mask) !== 0) {
          split(lo, lo | mask);
          split((lo | mask) + 1, hi);
          return;
        }
        if ((hi & mask) !== mask) {
          split(lo, (hi & ~mask) - 1);
          split(hi & ~mask, hi);
          return;
        }
      }
    }
    const a = encodeUTF8(lo);
    const b = encodeUTF8(hi);
    out.push(a.map((byte, i) => [byte, b[i]]));
  };
  for (const [lo, hi] of ranges) split(lo, hi);
  return out;
}

const UTF8 = new TextEncoder();
const encodeUTF8 = (code) => [...UTF8.encode(String.fromCodePoint(code))];

// The subset construction over byte classes (bytes no move tells apart share one), then the trim.
function determinise(nfa, start, final) {
  const cuts = new Set([0, 256]);
  for (const moves of nfa.moves) for (const [lo, hi] of moves) cuts.add(lo).add(hi + 1);
  const bounds = [...cuts].sort((a, b) => a - b);
  const closure = (states) => {
    const seen = new Set(states);
    const stack = [...states];
    while (stack.length) for (const next of nfa.epsilon[stack.pop()]) if (!seen.has(next)) { seen.add(next); stack.push(next); }
    return [...seen].sort((a, b) => a - b);
  };
  const sets = [];
  const index = new Map();
  const rows = []; // per state: the state after each byte class (-1 none)
  const add = (states) => {
    const key = states.join(',');
    if (!index.has(key)) {
      if (sets.length >= MAX_AUTOMATON_STATES) throw new TooBig();
      index.set(key, sets.length);
      sets.push(states);
    }
    return index.get(key);
  };
  try {
    add(closure([start]));
    for (let s = 0; s < sets.length; s++) {
      const row = [];
      for (let c = 0; c + 1 < bounds.length; c++) {
        const byte = bounds[c];
        const targets = [];
        for (const state of sets[s]) for (const [lo, hi, to] of nfa.moves[state]) if (lo <= byte && byte <= hi) targets.push(to);
        row.push(targets.length ? add(closure(targets)) : -1);
      }
      rows.push(row);
    }
  } catch (error) {
    if (error instanceof TooBig) return null;
    throw error;
  }
  const states = sets.length;
  const accepting = Uint8Array.from(sets, (states) => (states.includes(final) ? 1 : 0));
  // Trim: keep the states from which an accepting one is reachable.
  const live = Uint8Array.from(accepting);
  for (let changed = true; changed;) {
    changed = false;
    for (let s = 0; s < states; s++) {
      if (!live[s] && rows[s].some((to) => to >= 0 && live[to])) { live[s] = 1; changed = true; }
    }
  }
  if (!live[0]) return null;
  const next = new Int32Array(states * 256).fill(-1);
  for (let s = 0; s < states; s++) {
    for (let c = 0; c + 1 < bounds.length; c++) {
      const to = rows[s][c];
      if (to >= 0 && live[to]) next.fill(to, s * 256 + bounds[c], s * 256 + bounds[c + 1]);
    }
  }
  return { states, start: 0, next, accepting };
}
