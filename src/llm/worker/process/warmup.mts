/**
 * The warm-up right after loading: a few evaluations of the shapes a conversation uses (a long prompt batch, short
 * ones, single-token generation) on a sequence of its own, then given back. On a GPU this compiles the backend's
 * kernels (with an empty shader cache the first prompt ran at 47 tokens/s instead of ~15,000, about 18 s, on an
 * H200 with Vulkan); on any backend it pages the weights in. Its first generated tokens are also the check that the
 * weights give finite numbers that tell tokens apart.
 */
import path from "node:path";
import type { LlamaContext, LlamaModel, Token } from "node-llama-cpp";
import { WorkerError, type Backend } from "../protocol.js";

const sampleText =
  "def merge_sorted(left, right):\n    result = []\n    while left and right:\n        result.append(left.pop(0) if left[0] <= right[0] else right.pop(0))\n    return result + left + right\n";

/** Prompt batch sizes to evaluate before generating: a GPU picks kernels by batch size, so each size class once. */
function warmupBatches(backend: Backend, contextSize: number, batchSize: number): number[] {
  const room = Math.max(0, Math.floor(contextSize / 2) - 8);
  const sizes = backend === "cpu" ? [16] : [Math.min(batchSize, 512), 48, 12];
  const out: number[] = [];
  let used = 0;
  for (const size of sizes) {
    const n = Math.min(size, room - used);
    if (n < 1) break;
    out.push(n);
    used += n;
  }
  return out.length > 0 ? out : [1];
}

/**
 * What is wrong with a generated token, from the probability of the token chosen (greedily) among `vocabulary`:
 * NaN (weights that overflow in the feed-forward product), or no more than every other token's, which a trained
 * model never gives: every logit came out the same, as when embeddings so large that their squares overflow make
 * the RMS norm zero the whole hidden state (the model then "writes" token 0, NUL characters, forever).
 */
function firstTokenProblem(confidence: number, vocabulary: number): string | undefined {
  if (!Number.isFinite(confidence)) return "its first token comes out as NaN";
  if (vocabulary > 1 && confidence * vocabulary <= 1 + 1e-3) return "every token comes out equally likely (the output carries no information)";
  return undefined;
}

export async function warmUp(
  model: LlamaModel,
  context: LlamaContext,
  backend: Backend,
  modelPath: string,
  signal: AbortSignal,
): Promise<{ tokens: number; ms: number }> {
  const started = performance.now();
  const batches = warmupBatches(backend, context.contextSize, context.batchSize);
  const needed = batches.reduce((a, b) => a + b, 0) + 1;
  const one = model.tokenize(sampleText);
  const tokens: Token[] = [];
  while (tokens.length < needed && one.length > 0) tokens.push(...one);
  tokens.length = needed;
  const sequence = context.getSequence();
  try {
    let at = 0;
    for (const n of batches) {
      signal.throwIfAborted();
      await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(at, at + n));
      at += n;
    }
    const generate = sequence.evaluateWithMetadata([tokens[at] as Token], { confidence: true, probabilities: true }, { temperature: 0 });
    try {
      for (let i = 0; i < 3; i++) {
        signal.throwIfAborted();
        const next = await generate.next();
        if (next.done) break;
        const problem = firstTokenProblem(next.value.confidence, next.value.probabilities.size);
        if (problem) {
          throw new WorkerError(
            "invalid-model",
            `${path.basename(modelPath)} loads, but ${problem}: its weights are corrupt, or so large that the computation overflows. It was not kept. (${modelPath})`,
          );
        }
      }
    } finally {
      await generate.return();
    }
    return { tokens: sequence.tokenMeter.usedInputTokens + sequence.tokenMeter.usedOutputTokens, ms: Math.round(performance.now() - started) };
  } finally {
    sequence.dispose();
  }
}
