"""Assert tests are judged apart from the program (sandbox/worker.py, "assert tests").

The test code runs in its own process (T); the program runs in another (P) and answers T's calls
with plain values only. Each attack here worked, or could have worked, when the test code ran in the
program's own process after it: reading the tests from memory, emptying them, jumping over them,
patching what they use, returning objects that equal anything, exiting early, forging the proof.
Every one runs on both isolating backends (the `box` fixture) and must fail; after each, the same
box still judges an ordinary test correctly. The controls show that the usual forms of test code
(MBPP, HumanEval's check(candidate), Solution classes, expected exceptions, float tolerances,
tuples, sets and dicts) still pass, and the documented limits fail the way the README says.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from sandbox import AssertCase, Sandbox, StdioCase, Verdict
from tests.sandbox_helpers import assert_verdict, explain

if TYPE_CHECKING:
    from sandbox import TestResult


def run1(box: Sandbox, program: str, source: str) -> TestResult:
    result = box.run(program, [AssertCase(source)])
    assert len(result.tests) == 1
    return result.tests[0]


def assert_healthy(box: Sandbox) -> None:
    """The box still judges ordinary tests: a stdin one and an assert one."""
    assert_verdict(box.run("print(int(input()) * 2)", [StdioCase("21\n", "42\n")]).tests[0], Verdict.PASSED)
    assert_verdict(run1(box, "def f(x):\n    return x + 2\n", "assert f(1) == 3\n"), Verdict.PASSED)


def secret() -> str:
    """An expected value no program can guess: only reading the tests would find it."""
    return f"tok-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def solo_box(box: Sandbox):
    """One worker on `box`'s backend: consecutive runs hit the same worker."""
    with Sandbox(backend=box.backend, workers=1, limits=box.limits) as solo:
        yield solo


# ---------------------------------------------------------------- hunting for the expected values

# Each hunter defines hunt(), which returns every token it can find, and f(x), which answers with the
# first (or "notfound") and prints what it found, so that a test can show the hunt came back empty.
HUNT_TAIL = r"""
import re as _re
PATTERN = _re.compile(r"tok-[0-9a-f]{32}")


def tokens_in(blob):
    if isinstance(blob, (bytes, bytearray, memoryview)):
        blob = bytes(blob).decode("latin-1")
    if isinstance(blob, str):
        return PATTERN.findall(blob)
    return []


def f(x):
    found = sorted(set(hunt()))
    print("found:", found, flush=True)
    return found[0] if found else "notfound"
"""

