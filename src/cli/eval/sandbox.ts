/**
 * Runs a model's Python against a problem's test cases, away from everything else:
 * - one Python process per problem, in a temporary folder of its own that is removed afterwards, with a minimal
 *   environment, and without network where the machine allows it (`unshare -rn`: a new, empty network namespace);
 * - inside it, each test case runs in a forked child with a memory limit (RLIMIT_AS), a CPU limit and a file-size
 *   limit, and is killed when it runs past its time; a fresh child per case means one case's state (or crash)
 *   never reaches the next, as in HumanEvalComm, which ran each case in a new process;
 * - the candidate's output goes nowhere: Python's print into a small capped buffer, the file descriptors to
 *   /dev/null; results travel on a pipe of their own (fd 3), so a flood of output can neither fake nor stall them;
 * - the whole process group is killed from here if it outlives its budget.
 * Test cases follow HumanEvalComm's rules: `==` compares what Python prints for `entry_point(<input>)` with the
 * expected text; any other relation is Python that must come out `True` (with `$input$` and `$demo$` filled in,
 * `candidate` meaning the entry point); a function renamed `candidate` is mapped back to the entry point.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pLimit from "p-limit";
import type { TestCase } from "../../core/eval/benchmark.js";
import type { TestOutcome } from "../../core/eval/results.js";
import type { SandboxInfo } from "../../core/eval/summary.js";

const run = promisify(execFile);

/** The harness. It is fixed text: nothing from the model or the benchmark is ever spliced into it. */
const harness = String.raw`
import json, os, select, signal, sys, time

def clip(text, n=200):
    text = str(text)
    return text if len(text) <= n else text[:n] + "..."

class Capped:
    """Keeps the first characters written to it and drops the rest."""
    def __init__(self, limit):
        self.parts, self.size, self.limit = [], 0, limit
    def write(self, s):
        s = str(s)
        if self.size < self.limit:
            part = s[: self.limit - self.size]
            self.parts.append(part)
            self.size += len(part)
        return len(s)
    def writelines(self, lines):
        for line in lines:
            self.write(line)
    def flush(self):
        pass
    def isatty(self):
        return False
    def text(self):
        return "".join(self.parts)

def describe(error):
    return clip("%s: %s" % (type(error).__name__, error))

def run_case(cfg, case):
    import resource
    memory = cfg["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(cfg["timeout_s"]) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdin = open(os.devnull)
    sys.stdout = sys.stderr = Capped(cfg["output_limit"])
    import importlib
    try:
        module = importlib.import_module("solution")
    except BaseException as error:
        return False, "error: the code does not load: " + describe(error)
    entry = cfg["entry"]
    fn = getattr(module, entry, None)
    if not callable(fn):
        return False, "error: no function named " + entry
    relation = case["relation"]
    if relation == "==":
        got = str(eval("__candidate__(" + case["input"] + "\n)", {"__candidate__": fn})).strip()
        if got == case["output"].strip():
            return True, "passed"
        return False, "wrong: got " + clip(got)
    if "$input$" in relation or "$demo$" in relation:
        # The program prints its verdict; the candidate's own prints must not mix in (HumanEvalComm removed them).
        sink = sys.stdout
        def quiet(*args, **kwargs):
            saved = sys.stdout
            sys.stdout = sink
            try:
                return fn(*args, **kwargs)
            finally:
                sys.stdout = saved
        setattr(module, entry, quiet)
        printed = Capped(cfg["output_limit"])
        sys.stdout = printed
        exec(relation.replace("$input$", case["input"]).replace("$demo$", "solution"), {"__name__": "__case__", entry: quiet})
        got = printed.text().strip()
    else:
        got = str(eval(relation.replace("candidate", entry), {entry: fn})).strip()
    if got == "True":
        return True, "passed"
    return False, "wrong: the relation gave " + clip(got)

def main():
    with open("cases.json") as f:
        cfg = json.load(f)
    results = os.fdopen(3, "w", buffering=1)
    sys.path.insert(0, os.getcwd())
    for i, case in enumerate(cfg["cases"]):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                ok, status = run_case(cfg, case)
            except MemoryError:
                ok, status = False, "error: MemoryError (over the memory limit)"
            except BaseException as error:
                ok, status = False, "error: " + describe(error)
            try:
                os.write(w, json.dumps({"ok": ok, "status": status}).encode())
            finally:
                os._exit(0)
        os.close(w)
        deadline = time.monotonic() + cfg["timeout_s"]
        data, timed_out = b"", False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([r], [], [], left)
            if not ready:
                continue
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
        if timed_out:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.close(r)
        _, code = os.waitpid(pid, 0)
        if timed_out:
            ok, status = False, "timeout"
        else:
            try:
                result = json.loads(data.decode("utf-8", "replace"))
                ok, status = bool(result["ok"]), str(result["status"])
            except Exception:
                if os.WIFSIGNALED(code):
                    sig = os.WTERMSIG(code)
                    why = " (over the CPU limit)" if sig == signal.SIGXCPU else " (likely over the memory limit)" if sig in (signal.SIGKILL, signal.SIGSEGV) else ""
                    ok, status = False, "crashed: killed by signal %d%s" % (sig, why)
                else:
                    ok, status = False, "crashed: exit code %d" % os.WEXITSTATUS(code) if os.WIFEXITED(code) else "crashed"
        results.write(json.dumps({"i": i, "ok": ok, "status": status}) + "\n")

main()
`;

