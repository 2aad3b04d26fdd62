// Constrained decoding: grammars compiled into per-token masks, by xgrammar (npm
// @mlc-ai/web-xgrammar, WASM; vendor/xgrammar.mjs), the library WebLLM uses. One seam for every
// constraint: compile a grammar source (runtime/response_format.js: a JSON Schema, any JSON
// object, an EBNF grammar; runtime/tool_calls.js: a forced tool call's structure) once per request, then per generated token
// ask the matcher for the mask of the tokens that keep the reply a valid prefix, pass it to the
// backend's sample/step (backend.js tokenMask: applied on the GPU before sampling) and tell the
// matcher which token was drawn. Stop tokens are allowed exactly where the grammar may end. Every
// mask also keeps the reply's bytes well-formed UTF-8 (utf8Tables(): xgrammar alone does not).
//
//   const compiler = await GrammarCompiler.create(tokenizer, { vocabSize, stopTokenIds });
//   const grammar = await compiler.compile({ kind: 'json_schema', schema });
//   const matcher = await grammar.matcher();
//   const mask = await matcher.nextTokenMask();   // Uint32Array [ceil(vocabSize / 32)]
//   matcher.acceptToken(sampled.token);
//   matcher.dispose(); grammar.dispose();         // ... compiler.dispose() with the engine
//
// JSON is written compactly on one line: xgrammar's "no extra whitespace" layout with separators
// ", " and ": " (as Python's json.dumps writes), so a reply spends no tokens on indentation and a
// model cannot stall in an endless run of whitespace.
//
// Costs (benchmarks/grammar_bench.js prints them): building the vocabulary's tables once per
// engine (about 0.1 s for a 49k vocabulary in Node, of which the UTF-8 guard's and string_guard.js's
// some tens of ms; 0.13-0.2 s for 128k), compiling a schema (a few ms to tens of ms: xgrammar works out a mask per grammar rule
// over the whole vocabulary, so patterns, formats and length bounds are string_guard.js's where
// it can follow them, and their masks are made as a reply reaches them; the compiler keeps the
// last COMPILED_CACHE_SIZE grammars, so a repeated schema costs nothing), and one mask per token
// (well under a millisecond for most steps; the UTF-8 guard's AND 3-7 µs of it on a 128k vocabulary).

import './xgrammar_globals.js'; // must run before the bundle below
import xgrammar from './vendor/xgrammar.mjs';
import { InvalidRequestError } from './errors.js';
import { parsePattern, printPattern } from './pattern_automaton.js';
import { FORMAT_PATTERNS, integerBounds, isEnumeratedRange, narrowToType } from './response_format.js';
import { CallsPlace, JSONPlace, LIFTED_STRING_PATTERN, StringGuard, liftedStrings, stringTables } from './string_guard.js';

const JSON_LAYOUT = { anyWhitespace: false, indent: -1, separators: [', ', ': '] };
const ANY_OBJECT = JSON.stringify({ type: 'object' });

// Compiled grammars the compiler keeps, by source: a client that sends the same schema with every
// request (the usual way) compiles it once. Bounded, since a service worker lives long and each
// grammar holds WASM memory (xgrammar's own cache, which has no bound, is off).
export const COMPILED_CACHE_SIZE = 16;

export class GrammarCompiler {
  #info;
  #compiler;
  #utf8; // utf8Tables() of the vocabulary
  #strings; // string_guard.js stringTables() of the vocabulary
  #cache = new Map(); // key of a source -> { compiled: xgrammar CompiledGrammar, guard, users, evicted }, oldest use first

