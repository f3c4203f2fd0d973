/**
 * Stand-ins for the servers users run, each a real HTTP server on 127.0.0.1 (test/helpers/openai-server.ts) with the
 * ways its kind differs, as those servers behave:
 * - llama.cpp's server: models `owned_by: "llamacpp"`, any model name accepted, log-probabilities, continues a prefill;
 * - vLLM: `owned_by: "vllm"`, a model name it does not serve is a 404 in vLLM's words, log-probabilities, prefill;
 * - Ollama: `owned_by: "library"`, ignores `logprobs` (a plain one-token reply), ignores the prefill and writes its
 *   reply anew.
 * Behind each, a scripted coder: an assessment asks one question, the code request gets a function.
 */
import { startOpenAIServer, type RecordedRequest, type StandInReply, type StandInServer } from "./openai-server.js";

export type ServedKind = "llama.cpp" | "vLLM" | "Ollama";

const owners: Record<ServedKind, string> = { "llama.cpp": "llamacpp", vLLM: "vllm", Ollama: "library" };

export const servedQuestion = "Should the result keep the first occurrence of each item?";
export const servedCode = "def dedupe(xs):\n    return list(dict.fromkeys(xs))";

interface Message {
  role: string;
  content: string;
}

function coder(kind: ServedKind, served: readonly string[]): (request: RecordedRequest) => StandInReply {
  return (request) => {
    const body = request.body as { model?: string; messages?: Message[]; logprobs?: boolean; response_format?: unknown; continue_final_message?: boolean };
    if (kind === "vLLM" && !served.includes(body.model ?? "")) {
      return { status: 404, body: { object: "error", message: `The model \`${body.model}\` does not exist.`, type: "NotFoundError", code: 404 } };
    }
    if (body.logprobs) {
      if (kind === "Ollama") return { text: "ask", finishReason: "length" };
      return {
        topLogprobs: [
          { token: "ask", logprob: Math.log(0.9) },
          { token: "pro", logprob: Math.log(0.1) },
        ],
      };
    }
    if (body.response_format) {
      return { text: JSON.stringify({ decision: "ask", questions: [{ question: servedQuestion, suggestions: ["yes", "no"] }] }) };
    }
    const last = body.messages?.at(-1);
    const prefill = last?.role === "assistant" ? last.content : "";
    const code = `\`\`\`python\n${servedCode}\n\`\`\``;
    // A server that continues the prefill sends what follows it; Ollama writes the whole reply again.
    return { text: prefill && kind !== "Ollama" && code.startsWith(prefill) ? code.slice(prefill.length) : code };
  };
}

/** A stand-in of `kind` serving `models` (the first is the one to name). */
export function startServedKind(kind: ServedKind, models: string[] = ["qwen2.5-coder-1.5b"]): Promise<StandInServer> {
  return startOpenAIServer(coder(kind, models), models, { ownedBy: owners[kind] });
}
