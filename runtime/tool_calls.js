// Tool calling (OpenAI's `tools`, `tool_choice`, `parallel_tool_calls`): the checks of a chat
// request's tool fields, the model's tool-call syntax, the grammar of the calls, and the
// parser that turns the model's reply text back into OpenAI's `tool_calls`.
//
// A model writes tool calls in the syntax its chat template teaches it. The template renders the
// tool list (the `tools` variable, as transformers' apply_chat_template(tools=...) passes it) and
// earlier calls and results; the reply is then parsed by the syntax's rule. SYNTAXES is the one table
// of the syntaxes we read, each chosen by a text its template contains:
//   hermes       <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>, one per call (Qwen2.5, Qwen3)
//   mistral      [TOOL_CALLS] [{"name": ..., "arguments": {...}}, ...] (Mistral v0.3)
//   phi4_mini    <|tool_call|>[{"name": ..., "arguments": {...}}]<|/tool_call|> (Phi-4-mini; its
//                template reads the tool list from the system message's `tools`, a JSON string,
//                as the model card shows, not from the `tools` variable)
//   llama3_json  {"name": ..., "parameters": {...}}: the whole reply is the call (Llama 3.1, 3.2)
// [TOOL_CALLS] and <|tool_call|> are special tokens (a syntax's `callToken`): reply text leaves them
// out (as `tokenizers`' decode skips them), so the engine decodes that one token as its text
// (withCallToken()) to show where the calls begin; a grammar cannot write them (xgrammar allows no
// special token but the stop tokens), so the engine writes or awaits the token itself (below).
// (Llama 3.1's <|python_tag|> serves its built-in tools only: its JSON calls have no marker.)
//
// tool_choice: "none" (the tools are in the prompt, the reply is text as written), "auto" (the model
// chooses), "required" (at least one call of any tool) or { type: "function", function: { name } }
// (one call of that tool). The calls decode under the grammar toolCallGrammar() builds from the
// syntax and the tools' parameter schemas, so every call's `arguments` validates:
// - forced choices: the whole reply is calls (for a callToken syntax the engine makes the token the
//   reply's first, then the grammar holds);
// - "auto", hermes: xgrammar's triggered_tags, free text until "<tool_call>", then a call;
// - "auto", mistral and phi4_mini: free decoding until the model samples the callToken, then the
//   forced grammar's calls to the reply's end (the engine switches the matcher on: a trigger xgrammar
//   cannot see, as the token is special);
// - "auto", llama3_json: free decoding, the reply parsed (no text or token marks a call's start: a
//   grammar would have to guess from the JSON's first characters, refusing replies that merely begin
//   with JSON); a call whose JSON does not parse or names no tool stays text.
// parallel_tool_calls false: at most one call. The grammars stop after the first call; a parsed
// reply's further calls are dropped (not made content: they are calls the request ruled out).
// Calls decoded under a grammar stream their arguments as they are written (ToolCallStream).

import { InvalidRequestError } from './errors.js';
import { assertAt, assertOnlyKeys, checkJSONSchema, describe, isPlainObject } from './response_format.js';

const NAME_RULE = /^[a-zA-Z0-9_-]{1,64}$/; // OpenAI's rule for a function's name
const CHOICES = ['none', 'auto', 'required'];

/**
 * Check a request's `tools` (given: not null) and return them as OpenAI tool objects
 * [{ type: 'function', function: { name, description?, parameters, strict? } }], `parameters`
 * defaulting to an object with no properties (OpenAI's "no parameters"). The parameters must be a
 * JSON Schema of an object ("type": "object") that constrained decoding enforces
 * (response_format.js checkJSONSchema). Throws
 * InvalidRequestError naming the field ("tools[1].function.name") for any other shape, a repeated
 * name, and a schema keyword that is not enforced.
 */
