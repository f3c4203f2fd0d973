import assert from "node:assert/strict";
import { it } from "node:test";
import { physicalCores } from "../../src/llm/cpu.js";
import { checkModel } from "../../src/llm/gguf-check.js";
import type { GgufEntry } from "../../src/llm/gguf-reader.js";
import { gpuChoice, readAnswer } from "../../src/cli/chat.js";

it("physicalCores counts distinct cores, not hyper-threads", () => {
  const ht = ["physical id\t: 0", "core id\t\t: 0", "", "physical id\t: 0", "core id\t\t: 0", "", "physical id\t: 0", "core id\t\t: 1", "", "physical id\t: 0", "core id\t\t: 1"].join("\n");
  assert.equal(physicalCores(ht), 2);
  const twoSockets = ["physical id\t: 0", "core id\t: 0", "physical id\t: 1", "core id\t: 0"].join("\n");
  assert.equal(physicalCores(twoSockets), 2);
  assert.ok(physicalCores("no cores listed") >= 1);
});

it("checkModel names the keys whose absence would abort llama.cpp", () => {
  const meta = (entries: Record<string, GgufEntry["value"]>) => ({
    metadata: new Map(Object.entries(entries).map(([k, v]): [string, GgufEntry] => [k, { type: typeof v === "string" ? "string" : "uint32", value: v } as GgufEntry])),
  });
  const good = { "general.architecture": "llama", "llama.context_length": 4096, "llama.block_count": 2, "llama.embedding_length": 64, "llama.feed_forward_length": 128, "llama.attention.head_count": 4 };
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
  assert.equal(gpuChoice(undefined), "auto");
  assert.equal(gpuChoice("cpu"), false);
  assert.equal(gpuChoice("vulkan"), "vulkan");
  assert.throws(() => gpuChoice("tpu"), /--gpu must be/);
});
