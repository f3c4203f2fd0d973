/**
 * Code tasks as the dataset commands read them: an APPS problem folder (`question.txt`, `solutions.json`, ...), a line
 * of APPS-style JSONL, or a line of HumanEval-style JSONL (HumanEval and HumanEvalComm). Pure: the caller reads the
 * files and hands over their text; every problem is reported for its own item, never thrown.
 */

type TaskLayout = "apps" | "apps-jsonl" | "humaneval-jsonl";

export interface CodeTask {
  /** Unique within one input: the problem folder's path, `problem_id`, `task_id` or `name`. */
  id: string;
  layout: TaskLayout;
  /** What the user would ask: the problem statement, or a HumanEval prompt (signature and docstring). */
  description: string;
  /** Reference solutions (Python source), in the source's order; empty when it has none. */
  solutions: string[];
}

/** One item read: a task (with warnings about parts that could not be used), or why it could not be read. */
export type TaskRead = { ok: true; task: CodeTask; warnings: string[] } | { ok: false; where: string; error: string };

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Solutions from a JSON text or value: a list of strings. Anything else is a warning and no solutions. */
function readSolutions(value: unknown, what: string): { solutions: string[]; warning?: string } {
  let list = value;
  if (typeof value === "string") {
    try {
      list = JSON.parse(value);
    } catch (error) {
      return { solutions: [], warning: `${what} is not valid JSON (${messageOf(error)}); its solutions are not used.` };
    }
  }
  if (!Array.isArray(list) || !list.every((s): s is string => typeof s === "string")) {
    return { solutions: [], warning: `${what} is not a list of strings; its solutions are not used.` };
  }
  return { solutions: list.filter((s) => s.trim() !== "") };
}

/**
 * An APPS problem folder, from the text of its files (undefined where a file is missing). `question.txt` is required;
 * `solutions.json` is optional (a task without solutions can still be rewritten, but gives no original example).
 */
export function readAppsProblem(id: string, files: { question?: string; solutions?: string }): TaskRead {
  if (files.question === undefined) return { ok: false, where: id, error: "question.txt is missing." };
  if (files.question.trim() === "") return { ok: false, where: id, error: "question.txt is empty." };
  const warnings: string[] = [];
  let solutions: string[] = [];
  if (files.solutions !== undefined) {
    const read = readSolutions(files.solutions, "solutions.json");
    solutions = read.solutions;
    if (read.warning) warnings.push(read.warning);
  }
  return { ok: true, task: { id, layout: "apps", description: files.question, solutions }, warnings };
}

const idOf = (value: unknown): string | undefined =>
  typeof value === "string" && value.trim() !== "" ? value.trim() : typeof value === "number" && Number.isFinite(value) ? String(value) : undefined;

/**
 * One line of a JSONL task file: APPS-style (`question`, `solutions`, `problem_id`) or HumanEval-style (`prompt`,
 * `canonical_solution`, `task_id`; HumanEvalComm's `name` and `solution`). `where` names the line in messages.
 */
export function readTaskLine(line: string, where: string): TaskRead {
  let row: unknown;
  try {
    row = JSON.parse(line);
  } catch (error) {
    return { ok: false, where, error: `not valid JSON (${messageOf(error)}).` };
  }
  if (typeof row !== "object" || row === null || Array.isArray(row)) return { ok: false, where, error: "not a JSON object." };
  const r = row as Record<string, unknown>;
  if ("question" in r) {
    const id = idOf(r.problem_id) ?? idOf(r.id) ?? idOf(r.task_id);
    if (!id) return { ok: false, where, error: "an APPS-style row needs a problem_id (or id)." };
    if (typeof r.question !== "string" || r.question.trim() === "") return { ok: false, where: `${where} (${id})`, error: "the question is empty." };
    const warnings: string[] = [];
    let solutions: string[] = [];
    if (r.solutions !== undefined && r.solutions !== null && r.solutions !== "") {
      const read = readSolutions(r.solutions, "solutions");
      solutions = read.solutions;
      if (read.warning) warnings.push(read.warning);
    }
    return { ok: true, task: { id, layout: "apps-jsonl", description: r.question, solutions }, warnings };
  }
  if ("prompt" in r) {
    const id = idOf(r.task_id) ?? idOf(r.name) ?? idOf(r.id);
    if (!id) return { ok: false, where, error: "a HumanEval-style row needs a task_id (or name)." };
    if (typeof r.prompt !== "string" || r.prompt.trim() === "") return { ok: false, where: `${where} (${id})`, error: "the prompt is empty." };
    // HumanEval's canonical solution is the body that follows the prompt; HumanEvalComm's solution is whole.
    const whole = typeof r.solution === "string" ? r.solution : typeof r.canonical_solution === "string" ? r.prompt + r.canonical_solution : "";
    return { ok: true, task: { id, layout: "humaneval-jsonl", description: r.prompt, solutions: whole.trim() !== "" ? [whole] : [] }, warnings: [] };
  }
  return { ok: false, where, error: 'neither an APPS-style row (with "question") nor a HumanEval-style row (with "prompt").' };
}

/** Something wrong with one input item: `skipped` when the item is not used at all, else a warning. */
export interface TaskProblem {
  where: string;
  message: string;
  skipped: boolean;
}

/** The tasks of one input, in order; a repeated id is reported and its later items dropped. */
export function collectTasks(reads: readonly TaskRead[]): { tasks: CodeTask[]; problems: TaskProblem[] } {
  const tasks: CodeTask[] = [];
  const problems: TaskProblem[] = [];
  const seen = new Set<string>();
  for (const read of reads) {
    if (!read.ok) {
      problems.push({ where: read.where, message: read.error, skipped: true });
      continue;
    }
    for (const warning of read.warnings) problems.push({ where: read.task.id, message: warning, skipped: false });
    if (seen.has(read.task.id)) {
      problems.push({ where: read.task.id, message: "the same id appears again.", skipped: true });
      continue;
    }
    seen.add(read.task.id);
    tasks.push(read.task);
  }
  return { tasks, problems };
}