export function readTools(value, field = 'tools') {
  assertAt(Array.isArray(value) && value.length > 0, field,
           `${field} must be a non-empty array of { type: "function", function: { name, description, parameters } }; got ${describe(value)}.`);
  const names = new Set();
  return value.map((tool, i) => {
    const path = `${field}[${i}]`;
    assertAt(isPlainObject(tool) && tool.type === 'function', `${path}.type`,
             `${path} must be { type: "function", function: {...} } (functions are the only tools); got ${describe(tool)}.`);
    assertOnlyKeys(tool, path, ['type', 'function']);
    const fn = tool.function;
    assertAt(isPlainObject(fn), `${path}.function`, `${path}.function must be an object { name, description, parameters }; got ${describe(fn)}.`);
    assertOnlyKeys(fn, `${path}.function`, ['name', 'description', 'parameters', 'strict']);
    assertAt(typeof fn.name === 'string' && NAME_RULE.test(fn.name), `${path}.function.name`,
             `${path}.function.name must be 1 to 64 letters, digits, underscores or dashes; got ${describe(fn.name)}.`);
    assertAt(!names.has(fn.name), `${path}.function.name`, `${path}.function.name "${fn.name}" is given twice; tool names must be distinct.`);
    names.add(fn.name);
    assertAt(fn.description == null || typeof fn.description === 'string', `${path}.function.description`,
             `${path}.function.description must be a string; got ${describe(fn.description)}.`);
    assertAt(fn.strict == null || typeof fn.strict === 'boolean', `${path}.function.strict`,
             `${path}.function.strict must be true or false; got ${describe(fn.strict)}.`);
    const parameters = fn.parameters ?? { type: 'object', properties: {} };
    assertAt(isPlainObject(parameters), `${path}.function.parameters`,
             `${path}.function.parameters must be a JSON Schema object such as { "type": "object", "properties": {...} }; got ${describe(fn.parameters)}.`);
    checkJSONSchema(parameters, `${path}.function.parameters`);
    // A call's arguments are a JSON object, as OpenAI's are (the syntaxes end a call's JSON at its `}`).
    assertAt(parameters.type === 'object', `${path}.function.parameters.type`,
             `${path}.function.parameters must describe a JSON object: give "type": "object" at its root, with the arguments `
             + `as its properties; got "type": ${describe(parameters.type)}.`);
    const checked = { name: fn.name, ...(fn.description != null ? { description: fn.description } : {}), parameters };
    return { type: 'function', function: fn.strict == null ? checked : { ...checked, strict: fn.strict } };
  });
}

/**
 * Check a request's `tool_choice` (given: not null): "none" | "auto" | "required", or
 * { type: "function", function: { name } }, returned as the string or as { name }.
 */
export function readToolChoice(value, field = 'tool_choice') {
  if (CHOICES.includes(value)) return value;
  const forms = `one of ${CHOICES.map((c) => `"${c}"`).join(', ')} or { type: "function", function: { name } }`;
  assertAt(isPlainObject(value) && value.type === 'function' && isPlainObject(value.function), field,
           `${field} must be ${forms}; got ${describe(value)}.`);
  assertOnlyKeys(value, field, ['type', 'function']);
  assertOnlyKeys(value.function, `${field}.function`, ['name']);
  assertAt(typeof value.function.name === 'string', `${field}.function.name`,
           `${field}.function.name must be the name of one of the request's tools; got ${describe(value.function.name)}.`);
  return { name: value.function.name };
}

/**
 * The request's tool settings: { tools (readTools()), choice: 'none' | 'auto' | 'required' |
 * { name }, parallel (parallel_tool_calls; OpenAI's default true) }, or null without tools.
 * OpenAI's default choice is "auto". Throws InvalidRequestError naming tool_choice where it is
 * given without tools (other than "none") or names no tool of the request.
 */
export function toolSettings(tools, choice, parallel) {
  if (!tools) {
    assertAt(choice === undefined || choice === 'none', 'tool_choice',
             'tool_choice needs tools: give the functions the model may call in tools, or leave tool_choice out.');
    assertAt(parallel === undefined, 'parallel_tool_calls', 'parallel_tool_calls needs tools; leave it out.');
    return null;
  }
  if (isPlainObject(choice) && !tools.some((tool) => tool.function.name === choice.name)) {
    throw new InvalidRequestError(`tool_choice.function.name "${choice.name}" is not one of the request's tools `
      + `(${tools.map((tool) => tool.function.name).join(', ')}).`, { field: 'tool_choice.function.name' });
  }
  return { tools, choice: choice ?? 'auto', parallel: parallel ?? true };
}

