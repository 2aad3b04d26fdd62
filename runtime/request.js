// Validation of requests: parseChatRequest() (chat completions) and parseCompletionRequest()
// (completions, OpenAI's legacy API for base models) check an OpenAI-style request object against
// what this runtime supports and turn it into the plain settings the engine runs with, manifest
// defaults applied. Both read the fields they share (sampling, stop, stream, ...) with the same
// readers. Every problem is an InvalidRequestError whose `field` names the offending field (as a
// path: "messages[2].content", "logit_bias.17") and whose message says what is allowed, so a UI
// or API user can fix the request without reading code.
//
// This is the one check of what users send: the engine and the backends below it (backend.js)
// take these settings as they are, so every bound a backend relies on is enforced here.
//
// Absent, undefined and null all mean "use the default": OpenAI clients send null for unset
// options, and object spreads leave undefined behind.

import { InvalidRequestError } from './errors.js';
import { readResponseFormat } from './response_format.js';
import { isForcedChoice, readToolChoice, readTools, toolSettings } from './tool_calls.js';
import { MAX_LOGIT_BIAS as MAX_LOGIT_BIAS_ENTRIES, MAX_TOP_LOGPROBS } from './sampling_limits.js'; // what every backend holds

export const MAX_STOP_SEQUENCES = 4;
const LOGIT_BIAS_RANGE = 100; // OpenAI's: -100 bans a token, 100 all but forces it
const MAX_COMPLETION_LOGPROBS = 5; // OpenAI's limit of the completions API's logprobs
const COMPLETION_MAX_TOKENS = 16; // OpenAI's default max_tokens of the completions API

// Sampling defaults where neither the request nor the model's generation_config sets a value:
// OpenAI's (temperature 1, top_p 1) and "off" for the rest.
const FALLBACK_GENERATION = { temperature: 1, top_p: 1, top_k: 0, repetition_penalty: 1 };

// The fields both APIs accept, and how to read them. A reader gets the value (never
// null/undefined), the field's name and the manifest, and returns the value to use or throws.
const SHARED_FIELDS = {
  model: readModel,
  stream: readBoolean,
  stream_options: readStreamOptions,
  n: (value, field) => readInteger(value, field, 1, 1, '1 (one choice per request)'),
  max_tokens: (value, field) => readInteger(value, field, 1, Infinity),
  temperature: (value, field) => readNumber(value, field, 0, 2, 'a number from 0 to 2 (0 = greedy)'),
  top_p: readTopP,
  top_k: (value, field, manifest) => readTopK(value, field, manifest.architecture.vocab_size),
  frequency_penalty: (value, field) => readNumber(value, field, -2, 2, 'a number from -2 to 2'),
  presence_penalty: (value, field) => readNumber(value, field, -2, 2, 'a number from -2 to 2'),
  repetition_penalty: readRepetitionPenalty,
  logit_bias: (value, field, manifest) => readLogitBias(value, field, manifest.architecture.vocab_size),
  stop: readStop,
  seed: (value, field) => readInteger(value, field, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER,
                                      'an integer from -(2^53 - 1) to 2^53 - 1'),
  ignore_eos: readBoolean,
  // Accepted and ignored: an end user's id for the provider's abuse monitoring (the OpenAI API's).
  user: readString,
};

// Chat fields that cannot change a reply on this engine, accepted (type-checked) and ignored, so
// that requests of today's OpenAI SDKs run: storage and metadata for OpenAI's dashboard, the
// service tier (one tier here), prompt-cache routing (the KV cache is reused whenever it can be),
// the safety identifier (abuse monitoring).
const IGNORED_CHAT_FIELDS = {
  store: readBoolean,
  metadata: readMetadata,
  service_tier: (value, field) => readOneOf(value, field, ['auto', 'default', 'flex', 'scale', 'priority']),
  prompt_cache_key: readString,
  safety_identifier: readString,
};

