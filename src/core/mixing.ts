/**
 * Mixing the original set with the clarify set at a ratio (the paper's r, original% : clarify%), by downsampling the
 * larger share, oversampling the smaller, or as the paper's script does, with a seeded train/validation split. The split is by source task, so a
 * task and its rewrites never land on both sides, and each side is mixed at the ratio on its own.
 */
import { sampleExactly, seedOf, seededRandom, shuffled } from "./random.js";

interface Ratio {
  original: number;
  clarify: number;
}

/**
 * downsample and oversample are ours; paper-oversample is the split of the authors' `seperate_JSONL.py`, whose
 * "oversample" (like its "downsample") takes `int(min(O/a, C/b))` rows in total and never repeats one.
 */
export type Sampling = "downsample" | "oversample" | "paper-oversample";
export const samplingModes: readonly Sampling[] = ["downsample", "oversample", "paper-oversample"];

/** "20:80" (original : clarify). Any two non-negative numbers that are not both 0. */
export function parseRatio(text: string): Ratio {
  const match = /^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$/.exec(text);
  if (!match) throw new Error(`The ratio must be original:clarify, such as 20:80 (got "${text}").`);
  const ratio = { original: Number(match[1]), clarify: Number(match[2]) };
  if (ratio.original + ratio.clarify <= 0) throw new Error(`The ratio ${text} has no share on either side.`);
  return ratio;
}

export const formatRatio = (ratio: Ratio): string => `${ratio.original}:${ratio.clarify}`;

/**
 * How many examples of each set a mix takes. Downsampling keeps all of the set that limits the ratio and takes a
 * sample of the other; oversampling keeps all of the set that exceeds it and repeats the other. The derived count is
 * rounded, so the ratio is as exact as whole examples allow.
 */
export function mixCounts(available: { original: number; clarify: number }, ratio: Ratio, sampling: Sampling): { original: number; clarify: number } {
  const { original: o, clarify: c } = available;
  const { original: a, clarify: b } = ratio;
  if (a === 0) return { original: 0, clarify: c };
  if (b === 0) return { original: o, clarify: 0 };
  if (sampling === "paper-oversample") return paperCounts(available, ratio);
  // Which side is kept whole: the scarce one when downsampling, the plentiful one when oversampling.
  const originalIsScarce = o * b <= c * a;
  const keepOriginal = sampling === "downsample" ? originalIsScarce : !originalIsScarce;
  // Nothing can be repeated from an empty set (only oversampling can ask for more than there is).
  if (keepOriginal) return { original: o, clarify: c === 0 ? 0 : Math.round((o * b) / a) };
  return { original: o === 0 ? 0 : Math.round((c * a) / b), clarify: c };
}

/** Whole rows of a product that floating point may leave a hair under an integer (0.8 * 37370). */
const whole = (x: number): number => Math.floor(x + 1e-9);

/**
 * The authors' split: with shares a' = a/(a+b) and b' = b/(a+b), N = int(min(O/a', C/b')) rows in total, int(N a')
 * originals and int(N b') clarify. Neither side is ever asked for more than it has, so nothing repeats (20:80 of
 * 8,765 originals and 29,896 clarify rows gives 7,474 + 29,896).
 */
export function paperCounts(available: { original: number; clarify: number }, ratio: Ratio): { original: number; clarify: number } {
  const shareO = ratio.original / (ratio.original + ratio.clarify);
  const shareC = 1 - shareO;
  const total = whole(Math.min(shareO === 0 ? Infinity : available.original / shareO, shareC === 0 ? Infinity : available.clarify / shareC));
  return { original: Math.min(available.original, whole(total * shareO)), clarify: Math.min(available.clarify, whole(total * shareC)) };
}

/** Splits source ids: `round(count * share)` of them, chosen by the seed, go to validation. */
export function splitSources(sources: readonly string[], validationShare: number, seed: number): { train: Set<string>; validation: Set<string> } {
  if (!(validationShare >= 0 && validationShare < 1)) throw new RangeError(`The validation share must be at least 0 and below 1 (got ${validationShare}).`);
  const distinct = [...new Set(sources)].sort();
  const order = shuffled(distinct, seededRandom(seedOf(`${seed}/split`)));
  const count = Math.round(distinct.length * validationShare);
  return { validation: new Set(order.slice(0, count)), train: new Set(order.slice(count)) };
}

interface MixInput<T> {
  original: readonly T[];
  clarify: readonly T[];
  /** The task an example comes from (the split keeps a task's examples together). */
  sourceOf: (example: T) => string;
  ratio: Ratio;
  sampling: Sampling;
  validationShare: number;
  seed: number;
}

interface MixedSplit<T> {
  examples: T[];
  original: number;
  clarify: number;
  /** What was there to take from, before sampling. */
  available: { original: number; clarify: number };
  sources: number;
}

export interface Mix<T> {
  train: MixedSplit<T>;
  validation: MixedSplit<T>;
}

/** The mix: split by source, then each side sampled at the ratio and shuffled, all from the seed. */
export function mixExamples<T>(input: MixInput<T>): Mix<T> {
  const sources = [...input.original, ...input.clarify].map(input.sourceOf);
  const sides = splitSources(sources, input.validationShare, input.seed);
  const side = (name: "train" | "validation"): MixedSplit<T> => {
    const keep = sides[name];
    const original = input.original.filter((e) => keep.has(input.sourceOf(e)));
    const clarify = input.clarify.filter((e) => keep.has(input.sourceOf(e)));
    const counts = mixCounts({ original: original.length, clarify: clarify.length }, input.ratio, input.sampling);
    const random = seededRandom(seedOf(`${input.seed}/${name}`));
    const chosen = [...sampleExactly(original, counts.original, random), ...sampleExactly(clarify, counts.clarify, random)];
    return {
      examples: shuffled(chosen, random),
      original: counts.original,
      clarify: counts.clarify,
      available: { original: original.length, clarify: clarify.length },
      sources: keep.size,
    };
  };
  return { train: side("train"), validation: side("validation") };
}
