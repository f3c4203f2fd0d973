/**
 * Reads a safetensors file: an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
 * byte range, then the raw data. Every field is checked, so a malformed file is refused with the reason, never
 * half-read. (No npm package reads safetensors in Node without a native or WASM runtime; the format is this small.)
 */
import { readFile } from "node:fs/promises";

type SafetensorsDtype = "F32" | "F16" | "BF16";

export const dtypeBytes: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };

export interface SafeTensor {
  name: string;
  dtype: SafetensorsDtype;
  /** Torch order: `[rows, columns]` for a matrix. */
  shape: number[];
  bytes: Buffer;
}

class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

const maxHeader = 100 * 1024 * 1024;

function parseSafetensors(data: Buffer, label = "the file"): { tensors: Map<string, SafeTensor>; metadata: Record<string, string> } {
  const fail = (why: string): never => {
    throw new SafetensorsError(`${label} is not a valid safetensors file: ${why}.`);
  };
  if (data.length < 8) fail(`it has ${data.length} bytes, fewer than the 8-byte header length`);
  const headerLength = Number(data.readBigUInt64LE(0));
  if (headerLength < 2 || headerLength > maxHeader || 8 + headerLength > data.length)
    fail(`its header length ${headerLength} does not fit the file (${data.length} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(data.subarray(8, 8 + headerLength).toString("utf8"));
  } catch {
    fail("its header is not JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) return fail("its header is not a JSON object");
  const body = data.subarray(8 + headerLength);
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof value === "object" && value !== null)
        metadata = Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string"));
      continue;
    }
    if (typeof value !== "object" || value === null) fail(`tensor ${name} has no description`);
    const { dtype, shape, data_offsets: offsets } = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (dtype !== "F32" && dtype !== "F16" && dtype !== "BF16") {
      throw new SafetensorsError(`${label}: tensor ${name} is ${String(dtype)}; only F32, F16 and BF16 adapters can be converted.`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor ${name} has an invalid shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail(`tensor ${name} has invalid data_offsets`);
    const dims = shape as number[];
    const [begin, end] = offsets as [number, number];
    const needed = dims.reduce((a, b) => a * b, 1) * dtypeBytes[dtype];
    if (end < begin || end > body.length) fail(`tensor ${name}'s data (${begin}-${end}) lies outside the file's ${body.length} data bytes (truncated?)`);
    if (end - begin !== needed) fail(`tensor ${name} has ${end - begin} bytes, but shape [${dims.join(", ")}] of ${dtype} needs ${needed}`);
    ranges.push([begin, end, name]);
    tensors.set(name, { name, dtype, shape: dims, bytes: body.subarray(begin, end) });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    const previous = ranges[i - 1];
    const current = ranges[i];
    if (previous && current && current[0] < previous[1]) fail(`tensors ${previous[2]} and ${current[2]} overlap`);
  }
  return { tensors, metadata };
}

export async function readSafetensors(file: string): Promise<{ tensors: Map<string, SafeTensor>; metadata: Record<string, string> }> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (error) {
    throw new SafetensorsError(`Cannot read ${file}: ${error instanceof Error ? error.message : String(error)}.`);
  }
  return parseSafetensors(data, file);
}

/** The index of the first non-finite value (NaN or ±Inf), or -1. */
export function firstNonFinite(t: SafeTensor): number {
  const b = t.bytes;
  const count = b.length / dtypeBytes[t.dtype];
  for (let i = 0; i < count; i++) {
    if (t.dtype === "F32") {
      if (!Number.isFinite(b.readFloatLE(i * 4))) return i;
    } else {
      const bits = b.readUInt16LE(i * 2);
      if (t.dtype === "F16" ? (bits & 0x7c00) === 0x7c00 : (bits & 0x7f80) === 0x7f80) return i;
    }
  }
  return -1;
}