const CHAT_FIELDS = {
  messages: parseMessages,
  ...SHARED_FIELDS,
  // The current name of max_tokens (OpenAI's chat API keeps both).
  max_completion_tokens: (value, field) => readInteger(value, field, 1, Infinity),
  logprobs: readBoolean,
  top_logprobs: (value, field) => readInteger(value, field, 0, MAX_TOP_LOGPROBS),
  // A chat-template variable (Qwen3's thinking switch), top-level as in vLLM and SGLang, or inside
  // chat_template_kwargs as their OpenAI-compatible servers also take it.
  enable_thinking: readBoolean,
  chat_template_kwargs: readChatTemplateKwargs,
  // Structured output (response_format.js): OpenAI's forms and a GBNF grammar. The completions
  // API has no such field (OpenAI's has none).
  response_format: readResponseFormat,
  // Tool calling (tool_calls.js).
  tools: (value, field) => readTools(value, field),
  tool_choice: (value, field) => readToolChoice(value, field),
  parallel_tool_calls: readBoolean,
  ...IGNORED_CHAT_FIELDS,
};

const COMPLETION_FIELDS = {
  prompt: readPrompt,
  ...SHARED_FIELDS,
  // The legacy API's logprobs: how many alternatives each token lists (0: the chosen token's only).
  logprobs: (value, field) => readInteger(value, field, 0, MAX_COMPLETION_LOGPROBS),
  echo: readBoolean,
  best_of: (value, field) => readInteger(value, field, 1, 1, '1 (one completion per request)'),
  suffix: (value, field) => assertField(false, field, 'left out (text after an insertion point is not supported; '
                                        + 'the model completes the prompt at its end)', value),
};

/**
 * Check a chat-completions `request` and return the settings to run it with:
 * { messages: [{ role ('system' for OpenAI's 'developer'), content: string (an assistant message's
 *   refusal, where it sent one), name?, reasoning_content?
 *   (assistant messages that gave it), tool_calls? (assistant: [{ id, type: 'function', function:
 *   { name, arguments } }], arguments as templates read them: an object where the request's string is
 *   a JSON object, else that string), tool_call_id? (tool) }],
 *   stream, includeUsage, maxTokens (max_completion_tokens or max_tokens; null: to the context end),
 *   maxTokensField (the field that gave maxTokens: 'max_completion_tokens' | 'max_tokens'; null when
 *   not given: the engine refuses a given one that the context cannot hold, engine.js),
 *   stop: string[], seed (null: random), ignoreEos, logprobs, topLogprobs,
 *   enableThinking (boolean, or undefined: the chat template's default),
 *   responseFormat (null: free text; else the grammar source the reply must follow, response_format.js),
 *   tools (null: none; else tool_calls.js toolSettings(): { tools, choice, parallel }),
 *   (stop strings beside response_format or tools the model may call are refused, naming stop),
 *   sampling: { temperature, topP, topK, frequencyPenalty, presencePenalty, repetitionPenalty, logitBias } }
 * `manifest` is the loaded model's manifest (model_id, generation, architecture).
 */
export function parseChatRequest(request, manifest) {
  const { given, read } = readRequest(request, manifest, CHAT_FIELDS, 'A chat-completion request', '{ messages: [...] }');
  if (given.messages === undefined) {
    throw new InvalidRequestError('messages is required: an array of { role, content } messages.', { field: 'messages' });
  }
  const messages = read('messages');
  const logprobs = read('logprobs') ?? false;
  if (given.top_logprobs !== undefined && !logprobs) {
    throw new InvalidRequestError('top_logprobs requires logprobs: true.', { field: 'top_logprobs' });
  }
  const enableThinking = readEnableThinking(read('enable_thinking'), read('chat_template_kwargs'));
  for (const field of Object.keys(IGNORED_CHAT_FIELDS)) read(field);
  const maxCompletionTokens = read('max_completion_tokens');
  if (maxCompletionTokens !== undefined && given.max_tokens !== undefined && given.max_tokens !== maxCompletionTokens) {
    throw new InvalidRequestError('max_completion_tokens and max_tokens (its former name) disagree; give one of them.',
                                  { field: 'max_completion_tokens' });
  }
  const responseFormat = read('response_format') ?? null;
  const tools = toolSettings(read('tools'), read('tool_choice'), read('parallel_tool_calls'));
  if (tools && tools.choice !== 'none' && responseFormat) {
    throw new InvalidRequestError('response_format cannot be combined with tools here (the reply may be a tool call): '
                                  + 'leave response_format out, or set tool_choice to "none".', { field: 'response_format' });
  }
  const shared = readShared(given, read, manifest, maxCompletionTokens === undefined ? { maxTokens: null, maxTokensField: null }
    : { maxTokens: maxCompletionTokens, maxTokensField: 'max_completion_tokens' });
  assertNoStopUnderGrammar(shared.stop, responseFormat, tools);
  return { messages, ...shared, logprobs, topLogprobs: read('top_logprobs') ?? 0, enableThinking, responseFormat, tools };
}

