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
  /** The process the request went to: when it ends, only its own requests fail. */
  child: ChildProcess;
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

  /** Called when the worker process dies unexpectedly. */
  onCrash(listener: (error: WorkerError) => void): () => void {
    this.crashListeners.add(listener);
    return () => this.crashListeners.delete(listener);
  }

  request<M extends Method>(method: M, params: ParamsOf<M>, options: RequestOptions<M> = {}): Promise<ResultOf<M>> {
    const { signal, onEvent } = options;
    if (signal?.aborted) return Promise.reject(new WorkerError("bad-request", "Cancelled before it started."));
    const child = this.ensureChild();
    const id = this.nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      const onAbort = (): void => void this.post({ type: "cancel", id }, child);
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = (): void => signal?.removeEventListener("abort", onAbort);
      this.pending.set(id, {
        method,
        child,
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
      if (!this.post({ type: "request", id, method, params }, child)) {
        this.settle(id, new WorkerError("worker-crashed", "The model worker is not reachable."));
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
    this.failFor(child, new WorkerError("worker-crashed", "The model worker was stopped."));
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
      if (isChildMessage(message)) this.receive(message, child);
    });
    child.on("exit", (code, signal) => {
      const current = this.child === child;
      if (current) this.child = undefined;
      const inFlight = this.inFlight(child);
      if (!current && inFlight.length === 0) return;
      const error = this.crashError(code, signal, inFlight);
      if (inFlight.length > 0 || code !== 0) for (const listener of this.crashListeners) listener(error);
      this.failFor(child, error);
    });
    child.on("error", (err) => log?.("error", `model worker: ${err.message}`));
    return child;
  }

  private inFlight(child: ChildProcess): Method[] {
    return [...this.pending.values()].filter((p) => p.child === child).map((p) => p.method);
  }

  private crashError(code: number | null, signal: NodeJS.Signals | null, inFlight: Method[]): WorkerError {
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

  private receive(message: ChildMessage, from: ChildProcess): void {
    if (message.type === "ready") return;
    if (message.type === "retiring") {
      // It will exit after its reply: the next request goes to a new worker.
      if (this.child === from) this.child = undefined;
      return;
    }
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
    this.settle(message.id, message.ok ? { result: message.result } : new WorkerError(message.error.code, message.error.message));
  }

  private settle(id: number, outcome: { result: unknown } | Error): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome.result);
  }

  private failFor(child: ChildProcess, error: WorkerError): void {
    for (const [id, p] of [...this.pending]) if (p.child === child) this.settle(id, error);
  }
}
