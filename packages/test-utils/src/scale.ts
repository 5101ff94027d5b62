/**
 * How many rounds a repeated scenario runs. The README's test command runs every count as
 * written; CI re-runs the whole suite on the other Node LTS lines with GR_TEST_SCALE=0.25,
 * so each behaviour is still exercised on every line while the repetitions that only add
 * confidence stay within CI's time budget. Never fewer than `min` (default 1).
 */
export function rounds (n: number, min = 1): number {
  const raw = process.env.GR_TEST_SCALE
  const scale = raw === undefined || raw === '' ? 1 : Number(raw)
  if (!Number.isFinite(scale) || scale <= 0 || scale > 1) {
    throw new RangeError(`GR_TEST_SCALE must be a number in (0, 1], got ${JSON.stringify(raw)}`)
  }
  return Math.max(min, Math.ceil(n * scale))
}