// A stop string would end a reply decoded under a grammar (response_format, or the tools' calls:
// under tool_choice "auto" too, from a call's start) in the middle of it, with finish_reason "stop"
// or "tool_calls", which there mean the reply is complete (valid JSON for the schema, calls whose
// arguments validate): the two are refused together rather than break that promise. (OpenAI's API
// takes both and may then return incomplete JSON; a client that sends a stop string beside a
// schema or callable tools gets a clear error here instead.)
function assertNoStopUnderGrammar(stop, responseFormat, tools) {
  const callable = tools && tools.choice !== 'none';
  if (stop.length === 0 || !(responseFormat || callable)) return;
  throw new InvalidRequestError(`stop cannot be combined with ${responseFormat ? 'response_format' : 'tools the model may call'}: `
                                + 'a stop string would end the reply in the middle of its grammar (incomplete JSON). '
                                + `Leave stop out; the grammar ends the reply${responseFormat ? '' : ' (or set tool_choice to "none")'}.`,
                                { field: 'stop' });
}

/**
 * Check a completions `request` (OpenAI's legacy API: a prompt to continue, no chat template) and
 * return the settings to run it with: { prompt: string, echo, and, as parseChatRequest's,
 * stream, includeUsage, maxTokens (default 16, OpenAI's), maxTokensField ('max_tokens', null for the
 * default), stop, seed, ignoreEos, logprobs (whether
 * asked), topLogprobs (the request's logprobs count), sampling }.
 * Refused, naming the field: suffix, best_of and n above 1, echo with logprobs (the prompt's own
 * logprobs are not computed), a prompt of token ids or of several strings.
 */
export function parseCompletionRequest(request, manifest) {
  const { given, read } = readRequest(request, manifest, COMPLETION_FIELDS, 'A completion request', '{ prompt: "..." }');
  if (given.prompt === undefined) {
    throw new InvalidRequestError('prompt is required: the text to continue.', { field: 'prompt' });
  }
  const prompt = read('prompt');
  read('best_of');
  read('suffix');
  const topLogprobs = read('logprobs');
  const echo = read('echo') ?? false;
  if (echo && topLogprobs !== undefined) {
    throw new InvalidRequestError('echo cannot be combined with logprobs: the prompt\'s own logprobs are not computed.',
                                  { field: 'echo' });
  }
  return { prompt, echo, ...readShared(given, read, manifest, { maxTokens: COMPLETION_MAX_TOKENS, maxTokensField: null }),
           logprobs: topLogprobs !== undefined, topLogprobs: topLogprobs ?? 0 };
}

// The request object's given fields (null and undefined left out) and a reader of one of them;
// throws for a request that is not an object and for fields `fields` does not know.
function readRequest(request, manifest, fields, what, example) {
  if (!isPlainObject(request)) {
    throw new InvalidRequestError(`${what} must be an object like ${example}; got ${describe(request)}.`, { field: 'request' });
  }
  const given = Object.fromEntries(Object.entries(request).filter(([, value]) => value !== undefined && value !== null));
  for (const field of Object.keys(given)) {
    if (!Object.hasOwn(fields, field)) throw unknownField(field, Object.keys(fields));
  }
  const read = (field) => (Object.hasOwn(given, field) ? fields[field](given[field], field, manifest) : undefined);
  return { given, read };
}

