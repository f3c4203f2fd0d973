/**
 * The model worker's typed protocol: requests with ids, answered once, with streamed events in between, and
 * cancellation by id. Both ends import this file; it holds types and small pure helpers only.
 */
import type { JsonSchema, StopReason } from "../../core/model.js";
import type { GpuChoice } from "../hardware/gpu-choice.js";
import type { GpuLayers } from "../hardware/offload.js";

/** The environment variable that lets a worker take the `crash` test hook. */
export const crashHookEnv = "CLARIFYCODER_WORKER_CRASH_HOOK";

export type Backend = "cuda" | "vulkan" | "metal" | "cpu";

export interface HardwareInfo {
  backend: Backend;
  gpuDevices: string[];
  vram?: { total: number; free: number };
  cpuCores: number;
  logicalCpus: number;
  threads: number;
}

export interface LoadParams {
  /** A .gguf file, a catalog id or a URI: LocalModel.load downloads what must be, and the worker gets a file. */
  model: string;
  /** Where downloaded models are kept. */
  modelsDirectory?: string;
  /** A download that receives nothing for this long is stopped with a reason (default 60 s). */
  downloadStallMs?: number;
  gpu?: GpuChoice;
  /** Layers on the GPU: "auto" (as many as fit, the default), "max", or a count. Fewer are used when they do not fit. */
  gpuLayers?: GpuLayers;
  /** CPU threads for evaluation; 0 or absent means the machine's physical cores. */
  threads?: number;
  /** Tokens of context; clamped to the model's training context, and smaller when memory runs short (with a notice). */
  contextSize?: number;
  /** How many conversations keep their evaluated tokens at once (each is a context sequence). */
  sequences?: number;
  lora?: { filePath: string; scale?: number }[];
}

export interface ModelInfo {
  path: string;
  name: string;
  sizeBytes: number;
  architecture?: string;
  trainContextSize?: number;
  contextSize: number;
  chatTemplate: boolean;
  backend: Backend;
  /** GPU device names, when the backend is a GPU. */
  gpuDevices?: string[];
  /** Layers on the GPU, of the model's total (its blocks plus the output layer). */
  gpuLayers: number;
  totalLayers: number;
  threads: number;
  /** Loading time, the warm-up included. */
  loadMs: number;
  /** The evaluation right after loading that compiles the GPU's kernels (and pages the weights in), never charged to a request. */
  warmup: { tokens: number; ms: number };
  /** What the user should know about how it was loaded: fewer GPU layers than asked, a smaller context, ... */
  notices: string[];
}

/** A turn's prompt read so far: tokens evaluated (those the sequence held included) of the prompt's total. */
export interface ReadingEvent {
  kind: "reading";
  evaluated: number;
  total: number;
}

/** What a turn streams: the prompt's reading, then the reply's text. */
export type TurnEvent = ReadingEvent | { kind: "chunk"; text: string };

export interface TurnParams {
  conversationId: string;
  maxTokens: number;
  temperature?: number;
  seed?: number;
  grammar?: JsonSchema;
  responsePrefix?: string;
}

export interface TurnOutput {
  text: string;
  stopReason: StopReason;
  evaluatedInputTokens: number;
  outputTokens: number;
}

export interface EstimateParams {
  /** A local path, or a URL whose header is read over the network (with `headers`, such as a hub token). */
  models: { id: string; source: string; headers?: Record<string, string> }[];
  contextSize: number;
  gpu?: GpuChoice;
}

/** Memory a model needs, in bytes: with every layer on the GPU (VRAM, plus what stays in RAM), or on the CPU alone. */
export interface MemoryEstimate {
  id: string;
  gpuVram: number;
  gpuRam: number;
  cpuRam: number;
  layers: number;
}

export interface EstimateResult {
  hardware: MachineDescription;
  estimates: MemoryEstimate[];
  /** Models whose header could not be read, with the reason (the caller falls back to the catalog's figures). */
  unknown: { id: string; reason: string }[];
}

/** What the recommendation looks at. */
export interface MachineDescription {
  backend: Backend;
  gpuDevices: string[];
  vram?: { total: number; free: number };
  ram: { total: number; free: number };
  cpuCores: number;
}

