/**
 * Seeded randomness for repeatable runs (dataset mixing, splits, benchmark samples): the same seed gives the same
 * choices on every machine.
 */

/** A generator of floats in [0, 1) from a 32-bit seed (mulberry32: small, fast, and good enough for sampling). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed from text (a run's name, an item's id): FNV-1a over its UTF-16 code units. */
export function seedOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A shuffled copy (Fisher-Yates). */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Exactly `count` items: a sample without repeats when there are enough, otherwise every item once and then repeats
 * drawn without replacement again (so oversampling spreads evenly).
 */
export function sampleExactly<T>(items: readonly T[], count: number, random: () => number): T[] {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`Cannot take ${count} items.`);
  if (count > 0 && items.length === 0) throw new RangeError(`Cannot take ${count} items from none.`);
  const out: T[] = [];
  while (out.length < count) out.push(...shuffled(items, random).slice(0, count - out.length));
  return out;
}
