import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { it } from "node:test";
import { mkdtemp } from "node:fs/promises";
import { JsonlLog } from "../../src/cli/shared/jsonl-log.js";
import { formatDuration, formatRate, startProgress, startStepProgress } from "../../src/cli/shared/progress.js";

const parse = (v: unknown): { id: string } | undefined =>
  typeof v === "object" && v !== null && typeof (v as { id?: unknown }).id === "string" ? { id: (v as { id: string }).id } : undefined;

it("a JSONL log reads back its rows, cuts a half-written last line, and appends whole lines", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "cc-jsonl-"));
  const file = path.join(dir, "out.jsonl");
  await writeFile(file, '{"id":"a"}\nnot json\n{"nope":1}\n{"id":"b"}\n{"id":"c","te');
  const { log, rows, unreadable, cutBytes } = await JsonlLog.open(file, { parse });
  assert.deepEqual(rows, [{ id: "a" }, { id: "b" }]);
  assert.deepEqual(unreadable, [2, 3]);
  assert.equal(cutBytes, Buffer.byteLength('{"id":"c","te'));
  await Promise.all([log.append({ id: "c" }), log.append({ id: "d", text: "ä\n" })]);
  await log.close();
  await assert.rejects(log.append({ id: "e" }), /closed/);
  assert.equal(await readFile(file, "utf8"), '{"id":"a"}\nnot json\n{"nope":1}\n{"id":"b"}\n{"id":"c"}\n{"id":"d","text":"ä\\n"}\n');
  const again = await JsonlLog.open(path.join(dir, "new.jsonl"), { parse });
  assert.deepEqual(again.rows, []);
  assert.equal(again.cutBytes, 0);
  await again.log.close();
});

it("progress prints plain lines with rate and time left when not a terminal", () => {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream;
  let written = "";
  (stream as unknown as PassThrough).on("data", (d: Buffer) => (written += d.toString()));
  let t = 0;
  const p = startProgress({ label: "synth", total: 10, done: 2, stream, lineEveryMs: 1000, now: () => t });
  t = 2000;
  p.tick(4);
  p.log("rejected x: too similar");
  t = 2500;
  p.tick(1);
  t = 4000;
  p.tick(3);
  p.stop();
  (stream as unknown as PassThrough).read();
  assert.equal(written, "synth: 6/10 (60%), 2.0/s, 2s left\nrejected x: too similar\nsynth: 10/10 (100%), 2.0/s, 0s left\n");
  assert.equal(formatRate(0.05), "3.0/min");
  assert.equal(formatRate(0), "-");
  assert.equal(formatDuration(3725), "1h02m");
  assert.equal(formatDuration(61), "1m01s");
});

it("step progress prints a step's words when not a terminal: on a new step, at its end, and at most so often between", () => {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream;
  let written = "";
  (stream as unknown as PassThrough).on("data", (d: Buffer) => (written += d.toString()));
  let t = 10_000;
  const p = startStepProgress({ format: "[{bar}] {text}", stream, lineEveryMs: 5000, now: () => t });
  p.update({ key: "a", value: 0, total: 10, text: "a 0" });
  t += 1000;
  p.update({ key: "a", value: 5, total: 10, text: "a 5" });
  t += 6000;
  p.update({ key: "a", value: 6, total: 10, text: "a 6" });
  p.update({ key: "a", value: 10, total: 10, text: "a 10" });
  p.update({ key: "b", value: 1, total: 0, text: "b 1" });
  p.stop();
  (stream as unknown as PassThrough).read();
  assert.equal(written, "a 0\na 6\na 10\nb 1\n");
  const silent = startStepProgress({ format: "{text}", stream });
  silent.update({ key: "x", value: 1, total: 1, text: "never printed" });
  assert.doesNotMatch(written, /never printed/);
});