/** Every request: its params, its result, and the events it may stream before the result. */
export interface WorkerMethods {
  hardware: { params: { gpu?: GpuChoice; threads?: number }; result: HardwareInfo; event: never };
  load: {
    params: LoadParams;
    result: ModelInfo;
    /** Load progress, then the warm-up on `backend` (minutes on a GPU whose shader cache is empty). */
    event: { kind: "load"; progress: number } | { kind: "warmup"; backend: Backend };
  };
  unload: { params: Record<string, never>; result: { unloaded: boolean }; event: never };
  openConversation: { params: { mode: "chat" | "raw"; systemPrompt?: string }; result: { conversationId: string }; event: never };
  closeConversation: { params: { conversationId: string }; result: { closed: boolean }; event: never };
  probe: {
    params: { conversationId: string; message: string; prefix: string; options: string[] };
    result: { probabilities: Record<string, number> };
    event: ReadingEvent;
  };
  chat: { params: TurnParams & { message: string }; result: TurnOutput; event: TurnEvent };
  complete: { params: TurnParams & { text: string; stopStrings?: string[] }; result: TurnOutput; event: TurnEvent };
  /** Replaces a chat conversation's history after its system prompt (the evaluated tokens it starts with are kept). */
  setHistory: { params: { conversationId: string; exchanges: { user: string; model: string }[] }; result: { messages: number }; event: never };
  /** A conversation's token meter: every input and output token so far, and those evaluated between turns. */
  usage: { params: { conversationId: string }; result: { inputTokens: number; outputTokens: number; settledTokens: number }; event: never };
  /** Counts tokens; `special` reads control tokens such as <|im_start|> as themselves. */
  tokenize: { params: { text: string; special?: boolean }; result: { count: number }; event: never };
  /**
   * What each model needs in memory, from node-llama-cpp's GGUF insights over its header (a local file, or the header
   * read over the network), and the machine's memory: the input of the recommendation (recommend.ts).
   */
  estimate: { params: EstimateParams; result: EstimateResult; event: never };
  /**
   * Deliberately ends the worker's process (tests use it to check crash recovery and reports): an abort, or loading
   * `loadUnchecked` straight into llama.cpp without the file checks (a file that makes llama.cpp abort). Refused
   * unless the worker runs with `crashHookEnv` set to 1.
   */
  crash: { params: { loadUnchecked?: string }; result: never; event: never };
}

export type Method = keyof WorkerMethods;
export type ParamsOf<M extends Method> = WorkerMethods[M]["params"];
export type ResultOf<M extends Method> = WorkerMethods[M]["result"];
export type EventOf<M extends Method> = WorkerMethods[M]["event"];

type WorkerErrorCode =
  | "no-model"
  | "invalid-model"
  | "load-failed"
  | "download-failed"
  | "unknown-conversation"
  | "bad-request"
  | "context-full"
  | "busy"
  | "worker-crashed"
  | "cancelled"
  | "internal";

interface WorkerErrorPayload {
  code: WorkerErrorCode;
  message: string;
}

export type ParentMessage =
  | { type: "request"; id: number; method: Method; params: unknown }
  | { type: "cancel"; id: number }
  /** Answered at once with a pong by a worker whose event loop runs. */
  | { type: "ping"; nonce: number };

/**
 * A request as the worker dispatches it, once its method is known: the method with that method's params, a union the
 * handler table is checked against.
 */
export type RequestMessage<M extends Method = Method> = { [K in M]: { type: "request"; id: number; method: K; params: ParamsOf<K> } }[M];

export type ChildMessage =
  | { type: "ready" }
  | { type: "response"; id: number; ok: true; result: unknown }
  | { type: "response"; id: number; ok: false; error: WorkerErrorPayload }
  | { type: "event"; id: number; event: unknown }
  /** What a request is doing now, in words ("loading the weights"): a crash report names it. */
  | { type: "phase"; id: number; phase: string }
  /** Sent every second: alive, and whether any work moved (tokens evaluated, bytes read) since the last one. */
  | { type: "alive"; progressed: boolean }
  | { type: "pong"; nonce: number }
  | { type: "log"; level: "warn" | "error" | "info"; message: string };

/** An error with a code the caller can act on, carried across the process boundary. */
export class WorkerError extends Error {
  override name = "WorkerError";
  constructor(
    readonly code: WorkerErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const childMessageTypes = new Set(["ready", "response", "event", "phase", "alive", "pong", "log"]);

export function isChildMessage(value: unknown): value is ChildMessage {
  if (typeof value !== "object" || value === null) return false;
  const type = (value as { type?: unknown }).type;
  return typeof type === "string" && childMessageTypes.has(type);
}
