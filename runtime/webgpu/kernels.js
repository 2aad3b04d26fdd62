// WGSL kernels: sources loaded once (relative to this module), composed, compiled into pipelines
// once at load and cached; and the step uniform they all share.
//
// A kernel is a main file (kernels/<name>.wgsl) plus parts: other files that supply functions it
// calls (a weight scheme, a matmul input or epilogue), each with its own override constants. The
// source is: a preamble for the numeric path, common.wgsl, the numeric path's helpers
// (numeric_f16 | numeric_f32), the reduction library for the adapter (subgroups or workgroup
// memory), the parts, the main file. The WGSL is the one declaration of what the host binds and
// writes: bind group layouts are made from the `@group(0) @binding(n) var<...> name` declarations
// (so bind groups are built by binding name, before any pipeline has finished compiling), and
// the step uniform's layout from `struct Params` in common.wgsl. kernels/README.md lists the
// binding slots each file takes.

import { readText } from '../io.js';

const KERNELS = new URL('../../kernels/', import.meta.url).href;

const BINDING = /@group\(0\)\s*@binding\((\d+)\)\s*var(?:<([^>]*)>)?\s+(\w+)/g;
const BUFFER_TYPES = { 'uniform': 'uniform', 'storage,read': 'read-only-storage', 'storage,read_write': 'storage' };
// The step uniform's variable in common.wgsl (binding 0): bound to every kernel without being named.
const UNIFORM = 'params';

export class Kernels {
  #sources = new Map(); // file -> Promise<text>
  #kernels = new Map(); // key -> Kernel
  #compiling = [];

