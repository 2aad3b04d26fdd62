// The site's OpenAI endpoint (runtime/openai_endpoint.js) as the service worker runs it: real
// Request and Response objects against a real EngineHost (tiny-llama on Dawn) reached through a
// same-thread Connection. Its pure parts first: the event-stream encoding and the error answers.
// The endpoint in the browser, with the openai npm package: tests/e2e/test_openai_endpoint.py.
//
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp \
//     node --test tests/js/openai_endpoint.test.js        (fixtures: see engine.test.js)

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { create, globals } from 'webgpu';

import { EngineHost } from '../../runtime/engine_host.js';
import {
  ContextWindowExceededError, DeviceLostError, EngineLostError, InvalidRequestError, ModelNotLoadedError,
  WebGPUNotAvailableError, fromPlain,
} from '../../runtime/errors.js';
import { OP, REPLY, loadMessage } from '../../runtime/host_protocol.js';
import {
  EndpointError, SSE_DONE, SSE_KEEP_ALIVE, errorAnswer, hostConnector, manifestReader, openAIEndpoint, sameThreadConnection,
  sseEvent,
} from '../../runtime/openai_endpoint.js';
import { Connection } from '../../runtime/worker_client.js';
import { ask, expectedOf, greedy, manifestOf } from './helpers/chat.js';

Object.assign(globalThis, globals);
const dawn = create([]); // referenced for the whole run, as npm webgpu requires

const expected = expectedOf('tiny-llama');
const SCOPE = 'https://example.org/project/';
const MODEL = 'tiny-llama';

describe('server-sent events', () => {
  test('one data line per chunk and a blank line, then [DONE], as OpenAI sends them', () => {
    assert.equal(sseEvent({ id: 'x', choices: [{ delta: { content: 'a\nb' } }] }),
                 'data: {"id":"x","choices":[{"delta":{"content":"a\\nb"}}]}\n\n');
    assert.equal(SSE_DONE, 'data: [DONE]\n\n');
  });
});

describe('error answers', () => {
  const shape = (answer) => [answer.status, answer.headers, Object.keys(answer.body.error)];

  test('an invalid request is 400 naming its field in param', () => {
    const answer = errorAnswer(new InvalidRequestError('temperature must be ...', { field: 'temperature' }));
    assert.equal(answer.status, 400);
    assert.deepEqual(answer.body, { error: { message: 'temperature must be ...', type: 'invalid_request_error',
                                             param: 'temperature', code: null } });
  });

  test("a prompt too long is 400 with OpenAI's code context_length_exceeded, param the prompt's field", () => {
    const answer = errorAnswer(new ContextWindowExceededError('too long'), { promptField: 'messages' });
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error.code, 'context_length_exceeded');
    assert.equal(answer.body.error.param, 'messages');
  });

  test('a model loading, no WebGPU, a lost host are 503 with Retry-After; a lost device 500', () => {
    assert.deepEqual(shape(errorAnswer(new ModelNotLoadedError('loading', { retryAfter: 7 }))),
                     [503, { 'Retry-After': '7' }, ['message', 'type', 'param', 'code']]);
    assert.equal(errorAnswer(new WebGPUNotAvailableError('none')).status, 503);
    assert.equal(errorAnswer(new WebGPUNotAvailableError('none')).body.error.code, 'webgpu_not_available');
    assert.ok(Number(errorAnswer(new EngineLostError('gone')).headers['Retry-After']) > 0);
    // as it comes from the host (errors.js fromPlain): a browser with neither backend; retrying cannot help there
    const none = errorAnswer(fromPlain({ name: 'NoBackendAvailableError', message: 'neither', fields: {} }));
    assert.deepEqual([none.status, none.body.error.code, none.headers], [503, 'no_backend_available', {}]);
    const lost = errorAnswer(new DeviceLostError('lost'));
    assert.deepEqual([lost.status, lost.body.error.code, lost.headers], [500, 'device_lost', {}]);
  });

  test('any other error is 500 server_error with its message; endpoint errors keep their own status', () => {
    assert.deepEqual(errorAnswer(new TypeError('boom')).body.error, { message: 'boom', type: 'server_error', param: null, code: null });
    const wrong = errorAnswer(new EndpointError(405, 'use POST', { headers: { Allow: 'POST' } }));
    assert.deepEqual([wrong.status, wrong.headers.Allow, wrong.body.error.type], [405, 'POST', 'invalid_request_error']);
  });
});

