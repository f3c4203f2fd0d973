import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mixCounts, mixExamples, paperCounts, parseRatio, splitSources, type Sampling } from "../../src/core/mixing.js";

describe("ratio and counts", () => {
  it("reads original:clarify ratios", () => {
    assert.deepEqual(parseRatio("20:80"), { original: 20, clarify: 80 });
    assert.deepEqual(parseRatio(" 1 : 4 "), { original: 1, clarify: 4 });
    assert.deepEqual(parseRatio("0:100"), { original: 0, clarify: 100 });
    assert.throws(() => parseRatio("20/80"), /original:clarify, such as 20:80/);
    assert.throws(() => parseRatio("0:0"), /no share on either side/);
    assert.throws(() => parseRatio("-1:2"), /original:clarify/);
  });

  it("downsampling keeps the scarce set whole and samples the other", () => {
    const r = parseRatio("20:80");
    assert.deepEqual(mixCounts({ original: 5, clarify: 30 }, r, "downsample"), { original: 5, clarify: 20 });
    assert.deepEqual(mixCounts({ original: 10, clarify: 30 }, r, "downsample"), { original: 8, clarify: 30 }); // 7.5 rounds up
    assert.deepEqual(mixCounts({ original: 3, clarify: 7 }, parseRatio("50:50"), "downsample"), { original: 3, clarify: 3 });
    assert.deepEqual(mixCounts({ original: 0, clarify: 9 }, r, "downsample"), { original: 0, clarify: 0 });
  });

  it("oversampling keeps the plentiful set whole and repeats the other", () => {
    const r = parseRatio("20:80");
    assert.deepEqual(mixCounts({ original: 10, clarify: 30 }, r, "oversample"), { original: 10, clarify: 40 });
    assert.deepEqual(mixCounts({ original: 5, clarify: 30 }, r, "oversample"), { original: 8, clarify: 30 });
    assert.deepEqual(mixCounts({ original: 3, clarify: 7 }, parseRatio("50:50"), "oversample"), { original: 7, clarify: 7 });
    // Nothing to repeat from: the other set stays whole.
    assert.deepEqual(mixCounts({ original: 0, clarify: 5 }, r, "oversample"), { original: 0, clarify: 5 });
  });

  it("the paper's split (their seperate_JSONL.py): int(min(O/a, C/b)) rows in total, never more of a side than it has", () => {
    const r = parseRatio("20:80");
    // The authors' own figures: 8,765 originals and 29,896 clarify rows at 20:80 give 7,474 + 29,896.
    assert.deepEqual(mixCounts({ original: 8765, clarify: 29896 }, r, "paper-oversample"), { original: 7474, clarify: 29896 });
    // Where ours repeats (80:20 oversample keeps all 29,896 clarify rows and repeats originals to 119,584), theirs cuts.
    assert.deepEqual(mixCounts({ original: 8765, clarify: 29896 }, parseRatio("80:20"), "oversample"), { original: 119584, clarify: 29896 });
    assert.deepEqual(mixCounts({ original: 8765, clarify: 29896 }, parseRatio("80:20"), "paper-oversample"), { original: 8764, clarify: 2191 }); // N = int(10956.25); int(0.8 N) = 8764
    assert.deepEqual(
      paperCounts({ original: 10, clarify: 30 }, r),
      { original: 7, clarify: 29 },
      "int() throughout: N = int(37.5) = 37, int(7.4) and int(29.6)",
    );
    assert.deepEqual(paperCounts({ original: 4, clarify: 9 }, parseRatio("0:100")), { original: 0, clarify: 9 });
    assert.deepEqual(paperCounts({ original: 0, clarify: 9 }, r), { original: 0, clarify: 0 });
    for (const [o, c] of [
      [1, 1],
      [3, 50],
      [97, 13],
      [8765, 29896],
    ] as const) {
      for (const ratio of ["20:80", "40:60", "60:40", "80:20"]) {
        const n = paperCounts({ original: o, clarify: c }, parseRatio(ratio));
        assert.ok(n.original <= o && n.clarify <= c, `${ratio} of ${o}+${c} asks for no repeats`);
      }
    }
  });

  it("a zero share takes none of that set", () => {
    assert.deepEqual(mixCounts({ original: 4, clarify: 9 }, parseRatio("0:100"), "oversample"), { original: 0, clarify: 9 });
    assert.deepEqual(mixCounts({ original: 4, clarify: 9 }, parseRatio("100:0"), "downsample"), { original: 4, clarify: 0 });
  });
});

