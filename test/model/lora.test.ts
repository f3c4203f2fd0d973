/**
 * PEFT -> GGUF LoRA conversion against a reference: the tiny model's weights stand for a Hugging Face checkpoint, a
 * seeded PEFT adapter is written for it, converted, and the base with the converted adapter must give the same
 * next-token probabilities as a GGUF whose weights are the merge W + scale*alpha/r*B*A (q/k rows of B in rotary
 * order); they differ from the bare model, and equal it at scale 0. Then every refusal, before llama.cpp sees a file.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Llama, LlamaModel } from "node-llama-cpp" with { "resolution-mode": "import" };
import { readGgufHeader } from "../../src/llm/gguf/reader.js";
import { TINY_MODEL_CONFIG } from "../../src/llm/gguf/tiny-model.js";
import { writeGguf } from "../../src/llm/gguf/writer.js";
import { convertPeftAdapter, LoraConversionError, readBaseModelShape } from "../../src/llm/lora/convert.js";
import {
  adapterConfig,
  encodeSafetensors,
  makeTinyAdapter,
  mergeAdapter,
  rotaryRowSource,
  writePeftFolder,
  type PeftTensor,
} from "../fixtures/peft-adapter.js";
import { buildTinyModel } from "../fixtures/tiny-model.js";
import { tempDir } from "../helpers/worker.js";

let dir: string;
let basePath: string;
const adapter = makeTinyAdapter();
const prompt = "Write a function";
const vocabularySize = Number(buildTinyModel().metadata.find((m) => m.key === "llama.vocab_size")?.value);

before(async () => {
  dir = await tempDir("clarifycoder-lora-");
  basePath = path.join(dir, "tiny.gguf");
  await writeGguf(basePath, buildTinyModel());
});

describe("PEFT adapter -> GGUF LoRA, against a merged reference", () => {
  let nlc: typeof import("node-llama-cpp", { with: { "resolution-mode": "import" } });
  let llama: Llama;
  const models: LlamaModel[] = [];
  let adapterPath: string;

  before(async () => {
    nlc = await import("node-llama-cpp");
    llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: nlc.LlamaLogLevel.error });
    const folder = path.join(dir, "peft");
    await writePeftFolder(folder, adapterConfig(adapter), adapter.tensors);
    adapterPath = path.join(dir, "adapter.gguf");
    const converted = await convertPeftAdapter(folder, await readBaseModelShape(basePath), adapterPath);
    assert.equal(converted.tensorPairs, adapter.pairs.size);
    assert.equal(converted.rank, 4);
    assert.equal(converted.architecture, "llama");
  });
  after(async () => {
    for (const m of models) await m.dispose();
    await llama?.dispose();
  });

  /** The next-token distribution after the prompt, as a dense array over the vocabulary. */
  async function nextToken(modelPath: string, lora?: { filePath: string; scale: number }): Promise<Float64Array> {
    const model = await llama.loadModel({ modelPath });
    models.push(model);
    const context = await model.createContext({
      contextSize: 256,
      threads: 1,
      ...(lora ? { lora: { adapters: [lora] } } : {}),
      failedCreationRemedy: false,
    });
    try {
      const tokens = model.tokenize(prompt);
      const iterator = context.getSequence().evaluateWithMetadata(tokens, { probabilities: true }, { temperature: 0 });
      const first = await iterator.next();
      await iterator.return(undefined);
      const dense = new Float64Array(vocabularySize);
      if (!first.done) for (const [token, p] of first.value.probabilities) dense[token] = p;
      return dense;
    } finally {
      await context.dispose();
    }
  }

  const maxDiff = (a: Float64Array, b: Float64Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

  it("base + adapter equals the merged weights, differs from the bare model, and equals it at scale 0", async () => {
    const scale = 0.7;
    const mergedPath = path.join(dir, "merged.gguf");
    await writeGguf(mergedPath, mergeAdapter(buildTinyModel(), adapter, scale));
    const unpermutedPath = path.join(dir, "merged-unpermuted.gguf");
    await writeGguf(unpermutedPath, mergeAdapter(buildTinyModel(), adapter, scale, { permute: false }));

    const bare = await nextToken(basePath);
    const withAdapter = await nextToken(basePath, { filePath: adapterPath, scale });
    const merged = await nextToken(mergedPath);
    const unpermuted = await nextToken(unpermutedPath);
    const atZero = await nextToken(basePath, { filePath: adapterPath, scale: 0 });

    assert.ok(Math.abs(bare.reduce((a, b) => a + b, 0) - 1) < 1e-3, "a whole distribution");
    const vsMerged = maxDiff(withAdapter, merged);
    const vsBare = maxDiff(withAdapter, bare);
    const vsUnpermuted = maxDiff(merged, unpermuted);

    assert.ok(vsMerged < 1e-4, `base + adapter vs merged: max difference ${vsMerged}`);
    assert.ok(vsBare > 0.01, `the adapter changes the model: max difference ${vsBare}`);
    assert.ok(vsUnpermuted > 0.001, `the rotary reordering matters here (max difference ${vsUnpermuted}), so the match above checks it`);
    assert.ok(maxDiff(atZero, bare) < 1e-6, "scale 0 is the bare model");
  });

  it("rsLoRA's alpha/sqrt(r) scaling is carried into the adapter's alpha", async () => {
    const folder = path.join(dir, "peft-rslora");
    await writePeftFolder(folder, adapterConfig(adapter, { use_rslora: true }), adapter.tensors);
    const out = path.join(dir, "rslora.gguf");
    const converted = await convertPeftAdapter(folder, await readBaseModelShape(basePath), out);
    assert.ok(Math.abs(converted.alpha - adapter.alpha * Math.sqrt(adapter.r)) < 1e-9);
    const mergedPath = path.join(dir, "merged-rslora.gguf");
    // alpha / sqrt(r) = (alpha * sqrt(r)) / r
    await writeGguf(mergedPath, mergeAdapter(buildTinyModel(), { ...adapter, alpha: adapter.alpha * Math.sqrt(adapter.r) }, 1));
    assert.ok(maxDiff(await nextToken(basePath, { filePath: out, scale: 1 }), await nextToken(mergedPath)) < 1e-4);
  });
});

