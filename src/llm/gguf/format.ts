/**
 * The GGUF format's constants, defined once: the magic, the versions llama.cpp reads, the alignment and dimension
 * limits, the metadata value type ids and the ggml tensor type table. The reader, the writer, the checks and the
 * download verification all take them from here.
 */

export const GGUF_MAGIC = "GGUF";
/** The version the writer produces. */
export const GGUF_VERSION = 3;
/** The versions llama.cpp reads. */
export const GGUF_READABLE_VERSIONS = { min: 2, max: 3 } as const;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS. */
export const GGUF_MAX_DIMS = 4;

/** GGUF metadata value type ids, as in the GGUF specification. */
export const GGUF_VALUE_TYPE = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

export type GgufScalarType = Exclude<keyof typeof GGUF_VALUE_TYPE, "array">;

/** ggml tensor type ids for the types the writer can produce and the checks scan. */
export const GGML_TYPE = {
  F32: 0,
  F16: 1,
  BF16: 30,
} as const;

interface GgmlTypeTraits {
  name: string;
  /** Elements per block. */
  blockSize: number;
  /** Bytes per block. */
  blockBytes: number;
}

/** ggml tensor types: block size (elements) and block bytes, as in ggml.c's type traits. Removed types are absent. */
export const GGML_TYPE_TRAITS: Readonly<Record<number, GgmlTypeTraits>> = {
  [GGML_TYPE.F32]: { name: "F32", blockSize: 1, blockBytes: 4 },
  [GGML_TYPE.F16]: { name: "F16", blockSize: 1, blockBytes: 2 },
  2: { name: "Q4_0", blockSize: 32, blockBytes: 18 },
  3: { name: "Q4_1", blockSize: 32, blockBytes: 20 },
  6: { name: "Q5_0", blockSize: 32, blockBytes: 22 },
  7: { name: "Q5_1", blockSize: 32, blockBytes: 24 },
  8: { name: "Q8_0", blockSize: 32, blockBytes: 34 },
  9: { name: "Q8_1", blockSize: 32, blockBytes: 36 },
  10: { name: "Q2_K", blockSize: 256, blockBytes: 84 },
  11: { name: "Q3_K", blockSize: 256, blockBytes: 110 },
  12: { name: "Q4_K", blockSize: 256, blockBytes: 144 },
  13: { name: "Q5_K", blockSize: 256, blockBytes: 176 },
  14: { name: "Q6_K", blockSize: 256, blockBytes: 210 },
  15: { name: "Q8_K", blockSize: 256, blockBytes: 292 },
  16: { name: "IQ2_XXS", blockSize: 256, blockBytes: 66 },
  17: { name: "IQ2_XS", blockSize: 256, blockBytes: 74 },
  18: { name: "IQ3_XXS", blockSize: 256, blockBytes: 98 },
  19: { name: "IQ1_S", blockSize: 256, blockBytes: 50 },
  20: { name: "IQ4_NL", blockSize: 32, blockBytes: 18 },
  21: { name: "IQ3_S", blockSize: 256, blockBytes: 110 },
  22: { name: "IQ2_S", blockSize: 256, blockBytes: 82 },
  23: { name: "IQ4_XS", blockSize: 256, blockBytes: 136 },
  24: { name: "I8", blockSize: 1, blockBytes: 1 },
  25: { name: "I16", blockSize: 1, blockBytes: 2 },
  26: { name: "I32", blockSize: 1, blockBytes: 4 },
  27: { name: "I64", blockSize: 1, blockBytes: 8 },
  28: { name: "F64", blockSize: 1, blockBytes: 8 },
  29: { name: "IQ1_M", blockSize: 256, blockBytes: 56 },
  [GGML_TYPE.BF16]: { name: "BF16", blockSize: 1, blockBytes: 2 },
  34: { name: "TQ1_0", blockSize: 256, blockBytes: 54 },
  35: { name: "TQ2_0", blockSize: 256, blockBytes: 66 },
  39: { name: "MXFP4", blockSize: 32, blockBytes: 17 },
  40: { name: "NVFP4", blockSize: 64, blockBytes: 36 },
  41: { name: "Q1_0", blockSize: 128, blockBytes: 18 },
  42: { name: "Q2_0", blockSize: 64, blockBytes: 18 },
};
