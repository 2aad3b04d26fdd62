// String lengths (JSON Schema minLength / maxLength) enforced beside xgrammar rather than by it.
// xgrammar 0.1.27 writes a bounded string as one grammar rule per character place (up to 15 places
// unrolled, then its repeat rule) and works out each rule's mask over the whole vocabulary when it
// compiles: about 20 ms per place on a 128k vocabulary in WASM, so "maxLength": 16 took 0.35 s to
// compile and "maxLength": 200 6.5 s (README, "Structured output"). Here xgrammar gets such a
// string without its bounds, as the same characters repeated freely (one rule, compiled in
// milliseconds), and this guard counts the characters as the reply is written: while a reply is
// inside a bounded string, a token that would take it past maxLength, or close it (its `"`) below
// minLength, is taken out of the mask. The masks are the ones xgrammar's own bounds give
// (tests/js/grammar.test.js compares them mask for mask along walks through the corpus).
//
// A string's bounds are lifted only where the guard always knows, from the reply's text, that a
// string is an instance of that schema node: reached from the root through properties,
// additionalProperties, items, prefixItems and $ref, and through an anyOf or a "type" array only
// where the value's first byte picks one branch ("[", "{", '"', a digit...: a nullable string,
// anyOf [string, object]). A bounded string that can also be reached another way (under an anyOf
// of two object shapes, say) keeps its bounds in xgrammar, exact but slow to compile.
//
// The guard reads the reply's bytes with a small JSON reader (JSONPlace): where the reply is, which
// schema node each container and value has, and, inside a lifted string, how many characters it
// holds. Characters are code points (JSON Schema's length, as ajv and Python's len count them),
// counted at their first byte, so a token that ends inside a character has counted it. A lifted
// string has no escapes (its characters are those of grammar.js's lengthPattern: any but the
// control characters, the quote and the backslash), so each character is one code point.
//
// Per token: tokens with no `"` byte cannot enter or leave a string, so inside a lifted string
// they are kept by one precomputed mask per number of characters left (those that start at most
// that many), and elsewhere they are not looked at; each token with a `"` that the grammar allows
// (1,345 of Llama 3's 128k tokens have one) is read from the reply's place by a copy of the reader.

import { constrainingKeywords, resolvePointer } from './response_format.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The pattern xgrammar gets for a lifted string: lengthPattern's characters, any number of them. */
export const LIFTED_STRING_PATTERN = '^[^\\x00-\\x1f"\\\\]*$';

// ---------------------------------------------------------------------------------------------
// Which schema node a value has: the rules JSONPlace follows, and liftedStrings() walks.

const KINDS = ['string', 'object', 'array', 'number', 'boolean', 'null'];

// The kind of JSON value that starts with `byte`.
function kindOf(byte) {
  switch (byte) {
    case QUOTE: return 'string';
    case 0x7b: return 'object'; // {
    case 0x5b: return 'array'; // [
    case 0x74: case 0x66: return 'boolean'; // t, f
    case 0x6e: return 'null'; // n
    default: return 'number';
  }
}

const kindOfType = (type) => (type === 'integer' ? 'number' : type);

function kindOfValue(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'object' ? 'object' : typeof value; // string, number, boolean
}

// The kinds of values `node` may take, as xgrammar reads a schema (response_format.js hasType): by
// "type", enum/const by their values, anyOf by its branches, else by structural keywords; all kinds
// where it says nothing. Over-approximating is safe: more overlap only means fewer lifted strings.
function kindsOf(node, root, seen = new Set()) {
  if (node === null || typeof node !== 'object' || seen.has(node)) return new Set(KINDS);
  seen.add(node);
  if (node.$ref !== undefined) return kindsOf(resolvePointer(root, node.$ref, '$ref'), root, seen);
  if ('const' in node) return new Set([kindOfValue(node.const)]);
  if ('enum' in node) return new Set(node.enum.map(kindOfValue));
  if (node.type !== undefined) return new Set([node.type].flat().map(kindOfType));
  if (node.anyOf) return new Set(node.anyOf.flatMap((branch) => [...kindsOf(branch, root, new Set(seen))]));
  if ('properties' in node || 'additionalProperties' in node) return new Set(['object']);
  if ('items' in node || 'prefixItems' in node) return new Set(['array']);
  return new Set(KINDS);
}

