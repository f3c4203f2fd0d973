/** The GGUF reader and the model checks, on generated files: every corrupt class gets its own plain reason. */
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { before, describe, it } from "node:test";
import { checkAdapter, checkModel, findNonFiniteWeights } from "../../src/llm/gguf/check.js";
import { GgufFormatError, metaValue, readGgufHeader } from "../../src/llm/gguf/reader.js";
import { encodeGguf } from "../../src/llm/gguf/writer.js";
import { buildTinyModel, TINY_MODEL_CONFIG, writeCorruptModels, writeFuzzedModels, writeTinyModel, type CorruptModels } from "../fixtures/tiny-model.js";

let dir: string;
let tiny: string;
let corrupt: CorruptModels;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "clarifycoder-gguf-"));
  tiny = path.join(dir, "tiny.gguf");
  await writeTinyModel(tiny);
  corrupt = await writeCorruptModels(dir);
});

/** What a file gets from the reader and the checks: "ok", or the first reason. */
async function verdict(file: string): Promise<string> {
  try {
    const header = await readGgufHeader(file);
    const problem = checkModel(header);
    if (problem) return problem;
    const { found } = await findNonFiniteWeights(file, header);
    return found ? `${found.tensor}[${found.index}] = ${found.value}` : "ok";
  } catch (error) {
    assert.ok(error instanceof GgufFormatError, `only format errors come out of the reader, got ${String(error)}`);
    return error.message;
  }
}

describe("readGgufHeader", () => {
  it("reads the tiny model's metadata, tensors and data offset as the writer wrote them", async () => {
    const header = await readGgufHeader(tiny);
    const built = buildTinyModel();
    assert.equal(header.version, 3);
    assert.equal(header.metadata.size, built.metadata.length);
    assert.equal(metaValue(header, "general.architecture"), "llama");
    assert.equal(metaValue(header, "llama.block_count"), TINY_MODEL_CONFIG.blockCount);
    assert.equal(header.metadata.get("llama.attention.layer_norm_rms_epsilon")?.type, "float32");
    const tokens = metaValue(header, "tokenizer.ggml.tokens");
    assert.ok(Array.isArray(tokens) && tokens.length === 263 && tokens[65] === "A");
    assert.deepEqual(
      header.tensors.map((t) => t.name),
      built.tensors.map((t) => t.name),
    );
    const embd = header.tensors.find((t) => t.name === "token_embd.weight");
    assert.deepEqual(embd?.shape, [64, 263]);
    assert.equal(embd?.typeName, "F32");
    assert.equal(embd?.byteSize, 64 * 263 * 4);
    assert.equal(header.dataOffset % 32, 0);
    const last = header.tensors.at(-1);
    assert.ok(last && header.dataOffset + last.offset + last.byteSize <= header.fileSize);
    assert.equal(checkModel(header), undefined);
    assert.deepEqual(await findNonFiniteWeights(tiny, header), { scannedBytes: header.tensors.reduce((a, t) => a + t.byteSize, 0), skipped: 0 });
  });

  it("gives each corrupt class its own reason", async () => {
    const expected: Record<keyof CorruptModels, RegExp> = {
      empty: /^it is empty$/,
      wrongMagic: /it is not a GGUF file: a GGUF file starts with the bytes 0x47 0x47 0x55 0x46 \("GGUF"\), this one with 0x47 0x47 0x55 0x58/,
      truncated: /tensor [\w.]+ (ends at byte|starts at offset) \d+, past the end of the file.*: the file is truncated/,
      missingHeadCount: /missing llama\.attention\.head_count\./,
      headCountZero: /llama\.attention\.head_count is 0; a transformer needs at least 1/,
      headCountKvZero: /llama\.attention\.head_count_kv is 0/,
      blockCountZero: /llama\.block_count is 0; llama\.cpp runs models of 1 to 512 layers/,
      feedForwardZero: /llama\.feed_forward_length is 0/,
      blockCountMillion: /llama\.block_count is 1000000; llama\.cpp runs models of 1 to 512 layers/,
      duplicateTokens: /the token "A" appears twice in tokenizer\.ggml\.tokens \(ids 65 and 200\)/,
      negativeEpsilon: /layer_norm_rms_epsilon is -0.00001; it must be a small number that is not negative/,
      tokenCountHuge: /tokenizer\.ggml\.tokens claims 2305843009213693952 entries, but the \d+ KB left in the file can hold at most \d+/,
      nanWeight: /^blk\.0\.attn_norm\.weight\[7\] = NaN$/,
      infWeight: /^output_norm\.weight\[3\] = Infinity$/,
      // Finite weights: only evaluation shows that they overflow (the model tier checks that).
      overflowingWeights: /^ok$/,
      overflowingEmbedding: /^ok$/,
      overflowingOutput: /^ok$/,
    };
    for (const [name, pattern] of Object.entries(expected) as [keyof CorruptModels, RegExp][]) {
      assert.match(await verdict(corrupt[name]), pattern, name);
    }
  });

  it("bounds every count by the file's size before allocating anything", async () => {
    const valid = encodeGguf(buildTinyModel());
    const cases: [string, (b: Buffer) => void, RegExp][] = [
      ["tensor count", (b) => b.writeBigUInt64LE(2n ** 62n, 8), /the tensor table claims 4611686018427387904 entries/],
      ["metadata count", (b) => b.writeBigUInt64LE(2n ** 40n, 16), /the metadata claims 1099511627776 entries/],
      ["first key length", (b) => b.writeBigUInt64LE(2n ** 50n, 24), /metadata key 0 claims to be 1125899906842624 bytes long/],
      ["a value type", (b) => b.writeUInt32LE(77, 24 + 8 + "general.architecture".length), /general\.architecture has an unknown value type \(77\)/],
      ["the version", (b) => b.writeUInt32LE(9, 4), /GGUF version 9/],
    ];
    for (const [what, damage, pattern] of cases) {
      const bytes = Buffer.from(valid);
      damage(bytes);
      const file = path.join(dir, `bound-${what.replace(/\W/g, "-")}.gguf`);
      await writeFile(file, bytes);
      await assert.rejects(readGgufHeader(file), (e: unknown) => e instanceof GgufFormatError && pattern.test(e.message), what);
    }
  });

  it("never throws anything but a format error on 150 damaged headers, and never reads past the file", async () => {
    const files = await writeFuzzedModels(path.join(dir, "fuzz"), 150);
    const outcomes = { refused: 0, accepted: 0 };
    for (const file of files) {
      const v = await verdict(file);
      assert.doesNotMatch(v, /out of range|undefined|NaN entries|RangeError|ERR_/, path.basename(file));
      if (v === "ok") outcomes.accepted += 1;
      else outcomes.refused += 1;
    }
    assert.ok(outcomes.refused > 100, `most damaged headers are refused: ${JSON.stringify(outcomes)}`);
  });
});

