"""The hostile catalogue of issue 9: every case, its class, the honest student it is built on, what must happen.

`test_forge_verdicts.py` grades all of them in ONE `freezelab grade` batch together with honest students.
Answer cells are written as a student would write them (plain Python in the notebook's answer cells). Sources
may name the real places of the batch through placeholders that the test fills in: @COURSE@ (the course
root), @LMS@ (the folder of every submission), @OUT@ (the --out folder), @TCP@ / @UDP@ (ports on 127.0.0.1 the
test listens on), @TOKEN@ (a number only this batch's daemons carry on their command line). A hostile file
write uses the text "PW" + "NED" (never spelled out in a source, so finding it anywhere is a real write).

Every action is bounded: loops end by themselves within minutes even if nobody killed them, memory attempts
stop at a few GiB, floods at 50 MB, fork bombs at 500 processes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import nbformat

KINDS = ("forged verdict", "reading", "writing", "processes", "network", "memory", "output", "crash", "exit",
         "time", "tampered notebook", "corrupt notebook")
# The honest students graded with them (and alone): the reference, nothing answered, every function but the first,
# a catalogued mistake, and only the multiple-choice answers (cheap to grade: most hostile students are built on it).
HONEST = ("reference", "blank", "partial", "mistake", "quiz")
FIRST = "freeze_module"  # the answer cell most tricks are put in
QUIZ = "ANSWER_Q1"  # where the tricks that come with a correct answer go (after it)


@dataclass(frozen=True)
class Case:
    """One hostile submission: `answers` replace cells of its honest twin; or a whole `notebook` / `raw` file."""

    name: str
    kind: str
    base: str  # its honest twin: it may earn no more than that student
    answers: dict[str, str] = field(default_factory=dict)  # cell -> source; "@REFERENCE@" = that cell's reference
    reason: str = ""  # regex that must appear in what the grader says about it (summary, its graded notebook)
    failed: bool = False  # the batch reports it as not gradable (with `reason`), everyone else is graded
    exact: bool = False  # it earns exactly its twin's points: the trick cost nothing else
    needs: str = ""  # "cgroup": only where a cgroup per submission can be made
    notebook: Callable[[nbformat.NotebookNode, nbformat.NotebookNode], nbformat.NotebookNode] | None = None
    raw: str | None = None


# ------------------------------------------------------------------------------------------ forged verdicts

_STUB = "\ndef freeze_module(module):\n    return module\n"
PATCH_CHECKS = """
import sys, pathlib
try:
    import freezelab
    sys.path.insert(0, str(pathlib.Path(freezelab.__file__).resolve().parents[2] / "autograder"))
    sys.path.insert(0, "@COURSE@")
    import freezelab_checks._common as common
    common.expect = lambda *args, **kwargs: None
    common._run_quietly.__code__ = (lambda *args: None).__code__
    common.CheckFailed = type("Never", (Exception,), {})
except Exception as exc:
    print("could not patch the checks:", type(exc).__name__)
""" + _STUB
SYS_MODULES = """
import sys, types
for name in ("freezelab_checks", "freezelab_checks._common", "freezelab_checks.a1_freezing_basics"):
    module = types.ModuleType(name)
    module.__path__ = []
    module.__getattr__ = lambda attr: (lambda *args, **kwargs: None)
    sys.modules[name] = module
""" + _STUB
BUILTINS = """
import builtins
real_import = builtins.__import__
builtins.isinstance = lambda *args: True
builtins.AssertionError = type("Never", (Exception,), {})
def fake_import(name, *args, **kwargs):
    if name.startswith("freezelab_checks"):
        import types
        module = types.ModuleType(name)
        module.__getattr__ = lambda attr: (lambda *a, **k: None)
        return module
    return real_import(name, *args, **kwargs)
builtins.__import__ = fake_import
""" + _STUB
MODULE_PARAMETERS = """
import torch
torch.nn.Module.parameters = lambda self, recurse=True: iter(())
torch.nn.Module.named_parameters = lambda self, *args, **kwargs: iter(())
torch.nn.Module.state_dict = lambda self, *args, **kwargs: {}
torch.Tensor.requires_grad = property(lambda self: False)
""" + _STUB
ALWAYS_EQUAL_INT = """
class Equal(int):
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = int.__hash__
def count_parameters(model, trainable_only=False):
    return Equal(0)
