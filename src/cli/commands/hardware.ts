/** `clarifycoder hardware`: what the model worker finds on this machine, the backend it would use included. */
import path from "node:path";
import { ModelWorker } from "../../llm/worker/client.js";
import type { HardwareInfo } from "../../llm/worker/protocol.js";
import { gpuFromOption } from "../shared/options.js";
import { endQuietlyOnClosedOutput } from "../shared/options.js";
import type { Command } from "commander";
import { gpuOption } from "../shared/options.js";

function describeHardware(info: HardwareInfo): string {
  const gib = (bytes: number): string => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  const lines = [
    `Backend: ${info.backend === "cpu" ? "CPU" : info.backend.toUpperCase()}`,
    ...(info.gpuDevices.length > 0 ? [`GPU: ${info.gpuDevices.join(", ")}`] : []),
    ...(info.vram ? [`VRAM: ${gib(info.vram.free)} free of ${gib(info.vram.total)}`] : []),
    `CPU: ${info.cpuCores} physical cores, ${info.logicalCpus} logical; ${info.threads} threads by default`,
  ];
  return lines.join("\n");
}

async function runHardware(options: { gpu?: string; json?: boolean }): Promise<number> {
  const worker = new ModelWorker({ workerPath: path.join(__dirname, "worker.mjs") });
  endQuietlyOnClosedOutput(() => worker.stop());
  try {
    const info = await worker.request("hardware", { gpu: gpuFromOption(options.gpu) });
    process.stdout.write(options.json ? `${JSON.stringify(info)}\n` : `${describeHardware(info)}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    await worker.stop();
  }
}

/** Registers `clarifycoder hardware` on the command line. */
export function registerHardware(program: Command): void {
  program
    .command("hardware")
    .description("Show the backend (CUDA, Vulkan, Metal or CPU), GPUs, VRAM and CPU cores the model would run on.")
    .addOption(gpuOption("where the model would run"))
    .option("--json", "print one JSON object")
    .action(async (options: { gpu?: string; json?: boolean }) => {
      process.exitCode = await runHardware(options);
    });
}
