// The model's tokenizer, run from its tokenizer.json: the ids Hugging Face's `tokenizers` gives on
// the same file, for the components our model families use (byte-level BPE as in GPT-2, Llama 3,
// Qwen2 and SmolLM; SentencePiece-style BPE with byte fallback as in Llama 2, TinyLlama and Mistral).
//
// encode(text) follows `tokenizers`' pipeline without its post-processor (add_special_tokens=False):
//   1. added tokens that match the raw text are cut out first (their ids are final; with
//      splitSpecialTokens, special ones are left in the text, as tokenizers' encode_special_tokens does),
//   2. the rest is normalized, then added tokens that match normalized text are cut out,
//   3. the pre-tokenizer splits each remaining stretch into words,
//   4. the BPE model turns each word into ids.
// decode(ids) maps ids to token texts and runs the decoder chain over them.
// A component type or option this file does not implement is refused with UnsupportedModelError,
// so a site never tokenizes differently from the model's own tokenizer without saying so.

import { UnsupportedModelError } from './errors.js';

export class Tokenizer {
  #model;
  #added;
  #normalizer;
  #preTokenizer;
  #decoder;
  #holdsByteRuns;
  #vocabType;

  static fromJSON(tokenizerJson) {
    return new Tokenizer(tokenizerJson);
  }

  constructor(tokenizerJson) {
    const { model, normalizer, pre_tokenizer: preTokenizer, decoder, added_tokens: addedTokens } = tokenizerJson;
    this.#model = build('model', MODELS, model);
    this.#normalizer = build('normalizer', NORMALIZERS, normalizer) ?? ((text) => text);
    this.#preTokenizer = build('pre_tokenizer', PRE_TOKENIZERS, preTokenizer) ?? ((pieces) => pieces);
    this.#decoder = build('decoder', DECODERS, decoder) ?? ((tokens) => [tokens.join(' ')]);
    this.#added = new AddedVocabulary(addedTokens ?? [], this.#model, this.#normalizer);
    this.#holdsByteRuns = usesByteFallback(decoder);
    this.#vocabType = vocabTypeOf(decoder);
  }

