/**
 * The ask threshold, calibrated on probabilities a run already stored: the guided engine probes each prompt's
 * probability of asking once, so every threshold can be tried afterwards without another model call.
 *
 * The threshold a user would want: the one that asks about the most unclear (modified) requests while asking about
 * at most a small share (10% by default) of clear ones, because being questioned about a clear instruction is what
 * users of coding assistants complain about most. Among thresholds with the same rates the middle of their range is
 * taken, so a slightly different model or prompt does not tip it over.
 */

interface ProbabilitySample {
  p: number;
  /** The prompt was an original (clear) one. */
  clear: boolean;
}

interface CalibrationPoint {
  threshold: number;
  /** Share of modified prompts it asks about (their communication rate at this threshold). */
  modifiedAskRate: number;
  /** Share of clear prompts it asks about (unneeded questions). */
  clearAskRate: number;
}

export interface Calibration {
  modifiedItems: number;
  clearItems: number;
  /** Every distinct outcome of the sweep, by rising threshold (each at the middle of its range of thresholds). */
  points: CalibrationPoint[];
  suggestion: CalibrationPoint & {
    /** Whether it asks more often on unclear prompts than on clear ones: false means the probability does not help. */
    separates: boolean;
  };
  /** The budget of asks on clear prompts the suggestion keeps to. */
  maxClearAskRate: number;
  /** Fewer than 20 prompts of a kind: the suggestion is rough, and says so. */
  smallSample: boolean;
  /** The threshold the run itself used, and its rates. */
  current?: CalibrationPoint;
  rule: string;
}

export type CalibrationResult = Calibration | { unavailable: string };

function rates(samples: readonly ProbabilitySample[], threshold: number): CalibrationPoint {
  const modified = samples.filter((s) => !s.clear);
  const clear = samples.filter((s) => s.clear);
  const share = (set: readonly ProbabilitySample[]): number => (set.length === 0 ? 0 : set.filter((s) => s.p >= threshold).length / set.length);
  return { threshold, modifiedAskRate: share(modified), clearAskRate: share(clear) };
}

/** The middle of (low, high], written with as few decimals (at least 3) as keep it inside: a setting people read. */
function middle(low: number, high: number): number {
  const mid = (low + high) / 2;
  for (let digits = 3; digits <= 12; digits++) {
    const nice = Math.round(mid * 10 ** digits) / 10 ** digits;
    if (nice > low && nice <= high) return nice;
  }
  return mid;
}

/** Sweeps the threshold over the stored probabilities and suggests one (see the rule above). */
export function calibrate(samples: readonly ProbabilitySample[], options: { maxClearAskRate?: number; current?: number } = {}): CalibrationResult {
  const maxClearAskRate = options.maxClearAskRate ?? 0.1;
  const valid = samples.filter((s) => Number.isFinite(s.p) && s.p >= 0 && s.p <= 1);
  const modifiedItems = valid.filter((s) => !s.clear).length;
  const clearItems = valid.filter((s) => s.clear).length;
  if (modifiedItems === 0 || clearItems === 0) {
    return {
      unavailable:
        "calibration needs the probability of asking on both modified and original prompts: run the engine in guided style with --ask auto and include the original category",
    };
  }
  // Each distinct outcome is "ask when p >= ps[i]" (or never); its thresholds run from just above ps[i - 1] to ps[i],
  // and the point stands for them at the middle of that range.
  const ps = [...new Set(valid.map((s) => s.p))].sort((a, b) => a - b);
  const points: CalibrationPoint[] = [];
  ps.forEach((p, i) => points.push(rates(valid, middle(ps[i - 1] ?? 0, p))));
  const top = ps[ps.length - 1] ?? 1;
  if (top < 1) points.push(rates(valid, middle(top, 1)));
  // Within the budget: most asks on unclear prompts, then fewest on clear ones.
  const within = points.filter((p) => p.clearAskRate <= maxClearAskRate + 1e-12);
  const best =
    within.reduce<CalibrationPoint | undefined>((b, p) => {
      if (!b || p.modifiedAskRate > b.modifiedAskRate) return p;
      return p.modifiedAskRate === b.modifiedAskRate && p.clearAskRate < b.clearAskRate ? p : b;
    }, undefined) ?? (points[points.length - 1] as CalibrationPoint);
  const suggestion = { ...best, separates: best.modifiedAskRate > best.clearAskRate };
  return {
    modifiedItems,
    clearItems,
    points,
    suggestion,
    maxClearAskRate,
    smallSample: modifiedItems < 20 || clearItems < 20,
    ...(options.current !== undefined ? { current: rates(valid, options.current) } : {}),
    rule: `the threshold that asks about the most modified (unclear) prompts while asking about at most ${Math.round(maxClearAskRate * 100)}% of the original (clear) ones; the middle of the range of thresholds with that outcome`,
  };
}
