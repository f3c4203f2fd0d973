/**
 * ModelWorker: the parent's side of the model worker. It forks the worker on the first request, pairs responses
 * with requests by id, streams events, cancels by id, and, when the worker dies, fails what was in flight with a
 * plain-words error and starts a fresh worker on the next request. It never loads node-llama-cpp itself.
 */
import { fork, type ChildProcess } from "node:child_process";
import {
  WorkerError,
  isChildMessage,
  type ChildMessage,
  type EventOf,
  type Method,
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
}

export interface RequestOptions<M extends Method> {
  onEvent?: (event: EventOf<M>) => void;
  signal?: AbortSignal;
}

interface Pending {
  method: Method;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onEvent?: (event: unknown) => void;
}

export class ModelWorker {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stderrTail: string[] = [];
  private readonly crashListeners = new Set<(error: WorkerError) => void>();
  private startCount = 0;

  constructor(private readonly options: ModelWorkerOptions) {}

  /** How many worker processes have been started so far. */
  get starts(): number {
    return this.startCount;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Called when the worker process dies unexpectedly. */
  onCrash(listener: (error: WorkerError) => void): () => void {
    this.crashListeners.add(listener);
    return () => this.crashListeners.delete(listener);
  }

  request<M extends Method>(method: M, params: ParamsOf<M>, options: RequestOptions<M> = {}): Promise<ResultOf<M>> {
    if (options.signal?.aborted) return Promise.reject(new WorkerError("bad-request", "Cancelled before it started."));
    const child = this.ensureChild();
    const id = this.nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      const pending: Pending = { method, resolve: (v) => resolve(v as ResultOf<M>), reject };
      if (options.onEvent) {
        const onEvent = options.onEvent;
        pending.onEvent = (event) => onEvent(event as EventOf<M>);
      }
      this.pending.set(id, pending);
      const onAbort = (): void => void this.post({ type: "cancel", id });
      options.signal?.addEventListener("abort", onAbort, { once: true });
      const cleanup = (): void => options.signal?.removeEventListener("abort", onAbort);
      pending.resolve = (v) => {
        cleanup();
        resolve(v as ResultOf<M>);
      };
      pending.reject = (e) => {
        cleanup();
        reject(e);
      };
      if (!this.post({ type: "request", id, method, params }, child)) {
        this.pending.delete(id);
        pending.reject(new WorkerError("worker-crashed", "The model worker is not reachable."));
      }
    });
  }

  /** Stops the worker process; pending requests fail. A later request starts a new one. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.disconnect?.();
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
    this.failAll(new WorkerError("worker-crashed", "The model worker was stopped."));
  }

  private post(message: ParentMessage, child = this.child): boolean {
    if (!child?.connected) return false;
    try {
      child.send(message);
      return true;
    } catch {
      return false;
    }
  }

  private ensureChild(): ChildProcess {
    if (this.child) return this.child;
    this.stderrTail = [];
    const child = fork(this.options.workerPath, [], {
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: { ...process.env, ...this.options.env },
      ...(this.options.execPath ? { execPath: this.options.execPath } : {}),
      serialization: "advanced",
    });
    this.startCount += 1;
    this.child = child;
    const log = this.options.log;
    child.stdout?.on("data", (data: Buffer) => log?.("info", data.toString().trimEnd()));
    child.stderr?.on("data", (data: Buffer) => {
      const text = data.toString();
      for (const line of text.split("\n")) if (line.trim() !== "") this.stderrTail.push(line.trim());
      this.stderrTail = this.stderrTail.slice(-10);
      log?.("warn", text.trimEnd());
    });
    child.on("message", (message: unknown) => {
      if (isChildMessage(message)) this.receive(message);
    });
    child.on("exit", (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      const error = this.crashError(code, signal);
      if (this.pending.size > 0 || code !== 0) for (const listener of this.crashListeners) listener(error);
      this.failAll(error);
    });
    child.on("error", (err) => log?.("error", `model worker: ${err.message}`));
    return child;
  }

  private crashError(code: number | null, signal: NodeJS.Signals | null): WorkerError {
    const inFlight = [...this.pending.values()].map((p) => p.method);
    const during = inFlight.length > 0 ? ` while handling "${inFlight.join('", "')}"` : "";
    const how = signal ? `was killed by ${signal}` : `exited with code ${code ?? "unknown"}`;
    const assert = this.stderrTail.find((l) => /GGML_ASSERT|error|abort/i.test(l));
    const cause = inFlight.includes("load")
      ? " The model file is probably corrupt or not supported by this version of llama.cpp."
      : " This can happen when the machine runs out of memory or the GPU driver fails.";
    return new WorkerError(
      "worker-crashed",
      `The model worker stopped unexpectedly: it ${how}${during}.${cause}${assert ? ` (${assert})` : ""} It will restart on the next request.`,
    );
  }

  private receive(message: ChildMessage): void {
    if (message.type === "ready") return;
    if (message.type === "log") {
      this.options.log?.(message.level, message.message);
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    if (message.type === "event") {
      pending.onEvent?.(message.event);
      return;
    }
    this.pending.delete(message.id);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(new WorkerError(message.error.code, message.error.message));
  }

  private failAll(error: WorkerError): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(error);
  }
}
