// A conversation turned into the model's prompt text, from the chat format data the build derived
// from the model's jinja chat template. This mirrors sitegen/chat_format.py's format_conversation
// step for step (its docstring is the specification); the build verified that the data reproduces
// the template, so the two must give the same text. Tokenize the result with encode(), which adds
// no special tokens: any BOS is already in the text.

import { InvalidRequestError } from './errors.js';

// Python's str.isspace() characters, which jinja's |trim removes. Not String.prototype.trim's set:
// that one also removes U+FEFF and keeps U+001C-U+001F and U+0085.
export const TRIM_WHITESPACE = '\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005'
  + '\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';

const TRIM_SET = new Set(TRIM_WHITESPACE); // all in the BMP: one UTF-16 unit each

/**
 * The prompt text for `messages` ([{ role, content }]: an optional first system message, then user
 * and assistant messages) in chat format `fmt`; with `addGenerationPrompt`, ready for the reply.
 * Throws InvalidRequestError (field "messages") for a conversation the format cannot express.
 */
export function formatConversation(fmt, messages, { addGenerationPrompt }) {
  if (typeof addGenerationPrompt !== 'boolean') throw new TypeError('addGenerationPrompt must be true or false');
  if (!Array.isArray(messages)) refuse('messages must be an array of { role, content } objects.');
  const { roles } = fmt;
  const turns = messages.map(checkedMessage);
  let text = fmt.preamble;
  if (turns[0]?.role === 'system') {
    const system = roles.system;
    if (system === null) refuse("This model's chat template does not accept a system message; leave it out.");
    const wrapped = system.prefix + content(system, turns.shift().content) + system.suffix;
    if (system.mode === 'turn') {
      text += wrapped;
    } else if (turns[0]?.role === 'user') {
      turns[0] = { role: 'user', content: wrapped + turns[0].content };
    } else {
      refuse("This model's chat template puts the system message into the first user message, so a user "
        + 'message must follow it.');
    }
  } else {
    text += fmt.default_system;
  }
  for (const message of turns) {
    if (message.role !== 'user' && message.role !== 'assistant') {
      refuse(`Unsupported message role '${message.role}': a conversation is an optional first system message, `
        + 'then user and assistant messages.');
    }
    const role = roles[message.role];
    text += role.prefix + content(role, message.content) + role.suffix;
  }
  return text + (addGenerationPrompt ? fmt.generation_prompt : '');
}

// Python would fail here too (a missing key, text added to a non-string), only less clearly.
function checkedMessage(message, index) {
  const type = message?.content === null ? 'null' : typeof message?.content;
  if (type !== 'string') refuse(`messages[${index}].content must be a string, not ${type}.`);
  return { role: message.role, content: message.content };
}

function content(role, text) {
  return role.trim ? trim(text) : text;
}

function trim(text) {
  let start = 0;
  let end = text.length;
  while (start < end && TRIM_SET.has(text[start])) start++;
  while (end > start && TRIM_SET.has(text[end - 1])) end--;
  return text.slice(start, end);
}

function refuse(message) {
  throw new InvalidRequestError(message, { field: 'messages' });
}
