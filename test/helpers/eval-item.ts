/** The small benchmark item the protocol's unit tests run: `add`, renamed `candidate` and made vague in its 1a prompt. */
import type { EvalItem } from "../../src/core/eval/benchmark.js";

export const addItem: EvalItem = {
  id: "P/0#1a",
  name: "P/0",
  category: "1a",
  prompt: 'def candidate(a, b):\n    """Combine a and b."""\n',
  original: 'def add(a, b):\n    """Add a and b."""\n',
  entryPoint: "add",
  tests: [{ input: "1, 2", output: "3", relation: "==" }],
};
