/** Small, dependency-free statistics: nearest-rank percentiles, medians, a least-squares line. */

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[Math.min(rank, sorted.length) - 1] as number
}

export function sortNumbers (values: Iterable<number>): number[] {
  return Float64Array.from(values).sort() as unknown as number[]
}

export function median (values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

export interface Fit {
  /** y = intercept + slope * x */
  slope: number
  intercept: number
  /** Coefficient of determination; NaN with fewer than 3 points or constant y. */
  r2: number
  n: number
}

export function linearFit (xs: readonly number[], ys: readonly number[]): Fit {
  const n = Math.min(xs.length, ys.length)
  if (n < 2) return { slope: NaN, intercept: NaN, r2: NaN, n }
  let sx = 0; let sy = 0
  for (let i = 0; i < n; i++) { sx += xs[i] as number; sy += ys[i] as number }
  const mx = sx / n; const my = sy / n
  let sxx = 0; let sxy = 0; let syy = 0
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] as number) - mx; const dy = (ys[i] as number) - my
    sxx += dx * dx; sxy += dx * dy; syy += dy * dy
  }
  const slope = sxx === 0 ? NaN : sxy / sxx
  const intercept = my - slope * mx
  const r2 = n < 3 || syy === 0 || sxx === 0 ? NaN : (sxy * sxy) / (sxx * syy)
  return { slope, intercept, r2, n }
}

export function round (x: number, digits = 1): number {
  if (!Number.isFinite(x)) return x
  const f = 10 ** digits
  return Math.round(x * f) / f
}
