/**
 * The worker's side of the IPC channel: messages to the parent, the context a request handler gets (its id, its
 * cancellation signal, its typed events, its phase), the handler table's type, and the heartbeat the parent's
 * watchdog listens to.
 */
import type { ChildMessage, EventOf, Method, ParamsOf, ResultOf } from "../protocol.js";

export function send(message: ChildMessage, then?: () => void): void {
  if (process.send) process.send(message, () => then?.());
  else then?.();
}

export function log(level: "warn" | "error" | "info", message: string): void {
  send({ type: "log", level, message });
}

/** What a handler gets besides its params. */
export interface RequestContext<M extends Method> {
  id: number;
  signal: AbortSignal;
  /** Streams one of the method's events to the caller. */
  emit(event: EventOf<M>): void;
  /** Says what the request is doing now, in words: a crash report names the phase it died in. */
  phase(phase: string): void;
}

type Handler<M extends Method> = (params: ParamsOf<M>, request: RequestContext<M>) => Promise<ResultOf<M>> | ResultOf<M>;

/** One handler per method, checked by the compiler: a missing method or a wrong params/result type does not build. */
export type HandlerTable = { [M in Method]: Handler<M> };

export function requestContext<M extends Method>(id: number, signal: AbortSignal): RequestContext<M> {
  return {
    id,
    signal,
    emit: (event) => {
      noteProgress();
      send({ type: "event", id, event });
    },
    phase: (phase) => {
      noteProgress();
      send({ type: "phase", id, phase });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Heartbeat: the parent fails a request whose worker is silent (stopped, wedged) or makes no progress (a hung driver).

let progressMarks = 0;
const progressProbes: (() => number)[] = [];

/** Marks that work moved forward (an event, a phase, bytes read). */
export function noteProgress(): void {
  progressMarks += 1;
}

/** A number that grows while work moves forward (a token meter), read at every heartbeat. */
export function watchProgress(probe: () => number): void {
  progressProbes.push(probe);
}

export function startHeartbeat(everyMs = 1000): void {
  let last = -1;
  const timer = setInterval(() => {
    const now = progressMarks + progressProbes.reduce((sum, probe) => sum + probe(), 0);
    send({ type: "alive", progressed: now !== last });
    last = now;
  }, everyMs);
  timer.unref();
}

// ---------------------------------------------------------------------------------------------------------------

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
