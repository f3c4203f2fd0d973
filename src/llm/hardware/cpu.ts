import { readFileSync } from "node:fs";
import os from "node:os";

/**
 * The number of physical CPU cores (hyper-threads not counted). llama.cpp's evaluation slows sharply when its
 * threads outnumber the real cores, so this is the default thread count.
 */
export function physicalCores(cpuinfo?: string): number {
  const logical = typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  let text = cpuinfo;
  if (text === undefined) {
    if (process.platform !== "linux") return Math.max(1, process.platform === "darwin" ? logical : Math.ceil(logical / 2));
    try {
      text = readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      return Math.max(1, logical);
    }
  }
  const cores = new Set<string>();
  let physicalId = "0";
  for (const line of text.split("\n")) {
    const [rawKey, rawValue] = line.split(":");
    const key = rawKey?.trim();
    const value = rawValue?.trim() ?? "";
    if (key === "physical id") physicalId = value;
    else if (key === "core id") cores.add(`${physicalId}:${value}`);
  }
  return Math.max(1, cores.size > 0 ? cores.size : logical);
}
