/**
 * Which catalog model fits this machine, and why, in words: "fits in 5.0 GB of your 12.0 GB of free VRAM, all layers
 * on the GPU (CUDA)". Pure: it reads a description of the machine and each model's memory needs (node-llama-cpp's
 * GGUF insights where the header could be read, else the catalog's estimate), so it is tested against descriptions.
 */
import type { CatalogEntry } from "../hub/catalog.js";
import type { MachineDescription, MemoryEstimate } from "../worker/protocol.js";

type Placement = "gpu" | "cpu";

export interface Assessment {
  id: string;
  fits: boolean;
  placement: Placement;
  /** One sentence: where it runs and why, or why not. */
  reason: string;
  /** The memory it needs where it would run. */
  needBytes: number;
}

export interface Recommendation {
  /** The entry to preselect (always one: the demo model when nothing else fits). */
  id: string;
  reason: string;
  /** Every entry, in the order to show them: the recommendation first, then what fits, then the rest. */
  assessments: Assessment[];
}

/** Better models first: what to choose among those that fit. ClarifyCoder leads where it runs on the GPU. */
const preference = [
  "clarifycoder-6.7b",
  "qwen2.5-coder-7b",
  "deepseek-coder-6.7b",
  "qwen2.5-coder-3b",
  "qwen2.5-coder-1.5b",
  "deepseek-coder-1.3b",
  "qwen2.5-coder-0.5b",
  "smollm2-135m",
];

/** On a CPU, speed limits the size before memory does: the largest model worth running per number of cores. */
function cpuBudgetBytes(cores: number): number {
  if (cores >= 16) return 5e9;
  if (cores >= 8) return 2.5e9;
  if (cores >= 4) return 1.5e9;
  return 0.9e9;
}

const gb = (bytes: number): string => `${(bytes / 1e9).toFixed(1)} GB`;
const backendName = { cuda: "CUDA", vulkan: "Vulkan", metal: "Metal", cpu: "CPU" } as const;

/** Head-room left for the system and the editor. */
const ramShare = 0.8;
const vramShare = 0.9;

function assess(entry: CatalogEntry, machine: MachineDescription, estimate?: MemoryEstimate): Assessment {
  const gpuNeed = estimate?.gpuVram ?? entry.memoryBytes;
  const cpuNeed = estimate?.cpuRam ?? entry.memoryBytes;
  const freeRam = machine.ram.free * ramShare;
  if (machine.backend !== "cpu" && machine.vram) {
    const freeVram = machine.vram.free * vramShare;
    const gpu = backendName[machine.backend];
    if (gpuNeed <= freeVram && (estimate?.gpuRam ?? 0) <= freeRam) {
      return {
        id: entry.id,
        fits: true,
        placement: "gpu",
        needBytes: gpuNeed,
        reason: `fits in ${gb(gpuNeed)} of your ${gb(machine.vram.free)} of free VRAM (${gb(machine.vram.total)} in all), all layers on the GPU (${gpu})`,
      };
    }
    if (cpuNeed <= freeRam && cpuNeed <= cpuBudgetBytes(machine.cpuCores)) {
      return {
        id: entry.id,
        fits: true,
        placement: "cpu",
        needBytes: cpuNeed,
        reason: `needs ${gb(gpuNeed)} of VRAM and ${gb(machine.vram.free)} is free, so it would run on your ${machine.cpuCores} CPU cores in ${gb(cpuNeed)} of RAM`,
      };
    }
    return {
      id: entry.id,
      fits: false,
      placement: "gpu",
      needBytes: gpuNeed,
      reason: `needs ${gb(gpuNeed)} of VRAM (${gb(machine.vram.free)} free) or too much for the CPU alone`,
    };
  }
  const noGpu = machine.backend === "cpu" ? "no GPU backend was found" : "the GPU's memory is unknown";
  if (cpuNeed > freeRam) {
    return { id: entry.id, fits: false, placement: "cpu", needBytes: cpuNeed, reason: `needs ${gb(cpuNeed)} of RAM and ${gb(machine.ram.free)} is free` };
  }
  if (cpuNeed > cpuBudgetBytes(machine.cpuCores)) {
    return {
      id: entry.id,
      fits: false,
      placement: "cpu",
      needBytes: cpuNeed,
      reason: `would fit in RAM but be too slow on ${machine.cpuCores} CPU cores (${noGpu})`,
    };
  }
  return {
    id: entry.id,
    fits: true,
    placement: "cpu",
    needBytes: cpuNeed,
    reason: `runs on your ${machine.cpuCores} CPU cores in ${gb(cpuNeed)} of your ${gb(machine.ram.free)} of free RAM (${noGpu})`,
  };
}

export function recommend(entries: readonly CatalogEntry[], machine: MachineDescription, estimates: readonly MemoryEstimate[] = []): Recommendation {
  const byId = new Map(estimates.map((e) => [e.id, e]));
  const rank = (id: string): number => {
    const i = preference.indexOf(id);
    return i < 0 ? preference.length : i;
  };
  const assessments = entries.map((e) => assess(e, machine, byId.get(e.id)));
  // Best first among those that fit: on the GPU before on the CPU, then by preference.
  const fitting = assessments
    .filter((a) => a.fits && !entries.find((e) => e.id === a.id)?.demo)
    .sort((a, b) => (a.placement === b.placement ? rank(a.id) - rank(b.id) : a.placement === "gpu" ? -1 : 1));
  const demo = entries.find((e) => e.demo);
  const chosen = fitting[0] ?? assessments.find((a) => a.id === demo?.id) ?? assessments[0];
  if (!chosen) throw new Error("The catalog is empty.");
  const order = [chosen, ...fitting.filter((a) => a !== chosen), ...assessments.filter((a) => a !== chosen && !fitting.includes(a))];
  const reason = fitting[0] ? chosen.reason : `nothing larger fits this machine: ${chosen.reason}`;
  return { id: chosen.id, reason, assessments: order };
}
