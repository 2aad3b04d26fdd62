// Sizes and durations as people read them, in progress texts and error messages. Decimal units
// (MB = 10^6 bytes), as browsers and operating systems show download sizes.

const UNITS = [{ name: 'GB', scale: 1e9, digits: 2 }, { name: 'MB', scale: 1e6, digits: 1 }];
const unitOf = (bytes) => UNITS.find((unit) => bytes >= unit.scale) ?? UNITS.at(-1);
const amount = (bytes, unit) => (bytes / unit.scale).toFixed(unit.digits);

/** "45.2 MB", "1.35 GB". */
export function formatBytes(bytes) {
  const unit = unitOf(bytes);
  return `${amount(bytes, unit)} ${unit.name}`;
}

/** "45.2 of 90.1 MB": both amounts in the unit of the whole. */
export function formatBytesOf(part, whole) {
  const unit = unitOf(whole);
  return `${amount(part, unit)} of ${amount(whole, unit)} ${unit.name}`;
}

/** "4 s", "2 min 5 s", "1 h 10 min". */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
