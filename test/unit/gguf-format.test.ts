/**
 * format.ts's ggml type table against the writer, the reader and the download verification: for every type it lists,
 * a tensor of two blocks is written, read back with the block bytes the table gives, and measured by verify; the ids
 * and names agree with node-llama-cpp's own list of ggml types.
 */
import assert from "node:assert/strict";
import { mkdtemp, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { before, describe, it } from "node:test";
import { GGML_TYPE, GGML_TYPE_TRAITS, GGUF_DEFAULT_ALIGNMENT } from "../../src/llm/gguf/format.js";
import { GgufFormatError, readGgufHeader } from "../../src/llm/gguf/reader.js";
import { verifyGguf } from "../../src/llm/gguf/verify.js";
import { encodeGguf, type GgufTensorType } from "../../src/llm/gguf/writer.js";

let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "clarifycoder-gguf-format-"));
});

/**
 * A GGUF file holding one tensor "t" of ggml type `type`, shape [ne0, ne1], with `dataBytes` zero bytes of data, then a
 * second F32 tensor "after". The writer makes "t" as an F16 tensor of shape [dataBytes / 2, 1] (the same header
 * length), and its type and shape are then set in the header bytes.
 */
function fileWithTensor(type: number, ne0: number, ne1: number, dataBytes: number): Buffer {
  assert.equal(dataBytes % 2, 0);
  const bytes = encodeGguf({
    metadata: [{ key: "general.architecture", type: "string", value: "llama" }],
    tensors: [
      { name: "t", type: "F16", shape: [dataBytes / 2, 1], bytes: new Uint8Array(dataBytes) },
      { name: "after", type: "F32", shape: [3], data: [1, 2, 3] },
    ],
  });
  // The name "t" is written as its u64 length 1 and the byte "t"; then n_dims u32, ne[0] u64, ne[1] u64, type u32.
  const name = Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("t")]);
  const at = bytes.indexOf(name) + name.length;
  assert.equal(bytes.readUInt32LE(at), 2);
  bytes.writeBigUInt64LE(BigInt(ne0), at + 4);
  bytes.writeBigUInt64LE(BigInt(ne1), at + 12);
  bytes.writeUInt32LE(type, at + 20);
  return bytes;
}

describe("format.ts's ggml type table", () => {
  it("names each type as node-llama-cpp's list of ggml types does, types 40 to 42 included", async () => {
    const { GgmlType } = await import("node-llama-cpp");
    const ids = Object.keys(GGML_TYPE_TRAITS).map(Number);
    assert.ok(ids.includes(40) && ids.includes(41) && ids.includes(42), "the table has types 40-42");
    for (const id of ids) assert.equal(GGML_TYPE_TRAITS[id]?.name, GgmlType[id], `type ${id}`);
  });

  it("the writer writes F32, F16 and BF16 with the table's bytes per element, and the reader reads them back", async () => {
    for (const name of Object.keys(GGML_TYPE) as GgufTensorType[]) {
      const id = GGML_TYPE[name];
      const file = path.join(dir, `writer-${name}.gguf`);
      await writeFile(file, encodeGguf({ metadata: [], tensors: [{ name: "x", type: name, shape: [5, 3], data: Array.from({ length: 15 }, (_, i) => i) }] }));
      const header = await readGgufHeader(file);
      const [t] = header.tensors;
      assert.ok(t);
      assert.deepEqual(
        { type: t.type, typeName: t.typeName, byteSize: t.byteSize },
        { type: id, typeName: name, byteSize: 15 * (GGML_TYPE_TRAITS[id]?.blockBytes ?? NaN) },
      );
      // The file is the header, then the data padded to the alignment: the table's size is what was written.
      assert.equal(header.fileSize, header.dataOffset + Math.ceil(t.byteSize / GGUF_DEFAULT_ALIGNMENT) * GGUF_DEFAULT_ALIGNMENT);
    }
  });

  for (const [id, traits] of Object.entries(GGML_TYPE_TRAITS).map(([id, traits]) => [Number(id), traits] as const)) {
    it(`${traits.name} (${id}): two blocks read back as ${2 * traits.blockBytes} bytes, and verify finds the data end`, async () => {
      const dataBytes = 2 * traits.blockBytes;
      const bytes = fileWithTensor(id, traits.blockSize, 2, dataBytes);
      const file = path.join(dir, `type-${id}.gguf`);
      await writeFile(file, bytes);
      const header = await readGgufHeader(file);
      const [t, after] = header.tensors;
      assert.ok(t && after);
      assert.deepEqual(
        { type: t.type, typeName: t.typeName, shape: t.shape, byteSize: t.byteSize },
        { type: id, typeName: traits.name, shape: [traits.blockSize, 2], byteSize: dataBytes },
      );
      assert.equal(header.dataEnd, header.dataOffset + after.offset + 12);

      const size = (await stat(file)).size;
      const summary = await verifyGguf(file, size);
      assert.deepEqual(summary, { architecture: "llama", tensorCount: 2, dataEnd: header.dataEnd });
      // A file cut one byte before that end is refused.
      await assert.rejects(verifyGguf(file, (header.dataEnd ?? 0) - 1), /cut short: its header describes/);
    });
  }

  it("the first dimension must be a whole number of blocks", async () => {
    const q4k = 12;
    const file = path.join(dir, "partial-block.gguf");
    await writeFile(file, fileWithTensor(q4k, 128, 2, 144));
    await assert.rejects(readGgufHeader(file), (e: unknown) => e instanceof GgufFormatError && /not a multiple of the Q4_K block size \(256\)/.test(e.message));
  });
});

describe("the reader's lenient mode, for verifying downloads", () => {
  it("a type the table lacks: refused when strict, left out with an unknown data end when lenient", async () => {
    const file = path.join(dir, "unknown-type.gguf");
    await writeFile(file, fileWithTensor(99, 4, 2, 16));
    await assert.rejects(readGgufHeader(file), (e: unknown) => e instanceof GgufFormatError && /unknown or retired ggml type \(99\)/.test(e.message));
    const header = await readGgufHeader(file, { lenient: true });
    assert.deepEqual(
      { tensorCount: header.tensorCount, names: header.tensors.map((t) => t.name), dataEnd: header.dataEnd },
      { tensorCount: 2, names: ["after"], dataEnd: undefined },
    );
    assert.deepEqual(await verifyGguf(file, header.fileSize), { architecture: "llama", tensorCount: 2 });
  });

  it("tensor data cut short: refused when strict, measured when lenient", async () => {
    const whole = fileWithTensor(GGML_TYPE.F32, 64, 2, 512);
    const file = path.join(dir, "cut.gguf");
    await writeFile(file, whole.subarray(0, whole.length - 100));
    await assert.rejects(readGgufHeader(file), (e: unknown) => e instanceof GgufFormatError && /past the end of the file/.test(e.message));
    const header = await readGgufHeader(file, { lenient: true });
    const full = path.join(dir, "whole.gguf");
    await writeFile(full, whole);
    assert.equal(header.dataEnd, (await readGgufHeader(full)).dataEnd);
    assert.ok((header.dataEnd ?? 0) > header.fileSize);
    await assert.rejects(verifyGguf(file, header.fileSize), /cut short: its header describes [\d,]+ bytes of tensors, but the file has [\d,]+/);
  });
});