// OpenAI request fields that this runtime does not take, and what to send instead.
const UNSUPPORTED_OPENAI_FIELDS = {
  functions: 'it is the deprecated form of tools: send tools: [{ type: "function", function: { name, description, parameters } }]',
  function_call: 'it is the deprecated form of tool_choice: send tool_choice ("auto", "none", "required" or '
    + '{ type: "function", function: { name } })',
  reasoning_effort: 'leave it out; a thinking model (Qwen3) takes enable_thinking: true or false instead',
  verbosity: 'leave it out, and bound the reply with max_tokens',
  modalities: 'leave it out: the model writes text only',
  audio: 'leave it out: the model writes text only',
  prediction: 'leave it out (predicted outputs are not supported)',
  web_search_options: 'leave it out: the model runs in this browser and searches nothing',
  // (a completions request: the chat API's name)
  max_completion_tokens: 'the completions API calls it max_tokens: send max_tokens',
};

// The error of a request field that `supported` (the request's known fields) lacks: what to do
// instead for an OpenAI field this runtime does not take, the closest supported name for a typo,
// else "leave it out"; the supported fields listed either way.
function unknownField(field, supported) {
  const distances = supported.map((name) => editDistance(name, field));
  const closest = Math.min(2, ...distances);
  const near = supported.filter((name, i) => distances[i] === closest && closest < name.length);
  const fix = UNSUPPORTED_OPENAI_FIELDS[field]
    ?? (near.length ? `did you mean ${near.join(' or ')}? Else leave it out` : 'leave it out');
  const what = Object.hasOwn(UNSUPPORTED_OPENAI_FIELDS, field) ? `The OpenAI field "${field}" is not supported here`
    : `Unknown request field "${field}"`;
  return new InvalidRequestError(`${what}: ${fix}. Supported fields: ${supported.join(', ')}.`, { field });
}

