/**
 * Is a file a whole GGUF? The magic, a header that parses, and tensor data that ends inside the file. A download cut
 * short with a matching Content-Length passes every HTTP check and only fails here. Pure JS (no llama.cpp): a
 * malformed header is an error, never a crashed process.
 */
import { open } from "node:fs/promises";
import { GGUF_MAGIC } from "./format.js";
import { metaValue, readGgufHeader, type GgufHeader } from "./reader.js";

interface GgufSummary {
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
  const text = start
    .toString("latin1")
    .replace(/[^\x20-\x7e]/g, ".")
    .trim();
  if (/^\s*<(!doctype|html|\?xml)/i.test(start.toString("latin1"))) return `a web page ("${text.slice(0, 40)}…")`;
  if (start.length === 0) return "nothing (an empty file)";
  return `"${text.slice(0, 24)}"`;
}

/** Reads a GGUF's header; throws with a plain reason when the file is not a whole GGUF of `size` bytes. */
export async function verifyGguf(file: string, size: number): Promise<GgufSummary> {
  const start = await fileStart(file, 8);
  if (start.subarray(0, 4).toString("latin1") !== GGUF_MAGIC)
    throw new Error(`it is not a GGUF model file: it starts with ${describeStart(await fileStart(file))}`);
  let header: GgufHeader;
  try {
    header = await readGgufHeader(file, { lenient: true });
  } catch (error) {
    throw new Error(`its GGUF header cannot be read (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  const { dataEnd } = header;
  if (dataEnd !== undefined && dataEnd > size) {
    throw new Error(
      `it is cut short: its header describes ${dataEnd.toLocaleString("en-US")} bytes of tensors, but the file has ${size.toLocaleString("en-US")}`,
    );
  }
  const architecture = metaValue(header, "general.architecture");
  return {
    ...(typeof architecture === "string" ? { architecture } : {}),
    tensorCount: header.tensorCount,
    ...(dataEnd !== undefined ? { dataEnd } : {}),
  };
}
