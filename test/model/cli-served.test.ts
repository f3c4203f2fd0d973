/**
 * `clarifycoder chat --model http://127.0.0.1:PORT/v1#name`: a whole clarify conversation with a served model, for
 * each kind of server users run (stand-ins on loopback, test/helpers/served-kinds.ts), the API key from
 * CLARIFYCODER_API_KEY sent; and each server failure a sentence that says what to do.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { cli } from "../helpers/cli.js";
import { startOpenAIServer, type RecordedRequest, type StandInReply, type StandInServer } from "../helpers/openai-server.js";
import { servedCode, servedQuestion, startServedKind, type ServedKind } from "../helpers/served-kinds.js";

const servers: StandInServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

type Event = { type: string; [k: string]: unknown };
const eventsOf = (stdout: string): Event[] =>
  stdout
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Event);

describe("chat with a served model, for each kind of server", () => {
  for (const kind of ["llama.cpp", "vLLM", "Ollama"] as ServedKind[]) {
    it(`${kind}: asks, takes the answer, streams the code; the key is sent`, async () => {
      const server = await startServedKind(kind, ["qwen2.5-coder-1.5b", "other"]);
      servers.push(server);
      const { code, stdout, stderr } = await cli(
        ["chat", "--json", "--model", `${server.url}#qwen2.5-coder-1.5b`, "--max-rounds", "1", "remove duplicates from a list"],
        "yes\n",
        {
          CLARIFYCODER_API_KEY: "sk-test-123",
          OPENAI_API_KEY: "",
        },
      );
      assert.equal(code, 0, stderr);
      const events = eventsOf(stdout);
      const model = events.find((e) => e.type === "model");
      assert.deepEqual(model, { type: "model", name: `qwen2.5-coder-1.5b at ${server.url}`, where: `served at ${new URL(server.url).host}` });
      const questions = events.find((e) => e.type === "questions")?.questions as { text: string }[] | undefined;
      assert.equal(questions?.[0]?.text, servedQuestion);
      const done = events.at(-1) as { type: string; state: string; codeBlocks: { code: string }[] };
      assert.equal(done.type, "done");
      assert.equal(done.state, "done");
      assert.equal(done.codeBlocks[0]?.code, servedCode);
      const streamed = events
        .filter((e) => e.type === "chunk")
        .map((e) => e.text)
        .join("");
      assert.ok(streamed.includes(servedCode), streamed);
      assert.ok(server.requests.length >= 3);
      for (const r of server.requests) assert.equal(r.headers.authorization, "Bearer sk-test-123", r.path);
      assert.ok(server.requests.every((r) => r.body.model === "qwen2.5-coder-1.5b"));
      // The answer reached the model in the code request.
      const last = server.requests.at(-1)?.body.messages as { content: string }[];
      assert.ok(last.some((m) => m.content.includes("yes")));
      // Without log-probabilities (Ollama), the user is told how the decision is made instead.
      const warned = events.filter((e) => e.type === "warning").map((e) => String(e.message));
      if (kind === "Ollama")
        assert.ok(
          warned.some((w) => /gives no token probabilities .* the model itself chooses to ask or go ahead/.test(w)),
          warned.join("\n"),
        );
      else assert.deepEqual(warned, []);
    });
  }
});

describe("chat decides by readings where it can run Python (the default)", () => {
  /** A coder whose candidates (seeds 1-3) agree, or disagree on how dedupe orders its result. */
  const coderOf =
    (agree: boolean) =>
    (req: RecordedRequest): StandInReply => {
      const body = req.body as {
        response_format?: { json_schema?: { schema?: { properties?: Record<string, unknown> } } };
        seed?: number;
        messages?: { role: string; content: string }[];
      };
      if (body.response_format?.json_schema?.schema?.properties?.calls) return { text: JSON.stringify({ calls: ["dedupe([3, 1, 3, 2])"] }) };
      if (body.response_format) return { text: JSON.stringify({ decision: "proceed", assumptions: ["Python 3"] }) };
      const sorted = !agree && body.seed === 2;
      const code = sorted ? "def dedupe(xs):\n    return sorted(set(xs))" : "def dedupe(xs):\n    return list(dict.fromkeys(xs))";
      const prefill = body.messages?.at(-1)?.role === "assistant" ? (body.messages.at(-1)?.content ?? "") : "";
      const full = `\`\`\`python\n${code}\n\`\`\``;
      return { text: prefill && full.startsWith(prefill) ? full.slice(prefill.length) : full };
    };

  it("candidates that agree: the answer at once, no question", async () => {
    const server = await startOpenAIServer(coderOf(true), ["coder"]);
    servers.push(server);
    const { code, stdout, stderr } = await cli(
      ["chat", "--json", "--model", `${server.url}#coder`, "--language", "python", "write dedupe(xs): remove duplicates from a list"],
      "",
    );
    assert.equal(code, 0, stderr);
    const events = eventsOf(stdout);
    assert.equal(
      events.some((e) => e.type === "questions"),
      false,
    );
    const done = events.at(-1) as unknown as { state: string; codeBlocks: { code: string }[] };
    assert.equal(done.state, "done");
    assert.equal(done.codeBlocks[0]?.code, "def dedupe(xs):\n    return list(dict.fromkeys(xs))");
    assert.deepEqual(
      server.requests.filter((r) => r.body.seed !== undefined).map((r) => r.body.seed),
      [1, 2, 3],
      "three candidates",
    );
    assert.equal(
      server.requests.some((r) => r.body.logprobs),
      false,
      "no probe",
    );
  });

  it("candidates that disagree on a call: that call is the question, their results the suggestions", async () => {
    const server = await startOpenAIServer(coderOf(false), ["coder"]);
    servers.push(server);
    const { code, stdout, stderr } = await cli(
      ["chat", "--json", "--model", `${server.url}#coder`, "--language", "python", "--max-rounds", "1", "write dedupe(xs): remove duplicates from a list"],
      "1\n",
    );
    assert.equal(code, 0, stderr);
    const events = eventsOf(stdout);
    const questions = events.find((e) => e.type === "questions")?.questions as { text: string; suggestions: string[] }[] | undefined;
    assert.match(questions?.[0]?.text ?? "", /dedupe\(\[3, 1, 3, 2\]\)/);
    assert.deepEqual([...(questions?.[0]?.suggestions ?? [])].sort(), ["[1, 2, 3]", "[3, 1, 2]"]);
    assert.equal((events.at(-1) as unknown as { state: string }).state, "done");
  });

  it("--decide probe: the model's probability decides, as before", async () => {
    const server = await startServedKind("llama.cpp");
    servers.push(server);
    const { code, stdout, stderr } = await cli(
      ["chat", "--json", "--model", server.url, "--language", "python", "--decide", "probe", "--max-rounds", "1", "remove duplicates"],
      "yes\n",
    );
    assert.equal(code, 0, stderr);
    assert.ok(server.requests.some((r) => r.body.logprobs));
    assert.ok(eventsOf(stdout).some((e) => e.type === "questions"));
  });
});

describe("a served model's failures, in the terminal", () => {
  it("a model name the server does not serve names the ones it does", async () => {
    const server = await startServedKind("vLLM", ["Qwen/Qwen2.5-Coder-7B-Instruct"]);
    servers.push(server);
    const { code, stderr } = await cli(["chat", "--model", `${server.url}#qwen-7b`, "--ask", "never", "sort a list"], "");
    assert.equal(code, 1);
    assert.match(
      stderr,
      new RegExp(`serves no model named "qwen-7b"; it serves "Qwen/Qwen2.5-Coder-7B-Instruct". Name one of them \\(append #name to the address\\)`),
    );
  });

  it("nothing listening is said so, with the address", async () => {
    const server = await startServedKind("llama.cpp");
    await server.close();
    const { code, stderr } = await cli(["chat", "--model", server.url, "--ask", "never", "sort a list"], "");
    assert.equal(code, 1);
    assert.match(stderr, /Could not reach http:\/\/127\.0\.0\.1:\d+\/v1\/models: nothing is listening there \(is the server running\?\)\./);
  });
});
