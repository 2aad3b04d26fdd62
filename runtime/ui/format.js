// Numbers as the chat page shows them: sizes, speeds, durations. Pure functions (tested in Node).

/** 1234567 -> "1.2 MB" (decimal units, as browsers' download UIs and storage settings use). */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = -1;
  do {
    value /= 1000;
    unit += 1;
  } while (value >= 1000 && unit < units.length - 1);
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** Seconds -> "45 s", "3 min 20 s", "1 h 5 min"; rounded up, since it is time still to wait. */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const total = Math.ceil(seconds);
  if (total < 60) return `${total} s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes} min${total % 60 ? ` ${total % 60} s` : ''}`;
  return `${Math.floor(minutes / 60)} h${minutes % 60 ? ` ${minutes % 60} min` : ''}`;
}

/**
 * The line under the loading bar, from an engine progress report (runtime/engine.js):
 * "45.20 MB of 90.10 MB · 12.3 MB/s · 4 s left" while weights download; "" when there is
 * nothing to add to the report's own text.
 */
export function loadDetails({ stage, loaded, total, bytesPerSecond, secondsLeft }) {
  if (stage !== 'weights' || !(total > 0)) return '';
  const parts = [`${formatBytes(loaded)} of ${formatBytes(total)}`];
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