HUNTERS = {
    "frame-walk": r"""
import sys


def hunt():
    found = []
    frame = sys._getframe()
    while frame is not None:  # every frame of this process: the program's, the harness's, the worker's
        for scope in (frame.f_locals, frame.f_globals):
            for key, value in list(scope.items()):
                found += tokens_in(key) + tokens_in(value)
                if isinstance(value, dict):
                    for item in list(value.values()):
                        found += tokens_in(item)
                elif isinstance(value, (list, tuple)):
                    for item in value:
                        found += tokens_in(item)
        for const in frame.f_code.co_consts:
            found += tokens_in(const)
        frame = frame.f_back
    return found
""",
    "gc-scan": r"""
import gc


def hunt():
    found = []
    for obj in gc.get_objects():  # every container and code object, and the strings in them
        items = ()
        if isinstance(obj, dict):
            items = list(obj.keys()) + list(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            items = list(obj)
        elif hasattr(obj, "co_consts"):
            items = obj.co_consts
        for item in items:
            found += tokens_in(item)
    return found
""",
    "proc-self-mem": r"""
import ctypes

ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: the process is born undumpable; undo that


def hunt():
    found = []
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
        for line in maps.read().splitlines():
            addresses, perms = line.split()[:2]
            if "r" not in perms:
                continue
            start, end = (int(x, 16) for x in addresses.split("-"))
            for offset in range(start, end, 1 << 22):
                try:
                    mem.seek(offset)
                    found += tokens_in(mem.read(min(1 << 22, end - offset)))
                except (OSError, ValueError, OverflowError):
                    break
    return found
""",
    "ctypes-mem": r"""
import ctypes


def hunt():
    found = []
    with open("/proc/self/maps") as maps:
        lines = maps.read().splitlines()
    for line in lines:
        fields = line.split()  # anonymous and heap memory: where Python objects live (files could SIGBUS)
        if not fields[1].startswith("rw") or (len(fields) > 5 and fields[5] not in ("[heap]", "[stack]")):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        for offset in range(start, end, 1 << 22):
            found += tokens_in(ctypes.string_at(offset, min(1 << 22, end - offset)))
    return found
""",
    "other-processes": r"""
import ctypes, os

libc = ctypes.CDLL(None, use_errno=True)


def hunt():
    found = []
    me = os.getpid()
    for pid in [p for p in os.listdir("/proc") if p.isdigit() and int(p) != me]:
        for name in ("mem", "environ", "maps", "fd/0", "fd/3", "fd/4", "fd/5", "fd/6"):
            path = f"/proc/{pid}/{name}"
            try:
                with open(path, "rb", 0) as f:
                    print("opened", path, flush=True)
                    found += tokens_in(f.read(1 << 16))
            except OSError:
                pass
        try:
            print("listed", f"/proc/{pid}/fd", os.listdir(f"/proc/{pid}/fd"), flush=True)
        except OSError:
            pass
        if libc.ptrace(16, int(pid), 0, 0) == 0:  # PTRACE_ATTACH
            print("attached", pid, flush=True)
        buffer = ctypes.create_string_buffer(64)
        local = (ctypes.c_void_p * 2)(ctypes.addressof(buffer), 64)
        remote = (ctypes.c_void_p * 2)(0x400000, 64)
        if libc.process_vm_readv(int(pid), local, 1, remote, 1, 0) > 0:
            print("read-remote", pid, flush=True)
    return found
""",
    "scratch-and-descriptors": r"""
import os, select


def hunt():
    found = []
    for root in ("/tmp", "/dev/shm"):
        for directory, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not os.path.ismount(os.path.join(directory, d))]  # an interpreter
            for name in files:
                try:
                    with open(os.path.join(directory, name), "rb") as f:
                        found += tokens_in(f.read())
                except OSError:
                    pass
    for fd in range(0, 256):  # whatever is waiting in any inherited descriptor
        try:
            if select.select([fd], [], [], 0)[0]:
                found += tokens_in(os.read(fd, 1 << 20))
        except (OSError, ValueError):
            pass
    found += tokens_in(repr(dict(os.environ))) + tokens_in(repr(os.sys.argv))
    return found
""",
}


@pytest.mark.parametrize("hunter", list(HUNTERS), ids=list(HUNTERS))
def test_the_program_cannot_find_the_expected_values(box, hunter):
    """The tests' source (and the expected values in it) is in no memory, descriptor, file or process
    the program can read: every hunt comes back empty, and the answer is a wrong one."""
    token = secret()
    try:
        result = run1(
            box, HUNTERS[hunter] + HUNT_TAIL, f"assert f(1) == {token!r}\nassert f(2) == {token!r}\n"
        )
        assert_verdict(result, Verdict.WRONG_ANSWER, "AssertionError")
        assert "found: []" in result.stdout, explain(result)
        assert token not in result.stdout + result.stderr
        for word in ("opened /proc", "listed", "attached", "read-remote"):  # other processes stay shut
            assert not any(
                line.startswith(word) and "/proc/self" not in line for line in result.stdout.splitlines()
            ), explain(result)
    finally:
        assert_healthy(box)


def test_a_later_test_cannot_find_an_earlier_tests_source(solo_box):
    """Two assert tests of one program on one worker, each with its own secret: the second test's
    program process hunts everywhere for the first's (the worker never held it) and finds nothing."""
    first, second = secret(), secret()
    program = HUNTERS["gc-scan"] + HUNTERS["proc-self-mem"].replace("def hunt", "def hunt_mem") + HUNT_TAIL
    program = program.replace("    return found\n", "    return found + hunt_mem()\n", 1)
    result = solo_box.run(
        program, [AssertCase(f"assert f(1) == {first!r}\n"), AssertCase(f"assert f(1) == {second!r}\n")]
    )
    for test in result.tests:
        assert_verdict(test, Verdict.WRONG_ANSWER, "AssertionError")
        assert "found: []" in test.stdout, explain(test)
    assert_healthy(solo_box)


