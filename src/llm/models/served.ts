/**
 * Model servers already running on this machine (Ollama, llama.cpp's server, LM Studio, vLLM), found on their usual
 * ports so the model picker can offer them. Only loopback is asked: nothing is sent anywhere the user did not choose.
 */
import { modelList, normaliseBaseUrl } from "./endpoint.js";

type ServerKind = "Ollama" | "llama.cpp server" | "LM Studio" | "vLLM" | "OpenAI-compatible server";

/** The usual port of each kind of server. */
const usualServers: readonly { kind: ServerKind; port: number }[] = [
  { kind: "Ollama", port: 11434 },
  { kind: "llama.cpp server", port: 8080 },
  { kind: "LM Studio", port: 1234 },
  { kind: "vLLM", port: 8000 },
];

interface ServedModels {
  kind: ServerKind;
  baseUrl: string;
  models: string[];
}

/** Who serves a model list, from its entries' `owned_by` where the server says; else from the port's usual kind. */
function kindOf(ownedBy: readonly string[], fallback: ServerKind): ServerKind {
  const owners = ownedBy.map((o) => o.toLowerCase());
  if (owners.includes("llamacpp")) return "llama.cpp server";
  if (owners.includes("vllm")) return "vLLM";
  if (owners.includes("library") || owners.includes("ollama")) return "Ollama";
  return fallback;
}

/** Asks each usual port of `host` for its model list; the servers that answer, each with the models it serves. */
export async function detectServedModels(
  options: { host?: string; servers?: readonly { kind: ServerKind; port: number }[]; timeoutMs?: number } = {},
): Promise<ServedModels[]> {
  const host = options.host ?? "127.0.0.1";
  const found = await Promise.all(
    (options.servers ?? usualServers).map(async ({ kind, port }): Promise<ServedModels | undefined> => {
      const baseUrl = normaliseBaseUrl(`http://${host}:${port}/v1`);
      try {
        const response = await fetch(`${baseUrl}/models`, { signal: AbortSignal.timeout(options.timeoutMs ?? 500) });
        if (!response.ok) return undefined;
        const listed = modelList(await response.json());
        return listed.length > 0
          ? {
              kind: kindOf(
                listed.flatMap((m) => (m.ownedBy !== undefined ? [m.ownedBy] : [])),
                kind,
              ),
              baseUrl,
              models: listed.map((m) => m.id),
            }
          : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  return found.filter((f): f is ServedModels => f !== undefined);
}

/** Where a served model runs, as the status bar and the chat header say it: "served at 127.0.0.1:8080". */
export function servedAt(baseUrl: string): string {
  const url = new URL(baseUrl);
  return `served at ${url.host}`;
}
