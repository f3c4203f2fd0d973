/**
 * A small, dependency-free GGUF v3 writer.
 *
 * GGUF layout (little-endian throughout):
 *   magic "GGUF" | version u32 (3) | tensor_count u64 | metadata_kv_count u64
 *   metadata: key (u64 length + UTF-8 bytes) | value type u32 | value
 *   tensor infos: name | n_dims u32 | ne[n_dims] u64 | ggml type u32 | offset u64 (relative to the data section)
 *   padding to the alignment | tensor data, each tensor starting at a multiple of the alignment
 *
 * Everything here is typed to the exact GGUF value type: llama.cpp asserts on the type of many keys (for example
 * `adapter.lora.alpha` must be FLOAT32) and a wrong type aborts the whole process instead of throwing.
 *
 * Tensor shapes are given in ggml `ne` order: `shape[0]` is the contiguous (fastest-varying) dimension. A weight used
 * as `y = W x` with `x` of size `n_in` and `y` of size `n_out` therefore has `shape = [n_in, n_out]`, and the data is
 * `n_out` rows of `n_in` values. (A PyTorch tensor of shape `[a, b]` is ggml `[b, a]` with the same bytes.)
 */
import { open, rename, rm } from "node:fs/promises";
import {
  GGML_TYPE,
  GGML_TYPE_TRAITS,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_MAX_DIMS,
  GGUF_VALUE_TYPE,
  GGUF_VERSION,
  type GgufScalarType,
} from "./format.js";

export type GgufTensorType = keyof typeof GGML_TYPE;

/** The JavaScript value accepted for each GGUF scalar type. 64-bit integers accept a bigint or a safe integer. */
interface GgufScalarValueMap {
  uint8: number;
  int8: number;
  uint16: number;
  int16: number;
  uint32: number;
  int32: number;
  float32: number;
  bool: boolean;
  string: string;
  uint64: bigint | number;
  int64: bigint | number;
  float64: number;
}

type GgufScalarEntry = {
  [T in GgufScalarType]: { key: string; type: T; value: GgufScalarValueMap[T] };
}[GgufScalarType];

type GgufArrayEntry = {
  [T in GgufScalarType]: { key: string; type: "array"; itemType: T; value: readonly GgufScalarValueMap[T][] };
}[GgufScalarType];

export type GgufMetadataEntry = GgufScalarEntry | GgufArrayEntry;

interface GgufTensorBase {
  name: string;
  /** ggml `ne` order: `shape[0]` is the contiguous dimension. 1 to 4 positive integers. */
  shape: readonly number[];
  /** The type written to the file. */
  type: GgufTensorType;
}

/** A tensor given as numbers, converted to `type` (F32, F16 or BF16, round to nearest even). */
interface GgufValuesTensor extends GgufTensorBase {
  /** Values in ggml order (`shape[0]` varies fastest); length must equal the product of `shape`. */
  data: Float32Array | Float64Array | readonly number[];
}

/**
 * A tensor given as already-encoded little-endian bytes of `type` (for example F16 or BF16 bytes copied from a
 * safetensors file). The bytes are still checked for non-finite values.
 */
interface GgufBytesTensor extends GgufTensorBase {
  bytes: Uint8Array;
}

export type GgufTensor = GgufValuesTensor | GgufBytesTensor;

export interface GgufFile {
  metadata: readonly GgufMetadataEntry[];
  tensors: readonly GgufTensor[];
}

export class GgufWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GgufWriteError";
  }
}

/** Bytes per element of each writable type (each is a one-element block), from the ggml type table. */
const BYTES_PER_ELEMENT = Object.fromEntries(
  (Object.keys(GGML_TYPE) as GgufTensorType[]).map((type) => [type, GGML_TYPE_TRAITS[GGML_TYPE[type]]?.blockBytes ?? 0]),
) as Record<GgufTensorType, number>;