# ---------------------------------------------------------------- forging a pass without the answer

ASSERTS = "assert f(1) == 3\nassert f(2) == 4\n"  # f(x) = x + 2; the attacks define x + 1
WRONG_F = "def f(x):\n    return x + 1\n"

CURSE = r"""
import ctypes

RICH = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.py_object, ctypes.c_int)


def _always(a, b, op, table=(True, True, True, False, True, True), incref=ctypes.pythonapi.Py_IncRef,
            obj=ctypes.py_object):
    result = table[op]  # no comparison and no global lookup here: both would recurse into the curse
    incref(obj(result))
    return id(result)


ALWAYS = RICH(_always)


def curse(cls):  # forbiddenfruit-style: tp_richcompare, slot 25 of a 64-bit PyTypeObject
    ctypes.c_void_p.from_address(id(cls) + 25 * 8).value = ctypes.cast(ALWAYS, ctypes.c_void_p).value
    ctypes.pythonapi.PyType_Modified(ctypes.py_object(cls))


for cls in (int, float, str, list, tuple, dict, set):
    curse(cls)
print("cursed:", 1 == 2, "a" == "b", [1] == [2], flush=True)
"""

FORGERIES = {
    # id: (program, test source, verdict, what the detail contains, what stdout must show: the
    # attack took effect in the program's own process)
    "empty-the-source-through-frame-locals": (
        "import ctypes, sys\n"
        "emptied = 0\n"
        "frame = sys._getframe()\n"
        "while frame is not None:\n"
        "    for key, value in list(frame.f_locals.items()):\n"
        "        if isinstance(value, str) and 'assert' in value:\n"
        "            frame.f_locals[key] = 'pass'\n"
        "            ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))\n"
        "            emptied += 1\n"
        "        elif isinstance(value, dict):\n"
        "            for k in [k for k, v in value.items() if isinstance(v, str) and 'assert' in v]:\n"
        "                value[k] = 'pass'\n"
        "                emptied += 1\n"
        "    frame = frame.f_back\n"
        "print('walked, emptied', emptied, flush=True)\n" + WRONG_F,
        ASSERTS,
        Verdict.WRONG_ANSWER,
        "AssertionError",
        "walked, emptied",
    ),
    "settrace-jumps-over-the-tests": (
        "import sys, threading\n"
        "def tracer(frame, event, arg):\n"
        "    if frame.f_code.co_filename == '<tests>':\n"
        "        print('saw the tests', flush=True)\n"
        "        if event == 'line':\n"
        "            try:\n                frame.f_lineno = frame.f_code.co_firstlineno + 10**6\n"
        "            except ValueError:\n                pass\n"
        "    return tracer\n"
        "sys.settrace(tracer)\nthreading.settrace(tracer)\nsys.setprofile(lambda *a: None)\n"
        "print('tracing', flush=True)\n" + WRONG_F,
        ASSERTS,
        Verdict.WRONG_ANSWER,
        "AssertionError",
        "tracing",
    ),
    "patch-the-builtins-the-tests-use": (
        "import builtins\n"
        "class Swallowed(Exception):\n    pass\n"
        "for target in (builtins, globals()):\n"
        "    setter = (lambda k, v: setattr(builtins, k, v)) if target is builtins else target.__setitem__\n"
        "    setter('abs', lambda x: 0)\n"
        "    setter('len', lambda x: 3)\n"
        "    setter('isinstance', lambda *a: True)\n"
        "    setter('print', lambda *a, **k: None)\n"
        "    setter('AssertionError', Swallowed)\n"
        "import sys\nsys.stdout.write(f'patched: abs(-5)={abs(-5)} len([])={len([])}\\n')\n"
        "def g():\n    return [1]\n"
        "def h():\n    return 5\n" + WRONG_F,
        "assert abs(f(1) - 3) < 1e-9\nassert len(g()) == 3\nassert isinstance(h(), str)\nassert f(2) == 4\n",
        Verdict.WRONG_ANSWER,
        "AssertionError",
        "patched: abs(-5)=0 len([])=3",
    ),
    "curse-the-comparisons-of-builtin-types": (
        CURSE + WRONG_F,
        ASSERTS,
        None,  # WRONG_ANSWER, or a failure of the program's own (cursed) side of the harness
        "",
        "cursed: True True True",
    ),
    "always-equal-object": (
        "class AlwaysEqual:\n"
        "    def __eq__(self, other):\n        return True\n"
        "    def __ne__(self, other):\n        return False\n"
        "    __hash__ = object.__hash__\n"
        "def f(x):\n    return AlwaysEqual()\n",
        ASSERTS,
        Verdict.WRONG_ANSWER,
        "returned a AlwaysEqual, which is not a plain value",
        "",
    ),
    "always-equal-int-subclass": (
        "class Int(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
        "def f(x):\n    return Int(x + 1)\n",
        ASSERTS,
        Verdict.WRONG_ANSWER,  # it crosses as its int value, 2, which is not 3
        "AssertionError",
        "",
    ),
    "always-equal-str-and-list-subclasses": (
        "class S(str):\n    def __eq__(self, other):\n        return True\n    __hash__ = str.__hash__\n"
        "class L(list):\n    def __eq__(self, other):\n        return True\n"
        "def f(x):\n    return S('wrong')\n"
        "def g(x):\n    return L([0])\n",
        "assert g(1) == [1, 2]\nassert f(1) == 'right'\n",
        Verdict.WRONG_ANSWER,
        "AssertionError",
        "",
    ),
    "replace-the-harness-of-its-own-process": (
        "import __main__\n"  # in the program's process, __main__ is the worker's module
        "for harness in (vars(__main__), __main__.P_HARNESS):\n"
        "    harness['answer_with'] = lambda value: {'value': {'t': 'ref', 'v': 0}}\n"
        "    harness['program_names'] = lambda ns: {'f': ['function'], 'abs': ['function'], 'math': ['object']}\n"
        + WRONG_F,
        ASSERTS,
        Verdict.RUNTIME_ERROR,
        "the program's process sent an answer the harness cannot read",
        "",
    ),
    "answer-with-a-forged-frame-then-exit": (
        "import json, os, struct\n" + WRONG_F + "for answer in ({'value': 3}, {'proof': '0'}):\n"
        "    data = json.dumps(answer).encode()\n"
        "    os.write(4, struct.pack('>I', len(data)) + data)\n"
        "os._exit(0)\n",
        ASSERTS,
        Verdict.RUNTIME_ERROR,
        "the program's process sent an answer the harness cannot read",
        "",
    ),
}


