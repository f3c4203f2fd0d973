/** A failed evaluation (llama.cpp's decode) in words: llama.cpp's own reason, never node-llama-cpp's "Eval has failed" alone. */
import assert from "node:assert/strict";
import { it } from "node:test";
import { isDecodeFailure, plainDecodeError } from "../../src/llm/worker/load-errors.js";

it("a decode failure names llama.cpp's reason from its log and says the conversation was reset", () => {
  // The lines llama.cpp logged when a sequence held cells its conversation did not know of.
  const log = [
    "init: the tokens of sequence 1 in the input batch have inconsistent sequence positions:\n - the last position stored in the memory module of the context (i.e. the KV cache) for sequence 1 is X = 2046\n - the tokens for sequence 1 in the input batch have a starting position of Y = 0\n it is required that the sequence positions remain consecutive: Y = X + 1",
    "decode: failed to initialize batch",
    "llama_decode: failed to decode, ret = -1",
  ];
  const error = new Error("Eval has failed");
  assert.ok(isDecodeFailure(error));
  const message = plainDecodeError(error, log);
  assert.equal(
    message,
    "The model could not evaluate this turn: the tokens of sequence 1 in the input batch have inconsistent sequence positions. The conversation was reset and keeps its history; the next turn evaluates it again.",
  );
  assert.doesNotMatch(message, /Eval has failed/);
});

it("without a reason in the log it still says what failed; a full context is said as such; other errors are not decode failures", () => {
  assert.match(
    plainDecodeError(new Error("Eval has failed"), ["llama_decode: failed to decode, ret = -1"]),
    /: llama\.cpp's decode step failed \(Eval has failed\)\. The conversation was reset/,
  );
  const full = new Error("could not find a KV slot for the batch (try reducing the size of the batch or increase the context)");
  assert.ok(isDecodeFailure(full));
  assert.match(plainDecodeError(full), /^The model could not evaluate this turn: the context has no room left for it\./);
  assert.ok(!isDecodeFailure(new Error("Object is disposed")));
});
