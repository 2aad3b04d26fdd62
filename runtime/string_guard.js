// Strings with a pattern, a format or length bounds (JSON Schema "pattern", "format",
// minLength / maxLength) enforced beside xgrammar rather than by it. xgrammar 0.1.27 works out
// the mask of every rule of a grammar over the whole vocabulary when it compiles (about 5-20 ms per
// rule on a 128k vocabulary in WASM), and writes a bounded string as one rule per character place
// ("maxLength": 200 took 6.5 s to compile) and a pattern's bounded repetition as one rule per
// repeat ("( [A-Za-z]+){0,8}": 0.13 s). Here xgrammar gets such a string as the same characters
// repeated freely (one rule, compiled in milliseconds), and this guard follows the reply: while it
// is inside such a string, a token is taken out of the mask if it would take the string past
// maxLength, or off every way to a match of its pattern (pattern_automaton.js: a byte automaton,
// whose per-state masks are worked out when the reply first reaches a state), or close it (its
// `"`) below minLength or before the pattern matches. The masks are the ones xgrammar's own
// grammar gives (tests/js/grammar.test.js compares them mask for mask along walks through the
// corpus). The same holds inside tool calls' arguments (CallsPlace: the reply is text, and each
// call's arguments, after the opening the grammar writes, are read as JSON of that tool's parameters).
//
// A string is lifted only where the guard always knows, from the reply's text, that a string is
// an instance of that schema node: reached from the root through properties,
// additionalProperties, items, prefixItems and $ref, and through an anyOf or a "type" array only
// where the value's first byte picks one branch ("[", "{", '"', a digit...: a nullable string,
// anyOf [string, object]). One that can also be reached another way (under an anyOf of two object
// shapes, say), or whose pattern's automaton would be too big, stays with xgrammar: exact, slow
// to compile.
//
// The guard reads the reply's bytes with a small JSON reader (JSONPlace): where the reply is, which
// schema node each container and value has, and, inside a lifted string, how many characters it
// holds and its pattern automaton's state. Characters are code points (JSON Schema's length, as
// ajv and Python's len count them), counted at their first byte, so a token that ends inside a
// character has counted it. A lifted string has no escapes (its characters are any but the control
// characters, the quote and the backslash), so each character is one code point.
//
// Per token: tokens with no `"` byte cannot enter or leave a string, so inside a lifted string
// they are kept by precomputed masks (one per number of characters left: those that start at most
// that many; one per automaton state: those that keep it on a way to a match), and elsewhere they
// are not looked at; each token with a `"` that the grammar allows (1,345 of Llama 3's 128k tokens
// have one) is read from the reply's place by a copy of the reader.

import { parsePattern, patternAutomaton } from './pattern_automaton.js';
import { FORMAT_PATTERNS, constrainingKeywords, resolvePointer } from './response_format.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The pattern xgrammar gets for a lifted string: the characters a string holds unescaped, any number of them. */
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

// Automata by pattern text (null: too big), the last AUTOMATA_KEPT used: a pattern or format that
// schemas and requests share (a "date", say) is built once, and stringTables()' masks per state,
// held per automaton, are worked out once for it too.
const AUTOMATA_KEPT = 64;
const automata = new Map();
function automatonOf(pattern) {
  const automaton = automata.has(pattern) ? automata.get(pattern) : patternAutomaton(parsePattern(pattern));
  automata.delete(pattern); // moved to the newest end
  automata.set(pattern, automaton);
  if (automata.size > AUTOMATA_KEPT) automata.delete(automata.keys().next().value);
  return automaton;
}

/**
 * What the guard enforces of the string schema node `node`, or null where it is no string with a
 * pattern, a format of FORMAT_PATTERNS or length bounds (or an enum / const, which xgrammar writes
 * whole), or its pattern's automaton would be too big: { minLength, maxLength (Infinity: none),
 * automaton: pattern_automaton.js patternAutomaton() of its pattern or format, or null }.
 */
