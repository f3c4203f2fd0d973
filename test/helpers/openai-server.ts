/**
 * A stand-in OpenAI-compatible server on 127.0.0.1: a real HTTP server that answers /v1/models, /v1/chat/completions
 * and /v1/completions from a script, streamed (SSE) or not, and records every request. Tests use it for the endpoint
 * model, dataset synthesis and evaluation against "remote" models.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import { after } from "node:test";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: Record<string, unknown>;
}

export type StandInReply =
  /** A reply text; streamed in `pieces` (default: chunks of 4 characters, `pieceDelayMs` apart) when the request asks for a stream. */
  | {
      text: string;
      pieces?: string[];
      finishReason?: string;
      usage?: { prompt_tokens: number; completion_tokens: number };
      delayMs?: number;
      pieceDelayMs?: number;
    }
  /** Log-probabilities for the first token (answers a probe). */
  | { topLogprobs: { token: string; logprob: number }[] }
  /** A plain HTTP answer (an error, say). */
  | { status: number; body?: unknown; headers?: Record<string, string> }
  /** Streams `pieces`, then drops the connection. */
  | { cutAfter: string[] }
  /** Never answers (until the client gives up). */
  | { hang: true };

export type StandInHandler = (request: RecordedRequest, index: number) => StandInReply | Promise<StandInReply>;

export interface StandInServer {
  url: string;
  requests: RecordedRequest[];
  /** The most requests that were in flight at once. */
  maxInFlight: number;
  /** Requests whose connection the client closed before the answer ended, with when (Date.now()). */
  closedEarly: { path: string; at: number }[];
  close(): Promise<void>;
}

const split = (text: string, size = 4): string[] => {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces;
};

export async function startOpenAIServer(
  handler: StandInHandler,
  models: string[] = ["stand-in"],
  options: { ownedBy?: string; port?: number } = {},
): Promise<StandInServer> {
  const requests: RecordedRequest[] = [];
  const closedEarly: { path: string; at: number }[] = [];
  let inFlight = 0;
  const state = { maxInFlight: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        inFlight += 1;
        state.maxInFlight = Math.max(state.maxInFlight, inFlight);
        try {
          const raw = Buffer.concat(chunks).toString("utf8");
          const body = raw === "" ? {} : (JSON.parse(raw) as Record<string, unknown>);
          const path = (req.url ?? "").replace(/\?.*$/, "");
          const recorded: RecordedRequest = { method: req.method ?? "GET", path, headers: req.headers, body };
          if (path === "/v1/models") {
            res.writeHead(200, { "content-type": "application/json" });
            res.end(
              JSON.stringify({
                object: "list",
                data: models.map((id) => ({ id, object: "model", ...(options.ownedBy ? { owned_by: options.ownedBy } : {}) })),
              }),
            );
            return;
          }
          requests.push(recorded);
          res.on("close", () => {
            if (!res.writableEnded) closedEarly.push({ path, at: Date.now() });
          });
          const reply = await handler(recorded, requests.length - 1);
          await answer(reply, recorded, res);
        } finally {
          inFlight -= 1;
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    closedEarly,
    get maxInFlight() {
      return state.maxInFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function answer(reply: StandInReply, request: RecordedRequest, res: import("node:http").ServerResponse): Promise<void> {
  if ("hang" in reply) return new Promise<void>((resolve) => res.on("close", () => resolve()));
  if ("status" in reply) {
    res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
    res.end(reply.body === undefined ? "" : JSON.stringify(reply.body));
    return;
  }
  const chat = request.path.endsWith("/chat/completions");
  if ("topLogprobs" in reply) {
    res.writeHead(200, { "content-type": "application/json" });
    const first = reply.topLogprobs[0];
    res.end(
      JSON.stringify({
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: first?.token ?? "" },
            finish_reason: "length",
            logprobs: { content: [{ token: first?.token, logprob: first?.logprob, top_logprobs: reply.topLogprobs }] },
          },
        ],
      }),
    );
    return;
  }
  const event = (piece: string, finish: string | null): unknown =>
    chat ? { choices: [{ index: 0, delta: { content: piece }, finish_reason: finish }] } : { choices: [{ index: 0, text: piece, finish_reason: finish }] };
  if ("cutAfter" in reply) {
    res.writeHead(200, { "content-type": "text/event-stream" });
    for (const piece of reply.cutAfter) res.write(`data: ${JSON.stringify(event(piece, null))}\n\n`);
    await new Promise((r) => setTimeout(r, 20));
    res.destroy();
    return;
  }
  if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
  const finish = reply.finishReason ?? "stop";
  const usage = reply.usage ?? { prompt_tokens: 10, completion_tokens: reply.text.length };
  if (request.body.stream === true) {
    res.writeHead(200, { "content-type": "text/event-stream" });
    const pieces = reply.pieces ?? split(reply.text);
    for (const piece of pieces) {
      if (res.destroyed) return;
      res.write(`data: ${JSON.stringify(event(piece, null))}\n\n`);
      if (reply.pieceDelayMs) await new Promise((r) => setTimeout(r, reply.pieceDelayMs));
    }
    if (res.destroyed) return;
    res.write(`data: ${JSON.stringify(event("", finish))}\n\n`);
    res.write(`data: ${JSON.stringify({ choices: [], usage })}\n\n`);
    res.end("data: [DONE]\n\n");
    return;
  }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      choices: [
        chat ? { index: 0, message: { role: "assistant", content: reply.text }, finish_reason: finish } : { index: 0, text: reply.text, finish_reason: finish },
      ],
      usage,
    }),
  );
}

/** For a test file: a `serve` that starts stand-ins as startOpenAIServer does and closes them all after the file's tests. */
export function standInServers(): (...args: Parameters<typeof startOpenAIServer>) => Promise<StandInServer> {
  const servers: StandInServer[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });
  return async (...args) => {
    const server = await startOpenAIServer(...args);
    servers.push(server);
    return server;
  };
}