// Levenshtein distance of two short strings (field names).
function editDistance(a, b) {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

// The settings of SHARED_FIELDS; `maxTokensDefault`: { maxTokens, maxTokensField } when max_tokens is not given.
function readShared(given, read, manifest, maxTokensDefault) {
  read('model');
  read('n');
  read('user');
  const stream = read('stream') ?? false;
  if (given.stream_options !== undefined && !stream) {
    throw new InvalidRequestError('stream_options is only allowed with stream: true.', { field: 'stream_options' });
  }
  const generation = { ...FALLBACK_GENERATION, ...manifest.generation };
  const setting = (field) => read(field) ?? generation[field];
  const maxTokens = read('max_tokens');
  return {
    stream,
    includeUsage: read('stream_options')?.includeUsage ?? false,
    ...(maxTokens === undefined ? maxTokensDefault : { maxTokens, maxTokensField: 'max_tokens' }),
    stop: read('stop') ?? [],
    seed: read('seed') ?? null,
    ignoreEos: read('ignore_eos') ?? false,
    sampling: {
      temperature: setting('temperature'),
      topP: setting('top_p'),
      topK: setting('top_k'),
      frequencyPenalty: read('frequency_penalty') ?? 0,
      presencePenalty: read('presence_penalty') ?? 0,
      repetitionPenalty: setting('repetition_penalty'),
      logitBias: read('logit_bias') ?? {},
    },
  };
}

// A completions prompt: one non-empty string, alone or as the one item of an array (OpenAI also
// takes several prompts, and token ids, which this runtime does not).
function readPrompt(value, field) {
  const allowed = 'a non-empty string, or an array of one such string (token ids and several prompts are not supported)';
  const prompt = Array.isArray(value) && value.length === 1 ? value[0] : value;
  assertField(typeof prompt === 'string' && prompt.length > 0, field, allowed, value);
  return prompt;
}

function readModel(model, field, manifest) {
  assertField(model === manifest.model_id, field, `the loaded model "${manifest.model_id}" (or left out)`, model);
  return model;
}

// Messages: system (or developer, its current name in OpenAI's API, rendered as system), user,
// assistant and tool messages in any order; the model's chat template says which orders it takes
// (runtime/chat_template.js passes its refusal on). Content is a string or an array of text parts,
// which we join with newlines (an assistant message with tool_calls may have none: null). A message
// may carry a `name`, passed to the template as transformers passes it (most templates ignore it).
// An assistant message may carry a reply's refusal (readRefusal), and its reasoning_content (a
// string, or null: none), as a page or client sends a thinking model's replies back; it is passed
// to the template as transformers would pass it, and the template decides: Qwen3's drops the
// thinking of turns before the last user message (and strips a <think>…</think> block left in an
// earlier reply's content), so sending it back or not gives the same prompt. An assistant message's tool_calls and a tool message's
// tool_call_id (which must answer a call of an earlier assistant message) reach the template too,
// each call's arguments (OpenAI's string) as templateArguments() gives them.
function parseMessages(value) {
  assertField(Array.isArray(value) && value.length > 0, 'messages', 'a non-empty array of { role, content } messages',
              value);
  const callIds = new Set();
  return value.map((message, i) => {
    const parsed = parseMessage(message, `messages[${i}]`);
    for (const call of parsed.tool_calls ?? []) callIds.add(call.id);
    if (parsed.role === 'tool') {
      assertField(callIds.has(parsed.tool_call_id), `messages[${i}].tool_call_id`,
                  'the id of a tool call in an earlier assistant message\'s tool_calls', parsed.tool_call_id);
    }
    return parsed;
  });
}

// Per role: the fields a message may have beyond role, content and name, and the role it is rendered as.
const ROLES = {
  system: { fields: [] },
  developer: { fields: [], as: 'system' },
  user: { fields: [] },
  assistant: { fields: ['reasoning_content', 'tool_calls', 'refusal'] },
  tool: { fields: ['tool_call_id'] },
};

function parseMessage(message, path) {
  assertField(isPlainObject(message), path, 'an object { role, content }', message);
  const role = ROLES[message.role];
  assertField(role !== undefined, `${path}.role`, `one of ${Object.keys(ROLES).join(', ')}`, message.role);
  const known = ['role', 'content', 'name', ...role.fields];
  for (const key of Object.keys(message)) {
    if (!known.includes(key)) {
      throw new InvalidRequestError(`Unknown message field "${key}" in ${path}; a ${message.role} message has only `
                                    + `${known.join(', ')}.`, { field: `${path}.${key}` });
    }
  }
  const given = (key) => message[key] !== undefined && message[key] !== null;
  const toolCalls = given('tool_calls') ? readToolCalls(message.tool_calls, `${path}.tool_calls`) : null;
  const refusal = given('refusal') ? readRefusal(message, path) : null;
  const content = refusal ?? (toolCalls && !given('content') ? '' : readContent(message.content, `${path}.content`));
  const parsed = { role: role.as ?? message.role, content };
  if (given('name')) parsed.name = readString(message.name, `${path}.name`);
  if (toolCalls) parsed.tool_calls = toolCalls;
  if (given('reasoning_content')) {
    const field = `${path}.reasoning_content`;
    assertField(typeof message.reasoning_content === 'string', field, 'a string (the reply\'s thinking) or null',
                message.reasoning_content);
    parsed.reasoning_content = message.reasoning_content;
  }
  if (message.role === 'tool') {
    assertField(typeof message.tool_call_id === 'string', `${path}.tool_call_id`,
                'the id of the tool call this message answers (a string)', message.tool_call_id);
    parsed.tool_call_id = message.tool_call_id;
  }
  return parsed;
}

// An assistant message's refusal (OpenAI's replies carry one, null but where its model refused): a
// string, the turn's text, which the template renders as its content; a message has one or the
// other. (This runtime's replies send refusal: null, which is taken as none.)
function readRefusal(message, path) {
  const refusal = readString(message.refusal, `${path}.refusal`);
  if (message.content !== undefined && message.content !== null) {
    throw new InvalidRequestError(`${path} has both content and refusal: a reply is one or the other. Send its text as `
                                  + 'content, or content null beside the refusal.', { field: `${path}.refusal` });
  }
  return refusal;
}

// An assistant message's tool_calls: [{ id, type: "function", function: { name, arguments: string } }].
function readToolCalls(value, path) {
  assertField(Array.isArray(value), path, 'an array of { id, type: "function", function: { name, arguments } }', value);
  return value.map((call, i) => {
    const at = `${path}[${i}]`;
    assertField(isPlainObject(call) && call.type === 'function' && isPlainObject(call.function), at,
                '{ id, type: "function", function: { name, arguments } }', call);
    assertField(typeof call.id === 'string' && call.id !== '', `${at}.id`, 'a non-empty string', call.id);
    assertField(typeof call.function.name === 'string' && call.function.name !== '', `${at}.function.name`,
                'the called function\'s name', call.function.name);
    assertField(typeof call.function.arguments === 'string', `${at}.function.arguments`,
                'a string (the call\'s arguments as its response gave them: a JSON object)', call.function.arguments);
    return { id: call.id, type: 'function', function: { name: call.function.name, arguments: templateArguments(call.function.arguments) } };
  });
}

// A history call's arguments as chat templates read them: a JSON object string parsed into the
// object (the templates write it with tojson, as transformers passes a dict); any other string as
// it is (OpenAI accepts any string there: a model may have written invalid JSON, or a client
// something else), which tojson writes as a JSON string.
function templateArguments(text) {
  try {
    const value = JSON.parse(text);
    return isPlainObject(value) ? value : text;
  } catch {
    return text;
  }
}

// A message's content: a string or OpenAI's array of content parts, of which this engine reads text.
function readContent(content, path) {
  if (typeof content === 'string') return content;
  assertField(Array.isArray(content), path, 'a string or an array of { type: "text", text } parts', content);
  return content.map((part, i) => {
    const partPath = `${path}[${i}]`;
    assertField(isPlainObject(part), partPath, 'a text part { type: "text", text }', part);
    if (part.type !== 'text') {
      throw new InvalidRequestError(`${partPath} is a ${JSON.stringify(part.type)} part; this model reads text only: `
                                    + 'send { type: "text", text } parts (describe an image or file in words).',
                                    { field: `${partPath}.type` });
    }
    assertOnlyKeys(part, partPath, ['type', 'text']);
    assertField(typeof part.text === 'string', `${partPath}.text`, 'a string', part.text);
    return part.text;
  }).join('\n');
}

// chat_template_kwargs: { enable_thinking } (the one template variable a request may set).
function readChatTemplateKwargs(value, field) {
  assertOnlyKeys(value, field, ['enable_thinking']);
  return { enableThinking: value.enable_thinking == null ? undefined : readBoolean(value.enable_thinking, `${field}.enable_thinking`) };
}

// enable_thinking given either way; given both ways, the two must agree.
function readEnableThinking(topLevel, kwargs) {
  const nested = kwargs?.enableThinking;
  if (topLevel !== undefined && nested !== undefined && topLevel !== nested) {
    throw new InvalidRequestError('enable_thinking and chat_template_kwargs.enable_thinking disagree; give it once.',
                                  { field: 'chat_template_kwargs.enable_thinking' });
  }
  return topLevel ?? nested;
}

// stream_options: include_usage, and include_obfuscation (OpenAI's random padding of each chunk
// against size side channels on the network: none here, the reply never leaves the browser),
// type-checked and ignored.
function readStreamOptions(value, field) {
  assertOnlyKeys(value, field, ['include_usage', 'include_obfuscation']);
  if (value.include_obfuscation != null) readBoolean(value.include_obfuscation, `${field}.include_obfuscation`);
  const includeUsage = value.include_usage ?? false;
  return { includeUsage: readBoolean(includeUsage, `${field}.include_usage`) };
}

// `value` must be an object whose keys are all in `allowed` (an OpenAI option object such as
// stream_options): anything else is refused by name, so a typo is not silently ignored.
function assertOnlyKeys(value, field, allowed) {
  assertField(isPlainObject(value), field, `an object { ${allowed.join(', ')} }`, value);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new InvalidRequestError(`Unknown field "${key}" in ${field}; it takes only ${allowed.join(', ')}.`,
                                    { field: `${field}.${key}` });
    }
  }
}