it("splits sources by the seed: round(n * share) to validation, the same every time", () => {
  const sources = Array.from({ length: 10 }, (_, i) => `s${i}`);
  const a = splitSources([...sources, "s3", "s3"], 0.25, 7);
  assert.equal(a.validation.size, 3); // round(2.5)
  assert.equal(a.train.size, 7);
  assert.deepEqual([...a.validation].sort(), [...splitSources(sources.reverse(), 0.25, 7).validation].sort());
  assert.notDeepEqual([...a.validation].sort(), [...splitSources(sources, 0.25, 8).validation].sort());
  assert.equal(splitSources(sources, 0, 1).validation.size, 0);
  assert.throws(() => splitSources(sources, 1, 1), RangeError);
});

describe("the mix", () => {
  // 10 tasks: 9 with a solution (s9 has none); 3 clarify examples each, but s0 has only 1 and s1 none: 25 in all.
  type E = { id: string; source: string };
  const original: E[] = Array.from({ length: 9 }, (_, i) => ({ id: `s${i}:original`, source: `s${i}` }));
  const clarify: E[] = Array.from({ length: 10 }, (_, i) => i)
    .flatMap((i) => ["a", "b", "c"].map((k) => ({ id: `s${i}:${k}`, source: `s${i}` })))
    .filter((e) => !e.id.startsWith("s1:") && !["s0:b", "s0:c"].includes(e.id));
  const mix = (sampling: Sampling, seed = 3) =>
    mixExamples({ original, clarify, sourceOf: (e) => e.source, ratio: parseRatio("20:80"), sampling, validationShare: 0.2, seed });

  it("splits by task and mixes each side at the ratio exactly (both sampling modes)", () => {
    for (const sampling of ["downsample", "oversample"] as const) {
      const { train, validation } = mix(sampling);
      assert.equal(train.sources, 8);
      assert.equal(validation.sources, 2);
      const trainSources = new Set(train.examples.map((e) => e.source));
      assert.ok(
        validation.examples.every((e) => !trainSources.has(e.source)),
        "no task on both sides",
      );
      for (const side of [train, validation]) {
        assert.deepEqual(
          { original: side.original, clarify: side.clarify },
          {
            original: side.examples.filter((e) => e.id.endsWith(":original")).length,
            clarify: side.examples.filter((e) => !e.id.endsWith(":original")).length,
          },
        );
        // 20:80 to the rounding of one example: originals are a quarter of the clarify examples.
        assert.ok(Math.abs(side.original - side.clarify / 4) <= 0.5, `${sampling}: ${side.original}:${side.clarify}`);
      }
      assert.equal(train.available.original + validation.available.original, 9);
      assert.equal(train.available.clarify + validation.available.clarify, 25);
    }
  });

  it("gives exact sizes for this seed, repeats only when oversampling, and the same mix for the same seed", () => {
    const down = mix("downsample");
    const over = mix("oversample");
    // Seed 3 puts s0 (1 original, 1 clarify) and s7 (1 + 3) in validation; train has the other 7 + 21.
    assert.deepEqual(
      [down.validation.available, down.train.available],
      [
        { original: 2, clarify: 4 },
        { original: 7, clarify: 21 },
      ],
    );
    // Downsampling: clarify is the scarce share on both sides; originals are cut to a quarter of it (21 / 4 = 5.25).
    assert.deepEqual([down.train.original, down.train.clarify, down.validation.original, down.validation.clarify], [5, 21, 1, 4]);
    // Oversampling: originals are kept whole; clarify is repeated up to four times their number.
    assert.deepEqual([over.train.original, over.train.clarify, over.validation.original, over.validation.clarify], [7, 28, 2, 8]);
    assert.equal(new Set(down.train.examples.map((e) => e.id)).size, down.train.examples.length, "downsampling never repeats");
    assert.equal(new Set(over.train.examples.map((e) => e.id)).size, 28, "oversampling repeats clarify examples (7 + 21 distinct of 35)");
    const paper = mix("paper-oversample");
    // 7 + 21 at 20:80: N = int(min(7 / 0.2, 21 / 0.8)) = 26, so int(5.2) = 5 originals and int(20.8) = 20 clarify.
    assert.deepEqual([paper.train.original, paper.train.clarify, paper.validation.original, paper.validation.clarify], [5, 20, 1, 4]);
    assert.equal(new Set(paper.train.examples.map((e) => e.id)).size, paper.train.examples.length, "the paper's oversample never repeats");
    assert.deepEqual(mix("oversample").train.examples, over.train.examples);
    assert.notDeepEqual(mix("oversample", 4).train.examples, over.train.examples);
  });
});