// The node whose rules a value of `kind` at `node` follows: $ref followed, an anyOf's one branch of
// that kind. null ("opaque": the guard does not follow this value inside) for a value any schema
// node fits (true, {}), enum or const (xgrammar writes their values whole), an anyOf with keywords
// beside it, or one with several branches of that kind; undefined where no branch has the kind.
function resolve(node, kind, root) {
  for (let hops = 0; node !== null && typeof node === 'object'; hops++) {
    if (hops > 64) return null; // a $ref / anyOf loop that never reaches a value's schema
    if (node.$ref !== undefined) {
      node = resolvePointer(root, node.$ref, '$ref');
    } else if ('enum' in node || 'const' in node) {
      return null;
    } else if (node.anyOf) {
      if (constrainingKeywords(node).some((keyword) => keyword !== 'anyOf')) return null;
      const branches = node.anyOf.filter((branch) => kindsOf(branch, root).has(kind));
      if (branches.length !== 1) return branches.length === 0 ? undefined : null;
      node = branches[0];
    } else {
      return constrainingKeywords(node).length === 0 ? null : node;
    }
  }
  return null;
}

// The schema node of the value of property `key` of an object of `node`, of item `index` of an
// array of `node`; null where the guard does not follow it.
function propertyNode(node, key) {
  if (node === null) return null;
  if (node.properties && Object.hasOwn(node.properties, key)) return node.properties[key];
  return isSchema(node.additionalProperties) ? node.additionalProperties : null;
}

function itemNode(node, index) {
  if (node === null) return null;
  if (node.prefixItems && index < node.prefixItems.length) return node.prefixItems[index];
  return isSchema(node.items) ? node.items : null;
}

const isSchema = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

// Whether `node` is a string with length bounds whose characters grammar.js would give xgrammar
// as lengthPattern() (no pattern or format of its own, no enum or const).
export function isBoundedString(node) {
  return [node.type].flat().includes('string') && (node.minLength !== undefined || node.maxLength !== undefined)
    && node.pattern === undefined && node.format === undefined && !('enum' in node) && !('const' in node);
}

/**
 * The bounded-string nodes of the JSON Schema `schema` (checked by response_format.js) whose
 * bounds the guard can enforce (above): a Set of the schema's own node objects, empty when none.
 */
export function liftedStrings(schema) {
  const candidates = new Set();
  const opaque = new Set(); // nodes some value may have without the guard knowing it
  const visited = new Set();
  const markOpaque = (node) => {
    if (!isSchema(node) || opaque.has(node)) return;
    opaque.add(node);
    if (node.$ref !== undefined) markOpaque(resolvePointer(schema, node.$ref, '$ref'));
    for (const sub of [...(node.anyOf ?? []), ...(node.prefixItems ?? []), ...Object.values(node.properties ?? {}),
                       node.items, node.additionalProperties]) markOpaque(sub);
  };
  const visit = (node) => { // a value of `node`, at a place the guard follows
    if (!isSchema(node) || visited.has(node)) return;
    visited.add(node);
    for (const kind of KINDS) {
      const resolved = resolve(node, kind, schema);
      if (resolved === undefined) continue;
      if (resolved === null) {
        markOpaque(node);
      } else if (kind === 'string') {
        if (isBoundedString(resolved)) candidates.add(resolved);
      } else if (kind === 'object' || kind === 'array') {
        for (const sub of [...(resolved.prefixItems ?? []), ...Object.values(resolved.properties ?? {}),
                           resolved.items, resolved.additionalProperties]) visit(sub);
      }
    }
  };
  visit(schema);
  return new Set([...candidates].filter((node) => !opaque.has(node)));
}

// ---------------------------------------------------------------------------------------------
// JSONPlace: where a reply's bytes are in the JSON value and its schema.

// What the next byte may be (outside a string, spaces are skipped).
const VALUE = 0; // a value starts (after ":", ",", "[" or at the root)
const VALUE_OR_CLOSE = 1; // after "[": a value or "]"
const KEY_OR_CLOSE = 2; // after "{": a key or "}"
const KEY = 3; // after "," in an object: a key
const IN_KEY = 4; // inside a key string
const COLON = 5; // after a key
const IN_STRING = 6; // inside a value string
const IN_SCALAR = 7; // inside a number, true, false or null
const AFTER_VALUE = 8; // after a value: ",", "]" or "}"
const DONE = 9; // the root value has ended

const isSpace = (byte) => byte === 0x20 || byte === 0x0a || byte === 0x09 || byte === 0x0d;
const startsCharacter = (byte) => (byte & 0xc0) !== 0x80; // not a UTF-8 continuation byte
const KEY_DECODER = new TextDecoder();

/**
 * A reader of a reply's bytes that knows where they are in the JSON value (compact or not) and
 * its schema. `push(byte)` returns false where the byte breaks a lifted string's bounds; it
 * assumes the bytes are JSON that the relaxed grammar allows (xgrammar's mask sees to it). `copy()`
 * is cheap (the container stack is shared: its frames are never changed in place).
 */
