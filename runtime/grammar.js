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
//   matcher.dispose();
//
// JSON is written compactly on one line: xgrammar's "no extra whitespace" layout with separators
// ", " and ": " (as Python's json.dumps writes), so a reply spends no tokens on indentation and a
// model cannot stall in an endless run of whitespace.
//
// Costs (benchmarks/grammar_bench.js prints them): building the vocabulary's tables once per
// engine (about 0.1 s for a 49k vocabulary in Node), compiling a schema (tens of ms; xgrammar
// caches compiled grammars by their text, so a repeated schema costs nothing), and one mask per
// token (well under a millisecond for most steps).

import './xgrammar_globals.js'; // must run before the bundle below
import xgrammar from './vendor/xgrammar.mjs';
import { integerBounds, isEnumeratedRange } from './response_format.js';

const JSON_LAYOUT = { anyWhitespace: false, indent: -1, separators: [', ', ': '] };
const ANY_OBJECT = JSON.stringify({ type: 'object' });

export class GrammarCompiler {
  #compiler;
  #vocabSize;

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
    return new GrammarCompiler(await xgrammar.GrammarCompiler.createGrammarCompiler(info), vocabSize);
  }

  /** Use GrammarCompiler.create(). */
  constructor(compiler, vocabSize) {
    this.#compiler = compiler;
    this.#vocabSize = vocabSize;
  }

  /**
   * Compile a grammar source of runtime/response_format.js ({ kind: 'json_object' },
   * { kind: 'json_schema', schema }, { kind: 'ebnf', ebnf }) or runtime/tool_calls.js
   * ({ kind: 'structural_tag', format }: xgrammar's structural tag format) into a CompiledGrammar.
   * The source must have passed those modules' checks: xgrammar aborts on input it cannot read.
   */
  async compile(source) {
    return new CompiledGrammar(await COMPILE[source.kind](this.#compiler, source), this.#vocabSize);
  }

  /** Frees the compiler's WASM memory; compile() may not be called after. */
  dispose() {
    this.#compiler.dispose();
  }
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
// formats above as their patterns, and a string's length bounds as lengthPattern().
function exactForXgrammar(key, value) {
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

  /** Made by GrammarCompiler.compile(). */
  constructor(compiled, vocabSize) {
    this.#compiled = compiled;
    this.#vocabSize = vocabSize;
  }

  /** A fresh GrammarMatcher at the start of the grammar (one per generated reply). */
  async matcher() {
    return new GrammarMatcher(await xgrammar.GrammarMatcher.createGrammarMatcher(this.#compiled), this.#vocabSize);
  }

  /** Frees the grammar's WASM memory; its matchers must be disposed first. */
  dispose() {
    this.#compiled.dispose();
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
