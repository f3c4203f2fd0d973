/**
 * ModelWorker: the parent's side of the model worker. It forks the worker on the first request, pairs responses
 * with requests by id, streams events, cancels by id, and watches the worker:
 *  - Stop: a cancelled request settles as cancelled within `cancelGraceMs` even when the worker does not answer; a
 *    worker that does not answer a ping by then is replaced.
 *  - Watchdog: a worker that sends nothing (not even its heartbeat) for `unresponsiveMs`, or makes no progress (no
 *    token evaluated, no event) for `stallMs` while a request waits, is killed; its requests fail in plain words and
 *    the next request starts a fresh worker.
 *  - Crashes are reported with what is known: the signal or exit code, what the worker was doing (its last phase),
 *    the model file, and llama.cpp's own failed check (GGML_ASSERT) when it printed one. No cause is guessed.
 * It never loads node-llama-cpp itself.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import {
  WorkerError,
  isChildMessage,
  type ChildMessage,
  type EventOf,
  type Method,
  type ModelInfo,
  type ParamsOf,
  type ParentMessage,
  type ResultOf,
} from "./protocol.js";

export interface ModelWorkerOptions {
  /** The bundled worker script (dist/worker.mjs). */
  workerPath: string;
  /** Extra environment for the worker process. */
  env?: NodeJS.ProcessEnv;
  /** Where the worker's own log lines go (llama.cpp errors, stderr). */
  log?: (level: "info" | "warn" | "error", message: string) => void;
  /** The Node binary to run the worker with (defaults to this process's). */
  execPath?: string;
  /** A worker silent this long (no heartbeat) while a request waits is replaced. Default 15 s. */
  unresponsiveMs?: number;
  /** The same, before the worker has said it is ready (loading node-llama-cpp takes seconds on a busy machine). Default 60 s. */
  startupMs?: number;
  /** A worker that makes no progress this long while a request waits is replaced. Default 90 s (a GPU's first kernels can take 20). */
  stallMs?: number;
  /** A cancelled request settles as cancelled within this long, whatever the worker does. Default 750 ms. */
  cancelGraceMs?: number;
}

interface RequestOptions<M extends Method> {
  onEvent?: (event: EventOf<M>) => void;
  signal?: AbortSignal;
}

/** One worker process and what the parent knows about it. */
interface WorkerProcess {
  child: ChildProcess;
  ready: boolean;
  lastHeard: number;
  lastProgress: number;
  stderrTail: string[];
  stderrEnded: Promise<void>;
  /** The model it has loaded, for crash reports about later requests. */
  model?: string;
  /** The no-progress bound for this worker: longer for a model so slow that one batch takes minutes. */
  stallMs?: number;
  /** Set when the parent ended it on purpose (stop, watchdog): its exit is not a crash. */
  endedBy?: "stop" | "watchdog";
}

interface Pending {
  method: Method;
  /** The process the request went to: when it ends, only its own requests fail. */
  worker: WorkerProcess;
  /** What it is doing, as the worker last said. */
  phase?: string;
  /** Its caller was already answered (cancelled): a late reply is dropped, but the watchdog still minds it. */
  detached: boolean;
  /** The model a load request names (the file a crash report names). */
  model?: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onEvent?: (event: unknown) => void;
}

const signalMeaning: Partial<Record<NodeJS.Signals, string>> = {
  SIGABRT: "an abort: a failed check in llama.cpp or Node",
  SIGKILL: "a signal sent from outside the process; the system's out-of-memory killer sends it, among others",
  SIGSEGV: "an invalid memory access in native code",
  SIGBUS: "a bad memory access in native code",
  SIGFPE: "an arithmetic fault in native code",
  SIGILL: "an instruction this processor does not have",
  SIGTERM: "a request to end sent by another program",
};