/**
 * Whether the toolSettings() `tools` (or null) force a call: tool_choice "required" or a named
 * function, which decode under toolCallGrammar().
 */
export function isForcedChoice(tools) {
  return Boolean(tools) && (tools.choice === 'required' || isPlainObject(tools.choice));
}

// ---------------------------------------------------------------------------------------------
// Syntaxes

// A call's JSON object, as the model writes it: {"name": "<name>", "<argumentsKey>": <arguments>}.
const callOpening = (argumentsKey) => (name) => `{"name": ${JSON.stringify(name)}, "${argumentsKey}": `;
// Call ids as OpenAI writes them: "call_" and 24 letters and digits. (Mistral's template refuses any
// id but 9 letters and digits: its entry makes those.)
const openAIId = () => `call_${randomAlphanumeric(24)}`;

/**
 * The tool-call syntaxes, first match wins (see the top of this file). Each: `marker`, the text
 * that picks it from a template; `argumentsKey`; where calls sit in the reply: `tagged` ({ open,
 * close } texts around each call's JSON, text between calls), else after `callToken` (the special
 * token that begins the calls: a JSON list of them to the reply's end, `list`), else the whole
 * reply (when it begins with the JSON); the grammar's texts (`prefix`, `begin`, `end`,
 * `separator`, `suffix`: prefix, then begin(name) arguments end per call, joined by separator, then
 * suffix; `begin` starts with the tagged open text); `parallel` (whether the model writes several
 * calls in one reply); `newId()`; `toolsInSystemMessage` (the tool list goes to the system
 * message, Phi-4-mini's way).
 */
export const SYNTAXES = [
  { name: 'hermes', marker: '<tool_call>', argumentsKey: 'arguments', tagged: { open: '<tool_call>', close: '</tool_call>' },
    prefix: '', begin: (name) => `<tool_call>\n${callOpening('arguments')(name)}`, end: '}\n</tool_call>', separator: '\n',
    suffix: '', parallel: true, newId: openAIId },
  // The template writes "[TOOL_CALLS] [": hence the prefix's space.
  { name: 'mistral', marker: '[TOOL_CALLS]', argumentsKey: 'arguments', callToken: '[TOOL_CALLS]', list: true,
    prefix: ' [', begin: callOpening('arguments'), end: '}', separator: ', ', suffix: ']', parallel: true,
    newId: () => randomAlphanumeric(9) },
  { name: 'phi4_mini', marker: '<|tool|>', argumentsKey: 'arguments', callToken: '<|tool_call|>', list: true,
    toolsInSystemMessage: true, prefix: '[', begin: callOpening('arguments'), end: '}', separator: ', ', suffix: ']',
    parallel: true, newId: openAIId },
  { name: 'llama3_json', marker: '"parameters"', argumentsKey: 'parameters',
    prefix: '', begin: callOpening('parameters'), end: '}', separator: '; ', suffix: '', parallel: false, newId: openAIId },
];

/** The SYNTAXES entry of a chat template's text, or null where it has no tool support. */
export function toolCallSyntaxOf(template) {
  if (typeof template !== 'string' || !/\btools\b/.test(template)) return null;
  return SYNTAXES.find((syntax) => template.includes(syntax.marker)) ?? null;
}

/**
 * The messages and `tools` template variable to render a conversation with: OpenAI messages as
 * request.js gives them (assistant tool_calls' arguments already parsed into objects, as
 * transformers' templates read them) and the request's tools, placed as `syntax` wants them.
 */
export function templateInput(syntax, messages, tools) {
  if (!tools || !syntax.toolsInSystemMessage) return { messages, tools };
  const list = JSON.stringify(tools.map((tool) => tool.function));
  const [first, ...rest] = messages;
  return first.role === 'system'
    ? { messages: [{ ...first, tools: list }, ...rest], tools: null }
    : { messages: [{ role: 'system', content: '', tools: list }, ...messages], tools: null };
}

