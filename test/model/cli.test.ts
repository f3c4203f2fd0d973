/** `clarifycoder chat` as a user or a script runs it: the built CLI in its own process, on the tiny model. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { before, it } from "node:test";
import { writeTinyModel } from "../fixtures/tiny-model.js";
import { cli as runCli } from "../helpers/cli.js";
import { repoRoot, tempDir } from "../helpers/worker.js";

let tiny: string;
before(async () => {
  tiny = path.join(await tempDir("clarifycoder-cli-"), "tiny.gguf");
  await writeTinyModel(tiny);
});

const cli = (args: string[], input: string) => runCli(args, input);

it("--json: questions out, answers in (one per line, empty = you decide), then the code streams", async () => {
  const { code, stdout, stderr } = await cli(
    ["chat", "--json", "-m", tiny, "--gpu", "cpu", "--threads", "1", "--ask", "always", "--max-rounds", "1", "--max-tokens", "24", "pad a string"],
    "left\n\n\n",
  );
  assert.equal(code, 0, stderr);
  const events = stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
  const types = events.map((e) => e.type);
  assert.ok(types.indexOf("model") >= 0 && types.slice(0, types.indexOf("model")).every((t) => t === "progress"), "load progress, then the model");
  assert.ok(types.includes("questions"));
  assert.ok(types.indexOf("chunk") > types.indexOf("questions"), "code comes after the questions");
  const done = events.at(-1) as { type: string; state: string; answer: string; codeBlocks: unknown[] };
  assert.equal(done.type, "done");
  assert.equal(done.state, "done");
  const streamed = events
    .filter((e) => e.type === "chunk")
    .map((e) => e.text)
    .join("");
  assert.equal(streamed, done.answer);
  assert.ok(done.answer.startsWith("```"));
});

it("hardware reports the backend it would use, as text and as JSON", async () => {
  const text = await cli(["hardware", "--gpu", "cpu"], "");
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^Backend: CPU\nCPU: \d+ physical cores, \d+ logical; \d+ threads by default\n$/);
  const json = await cli(["hardware", "--json"], "");
  assert.equal(json.code, 0, json.stderr);
  const info = JSON.parse(json.stdout) as { backend: string; cpuCores: number; threads: number };
  assert.ok(["cpu", "cuda", "vulkan", "metal"].includes(info.backend));
  assert.equal(info.threads, info.cpuCores);
});

it("a model file that does not exist is a clear error and a non-zero exit", async () => {
  const { code, stderr } = await cli(["chat", "-m", path.join(repoRoot, "nope.gguf"), "--gpu", "cpu", "x"], "");
  assert.equal(code, 1);
  assert.match(stderr, /nope\.gguf does not exist/);
});

it("an option out of its range is refused with the range, exit code 2, before anything is loaded", async () => {
  const cases: [string[], RegExp][] = [
    [["--max-tokens", "8"], /option '--max-tokens <n>' argument '8' is invalid\. It must be an integer from 16 to 32768\./],
    [["--max-questions", "0"], /'--max-questions <n>' argument '0' is invalid\. It must be an integer from 1 to 10\./],
    [["--max-rounds", "1.5"], /It must be an integer from 1 to 5\./],
    [["--threshold", "2"], /'--threshold <p>' argument '2' is invalid\. It must be a number from 0 to 1\./],
    [["--threads", "-1"], /It must be an integer from 0 to 1024\./],
    [["--context-size", "lots"], /It must be an integer from 0 to 1048576\./],
    [["--gpu", "tpu"], /Allowed choices are auto, cuda, vulkan, metal, cpu\./],
    [["--gpu-layers", "half"], /'--gpu-layers <n>' argument 'half' is invalid\. GPU layers must be auto, max or a whole number/],
    [["--ask", "sometimes"], /Allowed choices are auto, always, never\./],
  ];
  for (const [option, message] of cases) {
    const { code, stdout, stderr } = await cli(["chat", "--json", "-m", tiny, ...option, "x"], "");
    assert.equal(code, 2, `${option.join(" ")}: ${stderr}`);
    assert.match(stderr, message);
    assert.equal(stdout, "", "nothing ran");
  }
});

it("a closed output (chat ... | head) ends the program quietly", async () => {
  const shell = spawn(
    "bash",
    [
      "-c",
      `"$0" "$1" chat -m "$2" --gpu cpu --threads 1 --ask never --max-tokens 4000 "pad a string" | head -n 2; echo "status=\${PIPESTATUS[0]}" >&2`,
      process.execPath,
      path.join(repoRoot, "bin/clarifycoder.js"),
      tiny,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  shell.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  shell.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  await new Promise((resolve) => shell.on("close", resolve));
  assert.equal(stdout.split("\n").filter(Boolean).length, 2, "head took its two lines");
  assert.equal(stderr.trim(), "status=0", `the chat ended quietly: ${stderr}`);
});

type JsonEvent = { type: string; [k: string]: unknown };
const eventsOf = (stdout: string): JsonEvent[] =>
  stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JsonEvent);
const tinyArgs = (): string[] => ["-m", tiny, "--gpu", "cpu", "--threads", "1"];

it("--json: every run ends with exactly one done or error event; a fatal error is an error event, not a warning", async () => {
  const missing = await cli(["chat", "--json", "-m", path.join(repoRoot, "nope.gguf"), "--gpu", "cpu", "x"], "");
  assert.equal(missing.code, 1);
  const events = eventsOf(missing.stdout);
  assert.deepEqual(
    events.map((e) => e.type).filter((t) => t === "done" || t === "error"),
    ["error"],
  );
  assert.equal(events.at(-1)?.type, "error");
  assert.match(String(events.at(-1)?.message), /nope\.gguf does not exist/);
  assert.equal(
    events.some((e) => e.type === "warning"),
    false,
  );
});

it("an empty request is refused at once, before any model is loaded; --json with no request says what it waits for", async () => {
  const started = Date.now();
  const empty = await cli(["chat", "--json", ...tinyArgs(), ""], "");
  assert.equal(empty.code, 2);
  assert.deepEqual(eventsOf(empty.stdout), [{ type: "error", message: "The request is empty: say what to write." }]);
  assert.ok(Date.now() - started < 5_000, "at once");
  const text = await cli(["chat", ...tinyArgs(), "   "], "");
  assert.equal(text.code, 2);
  assert.match(text.stderr, /The request is empty/);
  // No request argument: it is read from stdin, and the events say so before waiting for it.
  const none = await cli(["chat", "--json", ...tinyArgs()], "");
  assert.equal(none.code, 2);
  const events = eventsOf(none.stdout);
  assert.deepEqual(events.slice(-2), [
    { type: "input", expect: "request" },
    { type: "error", message: "No request given: say what to write." },
  ]);
});

it("the terminal chat stays open: follow-ups, /continue, /regenerate and /edit in the same conversation, until the input ends", async () => {
  const { code, stdout, stderr } = await cli(
    ["chat", ...tinyArgs(), "--ask", "never", "--max-tokens", "16", "pad a string"],
    "now pad on the right\n/continue\n/regenerate noask\n/edit pad a string on the left\n/bogus\n/continue please\n",
  );
  assert.equal(code, 0, stderr);
  const answers = stdout.split("(it stopped at the length limit: /continue writes the rest)");
  assert.equal(answers.length - 1, 6, `six answers, each stopped at the limit of 16 tokens:\n${stdout}`);
  assert.equal(
    stdout.match(/Thinking about the request\.\.\./g)?.length,
    4,
    "the first turn, the follow-up, the regenerated turn and the edited one are assessed",
  );
  assert.match(stderr, /There is no \/bogus: \/help lists the commands\./);
});

it("a piped conversation: /quit leaves, and a refused command says why and stays", async () => {
  const { code, stdout, stderr } = await cli(
    ["chat", ...tinyArgs(), "--ask", "never", "--max-tokens", "16", "pad a string"],
    "/help\n/new\n/continue\n/quit\nnever read\n",
  );
  assert.equal(code, 0, stderr);
  assert.match(stdout, /\/regenerate {2}write the last answer again/);
  assert.match(stdout, /A new conversation: what should I write\?/);
  assert.match(stderr, /There is no stopped answer to continue\./);
  assert.equal(stdout.match(/Thinking about the request/g)?.length, 1, "nothing after /quit");
});

it("in a real terminal the first Ctrl+C stops the answer, and the chat stays open for the next message", async (t) => {
  const command = [
    process.execPath,
    path.join(repoRoot, "bin/clarifycoder.js"),
    "chat",
    ...tinyArgs(),
    "--ask",
    "never",
    "--max-tokens",
    "32768",
    "pad a string",
  ]
    .map((a) => `'${a.replace(/'/g, "'\\''")}'`)
    .join(" ");
  // script(1) runs the chat on a pseudo-terminal: readline is in raw mode there, as for a user at a keyboard.
  const child = spawn("script", ["-qefc", command, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
  t.after(() => child.kill("SIGKILL"));
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const until = async (pattern: RegExp, what: string): Promise<void> => {
    for (let i = 0; i < 600 && !pattern.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(out, pattern, `waiting for ${what}:\n${out}`);
  };
  await until(/(What size\?.*){3}/s, "the answer to stream");
  child.stdin.write("\x03");
  await until(/\(stopped: \/continue writes the rest\)/, "the first Ctrl+C to stop it");
  assert.match(out, /Stopping\.\.\. \(Ctrl\+C again to quit\)/);
  // readline draws its prompt with cursor movements: "> " at the start of a line, maybe wrapped in escape codes.
  const escape = String.fromCharCode(27);
  await until(new RegExp(`\\n(${escape}\\[[0-9;]*[A-Za-z])*> (${escape}\\[[0-9;]*[A-Za-z])*$`), "the prompt for the next message");
  child.stdin.write("\x04");
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 0, out);
});

it("a model to download says Downloading at once, before the first byte arrives", async (t) => {
  const server = http.createServer(() => undefined); // accepts, never answers
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}/models/slow.gguf`;
  const child = spawn(
    process.execPath,
    [path.join(repoRoot, "bin/clarifycoder.js"), "chat", "-m", url, "--gpu", "cpu", "--models-dir", path.join(path.dirname(tiny), "dl"), "x"],
    {
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const started = Date.now();
  while (!stderr.includes("Downloading") && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 50));
  child.kill("SIGKILL");
  assert.match(stderr, new RegExp(`^Downloading ${url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\.\\.\\.$`, "m"));
  assert.ok(Date.now() - started < 10_000);
});