describe("checkModel and checkAdapter", () => {
  const header = (entries: [string, "uint32" | "string" | "float32", number | string][]) => ({
    metadata: new Map(entries.map(([key, type, value]) => [key, { type, value }] as const)),
  });
  const llama = (extra: [string, "uint32" | "string" | "float32", number | string][] = []) =>
    header([
      ["general.architecture", "string", "llama"],
      ["llama.context_length", "uint32", 4096],
      ["llama.block_count", "uint32", 2],
      ["llama.embedding_length", "uint32", 64],
      ["llama.feed_forward_length", "uint32", 128],
      ["llama.attention.head_count", "uint32", 4],
      ...extra,
    ]);

  it("checks consistency between values, not only their presence", () => {
    assert.equal(checkModel(llama()), undefined);
    assert.match(
      checkModel(llama([["llama.attention.head_count_kv", "uint32", 3]])) ?? "",
      /head_count \(4\) is not a multiple of llama\.attention\.head_count_kv \(3\)/,
    );
    assert.match(
      checkModel(llama([["llama.rope.scaling.type", "string", "cubic"]])) ?? "",
      /rope\.scaling\.type is the text "cubic"; llama\.cpp knows none, linear, yarn, longrope/,
    );
    assert.match(
      checkModel(
        llama([
          ["llama.expert_count", "uint32", 8],
          ["llama.expert_used_count", "uint32", 9],
        ]),
      ) ?? "",
      /expert_used_count \(9\) is more than llama\.expert_count \(8\)/,
    );
    assert.match(checkModel(llama([["llama.nextn_predict_layers", "uint32", 3]])) ?? "", /nextn_predict_layers \(3\) is more than llama\.block_count \(2\)/);
    assert.match(checkModel(llama([["llama.context_length", "string", "big"]])) ?? "", /context_length should be a whole number but is the text "big"/);
  });

  it("accepts a LoRA adapter made for the model, and says what is wrong with one that is not", () => {
    const adapter = (entries: [string, "uint32" | "string" | "float32", number | string][]) => header(entries);
    const good = adapter([
      ["general.type", "string", "adapter"],
      ["adapter.type", "string", "lora"],
      ["general.architecture", "string", "llama"],
      ["adapter.lora.alpha", "float32", 16],
    ]);
    assert.equal(checkAdapter(good, "llama"), undefined);
    assert.match(checkAdapter(good, "qwen2") ?? "", /made for a llama model, and the model is qwen2/);
    assert.match(
      checkAdapter(
        adapter([
          ["general.type", "string", "adapter"],
          ["adapter.type", "string", "lora"],
          ["general.architecture", "string", "llama"],
          ["adapter.lora.alpha", "uint32", 16],
        ]),
        "llama",
      ) ?? "",
      /alpha must be a finite float32 \(it is uint32 16\)/,
    );
    assert.match(checkAdapter(llama(), "llama") ?? "", /not a LoRA adapter/);
  });
});
