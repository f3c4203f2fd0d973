/**
 * Runs a model's Python against a problem's test cases, away from everything else:
 * - confined by bubblewrap: a file system of its own in which the system's programs and Python are read-only, its
 *   own temporary folder is the only writable place on disk (besides a private, small /tmp), and HOME, the
 *   benchmark and everything else on this machine are not there at all; an empty network namespace; a user, process
 *   and IPC namespace of its own; no capabilities; killed with this process. Without bubblewrap the sandbox refuses
 *   to start unless asked to run unconfined (`--unsafe-no-sandbox`);
 * - inside it, each call runs in a forked child with a memory limit (RLIMIT_AS), a CPU limit and a file-size limit,
 *   and is killed when it runs past its time; a fresh child per call means one case's state (or crash) never
 *   reaches the next, as in HumanEvalComm, which ran each case in a new process;
 * - the tested code never sees an expected output: it computes each test case's call (the candidate's value) and
 *   nothing else, and the verdict is reached outside it, here for `==` and in a Python judge that runs no untrusted
 *   code for the other relations (python-scripts.ts says how the results travel so that the code cannot forge them);
 * - the candidate's output goes nowhere (a capped buffer, /dev/null), so a flood can neither fake nor stall results;
 *   the whole process group is killed from here if it outlives its budget.
 * Test cases follow HumanEvalComm's rules: `==` compares what Python prints for `entry_point(<input>)` with the
 * expected text; any other relation is Python that must come out `True` (with `$input$` and `$demo$` filled in,
 * `candidate` meaning the entry point, `$demo$` the prompt's own code); a function renamed `candidate` is mapped back
 * to the entry point.
 *
 * The same confinement runs code for the clarify engine (`callAll`, the CodeRunner interface).
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pLimit from "p-limit";
import type { CallOutcome, CodeRunner } from "../../core/code-runner.js";
import type { TestCase } from "../../core/eval/benchmark.js";
import type { TestOutcome } from "../../core/eval/results.js";
import type { SandboxInfo } from "../../core/eval/summary.js";
import { callerPy, judgePy } from "./python-scripts.js";

const run = promisify(execFile);

interface SandboxOptions {
  /** The Python to use (default: python3 on PATH). */
  python?: string;
  /** Each test case's time limit (default 3 s, as HumanEvalComm). */
  caseTimeoutMs?: number;
  /** Each test case's address-space limit (default 1024 MB). */
  memoryMb?: number;
  /** Problems run at once (default 2). */
  concurrency?: number;
  /** Take the network away (default true); false leaves the network to the code, the file system still confined. */
  isolateNetwork?: boolean;
  /** Where each problem's temporary folder is made (default: the system's temporary folder). */
  tempRoot?: string;
  /** The bubblewrap program (default: bwrap on PATH). */
  bwrap?: string;
  /** Run the code unconfined where bubblewrap cannot confine it, instead of refusing to (default false). */
  allowUnconfined?: boolean;
}

interface SandboxProblem {
  entryPoint: string;
  tests: readonly TestCase[];
  /** Lines put before the code (the prompt's imports and helpers); also the `$demo$` module of relations. */
  preamble?: string;
}

/** What the untrusted side reports for one call, as checked by the caller harness. */
type CallReport =
  | { phase: "value"; str?: string; str_error?: string; repr: string; enc: unknown[] }
  | { phase: "load" | "missing" | "call" | "memory" | "crash"; error: string }
  | { phase: "timeout" };

/** How a test case's status reads for a call that gave no value. */
function failureStatus(report: Exclude<CallReport, { phase: "value" }>): string {
  switch (report.phase) {
    case "load":
      return `error: the code does not load: ${report.error}`;
    case "missing":
    case "call":
      return `error: ${report.error}`;
    case "memory":
      return "error: MemoryError (over the memory limit)";
    case "crash":
      return `crashed: ${report.error}`;
    case "timeout":
      return "timeout";
  }
}

const clip = (text: string, n = 200): string => (text.length <= n ? text : `${text.slice(0, n)}...`);