export interface SandboxOptions {
  /** The Python to use (default: python3 on PATH). */
  python?: string;
  /** Each test case's time limit (default 3 s, as HumanEvalComm). */
  caseTimeoutMs?: number;
  /** Each test case's address-space limit (default 1024 MB). */
  memoryMb?: number;
  /** Problems run at once (default 2). */
  concurrency?: number;
  /** Try `unshare -rn` for an empty network namespace (default true). */
  isolateNetwork?: boolean;
  /** Where each problem's temporary folder is made (default: the system's temporary folder). */
  tempRoot?: string;
}

export interface SandboxProblem {
  entryPoint: string;
  tests: readonly TestCase[];
  /** Lines put before the code (the prompt's imports). */
  preamble?: string;
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

export class PythonSandbox {
  private readonly limit: ReturnType<typeof pLimit>;

  private constructor(
    private readonly python: string,
    private readonly isolate: boolean,
    readonly info: SandboxInfo,
    concurrency: number,
    private readonly tempRoot: string,
  ) {
    this.limit = pLimit(Math.max(1, concurrency));
  }

  /** Finds Python and checks whether the network can be taken away; throws a clear error without Python. */
  static async create(options: SandboxOptions = {}): Promise<PythonSandbox> {
    const requested = options.python ?? "python3";
    let python: string;
    let version: string;
    try {
      // The real interpreter, not a shim: the sandbox runs it with an empty environment.
      const { stdout } = await run(requested, ["-c", "import sys; print(sys.executable); print(sys.version.split()[0])"], { timeout: 30_000 });
      const [exe, v] = stdout.trim().split("\n");
      python = exe && exe.trim() !== "" ? exe.trim() : requested;
      version = v?.trim() ?? "?";
    } catch (error) {
      throw new Error(`Python 3 is needed to run the tests (tried "${requested}"): ${error instanceof Error ? error.message.split("\n")[0] : String(error)}. Install it or name one with --python.`, { cause: error });
    }
    let network = "not isolated: turned off";
    let isolate = false;
    if (options.isolateNetwork !== false) {
      try {
        await run("unshare", ["-rn", python, "-c", "pass"], { timeout: 30_000 });
        isolate = true;
        network = "isolated (unshare -rn: an empty network namespace)";
      } catch (error) {
        const why = error instanceof Error ? (error.message.split("\n").find((l) => /unshare|permit|denied|not found|ENOENT/i.test(l)) ?? error.message.split("\n")[0]) : String(error);
        network = `not isolated: unshare -rn is not available here (${why?.trim()})`;
      }
    }
    const caseTimeoutMs = options.caseTimeoutMs ?? 3000;
    const memoryMb = options.memoryMb ?? 1024;
    const info = { python: `Python ${version}`, network, caseTimeoutMs, memoryMb };
    return new PythonSandbox(python, isolate, info, options.concurrency ?? 2, options.tempRoot ?? os.tmpdir());
  }

