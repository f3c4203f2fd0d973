/** The recommendation against descriptions of machines: what it picks, and the sentence that says why. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { catalog } from "../../src/llm/hub/catalog.js";
import type { MachineDescription } from "../../src/llm/worker/protocol.js";
import { recommend } from "../../src/llm/hardware/recommend.js";

const GB = 1e9;
const machine = (over: Partial<MachineDescription>): MachineDescription => ({
  backend: "cpu",
  gpuDevices: [],
  ram: { total: 16 * GB, free: 12 * GB },
  cpuCores: 8,
  ...over,
});

describe("model recommendation", () => {
  it("a 12 GB CUDA GPU gets ClarifyCoder, all layers on the GPU, and says so", () => {
    const r = recommend(catalog, machine({ backend: "cuda", gpuDevices: ["RTX 4070"], vram: { total: 12.9 * GB, free: 12 * GB } }));
    assert.equal(r.id, "clarifycoder-6.7b");
    assert.match(r.reason, /^fits in 6\.4 GB of your 12\.0 GB of free VRAM \(12\.9 GB in all\), all layers on the GPU \(CUDA\)$/);
    assert.equal(r.assessments[0]?.id, "clarifycoder-6.7b");
  });

  it("GGUF insights replace the catalog's estimate: a model that insights say is too big is not picked", () => {
    const gpu = machine({ backend: "vulkan", vram: { total: 8 * GB, free: 7.5 * GB } });
    assert.equal(recommend(catalog, gpu).id, "clarifycoder-6.7b");
    const r = recommend(catalog, gpu, [
      { id: "clarifycoder-6.7b", gpuVram: 7.2 * GB, gpuRam: 0.3 * GB, cpuRam: 7.5 * GB, layers: 33 },
      { id: "qwen2.5-coder-7b", gpuVram: 7.0 * GB, gpuRam: 0.3 * GB, cpuRam: 7.3 * GB, layers: 29 },
    ]);
    assert.equal(r.id, "deepseek-coder-6.7b");
    assert.match(r.reason, /all layers on the GPU \(Vulkan\)/);
    const clarify = r.assessments.find((a) => a.id === "clarifycoder-6.7b");
    assert.equal(clarify?.fits, false);
    assert.match(clarify?.reason ?? "", /needs 7\.2 GB of VRAM \(7\.5 GB free\)/);
  });

  it("a 4 GB GPU gets a smaller model on the GPU", () => {
    const r = recommend(catalog, machine({ backend: "cuda", vram: { total: 4.3 * GB, free: 3.8 * GB } }));
    assert.equal(r.id, "qwen2.5-coder-3b");
    assert.match(r.reason, /fits in 2\.4 GB of your 3\.8 GB of free VRAM/);
  });

  it("no GPU: the size follows the cores, and the sentence says there is no GPU", () => {
    const four = recommend(catalog, machine({ cpuCores: 4 }));
    assert.equal(four.id, "qwen2.5-coder-1.5b");
    assert.match(four.reason, /^runs on your 4 CPU cores in 1\.3 GB of your 12\.0 GB of free RAM \(no GPU backend was found\)$/);
    assert.equal(recommend(catalog, machine({ cpuCores: 8 })).id, "qwen2.5-coder-3b");
    assert.equal(recommend(catalog, machine({ cpuCores: 2 })).id, "qwen2.5-coder-0.5b");
    assert.equal(recommend(catalog, machine({ cpuCores: 16, ram: { total: 64 * GB, free: 40 * GB } })).id, "qwen2.5-coder-7b");
    const slow = recommend(catalog, machine({ cpuCores: 2 })).assessments.find((a) => a.id === "qwen2.5-coder-7b");
    assert.equal(slow?.fits, false);
    assert.match(slow?.reason ?? "", /too slow on 2 CPU cores/);
  });

  it("too little memory for any code model: the demo model, with the reason", () => {
    const r = recommend(catalog, machine({ cpuCores: 2, ram: { total: 2 * GB, free: 0.6 * GB } }));
    assert.equal(r.id, "smollm2-135m");
    assert.match(r.reason, /^nothing larger fits this machine: runs on your 2 CPU cores/);
    const qwen = r.assessments.find((a) => a.id === "qwen2.5-coder-0.5b");
    assert.match(qwen?.reason ?? "", /needs 0\.7 GB of RAM and 0\.6 GB is free/);
  });

  it("lists the recommendation first, then what fits, then the rest, every entry once", () => {
    const r = recommend(catalog, machine({}));
    assert.equal(r.assessments.length, catalog.length);
    assert.equal(new Set(r.assessments.map((a) => a.id)).size, catalog.length);
    const firstMisfit = r.assessments.findIndex((a) => !a.fits);
    assert.ok(r.assessments.slice(firstMisfit).every((a) => !a.fits || a.id === "smollm2-135m"));
  });
});