"""
ALWAYS_EQUAL_STR = """
class Letter(str):
    def __eq__(self, other):
        return True
    __hash__ = str.__hash__
ANSWER_Q1 = Letter("z")
"""
IPYTHON_HOOKS = """
ip = get_ipython()
ip.events.register("post_run_cell", lambda result: print("26 / 26"))
ip.input_transformers_cleanup.append(lambda lines: [])
ip.set_custom_exc((Exception,), lambda *args, **kwargs: None)
"""
EXCEPT_HOOKS = """
import sys
sys.excepthook = lambda *args: None
sys.displayhook = lambda value: None
print('{"output_type": "execute_result", "data": {"text/plain": "26"}}')
""" + _STUB
SOCKET_REPLY = """
import gc, json, socket, struct
def _forge(value):
    for sock in [o for o in gc.get_objects() if isinstance(o, socket.socket)]:
        data = json.dumps({"op": "result", "value": value}).encode()
        try:
            sock.sendall(struct.pack("<II", len(data), 0) + data)
        except OSError:
            pass
def count_parameters(model, trainable_only=False):
    _forge({"v": 63})
    return 0
"""
PRINTED_SCORES = """
print("test_freeze_module: passed 26/26")
def freeze_module(module):
    raise AssertionError("All checks passed")
"""

# ------------------------------------------------------------------------------------------ reading

_REF = "@REFERENCE@"  # the reference answer of the cell the trick is put in (kept: the trick is extra)
READ_CHECKS = _REF + """
import glob, inspect, sys
found = {}
for pattern in ("@COURSE@/freezelab_checks/*.py", "/work/*/autograder/freezelab_checks/*.py",
                "../../autograder/freezelab_checks/*.py"):
    for path in glob.glob(pattern):
        try:
            found[path] = open(path).read()[:200]
        except OSError as exc:
            found[path] = type(exc).__name__
try:
    sys.path.insert(0, "@COURSE@")
    import freezelab_checks.a1_freezing_basics as checks
    print(inspect.getsource(checks))
except Exception as exc:
    print("checks not importable:", type(exc).__name__)
print("check files readable:", len(found), found)
"""
READ_SOLUTIONS = _REF + """
import glob
seen = []
for pattern in ("@COURSE@/source/*/*.ipynb", "@COURSE@/../solutions/*.py", "@COURSE@/assignments/*/solution.py",
                "@COURSE@/gradebook.db"):
    for path in glob.glob(pattern):
        try:
            seen.append(open(path, "rb").read(100))
        except OSError:
            pass
try:
    open("@COURSE@/source/a1_freezing_basics/a1_freezing_basics.ipynb").read()
except OSError as exc:
    print("instructor files:", type(exc).__name__)
print("solutions read:", len(seen))
"""
READ_OTHERS = _REF + """
import os
try:
    print(open("@LMS@/reference.ipynb").read()[:500])
except OSError as exc:
    print("classmate:", type(exc).__name__)
try:
    print("submissions folder:", os.listdir("@LMS@"))
except OSError as exc:
    print("submissions folder:", type(exc).__name__)
"""
READ_PROC = _REF + """
import os
visible, leaks = [], []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        visible.append(pid)
        for name in ("cmdline", "environ"):
            try:
                text = open(f"/proc/{pid}/{name}", "rb").read().decode(errors="replace")
            except OSError:
                continue
            if "gradebook" in text or "--course" in text or "pytest" in text or "CANARY" in text:
                leaks.append(text[:200])
