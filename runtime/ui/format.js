// The chat page's lines of numbers: under the loading bar and under each reply. Pure functions
// (tested in Node); sizes and durations are written as the runtime's own messages write them.

import { formatBytes, formatBytesOf, formatDuration } from '../units.js';

/**
 * The line under the loading bar, from an engine progress report (runtime/engine.js):
 * "45.2 of 90.1 MB · 12.3 MB/s · 4 s left" while weights download; "" when there is
 * nothing to add to the report's own text.
 */
export function loadDetails({ stage, loaded, total, bytesPerSecond, secondsLeft }) {
  if (stage !== 'weights' || !(total > 0)) return '';
  const parts = [formatBytesOf(loaded, total)];
  if (bytesPerSecond > 0) parts.push(`${formatBytes(bytesPerSecond)}/s`);
  if (Number.isFinite(secondsLeft) && secondsLeft > 0) parts.push(`${formatDuration(secondsLeft)} left`);
  return parts.join(' · ');
}

/** The line under a reply, from its saved stats (usage of the completion that produced it). */
export function replyStats({ decodeTokensPerSecond, completionTokens, finishReason } = {}) {
  const parts = [];
  if (Number.isFinite(decodeTokensPerSecond) && decodeTokensPerSecond > 0) parts.push(`${decodeTokensPerSecond.toFixed(1)} tokens/s`);
  if (Number.isInteger(completionTokens)) parts.push(`${completionTokens} token${completionTokens === 1 ? '' : 's'}`);
  if (finishReason === 'abort') parts.push('stopped');
  if (finishReason === 'length') parts.push('cut off at the length limit');
  return parts.join(' · ');
}