/**
 * The grammar source (grammar.js kind 'structural_tag') of a chat reply with tools (toolSettings(),
 * choice other than "none"), or null where the reply decodes freely and is parsed:
 * - a forced choice (choice { name }: that tool, once; "required": any of them, at least once,
 *   several where `parallel` and the syntax allow): `syntax`'s calls, from the reply's first token
 *   (after its callToken, which the engine writes first: a grammar cannot write a special token);
 * - "auto" with a tagged syntax: free text until the open tag (xgrammar's triggered_tags), then a
 *   call, and after it free text again; only one call where `parallel` is false;
 * - "auto" with a callToken syntax: the calls as "required" makes them, which the engine switches
 *   to once the model has sampled the callToken (free decoding until then);
 * - "auto" with neither (llama3_json): null, no text marks a call's start.
 * Every call's arguments validate against its tool's parameters.
 */
export function toolCallGrammar(syntax, { tools, choice, parallel }) {
  if (choice === 'auto' && !syntax.tagged && !syntax.callToken) return null;
  const allowed = typeof choice === 'object' ? tools.filter((tool) => tool.function.name === choice.name) : tools;
  const single = typeof choice === 'object' || !parallel || !syntax.parallel;
  const tags = allowed.map(({ function: fn }) => ({ type: 'tag', begin: syntax.begin(fn.name),
                                                    content: { type: 'json_schema', json_schema: fn.parameters }, end: syntax.end }));
  if (choice === 'auto' && syntax.tagged) {
    return { kind: 'structural_tag', format: { type: 'triggered_tags', triggers: [syntax.tagged.open], tags,
                                               at_least_one: false, stop_after_first: single } };
  }
  // xgrammar 0.1.27 refuses any text after a tags_with_separator (it must end the format), so
  // several calls' suffix (Mistral's and Phi-4-mini's closing "]") is left out: the reply ends after
  // the last call. One call is one of the tags, suffix and all.
  const calls = single ? { type: 'or', elements: tags }
    : { type: 'tags_with_separator', separator: syntax.separator, at_least_one: true, tags };
  const elements = [syntax.prefix, calls, single ? syntax.suffix : '']
    .filter((element) => element !== '').map((element) => (typeof element === 'string' ? { type: 'const_string', value: element } : element));
  return { kind: 'structural_tag', format: elements.length === 1 ? elements[0] : { type: 'sequence', elements } };
}

/**
 * A tokenizer stream decoder (tokenizer.js createStreamDecoder) that decodes `token` (the id of a
 * syntax's callToken) as `text`, the token's own text, where `decoder` skips it as a special token:
 * ToolCallStream then sees where the calls begin. Text held before it is handed out with it.
 */
export function withCallToken(decoder, token, text) {
  return { push: (id) => (id === token ? decoder.flush() + text : decoder.push(id)), flush: () => decoder.flush() };
}

// ---------------------------------------------------------------------------------------------
// Parsing replies

/**
 * Splits a reply's text, as it streams, into content and tool calls by `syntax`'s rule: push(text)
 * returns { content, toolCalls } for what is now final (content: text to show; toolCalls: OpenAI's
 * delta.tool_calls entries: { index, id, type: 'function', function: { name, arguments: '' } } as
 * a call begins, then { index, function: { arguments } } fragments whose concatenation is its
 * arguments' JSON text); finish(text) takes the reply's last text and returns the rest.
 * The calls sit in regions of the reply (SYNTAXES): a tagged call, from a callToken's text to the
 * end, or the whole reply where it begins with the JSON.
 * `constrained`: the reply is decoded under toolCallGrammar(), so a region's text is known to
 * become valid calls: each call is handed out as its name is written and its arguments as they
 * are (a cut reply, finish_reason "length", may leave them unfinished). Otherwise a region is held
 * until it ends and parsed then (one fragment per call); what does not parse as calls of `tools`
 * (bad JSON, an unknown name, arguments that are not an object) is content (a tagged call cut
 * inside its closing tag, its JSON whole, is still a call).
 * `parallel` false: calls after the first are dropped (the grammar writes none; a parsed reply may).
 * Whitespace-only content is held until more content follows: where the reply made calls, the
 * whitespace around them is the syntax's layout, not content.
 */
export class ToolCallStream {
  #syntax;
  #names;
  #constrained;
  #parallel;
  #opening;
  #held = ''; // text not handed out yet, outside a region
  #region = null; // the open region's text after its opening, null outside one
  #decided = false; // (whole-reply syntaxes) whether the reply's first character has been seen
  #scan = { at: 0, call: null }; // (constrained) how far #region is read; the call being read
  #calls = 0; // calls begun
  #space = ''; // whitespace-only content, held

