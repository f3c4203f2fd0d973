/**
 * HumanEvalComm's rows, read and checked one line at a time: a malformed row is counted with its line number and
 * reason and the rest of the file is still used. Then the items of a run: each problem in each chosen category.
 */
import { z } from "zod";
import { seededRandom, shuffled } from "../random.js";

/** The modified kinds: ambiguous (a), inconsistent (c), incomplete (p), and their combinations. */
const modifiedCategories = ["1a", "1c", "1p", "2ac", "2ap", "2cp", "3acp"] as const;
type ModifiedCategory = (typeof modifiedCategories)[number];
export type Category = ModifiedCategory | "original";
export const allCategories: readonly Category[] = [...modifiedCategories, "original"];

export const categoryLabels: Record<Category, string> = {
  "1a": "ambiguous",
  "1c": "inconsistent",
  "1p": "incomplete",
  "2ac": "ambiguous + inconsistent",
  "2ap": "ambiguous + incomplete",
  "2cp": "inconsistent + incomplete",
  "3acp": "all three",
  original: "the unmodified, clear prompt",
};

export function isCategory(value: string): value is Category {
  return (allCategories as readonly string[]).includes(value);
}

export function isModified(category: Category): category is ModifiedCategory {
  return category !== "original";
}

/** The benchmark's field for each category. */
const promptField = (category: Category): string => (category === "original" ? "prompt" : `prompt${category}`);

export interface TestCase {
  /** Python source: the call's arguments for `==`, or the value put in place of `$input$`. */
  input: string;
  /** The expected value as Python prints it (for `==`). */
  output: string;
  /** `==`, or a Python expression (or a small program with `$input$`/`$demo$`) that must come out True. */
  relation: string;
}

interface Problem {
  name: string;
  /** 1-based line in the benchmark file. */
  line: number;
  entryPoint: string;
  prompts: Partial<Record<Category, string>>;
  tests: TestCase[];
  /** The reference solution (the whole function), where the row has one. */
  solution?: string;
}

export interface MalformedRow {
  line: number;
  reason: string;
}

interface Benchmark {
  problems: Problem[];
  malformed: MalformedRow[];
}

/** A JSON value written as Python source (the benchmark stores most test values as strings, a few as JSON). */
export function pythonLiteral(value: unknown, top = true): string {
  if (typeof value === "string") return top ? value : JSON.stringify(value);
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : value > 0 ? "float('inf')" : value < 0 ? "float('-inf')" : "float('nan')";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (value === null || value === undefined) return "None";
  if (Array.isArray(value)) return `[${value.map((v) => pythonLiteral(v, false)).join(", ")}]`;
  return `{${Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => `${JSON.stringify(k)}: ${pythonLiteral(v, false)}`)
    .join(", ")}}`;
}

const testValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.unknown()), z.record(z.string(), z.unknown())]);
const row = z.object({
  name: z.string().min(1),
  prompt: z.string().refine((s) => s.trim() !== "", "is empty"),
  entry_point: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "is not a Python name"),
  test_case: z.array(z.object({ input: testValue, output: testValue.nullable(), relation: z.string().min(1) })).min(1, "has no test cases"),
  solution: z.string().optional(),
});

/** Reads the benchmark's JSON Lines text. Never throws on a bad row: it is listed in `malformed`. */
export function readBenchmark(text: string): Benchmark {
  const problems: Problem[] = [];
  const malformed: MalformedRow[] = [];
  const seen = new Set<string>();
  text.split("\n").forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === "") return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      malformed.push({ line, reason: "not valid JSON" });
      return;
    }
    const parsed = row.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? issue.path.join(".") : "the row";
      malformed.push({ line, reason: `${where} ${issue?.message ?? "is invalid"}` });
      return;
    }
    const r = parsed.data;
    if (seen.has(r.name)) {
      malformed.push({ line, reason: `${r.name} appears twice (the first is used)` });
      return;
    }
    seen.add(r.name);
    const prompts: Partial<Record<Category, string>> = {};
    const record = json as Record<string, unknown>;
    for (const category of allCategories) {
      const value = record[promptField(category)];
      if (typeof value === "string" && value.trim() !== "") prompts[category] = value;
    }
    problems.push({
      name: r.name,
      line,
      entryPoint: r.entry_point,
      prompts,
      tests: r.test_case.map((t) => ({ input: pythonLiteral(t.input), output: pythonLiteral(t.output), relation: t.relation })),
      ...(r.solution !== undefined && r.solution.trim() !== "" ? { solution: r.solution } : {}),
    });
  });
  return { problems, malformed };
}

