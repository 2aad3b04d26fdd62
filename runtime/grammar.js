// Constrained decoding: grammars compiled into per-token masks, by xgrammar (npm
// @mlc-ai/web-xgrammar, WASM; vendor/xgrammar.mjs), the library WebLLM uses. One seam for every
// constraint: compile a grammar source (runtime/response_format.js: a JSON Schema, any JSON
// object, an EBNF grammar; runtime/tool_calls.js: a forced tool call's structure) once per request, then per generated token
// ask the matcher for the mask of the tokens that keep the reply a valid prefix, pass it to the
// backend's sample/step (backend.js tokenMask: applied on the GPU before sampling) and tell the
// matcher which token was drawn. Stop tokens are allowed exactly where the grammar may end.
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
// engine (about 0.1 s for a 49k vocabulary in Node), compiling a schema (tens of ms; the compiler
// keeps the last COMPILED_CACHE_SIZE grammars, so a repeated schema costs nothing), and one mask per
// token (well under a millisecond for most steps).

import './xgrammar_globals.js'; // must run before the bundle below
import xgrammar from './vendor/xgrammar.mjs';
import { integerBounds, isEnumeratedRange, narrowToType } from './response_format.js';

const JSON_LAYOUT = { anyWhitespace: false, indent: -1, separators: [', ', ': '] };
const ANY_OBJECT = JSON.stringify({ type: 'object' });

// Compiled grammars the compiler keeps, by source: a client that sends the same schema with every
// request (the usual way) compiles it once. Bounded, since a service worker lives long and each
// grammar holds WASM memory (xgrammar's own cache, which has no bound, is off).
export const COMPILED_CACHE_SIZE = 16;

