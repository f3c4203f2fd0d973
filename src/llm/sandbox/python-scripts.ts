/**
 * The two Python programs of the sandbox. Both are fixed text: nothing from the model or the benchmark is ever
 * spliced into them.
 *
 * `callerPy` runs inside the confinement, next to the untrusted code. It loads `calls.json` (the call expressions
 * only: never an expected output), and for each call forks a child that closes the results descriptor, makes itself
 * unreadable from /proc, sets its limits, sends its own output to /dev/null, imports `solution` and evaluates the
 * call. The child hands its outcome back on a pipe made for that call alone; the parent (which never runs untrusted
 * code) checks it and writes one line per call to fd 3. The untrusted code never holds fd 3, so a line it writes
 * anywhere can reach nobody, and the one value it can influence is its own call's, which is the thing measured.
 *
 * `judgePy` runs with no untrusted code at all. It evaluates a test case's relation (HumanEvalComm's Python that must
 * come out `True`) with the entry point standing in as a replay of the recorded call outcomes, and `$demo$` a module
 * made of the prompt's own code, so the tested code can neither change the verdict nor the helpers it uses. A call
 * the relation makes that has not been recorded yet is reported back as needed; the sandbox runs it and asks again.
 */

export const callerPy = String.raw`
import json, os, select, signal, sys, time

def clip(text, n):
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

def undumpable():
    # A process that is not dumpable has its /proc files (fd, mem) closed to processes of the same user.
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except Exception:
        pass

def describe(error):
    return clip("%s: %s" % (type(error).__name__, error), 300)

BIG = 1 << 20

def encode(value, depth=0):
    """Plain data as tagged JSON (the judge rebuilds it without eval); anything else as its type and repr."""
    t = type(value)
    if depth > 50:
        raise ValueError("nested too deeply")
    if value is None:
        return ["n"]
    if t is bool:
        return ["b", value]
    if t is int:
        return ["i", str(value)]
    if t is float:
        return ["f", repr(value)]
    if t is complex:
        return ["c", repr(value.real), repr(value.imag)]
    if t is str:
        return ["s", value]
    if t is bytes:
        return ["y", value.hex()]
    if t in (list, tuple, set, frozenset):
        tag = {list: "l", tuple: "t", set: "S", frozenset: "F"}[t]
        return [tag, [encode(v, depth + 1) for v in value]]
    if t is dict:
        return ["d", [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]]
    return ["o", t.__name__, clip(repr(value), 2000)]

def run_call(cfg, expr):
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
        return {"phase": "load", "error": describe(error)}
    entry = cfg.get("entry")
    if entry is not None and not callable(getattr(module, entry, None)):
        return {"phase": "missing", "error": "no function named " + entry}
    value = eval(compile(expr + "\n", "<call>", "eval"), dict(vars(module)))
    out = {"phase": "value"}
    try:
        out["str"] = clip(str(value), BIG)
    except BaseException as error:
        out["str_error"] = describe(error)
    try:
        out["repr"] = clip(repr(value), cfg["repr_limit"])
    except BaseException as error:
        out["repr"] = "<%s whose repr raised %s>" % (type(value).__name__, describe(error))
    try:
        out["enc"] = encode(value)
    except BaseException as error:
        out["enc"] = ["o", type(value).__name__, out["repr"]]
    return out

def checked(data):
    """The child's report, kept only if it is what a child reports."""
    r = json.loads(data.decode("utf-8", "replace"))
    if not isinstance(r, dict) or r.get("phase") not in ("load", "missing", "call", "memory", "value"):
        raise ValueError("not a report")
    out = {"phase": r["phase"]}
    for key in ("error", "str", "str_error", "repr"):
        if key in r:
            out[key] = clip(r[key], BIG) if isinstance(r[key], str) else "?"
    if r["phase"] == "value":
        out["enc"] = r.get("enc") if isinstance(r.get("enc"), list) else ["o", "?", "?"]
        out.setdefault("repr", "?")
    else:
        out.setdefault("error", "?")
    return out

def main():
    undumpable()
    with open("calls.json") as f:
        cfg = json.load(f)
    results = os.fdopen(3, "w", buffering=1)
    sys.path.insert(0, os.getcwd())
    for i, expr in enumerate(cfg["calls"]):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.close(3)
                os.setsid()
                try:
                    report = run_call(cfg, expr)
                except MemoryError:
                    report = {"phase": "memory", "error": "MemoryError: over the memory limit"}
                except BaseException as error:
                    report = {"phase": "call", "error": describe(error)}
                os.write(w, json.dumps(report).encode())
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
            if len(data) > 8 * BIG:
                break
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        os.close(r)
        _, code = os.waitpid(pid, 0)
        if timed_out:
            report = {"phase": "timeout"}
        else:
            try:
                report = checked(data)
            except Exception:
                if os.WIFSIGNALED(code):
                    sig = os.WTERMSIG(code)
                    why = " (over the CPU limit)" if sig == signal.SIGXCPU else " (likely over the memory limit)" if sig in (signal.SIGKILL, signal.SIGSEGV) else ""
                    report = {"phase": "crash", "error": "killed by signal %d%s" % (sig, why)}
                else:
                    report = {"phase": "crash", "error": "exit code %d" % os.WEXITSTATUS(code) if os.WIFEXITED(code) else "stopped"}
        report["i"] = i
        results.write(json.dumps(report) + "\n")

main()
`;