/**
 * What a problem's prompt puts in scope for its solution: its import lines (`from typing import List`) and the other
 * functions it defines in full (HumanEval/10's `is_palindrome`, HumanEval/38's `encode_cyclic`). HumanEval runs a
 * completion after its prompt, so these are in scope there; a model that answers with the function alone would
 * otherwise fail on `List` or on the helper before any test runs. They go before the tested code, so the code's own
 * definitions still win. The function to write (`entryPoint`, or `candidate` in a modified prompt) is left out.
 */
export function promptPreamble(prompt: string, entryPoint: string): string {
  const lines = prompt.split("\n");
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (/^(?:import\s+\w|from\s+[\w.]+\s+import\s)/.test(line)) {
      kept.push(line);
      continue;
    }
    const name = /^def\s+(\w+)\s*\(/.exec(line)?.[1];
    if (name === undefined) continue;
    // The block runs to the next line at the top level that is not blank.
    let end = i + 1;
    while (end < lines.length && (lines[end] === "" || /^\s/.test(lines[end] ?? ""))) end++;
    if (name !== entryPoint && name !== "candidate") {
      const block = lines.slice(i, end);
      while (block.at(-1)?.trim() === "") block.pop();
      kept.push("", ...block);
    }
    i = end - 1;
  }
  return kept.join("\n").trim();
}

/** One thing to evaluate: a problem's prompt in one category. */
export interface EvalItem {
  /** `HumanEval/0#1a` */
  id: string;
  name: string;
  category: Category;
  /** What the model sees. */
  prompt: string;
  /** The original (clear) description, which the judge sees. */
  original: string;
  entryPoint: string;
  tests: TestCase[];
  /** The reference solution, for `--answers reference` (see reference-answers.ts). */
  solution?: string;
}

const itemId = (name: string, category: Category): string => `${name}#${category}`;

export interface Selection {
  categories: readonly Category[];
  /** At most this many problems per category. */
  limit?: number;
  seed: number;
}

/**
 * The items of a run, in benchmark order. With a limit, the problems are drawn once in a seeded order and each
 * category takes the first ones that have it, so categories share problems where they can (the originals of a
 * sample are the same problems as its modified prompts, which makes the cost of asking a paired comparison).
 */
export function selectItems(problems: readonly Problem[], selection: Selection): EvalItem[] {
  const order = selection.limit === undefined ? [...problems] : shuffled(problems, seededRandom(selection.seed));
  const chosen = new Set<string>();
  for (const category of selection.categories) {
    const having = order.filter((p) => p.prompts[category] !== undefined);
    const take = selection.limit === undefined ? having : having.slice(0, selection.limit);
    for (const p of take) chosen.add(itemId(p.name, category));
  }
  const items: EvalItem[] = [];
  for (const p of problems) {
    const original = p.prompts.original;
    if (original === undefined) continue;
    for (const category of allCategories) {
      const prompt = p.prompts[category];
      if (prompt === undefined || !chosen.has(itemId(p.name, category))) continue;
      items.push({
        id: itemId(p.name, category),
        name: p.name,
        category,
        prompt,
        original,
        entryPoint: p.entryPoint,
        tests: p.tests,
        ...(p.solution !== undefined ? { solution: p.solution } : {}),
      });
    }
  }
  return items;
}