@pytest.mark.parametrize("attack", list(FORGERIES), ids=list(FORGERIES))
def test_forging_a_pass_fails(box, attack):
    """Tampering with everything the program can reach: its own process. The tests' process, where
    the comparisons and asserts run, is untouched, so the wrong answer is judged wrong."""
    program, source, verdict, detail, evidence = FORGERIES[attack]
    try:
        result = run1(box, program, source)
        if verdict is None:
            assert result.verdict is not Verdict.PASSED, explain(result)
        else:
            assert_verdict(result, verdict, detail)
        assert evidence in result.stdout, explain(result)
        assert "saw the tests" not in result.stdout, explain(result)
    finally:
        assert_healthy(box)


FIND_TESTS = (  # the tests process: a child of the worker (pid 1 in the sandbox) that is not this one
    "import os, signal\n"
    "def tests_process():\n"
    "    for pid in [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
    "        try:\n"
    "            with open(f'/proc/{pid}/stat') as f:\n"
    "                parent = int(f.read().rsplit(')', 1)[1].split()[1])\n"
    "        except OSError:\n"
    "            continue\n"
    "        if pid != os.getpid() and parent == os.getppid():\n"
    "            return pid\n"
)

EXITS = {
    # id: (program, verdict, what the detail contains)
    "os-exit-0-at-top-level": (
        "import os\n" + WRONG_F + "os._exit(0)\n",
        Verdict.RUNTIME_ERROR,
        "exited before the test code finished, exit status 0",
    ),
    "sys-exit-0-at-top-level": (
        "import sys\n" + WRONG_F + "sys.exit(0)\n",
        Verdict.RUNTIME_ERROR,
        "SystemExit: 0",
    ),
    "os-exit-0-in-the-function": (
        "import os\ndef f(x):\n    os._exit(0)\n",
        Verdict.RUNTIME_ERROR,
        "exited before the test code finished, exit status 0",
    ),
    "sys-exit-0-in-the-function": (
        "import sys\ndef f(x):\n    sys.exit(0)\n",
        Verdict.RUNTIME_ERROR,
        "SystemExit: 0",
    ),
    "sigkill-self": (
        "import os, signal\ndef f(x):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
        Verdict.RUNTIME_ERROR,
        "killed by SIGKILL",
    ),
    "close-every-descriptor": (
        "import os\nos.closerange(3, 4096)\n" + WRONG_F,
        Verdict.RUNTIME_ERROR,
        "exited before the test code finished",
    ),
    "kill-the-parent": (
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + WRONG_F,
        Verdict.WRONG_ANSWER,
        "AssertionError",
    ),
    "kill-every-process": (
        "import os, signal\n" + WRONG_F + "os.kill(-1, signal.SIGKILL)\n",
        Verdict.RUNTIME_ERROR,
        "killed by SIGKILL",
    ),
    "kill-the-tests-process": (
        FIND_TESTS + "os.kill(tests_process(), signal.SIGKILL)\n" + WRONG_F,
        Verdict.RUNTIME_ERROR,
        "killed by SIGKILL",
    ),
    "stop-the-tests-process": (
        FIND_TESTS + "os.kill(tests_process(), signal.SIGSTOP)\n" + WRONG_F,
        Verdict.TIMEOUT,
        "wall time over",
    ),
    "never-return": (
        "def f(x):\n    while True:\n        pass\n",
        Verdict.TIMEOUT,
        "time over",
    ),  # CPU or wall
}


