/** The sandbox as the engine's CodeRunner: candidate code run on concrete calls, confined, with the tests' limits. */
import assert from "node:assert/strict";
import { mkdtemp, readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { before, describe, it } from "node:test";
import type { CodeRunner } from "../../src/core/code-runner.js";
import { PythonSandbox } from "../../src/llm/sandbox/sandbox.js";

let sandbox: PythonSandbox;
let tempRoot: string;

before(async () => {
  tempRoot = await mkdtemp(path.join(os.tmpdir(), "eval-sandbox-calls-test-"));
  sandbox = await PythonSandbox.create({ caseTimeoutMs: 1500, memoryMb: 256, tempRoot });
});

describe("callAll (the CodeRunner interface)", () => {
  it("gives each call's repr or error, in order, after the preamble", async () => {
    const runner: CodeRunner = sandbox;
    assert.deepEqual(runner.languages, ["python"]);
    const code = "def f(xs, k=1):\n    return [x * k for x in xs]\n\ndef g(s):\n    return s.upper() + str(len(List.__name__))\n";
    const out = await runner.callAll({
      code,
      preamble: "from typing import List",
      calls: ["f([1, 2], 3)", "f([])", "g('ab')", "f(None)", "1 / 0", "h(1)", "{'a': (1, 2.5)}"],
    });
    assert.deepEqual(out, [
      { ok: true, value: "[3, 6]" },
      { ok: true, value: "[]" },
      { ok: true, value: "'AB4'" },
      { ok: false, error: "TypeError: 'NoneType' object is not iterable" },
      { ok: false, error: "ZeroDivisionError: division by zero" },
      { ok: false, error: "NameError: name 'h' is not defined" },
      { ok: true, value: "{'a': (1, 2.5)}" },
    ]);
  });

  it("runs each call fresh, cuts long reprs, and reports code that does not load, loops, or exits", async () => {
    const counter = "seen = []\ndef f():\n    seen.append(1)\n    return len(seen)\n";
    assert.deepEqual(await sandbox.callAll({ code: counter, calls: ["f()", "f()"] }), [
      { ok: true, value: "1" },
      { ok: true, value: "1" },
    ]);
    const [long] = await sandbox.callAll({ code: "def f():\n    return 'x' * 10000\n", calls: ["f()"] });
    assert.equal(long?.ok, true);
    assert.ok(long?.ok === true && long.value.length === 2003 && long.value.endsWith("..."), "a repr is cut at 2,000 characters");
    const broken = await sandbox.callAll({ code: "def f(:\n    pass\n", calls: ["f()"] });
    assert.match(broken[0]?.ok === false ? broken[0].error : "", /^SyntaxError: /);
    const started = Date.now();
    const rest = await sandbox.callAll({
      code: "import os\ndef loop():\n    while True:\n        pass\ndef quit():\n    os._exit(4)\ndef big():\n    return bytearray(8 * 1024 ** 3)\n",
      calls: ["loop()", "quit()", "big()", "2 + 2"],
      timeoutMs: 800,
    });
    assert.ok(Date.now() - started < 8000, "the loop is cut at the given limit");
    assert.deepEqual(rest, [
      { ok: false, error: "TimeoutError: the call ran past 0.8 s" },
      { ok: false, error: "ProcessError: exit code 4" },
      { ok: false, error: "MemoryError: over the memory limit" },
      { ok: true, value: "4" },
    ]);
    assert.deepEqual(await sandbox.callAll({ code: "x = 1", calls: [] }), []);
    assert.deepEqual(await readdir(tempRoot), [], "every temporary folder is removed");
  });
});