export class JSONPlace {
  /** A place at the start of a reply: `schema` its JSON Schema, `lifted` liftedStrings(schema). */
  constructor(schema, lifted) {
    this.root = schema;
    this.lifted = lifted;
    this.stack = []; // { container: 'object' | 'array', node, key, index }, innermost last
    this.state = VALUE;
    this.next = schema; // the node of the value about to start (VALUE, VALUE_OR_CLOSE)
    this.escaped = false; // inside a string, after a backslash
    this.keyBytes = null; // inside a key, its bytes so far
    this.bounds = null; // inside a lifted string, its node; null inside any other string
    this.length = 0; // inside a lifted string, its characters so far
  }

  copy() {
    const place = Object.assign(new JSONPlace(this.root, this.lifted), this);
    place.stack = this.stack.slice();
    if (this.keyBytes) place.keyBytes = this.keyBytes.slice();
    return place;
  }

  /** Inside a lifted string: { length, minLength, maxLength }; otherwise null. */
  get liftedString() {
    if (this.state !== IN_STRING || this.bounds === null) return null;
    return { length: this.length, minLength: this.bounds.minLength ?? 0, maxLength: this.bounds.maxLength ?? Infinity };
  }

  /** Inside a string (key or value) not after a backslash: where a `"` ends the string. */
  get endsStringAtQuote() {
    return (this.state === IN_STRING || this.state === IN_KEY) && !this.escaped;
  }

  /** Read `bytes` (a token's); false as soon as one breaks a lifted string's bounds. */
  pushAll(bytes) {
    for (let i = 0; i < bytes.length; i++) if (!this.push(bytes[i])) return false;
    return true;
  }

  push(byte) {
    switch (this.state) {
      case IN_STRING:
        if (this.bounds !== null) {
          if (byte === QUOTE) {
            this.state = AFTER_VALUE;
            return this.length >= (this.bounds.minLength ?? 0);
          }
          if (byte === BACKSLASH) return false; // a lifted string's characters have no escapes
          if (startsCharacter(byte)) this.length += 1;
          return this.length <= (this.bounds.maxLength ?? Infinity);
        }
        if (this.escaped) this.escaped = false;
        else if (byte === BACKSLASH) this.escaped = true;
        else if (byte === QUOTE) this.state = AFTER_VALUE;
        return true;
      case IN_KEY:
        if (!this.escaped && byte === QUOTE) {
          const key = JSON.parse(`"${KEY_DECODER.decode(Uint8Array.from(this.keyBytes))}"`);
          const top = this.stack.length - 1;
          this.stack[top] = { ...this.stack[top], key };
          this.keyBytes = null;
          this.state = COLON;
        } else {
          this.escaped = !this.escaped && byte === BACKSLASH;
          this.keyBytes.push(byte);
        }
        return true;
      case IN_SCALAR:
        if (byte === 0x2c || byte === 0x7d || byte === 0x5d || isSpace(byte)) { // , } ] or a space ends it
          this.state = AFTER_VALUE;
          return this.push(byte);
        }
        return true;
      default:
        if (!isSpace(byte)) this.#structure(byte);
        return true;
    }
  }

  #structure(byte) {
    const top = this.stack[this.stack.length - 1];
    switch (this.state) {
      case VALUE_OR_CLOSE:
        if (byte === 0x5d) return this.#close(); // ]
      // falls through: a value
      case VALUE: return this.#startValue(byte);
      case KEY_OR_CLOSE:
        if (byte === 0x7d) return this.#close(); // }
      // falls through: a key
      case KEY:
        this.state = IN_KEY;
        this.keyBytes = [];
        this.escaped = false;
        return undefined;
      case COLON:
        this.state = VALUE;
        this.next = propertyNode(top.node, top.key);
        return undefined;
      case AFTER_VALUE:
        if (byte !== 0x2c) return this.#close(); // } or ]
        if (top.container === 'object') {
          this.state = KEY;
        } else {
          this.stack[this.stack.length - 1] = { ...top, index: top.index + 1 };
          this.state = VALUE;
          this.next = itemNode(top.node, top.index + 1);
        }
        return undefined;
      default:
        throw new Error(`JSONPlace: byte ${byte} after the end of the JSON value`);
    }
  }

  #startValue(byte) {
    const kind = kindOf(byte);
    const node = this.next === null ? null : resolve(this.next, kind, this.root) ?? null;
    if (kind === 'string') {
      this.state = IN_STRING;
      this.escaped = false;
      this.bounds = node !== null && this.lifted.has(node) ? node : null;
      this.length = 0;
    } else if (kind === 'object' || kind === 'array') {
      this.stack.push({ container: kind, node, key: null, index: 0 });
      this.state = kind === 'object' ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
      if (kind === 'array') this.next = itemNode(node, 0);
    } else {
      this.state = IN_SCALAR;
    }
  }

  #close() {
    this.stack.pop();
    this.state = this.stack.length === 0 ? DONE : AFTER_VALUE;
  }
}

