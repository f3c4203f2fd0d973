/**
 * Is a file a whole GGUF? The magic, a header that parses, and tensor data that ends inside the file. A download cut
 * short with a matching Content-Length passes every HTTP check and only fails here. Pure JS (no llama.cpp): a
 * malformed header is an error, never a crashed process.
 */
import { gguf } from "@huggingface/gguf";
import { open } from "node:fs/promises";

/** ggml type id -> [elements per block, bytes per block], as in ggml's type traits. */
const ggmlBlocks: Record<number, readonly [number, number]> = {
  0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34], 9: [32, 36],
  10: [256, 84], 11: [256, 110], 12: [256, 144], 13: [256, 176], 14: [256, 210], 15: [256, 292],
  16: [256, 66], 17: [256, 74], 18: [256, 98], 19: [256, 50], 20: [32, 18], 21: [256, 110], 22: [256, 82],
  23: [256, 136], 24: [1, 1], 25: [1, 2], 26: [1, 4], 27: [1, 8], 28: [1, 8], 29: [256, 56], 30: [1, 2],
  34: [256, 54], 35: [256, 66], 39: [32, 17],
};

export interface GgufSummary {
  architecture?: string;
  tensorCount: number;
  /** Where the last tensor's data ends, when every tensor type is known. */
  dataEnd?: number;
}

/** The first bytes of a file, as text for an error message ("<!DOCTYPE html>..."). */
export async function fileStart(file: string, bytes = 64): Promise<Buffer> {
  const handle = await open(file, "r");
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A short, printable description of what a file starts with, for "this is not a GGUF" messages. */
export function describeStart(start: Buffer): string {
  const text = start.toString("latin1").replace(/[^\x20-\x7e]/g, ".").trim();
  if (/^\s*<(!doctype|html|\?xml)/i.test(start.toString("latin1"))) return `a web page ("${text.slice(0, 40)}…")`;
  if (start.length === 0) return "nothing (an empty file)";
  return `"${text.slice(0, 24)}"`;
}

/** Reads a GGUF's header; throws with a plain reason when the file is not a whole GGUF of `size` bytes. */
export async function verifyGguf(file: string, size: number): Promise<GgufSummary> {
  const start = await fileStart(file, 8);
  if (start.subarray(0, 4).toString("latin1") !== "GGUF") throw new Error(`it is not a GGUF model file: it starts with ${describeStart(await fileStart(file))}`);
  let parsed;
  try {
    parsed = await gguf(file, { allowLocalFile: true });
  } catch (error) {
    throw new Error(`its GGUF header cannot be read (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  const offset = Number(parsed.tensorDataOffset);
  let dataEnd: number | undefined = offset;
  for (const t of parsed.tensorInfos) {
    const block = ggmlBlocks[t.dtype];
    if (!block) {
      dataEnd = undefined;
      break;
    }
    const elements = t.shape.reduce((a, b) => a * Number(b), 1);
    dataEnd = Math.max(dataEnd, offset + Number(t.offset) + Math.ceil(elements / block[0]) * block[1]);
  }
  if (dataEnd !== undefined && dataEnd > size) {
    throw new Error(`it is cut short: its header describes ${dataEnd.toLocaleString("en-US")} bytes of tensors, but the file has ${size.toLocaleString("en-US")}`);
  }
  const architecture = parsed.metadata["general.architecture"];
  return {
    ...(typeof architecture === "string" ? { architecture } : {}),
    tensorCount: parsed.tensorInfos.length,
    ...(dataEnd !== undefined ? { dataEnd } : {}),
  };
}
