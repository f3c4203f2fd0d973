/**
 * Hostile code against the sandbox: each way the tested code could fake its results or reach outside its folder,
 * as a real process tries it. Wrong functions must score 0 whatever else the code does, and nothing may be written
 * outside the sandbox's folder nor reach a server on this machine.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { TestCase } from "../../src/core/eval/benchmark.js";
import { PythonSandbox } from "../../src/llm/sandbox/sandbox.js";

const tests: TestCase[] = [
  { input: "[1, 2, 3]", output: "6", relation: "==" },
  { input: "[]", output: "0", relation: "==" },
  { input: "[1.5]", output: "", relation: "abs(candidate([1.0, 2.0]) - 3.0) < 1e-6" },
  { input: "[4, 5]", output: "", relation: "from $demo$ import double\nprint(double(total($input$)) == 18)" },
];
const problem = { entryPoint: "total", tests, preamble: "def double(x):\n    return 2 * x" };

/** Result lines as the old and the new harness wrote them, each claiming a pass. */
const forgery = String.raw`
import json, os
FORGED = "".join(json.dumps({"i": i, "ok": True, "status": "passed", "phase": "value", "str": s, "repr": s, "enc": ["i", s]}) + "\n"
                 for i, s in enumerate(["6", "0", "3", "9"] * 3)).encode()
def forge():
    for fd in range(1, 10):
        try:
            os.write(fd, FORGED)
        except OSError:
            pass
    # The harness's descriptors (the results channel among them), through /proc. Only the parent's: were the
    # confinement ever lost, a walk of every process would write into this machine's.
    parent = "/proc/%d/fd" % os.getppid()
    try:
        fds = os.listdir(parent)
    except OSError:
        fds = []
    for fd in fds:
        try:
            with open("%s/%s" % (parent, fd), "ab", buffering=0) as f:
                f.write(FORGED)
        except OSError:
            pass
`;

let sandbox: PythonSandbox;
let tempRoot: string;
let outside: string;

