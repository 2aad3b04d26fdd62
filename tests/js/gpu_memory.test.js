// A real GPU out of memory while a model loads (runtime/webgpu/weights.js, runtime/engine_host.js):
// the load fails with OutOfMemoryError, not a WebGPU error found later; an engine host then
// unloads its other models and tries once more. The GPU is filled with ballast buffers of
// another device first, as another tab or program would fill it.
//
// Runs on a discrete GPU only (the GPU machine: ../shared/GPU.md). On a CPU adapter (SwiftShader,
// lavapipe) GPU memory is the machine's RAM, which the ballast would exhaust: skipped there.
//
//   source .device/setup.sh && node --test tests/js/gpu_memory.test.js     (fixtures: see engine.test.js)

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { create, globals } from 'webgpu';

import { CreateEngine } from '../../runtime/engine.js';
import { EngineHost } from '../../runtime/engine_host.js';
import { loadMessage } from '../../runtime/host_protocol.js';
import { ask, expectedOf, greedy, manifestOf } from './helpers/chat.js';

Object.assign(globalThis, globals);
const dawn = create([]); // referenced for the whole run, as npm webgpu requires

const adapter = await dawn.requestAdapter({ powerPreference: 'high-performance' });
const onCpu = !adapter || adapter.info.type === 'cpu' || /swiftshader|llvmpipe|lavapipe/i.test(adapter.info.description ?? '');
const OPTIONS = { maxContext: 128 };
const SMALLEST_BALLAST = 64 * 1024; // below this the ballast stops: what is left fits no model's buffers

// A device of its own whose buffers take all the GPU memory they can: ever smaller ones, each kept
// if the GPU had room for it (an 'out-of-memory' error scope says so). Destroying the device frees
// the memory at once (destroying its buffers frees it only at Dawn's next deferred cleanup).
async function ballast() {
  const own = await dawn.requestAdapter({ powerPreference: 'high-performance' }); // an adapter makes one device
  const device = await own.requestDevice({ requiredLimits: { maxBufferSize: own.limits.maxBufferSize } });
  let size = Math.min(device.limits.maxBufferSize, 2 ** 34);
  let kept = 0;
  while (size >= SMALLEST_BALLAST) {
    device.pushErrorScope('out-of-memory');
    const buffer = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE });
    if (await device.popErrorScope()) {
      buffer.destroy();
      size = Math.floor(size / 2);
    } else {
      kept += size;
    }
  }
  assert.ok(kept > 0);
  return device;
}

describe('a GPU out of memory while a model loads', { skip: onCpu && 'a CPU adapter: its memory is the RAM' }, () => {
  test('fails the load with OutOfMemoryError, and the same load runs once memory is free', async () => {
    const full = await ballast();
    try {
      await assert.rejects(CreateEngine(manifestOf('tiny-llama'), { ...OPTIONS, gpu: dawn }), (error) => {
        assert.equal(error.name, 'OutOfMemoryError');
        assert.match(error.message, /ran out of memory for tiny-llama \(.*OUT_OF_DEVICE_MEMORY/s);
        return true;
      });
    } finally {
      full.destroy();
    }
    const engine = await CreateEngine(manifestOf('tiny-llama'), { ...OPTIONS, gpu: dawn });
    const expected = expectedOf('tiny-llama');
    const reply = await engine.chat.completions.create(greedy(ask(expected.prompt), { max_tokens: expected.greedy_ids.length }));
    assert.equal(reply.choices[0].message.content, expected.greedy_text);
    await engine.unload();
  });

  test('a host unloads its other models and tries once more', async () => {
    // A budget that holds both: only the real out-of-memory makes room.
    const host = new EngineHost({ gpu: dawn, memoryBudget: Infinity });
    const load = (name) => host.load(loadMessage(manifestOf(name), OPTIONS, (url) => url), () => {});
    await load('tiny-llama');
    const full = await ballast();
    try {
      const engine = await load('tiny-qwen2');
      assert.deepEqual(host.models.map((model) => model.manifestUrl), [manifestOf('tiny-qwen2')], 'tiny-llama made room');
      const reply = await engine.chat.completions.create(greedy(ask('Hello'), { max_tokens: 2 }));
      assert.equal(reply.usage.completion_tokens, 2);
    } finally {
      full.destroy();
      if (host.models.length) await host.unload();
    }
  });
});
