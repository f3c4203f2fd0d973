/** `--lora` as a user writes it: one adapter per option, repeatable, never eating the request that follows it. */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { before, it } from "node:test";
import { convertPeftAdapter, readBaseModelShape } from "../../src/llm/lora/convert.js";
import { writeAppsFolder } from "../fixtures/code-tasks.js";
import { adapterConfig, makeTinyAdapter, writePeftFolder } from "../fixtures/peft-adapter.js";
import { writeTinyModel } from "../fixtures/tiny-model.js";
import { cli } from "../helpers/cli.js";
import { tempDir } from "../helpers/worker.js";

let dir: string;
let tiny: string;
let first: string;
let second: string;

before(async () => {
  dir = await tempDir("clarifycoder-cli-lora-");
  tiny = path.join(dir, "tiny.gguf");
  await writeTinyModel(tiny);
  const shape = await readBaseModelShape(tiny);
  [first, second] = [path.join(dir, "first.gguf"), path.join(dir, "second.gguf")];
  for (const [i, out] of [first, second].entries()) {
    const adapter = makeTinyAdapter(4, 8, 0.1 * (i + 1));
    const folder = path.join(dir, `peft-${i}`);
    await writePeftFolder(folder, adapterConfig(adapter), adapter.tensors);
    await convertPeftAdapter(folder, shape, out);
  }
});

type JsonEvent = { type: string; [k: string]: unknown };
const eventsOf = (stdout: string): JsonEvent[] =>
  stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JsonEvent);
const chat = (...args: string[]) => cli(["chat", "--json", "-m", tiny, "--gpu", "cpu", "--threads", "1", "--ask", "never", "--max-tokens", "16", ...args]);

it("chat --lora A 'the request': the request stays the request; --lora A --lora B applies both", async () => {
  const one = await chat("--lora", first, "sort the list");
  assert.equal(one.code, 0, one.stdout + one.stderr);
  assert.equal(eventsOf(one.stdout).at(-1)?.type, "done");
  const two = await chat("--lora", first, "--lora", second, "sort", "the", "list");
  assert.equal(two.code, 0, two.stdout + two.stderr);
  assert.equal(eventsOf(two.stdout).at(-1)?.type, "done");
  // The second adapter is read as an adapter: a missing one is named, and the request is not.
  const missing = path.join(dir, "missing.gguf");
  const refused = await chat("--lora", first, "--lora", missing, "sort the list");
  assert.equal(refused.code, 1);
  const error = String(eventsOf(refused.stdout).at(-1)?.message);
  assert.match(error, /missing\.gguf/);
  assert.doesNotMatch(error, /sort the list/);
});

it("mix -c A -c B: the clarify files are collected the same way, each read", async () => {
  const apps = await writeAppsFolder(path.join(dir, "apps"));
  const present = path.join(dir, "a.jsonl");
  await writeFile(present, "");
  const args = (...clarify: string[]): string[] => ["mix", "-t", apps, ...clarify, "-r", "20:80", "-s", "downsample", "-o", path.join(dir, "mix")];
  const run = await cli(args("-c", present, "-c", path.join(dir, "b.jsonl")));
  assert.equal(run.code, 1);
  assert.match(run.stderr, /b\.jsonl/, "the second file is read (and is missing)");
  // The variadic form is gone: a second word after -c is not a file.
  const variadic = await cli(args("-c", present, path.join(dir, "b.jsonl")));
  assert.equal(variadic.code, 2);
  assert.match(variadic.stderr, /too many arguments/);
});
