/**
 * format.ts's ggml type table against the ggml that node-llama-cpp ships (CPU build): every type ggml knows has the
 * same block size and block bytes in the table, and every retired type (block size 0 in ggml) is absent from it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GGML_TYPE_TRAITS } from "../../src/llm/gguf/format.js";

/** ggml's own type traits, from node-llama-cpp's native bindings (not part of its public types). */
interface GgmlTraitBindings {
  getBlockSizeForGgmlType(type: number): number | undefined;
  getTypeSizeForGgmlType(type: number): number | undefined;
}

describe("the ggml type table", () => {
  it("agrees with the shipped ggml for every type id, 40 to 42 included", async () => {
    const nlc = await import("node-llama-cpp");
    const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: nlc.LlamaLogLevel.error });
    try {
      const ggml = (llama as unknown as { _bindings: GgmlTraitBindings })._bindings;
      let known = 0;
      for (let id = 0; ; id++) {
        const blockSize = ggml.getBlockSizeForGgmlType(id);
        if (blockSize === undefined) {
          // Past GGML_TYPE_COUNT: the table lists nothing there either.
          assert.ok(
            Object.keys(GGML_TYPE_TRAITS).every((k) => Number(k) < id),
            `the table lists types from ${id} on, which ggml does not know`,
          );
          break;
        }
        const traits = GGML_TYPE_TRAITS[id];
        if (blockSize === 0) {
          assert.equal(traits, undefined, `type ${id} is retired in ggml`);
          continue;
        }
        known += 1;
        assert.deepEqual(
          traits && { blockSize: traits.blockSize, blockBytes: traits.blockBytes },
          { blockSize, blockBytes: ggml.getTypeSizeForGgmlType(id) },
          `type ${id}`,
        );
      }
      assert.equal(known, Object.keys(GGML_TYPE_TRAITS).length);
      assert.ok(GGML_TYPE_TRAITS[42], "ggml knows type 42");
    } finally {
      await llama.dispose();
    }
  });
});
