import assert from "node:assert/strict";
import { it } from "node:test";
import { physicalCores } from "../../src/llm/cpu.js";
import { checkMagic, checkModelMetadata } from "../../src/llm/gguf-check.js";
import { chatCommands, gpuChoice, readAnswer, readChatLine, turnEnding } from "../../src/cli/chat.js";

it("physicalCores counts distinct cores, not hyper-threads", () => {
  const ht = ["physical id\t: 0", "core id\t\t: 0", "", "physical id\t: 0", "core id\t\t: 0", "", "physical id\t: 0", "core id\t\t: 1", "", "physical id\t: 0", "core id\t\t: 1"].join("\n");
  assert.equal(physicalCores(ht), 2);
  const twoSockets = ["physical id\t: 0", "core id\t: 0", "physical id\t: 1", "core id\t: 0"].join("\n");
  assert.equal(physicalCores(twoSockets), 2);
  assert.ok(physicalCores("no cores listed") >= 1);
});

it("checkModelMetadata names the keys whose absence would abort llama.cpp", () => {
  const good = { general: { architecture: "llama" }, llama: { block_count: 2, embedding_length: 64, feed_forward_length: 128, attention: { head_count: 4 } } };
  assert.equal(checkModelMetadata(good), undefined);
  assert.equal(checkModelMetadata({ general: { architecture: "llama" }, llama: { block_count: 2, embedding_length: 64, attention: {} } }), "it is missing llama.feed_forward_length, llama.attention.head_count.");
  assert.equal(checkModelMetadata({ general: {} }), "it has no general.architecture.");
  assert.match(checkModelMetadata({ general: { architecture: "llama", type: "adapter" } }) ?? "", /adapter/);
  assert.equal(checkModelMetadata({ general: { architecture: "mamba" } }), undefined);
});

it("the CLI reads answers: a number picks a suggestion, an empty line waives", () => {
  const question = { id: "q", round: 1, text: "Order?", suggestions: ["ascending", "descending"] };
  assert.deepEqual(readAnswer("2", question), { answer: "descending" });
  assert.deepEqual(readAnswer("7", question), { answer: "7" });
  assert.deepEqual(readAnswer("  ", question), { waive: true });
  assert.deepEqual(readAnswer(undefined, question), { waive: true });
  assert.deepEqual(readAnswer("you decide", question), { waive: true });
  assert.deepEqual(readAnswer(" stable ", question), { answer: "stable" });
  assert.equal(gpuChoice(undefined), "auto");
  assert.equal(gpuChoice("cpu"), false);
  assert.equal(gpuChoice("vulkan"), "vulkan");
  assert.throws(() => gpuChoice("tpu"), /--gpu must be/);
});

it("checkMagic names a file's first bytes in hex, never as text", () => {
  assert.equal(checkMagic(new TextEncoder().encode("GGUF\x03")), undefined);
  assert.equal(
    checkMagic(new Uint8Array([0xd1, 0x90, 0xef, 0x67, 0x00])),
    'it is not a GGUF file: a GGUF file starts with the bytes 0x47 0x47 0x55 0x46 ("GGUF"), this one with 0xd1 0x90 0xef 0x67.',
  );
  assert.equal(checkMagic(new Uint8Array([0x47, 0x47])), "it is too short to be a GGUF file (2 bytes: 0x47 0x47).");
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
  assert.equal(turnEnding({ ...base, state: "done", answer: "x", answerRequested: true, hitLimit: true }), "\n(it stopped at the length limit: /continue writes the rest)");
  assert.equal(turnEnding({ ...base, state: "done", answer: "x" }), "");
});
