/** The worker's handler table: one handler per protocol method, checked against `WorkerMethods` by the compiler. */
import { crashHookEnv, WorkerError, type Method, type RequestMessage, type ResultOf } from "../protocol.js";
import { requestContext, type HandlerTable } from "./channel.mjs";
import { ConversationPool } from "./conversations.mjs";
import { estimateModels } from "./estimate.mjs";
import { Backends } from "./gpu.mjs";
import { ModelHost } from "./load.mjs";
import { Turns } from "./turns.mjs";

export function createHandlers(): HandlerTable {
  const backends = new Backends();
  const host = new ModelHost(backends);
  const pool = new ConversationPool(host);
  const turns = new Turns(backends, host, pool);
  return {
    hardware: (params) => backends.hardware(params, host.loaded !== undefined),
    load: (params, request) => host.load(params, request),
    unload: async () => ({ unloaded: await host.unload() }),
    openConversation: (params) => pool.open(params),
    closeConversation: (params) => pool.close(params),
    probe: (params, request) => turns.probe(params, request),
    chat: (params, request) => turns.chat(params, request),
    complete: (params, request) => turns.complete(params, request),
    setHistory: (params) => turns.setHistory(params),
    usage: (params) => turns.usage(params),
    tokenize: (params) => turns.tokenize(params),
    estimate: (params, request) => estimateModels(backends, params, host.loaded !== undefined, request),
    crash: async (params, request) => {
      if (process.env[crashHookEnv] !== "1") throw new WorkerError("bad-request", `crash is a test hook: the worker takes it only with ${crashHookEnv}=1.`);
      if (params.loadUnchecked) {
        request.phase(`loading ${params.loadUnchecked} without the file checks`);
        const l = await backends.ensure(backends.choice ?? false, host.loaded !== undefined);
        await backends.loadModel(l, { modelPath: params.loadUnchecked }).catch(() => undefined);
      }
      process.abort();
    },
  };
}

export function isMethod(handlers: HandlerTable, name: unknown): name is Method {
  return typeof name === "string" && Object.prototype.hasOwnProperty.call(handlers, name);
}

/** Runs a request's handler: the method and its params are checked together, with no cast. */
export async function dispatch<M extends Method>(handlers: HandlerTable, message: RequestMessage<M>, signal: AbortSignal): Promise<ResultOf<M>> {
  return handlers[message.method](message.params, requestContext(message.id, signal));
}