function readReport(value: unknown): CallReport | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const r = value as Record<string, unknown>;
  const text = (key: string): string | undefined => (typeof r[key] === "string" ? r[key] : undefined);
  switch (r.phase) {
    case "value":
      return {
        phase: "value",
        repr: text("repr") ?? "?",
        enc: Array.isArray(r.enc) ? (r.enc as unknown[]) : ["o", "?", "?"],
        ...(text("str") !== undefined ? { str: text("str") } : {}),
        ...(text("str_error") !== undefined ? { str_error: text("str_error") } : {}),
      };
    case "timeout":
      return { phase: "timeout" };
    case "load":
    case "missing":
    case "call":
    case "memory":
    case "crash":
      return { phase: r.phase, error: text("error") ?? "?" };
    default:
      return undefined;
  }
}

/** The text a process wrote, kept up to a limit; past a hard limit the process is killed. */
class Capture {
  text = "";
  bytes = 0;
  constructor(private readonly keep: number) {}
  add(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.text.length < this.keep) this.text += chunk.toString("utf8").slice(0, this.keep - this.text.length);
  }
}

/** Where the code's folder appears inside the confinement. */
const INSIDE = "/sandbox";

/** bubblewrap's arguments for a folder: the confined file system, namespaces and limits (without the command). */
function bwrapArgs(dir: string, pythonRoots: readonly string[], network: boolean, asNobody: boolean): string[] {
  const args = ["--unshare-all", ...(asNobody ? ["--unshare-user", "--uid", "65534", "--gid", "65534"] : []), ...(network ? ["--share-net"] : [])];
  args.push("--die-with-parent", "--new-session", "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc");
  for (const top of ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]) {
    if (!existsSync(top)) continue;
    if (lstatSync(top).isSymbolicLink()) args.push("--symlink", readlinkSync(top), top);
    else args.push("--ro-bind", top, top);
  }
  const covered = (p: string): boolean =>
    ["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"].some((t) => p === t || p.startsWith(`${t}/`));
  for (const root of new Set(pythonRoots)) if (!covered(root)) args.push("--ro-bind", root, root);
  args.push("--proc", "/proc", "--dev", "/dev", "--size", String(64 << 20), "--tmpfs", "/tmp", "--bind", dir, INSIDE, "--chdir", INSIDE, "--");
  return args;
}

interface Launch {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export class PythonSandbox implements CodeRunner {
  readonly languages = ["python"] as const;
  private readonly limit: ReturnType<typeof pLimit>;

  private constructor(
    private readonly python: string,
    /** bubblewrap's program and how to call it, or undefined when unconfined. */
    private readonly confine: { bwrap: string; roots: string[]; network: boolean; asNobody: boolean } | undefined,
    readonly info: SandboxInfo,
    concurrency: number,
    private readonly tempRoot: string,
  ) {
    this.limit = pLimit(Math.max(1, concurrency));
  }

  /**
   * Finds Python and checks that bubblewrap confines it; throws a clear error without Python, or without a working
   * confinement unless `allowUnconfined`.
   */
  static async create(options: SandboxOptions = {}): Promise<PythonSandbox> {
    const requested = options.python ?? "python3";
    let python: string;
    let version: string;
    let roots: string[];
    try {
      // The real interpreter, not a shim: the sandbox runs it with an empty environment.
      const { stdout } = await run(
        requested,
        [
          "-c",
          "import os, sys; print(os.path.realpath(sys.executable)); print(sys.version.split()[0]); print(os.path.realpath(sys.prefix)); print(os.path.realpath(sys.base_prefix))",
        ],
        { timeout: 30_000 },
      );
      const [exe, v, prefix, basePrefix] = stdout
        .trim()
        .split("\n")
        .map((l) => l.trim());
      python = exe !== undefined && exe !== "" ? exe : requested;
      version = v ?? "?";
      roots = [path.dirname(python), prefix, basePrefix].filter((r): r is string => r !== undefined && r.startsWith("/"));
    } catch (error) {
      throw new Error(
        `Python 3 is needed to run the tests (tried "${requested}"): ${error instanceof Error ? error.message.split("\n")[0] : String(error)}. Install it or name one with --python.`,
        { cause: error },
      );
    }
    const network = options.isolateNetwork !== false;
    const bwrap = options.bwrap ?? "bwrap";
    const tempRoot = options.tempRoot ?? os.tmpdir();
    let confine: { bwrap: string; roots: string[]; network: boolean; asNobody: boolean } | undefined;
    let why = "";
    const probeDir = await mkdtemp(path.join(tempRoot, "clarifycoder-sandbox-probe-"));
    try {
      for (const asNobody of [true, false]) {
        try {
          await run(bwrap, [...bwrapArgs(probeDir, roots, !network, asNobody), python, "-s", "-B", "-c", "open('probe', 'w').write('ok')"], {
            timeout: 30_000,
          });
          confine = { bwrap, roots, network: !network, asNobody };
          break;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          const said = (error as { stderr?: unknown }).stderr;
          const lastLine = typeof said === "string" ? said.trim().split("\n").at(-1) : undefined;
          why ||=
            code === "ENOENT"
              ? `${bwrap} is not installed`
              : lastLine !== undefined && lastLine !== ""
                ? lastLine
                : `${bwrap} failed${typeof code === "number" ? ` (exit ${code})` : ""}`;
        }
      }
    } finally {
      await rm(probeDir, { recursive: true, force: true }).catch(() => undefined);
    }
    if (confine === undefined && options.allowUnconfined !== true) {
      throw new Error(
        `The tested code cannot be confined here: bubblewrap does not run (${why.trim()}). Install it (Debian and Ubuntu: \`sudo apt-get install bubblewrap\`; it needs unprivileged user namespaces or root), or pass --unsafe-no-sandbox to run the model's code unconfined, able to write anywhere this user can and to reach the network.`,
      );
    }
    const description =
      confine === undefined
        ? `not isolated: no confinement (bubblewrap does not run: ${why.trim()}); the code could write anywhere this user can and reach the network`
        : !network
          ? "not isolated: turned off (bubblewrap confines the file system: read-only, but for its own folder)"
          : "isolated (bubblewrap: no network; the file system read-only but for its own folder; HOME and other files absent)";
    const caseTimeoutMs = options.caseTimeoutMs ?? 3000;
    const memoryMb = options.memoryMb ?? 1024;
    const info = { python: `Python ${version}`, network: description, caseTimeoutMs, memoryMb };
    return new PythonSandbox(python, confine, info, options.concurrency ?? 2, tempRoot);
  }

