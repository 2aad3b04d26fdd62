// The host side of GPU sampling (kernels/sample_scores.wgsl over many workgroups; at a temperature,
// kernels/sample_narrow.wgsl's rounds and kernels/sample_gather.wgsl over many; then kernels/sample.wgsl in one): per-generation token history kept on the GPU, the logit-bias list
// and the token mask, sampling options turned into step-uniform fields, and the readback of the
// chosen token (plus log-probabilities only when asked for).
//
// Draws may be in flight two at a time (the model queues step t+1 before reading token t back):
// each draw's result is copied to the next of READBACKS staging buffers, so a draw's copy never
// lands in a buffer whose mapping for the one before is pending.
//
// Options arrive checked (runtime/request.js validates what users send; the engine builds the
// rest): this code trusts them and asserts only what would corrupt GPU memory or hang a kernel.

import { MAX_LOGIT_BIAS, MAX_TOP_LOGPROBS } from '../sampling_limits.js';
import { assertToken, assertTokenMask, maskWords } from '../token_ids.js';

const SCORES_WG = 256;
const BANNED_LOGPROB = -1e38;  // at or below: a banned token's (see read())
const SPAN = 8 * SCORES_WG;  // ids per first-stage workgroup
// sample_narrow.wgsl's rounds (kernels/sample_bounds.wgsl): THRESHOLDS values measured per round,
// so ROUNDS rounds leave 1 / THRESHOLDS ** ROUNDS of the first bounds; workgroups of WG over half a
// first-stage span each (its scores and their measures fill 8 KiB of workgroup memory). None on CPU
// adapters: their barriers cost more than the last stage's longer search without the rounds (SwiftShader,
// SmolLM2-135M, 2026-12-01: a draw at temperature 0.8 took 400-780 ms with two rounds, 50-160 ms without).
const NARROW = { WG: 256, ROUNDS: 2, THRESHOLDS: 256 };
// The last stage's invocations. Not 1024: on one H200 (2026-12-02) that workgroup of sample.wgsl
// with the span draw gave wrong results even for greedy draws, with no error (a guess: 1024
// invocations may use 64 registers each, and the kernel needs more); 256 passed and drew faster than the old
// 1024-wide scan (greedy 9.4 -> 3.8 us; last stage of top-k 40 74 -> 37 us, of top-p alone 106 -> 46 us).
const LAST_WG = 256;
const GATHER_WG = 256;       // sample_gather.wgsl's invocations per workgroup (at most the span; span / 32 at least)
const READBACKS = 2;         // draws in flight at most: the one read now and the one queued after it

export class Sampler {
  #history;       // host copy of the GPU's history: a generation's start, plus every draw read back
  #biasKey = '';  // the logit bias now on the GPU, to skip rewriting an unchanged one
  #readbacks;
  #copies = 0;    // draws copied to a readback buffer so far (the next one's slot: copies % READBACKS)
  #unread = 0;    // of those, the draws not read back yet
  #drawing = false;  // the configured draw is at a temperature (the narrowing rounds run)

