/**
 * A tiny, deterministic, llama-architecture GGUF model generated on the fly: the tests' exact model, and what the
 * benchmark and `check:gpu` run when no model is given (it checks the plumbing without a download).
 *
 * Shape: 2 blocks, n_embd 64, 4 heads (4 KV heads), n_ff 128, 263-token byte-level gpt2 vocabulary, all F32.
 * About 470 KB on disk.
 *
 * Steering. The attention and feed-forward weights are small seeded-random values whose contribution to the residual
 * stream is about 1% of the token embedding, so the final hidden state is essentially the current token's embedding
 * and the model behaves as a fixed bigram table ("after token X prefer Y, then Z, ..."). The table is chosen so that
 * greedy decoding under node-llama-cpp's JSON-schema grammar closes every structure as early as it can:
 *  - optional whitespace is never chosen (whitespace is ranked low everywhere except inside the steered phrase);
 *  - an opening quote starts the phrase {@link TINY_MODEL_PHRASE} ("What size?"), whose every character has a
 *    unique successor, and the phrase ends with a closing quote;
 *  - after a closing quote the model prefers `]`, then `}`, then `,`; after `[` it prefers `"` then `{`; after `]` it
 *    prefers `}`; after `}` it prefers `]`.
 * So every string value is "What size?" (it cannot tell a question from a suggestion: a bigram has no such state)
 * and every array with items of its own choosing gets exactly one item. For the assessment schemas it writes:
 *   {"decision":"ask","questions":[{"question":"What size?","suggestions":["What size?"]}]}
 *   {"decision":"proceed","assumptions":["What size?"]}
 * Where the schema leaves the decision to the model (an enum or a oneOf of the two objects), it picks "ask" by
 * default and "proceed" with `{ decision: "proceed" }`.
 * Without a grammar it repeats `What size?"` forever (it never picks the end-of-generation token), so an
 * unconstrained generation runs until `maxTokens` or until it is cancelled.
 */
import { seededRandom } from "../../core/random.js";
import { writeGguf, type GgufFile, type GgufMetadataEntry, type GgufTensor } from "./writer.js";

export const TINY_MODEL_PHRASE = "What size?";
/** What greedy generation under the assessment schemas produces (see the module comment). */
export const TINY_MODEL_EXPECTED_ASK = `{"decision":"ask","questions":[{"question":"${TINY_MODEL_PHRASE}","suggestions":["${TINY_MODEL_PHRASE}"]}]}`;
export const TINY_MODEL_EXPECTED_PROCEED = `{"decision":"proceed","assumptions":["${TINY_MODEL_PHRASE}"]}`;

export const TINY_MODEL_CONFIG = {
  contextLength: 4096,
  embeddingLength: 64,
  blockCount: 2,
  feedForwardLength: 128,
  headCount: 4,
  headCountKv: 4,
  rmsEpsilon: 1e-5,
  seed: 0x5eed1e55,
} as const;

const MERGES: readonly (readonly [string, string])[] = [
  ["Ġ", "t"],
  ["h", "e"],
  ["i", "n"],
  ["e", "r"],
];
const SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] as const;

const TINY_MODEL_CHAT_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// ---------------------------------------------------------------------------------------------------------------
// Vocabulary

/** GPT-2's reversible byte-to-unicode map: printable bytes stand for themselves, the others move to U+0100 and up. */
function gpt2ByteToUnicode(): string[] {
  const table: string[] = new Array<string>(256);
  let next = 256;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174 && byte <= 255);
    table[byte] = String.fromCodePoint(printable ? byte : next++);
  }
  return table;
}

interface Vocabulary {
  tokens: string[];
  tokenTypes: number[];
  merges: string[];
  byteToken: (char: string) => number;
  bos: number;
  eos: number;
  imStart: number;
}

