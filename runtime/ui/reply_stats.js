// The line of numbers under each reply. Pure (tested in Node). (The loading bar's line is the
// engine's own progress text: runtime/load_progress.js.)

/** The line under a reply, from its saved stats (usage of the completion that produced it). */
export function replyStats({ decodeTokensPerSecond, completionTokens, finishReason } = {}) {
  const parts = [];
  if (Number.isFinite(decodeTokensPerSecond) && decodeTokensPerSecond > 0) parts.push(`${decodeTokensPerSecond.toFixed(1)} tokens/s`);
  if (Number.isInteger(completionTokens)) parts.push(`${completionTokens} token${completionTokens === 1 ? '' : 's'}`);
  if (finishReason === 'abort') parts.push('stopped');
  if (finishReason === 'length') parts.push('cut off at the length limit');
  return parts.join(' · ');
}
