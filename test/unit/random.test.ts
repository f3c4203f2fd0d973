import assert from "node:assert/strict";
import { it } from "node:test";
import { sampleExactly, seedOf, seededRandom, shuffled } from "../../src/core/random.js";

it("the same seed gives the same numbers, another seed others, all in [0, 1)", () => {
  const a = Array.from({ length: 1000 }, seededRandom(42));
  const b = Array.from({ length: 1000 }, seededRandom(42));
  const c = Array.from({ length: 1000 }, seededRandom(43));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(a.every((x) => x >= 0 && x < 1));
  const mean = a.reduce((s, x) => s + x, 0) / a.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
});

it("seedOf is stable and tells texts apart", () => {
  assert.equal(seedOf("abc"), seedOf("abc"));
  assert.notEqual(seedOf("abc"), seedOf("abd"));
  assert.equal(seedOf(""), 0x811c9dc5);
});

it("shuffled keeps every item and does not touch the input", () => {
  const input = Array.from({ length: 50 }, (_, i) => i);
  const out = shuffled(input, seededRandom(1));
  assert.deepEqual(
    [...out].sort((x, y) => x - y),
    input,
  );
  assert.notDeepEqual(out, input);
  assert.deepEqual(
    input,
    Array.from({ length: 50 }, (_, i) => i),
  );
});

it("sampleExactly downsamples without repeats and oversamples evenly", () => {
  const items = ["a", "b", "c", "d"];
  const down = sampleExactly(items, 3, seededRandom(7));
  assert.equal(down.length, 3);
  assert.equal(new Set(down).size, 3);
  const up = sampleExactly(items, 10, seededRandom(7));
  assert.equal(up.length, 10);
  const counts = items.map((x) => up.filter((y) => y === x).length);
  assert.ok(
    counts.every((n) => n === 2 || n === 3),
    `counts ${counts.join(",")}`,
  );
  assert.deepEqual(sampleExactly(items, 0, seededRandom(1)), []);
  assert.throws(() => sampleExactly([], 1, seededRandom(1)), /from none/);
  assert.throws(() => sampleExactly(items, -1, seededRandom(1)), RangeError);
});