  /**
   * The compiler for one model: `tokenizer` (tokenizer.js Tokenizer: its grammarVocabulary),
   * `vocabSize` (the model's logits per position; ids from the tokenizer's size on are never
   * allowed), `stopTokenIds` (the manifest's stop_token_ids: allowed where the grammar may end).
   */
  static async create(tokenizer, { vocabSize, stopTokenIds }) {
    const { tokens, vocabType } = tokenizer.grammarVocabulary;
    // Ids past the model's logits (a tokenizer larger than its embedding) can never be drawn.
    const info = await xgrammar.TokenizerInfo.createTokenizerInfo(tokens.slice(0, vocabSize), vocabType, false, vocabSize,
                                                                  stopTokenIds);
    try {
      const utf8 = utf8Tables(tokenizer, vocabSize, stopTokenIds);
      const strings = stringTables((id) => tokenizer.tokenBytes(id), vocabSize, stopTokenIds);
      const compiler = await xgrammar.GrammarCompiler.createGrammarCompiler(info, false);
      return new GrammarCompiler(info, compiler, utf8, strings);
    } catch (error) {
      info.dispose();
      throw error;
    }
  }

  /** Use GrammarCompiler.create(). */
  constructor(info, compiler, utf8, strings) {
    this.#info = info;
    this.#compiler = compiler;
    this.#utf8 = utf8;
    this.#strings = strings;
  }

