/**
 * Where the model runs, as the user names it: the one list and the one reader behind the `--gpu` option and the
 * `clarifycoder.gpu` setting.
 */

/** The names a user can give: `cpu` means no GPU. */
export const gpuChoiceNames = ["auto", "cuda", "vulkan", "metal", "cpu"] as const;

/** What the worker is told: a backend, "auto" (the best one found), or false (the CPU). */
export type GpuChoice = "auto" | "cuda" | "vulkan" | "metal" | false;

/** Reads a choice from any surface ("auto", a backend, "cpu"; `false` and "none" also mean the CPU). Absent is "auto". */
export function parseGpuChoice(value: unknown): { ok: true; value: GpuChoice } | { ok: false; reason: string } {
  if (value === undefined || value === null || value === "" || value === "auto") return { ok: true, value: "auto" };
  if (value === false || value === "cpu" || value === "false" || value === "none") return { ok: true, value: false };
  if (value === "cuda" || value === "vulkan" || value === "metal") return { ok: true, value };
  return { ok: false, reason: `the GPU must be one of ${gpuChoiceNames.join(", ")}, not ${JSON.stringify(value)}` };
}
