/** The worker's pure rules: GPU layer fallback, backend and load errors in words, crash reports, chunk joining. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gpuLayersOption } from "../../src/cli/shared/options.js";
import { ChunkStream } from "../../src/llm/worker/chunk-stream.js";
import { pendingTriggerLength } from "../../src/llm/worker/stop-texts.js";
import { missingBackendMessage, type GpuFindings } from "../../src/llm/hardware/gpu.js";
import { fileProblem, plainLoadError } from "../../src/llm/worker/load-errors.js";
import { describeLoadProgress } from "../../src/llm/models/local.js";
import { failedCheck } from "../../src/llm/worker/client.js";
import { clampContextSize, fewerLayers, isOutOfMemory, offloadNotice, parseGpuLayers } from "../../src/llm/hardware/offload.js";

describe("GPU layers and memory", () => {
  it("reads the GPU layers setting, refusing anything but auto, max or a whole number", () => {
    assert.deepEqual(parseGpuLayers(undefined), { ok: true, value: "auto" });
    assert.deepEqual(parseGpuLayers("max"), { ok: true, value: "max" });
    assert.deepEqual(parseGpuLayers("20"), { ok: true, value: 20 });
    assert.deepEqual(parseGpuLayers(0), { ok: true, value: 0 });
    for (const bad of ["-1", "1.5", "lots", -3, 2.5]) assert.equal(parseGpuLayers(bad).ok, false, String(bad));
    const option = gpuLayersOption();
    assert.equal(option.parseArg?.("12", "auto"), 12);
    assert.equal(option.defaultValue, "auto");
    assert.throws(() => option.parseArg?.("half", "auto"), /GPU layers must be auto, max or a whole number of layers \(0 or more\), not "half"\./);
  });

  it("falls back to half the layers, a quarter, then none", () => {
    assert.deepEqual(fewerLayers("auto", 33), [16, 8, 0]);
    assert.deepEqual(fewerLayers("max", 33), [16, 8, 0]);
    assert.deepEqual(fewerLayers(10, 33), [5, 2, 0]);
    assert.deepEqual(fewerLayers(99, 3), [1, 0]);
    assert.deepEqual(fewerLayers(1, 33), [0]);
    assert.deepEqual(fewerLayers(0, 33), []);
  });

  it("knows running out of memory from node-llama-cpp's error or llama.cpp's log, and nothing else", () => {
    const insufficient = Object.assign(new Error("A context size of 134217728 with 2 sequences is too large for the available RAM"), {
      name: "InsufficientMemoryError",
    });
    assert.equal(isOutOfMemory(insufficient), true);
    assert.equal(
      isOutOfMemory(new Error("Failed to load model"), [
        "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 4096.00 MiB on device 0: cudaMalloc failed: out of memory",
      ]),
      true,
    );
    assert.equal(
      isOutOfMemory(new Error("Failed to create context"), ["ggml_vulkan: Device memory allocation of size 1 failed: ErrorOutOfDeviceMemory"]),
      true,
    );
    assert.equal(isOutOfMemory(new Error("Failed to load model"), ["llama_model_load: error loading model: missing tensor 'blk.1.attn_v.weight'"]), false);
  });

  it("tells the user what the fallback did, and says nothing when everything fitted", () => {
    assert.equal(offloadNotice("auto", 33, 33), undefined);
    assert.equal(offloadNotice(20, 20, 33), undefined);
    assert.match(
      offloadNotice("max", 16, 33, { free: 2 * 1024 ** 3, total: 8 * 1024 ** 3 }) ?? "",
      /\(2\.0 GB of its 8\.0 GB free\): 16 of its 33 layers run on the GPU/,
    );
    assert.match(offloadNotice("auto", 0, 33) ?? "", /did not fit in the GPU's memory, so it runs on the CPU/);
    assert.deepEqual(clampContextSize(undefined, 4096), {});
    assert.deepEqual(clampContextSize(2048, 4096), { size: 2048 });
    const clamped = clampContextSize(10_000_000, 4096);
    assert.equal(clamped.size, 4096);
    assert.match(clamped.notice ?? "", /10,000,000 is larger than the 4,096 tokens this model was trained for/);
  });
});

describe("errors in words", () => {
  const linux = (libraries: GpuFindings["libraries"], binaries = ["linux-x64", "linux-x64-cuda", "linux-x64-vulkan"]): GpuFindings => ({
    platform: "linux",
    arch: "x64",
    libraries,
    binaries,
  });

  it("a missing GPU backend says what was asked, what was found and what to do", () => {
    const vulkan = missingBackendMessage("vulkan", linux({}), "NoBinaryFoundError");
    assert.match(
      vulkan,
      /^The Vulkan backend was asked for, but it cannot be used here: node-llama-cpp's Vulkan binary is installed; the Vulkan loader \(libvulkan\) was not found\./,
    );
    assert.match(vulkan, /install the Vulkan loader .*libvulkan1/);
    assert.match(vulkan, /"auto" .*"cpu"/);
    assert.doesNotMatch(vulkan, /NoBinaryFoundError/, "the bare error name adds nothing");
    const noGl = missingBackendMessage("vulkan", linux({ vulkanLoader: "/usr/lib/x86_64-linux-gnu/libvulkan.so.1" }));
    assert.match(noGl, /loader is present \(\/usr\/lib\/x86_64-linux-gnu\/libvulkan\.so\.1\), but the Vulkan binary failed its self-test .*GL loaders/);
    assert.match(
      missingBackendMessage("cuda", linux({})),
      /CUDA binary is installed; no NVIDIA driver \(libcuda\) was found\. To fix it: install the NVIDIA driver/,
    );
    assert.match(missingBackendMessage("cuda", linux({}, ["linux-x64"])), /CUDA binary for linux-x64 is not installed/);
    assert.match(missingBackendMessage("metal", linux({})), /runs Linux, and Metal exists only on macOS/);
  });

  it("load failures name the file and give llama.cpp's own reason instead of the raw text", () => {
    const file = "/models/m.gguf";
    const missing = plainLoadError("weights", new Error("Failed to load model"), file, [
      "llama_model_load: error loading model: missing tensor 'blk.1.attn_v.weight'",
      "llama_model_load_from_file_impl: failed to load model",
    ]);
    assert.equal(
      missing,
      "llama.cpp could not load m.gguf (/models/m.gguf): missing tensor 'blk.1.attn_v.weight'. The file may be incomplete, or made for a newer version of llama.cpp.",
    );
    const lora = plainLoadError("context", new Error('Failed to initialize LoRA adapter "/a/x.gguf"'), file, [
      "llama_adapter_lora_init_impl: tensor 'blk.0.attn_q.weight.lora_a' has wrong shape",
    ]);
    assert.match(lora, /^The LoRA adapter x\.gguf \(\/a\/x\.gguf\) could not be applied to m\.gguf/);
    const memory = plainLoadError(
      "context",
      Object.assign(new Error("A context size of 9 is too large for the available VRAM"), { name: "InsufficientMemoryError" }),
      file,
    );
    assert.match(memory, /^m\.gguf \(\/models\/m\.gguf\) does not fit in this machine's memory: A context size of 9 is too large for the available VRAM\./);
    assert.equal(
      fileProblem("model file", file, Object.assign(new Error("x"), { code: "EACCES" })),
      "The model file /models/m.gguf cannot be read: permission denied.",
    );
    assert.equal(fileProblem("model file", file, Object.assign(new Error("x"), { code: "EISDIR" })), "The model file /models/m.gguf is a folder, not a file.");
  });

  it("a crash report quotes llama.cpp's failed check, shortened, and nothing when there is none", () => {
    const tail = [
      "some line",
      "/home/runner/work/node-llama-cpp/node-llama-cpp/llama/llama.cpp/src/llama-model-loader.cpp:1321: GGML_ASSERT(t_meta.ne[dim] >= 1) failed",
      "/opt/app/libggml-base.so(+0x1234) [0x7f]",
    ];
    assert.equal(failedCheck(tail), "llama-model-loader.cpp:1321: GGML_ASSERT(t_meta.ne[dim] >= 1) failed");
    assert.equal(failedCheck(["error: something else"]), undefined);
  });

  it("load progress reads the same in every surface", () => {
    assert.deepEqual(
      describeLoadProgress({
        kind: "download",
        loaded: 50,
        total: 200,
        bytesPerSecond: 0,
        resumedFrom: 0,
        file: "m.gguf",
        phase: "download",
        step: 1,
        steps: 1,
      }),
      { task: "Downloading", progress: 0.25 },
    );
    assert.deepEqual(describeLoadProgress({ kind: "load", progress: 1.2 }), { task: "Loading", progress: 1 });
    assert.deepEqual(describeLoadProgress({ kind: "warmup", backend: "vulkan" }), { task: "Preparing the GPU (first time only)" });
    assert.deepEqual(describeLoadProgress({ kind: "warmup", backend: "cpu" }), { task: "Warming up" });
  });
});

describe("ChunkStream", () => {
  it("sends the first piece at once, joins pieces that come faster than its interval, and loses nothing", async () => {
    const sent: string[] = [];
    const stream = new ChunkStream((t) => sent.push(t), 40);
    stream.push("a");
    assert.deepEqual(sent, ["a"], "the first piece goes at once");
    stream.push("b");
    stream.push("c");
    assert.deepEqual(sent, ["a"], "later pieces wait for the interval");
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(sent, ["a", "bc"], "and go together");
    stream.push("d");
    stream.flush();
    assert.deepEqual(sent, ["a", "bc", "d"]);
    stream.flush();
    assert.equal(sent.join(""), "abcd");
  });

  it("discard drops what waits, and nothing is sent for it later", async () => {
    const sent: string[] = [];
    const stream = new ChunkStream((t) => sent.push(t), 20);
    stream.push("a");
    stream.push("b");
    stream.discard();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(sent, ["a"]);
  });

  it("after a pause (the prompt read), sends what waits and then the next piece at once", () => {
    const sent: string[] = [];
    const stream = new ChunkStream((t) => sent.push(t), 10_000);
    stream.push("```python\n");
    stream.push("x");
    assert.deepEqual(sent, ["```python\n"], "within the interval a piece waits");
    stream.pause();
    assert.deepEqual(sent, ["```python\n", "x"], "the pause sends what waits");
    stream.push("def");
    assert.deepEqual(sent, ["```python\n", "x", "def"], "the first piece after the pause goes at once");
    stream.push(" f");
    assert.equal(sent.length, 3, "the interval holds again after it");
    stream.flush();
    assert.equal(sent.join(""), "```python\nxdef f");
  });
});

describe("the streaming loop's stop texts", () => {
  it("holds back exactly the tail that could still become a stop text", () => {
    const stops = ["<|im_end|>", "\nUser:"];
    assert.equal(pendingTriggerLength("if a < b:", stops), 0);
    assert.equal(pendingTriggerLength("return x<", stops), 1);
    assert.equal(pendingTriggerLength("return x<|im_e", stops), 6);
    assert.equal(pendingTriggerLength("done\nUse", stops), 4);
    assert.equal(pendingTriggerLength("", stops), 0);
    assert.equal(pendingTriggerLength("<|im_end", []), 0);
  });
});
