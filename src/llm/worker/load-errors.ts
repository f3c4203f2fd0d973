/**
 * Errors met while loading a model, in sentences a user understands, each naming the file, and a failed evaluation
 * (llama.cpp's decode step) with llama.cpp's own reason. Raw texts from Node and
 * node-llama-cpp ("The value of "size" is out of range", "Failed to load model") never reach the user alone.
 */
import path from "node:path";

/** "name.gguf (/full/path/name.gguf)": the file as a user recognises it, and where it is. */
export function fileLabel(file: string): string {
  return `${path.basename(file)} (${file})`;
}

/** A file-system error on the model file (or an adapter), as a sentence. */
export function fileProblem(what: "model file" | "LoRA adapter", file: string, error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  const reason =
    code === "ENOENT"
      ? "does not exist"
      : code === "EACCES" || code === "EPERM"
        ? "cannot be read: permission denied"
        : code === "EISDIR"
          ? "is a folder, not a file"
          : code === "ELOOP"
            ? "is a link that leads nowhere"
            : code === "EIO"
              ? "cannot be read: the disk reported an error"
              : `cannot be read (${code === undefined ? (error instanceof Error ? error.message : String(error)) : String(code)})`;
  return `The ${what} ${file} ${reason}.`;
}

/** llama.cpp's own reason, from its log lines, if it gave one. */
function llamaReason(log: readonly string[]): string | undefined {
  const lines = [...log].reverse();
  for (const pattern of [/error loading model: (?:[a-z_]+: )?(.+)$/, /llama_model_load: (.+)$/, /(failed to (?!load model).+)$/i]) {
    for (const line of lines) {
      const m = pattern.exec(line);
      if (m?.[1]) return m[1].trim();
    }
  }
  return undefined;
}

/**
 * The message for an error thrown by node-llama-cpp while loading `file`: `stage` says whether the weights or the
 * context were being made. `log` is llama.cpp's recent log lines, where its reasons appear.
 */
export function plainLoadError(stage: "weights" | "context", error: unknown, file: string, log: readonly string[] = []): string {
  const raw = error instanceof Error ? error.message : String(error);
  const name = error instanceof Error ? error.name : "";
  const reason = llamaReason(log);
  const lora = /Failed to initialize LoRA adapter "(.*)"/.exec(raw);
  if (lora?.[1]) {
    return `The LoRA adapter ${fileLabel(lora[1])} could not be applied to ${path.basename(file)}${reason ? `: ${reason}` : ""}. Check that it was made for this base model (same architecture and sizes).`;
  }
  if (name === "InsufficientMemoryError" || /too large for the available|Not enough VRAM/i.test(raw)) {
    return `${fileLabel(file)} does not fit in this machine's memory: ${raw.replace(/\.$/, "")}. A smaller model, a smaller context size, or fewer GPU layers may fit.`;
  }
  if (name === "InvalidGgufMagicError") return `${fileLabel(file)} is not a GGUF model file.`;
  if (/Failed to load model/i.test(raw)) {
    return `llama.cpp could not load ${fileLabel(file)}${reason ? `: ${reason}` : ""}. The file may be incomplete, or made for a newer version of llama.cpp.`;
  }
  if (/Failed to create context/i.test(raw)) {
    return `llama.cpp could not create a context for ${fileLabel(file)}${reason ? `: ${reason}` : ""}. A smaller context size may work.`;
  }
  const what = stage === "weights" ? "load" : "create a context for";
  return `Could not ${what} ${fileLabel(file)}: ${raw}${reason && !raw.includes(reason) ? ` (llama.cpp: ${reason})` : ""}.`;
}

/** node-llama-cpp's texts for a failed llama_decode (its native binding's: it gives no reason of its own). */
const decodeFailures = [/^Eval has failed$/, /could not find a KV slot/, /Unknown error when calling "llama_decode"/];

export function isDecodeFailure(error: unknown): boolean {
  const raw = error instanceof Error ? error.message : String(error);
  return decodeFailures.some((pattern) => pattern.test(raw));
}

/**
 * A failed evaluation in words: llama.cpp's reason from its log lines (the first that is not its generic "failed to
 * decode"), and what became of the conversation. `log` is llama.cpp's lines since the turn began.
 */
export function plainDecodeError(error: unknown, log: readonly string[] = []): string {
  const raw = error instanceof Error ? error.message : String(error);
  const generic = /failed to decode|failed to initialize batch|failed to prepare|^llama_decode:/i;
  const reason = log
    .map((line) =>
      (line.split("\n")[0] ?? "")
        .trim()
        .replace(/^[a-z_]+: /, "")
        .replace(/:$/, ""),
    )
    .find((line) => line !== "" && !generic.test(line));
  const what = /KV slot/.test(raw) ? "the context has no room left for it" : (reason ?? `llama.cpp's decode step failed (${raw})`);
  return `The model could not evaluate this turn: ${what}. The conversation was reset and keeps its history; the next turn evaluates it again.`;
}
