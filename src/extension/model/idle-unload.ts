/**
 * Unloads the model after `idleUnloadMinutes` without a model call, freeing its memory (0 keeps it loaded); a call
 * running now (a turn, a probe) is never cut off.
 */
import type * as vscode from "vscode";
import type { ModelConversation } from "../../core/model.js";
import { getConfig, onDidChangeConfig, Settings } from "../config.js";

export class IdleUnload implements vscode.Disposable {
  private timer: NodeJS.Timeout | undefined;
  private callsInFlight = 0;
  private readonly listener: vscode.Disposable;

  /** `idle` says whether a loaded model sits unused (not loading); `unload` frees it. */
  constructor(
    private readonly idle: () => boolean,
    private readonly unload: (minutes: number) => void,
  ) {
    this.listener = onDidChangeConfig([Settings.idleUnloadMinutes], () => this.touch());
  }

  /** The model was used now: the idle time starts again. */
  touch(): void {
    clearTimeout(this.timer);
    const minutes = getConfig(Settings.idleUnloadMinutes);
    if (!(minutes > 0)) return;
    this.timer = setTimeout(() => {
      if (!this.idle() || this.callsInFlight > 0) return;
      this.unload(minutes);
    }, minutes * 60_000);
  }

  /** Wraps a model call: the model is in use while it runs, and idle from its end. */
  async inUse<T>(call: () => Promise<T>): Promise<T> {
    this.callsInFlight += 1;
    clearTimeout(this.timer);
    try {
      return await call();
    } finally {
      this.callsInFlight -= 1;
      if (this.callsInFlight === 0) this.touch();
    }
  }

  /** The conversation with each of its calls counted as use. */
  wrap(conversation: ModelConversation): ModelConversation {
    return new TouchingConversation(conversation, this);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.listener.dispose();
  }
}

/**
 * A conversation that says while each of its calls uses the model (for the idle unload); whether it is lost (the
 * model was loaded again or unloaded since it opened) is the model's to say.
 */
class TouchingConversation implements ModelConversation {
  constructor(
    private readonly inner: ModelConversation,
    private readonly idle: { inUse<T>(call: () => Promise<T>): Promise<T> },
  ) {}

  get lost(): boolean {
    return this.inner.lost === true;
  }

  probe(...args: Parameters<ModelConversation["probe"]>): ReturnType<ModelConversation["probe"]> {
    return this.idle.inUse(() => this.inner.probe(...args));
  }

  chat(...args: Parameters<ModelConversation["chat"]>): ReturnType<ModelConversation["chat"]> {
    return this.idle.inUse(() => this.inner.chat(...args));
  }

  complete(...args: Parameters<ModelConversation["complete"]>): ReturnType<ModelConversation["complete"]> {
    return this.idle.inUse(() => this.inner.complete(...args));
  }

  setHistory(...args: Parameters<ModelConversation["setHistory"]>): ReturnType<ModelConversation["setHistory"]> {
    return this.idle.inUse(() => this.inner.setHistory(...args));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