@pytest.mark.parametrize("attack", list(EXITS), ids=list(EXITS))
def test_exiting_or_killing_fails_the_test(box, attack):
    """The program can end its own process, or kill or stop the tests' process: the test code then
    never runs to its end, which is a failure with a clear detail, never a pass."""
    program, verdict, detail = EXITS[attack]
    try:
        assert_verdict(run1(box, program, ASSERTS), verdict, detail)
    finally:
        assert_healthy(box)


def test_a_killed_tests_process_leaves_the_request_stream_in_step(solo_box):
    """The tests' process dies before it has read its (large) source: the worker discards the rest of
    the source from its request stream, so the next test on the same worker is read correctly."""
    big = "PADDING = '" + "x" * 2_000_000 + "'\nassert f(1) == 3\n"  # 2 MB, much more than a pipe holds
    program = "import os, signal\n" + "os.kill(-1, signal.SIGKILL)\n"
    result = solo_box.run(program, [AssertCase(big), AssertCase("assert 1 == 1\n"), AssertCase(big)])
    assert [t.verdict for t in result.tests] == [Verdict.RUNTIME_ERROR] * 3, [t.detail for t in result.tests]
    assert_verdict(run1(solo_box, "def f(x):\n    return x + 2\n", big), Verdict.PASSED)
    assert_healthy(solo_box)


# ---------------------------------------------------------------- controls: the usual test code still works

