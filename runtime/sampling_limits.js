// How much one sampling call can carry, the same for every backend: runtime/request.js refuses
// requests that ask for more, and each backend's sampler sizes its buffers by these. This module
// imports nothing, so the request validator loads no backend code, and a backend none of the
// engine's.

/** Most alternatives a token's logprobs entry lists (OpenAI's top_logprobs limit). */
export const MAX_TOP_LOGPROBS = 20;
/** Most logit_bias entries one request may set. */
export const MAX_LOGIT_BIAS = 1024;
