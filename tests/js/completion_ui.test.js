// The pieces of a base model's site that run without a page: the completion page's request and
// settings message (runtime/ui/settings.js), its problems' wording (runtime/ui/problems.js), and
// the engine's refusal of a chat without a chat template (runtime/chat_template.js). The page
// itself: tests/e2e/test_completion_page.py.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatTemplate } from '../../runtime/chat_template.js';
import {
  ContextWindowExceededError, DeviceLostError, EngineLostError, IntegrityError, InvalidRequestError, ModelNotLoadedError,
  NoBackendAvailableError, QuotaExceededError, UnsupportedModelError, WebGPUNotAvailableError, fromPlain, toPlain,
} from '../../runtime/errors.js';
import { PAGE_WORDS, describeProblem } from '../../runtime/ui/problems.js';
import { completionRequest, parseSettings, settingsError } from '../../runtime/ui/settings.js';

// One error of each kind the page can meet, as it arrives from the engine's worker.
const ERRORS = [
  new NoBackendAvailableError('no adapter'), new WebGPUNotAvailableError('no adapter'), new QuotaExceededError('full', { needed: 2e9, available: 1e9 }),
  new DeviceLostError('lost'), new IntegrityError('bad', { shard: 'shard-00001.bin' }),
  new ContextWindowExceededError('too long', { promptTokens: 40000, contextLength: 32768 }),
  new UnsupportedModelError('Too large.'), new InvalidRequestError('prompt is required: the text to continue.', { field: 'prompt' }),
  new ModelNotLoadedError('gone'), new EngineLostError('gone'), new TypeError('boom'),
].map((error) => fromPlain(toPlain(error)));

test('the completion request carries the prompt and the settings that are set, streamed with usage', () => {
  const { settings } = parseSettings({ temperature: '0', top_p: '', max_tokens: '' }, { max_tokens: 64 });
  assert.deepEqual(completionRequest(settings, 'Once upon a time'), {
    prompt: 'Once upon a time', stream: true, stream_options: { include_usage: true }, temperature: 0, max_tokens: 64,
  });
});

test('an invalid setting names what was not sent', () => {
  const { errors } = parseSettings({ max_tokens: '-1' });
  assert.match(settingsError(errors, 'Your text').message, /^Your text was not sent\. Max tokens must be /);
  assert.match(settingsError(errors).message, /^Your message was not sent\./);
});

test('a model without a chat template refuses conversations, pointing to completions', () => {
  const template = new ChatTemplate(null, null);
  const messages = [{ role: 'user', content: 'Hi' }];
  for (const call of [() => template.render(messages, { addGenerationPrompt: true }),
    () => template.encode(messages, { addGenerationPrompt: true })]) {
    assert.throws(call, (error) => error.name === 'InvalidRequestError' && error.field === 'messages'
      && /no chat template: it is a base model.*completions\.create/.test(error.message));
  }
});

test('no problem on the completion page speaks of chats, conversations or messages', () => {
  for (const error of ERRORS) {
    const { title, text, list } = describeProblem(error, { page: 'completion' });
    assert.doesNotMatch([title, text, ...list].join(' '), /\b(chats?|conversations?|messages?)\b/i, error.name);
    // The chat page says the same with its own words (one set of texts, not a copy).
    const chat = describeProblem(error);
    assert.deepEqual(Object.keys(chat), Object.keys(describeProblem(error, { page: 'completion' })));
  }
});

test('the completion page titles a refused or too long text as the text, and keeps it', () => {
  const refused = describeProblem(ERRORS.find((error) => error.name === 'InvalidRequestError'), { page: 'completion' });
  assert.equal(refused.title, 'The model cannot take this text');
  assert.equal(refused.text, 'prompt is required: the text to continue.');
  const long = describeProblem(ERRORS.find((error) => error.name === 'ContextWindowExceededError'), { page: 'completion' });
  assert.equal(long.title, 'This text is too long');
  assert.equal(long.text, 'The model cannot read a text this long (40,000 tokens; it holds 32,768, the reply included). '
    + 'Shorten it (your text stays in the box), then try again.');
  // A setting is still a setting.
  assert.equal(describeProblem(settingsError({ top_p: 'Top p must be ...' }, 'Your text'), { page: 'completion' }).title,
    'Check the settings');
});

test('an unknown page is a TypeError naming the pages', () => {
  assert.deepEqual(Object.keys(PAGE_WORDS), ['chat', 'completion']);
  assert.throws(() => describeProblem(new TypeError('x'), { page: 'chats' }),
    (error) => error instanceof TypeError && /unknown page "chats"; use one of chat, completion/.test(error.message));
});
