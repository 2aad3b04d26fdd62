// The WebGPU backend's device: finds an adapter (navigator.gpu in browsers, npm `webgpu` = Dawn in
// Node), asks for only what the adapter really has and the runtime uses, turns device loss and
// uncaptured errors into typed errors callers can see, and counts every buffer it allocates so
// leaks show up in tests.

import { DeviceLostError, WebGPUNotAvailableError } from '../errors.js';
import { pollDawnGently } from './dawn_polling.js';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
// How long a failed GPU operation waits for the device to report a loss that caused it.
const LOSS_REPORT_MS = 1000;
// timestamp-query: tuning.js times kernel variants with it
const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'];
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
];

let nodeGpu = null; // Dawn's GPU object: it must stay referenced for the life of the process

async function defaultGpu() {
  if (typeof navigator !== 'undefined' && navigator.gpu) return navigator.gpu;
  if (!isNode) return null;
  if (!nodeGpu) {
    let dawn;
    try {
      dawn = await import('webgpu');
    } catch (error) {
      throw new WebGPUNotAvailableError(`WebGPU in Node needs the npm package "webgpu" (Dawn): ${error.message}`);
    }
    for (const [name, value] of Object.entries(dawn.globals)) globalThis[name] ??= value;
    nodeGpu = dawn.create([]);
  }
  return nodeGpu;
}

/**
 * A Gpu over a device with the features and limits the runtime uses.
 * { gpu }: a GPU (navigator.gpu-like) to take an adapter from, or a GPUDevice to use as it is
 * (not destroyed with the Gpu); default navigator.gpu, in Node npm `webgpu`.
 * { f16: false } forces the f32 path even where shader-f16 exists, { subgroups: false } the
 * workgroup-memory reductions even where subgroups exist (tests run every path the adapter has),
 * { timestamps: false } leaves 'timestamp-query' off (tests of the tuner's wall-clock timing).
 * Rejects with WebGPUNotAvailableError when there is no WebGPU, no adapter, or no device.
 */
export async function requestDevice({
  gpu, f16 = true, subgroups = true, timestamps = true, powerPreference = 'high-performance',
} = {}) {
  const use = { 'shader-f16': f16, subgroups, 'timestamp-query': timestamps };
  if (gpu && typeof gpu.createBuffer === 'function') {
    // WGSL's language features belong to the implementation, not the device: ask its GPU.
    return inUse(new Gpu(gpu, { owned: false, use, wgslFeatures: (await defaultGpu())?.wgslLanguageFeatures }));
  }
  const source = gpu ?? await defaultGpu();
  if (!source) {
    throw new WebGPUNotAvailableError('This browser has no WebGPU (navigator.gpu is missing). Use a recent Chrome, '
      + 'Edge or Safari, or Firefox with WebGPU enabled; on Linux Chrome may need --enable-unsafe-webgpu.');
  }
  const adapter = await source.requestAdapter({ powerPreference });
  if (!adapter) {
    throw new WebGPUNotAvailableError('WebGPU is present but no GPU adapter is available: the GPU may be '
      + 'blocklisted or hardware acceleration turned off. Check chrome://gpu (or the browser equivalent).');
  }
  const requiredFeatures = WANTED_FEATURES.filter((name) => adapter.features.has(name) && use[name]);
  const requiredLimits = Object.fromEntries(WANTED_LIMITS.map((name) => [name, adapter.limits[name]]));
  let device;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (error) {
    throw new WebGPUNotAvailableError(`The GPU adapter refused a device: ${error.message}`, { cause: error });
  }
  return inUse(new Gpu(device, { owned: true, use, adapterInfo: adapter.info, wgslFeatures: source.wgslLanguageFeatures }));
}

// `gpu`, after Node's waits on a CPU adapter stop taking a core from it (dawn_polling.js).
function inUse(gpu) {
  if (isNode && gpu.fallbackAdapter) pollDawnGently();
  return gpu;
}

export class Gpu {
  #live = new Map(); // GPUBuffer -> bytes
  #allocations = new Set(); // out-of-memory error scopes of buffer() not popped yet
  #outOfMemory = null; // the first GPUOutOfMemoryError of buffer()

  // wgslFeatures: the GPU's wgslLanguageFeatures (a set of names; absent: none).
  constructor(device, { owned, use, adapterInfo, wgslFeatures }) {
    this.device = device;
    this.owned = owned;
    this.features = {
      f16: use['shader-f16'] && device.features.has('shader-f16'),
      subgroups: use.subgroups && device.features.has('subgroups'),
      // dot4I8Packed and pack4xI8 in WGSL (Chrome 123+): kernels/dot_q4g32_int16.wgsl
      integerDot: Boolean(wgslFeatures?.has('packed_4x8_integer_dot_product')),
    };
    this.limits = Object.fromEntries(WANTED_LIMITS.map((name) => [name, device.limits[name]]));
    const info = adapterInfo ?? device.adapterInfo ?? {};
    this.subgroupSizes = { min: info.subgroupMinSize ?? 0, max: info.subgroupMaxSize ?? 0 };
    this.adapter = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
    // a CPU implementation of WebGPU (SwiftShader, lavapipe): tuning.js tunes nothing there unless asked
    this.fallbackAdapter = Boolean(info.isFallbackAdapter);
    this.error = null; // first DeviceLostError or uncaptured GPU error; checked by callers between steps
    this.lost = device.lost.then((info) => {
      if (info.reason === 'destroyed' && this.destroyed) return null;
      this.error ??= new DeviceLostError(`The GPU device was lost (${info.reason}): ${info.message || 'no details'}. `
        + 'Reload the model; on repeated losses, try a smaller model or close other GPU-heavy tabs.');
      return this.error;
    });
    device.addEventListener?.('uncapturederror', (event) => {
      this.error ??= new Error(`WebGPU error: ${event.error.message}`);
    });
    this.destroyed = false;
  }

  throwIfFailed() {
    if (this.error) throw this.error;
  }

  // The error to report for a GPU operation that failed with `error`: the DeviceLostError if the
  // device was lost. A lost device fails pending operations (mapAsync: AbortError), and those
  // may settle before `lost` does, so this waits a moment for it.
  async causeOf(error) {
    const timeout = new Promise((resolve) => { setTimeout(resolve, LOSS_REPORT_MS, null); });
    return (await Promise.race([this.lost, timeout])) ?? this.error ?? error;
  }

  buffer({ label, size, usage }) {
    const bytes = Math.max(16, Math.ceil(size / 16) * 16); // bindings of vec4 arrays want 16-byte sizes
    // WebGPU reports a GPU out of memory to an error scope, not as an exception: outOfMemory() tells.
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ label, size: bytes, usage });
    const scope = this.device.popErrorScope().then((error) => { this.#outOfMemory ??= error; }, () => {});
    this.#allocations.add(scope);
    scope.finally(() => this.#allocations.delete(scope));
    this.#live.set(buffer, bytes);
    return buffer;
  }

  // The first GPUOutOfMemoryError of the buffers allocated so far, or null (the load checks it).
  async outOfMemory() {
    await Promise.all(this.#allocations);
    return this.#outOfMemory;
  }

  release(buffer) {
    if (!this.#live.delete(buffer)) return;
    buffer.destroy();
  }

  // Live buffers this context allocated and their bytes.
  memory() {
    let bytes = 0;
    for (const size of this.#live.values()) bytes += size;
    return { buffers: this.#live.size, bytes };
  }

  destroy() {
    for (const buffer of this.#live.keys()) buffer.destroy();
    this.#live.clear();
    this.destroyed = true;
    if (this.owned) this.device.destroy();
  }
}