// Reads an event stream's data lines (an SSE parser as OpenAI's SDKs have one: comment lines,
// the heartbeats, skipped).
async function readEvents(response) {
  const text = await response.text();
  assert.ok(text.endsWith('\n\n'), 'every event ends with a blank line');
  return text.split('\n\n').slice(0, -1).filter((event) => !event.startsWith(':')).map((event) => {
    assert.ok(event.startsWith('data: '), event);
    const data = event.slice('data: '.length);
    return data === '[DONE]' ? data : JSON.parse(data);
  });
}

describe('the endpoint on an engine host', () => {
  const host = new EngineHost({ gpu: dawn });
  let connectError = null; // what connect() rejects with instead, when set
  const manifests = manifestReader();
  const connect = async (waitUntil, modelId, check) => {
    if (connectError) throw connectError;
    check(await manifests(manifestOf(MODEL))); // as the service worker's connectors do
    return { connection, manifestUrl: null };
  };
  const connection = sameThreadConnection(host);
  const endpoint = openAIEndpoint({ scope: SCOPE, modelIds: [MODEL], connect });
  // One whose JSON replies outlast their heartbeat here: headers, then spaces, then the JSON.
  const beating = openAIEndpoint({ scope: SCOPE, modelIds: [MODEL], connect, heartbeatMs: 1 });
  const lifetimes = [];
  const call = (path, init, via = endpoint) => via(new Request(SCOPE + path, init), (promise) => lifetimes.push(promise));
  const post = (path, body, init = {}, via = endpoint) => call(path, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body), ...init }, via);
  const chat = (fields) => greedy(ask(expected.prompt), fields);
  // Runs `cancel` (what a client's abort does to a reply's body) and checks that it freed the engine:
  // a 1-token reply asked right after comes sooner than a 30-token reply takes, which it could not
  // had a cancelled reply of more tokens kept its turn.
  const assertCancelFreesTheEngine = async (cancel) => {
    const cancelled = performance.now();
    await cancel();
    const next = await (await post('v1/chat/completions', chat({ max_tokens: 1 }))).json();
    assert.equal(next.choices[0].finish_reason, 'length');
    const waited = performance.now() - cancelled;
    const started = performance.now();
    await (await post('v1/chat/completions', chat({ max_tokens: 30, ignore_eos: true }))).json();
    assert.ok(waited < performance.now() - started, `the next reply came ${waited} ms after the cancel`);
  };

  before(async () => {
    await host.load(loadMessage(manifestOf(MODEL), { maxContext: 128 }, (url) => url), () => {});
  });
  after(() => host.unload());

  test('other URLs are not its own', () => {
    assert.equal(call('index.html'), null);
    assert.equal(call('v1x/models'), null);
    assert.equal(endpoint(new Request('https://example.org/v1/models'), () => {}), null, 'only under the scope');
  });

  test('lists the model, and answers for it by id', async () => {
    const list = await call('v1/models');
    assert.equal(list.status, 200);
    assert.equal(list.headers.get('Content-Type'), 'application/json');
    assert.equal(list.headers.get('Access-Control-Allow-Origin'), null, 'no CORS: same origin only');
    assert.deepEqual(await list.json(), { object: 'list', data: [{ id: MODEL, object: 'model', created: 0, owned_by: 'sitegen' }] });
    assert.equal((await (await call(`v1/models/${MODEL}`)).json()).id, MODEL);
    const missing = await call('v1/models/gpt-4o');
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, 'model_not_found');
    const malformed = await call('v1/models/%E0');
    assert.equal(malformed.status, 404, 'a malformed escape names no model');
    assert.match((await malformed.json()).error.message, /%E0.*malformed/);
  });

  test('HEAD is answered as GET without a body', async () => {
    for (const path of ['v1/models', `v1/models/${MODEL}`]) {
      const head = await call(path, { method: 'HEAD' });
      assert.equal(head.status, 200, path);
      assert.equal(head.headers.get('Content-Type'), 'application/json');
      assert.equal(await head.text(), '');
    }
    assert.equal((await call('v1/models/gpt-4o', { method: 'HEAD' })).status, 404);
  });

  test('an empty model id says what to ask instead', async () => {
    const empty = await call('v1/models/');
    assert.equal(empty.status, 404);
    const { message, code } = (await empty.json()).error;
    assert.equal(code, 'model_not_found');
    assert.doesNotMatch(message, /``/);
    assert.match(message, new RegExp(`GET v1/models/<id> for one of \`${MODEL}\`, or GET v1/models for the list`));
  });

  test("a prompt sent to the other route's URL names the right route", async () => {
    const chatToCompletions = await post('v1/completions', chat());
    assert.equal(chatToCompletions.status, 400);
    const { param, message } = (await chatToCompletions.json()).error;
    assert.equal(param, 'messages');
    assert.match(message, /Send the request to v1\/chat\/completions/);
    const promptToChat = await post('v1/chat/completions', { prompt: 'Hello' });
    assert.equal(promptToChat.status, 400);
    assert.match((await promptToChat.json()).error.message, /prompt belongs to POST v1\/completions/);
  });

  test('a chat completion as JSON: the engine greedy reply', async () => {
    const response = await post('v1/chat/completions', { model: MODEL, ...chat({ max_tokens: 6 }) });
    assert.equal(response.status, 200);
    const completion = await response.json();
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, MODEL);
    assert.ok(expected.greedy_text.startsWith(completion.choices[0].message.content));
    assert.equal(completion.usage.completion_tokens, 6);
    // the openai SDK's ChatCompletion has both, null here (openai_response.js says why)
    assert.deepEqual([completion.choices[0].message.refusal, completion.system_fingerprint], [null, null]);
  });

  test('a streamed chat completion: one event per chunk, then [DONE]', async () => {
    const response = await post('v1/chat/completions', chat({ max_tokens: 6, stream: true, stream_options: { include_usage: true } }));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('Content-Type'), 'text/event-stream; charset=utf-8');
    const events = await readEvents(response);
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1);
    assert.ok(chunks.every((chunk) => chunk.object === 'chat.completion.chunk' && chunk.system_fingerprint === null));
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    assert.ok(expected.greedy_text.startsWith(text) && text.length > 0);
    assert.equal(chunks.at(-1).usage.completion_tokens, 6);
  });

  test('a text completion, JSON and streamed', async () => {
    const body = { prompt: 'Hello', max_tokens: 3, temperature: 0 };
    const completion = await (await post('v1/completions', body)).json();
    assert.equal(completion.object, 'text_completion');
    assert.equal(completion.system_fingerprint, null);
    const events = await readEvents(await post('v1/completions', { ...body, stream: true }));
    assert.equal(events.at(-1), '[DONE]');
    assert.equal(events.slice(0, -1).map((chunk) => chunk.choices[0]?.text ?? '').join(''), completion.choices[0].text);
  });

  test('closing the stream stops the generation and frees the engine', async () => {
    const response = await post('v1/chat/completions', chat({ max_tokens: 100, ignore_eos: true, stream: true }));
    const reader = response.body.getReader();
    await reader.read(); // the first chunk
    await assertCancelFreesTheEngine(() => reader.cancel());
  });

  test('a JSON reply slower than a heartbeat is a body of spaces, then the JSON; its cancel stops it', async () => {
    const running = await post('v1/chat/completions', chat({ max_tokens: 70, ignore_eos: true }), {}, beating);
    const waiting = await post('v1/chat/completions', chat({ max_tokens: 70, ignore_eos: true }), {}, beating);
    assert.deepEqual([waiting.status, waiting.headers.get('Content-Type')], [200, 'application/json'],
                     'the headers come before its turn');
    await waiting.body.cancel(); // what a browser does to the body of a request its caller aborts
    const reader = running.body.getReader();
    assert.match(new TextDecoder().decode((await reader.read()).value), /^ +$/, 'a heartbeat');
    await assertCancelFreesTheEngine(() => reader.cancel());
  });

  test('a JSON reply slower than a heartbeat parses as the completion after its spaces', async () => {
    const response = await post('v1/chat/completions', chat({ max_tokens: 70, ignore_eos: true }), {}, beating);
    assert.deepEqual([response.status, response.headers.get('Content-Type')], [200, 'application/json']);
    const text = await response.text();
    assert.match(text, /^ +\{/, 'spaces, then the JSON');
    assert.equal(JSON.parse(text).usage.completion_tokens, 70);
  });

  test('a stream that waits for its turn gets its headers, then keep-alive comments, then its events', async () => {
    const running = await post('v1/chat/completions', chat({ max_tokens: 40, ignore_eos: true }), {}, beating);
    const waiting = await post('v1/chat/completions', chat({ max_tokens: 3, stream: true }), {}, beating);
    assert.deepEqual([waiting.status, waiting.headers.get('Content-Type')], [200, 'text/event-stream; charset=utf-8'],
                     'the headers come before its turn');
    const text = await waiting.clone().text();
    assert.ok(text.startsWith(SSE_KEEP_ALIVE.repeat(2)), `comments while it waits: ${JSON.stringify(text.slice(0, 40))}`);
    const events = await readEvents(waiting);
    assert.equal(events.at(-1), '[DONE]');
    const streamed = events.slice(0, -1).map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    assert.ok(streamed.length > 0 && expected.greedy_text.startsWith(streamed), streamed);
    assert.equal(JSON.parse(await running.text()).usage.completion_tokens, 40);
  });

  test('a stream cancelled while it waits leaves the queue: it never runs', async () => {
    const running = await post('v1/chat/completions', chat({ max_tokens: 70, ignore_eos: true }), {}, beating);
    const waiting = await post('v1/chat/completions', chat({ max_tokens: 70, ignore_eos: true, stream: true }), {}, beating);
    const reader = waiting.body.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), SSE_KEEP_ALIVE);
    // A request of another client of the host, asking for progress, hears how many turns come before its own.
    const ahead = [];
    const probe = new Promise((resolve) => {
      sameThreadConnection(host).open({ op: OP.create, request: chat({ max_tokens: 1 }), progress: true }, (reply) => {
        if (reply.type === REPLY.checked) return false;
        if (reply.type !== REPLY.progress) {
          resolve(reply);
          return true;
        }
        if (reply.report.stage === 'waiting') ahead.push(reply.report.ahead);
        return false;
      });
    });
    assert.deepEqual(ahead, [2], 'the running request and the waiting stream');
    await reader.cancel(); // what a browser does to the body of a request its caller aborts
    assert.deepEqual(ahead, [2, 1], 'the stream left the queue');
    assert.equal(JSON.parse(await running.text()).usage.completion_tokens, 70);
    assert.equal((await probe).type, REPLY.result);
  });

  test("an error after a stream's headers is its last event, without [DONE]; before them, an HTTP error", async () => {
    const refused = await post('v1/chat/completions', greedy(ask('word '.repeat(400)), { stream: true }));
    assert.equal(refused.status, 400, 'found before its headers: the status still says it');
    assert.equal((await refused.json()).error.code, 'context_length_exceeded');
    // Left recursion without a base case: no text matches, which only the grammar's first mask
    // shows, once the request runs: after the headers of one that waited for its turn.
    const endless = greedy(ask('Hi'), { stream: true, response_format: { type: 'grammar', grammar: 'root ::= root "a"' } });
    const running = await post('v1/chat/completions', chat({ max_tokens: 40, ignore_eos: true }), {}, beating);
    const waited = await post('v1/chat/completions', endless, {}, beating);
    assert.equal(waited.status, 200);
    const events = await readEvents(waited);
    assert.deepEqual(events.map((event) => event.error?.param), ['response_format'], 'one event: the error');
    assert.match(events[0].error.message, /allows no reply at all/);
    await running.text();
  });

  test('a request that waits for its turn gets the 400 of a check that needs no turn, not a 200 with {error}', async () => {
    const long = 'word '.repeat(400);
    const refusals = [
      ['v1/chat/completions', greedy(ask(long)), 'messages', 'context_length_exceeded'],
      ['v1/chat/completions', greedy(ask(long), { stream: true }), 'messages', 'context_length_exceeded'],
      ['v1/completions', { prompt: long }, 'prompt', 'context_length_exceeded'],
      ['v1/chat/completions', chat({ max_tokens: 120 }), 'max_tokens', 'context_length_exceeded'],
      // tiny-llama's chat template renders no tools
      ['v1/chat/completions', chat({ tools: [{ type: 'function', function: { name: 'now', parameters: { type: 'object' } } }] }),
       'tools', null],
    ];
    const running = await post('v1/chat/completions', chat({ max_tokens: 70, ignore_eos: true }), {}, beating);
    assert.equal(running.status, 200);
    for (const [path, body, param, code] of refusals) {
      const refused = await post(path, body, {}, beating);
      const { error } = await refused.json();
      assert.deepEqual([refused.status, error.param, error.code], [400, param, code], `${path} ${param}: ${error.message}`);
    }
    // A valid one sent meanwhile still waits, its headers out, and gets its completion.
    const waiting = await post('v1/completions', { prompt: 'Hello', max_tokens: 2 }, {}, beating);
    assert.equal(waiting.status, 200);
    assert.equal(JSON.parse(await running.text()).usage.completion_tokens, 70, 'the refusals did not touch the running one');
    assert.match(await waiting.clone().text(), /^ +\{/, 'it waited: spaces, then its JSON');
    assert.equal((await waiting.json()).choices[0].finish_reason, 'length');
  });

  test('aborting the request stops it, streamed or not', async () => {
    const streamed = new AbortController();
    const response = await post('v1/chat/completions', chat({ max_tokens: 100, ignore_eos: true, stream: true }),
                                { signal: streamed.signal });
    await response.body.getReader().read();
    streamed.abort();
    const whole = new AbortController();
    const pending = post('v1/chat/completions', chat({ max_tokens: 100, ignore_eos: true }), { signal: whole.signal });
    whole.abort(); // while it waits for its turn, or runs
    // No made-up status (OpenAI has no 499): a network error, as the aborted fetch() sees it anyway.
    assert.equal((await pending).type, 'error');
    const next = await (await post('v1/chat/completions', chat({ max_tokens: 1 }))).json();
    assert.equal(next.choices[0].message.content.length > 0, true);
    await Promise.all(lifetimes); // every request let its service worker go
  });

  test('errors in OpenAI shape: 400 with param, 404 model, 405 method, 400 JSON, context length', async () => {
    const invalid = await post('v1/chat/completions', chat({ temperature: 'hot' }));
    assert.equal(invalid.status, 400);
    assert.deepEqual((({ type, param }) => ({ type, param }))((await invalid.json()).error),
                     { type: 'invalid_request_error', param: 'temperature' });

    const unknown = await post('v1/chat/completions', { ...chat(), model: 'gpt-4o' });
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.message,
                 'The model `gpt-4o` does not exist. This site serves `tiny-llama`: send it as model, or leave model out.');
    const empty = await post('v1/chat/completions', { ...chat(), model: '' });
    assert.equal(empty.status, 400);
    assert.deepEqual((await empty.json()).error, { message: 'model is empty: send `tiny-llama`, or leave model out (the model '
      + 'loaded answers).', type: 'invalid_request_error', param: 'model', code: null });

    const method = await call('v1/chat/completions');
    assert.equal(method.status, 405);
    assert.equal(method.headers.get('Allow'), 'POST');
    assert.equal((await call('v1/models', { method: 'POST', body: '{}' })).headers.get('Allow'), 'GET, HEAD');
    assert.equal((await call('v1/embeddings', { method: 'POST', body: '{}' })).status, 404);

    const json = await post('v1/chat/completions', '{"messages": [');
    assert.equal(json.status, 400);
    assert.match((await json.json()).error.message, /not valid JSON/);

    const long = await post('v1/chat/completions', greedy(ask('word '.repeat(400))));
    assert.equal(long.status, 400);
    assert.deepEqual((({ code, param }) => ({ code, param }))((await long.json()).error),
                     { code: 'context_length_exceeded', param: 'messages' });
    const longPrompt = await (await post('v1/completions', { prompt: 'word '.repeat(400) })).json();
    assert.equal(longPrompt.error.param, 'prompt');
    const tooMany = await post('v1/chat/completions', chat({ max_completion_tokens: 128 }));
    assert.equal(tooMany.status, 400);
    const { code, param, message } = (await tooMany.json()).error;
    assert.deepEqual([code, param], ['context_length_exceeded', 'max_completion_tokens'], 'the field to lower');
    assert.match(message, /max_completion_tokens asks for 128 more; this model's context is 128 tokens/);
  });

  test("the host's connection failing: 503 with Retry-After and the reason", async () => {
    connectError = new ModelNotLoadedError('The model is loading (Downloading weights: 45%). Retry in 9 s.', { retryAfter: 9 });
    try {
      const response = await post('v1/chat/completions', chat());
      assert.equal(response.status, 503);
      assert.equal(response.headers.get('Retry-After'), '9');
      assert.match((await response.json()).error.message, /loading/);
      assert.equal((await call('v1/models')).status, 200, 'the model list needs no engine');
    } finally {
      connectError = null;
    }
  });
});

