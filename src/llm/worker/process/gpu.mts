/** GPU and llama.cpp setup: which backend node-llama-cpp runs on, and what the machine has. */
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel, type LlamaModelOptions } from "node-llama-cpp";
import { physicalCores } from "../../hardware/cpu.js";
import { findGpuSupport, missingBackendMessage } from "../../hardware/gpu.js";
import type { GpuChoice } from "../../hardware/gpu-choice.js";
import { WorkerError, type Backend, type ParamsOf, type ResultOf } from "../protocol.js";
import { messageOf, send } from "./channel.mjs";

export function backendOf(l: Llama): Backend {
  return l.gpu === false ? "cpu" : l.gpu;
}

export function threadsFor(requested: number | undefined): number {
  return requested && requested > 0 ? Math.floor(requested) : physicalCores();
}

/** The one llama.cpp binding of this process, for the backend last asked for. */
export class Backends {
  private llama: Llama | undefined;
  private gpu: GpuChoice | undefined;
  /** Bindings that a failed load has left impossible to dispose (see `loadModel`). */
  private readonly undisposable = new WeakSet<Llama>();
  /** llama.cpp's last lines (at most 20): its reasons (a bad LoRA adapter, say) appear only in its log. */
  private readonly recentLog: string[] = [];
  /** How many lines llama.cpp has logged in all: what `logMark` gives. */
  private logged = 0;

  /** The backend asked for last, if any. */
  get choice(): GpuChoice | undefined {
    return this.gpu;
  }

  /**
   * The binding for `gpu`, created on first use. `modelLoaded` tells whether a model holds the current binding, in
   * which case switching backends is refused.
   */
  async ensure(gpu: GpuChoice = "auto", modelLoaded = false): Promise<Llama> {
    if (this.llama && this.gpu === gpu) return this.llama;
    if (this.llama && modelLoaded) throw new WorkerError("bad-request", "Unload the model before switching the GPU backend.");
    const previous = this.llama;
    // Let go of a binding that cannot be disposed: waiting on it would hang this request for good.
    if (previous && this.undisposable.has(previous)) void previous.dispose().catch(() => undefined);
    else await previous?.dispose();
    this.llama = undefined;
    this.gpu = undefined;
    // node-llama-cpp quietly runs a "metal" request on the CPU elsewhere: asked for Metal means Metal or a reason.
    if (gpu === "metal" && process.platform !== "darwin") throw this.missing(gpu);
    try {
      this.llama = await getLlama({
        gpu,
        build: "never",
        logLevel: LlamaLogLevel.warn,
        logger: (level, message) => {
          const line = message.trim();
          if (line === "") return;
          this.recentLog.push(line);
          this.logged += 1;
          if (this.recentLog.length > 20) this.recentLog.shift();
          if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) send({ type: "log", level: "error", message: line });
        },
      });
    } catch (error) {
      if (gpu !== false && gpu !== "auto") throw this.missing(gpu, error);
      throw new WorkerError(
        "load-failed",
        `llama.cpp's ${gpu === false ? "CPU" : "native"} binary could not be started on this machine (${process.platform}-${process.arch}): ${messageOf(error)}. Reinstalling ClarifyCoder's dependencies usually fixes it.`,
      );
    }
    this.gpu = gpu;
    return this.llama;
  }

  /**
   * `l.loadModel`, minding a fault of node-llama-cpp 3.21.1: a load that fails (a damaged file, memory running out,
   * a stop) keeps a hold on its binding that nothing releases once the failed model is garbage-collected, and from then
   * on the binding's `dispose()` never settles. Such a binding is marked, and later let go of rather than waited on.
   */
  async loadModel(l: Llama, options: LlamaModelOptions): Promise<LlamaModel> {
    try {
      return await l.loadModel(options);
    } catch (error) {
      this.undisposable.add(l);
      throw error;
    }
  }

  private missing(gpu: "cuda" | "vulkan" | "metal", error?: unknown): WorkerError {
    const here = path.dirname(fileURLToPath(import.meta.url));
    return new WorkerError("load-failed", missingBackendMessage(gpu, findGpuSupport(here), error === undefined ? undefined : messageOf(error)));
  }

  /** A place in llama.cpp's log, for `logSince`. */
  logMark(): number {
    return this.logged;
  }

  /**
   * llama.cpp's lines since `mark` (those still kept): a failure is explained by its own lines, never by those of a
   * turn running beside it on another sequence.
   */
  logSince(mark: number): string[] {
    return this.recentLog.slice(Math.max(0, this.recentLog.length - (this.logged - mark)));
  }

  async hardware(params: ParamsOf<"hardware">, modelLoaded: boolean): Promise<ResultOf<"hardware">> {
    const l = await this.ensure(params.gpu ?? this.gpu ?? "auto", modelLoaded);
    const vram = l.gpu === false ? undefined : await l.getVramState();
    return {
      backend: backendOf(l),
      gpuDevices: l.gpu === false ? [] : await l.getGpuDeviceNames(),
      ...(vram ? { vram: { total: vram.total, free: vram.free } } : {}),
      cpuCores: physicalCores(),
      logicalCpus: availableParallelism(),
      threads: threadsFor(params.threads),
    };
  }
}
