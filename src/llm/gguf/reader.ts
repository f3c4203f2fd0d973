/**
 * Reads a GGUF file's header (metadata and tensor table) with every count and length bounded by the bytes the file
 * still holds, before anything is allocated for it. A corrupt header (a token array claiming 2^61 entries, a string
 * longer than the file, an unknown type) is a {@link GgufFormatError} in plain words, never a huge allocation or a
 * crash. No node-llama-cpp here: this runs before llama.cpp ever sees the file.
 */
import { open, type FileHandle } from "node:fs/promises";
import { GGML_TYPE_TRAITS, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_MAX_DIMS, GGUF_READABLE_VERSIONS, GGUF_VALUE_TYPE, type GgufScalarType } from "./format.js";

export class GgufFormatError extends Error {
  override name = "GgufFormatError";
}

export type GgufScalar = number | bigint | boolean | string;

export type GgufEntry = { type: GgufScalarType; value: GgufScalar } | { type: "array"; itemType: GgufScalarType; value: readonly GgufScalar[] };

export interface GgufTensorInfo {
  name: string;
  /** ggml `ne` order: shape[0] is the contiguous dimension. */
  shape: number[];
  /** The ggml type id. */
  type: number;
  typeName: string;
  /** Offset from the start of the tensor data section. */
  offset: number;
  byteSize: number;
}

export interface GgufHeader {
  version: number;
  metadata: ReadonlyMap<string, GgufEntry>;
  tensors: readonly GgufTensorInfo[];
  alignment: number;
  /** Where the tensor data starts in the file. */
  dataOffset: number;
  /** Where the last tensor's data ends; undefined when a tensor's type is unknown (only with `lenient`). */
  dataEnd: number | undefined;
  /** The tensor count the header gives: `tensors.length`, unless `lenient` left out tensors of an unknown type. */
  tensorCount: number;
  fileSize: number;
}

interface GgufReadOptions {
  /**
   * For a file whose tensor data may be cut short (a download being verified): tensors reaching past the end of the
   * file are not errors (`dataEnd` says how far the data should go), and a tensor of a ggml type the table lacks is
   * left out of `tensors` (it makes `dataEnd` unknown) instead of an error. The header itself is checked as strictly.
   */
  lenient?: boolean;
}

/** No real model comes near these; a header claiming more is corrupt even where the file is large enough. */
const LIMITS = { entries: 1_000_000, tensors: 1_000_000, arrayItems: 1 << 24, stringBytes: 1 << 26, nameBytes: 63 } as const;

const SCALAR_BYTES: Record<GgufScalarType, number> = {
  uint8: 1,
  int8: 1,
  bool: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  uint64: 8,
  int64: 8,
  float64: 8,
  // The least a string takes: its 8-byte length.
  string: 8,
};

const TYPE_BY_ID = new Map<number, keyof typeof GGUF_VALUE_TYPE>(
  Object.entries(GGUF_VALUE_TYPE).map(([name, id]) => [id, name as keyof typeof GGUF_VALUE_TYPE]),
);

