#!/usr/bin/env node
// What a decode step's dispatches cost the thread that encodes them, apart from any kernel: a step
// of `dispatches` dispatches of tiny kernels (`workgroups` each: 1, or 0), cycling through `kernels`
// pipelines with `bindings` storage buffers each, as runtime/webgpu/model.js encodes a step
// (setPipeline, setBindGroup, dispatchWorkgroups per dispatch, one compute pass, one submit). The
// same module runs in Node (npm `webgpu`: Dawn called directly, validation and the driver's
// command recording on this thread) and in a page (benchmarks/dispatch_cost.py: Chromium's Dawn
// wire, where the page's thread only serialises the calls and the GPU process does the rest,
// alongside): the difference is how much of runtime_bench.js's host time per dispatch a browser's
// page thread pays.
//
//   node benchmarks/dispatch_cost.js [--dispatches 124] [--kernels 5] [--bindings 6] [--repeats 200]
//       [--workgroups 1]
//
// Prints one JSON line: µs per dispatch on the calling thread, the encoding (createCommandEncoder
// to finish) and the submit, each the median over `repeats` steps after a warm-up (a busy
// machine's stalls skew a mean).
// Each step is waited for (onSubmittedWorkDone, outside the timing) before the next is encoded,
// as runtime_bench.js --profile's bare replay does: the GPU side is idle while the host is timed.
// Then `queuedUs`: the same number of steps submitted back to back and waited for once, wall time
// per dispatch, as a run-ahead decode queues them: whichever stage is slowest sets it (the calling
// thread; in a browser, the GPU process validating and recording the commands on its own thread;
// the GPU). `--workgroups 0` dispatches no workgroups (valid WebGPU: the kernels then cost the GPU
// nothing), so that a CPU adapter's execution does not set it.

const WARM_UP = 20;  // steps encoded and submitted before the timed ones

/**
 * Times `repeats` steps on `gpu` (navigator.gpu or npm webgpu's GPU). dispatches, kernels,
 * bindings, repeats: positive integers (bindings at most 8, WebGPU's least storage-buffer limit).
 * workgroups: per dispatch, 0 or more. Resolves to { encodeUs, submitUs, queuedUs } (µs per
 * dispatch: the medians over the waited steps, and the wall time of the steps queued back to back,
 * numbers), with the options used; rejects with Error when no adapter is there.
 */
export async function measureDispatchCost(gpu, { dispatches = 124, kernels = 5, bindings = 6, repeats = 200, workgroups = 1 } = {}) {
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('dispatch_cost: no WebGPU adapter (see ../shared/GPU.md for running WebGPU here)');
  const device = await adapter.requestDevice();
  // distinct pipelines, so that no two consecutive dispatches share one (as in a decode step)
  const pipelines = Array.from({ length: kernels }, (_, p) => {
    const declared = Array.from({ length: bindings },
      (_, b) => `@group(0) @binding(${b}) var<storage, read_write> b${b}: array<u32>;`).join('\n');
    const body = Array.from({ length: bindings }, (_, b) => `b${b}[id.x] += ${p + b}u;`).join(' ');
    const module = device.createShaderModule({ code: `${declared}
      @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) { ${body} }` });
    return device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  });
  const buffers = Array.from({ length: 2 * bindings }, () => device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE }));
  // each dispatch its own bind group (a step's read what the one before wrote: Dawn tracks the hazards)
  const steps = Array.from({ length: dispatches }, (_, i) => {
    const pipeline = pipelines[i % kernels];
    const entries = Array.from({ length: bindings }, (_, b) => ({ binding: b, resource: { buffer: buffers[(i + b) % buffers.length] } }));
    return { pipeline, bindGroup: device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }) };
  });
  const encodeStep = () => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const { pipeline, bindGroup } of steps) {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(workgroups);
    }
    pass.end();
    return encoder.finish();
  };
  const [encodeMs, submitMs] = [[], []];
  for (let r = 0; r < WARM_UP + repeats; r++) {
    const start = performance.now();
    const commands = encodeStep();
    const encoded = performance.now();
    device.queue.submit([commands]);
    const submitted = performance.now();
    if (r >= WARM_UP) {
      encodeMs.push(encoded - start);
      submitMs.push(submitted - encoded);
    }
    await device.queue.onSubmittedWorkDone();
  }
  const queuedStart = performance.now();
  for (let r = 0; r < repeats; r++) device.queue.submit([encodeStep()]);
  await device.queue.onSubmittedWorkDone();
  const queuedUs = (1000 * (performance.now() - queuedStart)) / (repeats * dispatches);
  device.destroy();
  const perDispatch = (ms) => (1000 * ms.sort((a, b) => a - b)[ms.length >> 1]) / dispatches;
  return { encodeUs: perDispatch(encodeMs), submitUs: perDispatch(submitMs), queuedUs,
           dispatches, kernels, bindings, repeats, workgroups };
}

// Run as a script (Node): npm webgpu's Dawn on whatever adapter Vulkan offers.
if (typeof process !== 'undefined' && import.meta.url === `file://${process.argv[1]}`) {
  const { parseArgs } = await import('node:util');
  const { create, globals } = await import('webgpu');
  const { values } = parseArgs({ options: Object.fromEntries(['dispatches', 'kernels', 'bindings', 'repeats', 'workgroups']
    .map((name) => [name, { type: 'string' }])) });
  const options = {};
  for (const [name, text] of Object.entries(values)) {
    const value = Number(text);
    const least = name === 'workgroups' ? 0 : 1;
    if (!Number.isInteger(value) || value < least || (name === 'bindings' && value > 8)) {
      console.error(`dispatch_cost.js: --${name} ${text} is not a whole number from ${least}${name === 'bindings' ? ' to 8' : ''}.`);
      process.exit(2);
    }
    options[name] = value;
  }
  Object.assign(globalThis, globals);
  const gpu = create([]);  // referenced for the whole run, as npm webgpu requires
  console.log(JSON.stringify({ runner: 'node', ...(await measureDispatchCost(gpu, options)) }));
}