CONTROLS = {
    # id: (program, test source)
    "mbpp-style": (
        "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n",
        "assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == set((4, 5))\n"
        "assert set(similar_elements((1, 2, 3, 4), (5, 4, 3, 7))) == set((3, 4))\n",
    ),
    "mbpp-math-isclose-from-the-programs-import": (
        "import math\ndef volume_sphere(r):\n    return 4 / 3 * math.pi * r ** 3\n",
        "assert math.isclose(volume_sphere(10), 4188.790204786391, rel_tol=0.001)\n",
    ),
    "humaneval-check-candidate": (
        "from typing import List\n\n"
        "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n",
        "METADATA = {'author': 'jt', 'dataset': 'test'}\n\n"
        "def check(candidate):\n"
        "    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True\n"
        "    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False\n"
        "    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 1.0) == True\n\n"
        "check(has_close_elements)\n",
    ),
    "humaneval-helper-and-random-inputs": (
        "def flip_case(string: str) -> str:\n    return string.swapcase()\n",
        "import random\n\ndef check(candidate):\n"
        "    for _ in range(50):\n"
        "        s = ''.join(random.choice('abcXYZ') for _ in range(10))\n"
        "        assert candidate(s) == s.swapcase(), s\n"
        "    assert candidate(string='Hello!') == 'hELLO!'\n\n"
        "check(flip_case)\n",
    ),
    "solution-class": (
        "class Solution:\n"
        "    def twoSum(self, nums, target):\n"
        "        seen = {}\n"
        "        for i, x in enumerate(nums):\n"
        "            if target - x in seen:\n"
        "                return [seen[target - x], i]\n"
        "            seen[x] = i\n",
        "assert Solution().twoSum([2, 7, 11, 15], 9) == [0, 1]\ns = Solution()\nassert s.twoSum([3, 3], 6) == [0, 1]\n",
    ),
    "stateful-class": (
        "class Stack:\n"
        "    def __init__(self):\n        self.items = []\n        self.name = 'stack'\n"
        "    def push(self, x):\n        self.items.append(x)\n"
        "    def pop(self):\n        return self.items.pop()\n"
        "    def __len__(self):\n        return len(self.items)\n"
        "    def __contains__(self, x):\n        return x in self.items\n"
        "    def __iter__(self):\n        return iter(self.items)\n",
        "s = Stack()\ns.push(1)\ns.push(2)\nassert len(s) == 2 and 1 in s and list(s) == [1, 2]\n"
        "assert s.pop() == 2\nassert s.items == [1] and s.name == 'stack'\nassert s\n",
    ),
    "program-objects-as-arguments": (
        "class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"
        "def max_chain_length(arr, n):\n"
        "    arr = sorted(arr, key=lambda p: p.b)\n"
        "    count, end = 0, float('-inf')\n"
        "    for p in arr:\n"
        "        if p.a > end:\n            count, end = count + 1, p.b\n"
        "    return count\n",
        "assert max_chain_length([Pair(5, 24), Pair(15, 25), Pair(27, 40), Pair(50, 60)], 4) == 3\n",
    ),
    "expected-exceptions": (
        "class Negative(ValueError):\n    pass\n"
        "def sqrt_int(n):\n"
        "    if n < 0:\n        raise ValueError(f'negative: {n}')\n"
        "    if n == 1:\n        raise KeyError('one')\n"
        "    return int(n ** 0.5)\n",
        "try:\n    sqrt_int(-4)\nexcept ValueError as e:\n    assert str(e) == 'negative: -4'\n"
        "else:\n    raise AssertionError('no ValueError')\n"
        "try:\n    sqrt_int(1)\nexcept KeyError as e:\n    assert e.args == ('one',)\n"
        "else:\n    raise AssertionError('no KeyError')\n"
        "assert sqrt_int(16) == 4\n",
    ),
    "float-tolerance": (
        "import math\ndef area(r):\n    return math.pi * r * r\n",
        "assert abs(area(2) - 12.566370614359172) < 1e-6\nassert round(area(1), 4) == 3.1416\n",
    ),
    "tuple-set-dict-and-other-plain-results": (
        "from collections import Counter, OrderedDict, namedtuple\n"
        "P = namedtuple('P', 'x y')\n"
        "def f():\n"
        "    return (1, 'a', None, True)\n"
        "def g():\n"
        "    return {'a': [1, 2.5], (1, 2): {3, 4}, frozenset([5]): b'xy', 7: 1 + 2j}\n"
        "def h():\n"
        "    return Counter('aab'), OrderedDict(b=1), P(1, 2), 10 ** 50, float('nan'), -0.0\n",
        "assert f() == (1, 'a', None, True) and f()[3] is True and f()[2] is None\n"
        "assert g() == {'a': [1, 2.5], (1, 2): {3, 4}, frozenset([5]): b'xy', 7: 1 + 2j}\n"
        "c, o, p, big, nan, zero = h()\n"
        "assert c == {'a': 2, 'b': 1} and o == {'b': 1} and p == (1, 2) and big == 10 ** 50\n"
        "assert nan != nan and str(zero) == '-0.0'\n",
    ),
    "keyword-arguments-and-defaults": (
        "def power(base, exp=2, *, mod=None):\n    r = base ** exp\n    return r % mod if mod else r\n",
        "assert power(3) == 9\nassert power(2, exp=10) == 1024\nassert power(base=2, exp=10, mod=1000) == 24\n",
    ),
    "module-level-values-and-prints": (
        "TABLE = [i * i for i in range(10)]\nprint('program prints')\n"
        "def lookup(i):\n    print('called', i)\n    return TABLE[i]\n",
        "assert lookup(3) == TABLE[3] == 9\nTABLE.append(0)\nassert lookup(9) == 81\nprint('tests print')\n",
    ),
}