const methodDoing: Record<Method, string> = {
  hardware: "starting llama.cpp",
  load: "loading a model",
  unload: "unloading the model",
  openConversation: "opening a conversation",
  closeConversation: "closing a conversation",
  probe: "evaluating the prompt (the ask-or-proceed probe)",
  chat: "answering in a conversation",
  complete: "answering in a conversation",
  setHistory: "rebuilding a conversation's history",
  usage: "reading a token count",
  tokenize: "counting tokens",
  estimate: "estimating the memory models need",
  crash: "crashing on purpose",
};

/** llama.cpp's failed check, shortened to "file.cpp:123: GGML_ASSERT(...) failed", from the worker's last output. */
export function failedCheck(stderrTail: readonly string[]): string | undefined {
  const line = stderrTail.find((l) => /GGML_ASSERT|GGML_ABORT/.test(l)) ?? stderrTail.find((l) => /\bterminate called|Assertion .* failed/.test(l));
  if (!line) return undefined;
  const m = /([^/\\\s]+:\d+: .*)$/.exec(line.trim());
  return (m?.[1] ?? line.trim()).slice(0, 300);
}

export class ModelWorker {
  private current: WorkerProcess | undefined;
  private nextId = 1;
  private nextNonce = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly crashListeners = new Set<(error: WorkerError) => void>();
  private startCount = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private readonly unresponsiveMs: number;
  private readonly startupMs: number;
  private readonly stallMs: number;
  private readonly cancelGraceMs: number;

  constructor(private readonly options: ModelWorkerOptions) {
    this.unresponsiveMs = options.unresponsiveMs ?? 15_000;
    this.startupMs = Math.max(this.unresponsiveMs, options.startupMs ?? 60_000);
    this.stallMs = options.stallMs ?? 90_000;
    this.cancelGraceMs = options.cancelGraceMs ?? 750;
  }

  /** How many worker processes have been started so far. */
  get starts(): number {
    return this.startCount;
  }

  get running(): boolean {
    return this.current !== undefined;
  }

  /** The worker's process id, while one runs. */
  get pid(): number | undefined {
    return this.current?.child.pid;
  }

  /** Called when the worker process dies unexpectedly, or is replaced by the watchdog. */
  onCrash(listener: (error: WorkerError) => void): () => void {
    this.crashListeners.add(listener);
    return () => this.crashListeners.delete(listener);
  }