export class GrammarCompiler {
  #info;
  #compiler;
  #vocabSize;
  #cache = new Map(); // JSON of a source -> { compiled: xgrammar CompiledGrammar, users, evicted }, oldest use first

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
      return new GrammarCompiler(info, await xgrammar.GrammarCompiler.createGrammarCompiler(info, false), vocabSize);
    } catch (error) {
      info.dispose();
      throw error;
    }
  }

  /** Use GrammarCompiler.create(). */
  constructor(info, compiler, vocabSize) {
    this.#info = info;
    this.#compiler = compiler;
    this.#vocabSize = vocabSize;
  }

  /**
   * Compile a grammar source of runtime/response_format.js ({ kind: 'json_object' },
   * { kind: 'json_schema', schema }, { kind: 'ebnf', ebnf }) or runtime/tool_calls.js
   * ({ kind: 'structural_tag', format }: xgrammar's structural tag format) into a CompiledGrammar,
   * which the caller disposes when done. One of the last COMPILED_CACHE_SIZE sources compiled comes
   * from the cache (microseconds). The source must have passed those modules' checks: xgrammar
   * aborts on input it cannot read.
   */
  async compile(source) {
    const key = JSON.stringify(source);
    let entry = this.#cache.get(key);
    if (entry) {
      this.#cache.delete(key); // moved to the newest end
    } else {
      entry = { compiled: await COMPILE[source.kind](this.#compiler, source), users: 0, evicted: false };
    }
    this.#cache.set(key, entry);
    for (const [oldKey, old] of this.#cache) {
      if (this.#cache.size <= COMPILED_CACHE_SIZE) break;
      this.#cache.delete(oldKey);
      evict(old);
    }
    entry.users += 1;
    return new CompiledGrammar(entry.compiled, this.#vocabSize, () => release(entry));
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

// Exact patterns for the formats xgrammar 0.1.27 writes too loosely: its "date" takes day 31 in
// every month (2023-02-31), and its "time" second 60 at any minute. These take each month's days,
// February 29 in leap years only (Gregorian: every 4th year but not centuries, except every 400th),
// and seconds 00-59 with a required offset: valid RFC 3339 values only (no leap seconds).
const DATE = '([0-9]{4}-(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|[0-9]{4}-(0[469]|11)-(0[1-9]|[12][0-9]|30)'
  + '|[0-9]{4}-02-(0[1-9]|1[0-9]|2[0-8])|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)-02-29)';
const TIME = '([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])';
const EXACT_FORMATS = { date: `^${DATE}$`, time: `^${TIME}$`, 'date-time': `^${DATE}T${TIME}$` };

// A string of minLength/maxLength characters as a pattern: xgrammar 0.1.27 writes a bounded
// string's characters as [^"\\\r\n], letting raw control characters (U+0000-U+001F) into it, which
// JSON forbids (JSON.parse refuses the reply). The pattern takes any character but those, the quote
// and the backslash: replies use no escapes in such strings, a subset of the valid ones.
const lengthPattern = ({ minLength = 0, maxLength }) => `^[^\\x00-\\x1f"\\\\]{${minLength},${maxLength ?? ''}}$`;

// The schema as xgrammar enforces it exactly (a JSON.stringify replacer): a bounded integer as the
// enum of its values (its integer ranges are inexact: response_format.js, "Numeric bounds"), the
// formats above as their patterns, and a string's length bounds as lengthPattern(). A "type" array
// is read as its types: one type as that type, several ({"type": ["string", "null"], "format":
// "date"}) as the anyOf of the schema narrowed to each type, where a rewrite applies to one of them
// (the replacer then rewrites each branch).
function exactForXgrammar(key, value) {
  if (!Array.isArray(value?.type)) return exactForOneType(value);
  if (value.type.length === 1) return exactForOneType({ ...value, type: value.type[0] });
  const branches = value.type.map((type) => narrowToType(value, type));
  return branches.some((branch) => exactForOneType(branch) !== branch) ? { anyOf: branches } : value;
}

function exactForOneType(value) {
  const range = value?.type === 'integer' ? integerBounds(value) : null;
  if (range && isEnumeratedRange(range)) {
    const { minimum, maximum, exclusiveMinimum, exclusiveMaximum, type, ...rest } = value;
    return { ...rest, enum: Array.from({ length: range.high - range.low + 1 }, (_, i) => range.low + i) };
  }
  if (value?.type === 'string' && Object.hasOwn(EXACT_FORMATS, value.format)) {
    const { format, ...rest } = value;
    return { ...rest, pattern: EXACT_FORMATS[format] };
  }
  if (value?.type === 'string' && (value.minLength !== undefined || value.maxLength !== undefined)
      && value.pattern === undefined && value.format === undefined) {
    const { minLength, maxLength, ...rest } = value;
    return { ...rest, pattern: lengthPattern({ minLength, maxLength }) };
  }
  return value;
}

const COMPILE = {
  json_object: (compiler) => compileJSON(compiler, ANY_OBJECT),
  json_schema: (compiler, { schema }) => compileJSON(compiler, JSON.stringify(schema, exactForXgrammar)),
  ebnf: (compiler, { ebnf }) => compiler.compileGrammar(ebnf, 'root'),
  structural_tag: async (compiler, { format }) => compiler.compileStructuralTag(
    JSON.stringify({ type: 'structural_tag', format: await compactJSON(format) })),
};

// A structural tag's format (xgrammar's structural_tag.d.ts) with each { type: 'json_schema' } part
// replaced by the EBNF of its schema in JSON_LAYOUT: xgrammar writes a structural tag's schemas with
// any whitespace anywhere (a random or unsure model can spend its tokens on it), and without the
// exact rewrites above. xgrammar renames the grammars' rules apart when it joins them.
async function compactJSON(format) {
  if (Array.isArray(format)) return Promise.all(format.map(compactJSON));
  if (!format || typeof format !== 'object') return format;
  if (format.type === 'json_schema') {
    const schema = JSON.stringify(format.json_schema, exactForXgrammar);
    const grammar = await xgrammar.Grammar.fromJSONSchema(schema, JSON_LAYOUT.anyWhitespace, JSON_LAYOUT.indent,
                                                          JSON_LAYOUT.separators, true);
    try {
      return { type: 'grammar', grammar: grammar.toString() };
    } finally {
      grammar.dispose();
    }
  }
  const entries = await Promise.all(Object.entries(format).map(async ([key, value]) => [key, await compactJSON(value)]));
  return Object.fromEntries(entries);
}

export class CompiledGrammar {
  #compiled;
  #vocabSize;
  #release;

  /** Made by GrammarCompiler.compile(); `release()` hands the grammar back to the compiler's cache. */
  constructor(compiled, vocabSize, release) {
    this.#compiled = compiled;
    this.#vocabSize = vocabSize;
    this.#release = release;
  }

  /** A fresh GrammarMatcher at the start of the grammar (one per generated reply). */
  async matcher() {
    return new GrammarMatcher(await xgrammar.GrammarMatcher.createGrammarMatcher(this.#compiled), this.#vocabSize);
  }

  /**
   * Done with the grammar: its matchers must be disposed first, and matcher() not called after.
   * Its WASM memory is freed once the compiler's cache has dropped it too. Call once.
   */
  dispose() {
    this.#release();
  }
}

export class GrammarMatcher {
  #matcher;
  #vocabSize;

  /** Made by CompiledGrammar.matcher(). */
  constructor(matcher, vocabSize) {
    this.#matcher = matcher;
    this.#vocabSize = vocabSize;
  }

  /**
   * The tokens allowed next, as backend.js's tokenMask: Uint32Array of ceil(vocabSize / 32) words,
   * token t allowed when bit (t & 31) of word (t >> 5) is set (xgrammar's own layout). A fresh
   * array each call. After the grammar has ended (isTerminated) no token is allowed.
   */
  async nextTokenMask() {
    const mask = await this.#matcher.getNextTokenBitmask();
    return new Uint32Array(mask.buffer, mask.byteOffset, Math.ceil(this.#vocabSize / 32));
  }

  /**
   * Advance past `token` (the id just sampled under nextTokenMask()'s mask). Throws an Error if
   * the grammar does not allow it: the caller sampled outside the mask (a bug, not a user error).
   */
  acceptToken(token) {
    if (!this.#matcher.acceptToken(token)) throw new Error(`token ${token} was sampled outside the grammar's mask`);
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