// ---------------------------------------------------------------------------------------------
// The guard: masks from a JSONPlace and per-vocabulary tables.

/**
 * The tables the guard reads, once per vocabulary (`tokenBytes(id)`: a token's bytes, Uint8Array;
 * `vocabSize` tokens; `stopTokenIds` write no text): { words: ceil(vocabSize / 32), bytesOf(id): a
 * token's bytes (none for a stop token),
 * quoteTokens: Int32Array of the ids whose bytes hold a `"`, quoteBytes: their bytes (same order),
 * withinLength(n): Uint32Array [words], the mask of the tokens without a `"` that start at most n
 * characters (memoised) }.
 */
export function stringLengthTables(tokenBytes, vocabSize, stopTokenIds) {
  const words = Math.ceil(vocabSize / 32);
  const stops = new Set(stopTokenIds);
  const starts = new Uint16Array(vocabSize); // characters a token starts
  const quoteTokens = [];
  const quoteBytes = [];
  let most = 0;
  const bytesOf = (token) => (stops.has(token) ? new Uint8Array(0) : tokenBytes(token)); // a stop token writes no text
  for (let token = 0; token < vocabSize; token++) {
    const bytes = bytesOf(token);
    if (bytes.includes(QUOTE)) {
      quoteTokens.push(token);
      quoteBytes.push(bytes);
      continue;
    }
    let count = 0;
    for (const byte of bytes) if (startsCharacter(byte)) count += 1;
    starts[token] = count;
    most = Math.max(most, count);
  }
  const isQuote = new Uint8Array(vocabSize);
  for (const token of quoteTokens) isQuote[token] = 1;
  const masks = [];
  const withinLength = (n) => {
    const at = Math.min(n, most);
    if (!masks[at]) {
      const mask = new Uint32Array(words);
      for (let token = 0; token < vocabSize; token++) {
        if (!isQuote[token] && starts[token] <= at) mask[token >>> 5] |= 1 << (token & 31);
      }
      masks[at] = mask;
    }
    return masks[at];
  };
  return { words, bytesOf, quoteTokens: Int32Array.from(quoteTokens), quoteBytes, withinLength };
}

/**
 * The guard of one reply: `schema` its JSON Schema, `lifted` liftedStrings(schema) (not empty),
 * `tables` stringLengthTables() of the vocabulary.
 */
export class StringLengthGuard {
  #place;
  #tables;

  constructor(schema, lifted, tables) {
    this.#place = new JSONPlace(schema, lifted);
    this.#tables = tables;
  }

  /**
   * Take out of `mask` (Uint32Array [words], grammar.js's layout, changed in place) the tokens that
   * would break a lifted string's bounds from the reply's place.
   */
  restrict(mask) {
    const place = this.#place;
    const { quoteTokens, quoteBytes, withinLength } = this.#tables;
    const inLifted = place.liftedString;
    if (inLifted) {
      // Tokens without a quote: kept if they start no more characters than are left; the quote
      // tokens' bits stay for the loop below.
      const within = withinLength(inLifted.maxLength - inLifted.length);
      const keptQuotes = new Uint32Array(mask.length);
      for (const token of quoteTokens) keptQuotes[token >>> 5] |= mask[token >>> 5] & (1 << (token & 31));
      for (let i = 0; i < mask.length; i++) mask[i] = (mask[i] & within[i]) | keptQuotes[i];
    }
    const closesOnly = place.endsStringAtQuote && !inLifted;
    for (let i = 0; i < quoteTokens.length; i++) {
      const token = quoteTokens[i];
      const bit = 1 << (token & 31);
      if ((mask[token >>> 5] & bit) === 0) continue;
      const bytes = quoteBytes[i];
      // Inside a string without bounds, a token with one quote closes it and opens nothing.
      if (closesOnly && bytes.indexOf(QUOTE) === bytes.lastIndexOf(QUOTE)) continue;
      if (!place.copy().pushAll(bytes)) mask[token >>> 5] &= ~bit;
    }
  }

  /** Read the token `token` just accepted. Throws an Error if it breaks a bound (it was not in the mask: a bug). */
  accept(token) {
    if (!this.#place.pushAll(this.#tables.bytesOf(token))) {
      throw new Error(`token ${token} breaks a string's length bounds: it was sampled outside the mask`);
    }
  }
}
