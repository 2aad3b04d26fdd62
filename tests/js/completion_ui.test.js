// The pieces of a base model's site that run without a page: the completion page's request and
// settings message (runtime/ui/settings.js), and the engine's refusal of a chat without a chat
// template (runtime/chat_template.js). The page itself: tests/e2e/test_completion_page.py.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatTemplate } from '../../runtime/chat_template.js';
import { completionRequest, parseSettings, settingsError } from '../../runtime/ui/settings.js';

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