  /**
   * `syntax`: a SYNTAXES entry; `tools`: the request's tools (readTools()); options: `constrained`
   * (default false) and `parallel` (default true), as above.
   */
  constructor(syntax, tools, { constrained = false, parallel = true } = {}) {
    this.#syntax = syntax;
    this.#names = new Set(tools.map((tool) => tool.function.name));
    this.#constrained = constrained;
    this.#parallel = parallel;
    this.#opening = new RegExp(`\\{"name": "([a-zA-Z0-9_-]{1,64})", "${syntax.argumentsKey}": `, 'g');
  }

  push(text) {
    return this.#advance(text, false);
  }

  finish(text = '') {
    return this.#advance(text, true);
  }

  #advance(text, end) {
    const out = { content: '', toolCalls: [] };
    let rest = text;
    for (;;) {
      if (this.#region === null) {
        this.#held += rest;
        const opened = this.#open(end);
        this.#say(out, opened.content);
        if (!opened.found) break;
        this.#region = '';
        this.#scan = { at: 0, call: null };
        rest = opened.rest;
      }
      this.#region += rest;
      const closed = this.#close(out, end);
      if (!closed) break;
      this.#region = null;
      rest = closed.rest;
    }
    if (end) this.#sayEnd(out);
    return out;
  }

  // Where a region opens in #held: { found, content (the text before it, now final), rest (the
  // text after the opening) }; text that may still become an opening stays held.
  #open(end) {
    const open = this.#syntax.tagged?.open ?? this.#syntax.callToken;
    if (open) {
      const at = this.#held.indexOf(open);
      if (at >= 0) return this.#take(at, at + open.length);
      return this.#take(this.#held.length - (end ? 0 : partialSuffix(this.#held, open)));
    }
    // The whole reply, when it begins with the JSON: decided at its first non-blank character.
    if (this.#decided) return this.#take(this.#held.length);
    if (!this.#held.trim()) return this.#take(end ? this.#held.length : 0);
    this.#decided = true;
    const at = this.#held.length - this.#held.trimStart().length;
    return this.#held[at] === '{' ? this.#take(at, at) : this.#take(this.#held.length);
  }

  // The held text up to `contentEnd` as content; where `restStart` is given, a region opens there.
  #take(contentEnd, restStart) {
    const content = this.#held.slice(0, contentEnd);
    const found = restStart !== undefined;
    const rest = this.#held.slice(found ? restStart : contentEnd);
    this.#held = found ? '' : rest;
    return { found, content, rest: found ? rest : '' };
  }

  // Reads the open region: hands out what is final; returns { rest: the text after its closing }
  // once it has ended, else null.
  #close(out, end) {
    const close = this.#syntax.tagged?.close;
    if (this.#constrained) {
      this.#read(out);
      const at = close && !this.#scan.call ? this.#region.indexOf(close, this.#scan.at) : -1;
      if (at >= 0) return { rest: this.#region.slice(at + close.length) };
      return end ? { rest: '' } : null;
    }
    const at = close ? this.#region.indexOf(close) : -1;
    if (at >= 0) {
      this.#parsed(out, this.#region.slice(0, at), this.#region.slice(0, at + close.length));
      return { rest: this.#region.slice(at + close.length) };
    }
    if (!end) return null;
    // Tagged and cut by max_tokens inside its closing tag: the JSON may still be whole.
    const body = close ? this.#region.slice(0, this.#region.length - partialSuffix(this.#region, close)) : this.#region;
    this.#parsed(out, body, this.#region);
    return { rest: '' };
  }

  // (constrained) Hands out the calls written in #region since the last read: each call's first
  // delta once its name is whole, then its arguments' text as far as it has come. The JSON around
  // and between them ('[', ', ', the end texts) is the syntax's layout.
  #read(out) {
    const scan = this.#scan;
    for (;;) {
      if (!scan.call) {
        this.#opening.lastIndex = scan.at;
        const match = this.#opening.exec(this.#region);
        if (!match) return;
        scan.at = match.index + match[0].length;
        scan.call = { index: this.#begin(out, match[1]), depth: 0, inString: false, escaped: false, sent: scan.at };
      }
      const { call } = scan;
      const done = jsonValueEnd(this.#region, scan.at, call);
      scan.at = done ?? this.#region.length;
      if (scan.at > call.sent) {
        this.#fragment(out, call.index, this.#region.slice(call.sent, scan.at));
        call.sent = scan.at;
      }
      if (done === null) return;
      scan.call = null;
    }
  }

  // (unconstrained) A region that ended: its calls, or its `raw` text (the callToken's left out:
  // the model's special token is not text) as content.
  #parsed(out, body, raw) {
    const calls = this.#syntax.tagged ? [this.#callFrom(parseJSON(body.trim()))] : this.#parseWhole(body);
    if (!calls || !calls.every(Boolean)) {
      this.#say(out, (this.#syntax.tagged?.open ?? '') + raw);
      return;
    }
    for (const { name, args } of calls) {
      const index = this.#begin(out, name);
      if (index !== null) this.#fragment(out, index, JSON.stringify(args));
    }
  }

  // A call's first delta; its index, or null where it is dropped (parallel false, a call made).
  #begin(out, name) {
    if (!this.#parallel && this.#calls > 0) return null;
    const index = this.#calls++;
    out.toolCalls.push({ index, id: this.#syntax.newId(), type: 'function', function: { name, arguments: '' } });
    return index;
  }

  #fragment(out, index, text) {
    if (index !== null) out.toolCalls.push({ index, function: { arguments: text } });
  }

  // Content, with whitespace-only runs held until more content shows they are text.
  #say(out, text) {
    if (!text) return;
    if (!text.trim()) {
      this.#space += text;
      return;
    }
    out.content += this.#space + text;
    this.#space = '';
  }

  // The reply's end: held whitespace is content only in a reply that made no calls.
  #sayEnd(out) {
    if (this.#calls === 0) out.content += this.#space;
    this.#space = '';
  }

  // The calls of a region of JSON syntax: an array of calls, or calls joined by the separator
  // (Llama writes one; vLLM also takes several separated by "; "); null where the JSON fails.
  #parseWhole(text) {
    const body = text.trim();
    let values;
    if (this.#syntax.list) {
      values = parseJSON(body);
      if (!Array.isArray(values) || values.length === 0) return null;
    } else {
      const whole = parseJSON(body); // one call (a ";" inside its strings must not split it)
      values = whole !== undefined ? [whole] : body.split(this.#syntax.separator.trim()).map((part) => parseJSON(part.trim()));
    }
    return values.map((value) => this.#callFrom(value));
  }

  // { name, args } of a parsed call of the tools, else null.
  #callFrom(value) {
    const args = value?.[this.#syntax.argumentsKey] ?? value?.arguments;
    if (!isPlainObject(value) || !this.#names.has(value.name) || !isPlainObject(args)) return null;
    return { name: value.name, args };
  }
}

// Where the JSON value starting at or continuing from `from` in `text` ends (the index after it),
// or null where it has not ended yet; `state` ({ depth, inString, escaped }) carries the reading
// across calls. The value is an object or array (a tool's arguments): it ends where its brackets close.
function jsonValueEnd(text, from, state) {
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (state.inString) {
      if (state.escaped) state.escaped = false;
      else if (c === '\\') state.escaped = true;
      else if (c === '"') state.inString = false;
    } else if (c === '"') {
      state.inString = true;
    } else if (c === '{' || c === '[') {
      state.depth += 1;
    } else if (c === '}' || c === ']') {
      state.depth -= 1;
      if (state.depth === 0) return i + 1;
    }
  }
  return null;
}

// How many of `text`'s last characters begin `tag` (text held back: the tag may be arriving).
function partialSuffix(text, tag) {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) {
    if (tag.startsWith(text.slice(-n))) return n;
  }
  return 0;
}

function parseJSON(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomAlphanumeric(length) {
  const values = globalThis.crypto.getRandomValues(new Uint8Array(length));
  return Array.from(values, (value) => ALPHANUMERIC[value % ALPHANUMERIC.length]).join('');
}