  request<M extends Method>(method: M, params: ParamsOf<M>, options: RequestOptions<M> = {}): Promise<ResultOf<M>> {
    const { signal, onEvent } = options;
    if (signal?.aborted) return Promise.reject(new WorkerError("cancelled", "Stopped before it started."));
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      let grace: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        const abortedAt = Date.now();
        this.post({ type: "cancel", id }, worker);
        this.post({ type: "ping", nonce: this.nextNonce++ }, worker);
        grace = setTimeout(() => this.cancelOverdue(id, abortedAt), this.cancelGraceMs);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = (): void => {
        signal?.removeEventListener("abort", onAbort);
        clearTimeout(grace);
      };
      this.pending.set(id, {
        method,
        worker,
        detached: false,
        ...(method === "load" ? { model: (params as ParamsOf<"load">).model } : {}),
        resolve: (value) => {
          done();
          resolve(value as ResultOf<M>);
        },
        reject: (error) => {
          done();
          reject(error);
        },
        ...(onEvent ? { onEvent: (event: unknown) => onEvent(event as EventOf<M>) } : {}),
      });
      this.armWatchdog();
      if (!this.post({ type: "request", id, method, params }, worker)) {
        this.settle(id, new WorkerError("worker-crashed", "The model worker is not reachable."));
      }
    });
  }

  /** Stops the worker process; pending requests fail. A later request starts a new one. */
  async stop(): Promise<void> {
    const worker = this.current;
    if (!worker) return;
    this.current = undefined;
    worker.endedBy = "stop";
    const exited = new Promise<void>((resolve) => {
      if (worker.child.exitCode !== null || worker.child.signalCode !== null) resolve();
      else worker.child.once("exit", () => resolve());
    });
    worker.child.disconnect?.();
    const timer = setTimeout(() => worker.child.kill("SIGKILL"), 2000);
    await exited;
    clearTimeout(timer);
    this.failFor(worker, new WorkerError("worker-crashed", "The model worker was stopped."));
  }

  /** A cancelled request the worker has not answered in time: the caller hears "cancelled" now. */
  private cancelOverdue(id: number, abortedAt: number): void {
    const p = this.pending.get(id);
    if (!p || p.detached) return;
    const cancelled = new WorkerError("cancelled", "Stopped.");
    if (p.worker.lastHeard < abortedAt) {
      // Not even a pong since the cancel: the worker is stopped or wedged. Replace it.
      this.settle(id, cancelled);
      this.replace(p.worker, `The model worker did not respond when asked to stop ${p.phase ?? methodDoing[p.method]}, so it was ended`);
      return;
    }
    // Alive but inside a native call that cannot stop sooner: answer the caller, let the call finish behind it.
    p.detached = true;
    p.reject(cancelled);
  }

  private post(message: ParentMessage, worker = this.current): boolean {
    const child = worker?.child;
    if (!child?.connected) return false;
    try {
      child.send(message);
      return true;
    } catch {
      return false;
    }
  }

  private ensureWorker(): WorkerProcess {
    if (this.current) return this.current;
    const child = fork(this.options.workerPath, [], {
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: { ...process.env, ...this.options.env },
      ...(this.options.execPath ? { execPath: this.options.execPath } : {}),
      serialization: "advanced",
    });
    const now = Date.now();
    const worker: WorkerProcess = {
      child,
      ready: false,
      lastHeard: now,
      lastProgress: now,
      stderrTail: [],
      stderrEnded: new Promise((resolve) => {
        if (!child.stderr) resolve();
        child.stderr?.once("close", () => resolve());
      }),
    };
    this.startCount += 1;
    this.current = worker;
    const log = this.options.log;
    child.stdout?.on("data", (data: Buffer) => log?.("info", data.toString().trimEnd()));
    child.stderr?.on("data", (data: Buffer) => {
      const text = data.toString();
      for (const line of text.split("\n")) if (line.trim() !== "") worker.stderrTail.push(line.trim());
      worker.stderrTail = worker.stderrTail.slice(-20);
      log?.("warn", text.trimEnd());
    });
    child.on("message", (message: unknown) => {
      if (isChildMessage(message)) this.receive(message, worker);
    });
    child.on("exit", (code, signal) => void this.exited(worker, code, signal));
    child.on("error", (err) => log?.("error", `model worker: ${err.message}`));
    return worker;
  }

  private async exited(worker: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const current = this.current === worker;
    if (current) this.current = undefined;
    if (worker.endedBy) return;
    const inFlight = this.inFlight(worker);
    if (!current && inFlight.length === 0) return;
    // llama.cpp's last words (a GGML_ASSERT line) may still be in the pipe.
    await Promise.race([worker.stderrEnded, new Promise((resolve) => setTimeout(resolve, 300))]);
    const error = this.crashError(worker, code, signal, inFlight);
    if (inFlight.length > 0 || code !== 0) for (const listener of this.crashListeners) listener(error);
    this.failFor(worker, error);
  }

  private inFlight(worker: WorkerProcess): Pending[] {
    return [...this.pending.values()].filter((p) => p.worker === worker);
  }

  /** What was going on, in words: the requests' phases and the model file. */
  private doing(worker: WorkerProcess, inFlight: readonly Pending[]): string {
    const live = inFlight.filter((p) => !p.detached);
    const list = live.length > 0 ? live : inFlight;
    const phases = [...new Set(list.map((p) => p.phase ?? methodDoing[p.method]))];
    const loading = list.find((p) => p.model !== undefined)?.model;
    const named = phases.some((ph) => loading !== undefined && ph.includes(path.basename(loading)));
    const file =
      loading !== undefined && !named ? ` (the model: ${loading})` : loading === undefined && worker.model ? ` (the model loaded: ${worker.model})` : "";
    return phases.length > 0 ? ` while ${phases.join(" and ")}${file}` : " while idle";
  }

  private crashError(worker: WorkerProcess, code: number | null, signal: NodeJS.Signals | null, inFlight: readonly Pending[]): WorkerError {
    const how = signal ? `it was ended by ${signal} (${signalMeaning[signal] ?? "a signal"})` : `it exited with code ${code ?? "unknown"}`;
    const check = failedCheck(worker.stderrTail);
    const reported = check ? ` llama.cpp reported a failed check: ${check}.` : " Its output does not say why.";
    return new WorkerError(
      "worker-crashed",
      `The model worker stopped unexpectedly: ${how}${this.doing(worker, inFlight)}.${reported} It will restart on the next request.`,
    );
  }

  /** Ends a worker that stopped answering or progressing; its requests fail with `reason`, and the next starts afresh. */
  private replace(worker: WorkerProcess, reason: string): void {
    if (worker.endedBy) return;
    worker.endedBy = "watchdog";
    if (this.current === worker) this.current = undefined;
    worker.child.kill("SIGKILL");
    const error = new WorkerError("worker-crashed", `${reason}${this.doing(worker, this.inFlight(worker))}. It will restart on the next request.`);
    for (const listener of this.crashListeners) listener(error);
    this.failFor(worker, error);
  }

  private armWatchdog(): void {
    if (this.watchdog) return;
    this.watchdog = setInterval(() => this.checkWorkers(), 250);
    this.watchdog.unref();
  }

  private checkWorkers(): void {
    if (this.pending.size === 0) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
      return;
    }
    const now = Date.now();
    for (const worker of new Set([...this.pending.values()].map((p) => p.worker))) {
      const silent = now - worker.lastHeard;
      const still = now - worker.lastProgress;
      if (silent > (worker.ready ? this.unresponsiveMs : this.startupMs)) {
        this.replace(
          worker,
          `The model worker stopped responding: nothing came from it for ${Math.round(silent / 1000)} s (it may be suspended, or stuck in a driver call), so it was ended`,
        );
      } else if (still > (worker.stallMs ?? this.stallMs)) {
        this.replace(worker, `The model worker made no progress for ${Math.round(still / 1000)} s (it may be stuck in the GPU driver), so it was ended`);
      }
    }
  }

  private receive(message: ChildMessage, from: WorkerProcess): void {
    const now = Date.now();
    from.lastHeard = now;
    switch (message.type) {
      case "alive":
        if (message.progressed) from.lastProgress = now;
        return;
      case "ready":
        from.ready = true;
        return;
      case "pong":
        return;
      case "log":
        this.options.log?.(message.level, message.message);
        return;
    }
    from.lastProgress = now;
    const pending = this.pending.get(message.id);
    if (!pending) return;
    if (message.type === "phase") {
      pending.phase = message.phase;
      return;
    }
    if (message.type === "event") {
      if (!pending.detached) pending.onEvent?.(message.event);
      return;
    }
    if (message.ok && pending.method === "load") {
      const info = message.result as ModelInfo;
      from.model = info.path;
      // Evaluation only shows progress between batches: allow four of the longest (512 tokens) at the warm-up's speed.
      from.stallMs = Math.max(this.stallMs, (4 * 512 * info.warmup.ms) / Math.max(1, info.warmup.tokens));
    }
    this.settle(message.id, message.ok ? { result: message.result } : new WorkerError(message.error.code, message.error.message));
  }

  private settle(id: number, outcome: { result: unknown } | Error): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    if (pending.detached) return;
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome.result);
  }

  private failFor(worker: WorkerProcess, error: WorkerError): void {
    for (const [id, p] of [...this.pending]) if (p.worker === worker) this.settle(id, error);
  }
}