  /**
   * Kernels for `gpu` (a device.js Gpu: its features pick the numeric path and reductions), with
   * their step uniform (`kernels.uniform`, a StepUniform). `base`: URL of the kernels/ folder.
   * Rejects when common.wgsl cannot be read or its struct Params has a field StepUniform cannot lay out.
   */
  static async create(gpu, { base = KERNELS } = {}) {
    const kernels = new Kernels(gpu, base);
    kernels.uniform = new StepUniform(gpu, await kernels.#source('common'));
    return kernels;
  }

  // Use Kernels.create(), which also makes the uniform.
  constructor(gpu, base) {
    this.gpu = gpu;
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
    // CPU adapters (SwiftShader, lavapipe: small fixed subgroups) run every barrier per subgroup,
    // slowly: kernels with a barrier-free form take it there
    this.cpuLike = this.subgroupSize > 0 && this.subgroupSize < 16;
    this.uniform = null;
  }

  #source(file) {
    if (!this.#sources.has(file)) this.#sources.set(file, readText(new URL(`${file}.wgsl`, this.base).href));
    return this.#sources.get(file);
  }

  /**
   * The kernel of main file `file` with `parts`, its pipeline compiling in the background (see
   * ready()). kernel('gemv', { parts: [{ file: 'q4g32', constants: { K } }, ...], constants: { WG } });
   * override constants are numbers (booleans become 0/1). Rejects (a caller's bug) when the kernel
   * binds more storage buffers than the device's maxStorageBuffersPerShaderStage.
   */
  async kernel(file, { parts = [], constants = {} } = {}) {
    const allConstants = Object.fromEntries(Object.entries(Object.assign({}, this.common,
      ...parts.map((part) => part.constants ?? {}), constants)).map(([name, value]) => [name, Number(value)]));
    const files = this.#files(file, parts);
    const key = JSON.stringify([files, allConstants]);
    if (!this.#kernels.has(key)) {
      const code = await this.#compose(files);
      const name = [...parts.map((part) => part.file), file].join('+');
      const bindings = declaredBindings(code);
      const storage = storageCount(bindings);
      const most = this.gpu.limits.maxStorageBuffersPerShaderStage;
      if (storage > most) throw new Error(`Kernel ${name} binds ${storage} storage buffers; this device allows ${most}`);
      this.#kernels.set(key, new Kernel(this, name, code, allConstants, bindings));
    }
    const kernel = this.#kernels.get(key);
    if (!kernel.compiled) {
      kernel.compiled = kernel.compile();
      // ready() reports a failure; a load that fails before calling it (and destroys the device
      // under the compiles) must not leave an unhandled rejection behind
      kernel.compiled.catch(() => {});
      this.#compiling.push(kernel.compiled);
    }
    return kernel;
  }

  /**
   * How many storage buffers the kernel of `file` with `parts` (as kernel() takes them) binds,
   * without making it: for a caller that picks a kernel within the device's
   * maxStorageBuffersPerShaderStage (kernel() refuses one past it).
   */
  async storageBuffers(file, { parts = [] } = {}) {
    return storageCount(declaredBindings(await this.#compose(this.#files(file, parts))));
  }

  // The files of the kernel of `file` with `parts`, in the order they are composed.
  #files(file, parts) {
    return ['common', ...this.libraries, ...parts.map((part) => part.file), file];
  }

  // The WGSL of a kernel made of `files`: the preamble, then the files.
  async #compose(files) {
    const texts = await Promise.all(files.map((name) => this.#source(name)));
    return [this.preamble, ...texts].join('\n');
  }

  // Waits for every pipeline asked for so far; onProgress(done, total) after each. Rejects with
  // the first compile error.
  async ready(onProgress = () => {}) {
    let done = 0;
    const total = this.#compiling.length;
    await Promise.all(this.#compiling.map((compiled) => compiled.then(() => onProgress(++done, total))));
  }
}

// The buffer bindings a kernel's WGSL declares: [{ index, name, type (a GPUBufferBindingType) }].
function declaredBindings(code) {
  return [...code.matchAll(BINDING)].map(([, index, space = '', name]) => ({
    index: Number(index), name, type: BUFFER_TYPES[space.replace(/\s/g, '')] }));
}

// How many of declaredBindings()'s are storage buffers.
function storageCount(bindings) {
  return bindings.filter(({ type }) => type !== 'uniform').length;
}

class Kernel {
  // bindings: declaredBindings(code)
  constructor(kernels, name, code, constants, bindings) {
    this.kernels = kernels;
    this.name = name;
    this.code = code;
    this.constants = constants;
    this.bindings = new Map(); // name -> binding index
    const entries = [];
    const taken = new Map(); // binding index -> name: two files must not claim one slot
    for (const { index, name, type } of bindings) {
      if (!type) throw new Error(`${this.name}: binding ${name} is not a buffer`);
      if (taken.has(index)) throw new Error(`${this.name}: ${name} and ${taken.get(index)} both take binding ${index}`);
      taken.set(index, name);
      this.bindings.set(name, index);
      entries.push({ binding: index, visibility: GPUShaderStage.COMPUTE, buffer: { type } });
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

  // Bind group from { bindingName: GPUBuffer | { buffer, offset, size } }; the uniform is implicit.
  // Throws (a caller's bug) when a binding is left out or named that the kernel lacks.
  bind(resources) {
    const all = { [UNIFORM]: this.kernels.uniform.buffer, ...resources };
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
  // number of rows (workgroups(rows) -> count or [x, y], a function of rows alone: an encode of as
  // many rows as the last reuses its grid).
  dispatch(resources, workgroups) {
    return new Dispatch(this, this.bind(resources), workgroups);
  }
}

class Dispatch {
  #rows = -1;       // the chunk rows of the last encode, and its grid: a decode step's is computed once
  #grid = [0, 0];

  constructor(kernel, bindGroup, workgroups) {
    this.kernel = kernel;
    this.bindGroup = bindGroup;
    this.workgroups = workgroups;
  }

  get name() {
    return this.kernel.name;
  }

  // Resolves once the pipeline has compiled; rejects with its compile error.
  get compiled() {
    return this.kernel.compiled;
  }

  // Records the dispatch into a compute pass for a chunk of `rows` tokens.
  encode(pass, rows) {
    if (rows !== this.#rows) {
      const count = this.workgroups(rows);
      const [x, y = 1] = typeof count === 'number' ? spread(count, this.kernel.kernels.gpu.limits) : count;
      this.#grid = [x, y];
      this.#rows = rows;
    }
    pass.setPipeline(this.kernel.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(this.#grid[0], this.#grid[1]);
  }
}

/**
 * Dispatches that run as one, in order (a GEMV with the dispatch that quantises its activations):
 * encode(pass, rows), name and compiled as a single Dispatch has them.
 */
export class DispatchSequence {
  constructor(dispatches) {
    this.dispatches = dispatches;
    this.name = dispatches.map((dispatch) => dispatch.name).join(', ');
  }

  get compiled() {
    return Promise.all(this.dispatches.map((dispatch) => dispatch.compiled));
  }

  encode(pass, rows) {
    for (const dispatch of this.dispatches) dispatch.encode(pass, rows);
  }
}

// A 1-D workgroup count as an (x, y) grid within the per-dimension limit; kernels that take a
// plain count linearise it as x + y * grid.x and ignore the overshoot.
function spread(count, limits) {
  const most = limits.maxComputeWorkgroupsPerDimension;
  return count <= most ? [count, 1] : [most, Math.ceil(count / most)];
}

// DataView setters of the field types a uniform may have here: 4-byte scalars, which WGSL lays
// out one after another at 4-byte alignment. A vector or array field would need WGSL's other
// alignment rules: add them here with it.
const SCALAR_SETTERS = { u32: 'setUint32', i32: 'setInt32', f32: 'setFloat32' };

/**
 * Fields of `struct Params { ... }` in a WGSL source: Map name -> { offset (bytes), type }.
 * Throws when there is no such struct or a field is not a 4-byte scalar.
 */
export function parseUniformFields(source) {
  const body = /struct\s+Params\s*\{([^}]*)\}/.exec(source.replace(/\/\/[^\n]*/g, ''))?.[1];
  if (body === undefined) throw new Error('common.wgsl declares no struct Params');
  const fields = new Map();
  for (const declaration of body.split(',').map((text) => text.trim()).filter(Boolean)) {
    const [, name, type] = /^(\w+)\s*:\s*(\w+)$/.exec(declaration) ?? [];
    if (!SCALAR_SETTERS[type]) throw new Error(`struct Params: "${declaration}" is not a u32, i32 or f32 field`);
    fields.set(name, { offset: 4 * fields.size, type });
  }
  return fields;
}

/**
 * The step uniform (struct Params of kernels/common.wgsl, binding 0 of every kernel), kept on the
 * host: set() fields by their WGSL names, write() once per submit.
 */
export class StepUniform {
  #fields;
  #view;

  // commonSource: the text of common.wgsl, whose struct Params declares the fields.
  constructor(gpu, commonSource) {
    this.gpu = gpu;
    this.#fields = parseUniformFields(commonSource);
    this.#view = new DataView(new ArrayBuffer(4 * this.#fields.size));
    this.buffer = gpu.buffer({ label: 'step uniform', size: this.#view.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  }

  // set({ field: number, ... }) on the host copy; throws for a field Params lacks (a caller's bug).
  set(values) {
    for (const [name, value] of Object.entries(values)) {
      const field = this.#fields.get(name);
      if (!field) throw new Error(`struct Params has no field ${name}`);
      this.#view[SCALAR_SETTERS[field.type]](field.offset, value, true);
    }
  }

  // Every field 0.
  clear() {
    new Uint8Array(this.#view.buffer).fill(0);
  }

  // Queues the host copy for the GPU: the next submit's dispatches read it.
  write() {
    this.gpu.device.queue.writeBuffer(this.buffer, 0, this.#view.buffer);
  }
}
