// How many threads the CPU backend (runtime/wasm/) splits its work over by default, in a cross-origin
// isolated browser context: the one rule, read by runtime/wasm/threads.js (defaultThreads: the count
// a model loads with) and by the pages (runtime/ui/engine_start.js: whether a reload adds threads).
// This module imports nothing, so the page side stays free of model code.

// One thread per core the browser reports, up to this many (past it, a small model's rows split too
// thinly to gain: 2 threads decoded SmolLM2 1.4x faster than 1 on a loaded 2-core VM, 2026-11-30).
const MAX_DEFAULT_THREADS = 4;

/**
 * The threads a cross-origin isolated context gets by default: one per core, capped at
 * MAX_DEFAULT_THREADS. Whether the context is isolated is the caller's question.
 * @param {number} [cores] the cores the browser reports: navigator.hardwareConcurrency by default
 *   (Node before 21 has no navigator: 1)
 * @returns {number} a whole number from 1 to MAX_DEFAULT_THREADS
 */
export function isolatedThreads(cores = globalThis.navigator?.hardwareConcurrency) {
  return Math.max(1, Math.min(Math.floor(cores) || 1, MAX_DEFAULT_THREADS));
}
