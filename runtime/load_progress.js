// The loading bar's numbers and text: turns the backend loader's progress events into reports
// shaped like WebLLM's InitProgressReport (one overall fraction and a line of text), plus the
// loader's stage and its loaded/total counts, and while the weights load, the download speed
// and time left.
//
// Each stage covers a fixed share of the bar; the weights dominate the wait, so they get most of
// it. Progress 1 is reported once, with stage 'ready', when the engine can take requests.

import { formatBytes, formatBytesOf, formatDuration } from './units.js';

const LOAD_STAGES = {
  manifest: { from: 0, to: 0.01, text: () => 'Reading the model manifest' },
  weights: { from: 0.01, to: 0.93, text: weightsText },
  pipelines: { from: 0.93, to: 0.97, text: ({ loaded, total }) => `Compiling GPU kernels: ${loaded} of ${total}` },
  // WebGPU's first load on a device: kernel variants timed (runtime/webgpu/tuning.js), within a budget of seconds
  tuning: { from: 0.97, to: 0.99, text: ({ loaded, total }) => `Tuning GPU kernels for this device: ${loaded} of ${total}` },
  ready: { from: 1, to: 1, text: ({ timeElapsed }) => `Ready (loaded in ${timeElapsed.toFixed(1)} s)` },
};

/**
 * @typedef {object} ProgressReport  what initProgressCallback receives
 * @property {number} progress  0..1 over the whole load, never decreasing
 * @property {string} stage  'manifest' | 'weights' | 'pipelines' | 'tuning' | 'ready' (or a backend's own stage)
 * @property {number} loaded  of `total`: bytes for 'weights', kernels for 'pipelines', matrix shapes for 'tuning'
 * @property {number} total
 * @property {number} timeElapsed  seconds since the reporter was made
 * @property {string} text  one line for people
 * @property {number} [fromCache]  'weights' only: bytes of `loaded` read from the cache
 * @property {number|null} [bytesPerSecond]  'weights' only: download speed; null until measurable
 * @property {number|null} [secondsLeft]  'weights' only: of the download; null until measurable
 */

/**
 * Start timing a load; returns the onProgress function to give the backend loader
 * (runtime/backend.js loadBackend): it takes { stage, loaded, total, fromCache } and calls
 * `callback` (if any) with a ProgressReport.
 * @param {((report: ProgressReport) => void) | undefined} callback
 */
export function progressReporter(callback) {
  const started = performance.now();
  const download = new DownloadRate();
  let progress = 0;
  return ({ stage, loaded, total, fromCache }) => {
    if (!callback) return;
    const { from, to, text } = LOAD_STAGES[stage] ?? { from: progress, to: progress, text: () => `Loading (${stage})` };
    progress = Math.max(progress, from + (to - from) * (total > 0 ? Math.min(loaded / total, 1) : 1));
    const report = { progress, loaded, total, stage, timeElapsed: (performance.now() - started) / 1000 };
    if (stage === 'weights') Object.assign(report, { fromCache, ...download.update(loaded, total, fromCache) });
    callback({ ...report, text: text(report) });
  };
}

// Download speed and time left while the weights load, over the bytes that come from the network
// only: cached shards load at once and would inflate the rate. The rate is the average since the
// download began (GPU uploads between shards included: they are part of the wait); the time left
// assumes the rest comes from the network too (when an interrupted download resumes, its cached
// shards come first anyway: downloads run in shard order).
const MIN_RATE_SECONDS = 0.5; // no rate before there is this much to measure it on

class DownloadRate {
  #started = null; // when the first network bytes were asked for: the report before they came
  #previous = performance.now();

  /** -> { bytesPerSecond, secondsLeft }, each null until MIN_RATE_SECONDS of download have passed. */
  update(loaded, total, fromCache) {
    const now = performance.now();
    const downloaded = loaded - fromCache;
    if (downloaded > 0 && this.#started === null) this.#started = this.#previous;
    this.#previous = now;
    const seconds = this.#started === null ? 0 : (now - this.#started) / 1000;
    const bytesPerSecond = seconds >= MIN_RATE_SECONDS ? downloaded / seconds : null;
    return { bytesPerSecond, secondsLeft: bytesPerSecond ? (total - loaded) / bytesPerSecond : null };
  }
}

function weightsText({ loaded, total, fromCache, bytesPerSecond, secondsLeft }) {
  if (loaded === 0) return `Loading weights: ${formatBytesOf(0, total)}`;
  if (fromCache === loaded) return `Loading weights from the cache: ${formatBytesOf(loaded, total)}`;
  const speed = bytesPerSecond ? `, ${formatBytes(bytesPerSecond)}/s, ${formatDuration(secondsLeft)} left` : '';
  return `Downloading weights: ${formatBytesOf(loaded, total)}${speed}`;
}
