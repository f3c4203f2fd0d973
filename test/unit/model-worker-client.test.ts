/**
 * The worker client's Stop and watchdog against a worker that stays alive but never finishes a request (the state of
 * a hung GPU driver, which this machine cannot produce): Stop answers the caller at once and keeps the worker while
 * it shows progress; a worker that shows none is replaced. The real worker's faults are in test/model.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, it } from "node:test";
import { ModelWorker } from "../../src/llm/worker/client.js";
import { WorkerError } from "../../src/llm/worker/protocol.js";

const stubborn = path.resolve(__dirname, "../fixtures/stubborn-worker.mjs");
const workers: ModelWorker[] = [];
after(async () => {
  for (const w of workers) await w.stop();
});

function worker(progress: boolean, stallMs = 60_000): ModelWorker {
  const w = new ModelWorker({ workerPath: stubborn, env: { STUBBORN_PROGRESS: progress ? "yes" : "no" }, stallMs, cancelGraceMs: 300 });
  workers.push(w);
  return w;
}

it("Stop answers the caller as cancelled even when the worker cannot stop; a worker that still answers is kept", async () => {
  const w = worker(true);
  assert.equal((await w.request("hardware", {})).backend, "cpu");
  const controller = new AbortController();
  const stuck = w.request("tokenize", { text: "x" }, { signal: controller.signal });
  setTimeout(() => controller.abort(), 100);
  await assert.rejects(stuck, (e: unknown) => e instanceof WorkerError && e.code === "cancelled");
  assert.equal(w.running, true);
  assert.equal(w.starts, 1, "not replaced: it answered the ping");
  assert.equal((await w.request("hardware", {})).backend, "cpu", "and it still serves requests");
});

it("a request whose worker makes no progress fails in plain words, and the worker is replaced", async () => {
  const w = worker(false, 1500);
  const crashes: string[] = [];
  w.onCrash((e) => crashes.push(e.message));
  await assert.rejects(w.request("tokenize", { text: "x" }), (e: unknown) => {
    assert.ok(e instanceof WorkerError);
    assert.equal(e.code, "worker-crashed");
    assert.match(
      e.message,
      /^The model worker made no progress for \d+ s \(it may be stuck in the GPU driver\), so it was ended while inside a native call\. It will restart on the next request\.$/,
    );
    return true;
  });
  assert.equal(crashes.length, 1, "the surfaces hear of it");
  assert.equal(w.running, false);
  assert.equal((await w.request("hardware", {})).backend, "cpu");
  assert.equal(w.starts, 2);
});
