/** Short human-readable numbers for progress lines and summaries. Pure, browser-safe. */

/** `45s`, `3m05s`, `1h02m`, `2d03h`; `--` when unknown (negative, NaN, infinite). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const total = Math.round(seconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (total < 60) return `${total}s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes}m${pad(total % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h${pad(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d${pad(hours % 24)}h`;
}

/** Counts with a k/M/G suffix: `950`, `1.2k`, `12.3k`, `123k`, `1.5M`. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs < 999.5) return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(3)));
  const sign = n < 0 ? '-' : '';
  for (const [unit, suffix] of [
    [1e3, 'k'],
    [1e6, 'M'],
    [1e9, 'G'],
  ] as const) {
    const x = abs / unit;
    const text = x < 99.95 ? x.toFixed(1) : x.toFixed(0);
    // Rounding may reach the next unit (999.96k); that is written as 1.0M instead.
    if (Number(text) < 1000 || suffix === 'G') return `${sign}${text}${suffix}`;
  }
  return String(n); // not reached
}

/** Steps per second: `1.2k/s`, `850/s`, `12.5/s`, `0.50/s`; `--/s` before there is a rate. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond < 0) return '--/s';
  if (perSecond >= 999.5) return `${formatCount(perSecond)}/s`;
  if (perSecond >= 99.95) return `${Math.round(perSecond)}/s`;
  return `${perSecond.toFixed(perSecond >= 9.995 ? 1 : 2)}/s`;
}

/** A user field's value: four significant digits, no exponent for ordinary magnitudes. */
export function formatValue(value: number | string): string {
  if (typeof value === 'string') return value;
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (Number.isInteger(value) && Math.abs(value) < 1e6) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
  return String(Number(value.toPrecision(4)));
}