  /** Runs every test case of a problem against `code`. Never throws for anything the code does. */
  run(code: string, problem: SandboxProblem): Promise<TestOutcome> {
    const total = problem.tests.length;
    if (code.trim() === "") return Promise.resolve({ passed: 0, total, statuses: problem.tests.map(() => "no code") });
    return this.limit(() => this.runNow(code, problem));
  }

  private async runNow(code: string, problem: SandboxProblem): Promise<TestOutcome> {
    const dir = await mkdtemp(path.join(this.tempRoot, "clarifycoder-sandbox-"));
    const total = problem.tests.length;
    const statuses: (string | undefined)[] = problem.tests.map(() => undefined);
    const passed: boolean[] = problem.tests.map(() => false);
    try {
      // HumanEvalComm's mapping: a function renamed `candidate` is the entry point again.
      const renamed = code.includes("candidate(") ? code.split("candidate(").join(`${problem.entryPoint}(`) : code;
      const solution = problem.preamble ? `${problem.preamble}\n${renamed}` : renamed;
      const timeoutS = this.info.caseTimeoutMs / 1000;
      await writeFile(path.join(dir, "solution.py"), solution);
      await writeFile(path.join(dir, "harness.py"), harness);
      await writeFile(
        path.join(dir, "cases.json"),
        JSON.stringify({ entry: problem.entryPoint, timeout_s: timeoutS, memory_mb: this.info.memoryMb, output_limit: 4096, cases: problem.tests }),
      );
      const command = this.isolate ? "unshare" : this.python;
      const args = this.isolate ? ["-rn", this.python, "-s", "-B", "harness.py"] : ["-s", "-B", "harness.py"];
      const child = spawn(command, args, {
        cwd: dir,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, TMPDIR: dir, LANG: "C.UTF-8", PYTHONHASHSEED: "0", PYTHONDONTWRITEBYTECODE: "1", PYTHONIOENCODING: "utf-8" },
        stdio: ["ignore", "pipe", "pipe", "pipe"],
        detached: true,
      });
      const output = new Capture(4096);
      const maxOutputBytes = 1 << 20;
      let stopped: string | undefined;
      const killGroup = (why: string): void => {
        stopped ??= why;
        try {
          if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
        } catch {
          child.kill("SIGKILL");
        }
      };
      const onOutput = (chunk: Buffer): void => {
        output.add(chunk);
        if (output.bytes > maxOutputBytes) killGroup("its output passed 1 MB");
      };
      child.stdout?.on("data", onOutput);
      child.stderr?.on("data", onOutput);
      let pending = "";
      const results = child.stdio[3] as NodeJS.ReadableStream | null;
      results?.on("data", (chunk: Buffer) => {
        pending += chunk.toString("utf8");
        let nl: number;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          try {
            const r = JSON.parse(line) as { i?: unknown; ok?: unknown; status?: unknown };
            if (typeof r.i === "number" && r.i >= 0 && r.i < total && statuses[r.i] === undefined) {
              passed[r.i] = r.ok === true;
              statuses[r.i] = typeof r.status === "string" ? r.status : "?";
            }
          } catch {
            // Not a result line: ignored.
          }
        }
      });
      // Each case has its own limit inside; this one catches a harness that is stuck as a whole.
      const budgetMs = total * (this.info.caseTimeoutMs + 1000) + 10_000;
      const timer = setTimeout(() => killGroup(`the problem ran past ${Math.round(budgetMs / 1000)} s`), budgetMs);
      const exit = await new Promise<number | null>((resolve) => {
        child.on("error", (error) => {
          stopped ??= `could not start Python: ${error.message}`;
          resolve(null);
        });
        child.on("close", (code) => resolve(code));
      });
      clearTimeout(timer);
      const why = stopped ?? (exit !== 0 ? `the sandbox failed (exit ${exit}): ${output.text.trim().split("\n").slice(-1)[0] ?? ""}` : "the sandbox stopped");
      const final = statuses.map((s) => s ?? `not run: ${why}`);
      return { passed: passed.filter(Boolean).length, total, statuses: final };
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}