describe("the service worker's own engine host (hostConnector): one load at a time, failures per model", () => {
  const host = new EngineHost({ gpu: dawn });
  const absolute = (url) => url;
  const MISSING = new URL('missing/manifest.json', manifestOf(MODEL)).href; // a model whose files are not there
  const messages = new Map([
    [MODEL, loadMessage(manifestOf(MODEL), { maxContext: 128 }, absolute)],
    ['tiny-qwen2', loadMessage(manifestOf('tiny-qwen2'), { maxContext: 128 }, absolute)],
    ['missing', loadMessage(MISSING, {}, absolute)],
    // Nothing listens on port 9 (discard): fetch() fails as it does offline.
    ['offline', loadMessage('http://127.0.0.1:9/models/offline/manifest.json', {}, absolute)],
  ]);
  const connect = hostConnector(host, messages);
  const loads = [];
  const waitUntil = (promise) => loads.push(promise);
  const settled = () => Promise.all(loads.splice(0));
  after(async () => { if (host.models.length) await host.unload(); }); // the last load failed: nothing to unload

  test('a request for another model while one loads starts no second load; each model loads in turn', async () => {
    await assert.rejects(connect(waitUntil, MODEL), (error) => error.name === 'ModelNotLoadedError' && error.retryAfter > 0);
    assert.equal(loads.length, 1, 'the first request started the load');
    await assert.rejects(connect(waitUntil, 'tiny-qwen2'), new RegExp(`Another model of this site, ${MODEL}, is loading `
                                                                      + ".*; this request's model, tiny-qwen2, loads once"));
    assert.equal(loads.length, 1, 'no load of tiny-qwen2 replaced the one in progress');
    assert.deepEqual(host.models.map((model) => model.manifestUrl), [manifestOf(MODEL)]);
    await settled();
    assert.equal((await connect(waitUntil)).manifestUrl, manifestOf(MODEL), "a request naming no model takes the loaded one");
    await assert.rejects(connect(waitUntil, 'tiny-qwen2'), /The model tiny-qwen2 is loading/);
    await settled();
    assert.equal((await connect(waitUntil, 'tiny-qwen2')).manifestUrl, manifestOf('tiny-qwen2'));
  });

  test("a failed load is told to the next request for that model only", async () => {
    await assert.rejects(connect(waitUntil, 'missing'), /no such file/, 'its manifest cannot be read: no load starts');
    await assert.rejects(connect(waitUntil, MODEL), /The model tiny-llama is loading/, "the other model's request loads its own");
    await settled();
    const loaded = await connect(waitUntil, MODEL);
    assert.equal(loaded.manifestUrl, manifestOf(MODEL));
  });

  test('a request is checked before a 503: invalid ones hear 400, not "retry"', async () => {
    const endpoint = openAIEndpoint({ scope: SCOPE, modelIds: [...messages.keys()], connect });
    const post = (body) => endpoint(new Request(`${SCOPE}v1/chat/completions`, { method: 'POST', body: JSON.stringify(body) }),
                                    waitUntil);
    const invalid = await post({ model: 'tiny-qwen2', ...greedy(ask('Hi'), { temperature: 'hot' }) });
    assert.equal(invalid.status, 400);
    assert.equal((await invalid.json()).error.param, 'temperature');
    assert.equal(loads.length, 0, 'no load started for it');
    const valid = await post({ model: 'tiny-qwen2', ...greedy(ask('Hi')) });
    assert.equal(valid.status, 503);
    assert.match((await valid.json()).error.message, /The model tiny-qwen2 is loading/);
    await settled();
  });

  test('a model whose files cannot be fetched (offline): NetworkError, 503 with the reason and Retry-After', async () => {
    await assert.rejects(connect(waitUntil, 'offline'), (error) => {
      assert.equal(error.name, 'NetworkError');
      assert.match(error.message, /Could not fetch http:\/\/127\.0\.0\.1:9\/.*offline, or the site unreachable/);
      const answer = errorAnswer(error);
      assert.deepEqual([answer.status, answer.body.error.code], [503, 'network_error']);
      assert.ok(Number(answer.headers['Retry-After']) > 0);
      return true;
    });
    assert.equal(loads.length, 0);
  });
});

