// GPU access for the JS tests: which adapter runs (from VK_ICD_FILENAMES), which numeric paths it
// can run, and a small harness that runs one kernel on buffers made from typed arrays.

import { requestDevice } from '../../../runtime/webgpu/device.js';
import { Kernels } from '../../../runtime/webgpu/kernels.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';

export const ADAPTER = /lvp/.test(process.env.VK_ICD_FILENAMES ?? '') ? 'lavapipe'
  : /swiftshader/.test(process.env.VK_ICD_FILENAMES ?? '') ? 'swiftshader' : 'default';

// The kernel paths this adapter runs: f32 always, f16 where it has shader-f16, and f32 with the
// workgroup-memory reductions (the fallback for adapters without subgroups) where it has subgroups.
export const NO_SUBGROUPS = 'f32 without subgroups';

export async function numericPaths() {
  const gpu = await requestDevice();
  const paths = ['f32', ...(gpu.features.f16 ? ['f16'] : []), ...(gpu.features.subgroups ? [NO_SUBGROUPS] : [])];
  gpu.destroy();
  return paths;
}

export async function openGpu(path) {
  return requestDevice({ f16: path === 'f16', subgroups: path !== NO_SUBGROUPS });
}

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export class Harness {
  static async create(gpu) {
    return new Harness(gpu, await Kernels.create(gpu));
  }

  // Use Harness.create(gpu).
  constructor(gpu, kernels) {
    this.gpu = gpu;
    this.kernels = kernels;
    this.uniform = kernels.uniform;
  }

  // A storage buffer holding `data` (a typed array), or `data` zero bytes.
  buffer(data) {
    const bytes = typeof data === 'number' ? data : data.byteLength;
    const buffer = this.gpu.buffer({ size: bytes, usage: USAGE() });
    if (typeof data !== 'number') {
      const padded = new Uint8Array(Math.ceil(bytes / 4) * 4); // writeBuffer wants whole words
      padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      this.gpu.device.queue.writeBuffer(buffer, 0, padded);
    }
    return buffer;
  }

  // Runs kernels/<file>.wgsl once. workgroups: count or [x, y]; params: step-uniform fields, the
  // others 0 but for the two whose "off" is 1.
  async run(file, { parts = [], constants = {} }, resources, workgroups, params = {}) {
    this.uniform.clear();
    this.uniform.set({ rows: 1, top_p: 1, repetition_penalty: 1, ...params });
    this.uniform.write();
    const kernel = await this.kernels.kernel(file, { parts, constants });
    await this.kernels.ready();
    const { device } = this.gpu;
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    kernel.dispatch(resources, () => workgroups).encode(pass, params.rows ?? 1);
    pass.end();
    device.queue.submit([encoder.finish()]);
    this.gpu.throwIfFailed();
  }

  async read(buffer, Type = Float32Array) {
    const staging = this.gpu.buffer({ size: buffer.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.gpu.device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
    this.gpu.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const data = new Type(staging.getMappedRange().slice(0));
    staging.unmap();
    this.gpu.release(staging);
    this.gpu.throwIfFailed();
    return data;
  }

  // Activations / KV cache are T: f16 on the f16 path, f32 otherwise.
  tBuffer(values) {
    return this.buffer(this.gpu.features.f16 ? Uint16Array.from(values, toHalf) : Float32Array.from(values));
  }

  async readT(buffer) {
    return this.gpu.features.f16 ? Float32Array.from(await this.read(buffer, Uint16Array), fromHalf) : this.read(buffer);
  }
}

// float -> IEEE half bits, round to nearest even.
export function toHalf(value) {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  let mantissa = bits & 0x7fffff;
  if (exponent >= 31) return sign | 0x7c00;
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - exponent;
    const half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (half + (rest > midpoint || (rest === midpoint && (half & 1)) ? 1 : 0));
  }
  const half = (exponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? 1 : 0));
}

export function fromHalf(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

// What a value becomes when stored as T.
export function roundT(value, f16) {
  return f16 ? fromHalf(toHalf(value)) : Math.fround(value);
}