function readTopP(value, field) {
  const allowed = 'a number greater than 0 and at most 1';
  assertField(typeof value === 'number' && value > 0 && value <= 1, field, allowed, value);
  return value;
}

// Any count from 1 on keeps that many tokens; from the vocabulary's size on that is every token,
// as 0 (off) is. Passed on capped at the vocabulary's size, so that the backends get a count they
// can hold whatever the request said.
function readTopK(value, field, vocabSize) {
  return Math.min(readInteger(value, field, 0, Infinity, 'an integer >= 0 (0 = off)'), vocabSize);
}

function readRepetitionPenalty(value, field) {
  const allowed = 'a number greater than 0 (1 = off, above 1 discourages repeats)';
  assertField(typeof value === 'number' && Number.isFinite(value) && value > 0, field, allowed, value);
  return value;
}

// Token ids (as object keys, so strings) -> bias added to their logits, passed on as { id: bias }.
function readLogitBias(value, field, vocabSize) {
  const entries = isPlainObject(value) ? Object.entries(value) : [];
  assertField(isPlainObject(value) && entries.length <= MAX_LOGIT_BIAS_ENTRIES, field,
              `an object mapping up to ${MAX_LOGIT_BIAS_ENTRIES} token ids to biases from -100 to 100`, value);
  const bias = {};
  for (const [key, amount] of entries) {
    const entry = `${field}.${key}`;
    const id = Number(key);
    if (!/^\d+$/.test(key) || id >= vocabSize) {
      throw new InvalidRequestError(`${field} key ${JSON.stringify(key)} is not a token id of this model (0 to ${vocabSize - 1}).`,
                                    { field: entry });
    }
    bias[id] = readNumber(amount, entry, -LOGIT_BIAS_RANGE, LOGIT_BIAS_RANGE, 'a bias from -100 to 100');
  }
  return bias;
}