  /** Whether the code runs confined (bubblewrap), rather than unconfined by request. */
  get confined(): boolean {
    return this.confine !== undefined;
  }

  /** Runs every test case of a problem against `code`. Never throws for anything the code does. */
  run(code: string, problem: SandboxProblem): Promise<TestOutcome> {
    const total = problem.tests.length;
    if (code.trim() === "") return Promise.resolve({ passed: 0, total, statuses: problem.tests.map(() => "no code") });
    return this.limit(async () => {
      try {
        return await this.runNow(code, problem);
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        return { passed: 0, total, statuses: problem.tests.map(() => `not run: ${why}`) };
      }
    });
  }

  /**
   * The CodeRunner interface: runs `code` after `preamble` once per call (a fresh process each), confined and with
   * the same limits as the tests, and gives each call's value as its repr (up to 2,000 characters) or its error as
   * `TypeName: message`. Never throws for anything the code does.
   */
  callAll(input: { code: string; preamble?: string; calls: readonly string[]; timeoutMs?: number }): Promise<CallOutcome[]> {
    if (input.calls.length === 0) return Promise.resolve([]);
    return this.limit(async () => {
      const source = input.preamble ? `${input.preamble}\n${input.code}` : input.code;
      try {
        const reports = await this.callNow(source, input.calls, undefined, input.timeoutMs ?? this.info.caseTimeoutMs);
        return reports.map((r): CallOutcome => {
          switch (r.phase) {
            case "value":
              return { ok: true, value: r.repr };
            case "timeout":
              return { ok: false, error: `TimeoutError: the call ran past ${(input.timeoutMs ?? this.info.caseTimeoutMs) / 1000} s` };
            case "memory":
              return { ok: false, error: "MemoryError: over the memory limit" };
            case "crash":
              return { ok: false, error: `ProcessError: ${r.error}` };
            case "missing":
            case "load":
            case "call":
              return { ok: false, error: r.error };
          }
        });
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        return input.calls.map(() => ({ ok: false, error: `SandboxError: ${why}` }));
      }
    });
  }