/** The tiny model's header under another architecture's name (what the converter reads of a base). */
async function writeBaseAs(architecture: string, file: string, keep: (tensorName: string) => boolean = () => true): Promise<string> {
  const tiny = buildTinyModel();
  await writeGguf(file, {
    metadata: tiny.metadata.map((m) =>
      m.key === "general.architecture"
        ? { ...m, value: architecture }
        : m.key.startsWith("llama.")
          ? { ...m, key: m.key.replace("llama.", `${architecture}.`) }
          : m,
    ) as typeof tiny.metadata,
    tensors: tiny.tensors.filter((t) => keep(t.name)),
  });
  return file;
}

describe("lora_B's q/k rows follow the base's rotary layout", () => {
  /** A converted adapter's tensor, as floats. */
  async function tensorOf(file: string, name: string): Promise<Float32Array> {
    const header = await readGgufHeader(file);
    const t = header.tensors.find((x) => x.name === name);
    assert.ok(t, `${name} is in the adapter`);
    const start = header.dataOffset + t.offset;
    return new Float32Array(new Uint8Array((await readFile(file)).subarray(start, start + t.byteSize)).buffer);
  }

  it("llama: q and k reordered as llama.cpp's converter orders them; qwen2 and qwen3 (rotate-half, NEOX in llama.cpp): as PEFT saved them", async () => {
    const folder = path.join(dir, "peft-order");
    await writePeftFolder(folder, adapterConfig(adapter), adapter.tensors);
    for (const architecture of ["llama", "qwen2", "qwen3"]) {
      const base = architecture === "llama" ? basePath : await writeBaseAs(architecture, path.join(dir, `${architecture}.gguf`));
      const out = path.join(dir, `order-${architecture}.gguf`);
      assert.equal((await convertPeftAdapter(folder, await readBaseModelShape(base), out)).architecture, architecture);
      for (const [target, heads] of [
        ["blk.0.attn_q.weight", TINY_MODEL_CONFIG.headCount],
        ["blk.1.attn_k.weight", TINY_MODEL_CONFIG.headCountKv],
        ["blk.0.attn_v.weight", 0],
      ] as const) {
        const { b, outDim } = adapter.pairs.get(target)!;
        const r = adapter.r;
        const reordered = architecture === "llama" && heads > 0;
        const expected = new Float32Array(b.length);
        for (let row = 0; row < outDim; row++) {
          const from = reordered ? rotaryRowSource(row, outDim, heads) : row;
          expected.set(b.subarray(from * r, (from + 1) * r), row * r);
        }
        const got = await tensorOf(out, `${target}.lora_b`);
        assert.deepEqual(got, expected, `${architecture} ${target}: lora_b rows ${reordered ? "in llama.cpp's rotary order" : "as saved"}`);
        if (reordered) assert.notDeepEqual(got, b, "the reordering moves rows, so the check above sees it");
        assert.deepEqual(await tensorOf(out, `${target}.lora_a`), adapter.pairs.get(target)!.a, "lora_a is copied as it is");
      }
    }
  });
});

