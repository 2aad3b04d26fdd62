// The engine host protocol's shared pieces (runtime/host_protocol.js): the 'load' message a client
// builds, and what a host reads from it. The protocol in action: engine_host.test.js, worker.test.js.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { HOST_EVENT, OP, REPLY, TAKE_OVER, isHostOperation, loadMessage, readLoad } from '../../runtime/host_protocol.js';
import { Connection } from '../../runtime/worker_client.js';

const PAGE = 'https://example.org/chat/index.html';
const absolute = (url) => new URL(url, PAGE).href;

describe('the load message', () => {
  test('carries absolute URLs and only the engine options a host passes on', () => {
    const message = loadMessage('models/tiny/manifest.json',
                                { backend: 'wasm', maxContext: 512, weightsUrl: '../weights/', initProgressCallback: () => {},
                                  gpu: {} },
                                absolute);
    assert.deepEqual(message, {
      op: OP.load, manifestUrl: 'https://example.org/chat/models/tiny/manifest.json',
      options: { backend: 'wasm', maxContext: 512, weightsUrl: 'https://example.org/weights/' },
    });
    assert.deepEqual(structuredClone(message), message, 'it survives postMessage');
  });

  test('a backend that does not exist is refused by name before anything is sent', () => {
    for (const backend of ['cpu', 'WASM', 'gpu', null]) {
      assert.throws(() => loadMessage('m.json', { backend }, absolute),
                    { name: 'RangeError', message: new RegExp(`backend ${JSON.stringify(backend)} does not exist: one of webgpu, wasm, or auto`) });
    }
    for (const backend of ['auto', 'webgpu', 'wasm', undefined]) {
      assert.equal(loadMessage('m.json', { backend }, absolute).options.backend, backend);
    }
  });

  test('an empty weightsUrl means none', () => {
    assert.equal(loadMessage('m.json', { weightsUrl: '' }, absolute).options.weightsUrl, undefined);
    assert.equal(loadMessage('m.json', {}, absolute).options.weightsUrl, undefined);
  });

  test('the host reads the same options back, and one key per distinct load', () => {
    const message = loadMessage('m.json', { maxContext: 512, weightsUrl: 'w/' }, absolute);
    const { options, key } = readLoad({ ...message, options: { ...message.options, extra: 1 } });
    assert.deepEqual(options, message.options, 'anything else a client sent is dropped');
    assert.equal(readLoad(message).key, key);
    assert.notEqual(readLoad(loadMessage('m.json', { maxContext: 256, weightsUrl: 'w/' }, absolute)).key, key);
    assert.notEqual(readLoad(loadMessage('n.json', { maxContext: 512, weightsUrl: 'w/' }, absolute)).key, key);
    // The same model on another backend is another load (the host replaces the one it holds).
    assert.notEqual(readLoad(loadMessage('m.json', { backend: 'wasm', maxContext: 512, weightsUrl: 'w/' }, absolute)).key, key);
    // Unset is unset, however a client spells it.
    const unset = readLoad({ manifestUrl: 'm.json', options: { maxContext: null } });
    assert.equal(unset.key, readLoad({ manifestUrl: 'm.json' }).key);
    assert.equal(unset.options.maxContext, undefined);
  });
});

// The service worker handles TAKE_OVER itself and hands every other op to its engine host.
test('TAKE_OVER is no engine host operation', () => {
  assert.ok(!Object.values(OP).includes(TAKE_OVER));
});

// A host tells every connection of model changes with a message of no id: no request's handler
// takes it for its reply, and the pages' listeners (sw_client.js watchHostModels) tell it by type.
test('HOST_EVENT messages are neither operations nor replies, and no request hears one', () => {
  for (const type of Object.values(HOST_EVENT)) {
    assert.ok(!isHostOperation(type) && !Object.values(REPLY).includes(type), type);
  }
  const listeners = [];
  const connection = new Connection({ postMessage: () => {}, addEventListener: (type, listener) => listeners.push(listener) });
  const heard = [];
  connection.open({ op: OP.create }, (reply) => heard.push(reply));
  for (const listener of listeners) listener({ data: { type: HOST_EVENT.models, models: [], unloaded: [] } });
  assert.deepEqual(heard, []);
});
