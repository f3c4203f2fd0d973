/** The Python sandbox: real Python processes, one per problem, with the limits a model's code meets. */
import assert from "node:assert/strict";
import { mkdtemp, readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { before, describe, it } from "node:test";
import type { TestCase } from "../../src/core/eval/benchmark.js";
import { PythonSandbox } from "../../src/llm/sandbox/sandbox.js";

const tests: TestCase[] = [
  { input: "[1, 2, 3]", output: "6", relation: "==" },
  { input: "[]", output: "0", relation: "==" },
  { input: "[1.5]", output: "", relation: "abs(candidate([1.0, 2.0]) - 3.0) < 1e-6" },
  { input: "[4, 5]", output: "", relation: "from $demo$ import total\nprint(total($input$) == 9)" },
];
const problem = { entryPoint: "total", tests };
const right = "def total(xs):\n    return sum(xs)\n";
const one = { entryPoint: "total", tests: tests.slice(0, 1) };

let sandbox: PythonSandbox;
let tempRoot: string;

before(async () => {
  tempRoot = await mkdtemp(path.join(os.tmpdir(), "eval-sandbox-test-"));
  sandbox = await PythonSandbox.create({ caseTimeoutMs: 1500, memoryMb: 256, tempRoot });
});

describe("the Python sandbox", () => {
  it("passes a right solution on every kind of relation, its own prints notwithstanding", async () => {
    const chatty = "def total(xs):\n    print('working on', xs)\n    return sum(xs)\n";
    assert.deepEqual(await sandbox.run(chatty, problem), { passed: 4, total: 4, statuses: ["passed", "passed", "passed", "passed"] });
  });

  it("fails a wrong one, case by case, and maps a function renamed candidate back to the entry point", async () => {
    const wrong = await sandbox.run("def candidate(xs):\n    return sum(xs) + 1\n", problem);
    assert.deepEqual(wrong, {
      passed: 0,
      total: 4,
      statuses: ["wrong: got 7", "wrong: got 1", "wrong: the relation gave False", "wrong: the relation gave False"],
    });
    const half = await sandbox.run("def total(xs):\n    return 6 if xs else 1\n", { entryPoint: "total", tests: tests.slice(0, 2) });
    assert.deepEqual(half, { passed: 1, total: 2, statuses: ["passed", "wrong: got 1"] });
  });

  it("puts the prompt's imports before the code, as HumanEval runs a completion after its prompt", async () => {
    const typed = "def total(xs: List[int]) -> int:\n    return sum(xs)\n";
    assert.match((await sandbox.run(typed, one)).statuses[0] ?? "", /NameError: name 'List' is not defined/);
    assert.deepEqual((await sandbox.run(typed, { ...one, preamble: "from typing import List" })).statuses, ["passed"]);
  });

  it("says why code that does not load, raises, or lacks the function fails", async () => {
    assert.match((await sandbox.run("def total(xs) return 1", one)).statuses[0] ?? "", /^error: the code does not load: SyntaxError/);
    assert.equal((await sandbox.run("def total(xs):\n    return 1 / 0\n", one)).statuses[0], "error: ZeroDivisionError: division by zero");
    assert.equal((await sandbox.run("def other(xs):\n    return 6\n", one)).statuses[0], "error: no function named total");
    assert.deepEqual(await sandbox.run("", problem), { passed: 0, total: 4, statuses: ["no code", "no code", "no code", "no code"] });
  });

  it("stops an endless loop at its limit, contains a huge allocation, and cuts an output flood", async () => {
    const started = Date.now();
    const loop = await sandbox.run("def total(xs):\n    while True:\n        pass\n", { entryPoint: "total", tests: tests.slice(0, 2) });
    assert.deepEqual(loop.statuses, ["timeout", "timeout"]);
    assert.ok(Date.now() - started < 8000, "each case is cut at its own limit");
    const huge = await sandbox.run("def total(xs):\n    block = bytearray(8 * 1024 ** 3)\n    return 6\n", one);
    assert.deepEqual(huge.statuses, ["error: MemoryError (over the memory limit)"]);
    const hugeList = await sandbox.run("def total(xs):\n    block = [0] * (10 ** 9)\n    return 6\n", one);
    assert.equal(hugeList.statuses[0], "error: MemoryError (over the memory limit)");
    // Printing a lot and returning the right value passes; writing forever below print is stopped by time.
    const printsThenAnswers = await sandbox.run("def total(xs):\n    print('x' * 50_000_000)\n    return sum(xs)\n", one);
    assert.deepEqual(printsThenAnswers.statuses, ["passed"]);
    const flood = await sandbox.run(
      "import os, sys\ndef total(xs):\n    while True:\n        os.write(1, b'y' * 65536)\n        os.write(2, b'z' * 65536)\n",
      one,
    );
    assert.deepEqual(flood.statuses, ["timeout"]);
  });

  it("keeps one case from disturbing the next, and one problem from disturbing the next", async () => {
    // Global state changed by one case is not seen by the next (each runs fresh).
    const stateful = "seen = []\ndef total(xs):\n    seen.append(1)\n    return sum(xs) + len(seen) - 1\n";
    assert.deepEqual((await sandbox.run(stateful, { entryPoint: "total", tests: tests.slice(0, 2) })).statuses, ["passed", "passed"]);
    // A case that kills its own process leaves the others standing.
    const dies = await sandbox.run("import os\ndef total(xs):\n    if not xs:\n        os._exit(3)\n    return sum(xs)\n", {
      entryPoint: "total",
      tests: tests.slice(0, 2),
    });
    assert.deepEqual(dies.statuses, ["passed", "crashed: exit code 3"]);
    // Files written by one problem are gone for the next, and the right solution still passes after all of the above.
    await sandbox.run("def total(xs):\n    open('left.txt', 'w').write('x')\n    return sum(xs)\n", one);
    const after = await sandbox.run("import os\ndef total(xs):\n    return sum(xs) + (100 if os.path.exists('left.txt') else 0)\n", one);
    assert.deepEqual(after.statuses, ["passed"]);
    assert.deepEqual(await sandbox.run(right, problem), { passed: 4, total: 4, statuses: ["passed", "passed", "passed", "passed"] });
    assert.deepEqual(await readdir(tempRoot), [], "every temporary folder is removed");
  });

  it("runs problems side by side without mixing their results", async () => {
    const runs = await Promise.all(
      [right, "def total(xs):\n    return -1\n", right, "def total(xs):\n    return 0\n"].map((code) => sandbox.run(code, problem)),
    );
    assert.deepEqual(
      runs.map((r) => r.passed),
      [4, 0, 4, 1],
    );
  });

  it("takes the network away where the machine allows it, and says so either way", async () => {
    assert.match(sandbox.info.python, /^Python 3\./);
    if (!sandbox.info.network.startsWith("isolated")) {
      assert.match(sandbox.info.network, /^not isolated: /);
      return;
    }
    const online = "import socket\ndef total(xs):\n    socket.create_connection(('1.1.1.1', 80), timeout=1)\n    return sum(xs)\n";
    assert.match((await sandbox.run(online, one)).statuses[0] ?? "", /^error: OSError: \[Errno 101\] Network is unreachable/);
    const off = await PythonSandbox.create({ isolateNetwork: false });
    assert.match(off.info.network, /^not isolated: turned off \(bubblewrap confines the file system/);
  });

  it("refuses to start without Python, in plain words", async () => {
    await assert.rejects(
      PythonSandbox.create({ python: "/nonexistent/python3" }),
      /Python 3 is needed to run the tests \(tried "\/nonexistent\/python3"\).*--python/,
    );
  });
});