  private async runNow(code: string, problem: SandboxProblem): Promise<TestOutcome> {
    const { entryPoint: entry, tests } = problem;
    // HumanEvalComm's mapping: a function renamed `candidate` is the entry point again.
    const renamed = code.includes("candidate(") ? code.split("candidate(").join(`${entry}(`) : code;
    const solution = problem.preamble ? `${problem.preamble}\n${renamed}` : renamed;
    const known = new Map<string, CallReport>();
    const record = async (calls: string[]): Promise<void> => {
      const fresh = [...new Set(calls)].filter((c) => !known.has(c));
      if (fresh.length === 0) return;
      const reports = await this.callNow(solution, fresh, entry, this.info.caseTimeoutMs);
      fresh.forEach((c, i) => known.set(c, reports[i] ?? { phase: "crash", error: "no report" }));
    };
    const direct = (t: TestCase): string => `${entry}(${t.input}\n)`;
    const statuses: string[] = tests.map(() => "");
    const relations = tests.flatMap((t, i) => (t.relation === "==" ? [] : [i]));
    // The calls the relations make are found by judging them with nothing recorded yet; each round records the
    // calls asked for, until every relation has a verdict (a relation whose calls depend on earlier values takes more).
    const asked = new Set<string>();
    const needs = (vs: readonly { need?: string[] }[]): string[] => {
      const calls = vs.flatMap((v) => v.need ?? []);
      for (const c of calls) asked.add(c);
      return calls;
    };
    let verdicts = relations.length > 0 ? await this.judge(problem, relations, known, asked) : [];
    await record([...tests.filter((t) => t.relation === "==").map(direct), ...needs(verdicts)]);
    for (let round = 0; round < 8 && verdicts.some((v) => v.need !== undefined); round++) {
      verdicts = await this.judge(problem, relations, known, asked);
      await record(needs(verdicts));
    }
    relations.forEach((caseIndex, k) => {
      const v = verdicts[k];
      statuses[caseIndex] = v?.status ?? (v?.need ? "error: the relation's calls never settled" : "error: no verdict");
    });
    tests.forEach((t, i) => {
      if (t.relation !== "==") return;
      const r = known.get(direct(t)) ?? { phase: "crash", error: "no report" };
      if (r.phase !== "value") statuses[i] = failureStatus(r);
      else if (r.str === undefined) statuses[i] = `error: ${r.str_error ?? "the value has no text"}`;
      else statuses[i] = r.str.trim() === t.output.trim() ? "passed" : `wrong: got ${clip(r.str.trim())}`;
    });
    return { passed: statuses.filter((s) => s === "passed").length, total: tests.length, statuses };
  }