  /**
   * Compile a grammar source of runtime/response_format.js ({ kind: 'json_object' },
   * { kind: 'json_schema', schema }, { kind: 'ebnf', ebnf }) or runtime/tool_calls.js
   * ({ kind: 'structural_tag', format }: xgrammar's structural tag format) into a CompiledGrammar,
   * which the caller disposes when done. One of the last COMPILED_CACHE_SIZE sources compiled comes
   * from the cache (microseconds). The source must have passed those modules' checks: xgrammar
   * aborts on input it cannot read. The strings with a pattern, format or length bounds of a JSON
   * Schema, or of a tool's parameters, are enforced by string_guard.js where it can (`liftStrings`;
   * false: all by xgrammar, slow to compile, which the tests compare it with).
   */
  async compile(source, { liftStrings = true } = {}) {
    const key = JSON.stringify([source, liftStrings]);
    let entry = this.#cache.get(key);
    if (entry) {
      this.#cache.delete(key); // moved to the newest end
    } else {
      const { compiled, place } = await COMPILE[source.kind](this.#compiler, source, liftStrings);
      const tables = this.#strings;
      entry = { compiled, guard: place && (() => new StringGuard(place(), tables)), users: 0, evicted: false }; // a guard per reply
    }
    this.#cache.set(key, entry);
    for (const [oldKey, old] of this.#cache) {
      if (this.#cache.size <= COMPILED_CACHE_SIZE) break;
      this.#cache.delete(oldKey);
      evict(old);
    }
    entry.users += 1;
    return new CompiledGrammar(entry.compiled, this.#utf8, entry.guard, () => release(entry));
  }

  /** Frees the compiler's WASM memory (its cache and vocabulary tables); compile() may not be called after. */
  dispose() {
    for (const entry of this.#cache.values()) evict(entry);
    this.#cache.clear();
    this.#compiler.dispose();
    this.#info.dispose();
  }
}

// A cache entry's WASM memory is freed once it is out of the cache and no CompiledGrammar uses it.
function evict(entry) {
  entry.evicted = true;
  if (entry.users === 0) entry.compiled.dispose();
}

function release(entry) {
  entry.users -= 1;
  if (entry.evicted && entry.users === 0) entry.compiled.dispose();
}

const compileJSON = (compiler, schemaText) => compiler.compileJSONSchema(
  schemaText, JSON_LAYOUT.anyWhitespace, JSON_LAYOUT.indent, JSON_LAYOUT.separators, true);

// A string of minLength/maxLength characters as a pattern: xgrammar 0.1.27 writes a bounded
// string's characters as [^"\\\r\n], letting raw control characters (U+0000-U+001F) into it, which
// JSON forbids (JSON.parse refuses the reply). The pattern takes any character but those, the quote
// and the backslash: replies use no escapes in such strings, a subset of the valid ones.
const lengthPattern = ({ minLength = 0, maxLength }) => `^[^\\x00-\\x1f"\\\\]{${minLength},${maxLength ?? ''}}$`;

// The schema xgrammar gets, as JSON text: the strings of `lifted` (string_guard.js) without their
// pattern, format and bounds, which its guard enforces, and the rest as exactForXgrammar. Every
// lifted string refers to one definition, added to the root's $defs: xgrammar then works out the
// masks of that one rule, where a rule per string cost about 5 ms each on a 128k vocabulary.
function forXgrammar(schema, lifted) {
  if (lifted.size === 0) return JSON.stringify(schema, exactForXgrammar);
  let name = 'sitegen_lifted_string';
  while (Object.hasOwn(schema.$defs ?? {}, name)) name += '_';
  const ref = { $ref: `#/$defs/${name}` };
  const root = lifted.has(schema) ? withoutBounds(schema, ref) : schema;
  const defs = { ...schema.$defs, [name]: { type: 'string', pattern: LIFTED_STRING_PATTERN } };
  return JSON.stringify({ ...root, $defs: defs }, (key, value) => (lifted.has(value) ? withoutBounds(value, ref) : exactForXgrammar(key, value)));
}

// A lifted string's node as `ref` (the free string's definition); a "type" array as the anyOf of
// its types, the string one so.
function withoutBounds(value, ref) {
  if (!Array.isArray(value.type)) return ref;
  const { minLength, maxLength, pattern, format, ...rest } = value;
  return { anyOf: value.type.map((type) => (type === 'string' ? ref : narrowToType(rest, type))) };
}

// The schema as xgrammar enforces it exactly (a JSON.stringify replacer): an integer as
// exactInteger() writes it (xgrammar's own integer ranges are inexact: response_format.js,
// "Numeric bounds"), a pattern or a format of FORMAT_PATTERNS as pattern_automaton.js prints it
// (without the characters a string holds escaped: xgrammar would write a raw quote or newline for
// "." or [^a]), and a string's length bounds as lengthPattern(). A "type" array is read as its types: one type as that type, several ({"type":
// ["string", "null"], "format": "date"}) as the anyOf of the schema narrowed to each type, where a
// rewrite applies to one of them (the replacer then rewrites each branch).
function exactForXgrammar(key, value) {
  if (!Array.isArray(value?.type)) return exactForOneType(value);
  if (value.type.length === 1) return exactForOneType({ ...value, type: value.type[0] });
  const branches = value.type.map((type) => narrowToType(value, type));
  return branches.some((branch) => exactForOneType(branch) !== branch) ? { anyOf: branches } : value;
}

function exactForOneType(value) {
  if (value?.type === 'integer' && !('enum' in value) && !('const' in value)) return exactInteger(value);
  if (value?.type === 'string' && (value.pattern !== undefined || Object.hasOwn(FORMAT_PATTERNS, value.format))) {
    const { format, pattern, ...rest } = value;
    return { ...rest, pattern: printPattern(parsePattern(pattern ?? FORMAT_PATTERNS[format])) };
  }
  if (value?.type === 'string' && (value.minLength !== undefined || value.maxLength !== undefined)
      && value.pattern === undefined && value.format === undefined) {
    const { minLength, maxLength, ...rest } = value;
    return { ...rest, pattern: lengthPattern({ minLength, maxLength }) };
  }
  return value;
}

// An integer schema as xgrammar enforces it exactly: a range of up to MAX_ENUMERATED_INTEGERS values
// as their enum, any other (unbounded, or "minimum" 0 or 1 alone: all response_format.js lets
// through) within ±Number.MAX_SAFE_INTEGER (2^53 - 1), so that JSON.parse reads every reply's
// integer exactly (a 20-digit one would be rounded). xgrammar writes these ranges as exact digit
// patterns (checked digit by digit in tests/js/grammar.test.js).
function exactInteger(value) {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum, ...rest } = value;
  const range = integerBounds(value) ?? { low: -Infinity, high: Infinity };
  if (isEnumeratedRange(range)) {
    const { type, ...untyped } = rest;
    return { ...untyped, enum: Array.from({ length: range.high - range.low + 1 }, (_, i) => range.low + i) };
  }
  return { ...rest, minimum: Math.max(range.low, -Number.MAX_SAFE_INTEGER), maximum: Math.min(range.high, Number.MAX_SAFE_INTEGER) };
}

// Per source kind: (xgrammar compiler, source, liftStrings) -> { compiled: xgrammar's
// CompiledGrammar, place: a function making a reply's string_guard.js place where strings are
// lifted, else null }.
const COMPILE = {
  json_object: async (compiler) => ({ compiled: await compileJSON(compiler, ANY_OBJECT), place: null }),
  json_schema: async (compiler, { schema }, liftStrings) => {
    const lifted = liftStrings ? liftedStrings(schema) : new Map();
    return { compiled: await compileJSON(compiler, forXgrammar(schema, lifted)),
             place: lifted.size > 0 ? () => new JSONPlace(schema, lifted) : null };
  },
  ebnf: async (compiler, { ebnf }) => ({ compiled: await compiler.compileGrammar(ebnf, 'root'), place: null }),
  structural_tag: async (compiler, { format }, liftStrings) => {
    const openings = [];
    const compact = await compactJSON(format, liftStrings ? openings : null);
    return { compiled: await compiler.compileStructuralTag(JSON.stringify({ type: 'structural_tag', format: compact })),
             place: openings.some(({ lifted }) => lifted.size > 0) ? () => new CallsPlace(openings) : null };
  },
};

// A structural tag's format (xgrammar's structural_tag.d.ts) with each { type: 'json_schema' } part
// replaced by the EBNF of its schema as forXgrammar gives it, in JSON_LAYOUT: xgrammar writes a
// structural tag's schemas with any whitespace anywhere (a random or unsure model can spend its
// tokens on it), and without the rewrites above. xgrammar renames the grammars' rules apart when it
// joins them. Where `openings` is an array (strings are lifted), a tag's schema has its strings
// lifted, and the tag's begin (the text just before the JSON), schema and lifted strings are added
// to it, as string_guard.js CallsPlace reads them.
async function compactJSON(format, openings) {
  if (Array.isArray(format)) return Promise.all(format.map((part) => compactJSON(part, openings)));
  if (!format || typeof format !== 'object') return format;
  if (format.type === 'tag' && format.content?.type === 'json_schema' && openings) {
    const schema = format.content.json_schema;
    const lifted = liftedStrings(schema);
    openings.push({ begin: new TextEncoder().encode(format.begin), schema, lifted });
    return { ...format, content: await jsonGrammar(forXgrammar(schema, lifted)) };
  }
  if (format.type === 'json_schema') return jsonGrammar(forXgrammar(format.json_schema, new Map()));
  const entries = await Promise.all(Object.entries(format).map(async ([key, value]) => [key, await compactJSON(value, openings)]));
  return Object.fromEntries(entries);
}

// A structural tag's grammar part for the JSON Schema text `schema`.
async function jsonGrammar(schema) {
  const grammar = await xgrammar.Grammar.fromJSONSchema(schema, JSON_LAYOUT.anyWhitespace, JSON_LAYOUT.indent,
                                                        JSON_LAYOUT.separators, true);
  try {
    return { type: 'grammar', grammar: grammar.toString() };
  } finally {
    grammar.dispose();
  }
}

// Well-formed UTF-8, as a guard over xgrammar's masks. xgrammar 0.1.27 reads a multi-byte
// character loosely (a lead byte, then any continuation bytes 80-BF), so its masks let a
// byte-level vocabulary write overlong forms (E0 80 80), surrogates (ED A0 80) and code points past
// U+10FFFF (F4 90 80 80) into a string: each byte of them decodes to U+FFFD, so the text is not
// what the grammar matched and a string can outgrow its maxLength. The guard runs the decoding
// automaton of Unicode's Table 3-7 ("Well-Formed UTF-8 Byte Sequences", The Unicode Standard, ch. 3)
// beside the grammar. Its states: UTF8_ACCEPT between characters; 1, 2, 3: that many continuation
// bytes 80-BF still to come; 4-7: after the lead bytes E0, ED, F0, F4, whose second byte has the
// narrower range A0-BF, 80-9F, 90-BF, 80-8F (then 1, 1, 2, 2 bytes to come).
const UTF8_ACCEPT = 0;
const UTF8_STATES = 8;
const UTF8_INVALID = 255;
// UTF8_NEXT[state * 256 + byte]: the state after `byte`, UTF8_INVALID where Table 3-7 has no such sequence.
const UTF8_NEXT = (() => {
  const next = new Uint8Array(UTF8_STATES * 256).fill(UTF8_INVALID);
  const set = (state, low, high, to) => next.fill(to, state * 256 + low, state * 256 + high + 1);
  set(0, 0x00, 0x7f, 0); set(0, 0xc2, 0xdf, 1); set(0, 0xe0, 0xe0, 4); set(0, 0xe1, 0xec, 2);
  set(0, 0xed, 0xed, 5); set(0, 0xee, 0xef, 2); set(0, 0xf0, 0xf0, 6); set(0, 0xf1, 0xf3, 3); set(0, 0xf4, 0xf4, 7);
  set(1, 0x80, 0xbf, 0); set(2, 0x80, 0xbf, 1); set(3, 0x80, 0xbf, 2);
  set(4, 0xa0, 0xbf, 1); set(5, 0x80, 0x9f, 1); set(6, 0x90, 0xbf, 2); set(7, 0x80, 0x8f, 2);
  return next;
})();

/**
 * The UTF-8 guard's tables for a vocabulary, made once per compiler: { vocabSize, words:
 * ceil(vocabSize / 32), after: Uint8Array [UTF8_STATES * vocabSize] (the decoder's state after
 * token t's bytes (tokenizer.tokenBytes) from state s at s * vocabSize + t, UTF8_INVALID where
 * they are not well-formed from there), masks: one Uint32Array [words] per state (the tokens
 * whose `after` is valid, in tokenMask layout) }. A token may end inside a character (the next
 * token goes on from the state it leaves); a stop token is valid only at UTF8_ACCEPT, so a reply
 * never ends inside a character.
 */
function utf8Tables(tokenizer, vocabSize, stopTokenIds) {
  const words = Math.ceil(vocabSize / 32);
  const after = new Uint8Array(UTF8_STATES * vocabSize).fill(UTF8_INVALID);
  const masks = Array.from({ length: UTF8_STATES }, () => new Uint32Array(words));
  const stops = new Set(stopTokenIds);
  for (let token = 0; token < vocabSize; token++) {
    const isStop = stops.has(token);
    const bytes = isStop ? [] : tokenizer.tokenBytes(token); // a stop token writes no text
    for (let start = 0; start < UTF8_STATES; start++) {
      if (isStop && start !== UTF8_ACCEPT) continue;
      let state = start;
      for (let i = 0; i < bytes.length && state !== UTF8_INVALID; i++) state = UTF8_NEXT[state * 256 + bytes[i]];
      if (state === UTF8_INVALID) continue;
      after[start * vocabSize + token] = state;
      masks[start][token >>> 5] |= 1 << (token & 31);
    }
  }
  return { vocabSize, words, after, masks };
}

export class CompiledGrammar {
  #compiled;
  #utf8;
  #guard;
  #release;

  /**
   * Made by GrammarCompiler.compile(): `utf8` its vocabulary's utf8Tables(), `guard()` makes a
   * reply's StringGuard (null: no lifted strings), `release()` hands the grammar back to the
   * compiler's cache.
   */
  constructor(compiled, utf8, guard, release) {
    this.#compiled = compiled;
    this.#utf8 = utf8;
    this.#guard = guard;
    this.#release = release;
  }

  /** A fresh GrammarMatcher at the start of the grammar (one per generated reply). */
  async matcher() {
    const matcher = await xgrammar.GrammarMatcher.createGrammarMatcher(this.#compiled);
    return new GrammarMatcher(matcher, this.#utf8, this.#guard?.() ?? null);
  }

  /**
   * Done with the grammar: its matchers must be disposed first, and matcher() not called after.
   * Its WASM memory is freed once the compiler's cache has dropped it too. Call once.
   */
  dispose() {
    this.#release();
  }
}

/**
 * Throws the InvalidRequestError of a grammar whose nextTokenMask() `mask` allows no token, naming
 * `field` (the request field the grammar comes from: response_format, tool_choice); `first`:
 * whether the mask is the reply's first (the grammar matches no text at all) or a later one (the
 * reply so far has no continuation). response_format.js and tool_calls.js refuse the known ways to
 * write such a grammar; this is their backstop, checked at every token (the sampler needs at least
 * one allowed token: backend.js).
 */
export function assertAllowsAToken(mask, { field, first }) {
  if (mask.some((word) => word !== 0)) return;
  const what = first ? 'allows no reply at all: its grammar matches no text'
    : 'allows no next token: its grammar goes on from the reply so far with no text';
  throw new InvalidRequestError(`${field} ${what} that this model's tokens can write as well-formed UTF-8. Check it for `
                                + 'a rule that never ends (such as root ::= root "a", with no alternative to stop at), '
                                + 'or a character that has no UTF-8 form (a lone surrogate such as \\ud800).', { field });
}

export class GrammarMatcher {
  #matcher;
  #utf8;
  #strings; // string_guard.js StringGuard, or null
  #utf8State = UTF8_ACCEPT; // where the reply's bytes so far leave the UTF-8 decoder

  /** Made by CompiledGrammar.matcher(). */
  constructor(matcher, utf8, strings) {
    this.#matcher = matcher;
    this.#utf8 = utf8;
    this.#strings = strings;
  }

  /**
   * The tokens allowed next, as backend.js's tokenMask: Uint32Array of ceil(vocabSize / 32) words,
   * token t allowed when bit (t & 31) of word (t >> 5) is set (xgrammar's own layout): those the
   * grammar allows that also keep the reply's bytes well-formed UTF-8 (utf8Tables()) and its
   * lifted strings on their patterns and within their lengths (string_guard.js). A fresh
   * array each call. After the grammar has ended (isTerminated) no token is allowed. Before, it may
   * allow none too, where the grammar matches nothing this model's tokens can write (or, the UTF-8
   * guard ANDed in, nothing well-formed): assertAllowsAToken() says so.
   */
  async nextTokenMask() {
    const mask = await this.#matcher.getNextTokenBitmask();
    const allowed = new Uint32Array(mask.buffer, mask.byteOffset, this.#utf8.words);
    const wellFormed = this.#utf8.masks[this.#utf8State];
    for (let i = 0; i < allowed.length; i++) allowed[i] &= wellFormed[i];
    this.#strings?.restrict(allowed);
    return allowed;
  }

  /**
   * Advance past `token` (the id just sampled under nextTokenMask()'s mask). Throws an Error if
   * the grammar or UTF-8 does not allow it: the caller sampled outside the mask (a bug, not a user
   * error).
   */
  acceptToken(token) {
    const state = this.#utf8.after[this.#utf8State * this.#utf8.vocabSize + token];
    if (state === UTF8_INVALID || !this.#matcher.acceptToken(token)) {
      throw new Error(`token ${token} was sampled outside the grammar's mask`);
    }
    this.#utf8State = state;
    this.#strings?.accept(token);
  }

  /** Whether the grammar has ended: it accepted a stop token. */
  get isTerminated() {
    return this.#matcher.isTerminated();
  }

  /** Frees the matcher's WASM memory. */
  dispose() {
    this.#matcher.dispose();
  }
}
