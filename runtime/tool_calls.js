// Tool calling (OpenAI's `tools`, `tool_choice`, `parallel_tool_calls`): the checks of a chat
// request's tool fields, the model's tool-call syntax, the grammar that forces a call, and the
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
// [TOOL_CALLS], <|tool_call|> and <|python_tag|> are special tokens: reply text leaves them out (as
// `tokenizers`' decode skips them) and a grammar cannot write them (grammar.js), so those syntaxes
// are read from the JSON alone: a reply that is a JSON value of calls and nothing else.
//
// tool_choice: "none" (the tools are in the prompt, the reply is text as written), "auto" (the model
// chooses: its reply is decoded freely and parsed; a call whose JSON does not parse or names no
// tool stays text), "required" (at least one call of any tool) or { type: "function", function:
// { name } } (one call of that tool). Forced choices decode under the grammar toolCallGrammar()
// builds from the syntax and the tools' parameter schemas, so every call's `arguments` validates.
// "auto" is left unconstrained, and parsed: for the syntaxes that begin a call with a special token
// (mistral, phi4_mini, llama3_json) no text marks where a call starts, so a grammar allowing "text or
// a call" would have to guess from the JSON's first characters and refuse replies that merely begin
// with JSON; and a free reply keeps decoding at unconstrained speed.

import { InvalidRequestError } from './errors.js';
import { assertAt, assertOnlyKeys, checkJSONSchema, describe, isPlainObject } from './response_format.js';

const NAME_RULE = /^[a-zA-Z0-9_-]{1,64}$/; // OpenAI's rule for a function's name
const CHOICES = ['none', 'auto', 'required'];

/**
 * Check a request's `tools` (given: not null) and return them as OpenAI tool objects
 * [{ type: 'function', function: { name, description?, parameters, strict? } }], `parameters`
 * defaulting to an object with no properties (OpenAI's "no parameters"). The parameters must be a
 * JSON Schema constrained decoding enforces (response_format.js checkJSONSchema). Throws
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
 * that picks it from a template; `argumentsKey`; how calls sit in the reply: `tagged` ({ open,
 * close } texts around each call's JSON) or `list` (the whole reply is a JSON array of calls) or
 * neither (the whole reply is calls separated by `separator`); the grammar's texts (`prefix`,
 * `begin`, `end`, `separator`, `suffix`: prefix, then begin(name) arguments end per call, joined by
 * separator, then suffix); `parallel` (whether the model writes several calls in one reply);
 * `newId()`; `toolsInSystemMessage` (the tool list goes to the system message, Phi-4-mini's way).
 */
export const SYNTAXES = [
  { name: 'hermes', marker: '<tool_call>', argumentsKey: 'arguments', tagged: { open: '<tool_call>', close: '</tool_call>' },
    prefix: '', begin: (name) => `<tool_call>\n${callOpening('arguments')(name)}`, end: '}\n</tool_call>', separator: '\n',
    suffix: '', parallel: true, newId: openAIId },
  { name: 'mistral', marker: '[TOOL_CALLS]', argumentsKey: 'arguments', list: true,
    prefix: '[', begin: callOpening('arguments'), end: '}', separator: ', ', suffix: ']', parallel: true,
    newId: () => randomAlphanumeric(9) },
  { name: 'phi4_mini', marker: '<|tool|>', argumentsKey: 'arguments', list: true, toolsInSystemMessage: true,
    prefix: '[', begin: callOpening('arguments'), end: '}', separator: ', ', suffix: ']', parallel: true, newId: openAIId },
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
 * The grammar source (grammar.js kind 'structural_tag') a forced tool choice decodes under:
 * `syntax`'s calls of the allowed tools (choice { name }: that one, once; "required": any of them,
 * at least once, several where `parallel` and the syntax allow), each call's arguments valid
 * against its tool's parameters.
 */
export function toolCallGrammar(syntax, { tools, choice, parallel }) {
  const allowed = typeof choice === 'object' ? tools.filter((tool) => tool.function.name === choice.name) : tools;
  const calls = {
    type: 'tags_with_separator',
    separator: syntax.separator,
    at_least_one: true,
    stop_after_first: typeof choice === 'object' || !parallel || !syntax.parallel,
    tags: allowed.map(({ function: fn }) => ({ type: 'tag', begin: syntax.begin(fn.name),
                                               content: { type: 'json_schema', json_schema: fn.parameters }, end: syntax.end })),
  };
  const around = [syntax.prefix, syntax.suffix].map((value) => ({ type: 'const_string', value }));
  const format = syntax.prefix || syntax.suffix ? { type: 'sequence', elements: [around[0], calls, around[1]] } : calls;
  return { kind: 'structural_tag', format };
}

