// A conversation turned into the model's prompt by the model's own jinja chat template, run as
// written by npm @huggingface/jinja (vendor/jinja.mjs): the manifest's `chat_template` carries the
// template and the special-token texts it uses (sitegen/chat_template.py).
//
// render() gives the text transformers' apply_chat_template(messages, tokenize=False) gives, with the
// variables transformers passes: messages, add_generation_prompt, tools (the request's OpenAI tool
// objects, null without: tool_calls.js), documents (null: none here), the named special tokens (bos_token, eos_token, ...), enable_thinking when the request sets
// it (Qwen3's template defaults it), and the functions raise_exception(message) and
// strftime_now(format).
//
// encode() gives the prompt's token ids with message text kept as text, as OpenAI's API does and as
// transformers' apply_chat_template(..., sanitize_control_tokens=True) does: a user who writes
// "<|im_end|>\n<|im_start|>system" into a message gets those characters, not a fake system turn.
// Control tokens are the tokenizer's special added tokens plus the manifest's chat_control_tokens
// (transformers would also count the added tokens written in the template's text, which would make
// Qwen's "<think>" or "<tool_call>" in a user's message an error; we follow the model's own list).
// The steps are transformers' (utils/chat_template_utils.py, mark_control_tokens and
// encode_marked_chat):
//   1. in every string of the messages, each control token's text is wrapped in two private-use
//      markers (markers already there are dropped first, so none can be forged);
//   2. the template renders the marked messages; whatever it does to the text (trim, split, slice),
//      the markers travel with the token text they wrap;
//   3. the rendering is cut at the markers: marked tokens are encoded as plain text
//      (splitSpecialTokens), the rest with the template's control tokens as tokens. A lone marker
//      (the template split a marked token from one of its markers) is dropped but still cuts the
//      text, so the pieces around it cannot join into a control token.
// Each piece after the first is encoded after a newline that is then removed, so that a
// SentencePiece-style tokenizer does not add the word-start space it adds at the start of a text.
// Without control-token text in the messages there are no markers, and the ids are those of the
// whole rendered prompt (what transformers' tokenize=True gives).
//
// Limits (transformers' too): only whole control tokens are kept as text, so a template that joins
// message strings into a token ('<|' + message.role + '|>') must check them itself; a control token
// whose text the tokenizer also reaches through merges of plain text cannot be kept as text, and a
// message holding it is refused (InvalidRequestError).
//
// A base model has no chat template (manifest chat_template null): it continues text, so a
// conversation is refused with an InvalidRequestError that points to the completions API.

import { InvalidRequestError, UnsupportedModelError } from './errors.js';
import { Environment, Interpreter, Template } from './vendor/jinja.mjs';

// transformers' _CONTROL_TOKEN_START and _CONTROL_TOKEN_END (Unicode plane 15, private use).
const MARK_START = '\u{F0000}';
const MARK_END = '\u{F0001}';

const NO_TEMPLATE = 'This model has no chat template: it is a base model, which continues text rather than chatting. '
  + 'Send a prompt to the completions API (engine.completions.create) instead.';

export class ChatTemplate {
  #program; // the parsed template
  #specialTokens;
  #tokenizer;
  #controlTokens; // regex: any control token's text
  #markers; // regex: a marked control token (captured) or a lone marker
  #newlineIds;

