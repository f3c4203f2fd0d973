/**
 * What the benchmark and check:gpu time with: their command-line flags, medians, CPU time from Linux's schedstat,
 * the clock on a streamed turn, and a bare decode loop (node-llama-cpp at its fastest, counting tokens and nothing else).
 */
import { readdirSync, readFileSync } from "node:fs";

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};

/**
 * CPU time (ns) spent so far by every thread of these processes, from Linux's schedstat; undefined elsewhere. On a
 * shared machine the wall clock mostly measures the neighbours; CPU time per token measures the work.
 */
export function cpuNanos(pids: readonly number[]): number | undefined {
  try {
    let total = 0;
    for (const pid of pids) {
      for (const task of readdirSync(`/proc/${pid}/task`)) {
        total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
      }
    }
    return total;
  } catch {
    return undefined;
  }
}

/**
 * Times the streamed pieces of one turn. The reply's prefix (the opened fence) is streamed before the prompt is even
 * evaluated, so the clock starts at the first generated piece after it: the rate is generation alone.
 */
export function streamClock(
  prefix: string,
  pids: readonly number[] = [process.pid],
): { onChunk: (text: string) => void; rate: (tokens: number) => number; cpuPerToken: (tokens: number) => number } {
  let first = 0;
  let last = 0;
  let firstCpu: number | undefined;
  let sawPrefix = false;
  return {
    onChunk: (text) => {
      if (!sawPrefix && text.startsWith(prefix)) {
        sawPrefix = true;
        // Joined with the first generated text (a fast model, a worker that joins pieces): the clock starts here.
        if (text.length === prefix.length) return;
      }
      const now = performance.now();
      if (first === 0) {
        first = now;
        firstCpu = cpuNanos(pids);
      }
      last = now;
    },
    rate: (tokens) => (tokens > 1 && last > first ? ((tokens - 1) * 1000) / (last - first) : NaN),
    /** Called when the turn has returned: CPU microseconds per token since the first generated piece. */
    cpuPerToken: (tokens) => {
      const now = cpuNanos(pids);
      return tokens > 1 && now !== undefined && firstCpu !== undefined ? (now - firstCpu) / 1000 / (tokens - 1) : NaN;
    },
  };
}

/** The bare loop: the prompt but its last token evaluated, then up to `max` tokens decoded from it at temperature 0. */
export async function bareDecode<T>(
  sequence: { evaluateWithoutGeneratingNewTokens(tokens: T[]): Promise<void>; evaluate(tokens: T[], options: { temperature: number }): AsyncIterable<T> },
  prompt: readonly T[],
  max: number,
): Promise<{ count: number; tokensPerSecond: number; cpuMicrosPerToken: number }> {
  const input = [...prompt];
  const last = input.pop();
  await sequence.evaluateWithoutGeneratingNewTokens(input);
  let count = 0;
  let first = 0;
  let firstCpu: number | undefined;
  if (last !== undefined) {
    for await (const token of sequence.evaluate([last], { temperature: 0 })) {
      void token;
      if (count === 0) {
        first = performance.now();
        firstCpu = cpuNanos([process.pid]);
      }
      if (++count >= max) break;
    }
  }
  const tokensPerSecond = count > 1 ? ((count - 1) * 1000) / (performance.now() - first) : NaN;
  const endCpu = cpuNanos([process.pid]);
  const cpuMicrosPerToken = count > 1 && endCpu !== undefined && firstCpu !== undefined ? (endCpu - firstCpu) / 1000 / (count - 1) : NaN;
  return { count, tokensPerSecond, cpuMicrosPerToken };
}