print("processes seen:", len(visible), "grader details seen:", len(leaks), leaks)
"""
READ_ENV = _REF + """
import os
print("environment:", sorted(os.environ))
print("canary:", os.environ.get("FREEZELAB_TEST_CANARY", "absent"))
"""
FIND_CHECKS_IN_MEMORY = _REF + """
import gc, sys
names = [m for m in sys.modules if m.startswith(("freezelab_checks", "autograder", "solutions", "catalogue"))]
functions = [f.__module__ for f in gc.get_objects() if callable(f) and "freezelab_checks" in str(getattr(f, "__module__", ""))]
print("check modules in memory:", names, "check functions:", len(functions))
"""

# ------------------------------------------------------------------------------------------ writing

_WRITE = """
import os
def try_write(path, mode="a"):
    try:
        with open(path, mode) as handle:
            handle.write("PW" + "NED")
        return "written"
    except OSError as exc:
        return type(exc).__name__
"""
WRITE_GRADEBOOK = _REF + _WRITE + """
import sqlite3
results = {p: try_write(p) for p in ("@COURSE@/gradebook.db", "@OUT@/gradebook.db", "@OUT@/grades.csv")}
try:
    db = sqlite3.connect("@COURSE@/gradebook.db", timeout=1)
    db.execute("update grade set auto_score = 2")
    db.commit()
    results["sql"] = "updated"
except Exception as exc:
    results["sql"] = type(exc).__name__
print("gradebook writes:", results)
"""
WRITE_COURSE = _REF + _WRITE + """
print("course writes:", {p: try_write(p) for p in ("@COURSE@/nbgrader_config.py", "@COURSE@/pwned.txt",
                                                   "@COURSE@/source/a1_freezing_basics/a1_freezing_basics.ipynb")})
"""
WRITE_CHECKS = _REF + _WRITE + """
print("checks writes:", {p: try_write(p) for p in ("@COURSE@/freezelab_checks/a1_freezing_basics.py",
                                                   "@COURSE@/freezelab_checks/_common.py")})
"""
WRITE_OUT = _REF + _WRITE + """
print("out writes:", {p: try_write(p, "w") for p in ("@OUT@/summary.txt", "@OUT@/cells.csv", "@OUT@/pwned.txt")})
"""
WRITE_OTHERS = _REF + _WRITE + """
print("classmate writes:", {p: try_write(p, "w") for p in ("@LMS@/reference.ipynb", "@LMS@/blank.ipynb",
                                                           "@LMS@/x_zz_last.ipynb")})
"""
WRITE_PACKAGE = _REF + _WRITE + """
import freezelab, sys
print("package writes:", {p: try_write(p) for p in (freezelab.__file__, sys.executable, "/usr/lib/os-release",
                                                    "/etc/passwd")})
"""
LEAVE_BEHIND = _REF + _WRITE + """
print("left:", {p: try_write(os.path.join(p, "for_the_next_student.py")) for p in (".", "/tmp", "/dev/shm",
                                                                                    os.path.expanduser("~"))})
"""
FIND_LEFTOVERS = _REF + """
import glob, os
found = [p for d in (".", "/tmp", "/dev/shm", os.path.expanduser("~")) for p in glob.glob(d + "/for_the_next*")]
print("leftovers found:", found or "none")
"""

# ------------------------------------------------------------------------------------------ processes

DOUBLE_FORK_DAEMON = _REF + '''
import os, sys
DAEMON = """
import time
end = time.time() + 600
while time.time() < end:
    for path in ("@COURSE@/gradebook.db", "@OUT@/gradebook.db", "@OUT@/grades.csv"):
        try:
            open(path, "a").write("PW" + "NED")
        except OSError:
            pass
    time.sleep(2)
"""
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", DAEMON, "@TOKEN@"])
    os._exit(0)
print("a daemon will fix my grade after grading")
'''
NEW_SESSION = _REF + """
import subprocess
subprocess.Popen(["sleep", "600.@TOKEN@"], start_new_session=True, stdout=subprocess.DEVNULL)
subprocess.Popen(["sh", "-c", "nohup sleep 600.@TOKEN@ >/dev/null 2>&1 &"])
print("sleepers started")
"""
DAEMON_IN_CALL = """
import subprocess
def freeze_module(module):
    subprocess.Popen(["sleep", "600.@TOKEN@"], start_new_session=True)
    raise NotImplementedError("a sleeper was started instead")