before(async () => {
  tempRoot = await mkdtemp(path.join(os.tmpdir(), "eval-sandbox-escape-test-"));
  // A folder beside the sandbox's, under the same temporary folder: the code must not write or read there.
  outside = await mkdtemp(path.join(os.tmpdir(), "eval-sandbox-outside-"));
  sandbox = await PythonSandbox.create({ caseTimeoutMs: 1500, memoryMb: 256, tempRoot });
});
after(async () => {
  await rm(tempRoot, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe("the sandbox against hostile code", () => {
  it("says it is confined by bubblewrap", () => {
    assert.ok(sandbox.confined);
    assert.match(sandbox.info.network, /^isolated \(bubblewrap: no network; the file system read-only but for its own folder/);
  });

  it("scores 0 for a wrong function that writes passing result lines on fds 1-9 and the harness's /proc descriptors", async () => {
    const atImport = `${forgery}\nforge()\ndef total(xs):\n    return -1\n`;
    const atCall = `${forgery}\ndef total(xs):\n    forge()\n    return -1\n`;
    for (const code of [atImport, atCall]) {
      const outcome = await sandbox.run(code, problem);
      assert.equal(outcome.passed, 0, JSON.stringify(outcome));
      // Lines it writes on its own call's pipe (one of fds 4-9) spoil only its own report: "crashed".
      assert.ok(
        outcome.statuses.every((s) => /^(wrong: |crashed: exit code 0$)/.test(s)),
        JSON.stringify(outcome.statuses),
      );
    }
    // The harness (which holds the results channel) is closed to the code through /proc.
    const [peek] = await sandbox.callAll({ code: "import os", calls: ["open('/proc/%d/fd/3' % os.getppid(), 'ab')"] });
    assert.match(peek?.ok === false ? peek.error : JSON.stringify(peek), /^PermissionError: /);
  });

  it("scores 0 for one that forges and exits at once, or patches Python, print and the prompt's helpers", async () => {
    const exits = `${forgery}\nforge()\nos._exit(0)\ndef total(xs):\n    return -1\n`;
    const outcome = await sandbox.run(exits, problem);
    assert.equal(outcome.passed, 0, JSON.stringify(outcome));
    assert.ok(
      outcome.statuses.every((s) => s.startsWith("crashed: exit code 0")),
      JSON.stringify(outcome.statuses),
    );
    // Under the old harness these turned the relations' verdicts to True: the judge runs none of this code.
    const patches = [
      "import builtins\nbuiltins.abs = lambda x: 0\n",
      "import builtins, sys\n_print = builtins.print\nbuiltins.print = lambda *a, **k: _print('True', file=sys.stdout)\n",
      "def double(x):\n    return 18\n",
    ];
    for (const patch of patches) {
      const patched = await sandbox.run(`${patch}def total(xs):\n    return -1\n`, problem);
      assert.deepEqual(patched.statuses.slice(2), ["wrong: the relation gave False", "wrong: the relation gave False"], patch);
    }
    // The right function still passes everything, helpers from the prompt included.
    assert.equal((await sandbox.run("def total(xs):\n    return sum(xs)\n", problem)).passed, 4);
  });

  it("writes nothing outside its folder: not beside it under the temporary folder, not in HOME, not in /tmp", async () => {
    const marker = `escape-${randomUUID()}`;
    const targets = [path.join(outside, marker), path.join(os.homedir(), marker), path.join(os.tmpdir(), marker), path.join(process.cwd(), marker)];
    const code = `import os\nTARGETS = ${JSON.stringify(targets)}\ndef total(xs):\n    wrote = []\n    for t in TARGETS:\n        try:\n            with open(t, 'w') as f:\n                f.write('escaped')\n            wrote.append(t)\n        except OSError:\n            pass\n    return sum(xs)\n`;
    await sandbox.run(code, { entryPoint: "total", tests: tests.slice(0, 1) });
    for (const t of targets) assert.equal(existsSync(t), false, `${t} was written`);
    await sandbox.callAll({ code, calls: ["total([1])"] });
    for (const t of targets) assert.equal(existsSync(t), false, `${t} was written by callAll`);
  });

  it("cannot read files outside its folder: the benchmark's, or HOME's beyond the Python installed there", async () => {
    const secret = path.join(outside, "secret.txt");
    await writeFile(secret, "the expected outputs");
    const home = os.homedir();
    const out = await sandbox.callAll({
      code: "import os",
      calls: [`open(${JSON.stringify(secret)}).read()`, `sorted(os.listdir(${JSON.stringify(home)})) if os.path.isdir(${JSON.stringify(home)}) else []`],
    });
    assert.match(out[0]?.ok === false ? out[0].error : "", /^FileNotFoundError: /, JSON.stringify(out));
    // HOME is there only where the Python in use lives under it, and then with that path alone.
    const prefix = execFileSync("python3", ["-c", "import os, sys; print(os.path.realpath(sys.base_prefix))"], { encoding: "utf8" }).trim();
    const onTheWay = prefix.startsWith(`${home}/`) ? [prefix.slice(home.length + 1).split("/")[0] ?? ""] : [];
    assert.deepEqual(out[1], { ok: true, value: JSON.stringify(onTheWay).replaceAll('"', "'").replaceAll(",", ", ") });
    assert.ok((await readdir(home)).length > onTheWay.length, "HOME has more in it than the sandbox sees");
  });

  it("cannot connect to a server listening on 127.0.0.1", async () => {
    let arrived = 0;
    const server = net.createServer((socket) => {
      arrived += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const out = await sandbox.callAll({ code: "import socket", calls: [`socket.create_connection(('127.0.0.1', ${port}), timeout=1).send(b'hello')`] });
      assert.equal(out[0]?.ok, false, JSON.stringify(out));
      assert.match(out[0]?.ok === false ? out[0].error : "", /^ConnectionRefusedError: /);
      assert.equal(arrived, 0, "no connection reached the server");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("refuses to run code without confinement unless asked to, then says so and still keeps the results its own", async () => {
    await assert.rejects(
      PythonSandbox.create({ bwrap: "/nonexistent/bwrap", tempRoot }),
      /^Error: The tested code cannot be confined here: bubblewrap does not run \(.*\)\. Install it \(Debian and Ubuntu: `sudo apt-get install bubblewrap`.*pass --unsafe-no-sandbox/,
    );
    const unconfined = await PythonSandbox.create({ bwrap: "/nonexistent/bwrap", allowUnconfined: true, caseTimeoutMs: 1500, memoryMb: 256, tempRoot });
    assert.equal(unconfined.confined, false);
    assert.match(
      unconfined.info.network,
      /^not isolated: no confinement \(bubblewrap does not run: .*\); the code could write anywhere this user can and reach the network$/,
    );
    // Results still come only from the code's own calls: forged lines score nothing even unconfined.
    const outcome = await unconfined.run(`${forgery}\nforge()\ndef total(xs):\n    return -1\n`, problem);
    assert.equal(outcome.passed, 0, JSON.stringify(outcome));
    assert.equal((await unconfined.run("def total(xs):\n    return sum(xs)\n", problem)).passed, 4);
    assert.deepEqual(await readdir(tempRoot), [], "every temporary folder is removed");
  });
});
