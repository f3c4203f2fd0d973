/**
 * `npm run bench:served`: a served model, through our endpoint client (the path `chat`, the extension, `synth` and
 * `eval` take) against a direct client (fetch and an SSE parser, nothing else), on the same server, the same request,
 * in one run: time to the first token, and tokens per second while streaming.
 *
 * The server is real: an OpenAI-compatible /v1/chat/completions on 127.0.0.1 that streams what node-llama-cpp
 * generates from a GGUF (SmolLM2 from the catalog, or the generated tiny model with `--models tiny`), at temperature 0
 * so both clients receive the same tokens. Ours and direct take turns run by run, so a busy moment lands on both.
 */
import { mkdirSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createParser } from "eventsource-parser";
import { EndpointModel } from "../src/llm/models/endpoint.js";
import { ensureDemoModel } from "../src/llm/hub/library.js";
import { writeTinyModel } from "../src/llm/gguf/tiny-model.js";
import { physicalCores } from "../src/llm/hardware/cpu.js";
import { median } from "./timing.js";

const { values: flags } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    models: { type: "string", default: "smollm2" },
    "max-tokens": { type: "string", default: "128" },
    threads: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  process.stdout.write("npm run bench:served -- [--runs N (5)] [--models smollm2|tiny] [--max-tokens N (128)] [--threads N]\n");
  process.exit(0);
}
const runs = Number(flags.runs);
const maxTokens = Number(flags["max-tokens"]);
const threads = flags.threads ? Number(flags.threads) : physicalCores();
const messages = [{ role: "user" as const, content: "Write a Python function that removes duplicates from a list, keeping the first occurrence." }];

/** Serves one GGUF over the OpenAI chat API, streamed, one request at a time. */
async function serveModel(modelPath: string): Promise<{ url: string; close: () => Promise<void> }> {
  const nlc = await import("node-llama-cpp");
  const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: nlc.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: 2048, threads });
  const sequence = context.getSequence();
  let queue = Promise.resolve();
  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { messages?: { content: string }[]; max_tokens?: number };
    if (req.url === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ data: [{ id: path.basename(modelPath), owned_by: "bench" }] }));
      return;
    }
    const session = new nlc.LlamaChatSession({ contextSequence: sequence, autoDisposeSequence: false });
    res.writeHead(200, { "content-type": "text/event-stream" });
    const abort = new AbortController();
    res.on("close", () => abort.abort());
    const send = (data: unknown): boolean => res.write(`data: ${JSON.stringify(data)}\n\n`);
    let tokens = 0;
    try {
      await session.prompt(body.messages?.at(-1)?.content ?? "", {
        maxTokens: body.max_tokens ?? 128,
        temperature: 0,
        signal: abort.signal,
        stopOnAbortSignal: true,
        onToken: (t) => {
          tokens += t.length;
        },
        onTextChunk: (text) => send({ choices: [{ index: 0, delta: { content: text }, finish_reason: null }] }),
      });
    } finally {
      session.dispose();
      await sequence.clearHistory();
    }
    send({ choices: [{ index: 0, delta: {}, finish_reason: "length" }] });
    send({ choices: [], usage: { prompt_tokens: 0, completion_tokens: tokens } });
    res.end("data: [DONE]\n\n");
  };
  const server = createServer((req, res) => {
    queue = queue
      .then(() => answer(req, res))
      .catch((error: unknown) => {
        res.destroy(error as Error);
      });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await model.dispose();
    },
  };
}

interface Sample {
  firstTokenMs: number;
  tokensPerSecond: number;
  tokens: number;
}

/** The direct client: one streamed request, read with the SSE parser and nothing else. */
async function direct(url: string): Promise<Sample> {
  const start = performance.now();
  let first = NaN;
  let last = start;
  let tokens = 0;
  const response = await fetch(`${url}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "m", messages, max_tokens: maxTokens, temperature: 0, stream: true }),
  });
  const parser = createParser({
    onEvent: (event) => {
      if (event.data === "[DONE]") return;
      const data = JSON.parse(event.data) as { choices?: { delta?: { content?: string } }[]; usage?: { completion_tokens?: number } };
      if (data.choices?.[0]?.delta?.content) {
        last = performance.now();
        if (Number.isNaN(first)) first = last;
      }
      if (data.usage?.completion_tokens) tokens = data.usage.completion_tokens;
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of response.body ?? []) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
  return { firstTokenMs: first - start, tokensPerSecond: tokens / ((last - first) / 1000), tokens };
}

/** Ours: a chat turn through the endpoint model, as the engine runs it. */
async function ours(model: EndpointModel): Promise<Sample> {
  const conversation = await model.openConversation({ mode: "chat" });
  const start = performance.now();
  let first = NaN;
  let last = start;
  const result = await conversation.chat(messages[0]?.content ?? "", {
    maxTokens,
    temperature: 0,
    onChunk: () => {
      last = performance.now();
      if (Number.isNaN(first)) first = last;
    },
  });
  await conversation.close();
  return { firstTokenMs: first - start, tokensPerSecond: result.outputTokens / ((last - first) / 1000), tokens: result.outputTokens };
}

async function main(): Promise<void> {
  const dir = path.join(os.tmpdir(), "clarifycoder-bench");
  mkdirSync(dir, { recursive: true });
  let modelPath: string;
  if (flags.models === "tiny") {
    modelPath = path.join(dir, "tiny.gguf");
    await writeTinyModel(modelPath);
  } else {
    const found = await ensureDemoModel(path.join(dir, "models"));
    if ("unavailable" in found) throw new Error(found.unavailable);
    modelPath = found.path;
  }
  const server = await serveModel(modelPath);
  const model = new EndpointModel({ baseUrl: server.url, model: "m" });
  try {
    await direct(server.url); // warm-up: the first request pays for loading weights into the caches
    const a: Sample[] = [];
    const b: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      a.push(await ours(model));
      b.push(await direct(server.url));
    }
    const fmt = (n: number, d = 0): string => n.toFixed(d);
    const firstOurs = median(a.map((s) => s.firstTokenMs));
    const firstDirect = median(b.map((s) => s.firstTokenMs));
    const rateRatios = a.map((s, i) => s.tokensPerSecond / (b[i]?.tokensPerSecond ?? NaN));
    process.stdout.write(
      [
        `served ${path.basename(modelPath)} on 127.0.0.1, ${threads} threads, ${maxTokens} tokens, ${runs} runs (median)`,
        "| row | first token, ours | first token, direct | tokens/s, ours | tokens/s, direct | ours/direct (range) |",
        "| --- | --- | --- | --- | --- | --- |",
        `| served ${flags.models} | ${fmt(firstOurs)} ms | ${fmt(firstDirect)} ms | ${fmt(median(a.map((s) => s.tokensPerSecond)), 1)} | ${fmt(median(b.map((s) => s.tokensPerSecond)), 1)} | ${fmt(median(rateRatios), 2)}x (${fmt(Math.min(...rateRatios), 2)}-${fmt(Math.max(...rateRatios), 2)}) |`,
        "",
      ].join("\n"),
    );
  } finally {
    await server.close();
  }
}

void main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
