/**
 * The one door to a model, for every surface: a GGUF file, an `hf:` URI or a catalog id runs in our model worker; an
 * http(s) address that is not a .gguf file is a served model behind an OpenAI-compatible API (Ollama, llama.cpp's
 * server, LM Studio, vLLM), its model named after `#`. Either way the caller gets a ClarifyModel and one `close()`.
 */
import type { ClarifyModel } from "../../core/model.js";
import type { ModelStyle } from "../../core/types.js";
import { EndpointModel, apiKeyFromEnvironment, normaliseBaseUrl, type EndpointOptions } from "./endpoint.js";
import { hubTokenFromEnvironment } from "../hub/hf.js";
import { LocalModel, type LoadProgress } from "./local.js";
import { servedAt } from "./served.js";
import { ModelWorker } from "../worker/client.js";
import type { LoadParams, ModelInfo } from "../worker/protocol.js";

type ModelSpec =
  | { kind: "local"; model: string }
  /** `model` comes from the URL's fragment: http://127.0.0.1:8080/v1#qwen2.5-coder-7b */
  | { kind: "endpoint"; baseUrl: string; model?: string };

/** Reads a model spec. A URL whose path ends in .gguf is a file to download; any other http(s) URL is an endpoint. */
export function parseModelSpec(spec: string): ModelSpec {
  const text = spec.trim();
  if (text === "") throw new Error("No model given: name a .gguf file, an hf: URI, or an OpenAI-compatible endpoint URL.");
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new Error(`"${text}" is not a valid URL.`);
    }
    if (/\.gguf$/i.test(url.pathname)) return { kind: "local", model: text };
    const model = decodeURIComponent(url.hash.replace(/^#/, ""));
    return { kind: "endpoint", baseUrl: normaliseBaseUrl(text), ...(model ? { model } : {}) };
  }
  return { kind: "local", model: text };
}

interface OpenModelOptions {
  /** The bundled worker script (dist/worker.mjs), for local models. */
  workerPath: string;
  /** Load settings for a local model (gpu, threads, context size, LoRA, ...). */
  load?: Omit<LoadParams, "model">;
  onLoadProgress?: (event: LoadProgress) => void;
  /** For endpoints: concurrency, retries, timeouts. The API key defaults to the environment's. */
  endpoint?: Omit<EndpointOptions, "baseUrl" | "model">;
  log?: (level: "info" | "warn" | "error", message: string) => void;
  /** For local models: the hub token for gated downloads (default: HF_TOKEN from the environment). */
  hubToken?: string;
  /** Stops a load (or a download) that is under way; the worker is stopped with it. */
  signal?: AbortSignal;
}

export interface OpenedModel {
  model: ClarifyModel;
  spec: ModelSpec;
  /** How the model is named in records and reports: the model file's name, or the endpoint's model at its URL. */
  label: string;
  /** For a local model: what was loaded. */
  info?: ModelInfo;
  /** Where the model runs, in words: "on this machine", "served at 127.0.0.1:8080". */
  where: string;
  /** How a catalog model is meant to be prompted (ClarifyCoder's own is native); undefined when it cannot be known. */
  style?: ModelStyle;
  close(): Promise<void>;
}

export async function openModel(spec: string, options: OpenModelOptions): Promise<OpenedModel> {
  const parsed = parseModelSpec(spec);
  if (parsed.kind === "endpoint") {
    const apiKey = options.endpoint?.apiKey ?? apiKeyFromEnvironment();
    const model = new EndpointModel({
      ...options.endpoint,
      baseUrl: parsed.baseUrl,
      ...(parsed.model ? { model: parsed.model } : {}),
      ...(apiKey ? { apiKey } : {}),
    });
    const name = await model.model();
    return { model, spec: parsed, label: `${name} at ${model.baseUrl}`, where: servedAt(model.baseUrl), close: async () => undefined };
  }
  const worker = new ModelWorker({ workerPath: options.workerPath, ...(options.log ? { log: options.log } : {}) });
  const hubToken = options.hubToken ?? hubTokenFromEnvironment();
  const local = new LocalModel(worker, hubToken ? { hub: { token: hubToken } } : {});
  try {
    const info = await local.load({ ...options.load, model: parsed.model }, options.onLoadProgress, options.signal);
    const style = local.style;
    return { model: local, spec: parsed, label: info.name, info, where: "on this machine", ...(style ? { style } : {}), close: () => worker.stop() };
  } catch (error) {
    await worker.stop();
    throw error;
  }
}