  /**
   * Token ids of `text`, with no BOS/EOS added; added tokens written in it count as one id each. With
   * `splitSpecialTokens` the special ones among them are plain text (tokenizers' encode_special_tokens,
   * transformers' split_special_tokens): "<|im_end|>" becomes the ids of "<", "|", "im", ...
   */
  encode(text, { splitSpecialTokens = false } = {}) {
    const ids = [];
    for (const part of this.#added.splitRaw(text, splitSpecialTokens)) {
      if (part.id !== undefined) {
        ids.push(part.id);
        continue;
      }
      for (const sub of this.#added.splitNormalized(this.#normalizer(part.text), splitSpecialTokens)) {
        if (sub.id !== undefined) {
          ids.push(sub.id);
          continue;
        }
        // `first`: the stretch starts the input (Metaspace's prepend_scheme "first" looks at it).
        for (const word of this.#preTokenizer([{ text: sub.text, first: part.start === 0 && sub.start === 0 }])) {
          for (const id of this.#model.tokenize(word.text)) ids.push(id);
        }
      }
    }
    return ids;
  }

  decode(ids, { skipSpecialTokens = false } = {}) {
    const tokens = [];
    for (const id of ids) {
      const token = this.#visibleToken(id, skipSpecialTokens);
      if (token !== undefined) tokens.push(token);
    }
    return this.#decodeTokens(tokens);
  }

  /**
   * The raw bytes one token stands for (a Uint8Array of UTF-8 bytes, possibly part of a character),
   * as OpenAI's logprobs `bytes` report them so that a client can join them across tokens: a
   * byte-level token's bytes through GPT-2's byte table, a byte-fallback <0xNN> token's one byte and
   * its other tokens' text with "▁" as the space it stands for (also at the start of a text, where
   * decode() drops it), an added token's own text; anything else, the UTF-8 of the token decoded
   * alone. An id without a token has no bytes.
   */
  tokenBytes(id) {
    const token = this.idToToken(id);
    if (token === undefined) return new Uint8Array(0);
    if (this.#added.tokenToId(token) !== undefined) return UTF8.encode(token);
    if (this.#vocabType === 'byte_level') return Uint8Array.from(byteLevelBytes(token));
    if (this.#vocabType === 'byte_fallback') {
      return BYTE_TOKEN.test(token) ? Uint8Array.of(parseInt(token.slice(3, 5), 16)) : UTF8.encode(token.replaceAll('\u2581', ' '));
    }
    return UTF8.encode(this.decode([id]));
  }

  /** Decodes one id at a time; push(id) returns only text that later ids cannot change. */
  createStreamDecoder({ skipSpecialTokens = false } = {}) {
    return new StreamDecoder({
      visibleToken: (id) => this.#visibleToken(id, skipSpecialTokens),
      decodeTokens: (tokens) => this.#decodeTokens(tokens),
      holdsByteRuns: this.#holdsByteRuns,
    });
  }

  tokenToId(token) {
    return this.#added.tokenToId(token) ?? this.#model.tokenToId(token);
  }

  idToToken(id) {
    return this.#added.idToToken(id) ?? this.#model.idToToken(id);
  }

  /** The added tokens of tokenizer.json: [{ id, content, special }], by id. */
  get addedTokens() {
    return this.#added.entries;
  }

  /** One past the highest id: the number of rows an embedding for this tokenizer needs. */
  get vocabSize() {
    return Math.max(this.#model.idCount, this.#added.idCount);
  }

  /**
   * The vocabulary as constrained decoding reads it (runtime/grammar.js hands it to xgrammar's
   * TokenizerInfo): { tokens: string[] (one per id up to vocabSize, in the model's own encoding),
   * vocabType }. vocabType says how a token's text maps to the bytes it stands for, in xgrammar's
   * terms: 'byte_level' (GPT-2's byte-to-character table: the decoder has ByteLevel),
   * 'byte_fallback' (SentencePiece-style: "▁" is a space and <0xNN> a byte: the decoder has
   * ByteFallback, Metaspace or a Replace of "▁") or 'raw' (the text itself). A special added token
   * is "" (xgrammar never allows an empty token: a grammar cannot write a control token into the
   * reply, whose text would skip it anyway); a non-special one is its content in that encoding.
   * Ids without a token are "" too.
   */
  get grammarVocabulary() {
    const tokens = Array.from({ length: this.vocabSize }, (_, id) => this.#model.idToToken(id) ?? '');
    for (const { id, content, special } of this.#added.entries) {
      tokens[id] = special ? '' : encodeAs(this.#vocabType, content);
    }
    return { tokens, vocabType: this.#vocabType };
  }

  // tokenizers drops ids it has no token for, and with skipSpecialTokens the special added tokens.
  #visibleToken(id, skipSpecialTokens) {
    const token = this.idToToken(id);
    return token === undefined || (skipSpecialTokens && this.#added.isSpecial(token)) ? undefined : token;
  }

  #decodeTokens(tokens) {
    return this.#decoder(tokens).join('');
  }
}

// Streaming: decode a window of recent tokens and hand out what it adds to the text already shown.
// The window keeps one token of context before the new ones, because decoders treat the first
// token specially (Metaspace drops its "▁", Strip cuts its leading space). New text waits while it
// ends in U+FFFD (a character whose bytes have not all arrived) and, with a ByteFallback decoder,
// while the last token is a <0xNN> byte: ByteFallback turns a whole run of bytes into U+FFFDs if
// any byte of it turns out invalid, so no byte of a run is final until the run ends.
class StreamDecoder {
  #visibleToken;
  #decodeTokens;
  #holdsByteRuns;
  #window = [];
  #shown = 0; // length of the window's decoding already handed out

  constructor({ visibleToken, decodeTokens, holdsByteRuns }) {
    this.#visibleToken = visibleToken;
    this.#decodeTokens = decodeTokens;
    this.#holdsByteRuns = holdsByteRuns;
  }

  push(id) {
    const token = this.#visibleToken(id);
    if (token === undefined) return '';
    this.#window.push(token);
    if (this.#holdsByteRuns && BYTE_TOKEN.test(token)) return '';
    const text = this.#decodeTokens(this.#window);
    if (text.endsWith('\uFFFD')) return '';
    const fresh = text.slice(this.#shown);
    this.#window = [token];
    this.#shown = this.#decodeTokens(this.#window).length;
    return fresh;
  }

  /** Ends the stream: whatever is still held back (a held U+FFFD is final now). The next push starts a new one. */
  flush() {
    const fresh = this.#decodeTokens(this.#window).slice(this.#shown);
    this.#window = [];
    this.#shown = 0;
    return fresh;
  }
}

function build(component, table, config) {
  if (config == null) return null;
  if (!Object.hasOwn(table, config.type)) {
    throw new UnsupportedModelError(
      `Unsupported tokenizer ${component} type ${JSON.stringify(config.type)} (supported: ${Object.keys(table).join(', ')}).`,
      { component, type: config.type });
  }
  return table[config.type](config);
}

function unsupportedOption(component, type, option, value) {
  return new UnsupportedModelError(
    `Unsupported tokenizer ${component} ${type} option ${option}=${JSON.stringify(value)}.`, { component, type, option });
}

const pipeline = (steps) => (value) => steps.reduce((acc, step) => step(acc), value);

// ---------------------------------------------------------------------------------------------
// Added tokens

// Rust regex's \w and \s, which tokenizers uses for single_word, lstrip and rstrip.
const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const WHITESPACE = /\p{White_Space}/u; // every White_Space character is one UTF-16 unit

class AddedVocabulary {
  #ids = new Map(); // content -> id
  #tokens = new Map(); // id -> added token entry of tokenizer.json
  #special = new Set(); // contents of special tokens
  #decodedAs = new Map(); // id -> normalized text, for normalized tokens that normalizing changes
  #highest = -1; // highest id given so far
  #rawMatcher;
  #normalizedMatcher;

  constructor(entries, model, normalize) {
    for (const entry of entries) {
      if (!entry.content) continue;
      if (entry.special) this.#special.add(entry.content);
      // tokenizers ignores the ids written in the file: a token the model has keeps the model's
      // id, any other takes the next id after the vocabulary.
      const id = this.#ids.get(entry.content) ?? model.tokenToId(entry.content) ?? this.#nextId(model.entryCount);
      this.#ids.set(entry.content, id);
      this.#tokens.set(id, entry);
      this.#highest = Math.max(this.#highest, id);
      // tokenizers decodes a normalized token as the text it matches (its normalized content).
      const normalized = entry.normalized ? normalize(entry.content) : entry.content;
      if (normalized !== entry.content) this.#decodedAs.set(id, normalized);
    }
    const matched = [...this.#tokens].map(([id, entry]) => ({ id, entry }));
    this.#rawMatcher = matcher(matched.filter(({ entry }) => !entry.normalized), (content) => content);
    this.#normalizedMatcher = matcher(matched.filter(({ entry }) => entry.normalized), normalize);
  }

  #nextId(entryCount) {
    if (this.#highest < 0) return entryCount;
    return this.#highest >= entryCount || entryCount === 0 ? this.#highest + 1 : entryCount;
  }

  get idCount() {
    return this.#highest + 1;
  }

  tokenToId(content) {
    return this.#ids.get(content);
  }

  idToToken(id) {
    return this.#decodedAs.get(id) ?? this.#tokens.get(id)?.content;
  }

  isSpecial(content) {
    return this.#special.has(content);
  }

  get entries() {
    return [...this.#tokens].sort(([a], [b]) => a - b)
      .map(([id, entry]) => ({ id, content: entry.content, special: Boolean(entry.special) }));
  }

  // With `splitSpecialTokens`, matches of special tokens are skipped (left in the text), as in
  // tokenizers: the search goes on after them, so no token inside one matches either.
  splitRaw(text, splitSpecialTokens) {
    return splitOnAdded(text, this.#rawMatcher, splitSpecialTokens);
  }

  splitNormalized(text, splitSpecialTokens) {
    return splitOnAdded(text, this.#normalizedMatcher, splitSpecialTokens);
  }
}

// Leftmost-longest matching (tokenizers uses an Aho-Corasick automaton): a JS alternation tries
// its branches in order, so the longest text goes first.
function matcher(tokens, normalize) {
  const byText = new Map();
  for (const token of tokens) {
    const text = normalize(token.entry.content);
    if (text && !byText.has(text)) byText.set(text, token);
  }
  if (byText.size === 0) return null;
  const alternatives = [...byText.keys()].sort((a, b) => b.length - a.length).map(literalPattern);
  return { regex: new RegExp(alternatives.join('|'), 'gu'), byText };
}

/**
 * `text` cut into [{ text, start, id? }]: added-token matches (with id) and the stretches between;
 * with `skipSpecial`, special tokens do not count as matches.
 */
function splitOnAdded(text, added, skipSpecial) {
  if (!added) return text ? [{ text, start: 0 }] : [];
  const parts = [];
  let offset = 0;
  added.regex.lastIndex = 0;
  for (let match; (match = added.regex.exec(text));) {
    const { id, entry } = added.byText.get(match[0]);
    if (skipSpecial && entry.special) continue;
    let start = match.index;
    let stop = start + match[0].length;
    if (entry.single_word && (WORD_CHAR.test(codePointBefore(text, start)) || WORD_CHAR.test(codePointAt(text, stop)))) {
      continue;
    }
    if (entry.lstrip) start = Math.max(offset, whitespaceStart(text, start));
    if (entry.rstrip) stop = whitespaceEnd(text, stop);
    if (offset < start) parts.push({ text: text.slice(offset, start), start: offset });
    parts.push({ text: text.slice(start, stop), start, id });
    offset = stop;
  }
  if (offset < text.length) parts.push({ text: text.slice(offset), start: offset });
  return parts;
}

function codePointAt(text, index) {
  return index < text.length ? String.fromCodePoint(text.codePointAt(index)) : '';
}

function codePointBefore(text, index) {
  if (index === 0) return '';
  const low = text.charCodeAt(index - 1);
  const pair = index >= 2 && low >= 0xdc00 && low <= 0xdfff;
  return pair ? text.slice(index - 2, index) : text[index - 1];
}

function whitespaceStart(text, index) {
  while (index > 0 && WHITESPACE.test(text[index - 1])) index--;
  return index;
}

function whitespaceEnd(text, index) {
  while (index < text.length && WHITESPACE.test(text[index])) index++;
  return index;
}

// ---------------------------------------------------------------------------------------------
// Normalizers: text -> text

const NORMALIZERS = {
  ...Object.fromEntries(['NFC', 'NFD', 'NFKC', 'NFKD'].map((form) => [form, () => (text) => text.normalize(form)])),
  Sequence: ({ normalizers }) => pipeline(normalizers.map((config) => build('normalizer', NORMALIZERS, config))),
  Prepend: ({ prepend }) => (text) => (text ? prepend + text : text),
  Replace: ({ pattern, content }) => {
    const regex = patternRegExp(pattern);
    return (text) => text.replace(regex, () => content);
  },
};

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers: [{ text, first }] -> [{ text, first }], empty pieces dropped

const PRE_TOKENIZERS = {
  Sequence: ({ pretokenizers }) => pipeline(pretokenizers.map((config) => build('pre_tokenizer', PRE_TOKENIZERS, config))),
  Split: ({ pattern, behavior, invert = false }) => splitter(patternRegExp(pattern), behavior, invert),
  // Rust's char::is_numeric, which tokenizers' Digits tests, is \p{N}.
  Digits: ({ individual_digits: individual }) => splitter(/\p{N}/gu, individual ? 'Isolated' : 'Contiguous'),
  ByteLevel: byteLevelPreTokenizer,
  Metaspace: metaspacePreTokenizer,
};

// How the pieces matched by a split pattern are kept. Spans are [start, end, isMatch].
const SPLIT_BEHAVIORS = {
  Isolated: (spans) => spans,
  Removed: (spans) => spans.filter(([, , isMatch]) => !isMatch),
  // Only the first of adjacent delimiters joins its neighbour, as in tokenizers.
  MergedWithPrevious: (spans) => joinSpans(spans, (isMatch, previousMatch) => isMatch && !previousMatch),
  MergedWithNext: (spans) => mirror(joinSpans(mirror(spans), (isMatch, previousMatch) => isMatch && !previousMatch)),
  Contiguous: (spans) => joinSpans(spans, (isMatch, previousMatch) => isMatch === previousMatch),
};

function splitter(regex, behavior, invert = false) {
  if (!Object.hasOwn(SPLIT_BEHAVIORS, behavior)) throw unsupportedOption('pre_tokenizer', 'Split', 'behavior', behavior);
  const arrange = SPLIT_BEHAVIORS[behavior];
  return (pieces) => pieces.flatMap(({ text, first }) => arrange(matchSpans(text, regex, invert))
    .filter(([start, end]) => end > start)
    .map(([start, end]) => ({ text: text.slice(start, end), first: first && start === 0 })));
}

/** Spans covering `text`: the regex's matches and the stretches between them. */
function matchSpans(text, regex, invert) {
  const spans = [];
  let last = 0;
  regex.lastIndex = 0;
  for (let match; (match = regex.exec(text));) {
    const start = match.index;
    const end = start + match[0].length;
    if (end === start) regex.lastIndex = start + (text.codePointAt(start) > 0xffff ? 2 : 1);
    if (last < start) spans.push([last, start, invert]);
    spans.push([start, end, !invert]);
    last = end;
  }
  if (last < text.length) spans.push([last, text.length, invert]);
  return spans;
}

function joinSpans(spans, joinsPrevious) {
  const joined = [];
  let previousMatch = false;
  for (const [start, end, isMatch] of spans) {
    if (joined.length && joinsPrevious(isMatch, previousMatch)) joined[joined.length - 1][1] = end;
    else joined.push([start, end, isMatch]);
    previousMatch = isMatch;
  }
  return joined;
}

// Spans read right to left (so "merge with next" is "merge with previous" of the mirror image).
function mirror(spans) {
  return spans.map(([start, end, isMatch]) => [-end, -start, isMatch]).reverse();
}

// GPT-2's split, which ByteLevel applies when use_regex is set.
const GPT2_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

function byteLevelPreTokenizer({ add_prefix_space: addPrefixSpace = true, use_regex: useRegex = true }) {
  const split = useRegex ? splitter(onigRegExp(GPT2_SPLIT), 'Isolated') : (pieces) => pieces;
  const withSpace = ({ text, first }) => ({ text: addPrefixSpace && !text.startsWith(' ') ? ` ${text}` : text, first });
  return (pieces) => split(pieces.map(withSpace)).map(({ text, first }) => ({ text: toByteChars(text), first }));
}

// Whether each piece gets a leading replacement character.
const PREPEND_SCHEMES = { always: () => true, first: (first) => first, never: () => false };

function metaspacePreTokenizer(config) {
  const { replacement, split = true } = config;
  const scheme = metaspaceScheme(config);
  if (!Object.hasOwn(PREPEND_SCHEMES, scheme)) throw unsupportedOption('pre_tokenizer', 'Metaspace', 'prepend_scheme', scheme);
  const prepends = PREPEND_SCHEMES[scheme];
  const splitWords = split ? splitter(new RegExp(literalPattern(replacement), 'gu'), 'MergedWithNext') : (pieces) => pieces;
  return (pieces) => splitWords(pieces.map(({ text, first }) => {
    const replaced = text.replaceAll(' ', replacement);
    const prefix = !replaced.startsWith(replacement) && prepends(first) ? replacement : '';
    return { text: prefix + replaced, first };
  }));
}

// Files written before prepend_scheme existed have add_prefix_space: true, which means "always".
const metaspaceScheme = (config) => config.prepend_scheme ?? 'always';

// ---------------------------------------------------------------------------------------------
// Byte-level alphabet (GPT-2): every byte is shown as one printable character. Printable Latin-1
// bytes stand for themselves, the other 68 map to U+0100 onwards in byte order.

const BYTE_CHARS = byteChars();
const CHAR_BYTES = new Map(BYTE_CHARS.map((char, byte) => [char, byte]));
const UTF8 = new TextEncoder();
// Rust's String::from_utf8_lossy replaces invalid sequences as the WHATWG decoder does; neither
// may eat a byte-order mark, which is text here.
const LOSSY_UTF8 = new TextDecoder('utf-8', { ignoreBOM: true });
const STRICT_UTF8 = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true });

function byteChars() {
  const chars = [];
  let moved = 0;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || byte >= 0xae;
    chars.push(String.fromCharCode(printable ? byte : 0x100 + moved++));
  }
  return chars;
}

function toByteChars(text) {
  let out = '';
  for (const byte of UTF8.encode(text)) out += BYTE_CHARS[byte];
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoders: token texts -> texts (tokenizers' decode_chain); the result is joined

const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;

const DECODERS = {
  Sequence: ({ decoders }) => pipeline(decoders.map((config) => build('decoder', DECODERS, config))),
  Replace: ({ pattern, content }) => {
    const regex = patternRegExp(pattern);
    return (tokens) => tokens.map((token) => token.replace(regex, () => content));
  },
  ByteFallback: () => decodeByteFallback,
  Fuse: () => (tokens) => [tokens.join('')],
  Strip: ({ content, start, stop }) => (tokens) => tokens.map((token) => strip(token, content, start, stop)),
  // Metaspace drops every replacement character of the first token when it prepends one.
  Metaspace: (config) => {
    const dropsFirst = metaspaceScheme(config) !== 'never';
    return (tokens) => tokens.map((token, i) => token.replaceAll(config.replacement, i === 0 && dropsFirst ? '' : ' '));
  },
  ByteLevel: () => (tokens) => [decodeByteLevel(tokens)],
};

// xgrammar's vocabulary type of a decoder chain (Tokenizer.grammarVocabulary).
function vocabTypeOf(config) {
  const types = config?.type === 'Sequence' ? config.decoders.map((decoder) => decoder.type) : [config?.type];
  const replacesMetaspace = config?.type === 'Sequence'
    && config.decoders.some(({ type, pattern }) => type === 'Replace' && pattern?.String === '\u2581');
  if (types.includes('ByteLevel')) return 'byte_level';
  return types.includes('ByteFallback') || types.includes('Metaspace') || replacesMetaspace ? 'byte_fallback' : 'raw';
}

// Text written as a token of `vocabType` would write it (the inverse of that type's decoding).
function encodeAs(vocabType, text) {
  if (vocabType === 'byte_level') return toByteChars(text);
  return vocabType === 'byte_fallback' ? text.replaceAll(' ', '\u2581') : text;
}

function usesByteFallback(config) {
  return config?.type === 'ByteFallback' || (config?.type === 'Sequence' && config.decoders.some(usesByteFallback));
}

// Runs of <0xNN> tokens become their UTF-8 text, or one U+FFFD per byte when the run is invalid.
function decodeByteFallback(tokens) {
  const out = [];
  let run = [];
  const endRun = () => {
    if (!run.length) return;
    try {
      out.push(STRICT_UTF8.decode(Uint8Array.from(run)));
    } catch {
      out.push(...run.map(() => '\uFFFD'));
    }
    run = [];
  };
  for (const token of tokens) {
    if (BYTE_TOKEN.test(token)) {
      run.push(parseInt(token.slice(3, 5), 16));
    } else {
      endRun();
      out.push(token);
    }
  }
  endRun();
  return out;
}

// Removes up to `start` leading and `stop` trailing `content` characters.
function strip(token, content, start, stop) {
  const chars = [...token];
  let from = 0;
  while (from < start && chars[from] === content) from++;
  let to = chars.length;
  while (chars.length - to < stop && to > from && chars[to - 1] === content) to--;
  return chars.slice(from, to).join('');
}

// A token made of byte characters gives those bytes; any other token (an added token with a real
// space, say) gives its own UTF-8.
function decodeByteLevel(tokens) {
  return LOSSY_UTF8.decode(Uint8Array.from(tokens.flatMap(byteLevelBytes)));
}

function byteLevelBytes(token) {
  const mapped = [...token].map((char) => CHAR_BYTES.get(char));
  return mapped.includes(undefined) ? [...UTF8.encode(token)] : mapped;
}

// ---------------------------------------------------------------------------------------------
// BPE model

const MODELS = { BPE: (config) => new BPE(config) };

const CACHED_WORD_LENGTH = 256; // longer words are rare and cost little to redo
const WORD_CACHE_ENTRIES = 10000;

class BPE {
  #vocab;
  #tokens = [];
  #merges;
  #byteIds;
  #unkId;
  #fuseUnk;
  #ignoreMerges;
  #cache = new Map();

  constructor(config) {
    refuseUnsupportedBpeOptions(config);
    this.#vocab = new Map(Object.entries(config.vocab));
    for (const [token, id] of this.#vocab) this.#tokens[id] = token;
    this.#merges = new MergeTable(config.merges ?? [], this.#vocab, this.#tokens.length);
    this.#byteIds = config.byte_fallback ? BYTE_CHARS.map((_, byte) => this.#vocab.get(byteToken(byte))) : null;
    this.#unkId = config.unk_token == null ? undefined : this.#vocab.get(config.unk_token);
    if (config.unk_token != null && this.#unkId === undefined) {
      throw new Error(`tokenizer.json is inconsistent: its unk_token ${JSON.stringify(config.unk_token)} is not in the vocabulary.`);
    }
    this.#fuseUnk = Boolean(config.fuse_unk);
    this.#ignoreMerges = Boolean(config.ignore_merges);
  }

  get entryCount() {
    return this.#vocab.size;
  }

  get idCount() {
    return this.#tokens.length;
  }

  tokenToId(token) {
    return this.#vocab.get(token);
  }

  idToToken(id) {
    return this.#tokens[id];
  }

  tokenize(word) {
    if (this.#ignoreMerges) {
      const id = this.#vocab.get(word);
      if (id !== undefined) return [id];
    }
    const cached = this.#cache.get(word);
    if (cached) return cached;
    const ids = this.#merges.apply(this.#symbols(word));
    if (word.length <= CACHED_WORD_LENGTH) {
      if (this.#cache.size >= WORD_CACHE_ENTRIES) this.#cache.clear();
      this.#cache.set(word, ids);
    }
    return ids;
  }

  // One symbol per character; a character outside the vocabulary becomes its <0xNN> byte tokens
  // (byte_fallback), else the unk token (one for a run of them with fuse_unk), else nothing.
  #symbols(word) {
    const ids = [];
    let unknownRun = false;
    for (const char of word) {
      const id = this.#vocab.get(char);
      const known = id === undefined ? this.#fallbackBytes(char) : [id];
      if (known) ids.push(...known);
      else if (this.#unkId !== undefined && !(unknownRun && this.#fuseUnk)) ids.push(this.#unkId);
      unknownRun = !known;
    }
    return ids;
  }

  #fallbackBytes(char) {
    if (!this.#byteIds) return null;
    const ids = [...UTF8.encode(char)].map((byte) => this.#byteIds[byte]);
    return ids.includes(undefined) ? null : ids;
  }
}

function byteToken(byte) {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
}

function refuseUnsupportedBpeOptions(config) {
  if (config.dropout) throw unsupportedOption('model', 'BPE', 'dropout', config.dropout);
  for (const option of ['continuing_subword_prefix', 'end_of_word_suffix']) {
    if (config[option]) throw unsupportedOption('model', 'BPE', option, config[option]);
  }
}

// Merges by rank: the pair (left id, right id) -> rank, and what each rank produces. Applying them
// is tokenizers' algorithm: always merge the lowest-ranked adjacent pair, leftmost first, with a
// priority queue so a long word costs O(n log n).
const RANK_SLOT = 2 ** 32; // queue keys are rank * RANK_SLOT + position: exact doubles below 2^53

class MergeTable {
  #ranks = new Map();
  #results;
  #width;

  constructor(merges, vocab, width) {
    this.#width = width;
    this.#results = new Int32Array(merges.length);
    // A plain loop without per-merge arrays: Llama 3 has 280,000 merges to read at load.
    for (let rank = 0; rank < merges.length; rank++) {
      const [left, right] = mergePair(merges[rank]);
      const leftId = vocab.get(left);
      const rightId = vocab.get(right);
      const result = vocab.get(left + right);
      if (leftId === undefined || rightId === undefined || result === undefined) {
        throw new Error(`tokenizer.json is inconsistent: the merge ${JSON.stringify(merges[rank])} uses a token missing from the vocabulary.`);
      }
      // A pair listed twice keeps its later rank, as in tokenizers' merge map.
      this.#ranks.set(leftId * width + rightId, rank);
      this.#results[rank] = result;
    }
  }

  #rank(left, right) {
    return this.#ranks.get(left * this.#width + right) ?? -1;
  }

  apply(symbols) {
    const count = symbols.length;
    if (count < 2) return symbols;
    const ids = Int32Array.from(symbols); // -1 marks a symbol merged into its left neighbour
    const next = Int32Array.from(symbols, (_, i) => i + 1);
    const prev = Int32Array.from(symbols, (_, i) => i - 1);
    const queue = new MinHeap();
    const enqueue = (pos) => {
      const rank = this.#rank(ids[pos], ids[next[pos]]);
      if (rank >= 0) queue.push(rank * RANK_SLOT + pos);
    };
    for (let pos = 0; pos + 1 < count; pos++) enqueue(pos);
    while (queue.size) {
      const key = queue.pop();
      const rank = Math.floor(key / RANK_SLOT);
      const pos = key - rank * RANK_SLOT;
      const right = next[pos];
      // Skip entries made stale by earlier merges around them.
      if (ids[pos] < 0 || right >= count || this.#rank(ids[pos], ids[right]) !== rank) continue;
      ids[pos] = this.#results[rank];
      ids[right] = -1;
      next[pos] = next[right];
      if (next[pos] < count) prev[next[pos]] = pos;
      if (prev[pos] >= 0) enqueue(prev[pos]);
      if (next[pos] < count) enqueue(pos);
    }
    const merged = [];
    for (let pos = 0; pos < count; pos = next[pos]) merged.push(ids[pos]);
    return merged;
  }
}

// A merge is written as "left right" (byte-level tokens hold no space) or as ["left", "right"].
function mergePair(merge) {
  if (typeof merge !== 'string') return merge;
  const space = merge.indexOf(' ');
  if (space < 0 || merge.indexOf(' ', space + 1) >= 0) {
    throw new Error(`tokenizer.json is inconsistent: the merge ${JSON.stringify(merge)} is not two tokens.`);
  }
  return [merge.slice(0, space), merge.slice(space + 1)];
}

class MinHeap {
  #items = [];

  get size() {
    return this.#items.length;
  }

  push(value) {
    const items = this.#items;
    let i = items.push(value) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent] <= value) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = value;
  }

  pop() {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= items.length) break;
        if (child + 1 < items.length && items[child + 1] < items[child]) child++;
        if (items[child] >= last) break;
        items[i] = items[child];
        i = child;
      }
      items[i] = last;
    }
    return top;
  }
}

// ---------------------------------------------------------------------------------------------
// Patterns. tokenizers compiles Split and Replace regexes with Oniguruma (Ruby syntax). Its
// escapes and constructs are translated to a JavaScript `u` regex; anything that would match
// differently and has no translation here is refused rather than guessed.

function patternRegExp(pattern) {
  if (typeof pattern?.String === 'string') return new RegExp(literalPattern(pattern.String), 'gu');
  if (typeof pattern?.Regex === 'string') return onigRegExp(pattern.Regex);
  throw new UnsupportedModelError(`Unsupported tokenizer pattern ${JSON.stringify(pattern)}.`, { component: 'pattern' });
}

function literalPattern(text) {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

function onigRegExp(source) {
  const translated = translateOniguruma(source);
  try {
    return new RegExp(translated, 'gu');
  } catch (error) {
    throw new UnsupportedModelError(`Unsupported tokenizer regex ${JSON.stringify(source)}: ${error.message}`,
      { component: 'pattern' });
  }
}

// Oniguruma escapes whose JavaScript spelling differs. \s is Unicode White_Space in Oniguruma but
// a different set in JavaScript; \d is any decimal digit there, ASCII only here.
const ONIG_ESCAPES = {
  s: '\\p{White_Space}', S: '\\P{White_Space}', d: '\\p{Nd}', D: '\\P{Nd}',
  n: '\\n', r: '\\r', t: '\\t', f: '\\f', v: '\\v', a: '\\x07', e: '\\x1B',
};

// Characters outside a letter's lower/upper pair that Unicode case folding equates with an ASCII
// letter, which Oniguruma's (?i:...) matches: KELVIN SIGN and LATIN SMALL LETTER LONG S.
const EXTRA_CASE_FOLDS = { k: '\u212A', s: '\u017F' };

// Rules tried in order at each position; `inClass` rules apply inside [...], `outside` ones
// elsewhere, `escapes` in both. Each turns its match into JavaScript source, or refuses it.
const ONIG_RULES = {
  escapes: [
    [/\\([pP])\{(\^?)([^}]*)\}/y, (m) => jsProperty(m[2] ? swapCase(m[1]) : m[1], m[3])],
    [/\\x\{([0-9A-Fa-f]+)\}/y, (m) => `\\u{${m[1]}}`],
    [/\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4})/y, (m) => m[0]],
    [/\\([0-9A-Za-z])/y, (m, state) => ONIG_ESCAPES[m[1]] ?? state.refuse(m[0])],
    [/\\(.)/suy, (m) => `\\u{${m[1].codePointAt(0).toString(16)}}`],
  ],
  inClass: [
    [/\]/y, (m, state) => { state.inClass = false; return m[0]; }],
    [/\[|&&/y, (m, state) => state.refuse(m[0])], // nested classes, POSIX brackets and intersections
    [/[A-Za-z]/y, (m, state) => (state.caseless() ? state.refuse(`(?i:[${m[0]}...])`) : m[0])],
    [/./suy, (m) => m[0]],
  ],
  outside: [
    [/\[\^?/y, (m, state) => { state.inClass = true; return m[0]; }],
    [/\(\?i:/y, (m, state) => { state.groups.push(true); return '(?:'; }],
    [/\((?:\?(?::|=|!|<=|<!|<[A-Za-z]\w*>))?/y, (m, state) => { state.groups.push(false); return m[0]; }],
    [/\(\?/y, (m, state) => state.refuse(m[0])], // atomic groups, inline flags, comments, absence operators
    [/\)/y, (m, state) => { state.groups.pop(); return m[0]; }],
    [/[*+?]\+/y, (m, state) => state.refuse(`${m[0]} (possessive quantifier)`)],
    [/\{,(\d+)\}/y, (m) => `{0,${m[1]}}`],
    [/\{\d+(?:,\d*)?\}/y, (m) => m[0]],
    [/[{}\]]/y, (m) => `\\${m[0]}`], // literal in Oniguruma where not a quantifier
    [/\./y, () => '[^\\n]'],
    [/[\^$]/y, (m, state) => state.refuse(`${m[0]} (Ruby line anchor)`)],
    [/[A-Za-z]/y, (m, state) => (state.caseless() ? caseClass(m[0]) : m[0])],
    [/\p{L}/uy, (m, state) => (state.caseless() ? state.refuse(`(?i:${m[0]})`) : m[0])],
    [/./suy, (m) => m[0]],
  ],
};

function translateOniguruma(source) {
  const groups = []; // one entry per open group: whether it is a (?i:...) group
  const state = {
    inClass: false,
    groups,
    caseless: () => groups.includes(true),
    refuse: (construct) => {
      throw new UnsupportedModelError(`Unsupported construct ${construct} in tokenizer regex ${JSON.stringify(source)}.`,
        { component: 'pattern' });
    },
  };
  let out = '';
  for (let at = 0; at < source.length;) {
    const rules = [...ONIG_RULES.escapes, ...(state.inClass ? ONIG_RULES.inClass : ONIG_RULES.outside)];
    const [match, translate] = firstMatch(rules, source, at);
    out += translate(match, state);
    at += match[0].length;
  }
  return out;
}

// Every rule list ends with a rule for any one character, so some rule matches.
function firstMatch(rules, source, at) {
  for (const [pattern, translate] of rules) {
    pattern.lastIndex = at;
    const match = pattern.exec(source);
    if (match) return [match, translate];
  }
}

const swapCase = (letter) => (letter === 'p' ? 'P' : 'p');

// Oniguruma names scripts bare (\p{Han}); JavaScript wants \p{Script=Han}.
function jsProperty(letter, name) {
  const direct = `\\${letter}{${name}}`;
  try {
    new RegExp(direct, 'u');
    return direct;
  } catch {
    return `\\${letter}{Script=${name}}`;
  }
}

function caseClass(letter) {
  const lower = letter.toLowerCase();
  return `[${lower}${lower.toUpperCase()}${EXTRA_CASE_FOLDS[lower] ?? ''}]`;
}
