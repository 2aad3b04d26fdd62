// What a chat-completions request reports before its reply's first token, through
// engine.chat.completions.create(request, { onProgress }): in-thread from engine.js; through a
// worker or the service worker, engine_host.js posts the engine's reports (and its own waiting
// ones) and worker_client.js hands them to the callback. The report shapes are defined here, once;
// runtime/ui/reply_progress.js turns them into text for the visitor.
//
// Reports come only while the request has no reply yet: after the first token, the reply's own
// chunks tell how it goes. No report comes where the request neither waits nor has a prompt to
// run, and none at all without a callback (a host is not even asked for them).

/**
 * @typedef {WaitingReport | PrefillReport} RequestProgressReport
 *
 * @typedef {object} WaitingReport  the request waits for its turn: the engine runs one generation
 *   at a time. Reported when it starts waiting, and again each time a turn before it ends.
 * @property {'waiting'} stage
 * @property {number} ahead  turns before this one (>= 1): the generation running and those queued
 *   before it (in-thread, a resetChat() called before counts too)
 * @property {boolean} otherTab  whether one of those turns is another tab's: another connection
 *   to the same engine host (the service worker serves every tab of the site). Always false
 *   in-thread and in a dedicated worker, which serve one page
 * @property {number} stopping  of those turns, the ones ending without a request left: their page
 *   went away (a reload, a closed tab) or stopped them, and the engine finishes the step it is in
 *   (a prefill chunk) before it lets go. Always 0 in-thread and in a dedicated worker
 *
 * @typedef {object} PrefillReport  the prompt runs through the model
 * @property {'prefill'} stage
 * @property {number} done  tokens of `total` run so far: 0 at the start, then after each chunk
 *   the backend runs (the WebGPU one: 128 tokens), up to `total`
 * @property {number} total  the prompt tokens that run (>= 1): those after the prefix the KV cache
 *   already holds, as usage.extra.prefill_tokens reports them
 */

/**
 * The WaitingReport of a turn of `owner` that waits behind the turns of `owners`
 * (turn_queue.js onWait): a turn without an owner (in-thread) has no other tabs. An owner is an
 * engine_host.js connection (its `openRequests`: its requests not finished), or null in-thread.
 * @param {any[]} owners
 * @param {any} [owner]
 * @returns {WaitingReport}
 */
export function waitingReport(owners, owner = null) {
  const others = owners.filter((other) => other !== owner);
  return { stage: 'waiting', ahead: owners.length, otherTab: others.length > 0,
    stopping: others.filter((other) => other?.openRequests === 0).length };
}

/**
 * The function a request reports through: `onProgress` (create()'s option), guarded so that a
 * callback that throws does not end the request (the progress is only the page's display; the
 * error goes to console.warn). Undefined without a callback, so that nothing is reported.
 * Throws TypeError for an onProgress that is not a function.
 * @param {((report: RequestProgressReport) => void) | undefined} onProgress
 * @returns {((report: RequestProgressReport) => void) | undefined}
 */
export function progressListener(onProgress) {
  if (onProgress === undefined || onProgress === null) return undefined;
  if (typeof onProgress !== 'function') throw new TypeError('create(request, { onProgress }): onProgress must be a function.');
  return (report) => {
    try {
      onProgress(report);
    } catch (error) {
      console.warn('A chat-completions onProgress callback threw; the request goes on.', error);
    }
  };
}
