/**
 * The model worker: a separate Node process that owns node-llama-cpp, the model, its context and the GPU. A native
 * abort here (a malformed model file, a driver fault, out of memory) ends this process only; the parent reports it
 * and starts a fresh worker on its next request.
 *
 * Each job lives in its own module beside this one (GPU setup, loading, estimates, the conversation pool, turns);
 * requests are dispatched through one handler table keyed by the protocol's methods.
 */
import { WorkerError, type ChildMessage, type RequestMessage } from "../protocol.js";
import { messageOf, send, startHeartbeat } from "./channel.mjs";
import { createHandlers, dispatch, isMethod } from "./handlers.mjs";

const handlers = createHandlers();
const running = new Map<number, AbortController>();

function parentMessage(raw: unknown): RequestMessage | { type: "cancel"; id: number } | { type: "ping"; nonce: number } | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const m = raw as { type?: unknown; id?: unknown; method?: unknown; nonce?: unknown };
  if (m.type === "ping" && typeof m.nonce === "number") return { type: "ping", nonce: m.nonce };
  if (typeof m.id !== "number") return undefined;
  if (m.type === "cancel") return { type: "cancel", id: m.id };
  // The parent is this project's own typed client: a known method name carries that method's params.
  if (m.type === "request" && isMethod(handlers, m.method)) return raw as RequestMessage;
  return undefined;
}

process.on("message", (raw: unknown) => {
  const message = parentMessage(raw);
  if (!message) {
    send({ type: "log", level: "warn", message: `model worker: ignored a malformed message ${JSON.stringify(raw)?.slice(0, 200)}` });
    return;
  }
  if (message.type === "ping") {
    send({ type: "pong", nonce: message.nonce });
    return;
  }
  if (message.type === "cancel") {
    running.get(message.id)?.abort();
    return;
  }
  const controller = new AbortController();
  running.set(message.id, controller);
  const reply = (response: ChildMessage): void => send(response);
  dispatch(handlers, message, controller.signal)
    .then((result) => reply({ type: "response", id: message.id, ok: true, result }))
    .catch((error: unknown) => {
      const payload = error instanceof WorkerError ? { code: error.code, message: error.message } : { code: "internal" as const, message: messageOf(error) };
      reply({ type: "response", id: message.id, ok: false, error: payload });
    })
    .finally(() => running.delete(message.id));
});

process.on("disconnect", () => process.exit(0));
startHeartbeat();
send({ type: "ready" });
