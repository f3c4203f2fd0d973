/**
 * Reads code tasks from disk for `synth` and `mix`: a JSONL file (APPS- or HumanEval-style rows), or a folder in the
 * APPS layout (a folder per problem with question.txt and solutions.json, at any depth up to three, such as
 * APPS/train/0000). Problems are reported per item; only a path that cannot be read at all throws.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { collectTasks, readAppsProblem, readTaskLine, type CodeTask, type TaskProblem, type TaskRead } from "../../core/tasks.js";

const problemFiles = ["question.txt", "solutions.json", "input_output.json"];

async function readIfThere(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** The problem folders under `root` (itself, if it is one), sorted, as paths relative to root's parent. */
async function problemFolders(root: string, depth = 0): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true });
  if (entries.some((e) => e.isFile() && problemFiles.includes(e.name))) return [root];
  if (depth >= 3) return [];
  const folders = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const found: string[] = [];
  for (const name of folders) found.push(...(await problemFolders(path.join(root, name), depth + 1)));
  return found;
}

interface ReadTasks {
  tasks: CodeTask[];
  problems: TaskProblem[];
  /** How many items the input held (read or not). */
  items: number;
}

export async function readTasks(input: string): Promise<ReadTasks> {
  const info = await stat(input).catch(() => undefined);
  if (!info) throw new Error(`${input} does not exist.`);
  const reads: TaskRead[] = [];
  if (info.isDirectory()) {
    for (const folder of await problemFolders(input)) {
      const id = path.relative(input, folder).split(path.sep).join("/") || path.basename(folder);
      const [question, solutions] = await Promise.all([readIfThere(path.join(folder, "question.txt")), readIfThere(path.join(folder, "solutions.json"))]);
      reads.push(readAppsProblem(id, { ...(question !== undefined ? { question } : {}), ...(solutions !== undefined ? { solutions } : {}) }));
    }
    if (reads.length === 0) throw new Error(`${input} holds no problem folders (folders with question.txt, as in APPS).`);
  } else {
    const name = path.basename(input);
    const lines = (await readFile(input, "utf8")).split("\n");
    lines.forEach((line, index) => {
      if (line.trim() !== "") reads.push(readTaskLine(line, `${name}:${index + 1}`));
    });
  }
  return { ...collectTasks(reads), items: reads.length };
}

/** "skipped X: why" or "warning X: what" for each problem. */
export function describeProblem(problem: TaskProblem): string {
  return `${problem.skipped ? "skipped" : "warning"} ${problem.where}: ${problem.message}`;
}