describe("conversion refusals, before llama.cpp sees a file", () => {
  let n = 0;
  async function refuses(setup: (folder: string) => Promise<void>, message: RegExp, base = basePath): Promise<void> {
    n += 1;
    const folder = path.join(dir, `bad-${n}`);
    await setup(folder);
    const out = path.join(dir, `bad-${n}.gguf`);
    await assert.rejects((async () => convertPeftAdapter(folder, await readBaseModelShape(base), out))(), (e: unknown) => {
      assert.ok(e instanceof LoraConversionError, String(e));
      assert.match(e.message, message);
      return true;
    });
    assert.equal(existsSync(out), false, "nothing is written");
  }
  const withTensors =
    (edit: (t: PeftTensor[]) => PeftTensor[], config: Record<string, unknown> = {}) =>
    (folder: string) =>
      writePeftFolder(folder, adapterConfig(adapter, config), edit(adapter.tensors.map((t) => ({ ...t, values: Float32Array.from(t.values) }))));
  const replace = (name: RegExp, change: (t: PeftTensor) => PeftTensor) => (ts: PeftTensor[]) => ts.map((t) => (name.test(t.name) ? change(t) : t));

  it("malformed safetensors: a header length past the end, a header that is not JSON, data cut short", async () => {
    const good = encodeSafetensors(adapter.tensors);
    const cases: [Buffer, RegExp][] = [
      [Buffer.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1, 2]), /header length \d+ does not fit/],
      [Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{nope")]), /header is not JSON/],
      [good.subarray(0, good.length - 100), /lies outside the file's \d+ data bytes \(truncated\?\)/],
    ];
    for (const [bytes, message] of cases) {
      await refuses(async (folder) => {
        await writePeftFolder(folder, adapterConfig(adapter), []);
        await writeFile(path.join(folder, "adapter_model.safetensors"), bytes);
      }, message);
    }
  });

  it("rank mismatch between A and B, and against the config's r", async () => {
    await refuses(
      withTensors(replace(/layers\.0\.self_attn\.v_proj\.lora_B/, (t) => ({ ...t, shape: [64, 3], values: t.values.slice(0, 64 * 3) }))),
      /rank mismatch for blk\.0\.attn_v\.weight: lora_A has rank 4, lora_B 3/,
    );
    await refuses(
      withTensors((t) => t, { r: 8 }),
      /has rank 4, but adapter_config\.json says r = 8/,
    );
  });

  it("a shape that does not fit the base (an adapter for another model)", async () => {
    await refuses(
      withTensors(replace(/layers\.1\.self_attn\.o_proj\.lora_A/, (t) => ({ ...t, shape: [4, 32], values: t.values.slice(0, 4 * 32) }))),
      /Shape mismatch for blk\.1\.attn_output\.weight: the adapter maps 32 -> 64, the base model's weight 64 -> 64/,
    );
    await refuses(
      withTensors((ts) => [
        ...ts,
        ...ts.filter((t) => t.name.includes("layers.1.self_attn.q_proj")).map((t) => ({ ...t, name: t.name.replace("layers.1", "layers.7") })),
      ]),
      /no blk\.7\.attn_q\.weight \(it has 2 blocks\): this adapter was made for another model/,
    );
  });

  it("NaN and infinite values (F32 and F16)", async () => {
    await refuses(
      withTensors(replace(/layers\.0\.mlp\.down_proj\.lora_B/, (t) => ({ ...t, values: Float32Array.from(t.values, (v, i) => (i === 17 ? NaN : v)) }))),
      /down_proj\.lora_B\.weight has a non-finite value .* at element 17/,
    );
    await refuses(
      withTensors(
        replace(/layers\.1\.self_attn\.k_proj\.lora_A/, (t) => ({
          ...t,
          dtype: "F16",
          values: Float32Array.from(t.values, (v, i) => (i === 3 ? Infinity : v)),
        })),
      ),
      /k_proj\.lora_A\.weight has a non-finite value .* at element 3/,
    );
  });

  it("unsupported PEFT features: DoRA, fan_in_fan_out, per-module ranks, saved modules, trained biases, another method", async () => {
    await refuses(
      withTensors((t) => t, { use_dora: true }),
      /uses DoRA/,
    );
    await refuses(
      withTensors((ts) => [
        ...ts,
        { name: "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", shape: [1, 64], values: new Float32Array(64) },
      ]),
      /DoRA magnitude vector/,
    );
    await refuses(
      withTensors((t) => t, { fan_in_fan_out: true }),
      /transposed \(fan_in_fan_out\)/,
    );
    await refuses(
      withTensors((t) => t, { rank_pattern: { q_proj: 8 } }),
      /per-module ranks or alphas/,
    );
    await refuses(
      withTensors((t) => t, { modules_to_save: ["lm_head"] }),
      /saves whole modules/,
    );
    await refuses(
      withTensors((t) => t, { bias: "lora_only" }),
      /trains biases/,
    );
    await refuses(
      withTensors((t) => t, { peft_type: "IA3" }),
      /the adapter is IA3; only LoRA/,
    );
  });

  it("modules the base lacks or llama.cpp cannot adapt", async () => {
    await refuses(
      withTensors((t) => t, { target_modules: ["q_proj", "embed_tokens", "wqkv"] }),
      /targets modules the base model lacks .*: embed_tokens, wqkv/,
    );
    await refuses(
      withTensors((ts) => [...ts, { name: "base_model.model.model.embed_tokens.lora_embedding_A", shape: [4, 263], values: new Float32Array(4 * 263) }]),
      /an embedding adapter/,
    );
  });

  it("an lm_head adapter for a base whose output is tied to its token embeddings (no output.weight)", async () => {
    const tied = await writeBaseAs("qwen2", path.join(dir, "qwen2-tied.gguf"), (name) => name !== "output.weight");
    const vocabulary = vocabularySize;
    const lmHead: PeftTensor[] = [
      {
        name: "base_model.model.lm_head.lora_A.weight",
        shape: [adapter.r, TINY_MODEL_CONFIG.embeddingLength],
        values: new Float32Array(adapter.r * TINY_MODEL_CONFIG.embeddingLength).fill(0.01),
      },
      { name: "base_model.model.lm_head.lora_B.weight", shape: [vocabulary, adapter.r], values: new Float32Array(vocabulary * adapter.r).fill(0.01) },
    ];
    await refuses(
      withTensors((ts) => [...ts, ...lmHead], { target_modules: ["q_proj", "lm_head"] }),
      /output is tied to its token embeddings .*no output\.weight.*Train without lm_head/,
      tied,
    );
  });

  it("a base model of another architecture, an adapter as the base, and a folder that is not an adapter", async () => {
    const otherBase = await writeBaseAs("phi3", path.join(dir, "phi3.gguf"));
    await refuses(
      withTensors((t) => t),
      /architecture is phi3; adapters can be converted for llama, qwen2, qwen3 models/,
      otherBase,
    );
    await refuses(async (folder) => {
      await writePeftFolder(folder, adapterConfig(adapter), adapter.tensors);
      await writeFile(path.join(folder, "adapter_config.json"), "[1, 2]");
    }, /adapter_config\.json is not a JSON object/);
    await refuses(async () => undefined, /is not a PEFT adapter folder: adapter_config\.json is missing/);
  });
});