  /** Asks the judge (no untrusted code in it) for a verdict on each relation, or the calls it still needs. */
  private async judge(
    problem: SandboxProblem,
    indexes: readonly number[],
    known: ReadonlyMap<string, CallReport>,
    asked: ReadonlySet<string>,
  ): Promise<{ status?: string; need?: string[] }[]> {
    const recorded: Record<string, { ok: true; enc: unknown[] } | { ok: false; status: string }> = {};
    for (const call of asked) {
      const r = known.get(call);
      if (r !== undefined) recorded[call] = r.phase === "value" ? { ok: true, enc: r.enc } : { ok: false, status: failureStatus(r) };
    }
    const cases = indexes.map((i) => problem.tests[i] as TestCase);
    const config = JSON.stringify({ entry: problem.entryPoint, preamble: problem.preamble ?? "", cases, known: recorded });
    const dir = await mkdtemp(path.join(this.tempRoot, "clarifycoder-judge-"));
    try {
      await writeFile(path.join(dir, "judge.py"), judgePy);
      const { stdout, code, why } = await this.spawnIn(dir, ["judge.py"], { stdin: config, budgetMs: 10_000 + cases.length * 2000 });
      let parsed: unknown;
      try {
        parsed = JSON.parse(stdout);
      } catch {
        parsed = undefined;
      }
      if (!Array.isArray(parsed) || parsed.length !== cases.length) return cases.map(() => ({ status: `error: the judge failed (${why ?? `exit ${code}`})` }));
      return parsed.map((v: unknown) => {
        const r = (typeof v === "object" && v !== null ? v : {}) as { status?: unknown; need?: unknown };
        if (Array.isArray(r.need)) return { need: r.need.filter((c): c is string => typeof c === "string") };
        return { status: typeof r.status === "string" ? r.status : "error: no verdict" };
      });
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** Runs the calls against `source` in a fresh confined folder: one report per call, in order. */
  private async callNow(source: string, calls: readonly string[], entry: string | undefined, timeoutMs: number): Promise<CallReport[]> {
    const dir = await mkdtemp(path.join(this.tempRoot, "clarifycoder-sandbox-"));
    try {
      await writeFile(path.join(dir, "solution.py"), source);
      await writeFile(path.join(dir, "caller.py"), callerPy);
      await writeFile(
        path.join(dir, "calls.json"),
        JSON.stringify({ entry: entry ?? null, timeout_s: timeoutMs / 1000, memory_mb: this.info.memoryMb, output_limit: 4096, repr_limit: 2000, calls }),
      );
      const reports: (CallReport | undefined)[] = calls.map(() => undefined);
      const forged = new Set<number>();
      const budgetMs = calls.length * (timeoutMs + 1000) + 10_000;
      const { code, why, output } = await this.spawnIn(dir, ["caller.py"], {
        budgetMs,
        onResultLine: (line) => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(line);
          } catch {
            return;
          }
          const i = (parsed as { i?: unknown } | null)?.i;
          const report = readReport(parsed);
          if (typeof i !== "number" || !Number.isInteger(i) || i < 0 || i >= calls.length || report === undefined) return;
          // One line per call: a second one for the same call means something else wrote here, and spoils both.
          if (reports[i] !== undefined) forged.add(i);
          reports[i] = report;
        },
      });
      const stopped = why ?? (code !== 0 ? `the sandbox failed (exit ${code}): ${output.trim().split("\n").slice(-1)[0] ?? ""}` : "the sandbox stopped");
      return reports.map(
        (r, i): CallReport =>
          forged.has(i) ? { phase: "crash", error: "more than one result for this call" } : (r ?? { phase: "crash", error: `not run: ${stopped}` }),
      );
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private launch(dir: string, script: readonly string[]): Launch {
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8", PYTHONHASHSEED: "0", PYTHONDONTWRITEBYTECODE: "1", PYTHONIOENCODING: "utf-8" };
    const argv = [this.python, "-s", "-B", ...script];
    if (this.confine === undefined) return { command: this.python, args: argv.slice(1), cwd: dir, env: { ...env, HOME: dir, TMPDIR: dir } };
    const args = [...bwrapArgs(dir, this.confine.roots, this.confine.network, this.confine.asNobody), ...argv];
    return { command: this.confine.bwrap, args, cwd: dir, env: { ...env, HOME: INSIDE, TMPDIR: "/tmp" } };
  }

  /** Starts Python on a script in `dir` (confined when possible), with fd 3 as a results pipe, and waits for it. */
  private async spawnIn(
    dir: string,
    script: readonly string[],
    options: { stdin?: string; budgetMs: number; onResultLine?: (line: string) => void },
  ): Promise<{ code: number | null; why: string | undefined; output: string; stdout: string }> {
    const { command, args, cwd, env } = this.launch(dir, script);
    const child = spawn(command, args, { cwd, env, stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe", "pipe"], detached: true });
    const output = new Capture(4096);
    const maxOutputBytes = 1 << 20;
    let stdout = "";
    let stopped: string | undefined;
    const killGroup = (why: string): void => {
      stopped ??= why;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    child.stdout?.on("data", (chunk: Buffer) => {
      if (options.onResultLine === undefined && stdout.length < 16 << 20) stdout += chunk.toString("utf8");
      output.add(chunk);
      if (options.onResultLine !== undefined && output.bytes > maxOutputBytes) killGroup("its output passed 1 MB");
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output.add(chunk);
      if (output.bytes > maxOutputBytes) killGroup("its output passed 1 MB");
    });
    let pending = "";
    const results = child.stdio[3] as NodeJS.ReadableStream | null;
    results?.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        options.onResultLine?.(line);
      }
    });
    if (options.stdin !== undefined) {
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(options.stdin);
    }
    const timer = setTimeout(() => killGroup(`it ran past ${Math.round(options.budgetMs / 1000)} s`), options.budgetMs);
    const code = await new Promise<number | null>((resolve) => {
      child.on("error", (error) => {
        stopped ??= `could not start Python: ${error.message}`;
        resolve(null);
      });
      child.on("close", (c) => resolve(c));
    });
    clearTimeout(timer);
    return { code, why: stopped, output: output.text, stdout };
  }
}

/**
 * The sandbox the engine runs candidates in to decide by readings, for the chat surfaces (a few candidates at once);
 * undefined where Python or bubblewrap is missing, with the reason given to `unavailable` (the probe then decides).
 */
export async function readingsSandbox(unavailable: (sentence: string) => void): Promise<CodeRunner | undefined> {
  try {
    return await PythonSandbox.create({ concurrency: 3 });
  } catch (error) {
    unavailable(`Deciding whether to ask by the model's probability instead of by readings: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}