const INTEGER_RANGES: Partial<Record<GgufScalarType, readonly [bigint, bigint]>> = {
  uint8: [0n, 0xffn],
  int8: [-0x80n, 0x7fn],
  uint16: [0n, 0xffffn],
  int16: [-0x8000n, 0x7fffn],
  uint32: [0n, 0xffffffffn],
  int32: [-0x80000000n, 0x7fffffffn],
  uint64: [0n, 0xffffffffffffffffn],
  int64: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

// ---------------------------------------------------------------------------------------------------------------
// Half-precision conversion

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * IEEE 754 binary16 bits for a number, rounded to nearest even (as numpy / ggml do). Values beyond the F16 range
 * become infinity; callers that must not store non-finite values check the result with {@link isFiniteFloat16Bits}.
 */
export function float32ToFloat16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0] ?? 0;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;

  if (exponent === 0xff) {
    // Infinity or NaN (keep NaN a quiet NaN).
    return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  }
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half or zero.
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    let half = mantissa >>> shift;
    const remainder = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && (half & 1) === 1)) half += 1;
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && (half & 1) === 1)) half += 1; // may carry into infinity
  return sign | half;
}

/** The number an IEEE 754 binary16 bit pattern stands for. */
export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function isFiniteFloat16Bits(bits: number): boolean {
  return ((bits >>> 10) & 0x1f) !== 0x1f;
}

/** bfloat16 bits for a number (the top half of its float32, rounded to nearest even). */
export function float32ToBfloat16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0] ?? 0;
  if ((x & 0x7f800000) === 0x7f800000) return (x >>> 16) | ((x & 0xffff) !== 0 ? 0x40 : 0);
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

function isFiniteBfloat16Bits(bits: number): boolean {
  return (bits & 0x7f80) !== 0x7f80;
}

// ---------------------------------------------------------------------------------------------------------------
// Low-level byte output

class ByteSink {
  private chunks: Buffer[] = [];
  private current: Buffer = Buffer.alloc(4096);
  private used = 0;
  length = 0;

  private ensure(bytes: number): void {
    if (this.used + bytes <= this.current.length) return;
    this.chunks.push(this.current.subarray(0, this.used));
    this.current = Buffer.alloc(Math.max(4096, bytes));
    this.used = 0;
  }

  u8(value: number): void {
    this.ensure(1);
    this.current.writeUInt8(value, this.used);
    this.used += 1;
    this.length += 1;
  }

  u32(value: number): void {
    this.ensure(4);
    this.current.writeUInt32LE(value, this.used);
    this.used += 4;
    this.length += 4;
  }

  u64(value: bigint): void {
    this.ensure(8);
    this.current.writeBigUInt64LE(value, this.used);
    this.used += 8;
    this.length += 8;
  }

  bytes(data: Uint8Array): void {
    this.ensure(data.length);
    this.current.set(data, this.used);
    this.used += data.length;
    this.length += data.length;
  }

  string(value: string): void {
    const encoded = Buffer.from(value, "utf8");
    this.u64(BigInt(encoded.length));
    this.bytes(encoded);
  }

  pad(alignment: number): void {
    const padding = paddingFor(this.length, alignment);
    if (padding > 0) this.bytes(new Uint8Array(padding));
  }

  toBuffer(): Buffer {
    return Buffer.concat([...this.chunks, this.current.subarray(0, this.used)]);
  }
}

function paddingFor(offset: number, alignment: number): number {
  const rest = offset % alignment;
  return rest === 0 ? 0 : alignment - rest;
}

// ---------------------------------------------------------------------------------------------------------------
// Metadata

function toBigIntChecked(key: string, type: GgufScalarType, value: unknown): bigint {
  let big: bigint;
  if (typeof value === "bigint") big = value;
  else if (typeof value === "number" && Number.isSafeInteger(value)) big = BigInt(value);
  else {
    throw new GgufWriteError(`metadata "${key}": ${type} needs an integer${type.endsWith("64") ? " (a bigint or a safe integer)" : ""}, got ${String(value)}`);
  }
  const range = INTEGER_RANGES[type];
  if (range && (big < range[0] || big > range[1])) {
    throw new GgufWriteError(`metadata "${key}": ${String(value)} is out of range for ${type}`);
  }
  return big;
}