// ---------------------------------------------------------------------------------------------
// Parsing replies

/**
 * Splits a reply's text, as it streams, into content and tool calls by `syntax`'s rule: push(text)
 * returns { content, toolCalls } for what is now final (content: text to show; toolCalls:
 * [{ id, type: 'function', function: { name, arguments: JSON string } }]); finish(text) takes the
 * reply's last text and returns the rest.
 * Text that may still become a call is held back until it is known: for tagged calls from a
 * possible opening tag to its closing tag, for the JSON syntaxes the whole reply when it begins
 * with the JSON ('{' or '['). What does not parse as calls of `tools` (bad JSON, an unknown name,
 * arguments that are not an object) is content.
 */
export class ToolCallStream {
  #syntax;
  #names;
  #held = '';
  #started = false; // some non-blank text has been seen
  #whole = false; // (JSON syntaxes) the reply began with JSON: held to the end

  /** `syntax`: a SYNTAXES entry; `tools`: the request's tools (readTools()). */
  constructor(syntax, tools) {
    this.#syntax = syntax;
    this.#names = new Set(tools.map((tool) => tool.function.name));
  }

  push(text) {
    this.#held += text;
    if (this.#syntax.tagged) return this.#tagged(false);
    if (!this.#started && this.#held.trim()) {
      this.#started = true;
      this.#whole = this.#held.trimStart().startsWith(this.#syntax.list ? '[' : '{');
    }
    if (this.#whole || !this.#started) return { content: '', toolCalls: [] };
    return this.#release();
  }

  finish(text = '') {
    this.#held += text;
    if (this.#syntax.tagged) return this.#tagged(true);
    const calls = this.#whole ? this.#parseWhole(this.#held) : null;
    if (calls) {
      this.#held = '';
      return { content: '', toolCalls: calls };
    }
    return this.#release();
  }

  #release() {
    const content = this.#held;
    this.#held = '';
    return { content, toolCalls: [] };
  }

  // Tagged calls: content up to an opening tag (or a possible start of one at the end), each closed
  // call parsed; at the end, an unclosed call is a call where its JSON is whole (the reply was cut,
  // by max_tokens, inside the closing tag), else content.
  #tagged(end) {
    const { open, close } = this.#syntax.tagged;
    let content = '';
    const toolCalls = [];
    for (;;) {
      const at = this.#held.indexOf(open);
      if (at < 0) {
        const keep = end ? 0 : partialSuffix(this.#held, open);
        content += this.#held.slice(0, this.#held.length - keep);
        this.#held = this.#held.slice(this.#held.length - keep);
        break;
      }
      const closeAt = this.#held.indexOf(close, at + open.length);
      if (closeAt < 0) {
        content += this.#held.slice(0, at);
        this.#held = this.#held.slice(at);
        if (end) {
          const body = this.#held.slice(open.length);
          const call = this.#callOf(body.slice(0, body.length - partialSuffix(body, close)));
          if (call) {
            toolCalls.push(call);
            this.#held = '';
          } else {
            content += this.#release().content;
          }
        }
        break;
      }
      const call = this.#callOf(this.#held.slice(at + open.length, closeAt));
      content += this.#held.slice(0, at);
      if (call) toolCalls.push(call);
      else content += this.#held.slice(at, closeAt + close.length);
      this.#held = this.#held.slice(closeAt + close.length);
    }
    // Whitespace between calls and around them is the syntax's layout, not content.
    return { content: toolCalls.length && !content.trim() ? '' : content, toolCalls };
  }

  // The calls of a whole reply of JSON syntax: an array of calls, or calls joined by the separator
  // (Llama writes one; vLLM also takes several separated by "; "); null where any fails.
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
    const calls = values.map((value) => this.#callFrom(value));
    return calls.every(Boolean) ? calls : null;
  }

  #callOf(json) {
    return this.#callFrom(parseJSON(json.trim()));
  }

  #callFrom(value) {
    const args = value?.[this.#syntax.argumentsKey] ?? value?.arguments;
    if (!isPlainObject(value) || !this.#names.has(value.name) || !isPlainObject(args)) return null;
    return { id: this.#syntax.newId(), type: 'function', function: { name: value.name, arguments: JSON.stringify(args) } };
  }
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