  /**
   * vocabSize: logits per position; logits: GPUBuffer f32 [vocabSize] (read); tokens: GPUBuffer
   * u32 whose word 0 receives the sampled token (the next step's embedding input); span: ids per
   * first-stage workgroup, a multiple of 256 up to 8192 (sample_gather.wgsl's); workgroupSize: the last stage's, a power of two at
   * least the subgroup size (default: LAST_WG, or as wide as the device allows where less); rounds: narrowing rounds, 0 to
   * NARROW.ROUNDS (default: none on CPU adapters, NARROW.ROUNDS elsewhere). Tests take small ones.
   */
  constructor(gpu, { vocabSize, logits, tokens, span = SPAN, workgroupSize = null, rounds = null }) {
    this.workgroupSize = workgroupSize;
    this.rounds = rounds;
    this.gpu = gpu;
    this.vocabSize = vocabSize;
    this.maskWords = maskWords(vocabSize);
    this.#history = new Uint32Array(vocabSize);
    const storage = (label, size) => gpu.buffer({ label, size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    const resultWords = 2 + 2 * MAX_TOP_LOGPROBS;
    this.span = span;
    this.groups = Math.ceil(vocabSize / span);
    this.narrowGroups = Math.ceil(vocabSize / (span / 2));
    this.buffers = {
      logits, tokens,
      history: storage('history', 4 * vocabSize),
      bias: storage('logit bias', 8 * MAX_LOGIT_BIAS),
      mask: storage('token mask', 4 * this.maskWords),
      scores: storage('sampler scores', 12 * vocabSize),
      partials: storage('sampler partials', 8 * this.groups),
      // the draw's list of ids, then sample_gather.wgsl's per span, their counts, the weights above them
      candidates: storage('sampler candidates', 4 * (2 * vocabSize + 2 * this.groups)),
      measures: storage('sampler measures', 4 * NARROW.ROUNDS * this.narrowGroups * (NARROW.THRESHOLDS + 1)),
      result: storage('sample result', 4 * resultWords),
    };
    this.#readbacks = Array.from({ length: READBACKS }, (_, i) => gpu.buffer({ label: `sample readback ${i}`,
      size: 4 * resultWords, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
  }

  // The dispatches, from `kernels` (a kernels.js Kernels).
  async build(kernels) {
    // the last stage is one workgroup of LAST_WG (sample_gather.wgsl left it lists and a span, not
    // the vocabulary, to walk), or as many as the device allows where fewer
    const { maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX } = this.gpu.limits;
    this.workgroupSize ??= Math.min(LAST_WG, maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX);
    const { logits, history, bias, mask, scores, partials, candidates, measures, result, tokens } = this.buffers;
    const V = this.vocabSize;
    this.rounds ??= kernels.cpuLike ? 0 : NARROW.ROUNDS;
    const bounds = { file: 'sample_bounds', constants: { V, GROUPS: this.groups, SPAN: this.span,
      NARROW_GROUPS: this.narrowGroups, ROUNDS: this.rounds, THRESHOLDS: NARROW.THRESHOLDS } };
    const first = await kernels.kernel('sample_scores', { constants: { WG: SCORES_WG, V, SPAN: this.span } });
    const rounds = await Promise.all(Array.from({ length: this.rounds }, (_, round) => kernels.kernel('sample_narrow',
      { parts: [bounds], constants: { WG: NARROW.WG, ROUND: round, NARROW_SPAN: this.span / 2 } })));
    const gather = await kernels.kernel('sample_gather', { parts: [bounds], constants: { WG: Math.min(GATHER_WG, this.span) } });
    const last = await kernels.kernel('sample', { parts: [bounds], constants: { WG: this.workgroupSize } });
    this.dispatches = {
      first: first.dispatch({ logits, history, bias, mask, scores, partials }, () => this.groups),
      rounds: rounds.map((round) => round.dispatch({ partials, scores, measures }, () => this.narrowGroups)),
      gather: gather.dispatch({ partials, candidates, scores, measures }, () => this.groups),
      last: last.dispatch({ partials, history, candidates, scores, measures, result, tokens }, () => 1),
    };
  }

  // Start of a generation: nothing generated yet, the prompt's tokens seen (repetition penalty).
  // promptIds: token ids in 0..vocabSize-1.
  // Throws a plain Error (a caller's bug) while a draw is in flight: its count would land after.
  reset(promptIds = []) {
    if (this.#unread) throw new Error('reset() while a draw is in flight: read it back first');
    this.#history.fill(0);
    for (const id of promptIds) this.#history[id] = 1;
    this.gpu.device.queue.writeBuffer(this.buffers.history, 0, this.#history);
  }

  /**
   * Puts sampling options (runtime/backend.js lists them) into the step uniform's fields, and the
   * logit bias and token mask into their buffers when given; returns what the readback needs:
   * { logprob: boolean, topLogprobs: count }. Throws a plain Error for a caller's bug: more than
   * MAX_LOGIT_BIAS bias entries or a bias token out of range, or a token mask that is not a
   * Uint32Array of ceil(vocabSize / 32) words allowing at least one token.
   */
  configure(options, uniform) {
    const {
      temperature = 1, topP = 1, topK = 0, frequencyPenalty = 0, presencePenalty = 0, repetitionPenalty = 1,
      logitBias = null, random = Math.random(), logprobs = false, topLogprobs = 0, tokenMask = null,
    } = options;
    if (tokenMask) this.#writeMask(tokenMask);
    this.#drawing = temperature > 0;
    uniform.set({
      temperature, top_p: topP, top_k: topK, random, frequency_penalty: frequencyPenalty,
      presence_penalty: presencePenalty, repetition_penalty: repetitionPenalty,
      bias_count: this.#writeBias(logitBias), logprobs: logprobs ? 1 : 0, top_logprobs: topLogprobs,
      masked: tokenMask ? 1 : 0,
    });
    return { logprob: logprobs || topLogprobs > 0, topLogprobs, masked: !!tokenMask };
  }

  #writeBias(logitBias) {
    const entries = Object.entries(logitBias ?? {});
    if (entries.length > MAX_LOGIT_BIAS) throw new Error(`logitBias has ${entries.length} entries; the sampler holds ${MAX_LOGIT_BIAS}`);
    const key = JSON.stringify(entries);
    if (key !== this.#biasKey) {
      const words = new Uint32Array(Math.max(2, 2 * entries.length));
      const floats = new Float32Array(words.buffer);
      entries.forEach(([token, bias], i) => {
        words[2 * i] = assertToken(Number(token), this.vocabSize);
        floats[2 * i + 1] = bias;
      });
      this.gpu.device.queue.writeBuffer(this.buffers.bias, 0, words);
      this.#biasKey = key;
    }
    return entries.length;
  }

  // A mask that allowed nothing would leave the kernels no token to choose: token_ids.js checks.
  #writeMask(mask) {
    this.gpu.device.queue.writeBuffer(this.buffers.mask, 0, assertTokenMask(mask, this.vocabSize));
  }

  // The configured draw's dispatches (the rounds return at once where no truncation needs them).
  encode(pass) {
    const { first, rounds, gather, last } = this.dispatches;
    for (const dispatch of [first, ...(this.#drawing ? [...rounds, gather] : []), last]) dispatch.encode(pass, 1);
  }

  // Throws a plain Error (a caller's bug) when no more draws may be in flight: call before queuing one.
  assertRoomForDraw() {
    if (this.#unread >= READBACKS) throw new Error(`at most ${READBACKS} draws may be in flight: await one first`);
  }

  // Records the copy of this draw's result into its readback buffer; returns the buffer, for read().
  copyResult(encoder, want) {
    const readback = this.#readbacks[this.#copies++ % READBACKS];
    this.#unread++;
    encoder.copyBufferToBuffer(this.buffers.result, 0, readback, 0, readBytes(want));
    return readback;
  }

  // -> { token, logprob: number | null, topLogprobs: null | [{ token, logprob }] } of the draw
  // copyResult() copied to `readback`, once it has been submitted. Rejects when the readback fails
  // (a lost device, say).
  async read(want, readback) {
    const bytes = readBytes(want);
    try {
      await readback.mapAsync(GPUMapMode.READ, 0, bytes);
    } finally {
      this.#unread--;
    }
    const words = new Uint32Array(readback.getMappedRange(0, bytes).slice(0));
    readback.unmap();
    this.#history[words[0]] += 2;  // as sample.wgsl counted it
    const floats = new Float32Array(words.buffer);
    let topLogprobs = want.topLogprobs > 0
      ? Array.from({ length: want.topLogprobs }, (_, i) => ({ token: words[2 + 2 * i], logprob: floats[3 + 2 * i] }))
      : null;
    // Where the mask allows fewer tokens than asked for, the list runs on into banned ones, whose
    // scores (sample_scores.wgsl's BANNED, the lowest f32) give logprobs near -3.4e38: not tokens
    // the model could say, so they are left out.
    if (want.masked && topLogprobs) topLogprobs = topLogprobs.filter(({ logprob }) => logprob > BANNED_LOGPROB);
    return { token: words[0], logprob: want.logprob ? floats[1] : null, topLogprobs };
  }

  // Forgets that `token` (a draw read back) was generated, for the penalties: the undo of a draw
  // the caller discards. Every draw before it has been read back, so the host copy is the GPU's.
  uncount(token) {
    this.#history[token] -= 2;
    this.gpu.device.queue.writeBuffer(this.buffers.history, 4 * token, this.#history, token, 1);
  }
}

function readBytes(want) {
  return want.logprob ? 8 + 8 * want.topLogprobs : 4;
}
