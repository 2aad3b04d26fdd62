// WGSL kernels: sources loaded once (relative to this module), composed, compiled into pipelines
// once at load and cached.
//
// A kernel is a main file (kernels/<name>.wgsl) plus parts: other files that supply functions it
// calls (a weight scheme, a matmul input or epilogue), each with its own override constants. The
// source is: a preamble for the numeric path, common.wgsl, the numeric path's helpers
// (numeric_f16 | numeric_f32), the reduction library for the adapter (subgroups or workgroup
// memory), the parts, the main file. Bind group layouts are made
// explicitly from the `@group(0) @binding(n) var<...> name` declarations, so bind groups are
// built by binding name, and before any pipeline has finished compiling.

import { readText } from './io.js';

const KERNELS = new URL('../kernels/', import.meta.url).href;

const BINDING = /@group\(0\)\s*@binding\((\d+)\)\s*var(?:<([^>]*)>)?\s+(\w+)/g;
const BUFFER_TYPES = { 'uniform': 'uniform', 'storage,read': 'read-only-storage', 'storage,read_write': 'storage' };

export class Kernels {
  #sources = new Map(); // file -> Promise<text>
  #kernels = new Map(); // key -> Kernel
  #compiling = [];

  // features: { f16, subgroups }; params: the step uniform, bound to every kernel.
  constructor(gpu, { params, base = KERNELS }) {
    this.gpu = gpu;
    this.params = params;
    this.base = base;
    const { f16, subgroups } = gpu.features;
    this.preamble = [
      f16 ? 'enable f16;' : '',
      subgroups ? 'enable subgroups;\ndiagnostic(off, subgroup_uniformity);' : '',
      `alias T = ${f16 ? 'f16' : 'f32'};  // activations and KV cache`,
    ].join('\n');
    this.libraries = [f16 ? 'numeric_f16' : 'numeric_f32', subgroups ? 'reduce_subgroups' : 'reduce_workgroup'];
    const { min, max } = gpu.subgroupSizes;
    // a fixed subgroup size lets one-subgroup workgroups reduce without barriers
    this.subgroupSize = subgroups && min === max ? min : 0;
    this.common = subgroups ? { SUBGROUP: this.subgroupSize } : {};
  }

  #source(file) {
    if (!this.#sources.has(file)) this.#sources.set(file, readText(new URL(`${file}.wgsl`, this.base).href));
    return this.#sources.get(file);
  }

  // kernel('gemv', { parts: [{ file: 'q4g32', constants: { K } }, ...], constants: { WG } })
  async kernel(file, { parts = [], constants = {} } = {}) {
    const allConstants = Object.fromEntries(Object.entries(Object.assign({}, this.common,
      ...parts.map((part) => part.constants ?? {}), constants)).map(([name, value]) => [name, Number(value)]));
    const files = ['common', ...this.libraries, ...parts.map((part) => part.file), file];
    const key = JSON.stringify([files, allConstants]);
    if (!this.#kernels.has(key)) {
      const texts = await Promise.all(files.map((name) => this.#source(name)));
      const code = [this.preamble, ...texts].join('\n');
      this.#kernels.set(key, new Kernel(this, `${[...parts.map((part) => part.file), file].join('+')}`,
        code, allConstants));
    }
    const kernel = this.#kernels.get(key);
    if (!kernel.compiled) {
      kernel.compiled = kernel.compile();
      this.#compiling.push(kernel.compiled);
    }
    return kernel;
  }

  // Waits for every pipeline asked for so far.
  async ready(onProgress = () => {}) {
    let done = 0;
    const total = this.#compiling.length;
    await Promise.all(this.#compiling.map((compiled) => compiled.then(() => onProgress(++done, total))));
  }
}

class Kernel {
  constructor(kernels, name, code, constants) {
    this.kernels = kernels;
    this.name = name;
    this.code = code;
    this.constants = constants;
    this.bindings = new Map(); // name -> binding index
    const entries = [];
    for (const [, index, space = '', name] of code.matchAll(BINDING)) {
      const type = BUFFER_TYPES[space.replace(/\s/g, '')];
      if (!type) throw new Error(`${this.name}: binding ${name} is not a buffer (${space})`);
      this.bindings.set(name, Number(index));
      entries.push({ binding: Number(index), visibility: GPUShaderStage.COMPUTE, buffer: { type } });
    }
    const { device } = kernels.gpu;
    this.layout = device.createBindGroupLayout({ label: this.name, entries });
    this.pipeline = null;
    this.compiled = null;
  }

