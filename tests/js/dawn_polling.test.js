// runtime/webgpu/dawn_polling.js through device.js: once a device on a CPU adapter is in use in
// Node, Dawn's event polls run about 1 ms apart (setTimeout) instead of back to back
// (setImmediate), so a wait on the GPU's work leaves the cores to the adapter; everything else
// that calls setImmediate is untouched. On a real GPU nothing changes (skipped there).
//
//   VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json XDG_RUNTIME_DIR=/tmp node --test tests/js/dawn_polling.test.js

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { isDawnTick } from '../../runtime/webgpu/dawn_polling.js';
import { requestDevice } from '../../runtime/webgpu/device.js';

const original = globalThis.setImmediate;  // before any device: device.js installs nothing at import

// A dispatch that keeps a CPU adapter busy for tens of milliseconds: every invocation sums `LOOP`
// terms, and the result is written so the work cannot be left out.
const LOOP = 20000;
const BUSY = `@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  var total = f32(id.x);
  for (var i = 0u; i < ${LOOP}u; i++) { total = total * 0.999 + f32(i & 7u); }
  out[id.x] = total;
}`;

describe('Dawn polling on a CPU adapter', () => {
  let gpu;
  before(async () => {
    gpu = await requestDevice();
  });

  test('a device there makes setImmediate the gentle one, which keeps its name and promisified form', (t) => {
    if (!gpu.fallbackAdapter) return t.skip(`not a CPU adapter: ${gpu.adapter}`);
    assert.notEqual(globalThis.setImmediate, original);
    assert.equal(globalThis.setImmediate.name, 'setImmediate');
    assert.equal(globalThis.setImmediate[promisify.custom], original[promisify.custom]);
  });

  test('other callbacks stay immediates, with their arguments: a function, a bound (native) one', async (t) => {
    if (!gpu.fallbackAdapter) return t.skip(`not a CPU adapter: ${gpu.adapter}`);
    const ran = [];
    const plain = (word) => ran.push(word);
    let resolveBound;
    const bound = ((word) => { ran.push(word); resolveBound(); }).bind(null, 'bound');
    const timed = [];  // callbacks that went to setTimeout meanwhile (Dawn's polls may be among them)
    const setTimeoutBefore = globalThis.setTimeout;
    globalThis.setTimeout = function (callback, ...rest) {
      timed.push(callback);
      return setTimeoutBefore(callback, ...rest);
    };
    try {
      await new Promise((resolve) => {
        resolveBound = resolve;
        setImmediate(plain, 'plain');
        setImmediate(bound);
      });
    } finally {
      globalThis.setTimeout = setTimeoutBefore;
    }
    assert.deepEqual(ran, ['plain', 'bound']);
    assert.ok(!timed.includes(plain) && !timed.includes(bound));
  });

  test("a wait on the adapter's work polls Dawn through timers, about once a millisecond", async (t) => {
    if (!gpu.fallbackAdapter) return t.skip(`not a CPU adapter: ${gpu.adapter}`);
    const { device } = gpu;
    const pipeline = device.createComputePipeline({ layout: 'auto',
      compute: { module: device.createShaderModule({ code: BUSY }), entryPoint: 'main' } });
    const out = device.createBuffer({ size: 4 * 64 * 64, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 4 * 64 * 64, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: out } }] }));
    pass.dispatchWorkgroups(64);
    pass.end();
    encoder.copyBufferToBuffer(out, 0, read, 0, 4 * 64 * 64);

    // Dawn's polls: nameless native callbacks, counted on their way to setTimeout
    const polls = { timers: 0 };
    const setTimeoutBefore = globalThis.setTimeout;
    globalThis.setTimeout = function (callback, ...rest) {
      if (isDawnTick(callback)) polls.timers++;
      return setTimeoutBefore(callback, ...rest);
    };
    const started = performance.now();
    try {
      device.queue.submit([encoder.finish()]);
      await read.mapAsync(GPUMapMode.READ);
    } finally {
      globalThis.setTimeout = setTimeoutBefore;
    }
    const waitedMs = performance.now() - started;
    assert.ok(new Float32Array(read.getMappedRange()).every(Number.isFinite));
    read.unmap();
    assert.ok(polls.timers >= 1, `Dawn was polled ${polls.timers} times through setTimeout in ${waitedMs.toFixed(1)} ms`);
    // a busy loop polls thousands of times in a wait this long; timers at most once a millisecond
    assert.ok(polls.timers <= waitedMs + 2, `${polls.timers} polls in ${waitedMs.toFixed(1)} ms`);
  });
});