@pytest.mark.parametrize("control", list(CONTROLS), ids=list(CONTROLS))
def test_correct_programs_pass(box, control):
    program, source = CONTROLS[control]
    assert_verdict(run1(box, program, source), Verdict.PASSED)


def test_wrong_programs_are_wrong_answers(box):
    result = run1(
        box,
        "def similar_elements(a, b):\n    return (4,)\n",
        "assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == set((4, 5)), 'sets differ'\n",
    )
    assert_verdict(result, Verdict.WRONG_ANSWER, "AssertionError: sets differ")
    result = run1(
        box,
        CONTROLS["humaneval-check-candidate"][0].replace("< threshold", "<= 0"),
        CONTROLS["humaneval-check-candidate"][1],
    )
    assert_verdict(result, Verdict.WRONG_ANSWER, "AssertionError")


def test_an_uncaught_program_exception_is_a_runtime_error(box):
    builtin = run1(box, "def f(x):\n    return {}[x]\n", "assert f(1) == 2\n")
    assert_verdict(builtin, Verdict.RUNTIME_ERROR, "KeyError: 1")
    assert "In the program's process" in builtin.stderr and 'File "main.py", line 2' in builtin.stderr
    own = run1(
        box, "class Bad(Exception):\n    pass\ndef f(x):\n    raise Bad('boom')\n", "assert f(1) == 2\n"
    )
    assert_verdict(own, Verdict.RUNTIME_ERROR, "Bad: boom")
    top = run1(box, "def f(x):\n    return x\nraise RuntimeError('at import')\n", "assert f(1) == 1\n")
    assert_verdict(top, Verdict.RUNTIME_ERROR, "RuntimeError: at import")


def test_a_large_source_crosses_whole(box):
    """Sources larger than a pipe's buffer are relayed in pieces while the tests read them."""
    big = "PADDING = '" + "x" * 400_000 + "'\n" + "".join(f"assert f({i}) == {i + 2}\n" for i in range(2000))
    assert_verdict(run1(box, "def f(x):\n    return x + 2\n", big), Verdict.PASSED)
    assert_verdict(run1(box, "def f(x):\n    return x + 2 - (x == 1999)\n", big), Verdict.WRONG_ANSWER)
    assert_healthy(box)


# ---------------------------------------------------------------- the documented limits (README, AssertCase)