export function stringConstraint(node) {
  if (![node.type].flat().includes('string') || 'enum' in node || 'const' in node) return null;
  const pattern = node.pattern ?? FORMAT_PATTERNS[node.format];
  if (node.format !== undefined && pattern === undefined) return null; // a format xgrammar writes itself
  const automaton = pattern === undefined ? null : automatonOf(pattern);
  if (pattern !== undefined && automaton === null) return null;
  if (automaton === null && node.minLength === undefined && node.maxLength === undefined) return null;
  return { minLength: node.minLength ?? 0, maxLength: node.maxLength ?? Infinity, automaton };
}

/**
 * The string nodes of the JSON Schema `schema` (checked by response_format.js) that the guard
 * enforces (above): a Map from the schema's own node objects to their stringConstraint(), empty
 * when none.
 */
export function liftedStrings(schema) {
  const candidates = new Map();
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
        const constraint = candidates.has(resolved) ? null : stringConstraint(resolved);
        if (constraint) candidates.set(resolved, constraint);
      } else if (kind === 'object' || kind === 'array') {
        for (const sub of [...(resolved.prefixItems ?? []), ...Object.values(resolved.properties ?? {}),
                           resolved.items, resolved.additionalProperties]) visit(sub);
      }
    }
  };
  visit(schema);
  for (const node of opaque) candidates.delete(node);
  return candidates;
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
 * its schema. `push(byte)` returns false where the byte breaks a lifted string's constraint; it
 * assumes the bytes are JSON that the relaxed grammar allows (xgrammar's mask sees to it). `copy()`
 * is cheap (the container stack is shared: its frames are never changed in place).
 */
export class JSONPlace {
  /** A place at the start of a reply: `schema` its JSON Schema, `lifted` liftedStrings(schema) (a Map). */
  constructor(schema, lifted) {
    this.root = schema;
    this.lifted = lifted;
    this.stack = []; // { container: 'object' | 'array', node, key, index }, innermost last
    this.state = VALUE;
    this.next = schema; // the node of the value about to start (VALUE, VALUE_OR_CLOSE)
    this.escaped = false; // inside a string, after a backslash
    this.keyBytes = null; // inside a key, its bytes so far
    this.constraint = null; // inside a lifted string, its stringConstraint(); null inside any other string
    this.length = 0; // inside a lifted string, its characters so far
    this.automatonState = 0; // inside a lifted string with a pattern, its automaton's state
  }

  copy() {
    const place = Object.assign(new JSONPlace(this.root, this.lifted), this);
    place.stack = this.stack.slice();
    if (this.keyBytes) place.keyBytes = this.keyBytes.slice();
    return place;
  }

  /** Inside a lifted string: its stringConstraint(); otherwise null. */
  get liftedString() {
    return this.state === IN_STRING ? this.constraint : null;
  }

  /** Whether the JSON value has ended. */
  get ended() {
    return this.state === DONE;
  }

  /** Inside a string (key or value) not after a backslash: where a `"` ends the string. */
  get endsStringAtQuote() {
    return (this.state === IN_STRING || this.state === IN_KEY) && !this.escaped;
  }

  /** Whether reading a token could break a lifted string's constraint (as CallsPlace's): always, from anywhere in the JSON. */
  mayBreak() {
    return true;
  }

  push(byte) {
    switch (this.state) {
      case IN_STRING:
        if (this.constraint !== null) {
          const { minLength, maxLength, automaton } = this.constraint;
          if (byte === QUOTE) {
            this.state = AFTER_VALUE;
            return this.length >= minLength && (automaton === null || automaton.accepting[this.automatonState] === 1);
          }
          if (byte === BACKSLASH) return false; // a lifted string's characters have no escapes
          if (startsCharacter(byte)) this.length += 1;
          if (automaton !== null) {
            this.automatonState = automaton.next[this.automatonState * 256 + byte];
            if (this.automatonState < 0) return false;
          }
          return this.length <= maxLength;
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
      this.constraint = (node !== null && this.lifted.get(node)) || null;
      this.length = 0;
      this.automatonState = this.constraint?.automaton?.start ?? 0;
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

/**
 * A reader of a tool-call reply (tool_calls.js toolCallGrammar): text, in which each call's
 * opening (its `begin`: the text up to the arguments, `{"name": "f", "arguments": ` after the
 * syntax's tag) starts a JSONPlace of that tool's parameters, which reads the arguments up to their
 * end; then text again. The grammar writes the openings, and only where a call starts (free text
 * cannot hold a tag's trigger, and a call's JSON is read as JSON, not searched). The same interface
 * as JSONPlace for StringGuard.
 */
export class CallsPlace {
  /** `openings`: [{ begin: Uint8Array (an opening's bytes), schema (its parameters), lifted: liftedStrings(schema) }]. */
  constructor(openings) {
    this.openings = openings;
    this.longest = Math.max(...openings.map(({ begin }) => begin.length));
    this.lastBytes = new Set(openings.map(({ begin }) => begin[begin.length - 1]));
    this.tail = []; // in text, its last bytes (up to the longest opening)
    this.json = null; // in a call's arguments, their JSONPlace
  }

  copy() { // for each quote token a step allows: the openings' longest and lastBytes are shared, not worked out again
    return Object.assign(Object.create(CallsPlace.prototype), this, { tail: this.tail.slice(), json: this.json?.copy() ?? null });
  }

  get liftedString() { return this.json?.liftedString ?? null; }

  get length() { return this.json.length; }

  get automatonState() { return this.json.automatonState; }

  get endsStringAtQuote() { return this.json?.endsStringAtQuote ?? false; }

  /** Whether reading `bytes` could break a lifted string's constraint: in text, only bytes that can end an opening. */
  mayBreak(bytes) {
    return this.json !== null || bytes.some((byte) => this.lastBytes.has(byte));
  }

  push(byte) {
    if (this.json !== null) {
      const ok = this.json.push(byte);
      if (this.json.ended) this.json = null;
      return ok;
    }
    this.tail.push(byte);
    if (this.tail.length > this.longest) this.tail.shift();
    const opening = this.openings.find(({ begin }) => endsWith(this.tail, begin));
    if (opening) {
      this.json = new JSONPlace(opening.schema, opening.lifted);
      this.tail = [];
    }
    return true;
  }
}

// Read `bytes` (a token's) at `place` (a JSONPlace or CallsPlace); false as soon as one breaks a
// lifted string's constraint.
function pushAll(place, bytes) {
  for (let i = 0; i < bytes.length; i++) if (!place.push(bytes[i])) return false;
  return true;
}

function endsWith(bytes, end) {
  if (bytes.length < end.length) return false;
  for (let i = 1; i <= end.length; i++) if (bytes[bytes.length - i] !== end[end.length - i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// The guard: masks from a JSONPlace or CallsPlace and per-vocabulary tables.

/**
 * The tables the guard reads, once per vocabulary (`tokenBytes(id)`: a token's bytes, Uint8Array;
 * `vocabSize` tokens; `stopTokenIds` write no text): { words: ceil(vocabSize / 32), bytesOf(id): a
 * token's bytes (none for a stop token), quoteTokens: Int32Array of the ids whose bytes hold a
 * `"`, quoteBytes: their bytes (same order), and the masks (Uint32Array [words], memoised) of the
 * tokens without a `"` that withinLength(n): start at most n characters; matchingPattern(automaton,
 * state): leave a pattern_automaton.js automaton in a state from which it can still match }.
 */
export function stringTables(tokenBytes, vocabSize, stopTokenIds) {
  const words = Math.ceil(vocabSize / 32);
  const stops = new Set(stopTokenIds);
  const starts = new Uint16Array(vocabSize); // characters a token starts
  const quoteTokens = [];
  const quoteBytes = [];
  const plainTokens = []; // the others, with their bytes end to end in plainBytes
  const plainBytes = [];
  const plainEnds = [];
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
    plainTokens.push(token);
    for (const byte of bytes) plainBytes.push(byte);
    plainEnds.push(plainBytes.length);
  }
  const plain = { tokens: Int32Array.from(plainTokens), bytes: Uint8Array.from(plainBytes), ends: Int32Array.from(plainEnds) };
  let lengthMasks = null; // all of them at the first call, each from the one before: one pass over the tokens
  const withinLength = (n) => {
    if (lengthMasks === null) {
      const byCount = Array.from({ length: most + 1 }, () => []);
      for (const token of plain.tokens) byCount[starts[token]].push(token);
      let mask = new Uint32Array(words);
      lengthMasks = byCount.map((tokens) => {
        mask = mask.slice();
        for (const token of tokens) mask[token >>> 5] |= 1 << (token & 31);
        return mask;
      });
    }
    return lengthMasks[Math.min(n, most)];
  };
  const patternMasks = new WeakMap(); // automaton -> its masks by state
  const matchingPattern = (automaton, state) => {
    if (!patternMasks.has(automaton)) patternMasks.set(automaton, []);
    const masks = patternMasks.get(automaton);
    masks[state] ??= patternMask(automaton, state, plain, words);
    return masks[state];
  };
  return { words, bytesOf, quoteTokens: Int32Array.from(quoteTokens), quoteBytes, withinLength, matchingPattern };
}

// The mask of the tokens of `plain` whose bytes, from `state`, keep `automaton` on a way to a match.
function patternMask({ next }, state, plain, words) {
  const mask = new Uint32Array(words);
  const { tokens, bytes, ends } = plain;
  for (let i = 0, from = 0; i < tokens.length; from = ends[i], i++) {
    let at = state;
    for (let j = from; j < ends[i] && at >= 0; j++) at = next[at * 256 + bytes[j]];
    if (at >= 0) mask[tokens[i] >>> 5] |= 1 << (tokens[i] & 31);
  }
  return mask;
}

/**
 * The guard of one reply: `place` a JSONPlace (a JSON Schema's reply, from its start) or a
 * CallsPlace (a tool-call reply) with lifted strings, `tables` stringTables() of the vocabulary.
 */
export class StringGuard {
  #place;
  #tables;

  constructor(place, tables) {
    this.#place = place;
    this.#tables = tables;
  }

  /**
   * Take out of `mask` (Uint32Array [words], grammar.js's layout, changed in place) the tokens that
   * would break a lifted string's constraint from the reply's place.
   */
  restrict(mask) {
    const place = this.#place;
    const { quoteTokens, quoteBytes, withinLength, matchingPattern } = this.#tables;
    const inLifted = place.liftedString;
    if (inLifted) {
      // Tokens without a quote: kept if they start no more characters than are left and keep the
      // pattern matchable; the quote tokens' bits stay for the loop below.
      const within = withinLength(inLifted.maxLength - place.length);
      const matching = inLifted.automaton === null ? within : matchingPattern(inLifted.automaton, place.automatonState);
      const keptQuotes = new Uint32Array(mask.length);
      for (const token of quoteTokens) keptQuotes[token >>> 5] |= mask[token >>> 5] & (1 << (token & 31));
      for (let i = 0; i < mask.length; i++) mask[i] = (mask[i] & within[i] & matching[i]) | keptQuotes[i];
    }
    const closesOnly = place.endsStringAtQuote && !inLifted;
    for (let i = 0; i < quoteTokens.length; i++) {
      const token = quoteTokens[i];
      const bit = 1 << (token & 31);
      if ((mask[token >>> 5] & bit) === 0) continue;
      const bytes = quoteBytes[i];
      // Inside a string the guard does not constrain, a token with one quote closes it and opens nothing.
      if ((closesOnly && bytes.indexOf(QUOTE) === bytes.lastIndexOf(QUOTE)) || !place.mayBreak(bytes)) continue;
      if (!pushAll(place.copy(), bytes)) mask[token >>> 5] &= ~bit;
    }
  }

  /** Read the token `token` just accepted. Throws an Error if it breaks a constraint (it was not in the mask: a bug). */
  accept(token) {
    if (!pushAll(this.#place, this.#tables.bytesOf(token))) {
      throw new Error(`token ${token} breaks a string's pattern or length bounds: it was sampled outside the mask`);
    }
  }
}
