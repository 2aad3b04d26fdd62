// The host side of GPU sampling (kernels/sample_scores.wgsl over many workgroups, then
// kernels/sample.wgsl in one): per-generation token history kept on the GPU, the logit-bias list,
// request options checked and turned into step parameters, and the readback of the chosen token
// (plus log-probabilities only when asked for).

import { InvalidRequestError } from './errors.js';

export const MAX_TOP_LOGPROBS = 20;
export const MAX_LOGIT_BIAS = 1024;
const RESULT_WORDS = 2 + 2 * MAX_TOP_LOGPROBS;
const SCORES_WG = 256;
const SPAN = 8 * SCORES_WG;  // ids per first-stage workgroup

export class Sampler {
  #history;       // host copy used to build a generation's starting history
  #biasKey = '';  // the logit bias now on the GPU, to skip rewriting an unchanged one
  #readback;

  constructor(gpu, { vocabSize, logits, tokens }) {
    this.gpu = gpu;
    this.vocabSize = vocabSize;
    this.#history = new Uint32Array(vocabSize);
    const storage = (label, size) => gpu.buffer({ label, size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    this.groups = Math.ceil(vocabSize / SPAN);
    this.buffers = {
      logits, tokens,
      history: storage('history', 4 * vocabSize),
      bias: storage('logit bias', 8 * MAX_LOGIT_BIAS),
      scores: storage('sampler scores', 12 * vocabSize),
      partials: storage('sampler partials', 8 * this.groups),
      candidates: storage('sampler candidates', 4 * vocabSize),
      result: storage('sample result', 4 * RESULT_WORDS),
    };
    this.#readback = gpu.buffer({ label: 'sample readback', size: 4 * RESULT_WORDS,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  async build(kernels) {
    // one workgroup does it all: as wide as the device allows (the workgroup-memory reductions
    // without subgroups need a slot per invocation, so stay at 256 there)
    const { maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX } = this.gpu.limits;
    const WG = Math.min(this.gpu.features.subgroups ? 1024 : 256, maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX);
    const { logits, history, bias, scores, partials, candidates, result, tokens } = this.buffers;
    const first = await kernels.kernel('sample_scores', { constants: { WG: SCORES_WG, V: this.vocabSize, SPAN } });
    const second = await kernels.kernel('sample', { constants: { WG, V: this.vocabSize, GROUPS: this.groups } });
    this.steps = [
      first.step({ logits, history, bias, scores, partials }, () => this.groups),
      second.step({ partials, history, candidates, scores, result, tokens }, () => 1),
    ];
  }

  // Start of a generation: nothing generated yet, the prompt's tokens seen (repetition penalty).
  reset(promptIds = []) {
    this.#history.fill(0);
    for (const id of promptIds) this.#history[checkToken(id, this.vocabSize, 'prompt')] = 1;
    this.gpu.device.queue.writeBuffer(this.buffers.history, 0, this.#history);
  }

  // Checks the request's options and puts them into the step parameters; returns the bytes the
  // readback needs (the token alone unless log-probabilities are wanted).
  configure(opts, params) {
    const {
      temperature = 1, topP = 1, topK = 0, frequencyPenalty = 0, presencePenalty = 0, repetitionPenalty = 1,
      logitBias = null, random = Math.random(), logprobs = false, topLogprobs = 0,
    } = opts;
    check(Number.isFinite(temperature) && temperature >= 0, 'temperature', 'a number >= 0');
    check(Number.isFinite(topP) && topP > 0 && topP <= 1, 'top_p', 'a number in (0, 1]');
    check(Number.isInteger(topK) && topK >= 0, 'top_k', 'an integer >= 0');
    check(Number.isFinite(frequencyPenalty), 'frequency_penalty', 'a number');
    check(Number.isFinite(presencePenalty), 'presence_penalty', 'a number');
    check(Number.isFinite(repetitionPenalty) && repetitionPenalty > 0, 'repetition_penalty', 'a number > 0');
    check(Number.isFinite(random) && random >= 0 && random < 1, 'random', 'a number in [0, 1)');
    check(Number.isInteger(topLogprobs) && topLogprobs >= 0 && topLogprobs <= MAX_TOP_LOGPROBS,
      'top_logprobs', `an integer in 0..${MAX_TOP_LOGPROBS}`);
    params.set({
      temperature, top_p: topP, top_k: topK, random, frequency_penalty: frequencyPenalty,
      presence_penalty: presencePenalty, repetition_penalty: repetitionPenalty,
      bias_count: this.#writeBias(logitBias), logprobs: logprobs ? 1 : 0, top_logprobs: topLogprobs,
    });
    return { logprob: logprobs || topLogprobs > 0, topLogprobs };
  }

  #writeBias(logitBias) {
    const entries = Object.entries(logitBias ?? {});
    check(entries.length <= MAX_LOGIT_BIAS, 'logit_bias', `at most ${MAX_LOGIT_BIAS} entries`);
    const key = JSON.stringify(entries);
    if (key !== this.#biasKey) {
      const words = new Uint32Array(Math.max(2, 2 * entries.length));
      const floats = new Float32Array(words.buffer);
      entries.forEach(([token, bias], i) => {
        words[2 * i] = checkToken(Number(token), this.vocabSize, 'logit_bias');
        check(Number.isFinite(bias), 'logit_bias', 'numbers as values');
        floats[2 * i + 1] = bias;
      });
      this.gpu.device.queue.writeBuffer(this.buffers.bias, 0, words);
      this.#biasKey = key;
    }
    return entries.length;
  }

  encode(pass) {
    for (const step of this.steps) step.encode(pass, 1);
  }

  copyResult(encoder, want) {
    encoder.copyBufferToBuffer(this.buffers.result, 0, this.#readback, 0, readBytes(want));
  }

  async read(want) {
    const bytes = readBytes(want);
    await this.#readback.mapAsync(GPUMapMode.READ, 0, bytes);
    const words = new Uint32Array(this.#readback.getMappedRange(0, bytes).slice(0));
    this.#readback.unmap();
    const floats = new Float32Array(words.buffer);
    const topLogprobs = want.topLogprobs > 0
      ? Array.from({ length: want.topLogprobs }, (_, i) => ({ token: words[2 + 2 * i], logprob: floats[3 + 2 * i] }))
      : null;
    return { token: words[0], logprob: want.logprob ? floats[1] : null, topLogprobs };
  }
}

function readBytes(want) {
  return want.logprob ? 8 + 8 * want.topLogprobs : 4;
}

function check(ok, field, what) {
  if (!ok) throw new InvalidRequestError(`${field} must be ${what}.`, { field });
}

export function checkToken(id, vocabSize, field) {
  check(Number.isInteger(id) && id >= 0 && id < vocabSize, field, `token ids in 0..${vocabSize - 1}`);
  return id;
}
