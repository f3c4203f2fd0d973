import assert from "node:assert/strict";
import { it } from "node:test";
import { physicalCores } from "../../src/llm/hardware/cpu.js";
import { checkModel } from "../../src/llm/gguf/check.js";
import { magicProblem, type GgufEntry } from "../../src/llm/gguf/reader.js";
import { gpuFromOption } from "../../src/cli/shared/options.js";
import { readLoadSettings } from "../../src/llm/models/load-settings.js";
import { chatCommands, readAnswer, readChatLine, turnEnding } from "../../src/cli/commands/chat.js";

it("physicalCores counts distinct cores, not hyper-threads", () => {
  const ht = [
    "physical id\t: 0",
    "core id\t\t: 0",
    "",
    "physical id\t: 0",
    "core id\t\t: 0",
    "",
    "physical id\t: 0",
    "core id\t\t: 1",
    "",
    "physical id\t: 0",
    "core id\t\t: 1",
  ].join("\n");
  assert.equal(physicalCores(ht), 2);
  const twoSockets = ["physical id\t: 0", "core id\t: 0", "physical id\t: 1", "core id\t: 0"].join("\n");
  assert.equal(physicalCores(twoSockets), 2);
  assert.ok(physicalCores("no cores listed") >= 1);
});

it("checkModel names the keys whose absence would abort llama.cpp", () => {
  const meta = (entries: Record<string, GgufEntry["value"]>) => ({
    metadata: new Map(
      Object.entries(entries).map(([k, v]): [string, GgufEntry] => [k, { type: typeof v === "string" ? "string" : "uint32", value: v } as GgufEntry]),
    ),
  });
  const good = {
    "general.architecture": "llama",
    "llama.context_length": 4096,
    "llama.block_count": 2,
    "llama.embedding_length": 64,
    "llama.feed_forward_length": 128,
    "llama.attention.head_count": 4,
  };
  assert.equal(checkModel(meta(good)), undefined);
  const { "llama.feed_forward_length": _ff, "llama.attention.head_count": _h, ...without } = good;
  assert.equal(checkModel(meta(without)), "it is missing llama.feed_forward_length, llama.attention.head_count.");
  assert.match(checkModel(meta({})) ?? "", /no general\.architecture/);
  assert.match(checkModel(meta({ "general.architecture": "llama", "general.type": "adapter" })) ?? "", /adapter/);
  assert.equal(checkModel(meta({ "general.architecture": "mamba" })), undefined);
});

it("the CLI reads answers: a number picks a suggestion, an empty line waives", () => {
  const question = { id: "q", round: 1, text: "Order?", suggestions: ["ascending", "descending"] };
  assert.deepEqual(readAnswer("2", question), { answer: "descending" });
  assert.deepEqual(readAnswer("7", question), { answer: "7" });
  assert.deepEqual(readAnswer("  ", question), { waive: true });
  assert.deepEqual(readAnswer(undefined, question), { waive: true });
  assert.deepEqual(readAnswer("you decide", question), { waive: true });
  assert.deepEqual(readAnswer(" stable ", question), { answer: "stable" });
  assert.equal(gpuFromOption(undefined), "auto");
  assert.equal(gpuFromOption("cpu"), false);
  assert.equal(gpuFromOption("none"), false);
  assert.equal(gpuFromOption("vulkan"), "vulkan");
  assert.throws(() => gpuFromOption("tpu"), /--gpu: the GPU must be one of auto, cuda, vulkan, metal, cpu, not "tpu"/);
  // The extension's settings read by the same rules: a bad value is told and replaced by its default.
  const { load, problems } = readLoadSettings({ gpu: "tpu", gpuLayers: "12", threads: 4, contextSize: 0, lora: ["a.gguf", " ", 3] });
  assert.deepEqual(load, { gpu: "auto", gpuLayers: 12, threads: 4, lora: [{ filePath: "a.gguf" }] });
  assert.equal(problems.length, 1);
  assert.match(problems[0] ?? "", /not "tpu"; using auto/);
  assert.match(readLoadSettings({ threads: -1 }).problems[0] ?? "", /threads must be an integer from 0 to 1024/);
});

it("magicProblem names a file's first bytes in hex, never as text", () => {
  assert.equal(magicProblem(new TextEncoder().encode("GGUF\x03")), undefined);
  assert.equal(
    magicProblem(new Uint8Array([0xd1, 0x90, 0xef, 0x67, 0x00])),
    'it is not a GGUF file: a GGUF file starts with the bytes 0x47 0x47 0x55 0x46 ("GGUF"), this one with 0xd1 0x90 0xef 0x67',
  );
  assert.equal(magicProblem(new Uint8Array([0x47, 0x47])), "it is too short to be a GGUF file (2 bytes: 0x47 0x47)");
});

it("the terminal chat reads a line as a message, a command (with its argument) or an unknown command", () => {
  assert.deepEqual(readChatLine("  now add tests "), { message: "now add tests" });
  assert.deepEqual(readChatLine("/regenerate noask"), { command: { name: "regenerate", argument: "noask" } });
  assert.deepEqual(readChatLine("/EDIT parse a date\nin UTC"), { command: { name: "edit", argument: "parse a date\nin UTC" } });
  assert.deepEqual(readChatLine("/retry"), { command: { name: "regenerate", argument: "" } });
  assert.deepEqual(readChatLine("/exit"), { command: { name: "quit", argument: "" } });
  assert.deepEqual(readChatLine("/frobnicate"), { unknown: "frobnicate" });
  assert.deepEqual(readChatLine("a/b"), { message: "a/b" });
  assert.ok(Object.keys(chatCommands).includes("continue"));
});

it("after a turn the terminal says how it ended and what Continue would do", () => {
  const base = { id: "s", request: "x", context: {}, questions: [], rounds: 0, assumptions: [], codeBlocks: [], createdAt: 0, updatedAt: 0 };
  assert.equal(turnEnding({ ...base, state: "cancelled", answer: "```py\nx", answerRequested: true }), "\n(stopped: /continue writes the rest)");
  assert.equal(turnEnding({ ...base, state: "cancelled", answer: "" }), "\n(stopped)");
  assert.equal(
    turnEnding({ ...base, state: "done", answer: "x", answerRequested: true, hitLimit: true }),
    "\n(it stopped at the length limit: /continue writes the rest)",
  );
  assert.equal(turnEnding({ ...base, state: "done", answer: "x" }), "");
});