function readStop(value, field) {
  const allowed = `a non-empty string or an array of up to ${MAX_STOP_SEQUENCES} non-empty strings`;
  const stops = typeof value === 'string' ? [value] : value;
  assertField(Array.isArray(stops) && stops.length <= MAX_STOP_SEQUENCES, field, allowed, value);
  stops.forEach((stop, i) => assertField(typeof stop === 'string' && stop.length > 0,
                                         typeof value === 'string' ? field : `${field}[${i}]`, allowed, stop));
  return stops;
}

function readString(value, field) {
  assertField(typeof value === 'string', field, 'a string', value);
  return value;
}

function readOneOf(value, field, allowed) {
  assertField(allowed.includes(value), field, `one of ${allowed.join(', ')}`, value);
  return value;
}

// OpenAI's metadata: up to 16 string values, keys up to 64 characters, values up to 512.
function readMetadata(value, field) {
  const entries = isPlainObject(value) ? Object.entries(value) : [];
  assertField(isPlainObject(value) && entries.length <= 16, field, 'an object of up to 16 string values', value);
  for (const [key, text] of entries) {
    assertField(key.length <= 64 && typeof text === 'string' && text.length <= 512, `${field}.${key}`,
                'a string of up to 512 characters, under a key of up to 64', text);
  }
  return value;
}

function readBoolean(value, field) {
  assertField(typeof value === 'boolean', field, 'true or false', value);
  return value;
}

function readNumber(value, field, min, max, allowed) {
  assertField(typeof value === 'number' && value >= min && value <= max, field, allowed, value);
  return value;
}

function readInteger(value, field, min, max, allowed = rangeText(min, max)) {
  assertField(Number.isInteger(value) && value >= min && value <= max, field, allowed, value);
  return value;
}

function rangeText(min, max) {
  return max === Infinity ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
}

// Throws the InvalidRequestError of `field` unless `ok`: "<field> must be <allowed>; got <value>."
function assertField(ok, field, allowed, value) {
  if (!ok) throw new InvalidRequestError(`${field} must be ${allowed}; got ${describe(value)}.`, { field, allowed });
}

// A short rendering of a rejected value for error messages.
function describe(value) {
  if (typeof value === 'function') return 'a function';
  const text = typeof value === 'string' || typeof value === 'object' ? json(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function json(value) {
  try {
    return JSON.stringify(value);
  } catch { // cycles, BigInts
    return Array.isArray(value) ? 'an array' : 'an object';
  }
}

function isPlainObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
