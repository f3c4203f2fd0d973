/** Memory estimates from node-llama-cpp's GGUF insights, for the recommendation. */
import os from "node:os";
// The one GGUF read not through gguf/reader.ts: GgufInsights needs node-llama-cpp's own file info (and reads URLs).
import { GgufInsights, readGgufFileInfo } from "node-llama-cpp";
import { physicalCores } from "../../hardware/cpu.js";
import type { EstimateResult, MemoryEstimate, ParamsOf } from "../protocol.js";
import { messageOf, type RequestContext } from "./channel.mjs";
import { backendOf, type Backends } from "./gpu.mjs";

export async function estimateModels(
  backends: Backends,
  params: ParamsOf<"estimate">,
  modelLoaded: boolean,
  request: RequestContext<"estimate">,
): Promise<EstimateResult> {
  const l = await backends.ensure(params.gpu ?? backends.choice ?? "auto", modelLoaded);
  const vram = l.gpu === false ? undefined : await l.getVramState();
  const estimates: MemoryEstimate[] = [];
  const unknown: EstimateResult["unknown"] = [];
  for (const m of params.models) {
    try {
      const network = /^https?:\/\//i.test(m.source);
      const info = await readGgufFileInfo(m.source, {
        sourceType: network ? "network" : "filesystem",
        logWarnings: false,
        signal: request.signal,
        ...(m.headers ? { fetchHeaders: m.headers } : {}),
        // A header that cannot be fetched at once is reported, not retried for minutes.
        fetchRetryOptions: { retries: 1, minTimeout: 200, maxTimeout: 500 },
      });
      const insights = await GgufInsights.from(info, l);
      const layers = insights.totalLayers;
      const onGpu = await insights.estimateModelResourceRequirementsV2({ gpuLayers: layers });
      const gpuContext = await insights.estimateContextResourceRequirementsV2({ contextSize: params.contextSize, modelGpuLayers: layers, sequences: 2 });
      const onCpu = await insights.estimateModelResourceRequirementsV2({ gpuLayers: 0 });
      const cpuContext = await insights.estimateContextResourceRequirementsV2({ contextSize: params.contextSize, modelGpuLayers: 0, sequences: 2 });
      estimates.push({
        id: m.id,
        gpuVram: onGpu.gpuVram + gpuContext.gpuVram,
        gpuRam: onGpu.cpuRam + gpuContext.cpuRam,
        cpuRam: onCpu.cpuRam + cpuContext.cpuRam,
        layers,
      });
    } catch (error) {
      unknown.push({ id: m.id, reason: messageOf(error) });
    }
  }
  return {
    hardware: {
      backend: backendOf(l),
      gpuDevices: l.gpu === false ? [] : await l.getGpuDeviceNames(),
      ...(vram ? { vram: { total: vram.total, free: vram.free } } : {}),
      ram: { total: os.totalmem(), free: os.freemem() },
      cpuCores: physicalCores(),
    },
    estimates,
    unknown,
  };
}