export const judgePy = String.raw`
import io, json, math, sys, types

class Needed(BaseException):
    pass

class Failed(BaseException):
    def __init__(self, status):
        self.status = status

class Opaque:
    """A value the judge cannot rebuild: equal to nothing, usable in no arithmetic."""
    def __init__(self, type_name, text):
        self.type_name, self.text = type_name, text
    def __repr__(self):
        return self.text
    def __eq__(self, other):
        return False
    __hash__ = object.__hash__

def decode(e):
    tag = e[0]
    if tag == "n":
        return None
    if tag == "b":
        return bool(e[1])
    if tag == "i":
        return int(e[1])
    if tag == "f":
        return float(e[1])
    if tag == "c":
        return complex(float(e[1]), float(e[2]))
    if tag == "s":
        return str(e[1])
    if tag == "y":
        return bytes.fromhex(e[1])
    if tag in ("l", "t", "S", "F"):
        items = [decode(v) for v in e[1]]
        return {"l": list, "t": tuple, "S": set, "F": frozenset}[tag](items)
    if tag == "d":
        return {decode(k): decode(v) for k, v in e[1]}
    return Opaque(str(e[1]), str(e[2]))

def clip(text, n=200):
    text = str(text)
    return text if len(text) <= n else text[:n] + "..."

def judge(case, entry, preamble, known):
    needed = []
    def stand_in(*args, **kwargs):
        parts = [repr(a) for a in args] + ["%s=%r" % (k, v) for k, v in kwargs.items()]
        expr = "%s(%s)" % (entry, ", ".join(parts))
        outcome = known.get(expr)
        if outcome is None:
            needed.append(expr)
            raise Needed()
        if not outcome["ok"]:
            raise Failed(outcome["status"])
        try:
            return decode(outcome["enc"])
        except Exception:
            return Opaque("?", "?")
    relation = case["relation"]
    try:
        if "$input$" in relation or "$demo$" in relation:
            demo = types.ModuleType("__demo__")
            exec(preamble, demo.__dict__)
            setattr(demo, entry, stand_in)
            sys.modules["__demo__"] = demo
            printed = io.StringIO()
            saved = sys.stdout
            sys.stdout = printed
            try:
                exec(relation.replace("$input$", case["input"]).replace("$demo$", "__demo__"), {"__name__": "__case__", entry: stand_in})
            finally:
                sys.stdout = saved
            got = printed.getvalue().strip()
        else:
            scope = {}
            exec(preamble, scope)
            scope[entry] = stand_in
            got = str(eval(relation.replace("candidate", entry), scope)).strip()
    except Needed:
        return {"need": needed}
    except Failed as failed:
        return {"status": failed.status}
    except BaseException as error:
        return {"status": "error: " + clip("%s: %s" % (type(error).__name__, error), 300)}
    if got == "True":
        return {"status": "passed"}
    return {"status": "wrong: the relation gave " + clip(got)}

def main():
    cfg = json.load(sys.stdin)
    out = [judge(case, cfg["entry"], cfg["preamble"], cfg["known"]) for case in cfg["cases"]]
    sys.stdout.write(json.dumps(out))

main()
`;