  async compile() {
    const { device } = this.kernels.gpu;
    const module = device.createShaderModule({ label: this.name, code: this.code });
    try {
      this.pipeline = await device.createComputePipelineAsync({
        label: this.name,
        layout: device.createPipelineLayout({ bindGroupLayouts: [this.layout] }),
        compute: { module, entryPoint: 'main', constants: this.constants },
      });
    } catch (error) {
      const info = await module.getCompilationInfo();
      const messages = info.messages.map((m) => `${m.type} ${m.lineNum}:${m.linePos} ${m.message}`).join('\n');
      throw new Error(`Kernel ${this.name} failed to compile: ${error.message}\n${messages}`, { cause: error });
    }
  }

  // Bind group from { bindingName: GPUBuffer | { buffer, offset, size } }; params is implicit.
  bind(resources) {
    const all = { params: this.kernels.params, ...resources };
    const entries = [];
    for (const [name, binding] of this.bindings) {
      const resource = all[name];
      if (!resource) throw new Error(`${this.name}: nothing bound to ${name}`);
      entries.push({ binding, resource: resource.buffer ? resource : { buffer: resource } });
    }
    for (const name of Object.keys(all)) {
      if (!this.bindings.has(name)) throw new Error(`${this.name} has no binding ${name}`);
    }
    return this.kernels.gpu.device.createBindGroup({ label: this.name, layout: this.layout, entries });
  }

  // A dispatch prepared at load: bind group made now, workgroup count computed per chunk from the
  // number of rows (workgroups(rows) -> count or [x, y]).
  step(resources, workgroups) {
    return new Step(this, this.bind(resources), workgroups);
  }
}

class Step {
  constructor(kernel, bindGroup, workgroups) {
    this.kernel = kernel;
    this.bindGroup = bindGroup;
    this.workgroups = workgroups;
  }

  encode(pass, rows) {
    const count = this.workgroups(rows);
    const [x, y = 1] = typeof count === 'number' ? spread(count, this.kernel.kernels.gpu.limits) : count;
    pass.setPipeline(this.kernel.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(x, y);
  }
}

// A 1-D workgroup count as an (x, y) grid within the per-dimension limit; kernels that take a
// plain count linearise it as x + y * grid.x and ignore the overshoot.
function spread(count, limits) {
  const most = limits.maxComputeWorkgroupsPerDimension;
  return count <= most ? [count, 1] : [most, Math.ceil(count / most)];
}

// The step uniform (struct Params in kernels/common.wgsl), kept on the host and written once per
// submit.
const PARAMS = [
  ['rows', 'u32'], ['pos', 'u32'], ['temperature', 'f32'], ['top_p', 'f32'], ['top_k', 'u32'], ['random', 'f32'],
  ['frequency_penalty', 'f32'], ['presence_penalty', 'f32'], ['repetition_penalty', 'f32'], ['bias_count', 'u32'],
  ['logprobs', 'u32'], ['top_logprobs', 'u32'],
];

export class StepParams {
  #view = new DataView(new ArrayBuffer(PARAMS.length * 4));

  constructor(gpu) {
    this.gpu = gpu;
    this.buffer = gpu.buffer({ label: 'params', size: this.#view.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  }

  set(fields) {
    for (const [name, value] of Object.entries(fields)) {
      const index = PARAMS.findIndex(([field]) => field === name);
      if (index < 0) throw new Error(`Params has no field ${name}`);
      if (PARAMS[index][1] === 'u32') this.#view.setUint32(4 * index, value, true);
      else this.#view.setFloat32(4 * index, value, true);
    }
  }

  write() {
    this.gpu.device.queue.writeBuffer(this.buffer, 0, this.#view.buffer);
  }
}