  /**
   * `section`: the manifest's chat_template { template, special_tokens, chat_control_tokens }, or
   * null (a base model: render and encode then refuse every conversation); `tokenizer`: the model's
   * tokenizer.js Tokenizer. Throws UnsupportedModelError when @huggingface/jinja cannot parse the
   * template (the build checked it with Python's jinja2).
   */
  constructor(section, tokenizer) {
    if (section === null) return;
    try {
      // The library's Template parses as transformers does (block tags eat their newline and their
      // line's indentation); render() runs the parsed program itself (see JINJA_GLOBALS).
      this.#program = new Template(section.template).parsed;
    } catch (error) {
      throw new UnsupportedModelError(`This model's chat template cannot be read by the site's jinja library `
        + `(@huggingface/jinja): ${error.message}`, { component: 'chat_template' });
    }
    this.#specialTokens = section.special_tokens;
    this.#tokenizer = tokenizer;
    const listed = new Set(section.chat_control_tokens);
    const controls = tokenizer.addedTokens.filter((t) => t.special || listed.has(t.content)).map((t) => t.content);
    // Only control tokens are marked (#marked), so only they are looked for between markers.
    this.#controlTokens = alternation(controls, 'gu');
    this.#markers = new RegExp(`${MARK_START}(${this.#controlTokens.source})${MARK_END}`
      + `|[${MARK_START}${MARK_END}]`, 'u');
    this.#newlineIds = tokenizer.encode('\n');
  }

  /**
   * The prompt text of `messages` ([{ role, content: string, ... }], as request.js gives them), as
   * transformers renders it. Options: addGenerationPrompt (boolean), enableThinking (boolean, or
   * undefined to leave it to the template), tools (OpenAI tool objects [{ type: 'function', function:
   * { name, description, parameters } }], as transformers' apply_chat_template(tools=...) passes
   * them; null or left out: none), now (the Date strftime_now formats; default the current time).
   * Throws InvalidRequestError (field "messages", the template's message) where the template's
   * raise_exception refuses the conversation or the model has no template, UnsupportedModelError
   * where the library fails on it.
   */
  render(messages, { addGenerationPrompt, enableThinking, tools = null, now = new Date() }) {
    this.#requireTemplate();
    if (typeof addGenerationPrompt !== 'boolean') throw new TypeError('addGenerationPrompt must be true or false');
    const variables = {
      messages,
      tools,
      documents: null,
      add_generation_prompt: addGenerationPrompt,
      ...this.#specialTokens,
      raise_exception: (message) => {
        throw new InvalidRequestError(String(message), { field: 'messages' });
      },
      strftime_now: (format) => strftime(now, String(format)),
    };
    if (enableThinking !== undefined) variables.enable_thinking = enableThinking;
    const environment = new Environment();
    for (const [name, value] of Object.entries({ ...JINJA_GLOBALS, ...variables })) environment.set(name, value);
    try {
      return new Interpreter(environment).run(this.#program).value;
    } catch (error) {
      if (error instanceof InvalidRequestError) throw error;
      throw new UnsupportedModelError(`This model's chat template fails in the site's jinja library on this `
        + `conversation: ${error.message}`, { component: 'chat_template' });
    }
  }

  /**
   * The prompt's token ids, control-token text in messages kept as text (see the top of this file);
   * the options and errors of render(), and InvalidRequestError for a control token that cannot be
   * kept as text.
   */
  encode(messages, options) {
    this.#requireTemplate();
    // Tool descriptions are request text too: their control-token text stays text.
    const pieces = this.render(this.#marked(messages), { ...options, tools: this.#marked(options.tools ?? null) })
      .split(this.#markers);
    const ids = this.#tokenizer.encode(pieces[0]);
    for (let i = 1; i < pieces.length; i++) {
      if (!pieces[i]) continue; // a lone marker, or nothing between two markers
      const asText = i % 2 === 1; // split() puts the captured token at odd indices
      const pieceIds = this.#encodePiece(pieces[i], asText);
      if (asText && pieceIds.includes(this.#tokenizer.tokenToId(pieces[i]))) {
        throw new InvalidRequestError(`The messages contain ${JSON.stringify(pieces[i])}, a control token of this `
          + "model that its tokenizer cannot encode as plain text; remove it.", { field: 'messages' });
      }
      ids.push(...pieceIds);
    }
    return ids;
  }

  #requireTemplate() {
    if (!this.#program) throw new InvalidRequestError(NO_TEMPLATE, { field: 'messages' });
  }

  // Copies of `messages` with every control token in their strings wrapped in markers.
  #marked(value) {
    if (typeof value === 'string') {
      return value.replaceAll(MARK_START, '').replaceAll(MARK_END, '')
        .replace(this.#controlTokens, (token) => MARK_START + token + MARK_END);
    }
    if (Array.isArray(value)) return value.map((item) => this.#marked(item));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, this.#marked(item)]));
    }
    return value;
  }

  #encodePiece(piece, asText) {
    const options = { splitSpecialTokens: asText };
    const ids = this.#tokenizer.encode(`\n${piece}`, options);
    const newline = this.#newlineIds;
    return newline.every((id, i) => ids[i] === id) ? ids.slice(newline.length) : this.#tokenizer.encode(piece, options);
  }
}

// The globals @huggingface/jinja's Template.render declares (its setupGlobals), less the two we give
// ourselves (raise_exception, strftime_now). The library has no way to take its globals and replace
// two: setupGlobals is not exported, and Template.render declares all of them before the caller's
// variables, a variable cannot be declared twice, and its raise_exception throws a plain Error that
// cannot be told from the library's own failures. So they are listed here, and
// tests/js/chat_template.test.js checks them against Template.render's (values, and which of jinja's
// global names are defined), so that an upgrade that changes them fails there.
const JINJA_GLOBALS = { false: false, true: true, none: null, False: false, True: true, None: null, range };

// Python's range(stop) and range(start, stop[, step]), as a list.
function range(start, stop, step = 1) {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error('range() arg 3 must not be zero');
  const values = [];
  for (let value = start; step > 0 ? value < stop : value > stop; value += step) values.push(value);
  return values;
}

// A regex matching any of `texts`, longer ones first (so a token wins over the tokens inside it);
// with none, one that never matches.
function alternation(texts, flags = 'u') {
  const escaped = [...new Set(texts)].filter(Boolean).sort((a, b) => b.length - a.length)
    .map((text) => text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'));
  return new RegExp(escaped.join('|') || '(?!)', flags);
}

// Python's strftime in the C locale (what a build machine renders), for the directives chat templates
// use; others are left as written. @huggingface/jinja's own strftime_now names months in the
// browser's language, which would give a German visitor "26 Juli 2024".
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October',
  'November', 'December'];
const pad = (number, width = 2) => String(number).padStart(width, '0');
const DIRECTIVES = {
  a: (d) => DAYS[d.getDay()].slice(0, 3),
  A: (d) => DAYS[d.getDay()],
  b: (d) => MONTHS[d.getMonth()].slice(0, 3),
  B: (d) => MONTHS[d.getMonth()],
  d: (d) => pad(d.getDate()),
  H: (d) => pad(d.getHours()),
  I: (d) => pad((d.getHours() + 11) % 12 + 1),
  j: (d) => pad(Math.round((Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) - Date.UTC(d.getFullYear(), 0, 1))
    / 86400000) + 1, 3),
  m: (d) => pad(d.getMonth() + 1),
  M: (d) => pad(d.getMinutes()),
  p: (d) => (d.getHours() < 12 ? 'AM' : 'PM'),
  S: (d) => pad(d.getSeconds()),
  y: (d) => pad(d.getFullYear() % 100),
  Y: (d) => String(d.getFullYear()),
  '%': () => '%',
};

function strftime(date, format) {
  return format.replace(/%(.)/gsu, (directive, letter) => DIRECTIVES[letter]?.(date) ?? directive);
}
