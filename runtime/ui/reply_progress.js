// What the page says while a reply has not started: the engine's request progress reports
// (runtime/request_progress.js) as one line for the visitor. Pure (tested in Node).

// The page's texts are English: numbers are grouped the English way whatever the browser's locale.
const count = (number) => number.toLocaleString('en-US');

/**
 * The line for a request progress report: "Waiting for the reply in another tab to finish…",
 * "Reading your message… 384 of 1,024 tokens". `input`: what the prompt is to the visitor
 * ("your message" on the chat page, "your text" on a base model's completion page).
 * @param {import('../request_progress.js').RequestProgressReport} report
 * @param {{ input?: string }} [options]
 * @returns {string}
 */
export function replyProgressText(report, { input = 'your message' } = {}) {
  if (report.stage === 'waiting') {
    const { ahead, otherTab, stopping = 0 } = report;  // (an older site's service worker sends no `stopping`)
    // a reply whose page went away (this tab before its reload, say) or that was stopped: it ends
    // with the step under way, whichever tab it was
    if (ahead === 1 && stopping === 1) return 'Waiting for the previous reply to stop…';
    if (ahead === 1) return otherTab ? 'Waiting for the reply in another tab to finish…' : 'Waiting for the previous reply to finish…';
    return `Waiting for ${count(ahead)} earlier replies to finish${otherTab ? ', some in other tabs' : ''}…`;
  }
  if (report.stage === 'prefill') return `Reading ${input}… ${count(report.done)} of ${count(report.total)} tokens`;
  // A stage this page does not know yet (a service worker of a newer site version may send one).
  return 'Preparing the reply…';
}