describe('hostConnector on a host that holds two models', () => {
  const host = new EngineHost({ gpu: dawn, memoryBudget: Infinity });
  const messages = new Map([MODEL, 'tiny-qwen2'].map((id) => [id, loadMessage(manifestOf(id), { maxContext: 128 }, (url) => url)]));
  const connect = hostConnector(host, messages);
  const loads = [];
  const waitUntil = (promise) => loads.push(promise);
  after(() => host.unload());

  test('a request naming no model takes a loaded model, not one still loading (its request would get a 503)', async () => {
    await assert.rejects(connect(waitUntil, MODEL), { name: 'ModelNotLoadedError' });
    await Promise.all(loads.splice(0));
    await assert.rejects(connect(waitUntil, 'tiny-qwen2'), /The model tiny-qwen2 is loading/);
    assert.deepEqual(host.models.map(({ ready }) => ready), [false, true], 'the one loading was used last');
    assert.equal((await connect(waitUntil)).manifestUrl, manifestOf(MODEL));
    await Promise.all(loads.splice(0));
    assert.equal((await connect(waitUntil)).manifestUrl, manifestOf('tiny-qwen2'), 'once loaded, the one used last');
  });
});

describe('Connection.forget', () => {
  test('a forgotten request hears no more replies, and the others still do', async () => {
    const { port1, port2 } = new MessageChannel();
    const connection = new Connection({ postMessage: (message) => port1.postMessage(message),
                                        addEventListener: (type, listener) => port1.addEventListener(type, listener) });
    port1.start();
    const heard = [];
    const first = connection.open({ op: 'create' }, (reply) => heard.push(['first', reply.type]));
    const second = connection.open({ op: 'create' }, (reply) => { heard.push(['second', reply.type]); return true; });
    connection.forget(first);
    const answered = new Promise((resolve) => { port2.onmessage = resolve; });
    await answered;
    for (const id of [first, second]) port2.postMessage({ id, type: 'result', value: null });
    await new Promise((resolve) => { setTimeout(resolve, 20); });
    assert.deepEqual(heard, [['second', 'result']]);
    port1.close();
  });
});