function writeScalar(sink: ByteSink, key: string, type: GgufScalarType, value: unknown): void {
  switch (type) {
    case "bool":
      if (typeof value !== "boolean") throw new GgufWriteError(`metadata "${key}": bool needs a boolean, got ${typeof value}`);
      sink.u8(value ? 1 : 0);
      return;
    case "string":
      if (typeof value !== "string") throw new GgufWriteError(`metadata "${key}": string needs a string, got ${typeof value}`);
      sink.string(value);
      return;
    case "float32": {
      if (typeof value !== "number" || !Number.isFinite(value) || !Number.isFinite(Math.fround(value))) {
        throw new GgufWriteError(`metadata "${key}": float32 needs a finite number in float32 range, got ${String(value)}`);
      }
      const buffer = Buffer.alloc(4);
      buffer.writeFloatLE(value);
      sink.bytes(buffer);
      return;
    }
    case "float64": {
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw new GgufWriteError(`metadata "${key}": float64 needs a finite number, got ${String(value)}`);
      }
      const buffer = Buffer.alloc(8);
      buffer.writeDoubleLE(value);
      sink.bytes(buffer);
      return;
    }
    default: {
      const big = toBigIntChecked(key, type, value);
      const size = type.endsWith("8") ? 1 : type.endsWith("16") ? 2 : type.endsWith("32") ? 4 : 8;
      const buffer = Buffer.alloc(size);
      switch (type) {
        case "uint8":
          buffer.writeUInt8(Number(big));
          break;
        case "int8":
          buffer.writeInt8(Number(big));
          break;
        case "uint16":
          buffer.writeUInt16LE(Number(big));
          break;
        case "int16":
          buffer.writeInt16LE(Number(big));
          break;
        case "uint32":
          buffer.writeUInt32LE(Number(big));
          break;
        case "int32":
          buffer.writeInt32LE(Number(big));
          break;
        case "uint64":
          buffer.writeBigUInt64LE(big);
          break;
        case "int64":
          buffer.writeBigInt64LE(big);
          break;
      }
      sink.bytes(buffer);
    }
  }
}

function assertScalarType(key: string, type: unknown): asserts type is GgufScalarType {
  if (typeof type !== "string" || type === "array" || !Object.prototype.hasOwnProperty.call(GGUF_VALUE_TYPE, type)) {
    throw new GgufWriteError(`metadata "${key}": unknown GGUF value type ${String(type)}`);
  }
}

function writeMetadataEntry(sink: ByteSink, entry: GgufMetadataEntry): void {
  sink.string(entry.key);
  if (entry.type === "array") {
    assertScalarType(entry.key, entry.itemType);
    if (!Array.isArray(entry.value)) throw new GgufWriteError(`metadata "${entry.key}": an array needs an array value`);
    sink.u32(GGUF_VALUE_TYPE.array);
    sink.u32(GGUF_VALUE_TYPE[entry.itemType]);
    sink.u64(BigInt(entry.value.length));
    for (const item of entry.value as readonly unknown[]) writeScalar(sink, entry.key, entry.itemType, item);
    return;
  }
  assertScalarType(entry.key, entry.type);
  sink.u32(GGUF_VALUE_TYPE[entry.type]);
  writeScalar(sink, entry.key, entry.type, entry.value);
}

function resolveAlignment(metadata: readonly GgufMetadataEntry[]): number {
  const entry = metadata.find((item) => item.key === "general.alignment");
  if (!entry) return GGUF_DEFAULT_ALIGNMENT;
  if (entry.type !== "uint32") throw new GgufWriteError(`metadata "general.alignment" must be uint32, got ${entry.type}`);
  const alignment = entry.value;
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new GgufWriteError(`metadata "general.alignment" must be a power of two, got ${alignment}`);
  }
  return alignment;
}

// ---------------------------------------------------------------------------------------------------------------
// Tensors