const kb = (bytes: number): string => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1e3))} KB`);

/** Sequential reads over a file handle, buffered, each checked against the end of the file. */
class FileCursor {
  private buffer: Buffer = Buffer.alloc(0);
  /** File position of buffer[0]. */
  private start = 0;
  private at = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly fileSize: number,
  ) {}

  get position(): number {
    return this.start + this.at;
  }

  get remaining(): number {
    return this.fileSize - this.position;
  }

  /** Makes `n` bytes available at the cursor; undefined when they already are (no await needed). */
  need(n: number, what: string): Promise<void> | undefined {
    if (this.buffer.length - this.at >= n) return undefined;
    if (n > this.remaining) {
      throw new GgufFormatError(`the file ends at byte ${this.fileSize} while reading ${what}: it is truncated or not a GGUF file`);
    }
    return this.fill(n);
  }

  private async fill(n: number): Promise<void> {
    const keep = this.buffer.subarray(this.at);
    const size = Math.min(this.remaining, Math.max(n, 1 << 20));
    const next = Buffer.allocUnsafe(size);
    keep.copy(next, 0);
    const from = this.position + keep.length;
    let filled = keep.length;
    while (filled < size) {
      const { bytesRead } = await this.handle.read(next, filled, size - filled, from + filled - keep.length);
      if (bytesRead === 0) throw new GgufFormatError("the file changed while it was being read");
      filled += bytesRead;
    }
    this.start = this.position;
    this.buffer = next;
    this.at = 0;
  }

  skip(n: number): void {
    this.at += n;
  }
  u8(): number {
    return this.buffer.readUInt8(this.at++);
  }
  u32(): number {
    const v = this.buffer.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }
  u64(): bigint {
    const v = this.buffer.readBigUInt64LE(this.at);
    this.at += 8;
    return v;
  }
  scalar(type: Exclude<GgufScalarType, "string">): GgufScalar {
    const b = this.buffer;
    const at = this.at;
    this.at += SCALAR_BYTES[type];
    switch (type) {
      case "uint8":
        return b.readUInt8(at);
      case "int8":
        return b.readInt8(at);
      case "bool":
        return b.readUInt8(at) !== 0;
      case "uint16":
        return b.readUInt16LE(at);
      case "int16":
        return b.readInt16LE(at);
      case "uint32":
        return b.readUInt32LE(at);
      case "int32":
        return b.readInt32LE(at);
      case "float32":
        return b.readFloatLE(at);
      case "float64":
        return b.readDoubleLE(at);
      case "uint64":
        return safe(b.readBigUInt64LE(at));
      case "int64":
        return safe(b.readBigInt64LE(at));
    }
  }
  text(length: number): string {
    const s = this.buffer.toString("utf8", this.at, this.at + length);
    this.at += length;
    return s;
  }
}

/** A 64-bit integer as a number when it is exact, else as a bigint. */
function safe(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** A count from the header, checked against what the rest of the file can hold before anything is allocated for it. */
function boundedCount(raw: bigint, c: FileCursor, what: string, leastBytesEach: number, limit: number): number {
  const room = Math.floor(c.remaining / leastBytesEach);
  if (raw > BigInt(room)) {
    throw new GgufFormatError(`${what} claims ${raw} entries, but the ${kb(c.remaining)} left in the file can hold at most ${room}: the header is corrupt`);
  }
  const count = Number(raw);
  if (count > limit) throw new GgufFormatError(`${what} claims ${count} entries, more than any real model has (at most ${limit}): the header is corrupt`);
  return count;
}

async function readString(c: FileCursor, what: string, limit: number = LIMITS.stringBytes): Promise<string> {
  const p = c.need(8, what);
  if (p) await p;
  const raw = c.u64();
  if (raw > BigInt(c.remaining)) {
    throw new GgufFormatError(`${what} claims to be ${raw} bytes long, but only ${c.remaining} bytes are left in the file: the header is corrupt`);
  }
  const length = Number(raw);
  if (length > limit) throw new GgufFormatError(`${what} is ${length} bytes long, more than the ${limit} allowed: the header is corrupt`);
  const q = c.need(length, what);
  if (q) await q;
  return c.text(length);
}

function valueType(id: number, what: string): keyof typeof GGUF_VALUE_TYPE {
  const type = TYPE_BY_ID.get(id);
  if (!type) throw new GgufFormatError(`${what} has an unknown value type (${id}): the header is corrupt or from a newer GGUF version`);
  return type;
}

async function readScalar(c: FileCursor, type: GgufScalarType, what: string): Promise<GgufScalar> {
  if (type === "string") return readString(c, what);
  const p = c.need(SCALAR_BYTES[type], what);
  if (p) await p;
  return c.scalar(type);
}

async function readEntry(c: FileCursor, key: string): Promise<GgufEntry> {
  const what = `the value of ${key}`;
  let p = c.need(4, what);
  if (p) await p;
  const type = valueType(c.u32(), key);
  if (type !== "array") return { type, value: await readScalar(c, type, what) };
  p = c.need(12, what);
  if (p) await p;
  const itemType = valueType(c.u32(), `an item of ${key}`);
  if (itemType === "array") throw new GgufFormatError(`${key} is an array of arrays, which llama.cpp does not read`);
  const count = boundedCount(c.u64(), c, key, SCALAR_BYTES[itemType], LIMITS.arrayItems);
  const items: GgufScalar[] = new Array<GgufScalar>(count);
  if (itemType === "string") {
    for (let i = 0; i < count; i++) items[i] = await readString(c, `item ${i} of ${key}`);
  } else {
    const size = SCALAR_BYTES[itemType];
    // Numbers come in runs: one buffer fill serves many items.
    for (let i = 0; i < count; ) {
      const run = Math.min(count - i, 1 << 16);
      const q = c.need(run * size, what);
      if (q) await q;
      for (const end = i + run; i < end; i++) items[i] = c.scalar(itemType);
    }
  }
  return { type: "array", itemType, value: items };
}

/** A tensor's entry; only its name for a tensor of an unknown type, read with `lenient`. */
async function readTensorInfo(c: FileCursor, index: number, lenient: boolean): Promise<GgufTensorInfo | { name: string }> {
  const name = await readString(c, `the name of tensor ${index}`, 1 << 16);
  if (Buffer.byteLength(name) > LIMITS.nameBytes) {
    throw new GgufFormatError(`the tensor name "${name.slice(0, 80)}" is longer than the ${LIMITS.nameBytes} bytes ggml allows`);
  }
  let p = c.need(4, `tensor ${name}`);
  if (p) await p;
  const dims = c.u32();
  if (dims < 1 || dims > GGUF_MAX_DIMS) throw new GgufFormatError(`tensor ${name} has ${dims} dimensions (ggml allows 1 to ${GGUF_MAX_DIMS})`);
  p = c.need(dims * 8 + 12, `tensor ${name}`);
  if (p) await p;
  const shape: number[] = [];
  let elements = 1n;
  for (let d = 0; d < dims; d++) {
    const n = c.u64();
    if (n === 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufFormatError(`tensor ${name} has a dimension of ${n}`);
    shape.push(Number(n));
    elements *= n;
  }
  const type = c.u32();
  const traits = GGML_TYPE_TRAITS[type];
  const rawOffset = c.u64();
  if (!traits) {
    if (lenient) return { name };
    throw new GgufFormatError(`tensor ${name} has an unknown or retired ggml type (${type})`);
  }
  if ((shape[0] ?? 0) % traits.blockSize !== 0) {
    throw new GgufFormatError(`tensor ${name}: its first dimension (${shape[0]}) is not a multiple of the ${traits.name} block size (${traits.blockSize})`);
  }
  const bytes = (elements / BigInt(traits.blockSize)) * BigInt(traits.blockBytes);
  const bound = BigInt(lenient ? Number.MAX_SAFE_INTEGER : c.fileSize);
  if (bytes > bound) {
    throw new GgufFormatError(`tensor ${name} (shape [${shape.join(", ")}], ${traits.name}) would need more bytes than the whole file holds`);
  }
  if (rawOffset > bound) throw new GgufFormatError(`tensor ${name} starts at offset ${rawOffset}, past the end of the file: the file is truncated or corrupt`);
  return { name, shape, type, typeName: traits.name, offset: Number(rawOffset), byteSize: Number(bytes) };
}

/**
 * Checks a file's first bytes against GGUF's magic. A file that is not GGUF gets its first bytes named in hex: they are
 * binary, and printed as text they come out as noise ("got \"ѐ�g\"").
 */
export function magicProblem(head: Uint8Array): string | undefined {
  const shown = [...head.subarray(0, 4)].map((b) => `0x${b.toString(16).padStart(2, "0")}`).join(" ");
  if (head.length === 0) return "it is empty";
  if (head.length < 4) return `it is too short to be a GGUF file (${head.length} byte${head.length === 1 ? "" : "s"}: ${shown})`;
  if (Buffer.from(head.subarray(0, 4)).toString("latin1") === GGUF_MAGIC) return undefined;
  return `it is not a GGUF file: a GGUF file starts with the bytes 0x47 0x47 0x55 0x46 ("GGUF"), this one with ${shown}`;
}

/** Reads and checks a GGUF file's header. Throws {@link GgufFormatError} with the reason in plain words. */
export async function readGgufHeader(filePath: string, options: GgufReadOptions = {}): Promise<GgufHeader> {
  const lenient = options.lenient ?? false;
  const handle = await open(filePath, "r");
  try {
    const fileSize = (await handle.stat()).size;
    const c = new FileCursor(handle, fileSize);
    const head = Buffer.alloc(Math.min(4, fileSize));
    await handle.read(head, 0, head.length, 0);
    const notGguf = magicProblem(head);
    if (notGguf) throw new GgufFormatError(notGguf);
    const p = c.need(24, "the GGUF header");
    if (p) await p;
    c.skip(4);
    const version = c.u32();
    const { min, max } = GGUF_READABLE_VERSIONS;
    if (version < min || version > max) throw new GgufFormatError(`it is GGUF version ${version}; llama.cpp reads versions ${min} and ${max}`);
    const tensorCount = boundedCount(c.u64(), c, "the tensor table", 33, LIMITS.tensors);
    const entryCount = boundedCount(c.u64(), c, "the metadata", 13, LIMITS.entries);
    const metadata = new Map<string, GgufEntry>();
    for (let i = 0; i < entryCount; i++) {
      const key = await readString(c, `metadata key ${i}`, 1 << 16);
      if (metadata.has(key)) throw new GgufFormatError(`the metadata key ${key} appears twice`);
      metadata.set(key, await readEntry(c, key));
    }
    const alignmentEntry = metadata.get("general.alignment");
    let alignment = GGUF_DEFAULT_ALIGNMENT;
    if (alignmentEntry) {
      const a = alignmentEntry.value;
      if (alignmentEntry.type !== "uint32" || typeof a !== "number" || a === 0 || (a & (a - 1)) !== 0) {
        throw new GgufFormatError(`general.alignment must be a power of two stored as uint32 (it is ${String(a)}, ${alignmentEntry.type})`);
      }
      alignment = a;
    }
    const tensors: GgufTensorInfo[] = [];
    const names = new Set<string>();
    let unknownType = false;
    for (let i = 0; i < tensorCount; i++) {
      const t = await readTensorInfo(c, i, lenient);
      if (names.has(t.name)) throw new GgufFormatError(`the tensor ${t.name} appears twice`);
      names.add(t.name);
      if ("type" in t) tensors.push(t);
      else unknownType = true;
    }
    const dataOffset = Math.ceil(c.position / alignment) * alignment;
    let dataEnd = dataOffset;
    for (const t of tensors) {
      if (t.offset % alignment !== 0)
        throw new GgufFormatError(`tensor ${t.name} starts at offset ${t.offset}, which is not a multiple of the alignment (${alignment})`);
      dataEnd = Math.max(dataEnd, dataOffset + t.offset + t.byteSize);
      if (!lenient && dataOffset + t.offset + t.byteSize > fileSize) {
        throw new GgufFormatError(
          `tensor ${t.name} ends at byte ${dataOffset + t.offset + t.byteSize}, past the end of the file (${fileSize} bytes): the file is truncated or corrupt`,
        );
      }
    }
    return { version, metadata, tensors, alignment, dataOffset, dataEnd: unknownType ? undefined : dataEnd, tensorCount, fileSize };
  } finally {
    await handle.close();
  }
}

/** A metadata value by key: the scalar, or the array's items. */
export function metaValue(header: Pick<GgufHeader, "metadata">, key: string): GgufScalar | readonly GgufScalar[] | undefined {
  return header.metadata.get(key)?.value;
}