function buildVocabulary(): Vocabulary {
  const byteChars = gpt2ByteToUnicode();
  const tokens = [...byteChars];
  const tokenTypes = tokens.map(() => 1); // 1 = normal
  for (const [left, right] of MERGES) {
    tokens.push(left + right);
    tokenTypes.push(1);
  }
  const specialStart = tokens.length;
  for (const special of SPECIAL_TOKENS) {
    tokens.push(special);
    tokenTypes.push(3); // 3 = control
  }
  return {
    tokens,
    tokenTypes,
    merges: MERGES.map(([left, right]) => `${left} ${right}`),
    byteToken: (char: string) => {
      const code = char.charCodeAt(0);
      if (char.length !== 1 || code > 127) throw new Error(`not a single ASCII character: ${JSON.stringify(char)}`);
      return code; // byte tokens are stored in byte order
    },
    bos: specialStart,
    imStart: specialStart + 1,
    eos: specialStart + 2,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Deterministic randomness

function gaussianFactory(random: () => number): () => number {
  return () => {
    const u = Math.max(random(), 1e-12);
    const v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Steering table

/** Logit offsets (in units of the normalised embedding) shared by every context. */
function baseBias(vocab: Vocabulary): Float64Array {
  const bias = new Float64Array(vocab.tokens.length);
  for (let byte = 0; byte < 256; byte++) {
    if (byte >= 33 && byte <= 126)
      bias[byte] = 0; // printable ASCII
    else if (byte === 32)
      bias[byte] = -3; // space
    else if (byte < 128)
      bias[byte] = -6; // control characters, newline, tab
    else bias[byte] = -8; // parts of multi-byte characters
  }
  for (let id = 256; id < 256 + MERGES.length; id++) bias[id] = -2;
  for (let id = 256 + MERGES.length; id < vocab.tokens.length; id++) bias[id] = -12; // control tokens, EOS included
  return bias;
}

/**
 * The steering classes: the current token (by its text) and the tokens it boosts next, strongest first. Tokens not
 * listed share the "default" class.
 */
function steeringClasses(decision: "ask" | "proceed"): { trigger: string | null; prefer: string[] }[] {
  const classes: { trigger: string | null; prefer: string[] }[] = [
    { trigger: null, prefer: ["W"] }, // default: start the phrase (unconstrained text begins here)
    // The last entry only matters where a string must start with "a" or "p" (a decision enum / oneOf).
    { trigger: '"', prefer: ["W", "]", "}", ",", decision === "ask" ? "a" : "p"] },
    { trigger: "[", prefer: ['"', "{"] },
    { trigger: "{", prefer: ['"'] },
    { trigger: ":", prefer: ['"', "["] },
    { trigger: ",", prefer: ['"', "{"] },
    { trigger: "]", prefer: ["}", "]"] },
    { trigger: "}", prefer: ["]", "}"] },
  ];
  const phrase = TINY_MODEL_PHRASE;
  for (let i = 0; i < phrase.length; i++) {
    classes.push({ trigger: phrase[i] ?? null, prefer: [phrase[i + 1] ?? '"'] });
  }
  const triggers = classes.map((item) => item.trigger);
  if (new Set(triggers).size !== triggers.length) throw new Error("steering: a trigger appears twice (phrase characters must be unique)");
  return classes;
}

const BOOSTS = [12, 8, 5, 2, 1] as const;
/** Scale of the output projection: larger means a peakier distribution (greedy decoding does not care). */
const OUTPUT_SCALE = 1.5;
/** Standard deviation of the random attention / feed-forward weights. */
const NOISE_STD = 0.02;

// ---------------------------------------------------------------------------------------------------------------
// The model file

interface TinyModelOptions {
  /** Metadata keys to leave out (to make deliberately broken models). */
  omitMetadataKeys?: readonly string[];
  /**
   * Which decision wins where the schema lets the model choose (`{"enum": ["ask", "proceed"]}` or a `oneOf` of the
   * two assessment objects): the first letter after an opening quote is steered to "a" or "p". Default "ask".
   * Nothing else changes: free strings are still "What size?".
   */
  decision?: "ask" | "proceed";
  /** Metadata entries that replace (or add to) the model's own, by key: to make deliberately wrong values. */
  replaceMetadata?: readonly GgufMetadataEntry[];
  /** Tensor values to replace, by name: every element of the tensor gets this value (it must be finite). */
  fillTensors?: Readonly<Record<string, number>>;
}

/** Builds the tiny model's metadata and tensors (no I/O). */
export function buildTinyModel(options: TinyModelOptions = {}): GgufFile {
  const config = TINY_MODEL_CONFIG;
  const vocab = buildVocabulary();
  const nVocab = vocab.tokens.length;
  const nEmbd = config.embeddingLength;
  const nFf = config.feedForwardLength;
  const gaussian = gaussianFactory(seededRandom(config.seed));

  const classes = steeringClasses(options.decision ?? "ask");
  if (classes.length + 1 > nEmbd) throw new Error("steering: more classes than embedding dimensions");
  const classOfToken = new Int32Array(nVocab).fill(0);
  classes.forEach((item, index) => {
    if (item.trigger !== null) classOfToken[vocab.byteToken(item.trigger)] = index;
  });

  // Embedding: dimension 0 is 1 for every token (the shared bias); dimension 1 + class is 1 for the token's class.
  const tokenEmbd = new Float32Array(nEmbd * nVocab);
  for (let token = 0; token < nVocab; token++) {
    tokenEmbd[token * nEmbd] = 1;
    tokenEmbd[token * nEmbd + 1 + (classOfToken[token] ?? 0)] = 1;
  }

  // Output: logit[v] = OUTPUT_SCALE * (bias[v] + boost of v in the current token's class) times the RMS-norm gain.
  const bias = baseBias(vocab);
  const output = new Float32Array(nEmbd * nVocab);
  for (let token = 0; token < nVocab; token++) output[token * nEmbd] = OUTPUT_SCALE * (bias[token] ?? 0);
  classes.forEach((item, index) => {
    item.prefer.forEach((char, rank) => {
      output[vocab.byteToken(char) * nEmbd + 1 + index] = OUTPUT_SCALE * (BOOSTS[rank] ?? 0);
    });
  });

  const ones = (length: number): Float32Array => new Float32Array(length).fill(1);
  const noise = (length: number): Float32Array => {
    const values = new Float32Array(length);
    for (let i = 0; i < length; i++) values[i] = gaussian() * NOISE_STD;
    return values;
  };

  const tensors: GgufTensor[] = [
    { name: "token_embd.weight", type: "F32", shape: [nEmbd, nVocab], data: tokenEmbd },
    { name: "output_norm.weight", type: "F32", shape: [nEmbd], data: ones(nEmbd) },
    { name: "output.weight", type: "F32", shape: [nEmbd, nVocab], data: output },
  ];
  for (let block = 0; block < config.blockCount; block++) {
    const prefix = `blk.${block}`;
    tensors.push(
      { name: `${prefix}.attn_norm.weight`, type: "F32", shape: [nEmbd], data: ones(nEmbd) },
      { name: `${prefix}.attn_q.weight`, type: "F32", shape: [nEmbd, nEmbd], data: noise(nEmbd * nEmbd) },
      { name: `${prefix}.attn_k.weight`, type: "F32", shape: [nEmbd, nEmbd], data: noise(nEmbd * nEmbd) },
      { name: `${prefix}.attn_v.weight`, type: "F32", shape: [nEmbd, nEmbd], data: noise(nEmbd * nEmbd) },
      { name: `${prefix}.attn_output.weight`, type: "F32", shape: [nEmbd, nEmbd], data: noise(nEmbd * nEmbd) },
      { name: `${prefix}.ffn_norm.weight`, type: "F32", shape: [nEmbd], data: ones(nEmbd) },
      { name: `${prefix}.ffn_gate.weight`, type: "F32", shape: [nEmbd, nFf], data: noise(nEmbd * nFf) },
      { name: `${prefix}.ffn_up.weight`, type: "F32", shape: [nEmbd, nFf], data: noise(nEmbd * nFf) },
      { name: `${prefix}.ffn_down.weight`, type: "F32", shape: [nFf, nEmbd], data: noise(nFf * nEmbd) },
    );
  }

  const metadata: GgufMetadataEntry[] = [
    { key: "general.architecture", type: "string", value: "llama" },
    // "ChatML" in the name makes node-llama-cpp try ChatMLChatWrapper first when it matches the Jinja template to a
    // chat wrapper: without it `new LlamaChatSession()` spent ~1.2 s here testing ten other wrappers first.
    { key: "general.name", type: "string", value: "ClarifyCoder tiny ChatML test model" },
    { key: "general.file_type", type: "uint32", value: 0 }, // all F32
    { key: "general.alignment", type: "uint32", value: 32 },
    { key: "llama.context_length", type: "uint32", value: config.contextLength },
    { key: "llama.embedding_length", type: "uint32", value: nEmbd },
    { key: "llama.block_count", type: "uint32", value: config.blockCount },
    { key: "llama.feed_forward_length", type: "uint32", value: nFf },
    { key: "llama.attention.head_count", type: "uint32", value: config.headCount },
    { key: "llama.attention.head_count_kv", type: "uint32", value: config.headCountKv },
    { key: "llama.rope.dimension_count", type: "uint32", value: nEmbd / config.headCount },
    { key: "llama.rope.freq_base", type: "float32", value: 10000 },
    { key: "llama.attention.layer_norm_rms_epsilon", type: "float32", value: config.rmsEpsilon },
    { key: "llama.vocab_size", type: "uint32", value: nVocab },
    { key: "tokenizer.ggml.model", type: "string", value: "gpt2" },
    { key: "tokenizer.ggml.pre", type: "string", value: "default" },
    { key: "tokenizer.ggml.tokens", type: "array", itemType: "string", value: vocab.tokens },
    { key: "tokenizer.ggml.token_type", type: "array", itemType: "int32", value: vocab.tokenTypes },
    { key: "tokenizer.ggml.merges", type: "array", itemType: "string", value: vocab.merges },
    { key: "tokenizer.ggml.bos_token_id", type: "uint32", value: vocab.bos },
    { key: "tokenizer.ggml.eos_token_id", type: "uint32", value: vocab.eos },
    { key: "tokenizer.ggml.padding_token_id", type: "uint32", value: vocab.bos },
    { key: "tokenizer.ggml.add_bos_token", type: "bool", value: false },
    { key: "tokenizer.chat_template", type: "string", value: TINY_MODEL_CHAT_TEMPLATE },
  ];
  const omit = new Set(options.omitMetadataKeys ?? []);
  const replaced = new Map((options.replaceMetadata ?? []).map((entry) => [entry.key, entry]));
  const kept = metadata.filter((entry) => !omit.has(entry.key)).map((entry) => replaced.get(entry.key) ?? entry);
  const added = [...replaced.values()].filter((entry) => !metadata.some((m) => m.key === entry.key));
  const filled = tensors.map((t): GgufTensor => {
    const value = options.fillTensors?.[t.name];
    return value === undefined || !("data" in t) ? t : { ...t, data: new Float32Array(t.data.length).fill(value) };
  });
  return { metadata: [...kept, ...added], tensors: filled };
}

/** Writes the tiny steered model (about 470 KB). Deterministic: the same bytes every time. */
export async function writeTinyModel(filePath: string, options: TinyModelOptions = {}): Promise<void> {
  await writeGguf(filePath, buildTinyModel(options));
}