function elementCount(tensor: GgufTensor): number {
  const { name, shape } = tensor;
  if (shape.length < 1 || shape.length > GGUF_MAX_DIMS) {
    throw new GgufWriteError(`tensor "${name}": needs 1 to ${GGUF_MAX_DIMS} dimensions, got ${shape.length}`);
  }
  let count = 1;
  for (const dimension of shape) {
    if (!Number.isSafeInteger(dimension) || dimension <= 0) {
      throw new GgufWriteError(`tensor "${name}": dimensions must be positive integers, got [${shape.join(", ")}]`);
    }
    count *= dimension;
  }
  if (!Number.isSafeInteger(count)) throw new GgufWriteError(`tensor "${name}": too many elements`);
  return count;
}

function tensorByteLength(tensor: GgufTensor): number {
  if (!Object.prototype.hasOwnProperty.call(GGML_TYPE, tensor.type)) {
    throw new GgufWriteError(`tensor "${tensor.name}": unsupported tensor type ${String(tensor.type)} (use F32, F16 or BF16)`);
  }
  return elementCount(tensor) * BYTES_PER_ELEMENT[tensor.type];
}

function nonFiniteError(name: string, index: number, value: number, type: GgufTensorType): GgufWriteError {
  return new GgufWriteError(`tensor "${name}": element ${index} is ${String(value)}, not a finite ${type} value; refusing to write non-finite weights`);
}