"""
FORK_BOMB = """
import subprocess
sleepers = []
try:
    while len(sleepers) < 500:
        sleepers.append(subprocess.Popen(["sleep", "5"]))
except OSError as exc:
    print("refused after", len(sleepers), "processes:", type(exc).__name__)
"""
KILL_EVERYONE = _REF + """
import os, signal
for target in (-1, 1, os.getppid()):
    try:
        os.kill(target, signal.SIGKILL)
        print("kill", target, "sent")
    except OSError as exc:
        print("kill", target, type(exc).__name__)
"""
PTRACE = _REF + """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print("ptrace:", [libc.ptrace(16, pid, 0, 0) for pid in (1, os.getppid())])
try:
    open("/proc/1/mem", "rb").read(1)
    print("mem: read")
except OSError as exc:
    print("mem:", type(exc).__name__)
"""
RAISE_LIMITS = _REF + """
import resource
results = {}
for name in ("RLIMIT_NPROC", "RLIMIT_DATA", "RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE"):
    try:
        resource.setrlimit(getattr(resource, name), (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        results[name] = "raised"
    except (ValueError, OSError):
        results[name] = "refused"
print("limits:", results)
"""
ESCAPE_NAMESPACES = _REF + """
import ctypes, subprocess
libc = ctypes.CDLL(None, use_errno=True)
print("unshare:", libc.unshare(0x10000000 | 0x00020000), ctypes.get_errno())
print("mount:", libc.mount(b"none", b"/", None, 0x20 | 0x1000, None), ctypes.get_errno())
run = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -o remount,rw / && touch /pwned"], capture_output=True)
print("unshare tool:", run.returncode)
"""

# ------------------------------------------------------------------------------------------ network

LOOPBACK_TCP = _REF + """
import socket
try:
    socket.create_connection(("127.0.0.1", @TCP@), timeout=2).sendall(b"grades please")
    print("loopback: connected")
except OSError as exc:
    print("loopback:", exc)
"""
LOOPBACK_UDP = _REF + """
import socket
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"grades please", ("127.0.0.1", @UDP@))
    print("udp: sent")
except OSError as exc:
    print("udp:", exc)
"""
EXTERNAL = _REF + """
import socket
for host, port in (("1.1.1.1", 80), ("8.8.8.8", 53), ("example.com", 443)):
    try:
        socket.create_connection((host, port), timeout=2).close()
        print(host, "connected")
    except OSError as exc:
        print(host, "refused:", exc)
"""

# ------------------------------------------------------------------------------------------ memory

BIG_ALLOCATION = "block = bytearray(6 * 2**30)\n"
SHARED_MMAP = "import mmap\nblock = mmap.mmap(-1, 6 * 2**30)\nblock[-1] = 1\n"
GROWING_MMAPS = """
import mmap
chunks = []
while len(chunks) < 128:  # 8 GiB of address space at most, never touched
    chunks.append(mmap.mmap(-1, 64 * 2**20, flags=mmap.MAP_PRIVATE))
"""
TREE_HOG = """
import os, time
for _ in range(4):  # each stays under the per-process limit, together over the submission's
    if os.fork() == 0:
        block = bytearray(1024 * 2**20)  # zero-filled: every page is touched
        time.sleep(20)
        os._exit(0)
time.sleep(30)
"""

# ------------------------------------------------------------------------------------------ output

PRINT_FLOOD = "for _ in range(50):\n    print('z' * 2**20)\n"
FD_FLOOD = "import os\nfor _ in range(50):\n    os.write(1, b'z' * 2**20)\n"
FLOOD_IN_CALL = """
import os
def freeze_module(module):
    for _ in range(50):
        os.write(2, b'e' * 2**20)
    return module
"""

# ------------------------------------------------------------------------------------------ crashes, exits, time

SEGFAULT = "import ctypes\nctypes.string_at(0)\n"
ABORT_IN_CALL = "import os\ndef freeze_module(module):\n    os.abort()\n"
RECURSION = "import sys\nsys.setrecursionlimit(10**6)\ndef freeze_module(module):\n    return freeze_module(module)\n"
EXIT_ZERO = "import os\nos._exit(0)\n"
SYS_EXIT = "import sys\nsys.exit(3)\n"
EXIT_IN_CALL = "import os\ndef freeze_module(module):\n    os._exit(0)\n"
SIGKILL_SELF = "import os, signal\ndef freeze_module(module):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
IGNORE_SIGINT_LOOP = """
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
end = time.time() + 300
while time.time() < end:
    pass
"""
IGNORE_SIGTERM_CALL = """
import signal, time
def freeze_module(module):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    time.sleep(300)
"""
SLOW_EVERYWHERE = "import time\ntime.sleep(300)\n"


# ------------------------------------------------------------------------------------------ whole notebooks

def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _tests(nb) -> list:
    return [c for c in nb.cells if _meta(c).get("grade") and not _meta(c).get("solution")]


def extra_grade_cell(released, reference):
    nb = copy.deepcopy(reference)
    bonus = nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {
        "grade": True, "grade_id": "bonus", "locked": False, "points": 100, "schema_version": 3,
        "solution": False, "task": False}})
    no_id = copy.deepcopy(bonus)
    del no_id.metadata["nbgrader"]["grade_id"]
    nb.cells += [bonus, no_id]
    return nb


def inflated_points(released, reference):
    nb = copy.deepcopy(reference)
    for cell in _tests(nb):
        cell.metadata["nbgrader"]["points"] = 100
    return nb


def edited_tests(released, reference):
    nb = copy.deepcopy(released)
    for cell in _tests(nb):
        cell.source = "pass"
    return nb


def deleted_tests(released, reference):
    nb = copy.deepcopy(released)
    nb.cells = [c for c in nb.cells if c not in _tests(nb)]
    return nb


def retagged_tests(released, reference):
    nb = copy.deepcopy(released)
    for cell in _tests(nb):
        cell.metadata["nbgrader"].update(grade=False, solution=True)
        cell.source = "pass"
    return nb


def duplicated_answers(released, reference):
    nb = copy.deepcopy(released)
    answers = [c for c in reference.cells if _meta(c).get("solution") and c.cell_type == "code"]
    nb.cells += copy.deepcopy(answers)  # the reference answers, after the blank ones
    return nb


NOT_A_NOTEBOOK = json.dumps({"cells": "none", "nbformat": 4})
_TIMEOUT = r"more than \d+ s, the time limit of one answer"
_REFUSED = r"(PermissionError|FileNotFoundError|OSError|Read-only|refused|No such file)"

CASES = [
    # forged verdicts: nothing answered, a trick to pass the checks anyway
    Case("patch_checks", "forged verdict", "blank", {FIRST: PATCH_CHECKS}, r"could not patch the checks"),
    Case("sys_modules", "forged verdict", "blank", {FIRST: SYS_MODULES}, r"freeze_module"),
    Case("builtins", "forged verdict", "blank", {FIRST: BUILTINS}, r"freeze_module"),
    Case("module_parameters", "forged verdict", "blank", {FIRST: MODULE_PARAMETERS}, r"freeze_module"),
    Case("always_equal_int", "forged verdict", "blank", {"count_parameters": ALWAYS_EQUAL_INT}, r"Equal"),
    Case("always_equal_str", "forged verdict", "blank", {"ANSWER_Q1": ALWAYS_EQUAL_STR}, r"Letter|ANSWER_Q1"),
    Case("ipython_hooks", "forged verdict", "blank", {FIRST: IPYTHON_HOOKS}, r"get_ipython|NameError|AttributeError"),
    Case("except_hooks", "forged verdict", "blank", {FIRST: EXCEPT_HOOKS}, r"freeze_module"),
    Case("socket_reply", "forged verdict", "blank", {"count_parameters": SOCKET_REPLY}, r"could not be read back"),
    Case("printed_scores", "forged verdict", "blank", {FIRST: PRINTED_SCORES},
         r"All checks passed|passed 26/26"),
    # reading what no student may read (the trick runs next to a correct answer: it may cost nothing)
    Case("read_checks", "reading", "quiz", {QUIZ: READ_CHECKS}, r"check files readable: 0 ", exact=True),
    Case("read_solutions", "reading", "quiz", {QUIZ: READ_SOLUTIONS}, r"solutions read: 0", exact=True),
    Case("read_classmates", "reading", "quiz", {QUIZ: READ_OTHERS}, r"classmate: FileNotFoundError",
         exact=True),
    Case("read_grader_proc", "reading", "quiz", {QUIZ: READ_PROC}, r"grader details seen: 0 \[\]",
         exact=True),
    Case("read_environment", "reading", "quiz", {QUIZ: READ_ENV}, r"canary: absent", exact=True),
    Case("checks_in_memory", "reading", "quiz", {QUIZ: FIND_CHECKS_IN_MEMORY},
         r"check modules in memory: \[\] check functions: 0", exact=True),
    # writing what is not theirs
    Case("write_gradebook", "writing", "quiz", {QUIZ: WRITE_GRADEBOOK}, r"gradebook writes: .*" + _REFUSED,
         exact=True),
    Case("write_course", "writing", "quiz", {QUIZ: WRITE_COURSE}, r"course writes: .*" + _REFUSED, exact=True),
    Case("write_checks", "writing", "quiz", {QUIZ: WRITE_CHECKS}, r"checks writes: .*" + _REFUSED, exact=True),
    Case("write_out", "writing", "quiz", {QUIZ: WRITE_OUT}, r"out writes: .*" + _REFUSED, exact=True),
    Case("write_classmates", "writing", "quiz", {QUIZ: WRITE_OTHERS}, r"classmate writes: .*" + _REFUSED,
         exact=True),
    Case("write_package", "writing", "quiz", {QUIZ: WRITE_PACKAGE}, r"package writes: .*" + _REFUSED,
         exact=True),
    Case("leave_behind", "writing", "quiz", {QUIZ: LEAVE_BEHIND}, r"left: ", exact=True),
    Case("find_leftovers", "writing", "quiz", {QUIZ: FIND_LEFTOVERS}, r"leftovers found: none", exact=True),
    # processes that try to outlive grading or reach the grader
    Case("double_fork_daemon", "processes", "quiz", {QUIZ: DOUBLE_FORK_DAEMON}, r"a daemon will fix",
         exact=True),
    Case("new_session_sleepers", "processes", "quiz", {QUIZ: NEW_SESSION}, r"sleepers started", exact=True),
    Case("daemon_in_call", "processes", "quiz", {FIRST: DAEMON_IN_CALL}, r"a sleeper was started", exact=True),
    Case("fork_bomb", "processes", "quiz", {FIRST: FORK_BOMB}, r"refused after \d{1,2} processes",
         exact=True),
    Case("kill_everyone", "processes", "quiz", {QUIZ: KILL_EVERYONE}, r"kill -1 ProcessLookupError",
         exact=True),
    Case("ptrace_grader", "processes", "quiz", {QUIZ: PTRACE}, r"ptrace: \[-1, -1\]", exact=True),
    Case("raise_limits", "processes", "quiz", {QUIZ: RAISE_LIMITS}, r"limits: \{'RLIMIT_NPROC': 'refused', 'RLIMIT_DATA': 'refused', "
         r"'RLIMIT_AS': 'refused', 'RLIMIT_CPU': 'refused', 'RLIMIT_FSIZE': 'refused'\}", exact=True),
    Case("escape_namespaces", "processes", "quiz", {QUIZ: ESCAPE_NAMESPACES}, r"unshare: -1 1\b",
         exact=True),
    # network
    Case("loopback_tcp", "network", "quiz", {QUIZ: LOOPBACK_TCP}, r"loopback: .*(refused|unreachable)",
         exact=True),
    Case("loopback_udp", "network", "quiz", {QUIZ: LOOPBACK_UDP}, r"udp: ", exact=True),
    Case("external_hosts", "network", "quiz", {QUIZ: EXTERNAL}, r"1\.1\.1\.1 refused", exact=True),
    # memory
    Case("six_gigabytes", "memory", "quiz", {FIRST: BIG_ALLOCATION}, r"MemoryError", exact=True),
    Case("shared_mmap", "memory", "quiz", {FIRST: SHARED_MMAP}, r"Cannot allocate memory|MemoryError",
         exact=True),
    Case("growing_mmaps", "memory", "quiz", {FIRST: GROWING_MMAPS}, r"Cannot allocate memory|MemoryError",
         exact=True),
    Case("tree_of_hogs", "memory", "quiz", {FIRST: TREE_HOG}, r"memory limit \(\d+ MiB for all its processes",
         exact=True, needs="cgroup"),
    # output
    Case("print_flood", "output", "quiz", {FIRST: PRINT_FLOOD}, r"more characters of output dropped|characters cut",
         exact=True),
    Case("fd_flood", "output", "quiz", {FIRST: FD_FLOOD}, r"printed more output than allowed", exact=True),
    Case("flood_in_call", "output", "quiz", {FIRST: FLOOD_IN_CALL}, r"printed more output than allowed"),
    # crashes
    Case("segfault", "crash", "partial", {FIRST: SEGFAULT}, r"killed by signal 11", exact=True),
    Case("abort_in_call", "crash", "quiz", {FIRST: ABORT_IN_CALL}, r"killed by signal 6"),
    Case("endless_recursion", "crash", "quiz", {FIRST: RECURSION}, r"RecursionError|signal 11"),
    # exits
    Case("exit_zero", "exit", "quiz", {FIRST: EXIT_ZERO}, r"exited \(status 0\)", exact=True),
    Case("sys_exit", "exit", "quiz", {FIRST: SYS_EXIT}, r"SystemExit|exited \(status 3\)", exact=True),
    Case("exit_in_call", "exit", "partial", {FIRST: EXIT_IN_CALL}, r"exited \(status 0\)"),
    Case("sigkill_self", "exit", "quiz", {FIRST: SIGKILL_SELF}, r"killed by signal 9"),
    # time: loops that ignore signals, a submission that is slow everywhere
    Case("sigint_ignoring_loop", "time", "quiz", {FIRST: IGNORE_SIGINT_LOOP}, _TIMEOUT, exact=True),
    Case("sigterm_ignoring_call", "time", "partial", {FIRST: IGNORE_SIGTERM_CALL}, _TIMEOUT),
    Case("slow_everywhere", "time", "blank",
         {name: SLOW_EVERYWHERE for name in (FIRST, "unfreeze_module", "count_parameters", "freeze_by_name")},
         r"the whole submission ran for more than \d+ s, its time limit"),
    # tampered notebooks
    Case("extra_grade_cell", "tampered notebook", "reference", reason=r"'bonus' is not part of the assignment",
         notebook=extra_grade_cell, exact=True),
    Case("inflated_points", "tampered notebook", "reference", notebook=inflated_points, exact=True,
         reason=r"had its grading settings changed: the released one was used"),
    Case("edited_tests", "tampered notebook", "blank", notebook=edited_tests,
         reason=r"was edited: the released one was used"),
    Case("deleted_tests", "tampered notebook", "blank", notebook=deleted_tests,
         reason=r"is missing from the submission: the released one was used"),
    Case("retagged_tests", "tampered notebook", "blank", notebook=retagged_tests,
         reason=r"had its grading settings changed"),
    Case("duplicated_answers", "tampered notebook", "blank", reason=r"appears more than once",
         notebook=duplicated_answers),
    # corrupt files
    Case("corrupt_json", "corrupt notebook", "blank", reason=r"not a valid notebook", failed=True,
         raw='{"cells": [ not json'),
    Case("not_a_notebook", "corrupt notebook", "blank", reason=r"not a valid notebook", failed=True,
         raw=NOT_A_NOTEBOOK),
    Case("empty_file", "corrupt notebook", "blank", reason=r"not a valid notebook", failed=True, raw=""),
    Case("binary_garbage", "corrupt notebook", "blank", reason=r"not a valid notebook", failed=True,
         raw="\x00\x01PK\x03\x04" * 100),
]
