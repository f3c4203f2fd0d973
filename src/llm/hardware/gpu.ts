/**
 * Why a GPU backend cannot be used, in words a user can act on: what was asked for, what this machine has (the
 * driver and loader libraries, node-llama-cpp's prebuilt binaries), and what to do. No node-llama-cpp here: this
 * looks at files only, and runs when node-llama-cpp has already refused.
 */
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";

type GpuBackend = "cuda" | "vulkan" | "metal";

export interface GpuFindings {
  platform: NodeJS.Platform;
  arch: string;
  /** Where each library was found, if it was. */
  libraries: { nvidiaDriver?: string; vulkanLoader?: string; glvnd?: string };
  /** node-llama-cpp's installed binary packages, such as "linux-x64" and "linux-x64-vulkan". */
  binaries: string[];
}

const libraryNames: Record<keyof GpuFindings["libraries"], Partial<Record<NodeJS.Platform, string[]>>> = {
  nvidiaDriver: { linux: ["libcuda.so.1", "libcuda.so"], win32: ["nvcuda.dll"] },
  vulkanLoader: { linux: ["libvulkan.so.1", "libvulkan.so"], win32: ["vulkan-1.dll"], darwin: ["libvulkan.1.dylib", "libvulkan.dylib"] },
  glvnd: { linux: ["libGLX.so.0", "libGLdispatch.so.0"] },
};

function librarySearchPath(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string[] {
  const fromEnv = (env.LD_LIBRARY_PATH ?? "").split(path.delimiter).filter((d) => d !== "");
  if (platform === "win32") {
    const windir = env.WINDIR ?? "C:\\Windows";
    return [...(env.PATH ?? "").split(path.delimiter), path.join(windir, "System32")];
  }
  return [
    ...fromEnv,
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    "/usr/local/nvidia/lib64",
    "/usr/local/cuda/lib64",
    "/run/opengl-driver/lib",
    "/opt/homebrew/lib",
  ];
}

/** node-llama-cpp's binary packages found in a node_modules folder at or above `from`. */
function installedBinaries(from: string): string[] {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const scope = path.join(dir, "node_modules", "@node-llama-cpp");
    if (existsSync(scope)) return readdirSync(scope).sort();
    if (path.dirname(dir) === dir) return [];
  }
}

/** Looks at this machine: its GPU libraries and node-llama-cpp's binaries (searched upward from `packageDir`). */
export function findGpuSupport(packageDir: string, env: NodeJS.ProcessEnv = process.env): GpuFindings {
  const platform = process.platform;
  const dirs = librarySearchPath(platform, env);
  const libraries: GpuFindings["libraries"] = {};
  for (const key of Object.keys(libraryNames) as (keyof GpuFindings["libraries"])[]) {
    const names = libraryNames[key][platform] ?? [];
    const found = dirs.flatMap((d) => names.map((n) => path.join(d, n))).find((p) => existsSync(p));
    if (found) libraries[key] = found;
  }
  return { platform, arch: process.arch, libraries, binaries: installedBinaries(packageDir) };
}

const names: Record<GpuBackend, string> = { cuda: "CUDA", vulkan: "Vulkan", metal: "Metal" };
const systems: Partial<Record<NodeJS.Platform, string>> = { linux: "Linux", win32: "Windows", darwin: "macOS" };

/**
 * The message for a GPU backend that was asked for and could not be used: what was asked, what was found, what to
 * do. `detail` is node-llama-cpp's own error, kept at the end for whoever reports it.
 */
export function missingBackendMessage(asked: GpuBackend, found: GpuFindings, detail?: string): string {
  const name = names[asked];
  const system = systems[found.platform] ?? found.platform;
  const binary = `${found.platform === "win32" ? "win" : found.platform === "darwin" ? "mac" : found.platform}-${found.arch}-${asked}`;
  const hasBinary = found.binaries.some((b) => b === binary || b.startsWith(`${binary}-`));
  const seen: string[] = [];
  const todo: string[] = [];
  if (asked === "metal") {
    if (found.platform !== "darwin") {
      seen.push(`this machine runs ${system}, and Metal exists only on macOS`);
      todo.push("choose vulkan or cuda for a GPU here");
    } else {
      seen.push("node-llama-cpp could not start its Metal binary");
    }
  } else {
    seen.push(
      hasBinary ? `node-llama-cpp's ${name} binary is installed` : `node-llama-cpp's ${name} binary for ${found.platform}-${found.arch} is not installed`,
    );
    if (!hasBinary) todo.push("reinstall ClarifyCoder's dependencies with their optional packages");
    if (asked === "cuda") {
      if (found.libraries.nvidiaDriver)
        seen.push(
          `an NVIDIA driver is present (${found.libraries.nvidiaDriver}), but the CUDA binary failed its self-test (a driver older than the binary's CUDA version, or no NVIDIA GPU)`,
        );
      else seen.push("no NVIDIA driver (libcuda) was found");
      todo.push(found.libraries.nvidiaDriver ? "update the NVIDIA driver" : "install the NVIDIA driver (CUDA needs an NVIDIA GPU)");
    } else {
      if (found.libraries.vulkanLoader) {
        seen.push(
          `the Vulkan loader is present (${found.libraries.vulkanLoader}), but the Vulkan binary failed its self-test (no Vulkan driver for this GPU${found.platform === "linux" && !found.libraries.glvnd ? ", and the GL loaders that NVIDIA's Vulkan driver needs are missing" : ""})`,
        );
        todo.push(
          found.platform === "linux"
            ? "install your GPU's Vulkan driver (Mesa's mesa-vulkan-drivers for AMD and Intel; NVIDIA's driver with libglvnd0, libglx0 and libegl1)"
            : "install your GPU's Vulkan driver",
        );
      } else {
        seen.push("the Vulkan loader (libvulkan) was not found");
        todo.push(
          found.platform === "linux"
            ? "install the Vulkan loader and your GPU's Vulkan driver (Debian and Ubuntu: libvulkan1 and mesa-vulkan-drivers; for NVIDIA also libglvnd0, libglx0 and libegl1)"
            : "install your GPU's driver, which brings Vulkan",
        );
      }
    }
  }
  todo.push('or set the GPU setting to "auto" (it uses the best backend that works, the CPU at worst) or "cpu"');
  const why = detail && detail !== "NoBinaryFoundError" ? ` (node-llama-cpp: ${detail})` : "";
  return `The ${name} backend was asked for, but it cannot be used here: ${seen.join("; ")}. To fix it: ${todo.join("; ")}.${why}`;
}