/** Encodes one tensor's data as little-endian bytes of its type, checking that every value is finite. */
function encodeTensorData(tensor: GgufTensor): Uint8Array {
  const byteLength = tensorByteLength(tensor);
  const count = byteLength / BYTES_PER_ELEMENT[tensor.type];

  if ("bytes" in tensor) {
    if (tensor.bytes.length !== byteLength) {
      throw new GgufWriteError(
        `tensor "${tensor.name}": ${tensor.bytes.length} bytes given, shape [${tensor.shape.join(", ")}] of ${tensor.type} needs ${byteLength}`,
      );
    }
    const view = new DataView(tensor.bytes.buffer, tensor.bytes.byteOffset, tensor.bytes.byteLength);
    for (let i = 0; i < count; i++) {
      if (tensor.type === "F32") {
        const value = view.getFloat32(i * 4, true);
        if (!Number.isFinite(value)) throw nonFiniteError(tensor.name, i, value, tensor.type);
      } else {
        const bits = view.getUint16(i * 2, true);
        const finite = tensor.type === "F16" ? isFiniteFloat16Bits(bits) : isFiniteBfloat16Bits(bits);
        if (!finite) {
          const value = tensor.type === "F16" ? float16BitsToFloat32(bits) : (new Float32Array(new Uint32Array([bits << 16]).buffer)[0] ?? NaN);
          throw nonFiniteError(tensor.name, i, value, tensor.type);
        }
      }
    }
    return tensor.bytes;
  }

  const { data } = tensor;
  if (data.length !== count) {
    throw new GgufWriteError(`tensor "${tensor.name}": ${data.length} values given, shape [${tensor.shape.join(", ")}] needs ${count}`);
  }
  const out = Buffer.alloc(byteLength);
  for (let i = 0; i < count; i++) {
    const value = data[i] ?? NaN;
    if (!Number.isFinite(value)) throw nonFiniteError(tensor.name, i, value, tensor.type);
    switch (tensor.type) {
      case "F32": {
        if (!Number.isFinite(Math.fround(value))) {
          throw new GgufWriteError(`tensor "${tensor.name}": element ${i} (${value}) overflows F32`);
        }
        out.writeFloatLE(value, i * 4);
        break;
      }
      case "F16": {
        const bits = float32ToFloat16Bits(value);
        if (!isFiniteFloat16Bits(bits)) {
          throw new GgufWriteError(`tensor "${tensor.name}": element ${i} (${value}) overflows F16 (max 65504)`);
        }
        out.writeUInt16LE(bits, i * 2);
        break;
      }
      case "BF16": {
        const bits = float32ToBfloat16Bits(value);
        if (!isFiniteBfloat16Bits(bits)) {
          throw new GgufWriteError(`tensor "${tensor.name}": element ${i} (${value}) overflows BF16`);
        }
        out.writeUInt16LE(bits, i * 2);
        break;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Whole file

interface PlannedFile {
  header: Buffer;
  alignment: number;
  tensorOffsets: number[];
  dataLength: number;
}

function validate(file: GgufFile): void {
  const keys = new Set<string>();
  for (const entry of file.metadata) {
    if (typeof entry.key !== "string" || entry.key.length === 0) throw new GgufWriteError("metadata key must be a non-empty string");
    if (keys.has(entry.key)) throw new GgufWriteError(`metadata "${entry.key}" appears more than once`);
    keys.add(entry.key);
  }
  const names = new Set<string>();
  for (const tensor of file.tensors) {
    if (typeof tensor.name !== "string" || tensor.name.length === 0) throw new GgufWriteError("tensor name must be a non-empty string");
    // ggml's GGML_MAX_NAME is 64 including the terminating NUL.
    if (Buffer.byteLength(tensor.name, "utf8") >= 64) throw new GgufWriteError(`tensor "${tensor.name}": name is longer than 63 bytes`);
    if (names.has(tensor.name)) throw new GgufWriteError(`tensor "${tensor.name}" appears more than once`);
    names.add(tensor.name);
  }
}

function planFile(file: GgufFile): PlannedFile {
  validate(file);
  const alignment = resolveAlignment(file.metadata);
  const sink = new ByteSink();
  sink.bytes(Buffer.from(GGUF_MAGIC, "ascii"));
  sink.u32(GGUF_VERSION);
  sink.u64(BigInt(file.tensors.length));
  sink.u64(BigInt(file.metadata.length));
  for (const entry of file.metadata) writeMetadataEntry(sink, entry);

  const tensorOffsets: number[] = [];
  let offset = 0;
  for (const tensor of file.tensors) {
    const byteLength = tensorByteLength(tensor);
    sink.string(tensor.name);
    sink.u32(tensor.shape.length);
    for (const dimension of tensor.shape) sink.u64(BigInt(dimension));
    sink.u32(GGML_TYPE[tensor.type]);
    sink.u64(BigInt(offset));
    tensorOffsets.push(offset);
    offset += byteLength;
    offset += paddingFor(offset, alignment);
  }
  sink.pad(alignment);
  return { header: sink.toBuffer(), alignment, tensorOffsets, dataLength: offset };
}

/** Encodes a whole GGUF v3 file in memory. */
export function encodeGguf(file: GgufFile): Buffer {
  const plan = planFile(file);
  const out = Buffer.alloc(plan.header.length + plan.dataLength);
  plan.header.copy(out, 0);
  file.tensors.forEach((tensor, index) => {
    const data = encodeTensorData(tensor);
    out.set(data, plan.header.length + (plan.tensorOffsets[index] ?? 0));
  });
  return out;
}

let temporaryCounter = 0;

/**
 * Writes a GGUF v3 file. Tensors are encoded and written one at a time (the whole file is never held in memory), to a
 * temporary file next to `filePath` that is renamed into place at the end, so a failed write leaves no partial file.
 * Metadata and shapes are validated before the file is opened; a non-finite value found while encoding a tensor
 * aborts the write with a {@link GgufWriteError} and removes the temporary file.
 */
export async function writeGguf(filePath: string, file: GgufFile): Promise<void> {
  const plan = planFile(file);
  temporaryCounter += 1;
  const temporaryPath = `${filePath}.${process.pid}.${temporaryCounter}.partial`;
  const handle = await open(temporaryPath, "w");
  let done = false;
  try {
    await handle.write(plan.header);
    let written = 0;
    for (const tensor of file.tensors) {
      const data = encodeTensorData(tensor);
      await handle.write(data);
      written += data.length;
      const padding = paddingFor(written, plan.alignment);
      if (padding > 0) {
        await handle.write(new Uint8Array(padding));
        written += padding;
      }
    }
    await handle.close();
    await rename(temporaryPath, filePath);
    done = true;
  } finally {
    if (!done) {
      await handle.close().catch(() => undefined);
      await rm(temporaryPath, { force: true });
    }
  }
}