LIMITS = {
    # id: (program, test source, verdict, what the detail contains)
    "a-callback-cannot-cross": (
        "def apply(fn, x):\n    return fn(x)\n",
        "assert apply(lambda v: v * 2, 3) == 6\n",
        Verdict.RUNTIME_ERROR,
        "the test passes a function to the program, which the isolated harness cannot send",
    ),
    "a-returned-generator-is-not-plain": (
        "def evens(n):\n    return (i for i in range(0, n, 2))\n",
        "assert list(evens(5)) == [0, 2, 4]\n",
        Verdict.WRONG_ANSWER,
        "returned a generator, which is not a plain value",
    ),
    "a-returned-program-object-is-not-plain": (
        "class Node:\n    def __init__(self, v):\n        self.v = v\ndef make(v):\n    return Node(v)\n",
        "assert make(3).v == 3\n",
        Verdict.WRONG_ANSWER,
        "returned a Node, which is not a plain value",
    ),
    "mutating-an-argument-is-not-seen": (
        "def sort_in_place(xs):\n    xs.sort()\n",
        "xs = [3, 1, 2]\nsort_in_place(xs)\nassert xs == [1, 2, 3]\n",
        Verdict.WRONG_ANSWER,
        "AssertionError",
    ),
    "identity-beyond-none-and-bools-fails": (
        "def same(x):\n    return x\n",
        "assert same(None) is None and same(True) is True\nxs = [1]\nassert same(xs) is xs\n",
        Verdict.WRONG_ANSWER,
        "AssertionError",
    ),
    "a-program-function-named-like-a-builtin-is-not-the-tests-name": (
        "def max(xs):\n    return 'the program max'\n",
        "assert max([1, 3, 2]) == 3\nassert max([1, 3, 2]) == 'the program max'\n",
        Verdict.WRONG_ANSWER,
        "AssertionError",
    ),
    "a-library-module-name-is-the-library": (
        "class math:\n    @staticmethod\n    def isclose(*a, **k):\n        return True\n"
        "def f(x):\n    return x + 1\n",
        "assert math.isclose(f(1), 3)\n",
        Verdict.RUNTIME_ERROR,
        "AttributeError",
    ),
    "an-object-named-like-a-library-module-is-replaced-by-it": (
        "class Fake:\n    def isclose(self, *a, **k):\n        return True\nmath = Fake()\n"
        "def f(x):\n    return x + 1\n",
        "assert math.isclose(f(1), 3)\n",
        Verdict.WRONG_ANSWER,
        "AssertionError",
    ),
}


@pytest.mark.parametrize("case", list(LIMITS), ids=list(LIMITS))
def test_documented_limits(box, case):
    """Forms of test code the isolated harness does not run as the in-process one did: each fails,
    with the verdict and detail the README documents; none passes a wrong program."""
    program, source, verdict, detail = LIMITS[case]
    assert_verdict(run1(box, program, source), verdict, detail)


STOP_EARLY = {  # a program exception that would end the test code's own iteration early
    "all-map": "assert all(map(is_even, [2, 4, 6]))\nassert not all(map(is_even, [1]))\n",
    "zip-map": "for x, y in zip([1, 2], map(f, [1, 2])):\n    assert y == x + 2\nassert len(list(map(f, [1]))) == 1\n",
    "check-candidate": (
        "def check(candidate):\n    n = 0\n    for got, want in zip(map(candidate, [1, 2, 3]), [3, 4, 5]):\n"
        "        assert got == want\n        n += 1\n    assert n == 3\ncheck(f)\n"
    ),
    "filter": "assert list(filter(is_even, [1, 2, 3, 4])) == [2, 4]\n",
    "sum-map": "assert sum(map(f, [1, 2, 3])) == 12\n",
}


@pytest.mark.parametrize(
    "exception", ["StopIteration", "StopAsyncIteration", "GeneratorExit", "SystemExit", "KeyboardInterrupt"]
)
@pytest.mark.parametrize("test", list(STOP_EARLY), ids=list(STOP_EARLY))
def test_control_flow_exceptions_of_the_program_do_not_cross(box, exception, test):
    """StopIteration raised by the program would end a map() or zip() in the test code as if the data
    ran out (all() of nothing is true): it reaches the tests as a RemoteError, which fails them."""
    program = f"def is_even(x):\n    raise {exception}\ndef f(x):\n    raise {exception}\n"
    result = run1(box, program, STOP_EARLY[test])
    assert result.verdict in (Verdict.RUNTIME_ERROR, Verdict.WRONG_ANSWER), explain(result)
    assert_verdict(
        run1(box, "def is_even(x):\n    return x % 2 == 0\ndef f(x):\n    return x + 2\n", STOP_EARLY[test]),
        Verdict.PASSED,
    )
