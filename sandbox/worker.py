"""The warm worker: a long-lived interpreter inside the sandbox that forks one child per test.

This file runs *inside* the isolation (bubblewrap or a container) as `python3 -I -c <this source>`,
so it uses the standard library only and never imports the rest of the package. It is started as
pid 1 of its own pid namespace: signals from the programs it runs cannot kill it (the kernel
ignores them for an init without handlers), and after each test it can see and kill every process
left behind.

Protocol: frames on fd 0 (requests) and fd 1 (replies), each a 4-byte big-endian length and a JSON
object. Requests: {"op": "load", "program": src} compiles a program; {"op": "run", "kind": ...,
"limits": {...}} runs the loaded program on one test; {"op": "exit"}. An assert test's run request
carries "source_bytes": N instead of its source, and the N bytes of source follow the frame raw on
fd 0: the worker splices them into the tests process's pipe without ever reading them (see
"assert tests" below). The worker never receives expected outputs: judging happens on the host, so
a program cannot find them in memory it inherits.

Each stdin or call test runs in a forked child with rlimits, its stdin/stdout/stderr on fresh pipes,
a private result pipe for the harness (call results, exceptions) and a wiped scratch directory. An
assert test runs in two such processes, the program's and the tests', which talk only in plain
values. The worker drains all pipes concurrently with caps, so no output size can deadlock a run.
"""

import builtins
import errno
import fcntl
import gc
import importlib
import json
import os
import re
import resource
import select
import signal
import struct
import sys
import time
import traceback  # imported now: the program may break the import system before an error

SCRATCH = os.environ.get("CODER_RL_SCRATCH", "/tmp")
# Everything a program may write, wiped after each test (/dev/shm and POSIX message queues are only
# ours inside a sandbox).
SCRATCH_DIRS = [SCRATCH] + [d for d in ("/dev/shm", "/dev/mqueue") if SCRATCH == "/tmp" and os.path.isdir(d)]
WIPE_LIMIT = 10_000  # files; past that, a fresh worker is faster than wiping
# Common imports of contest programs, loaded once. Not threading: its at-fork hook doubles the cost of a fork.
PRELOAD = ("bisect", "collections", "functools", "heapq", "itertools", "math", "re", "string")
STDERR_TAIL = 64 * 1024
SECRET_FD = 4  # in an assert test's tests process: the pipe holding the completion secret
reported = False  # the child reports once on fd 3, then closes it
harness_pid = None
KERNEL_OBJECTS = None


def cgroup_file(variable, *container_paths):
    """A counter of this worker's own cgroup: bubblewrap binds it in and names it (root hosts); a
    container sees its own cgroup at /sys/fs/cgroup. Elsewhere (the unsafe backend, not pid 1)
    /sys/fs/cgroup is the host's, whose counters are not ours."""
    named = os.environ.get(variable)
    if named:
        return named
    return next((path for path in container_paths if os.getpid() == 1 and os.path.exists(path)), None)


CPU_COUNTER = cgroup_file(
    "CODER_RL_CPU_COUNTER",
    "/sys/fs/cgroup/cpuacct/cpuacct.usage",
    "/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage",
    "/sys/fs/cgroup/cpu.stat",
)
OOM_COUNTER = cgroup_file(
    "CODER_RL_OOM_COUNTER", "/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"
)
# Docker caps processes with the container's pids cgroup; RLIMIT_NPROC would count the uid across containers.
PIDS_CGROUP = os.environ.get("CODER_RL_PIDS_CGROUP") == "1"
OOM_KILLS = 0  # the cgroup's OOM kill count after the last test
WORKER_STATE = None  # rlimits, priority, scheduling, affinity and OOM score: no test may change them
LIBC = None  # ctypes' libc, once harden() has loaded it
WORKER_SIZE = 0  # address space once started
WORKER_GROWTH = 16 << 20  # past this much more, the worker retires: tests would have less memory
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
KEPT = set()  # mount points under scratch (an interpreter bound under /tmp) and the directories above them
RESULT_CAP = 16 * 1024 * 1024  # bytes of a test's report; the host's MAX_RESULT_CHARS


def read_exact(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv():
    (size,) = struct.unpack(">I", read_exact(0, 4))
    return json.loads(read_exact(0, size))


def send(obj):
    data = json.dumps(obj).encode()
    view = memoryview(struct.pack(">I", len(data)) + data)
    while view:
        view = view[os.write(1, view) :]


# ---------------------------------------------------------------- the child: runs one test


def describe_error(exc):
    lines = traceback.format_exception_only(type(exc), exc)
    line = lines[-1].strip()[:500] if lines else type(exc).__name__
    if isinstance(exc, SyntaxError) and exc.lineno:
        line += f" (line {exc.lineno})"
    return {"type": type(exc).__name__, "line": line}


def json_default(obj):
    # numpy scalars and arrays answer .tolist(); anything else (sets, objects) is not comparable.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(type(obj).__name__)


def set_limits(limits):
    def cap(which, value):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    cpu = -int(-limits["time_s"] // 1)  # whole seconds, rounded up; the judge checks the exact figure
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    except (ValueError, OSError):
        pass
    cap(resource.RLIMIT_AS, limits["memory_mb"] << 20)
    cap(resource.RLIMIT_FSIZE, limits["file_size_mb"] << 20)
    cap(resource.RLIMIT_NOFILE, limits["max_open_files"])
    cap(resource.RLIMIT_CORE, 0)
    if limits.get("max_processes") and not PIDS_CGROUP:
        cap(resource.RLIMIT_NPROC, limits["max_processes"])
    # When memory runs out in the worker's cgroup, the kernel kills the test, not the worker. A
    # process that is not dumpable has a /proc/self owned by root, so it is dumpable for this write.
    if LIBC is not None:
        LIBC.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    if LIBC is not None:
        LIBC.prctl(4, 0, 0, 0, 0)


def child(code, request, fds):
    """Runs in the forked child of a stdin or call test; never returns."""
    global harness_pid
    harness_pid = os.getpid()
    stdin_r, out_w, err_w, res_w = fds
    status = 1
    try:
        os.dup2(stdin_r, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.dup2(res_w, 3)
        os.closerange(4, 1 << 16)
        os.setsid()
        os.chdir(SCRATCH)
        set_limits(request["limits"])
        # The interpreter's own stdio objects now read and write the test's pipes; the worker never
        # used them (it speaks through os.read/os.write), so their buffers are empty.
        sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__
        sys.argv = ["main.py"]
        status = run_program(code, request)
    except BaseException as exc:  # a failure of the harness itself
        report({"harness_error": describe_error(exc)})
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os._exit(status)


def report(obj):
    global reported
    if reported or os.getpid() != harness_pid:  # processes the program forked never report
        return
    reported = True
    data = json.dumps(obj, default=json_default).encode()
    if len(data) > RESULT_CAP:
        data = json.dumps({"error": {"type": "OutputLimit", "line": "result too large"}}).encode()
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(3, view) :]
        os.close(3)
    except OSError:  # the program closed or replaced fd 3: it has no report then
        pass


def finish_interpreter():
    # What the interpreter does at exit: join non-daemon threads, run atexit handlers (each only if
    # there is any: joining costs a third of a millisecond, on every test).
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        threading._shutdown()
    import atexit

    if atexit._ncallbacks():
        atexit._run_exitfuncs()


def run_program(code, request):
    """A stdin or call test, in the program's own process (assert tests: see run_assert_test)."""
    run = exec  # bound before the program runs, which may rebind builtins
    kind = request["kind"]
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    out_of_memory = False
    try:
        run(code, namespace)
        if kind == "call":
            fn = find_function(namespace, request["fn_name"])
            result = fn(*json.loads(request["args"]))
            try:
                encoded = json.dumps(result, default=json_default, allow_nan=True)
            except (TypeError, ValueError) as exc:
                report({"unserialisable": type(result).__name__, "detail": str(exc)[:200]})
            else:
                report({"return": encoded})
        finish_interpreter()
        return 0
    except SystemExit as exc:
        if kind == "stdin":  # a stdin program may exit on purpose; the status is its answer
            code_ = exc.code
            if code_ is None or isinstance(code_, int):
                return code_ or 0
            print(code_, file=sys.stderr)
            return 1
        report({"error": {"type": "SystemExit", "line": f"SystemExit: {exc.code!r}"}})
        return 1
    except MemoryError:
        out_of_memory = True  # reported below, once the traceback and its frames are released
    except BaseException as exc:
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)  # without this frame
        report({"error": describe_error(exc)})
        return 1
    if out_of_memory:
        namespace.clear()  # free what the program held, so that the report itself has memory
        report({"error": {"type": "MemoryError", "line": "MemoryError"}})
    return 1


def find_function(namespace, name):
    if name in namespace and callable(namespace[name]):
        return namespace[name]
    solution = namespace.get("Solution")
    if isinstance(solution, type) and hasattr(solution, name):
        return getattr(solution(), name)
    raise NameError(f"no function {name!r} (nor Solution().{name}) defined")


# ---------------------------------------------------------------- assert tests: the program and the tests apart
#
# An assert test runs in two processes forked from this worker, never in one:
# - T, the tests process, forked first. It reads the test source from a pipe only it holds (the worker
#   splices the bytes there from its request stream without reading them), compiles and runs it. Each
#   name of the program that the tests use is bound in T to a `Remote`: calling it sends the call to P
#   and turns the answer into fresh plain objects in T. Comparisons, builtins and the assert statements
#   all run in T, which never runs program code. When the test code ends, T writes the proof on fd 3.
# - P, the program process, forked second; it runs nothing of the program until T has set its limits
#   (T is briefly dumpable then). It runs the program's top level, tells T its top-level names and
#   what each is, then answers T's calls with plain values only (`plain`).
# P holds none of T's descriptors, T is not dumpable (neither /proc/T/mem nor /proc/T/fd opens for P)
# and the seccomp filter refuses ptrace. P can kill or stop T: that fails the test, never passes it.

P_CALLS, P_ANSWERS, P_READY = 3, 4, 5  # in P: T's requests come in on 3, answers go out on 4
T_ANSWERS, T_CALLS, T_READY = 5, 6, 7  # in T: 0 is the test source, 3 the report, 4 the secret
CALL_FRAME_CAP = 64 << 20  # bytes in one request or answer
SMALL_INT = 1 << 62  # ints beyond this cross as hex: JSON's decimal digits are capped (4300)
# Conventional names for library modules: bound to T's own import, whatever the program put there.
LIBRARY_ALIASES = {"np": "numpy", "pd": "pandas"}
# What subclasses of the plain types become when they cross: their base type's value, read with the
# base type's own C methods (a Counter crosses as a dict, a namedtuple as a tuple, an IntEnum as an int).
BASE_VALUES = (
    (int, int.__pos__),
    (float, float.__pos__),
    (complex, complex.__pos__),
    (str, str.__str__),
    (bytes, lambda value: bytes.__getitem__(value, slice(None))),
    (list, lambda value: list.__getitem__(value, slice(None))),
    (tuple, lambda value: tuple.__getitem__(value, slice(None))),
    (dict, lambda value: dict(dict.items(value))),
    (set, lambda value: set(set.__iter__(value))),
    (frozenset, lambda value: frozenset(frozenset.__iter__(value))),
)
PLAIN_TYPES = (type(None), bool) + tuple(base for base, _ in BASE_VALUES)
COLLECTIONS = {"tuple": tuple, "set": set, "frozenset": frozenset}


def refuse(value):
    raise TypeError(f"{type(value).__name__} is not JSON")


# json's C encoder and scanner, made when the worker starts: json.dumps and json.loads wrap them in
# Python that looks up isinstance and friends in builtins, which a program may rebind in P.
C_ENCODE = json.encoder.c_make_encoder and json.encoder.c_make_encoder(
    None, refuse, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
)
C_SCAN = json.decoder.JSONDecoder().scan_once  # json.scanner's C scanner where there is one


def dumps_plain(message):
    """JSON text, ASCII (lone surrogates escaped), NaN and Infinity kept."""
    return "".join(C_ENCODE(message, 0)) if C_ENCODE else json.dumps(message)


def loads_plain(data):
    text = data.decode()
    try:
        value, end = C_SCAN(text, 0)
    except StopIteration:
        raise ValueError("not JSON") from None
    if end != len(text):
        raise ValueError("not JSON")
    return value


# Frames between T and P. os and struct are bound here, when the worker starts: a program that
# rebinds os.read in P breaks nothing of the harness but its own answers.
def write_frame(fd, message, pack=struct.pack, write=os.write):
    data = dumps_plain(message).encode()
    view = memoryview(pack(">I", len(data)) + data)
    while view:
        view = view[write(fd, view) :]


def read_frame(fd, unpack=struct.unpack, read=os.read):
    def exactly(n):
        chunks = []
        while n > 0:
            chunk = read(fd, n)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    (size,) = unpack(">I", exactly(4))
    if size > CALL_FRAME_CAP:
        raise ValueError(f"a message of {size} bytes")
    return loads_plain(exactly(size))


def plain(value, other):
    """`value` as tagged JSON: None, bools, ints, floats, strings and lists as themselves, tuples,
    sets, frozensets, dicts (any plain keys), bytes, complex numbers and big ints as {"t": tag, "v": ...}.
    A value of any other type, even a subclass of these, goes to `other`, which encodes or raises."""
    kind = type(value)
    if value is None or kind is bool or kind is str or kind is float:
        return value
    if kind is int:
        return value if -SMALL_INT < value < SMALL_INT else {"t": "int", "v": format(value, "x")}
    if kind is list:
        return [plain(item, other) for item in value]
    if kind is tuple or kind is set or kind is frozenset:
        return {"t": kind.__name__, "v": [plain(item, other) for item in value]}
    if kind is dict:
        return {"t": "dict", "v": [[plain(k, other), plain(v, other)] for k, v in value.items()]}
    if kind is bytes:
        return {"t": "bytes", "v": value.hex()}
    if kind is complex:
        return {"t": "complex", "v": [value.real, value.imag]}
    return other(value)


def unplain(data, named=None):
    """Fresh objects from `plain`'s JSON; raises ValueError (or TypeError, RecursionError) on anything
    else. `named(tag, key)` resolves references to the program's own objects (in P only)."""
    kind = type(data)
    if data is None or kind is bool or kind is int or kind is float or kind is str:
        return data
    if kind is list:
        return [unplain(item, named) for item in data]
    if kind is dict and len(data) == 2:
        tag, value = data.get("t"), data.get("v")
        if tag in COLLECTIONS and type(value) is list:
            return COLLECTIONS[tag](unplain(item, named) for item in value)
        if tag == "dict" and type(value) is list:
            pairs = [(unplain(k, named), unplain(v, named)) for k, v in value]  # a bad shape raises
            return dict(pairs)
        if tag == "bytes" and type(value) is str:
            return bytes.fromhex(value)
        if tag == "int" and type(value) is str:
            return int(value, 16)
        if tag == "complex" and type(value) is list and all(type(x) in (int, float) for x in value):
            real, imag = value  # not two: raises
            return complex(real, imag)
        if named is not None and tag in ("name", "ref"):
            return named(tag, value)
    raise ValueError("not a plain value")


class NotPlain(Exception):
    """A value that cannot cross from P to T; the message is its type's name."""


def answer_value(value):
    """P's `other` for `plain`: subclasses of the plain types as their base value, numpy values via
    .tolist(); anything else (objects, functions, generators) raises NotPlain."""
    for base, copy in BASE_VALUES:
        if isinstance(value, base):
            return plain(copy(value), answer_value)
    if getattr(type(value), "__module__", None) == "numpy" and hasattr(value, "tolist"):
        return plain(value.tolist(), answer_value)
    raise NotPlain(type(value).__name__)


def flush_stdio():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def enter_test_process(fds, limits):
    """In a freshly forked test process, before anything else: `fds` become descriptors 0, 1, 2, ...
    in that order and every other descriptor is closed; then its own session, scratch, limits and
    stdio, as in `child`."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in fds]  # no source is overwritten before use
    for target, fd in enumerate(high):
        os.dup2(fd, target)
    os.closerange(len(fds), 1 << 16)
    os.setsid()
    os.chdir(SCRATCH)
    set_limits(limits)
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__


# ---------------------------------------------------------------- P: the program's process


def program_process(code, limits, fds):
    """P: waits for T to be ready, runs the program's top level, sends T its names, then answers T's
    calls until T is done. Never returns, never reports (it holds no report descriptor)."""
    status = 1
    try:
        enter_test_process(fds, limits)
        sys.argv = ["main.py"]
        os.read(P_READY, 1)  # EOF once T has set its limits and is not dumpable again
        os.close(P_READY)
        namespace = {"__name__": "__main__", "__builtins__": builtins}  # the module, not P's snapshot
        hello = program_top_level(code, namespace)
        flush_stdio()
        write_frame(P_ANSWERS, hello)
        if "names" in hello:
            serve_calls(namespace)
            status = 0  # T is done
    except BaseException as exc:  # the program broke its own process's harness: T reports it gone
        try:
            print(f"the program's process stopped answering: {describe_error(exc)['line']}", file=sys.stderr)
        except BaseException:
            pass
    finally:
        flush_stdio()
        os._exit(status)


def program_top_level(code, namespace):
    """Run the program; its names for T, or its error."""
    run = exec  # bound before the program runs, which may rebind builtins
    out_of_memory = False
    try:
        run(code, namespace)
        return {"names": program_names(namespace)}
    except SystemExit as exc:
        return {"error": {"type": "SystemExit", "line": f"SystemExit: {exc.code!r}"[:500]}}
    except MemoryError:
        out_of_memory = True  # answered below, once the traceback and its frames are released
    except BaseException as exc:
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)  # without this frame
        return {"error": describe_error(exc)}
    if out_of_memory:
        namespace.clear()
    return {"error": {"type": "MemoryError", "line": "MemoryError"}}


def program_names(namespace):
    """The program's top-level names and what each is: a class, a module (and its name), a function
    (anything callable), a plain value, or another object."""
    names = {}
    for name, value in list(namespace.items()):
        if type(name) is not str or name.startswith("__"):
            continue
        if isinstance(value, type):
            names[name] = ["class"]
        elif type(value) is type(os):
            module = getattr(value, "__name__", "")
            names[name] = ["module", module if type(module) is str else ""]
        elif callable(value):
            names[name] = ["function"]
        elif isinstance(value, PLAIN_TYPES):
            names[name] = ["value"]
        else:
            names[name] = ["object"]
    return names


def serve_calls(namespace):
    objects = []  # what T holds handles to: objects its calls constructed, attributes it read
    while True:
        try:
            request = read_frame(P_CALLS)
        except EOFError:
            return  # T is done
        answer = answer_request(request, namespace, objects)
        flush_stdio()
        write_frame(P_ANSWERS, answer)


APPLY = {
    "len": len,
    "bool": bool,
    "str": str,
    "list": list,
    "getitem": lambda obj, key: obj[key],
    "contains": lambda obj, item: item in obj,
}


def answer_request(request, namespace, objects):
    """One answer to T: {"value": plain}, {"ref": n} (a handle), {"callable": true}, {"raised": ...}
    or {"unplain": type name}."""

    def named(tag, key):
        return namespace[key] if tag == "name" else objects[key]

    op = request["op"]
    if op == "values":
        try:
            return {"values": {name: plain(namespace[name], answer_value) for name in request["names"]}}
        except NotPlain as exc:
            return {"unplain": str(exc)}
        except RecursionError:
            return {"unplain": "value nested too deeply"}
    try:
        if op == "apply":
            args = unplain(request["args"], named)
            return answer_with(APPLY[request["fn"]](*args))
        target = named(*request["target"])
        if op == "attr":
            value = getattr(target, request["attr"])
            if callable(value):
                return {"callable": True}
            if not isinstance(value, PLAIN_TYPES):  # a handle, so that `obj.head.next` works
                objects.append(value)
                return {"ref": len(objects) - 1}
            return answer_with(value)
        function = getattr(target, request["attr"]) if "attr" in request else target
        args, kwargs = unplain(request["args"], named), unplain(request["kwargs"], named)
        result = function(*args, **kwargs)
    except BaseException as exc:
        return raised(exc)
    if isinstance(function, type):  # a constructor: T gets a handle on the new object
        objects.append(result)
        return {"ref": len(objects) - 1}
    return answer_with(result)


def answer_with(value):
    try:
        return {"value": plain(value, answer_value)}
    except NotPlain as exc:
        return {"unplain": str(exc)}
    except RecursionError:
        return {"unplain": f"{type(value).__name__} nested too deeply"}


def raised(exc):
    """An exception of the program's, for T: its type's name, its args (if plain), message and traceback."""
    answer = {"raised": type(exc).__name__, "args": None, "message": "", "traceback": ""}
    try:
        answer["args"] = plain(exc.args, answer_value)
    except BaseException:
        pass
    try:
        answer["message"] = str(exc)[:2000]
    except BaseException:
        pass
    try:
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next)
        answer["traceback"] = "".join(lines)[-8000:]
    except BaseException:
        pass
    return answer


def private_copies(names):
    """P's harness functions again, with a snapshot of the builtins as their own, taken when the worker
    starts: a program that rebinds builtins.isinstance (or len, type, ...) changes nothing of how P
    answers. (It could still rebind them through gc: P is the program's own process, and only its own
    answers suffer.)"""
    harness = dict(globals())
    harness["__builtins__"] = dict(vars(builtins))
    for name in names:
        fn = harness[name]
        harness[name] = type(fn)(fn.__code__, harness, name, fn.__defaults__, fn.__closure__)
    return harness


P_HARNESS = private_copies(
    ("program_process", "program_top_level", "program_names", "serve_calls", "answer_request", "answer_with")
    + ("raised", "plain", "unplain", "answer_value", "write_frame", "read_frame", "flush_stdio")
    + ("dumps_plain", "loads_plain", "refuse")
)


# ---------------------------------------------------------------- T: the tests' process

PROGRAM_EXITED = {
    "error": {"type": "ProgramExited", "line": "the program's process exited before the test code finished"}
}
GARBLED = {
    "error": {"type": "ProtocolError", "line": "the program's process sent an answer the harness cannot read"}
}
KINDS = ("function", "class", "module", "value", "object")
BUILTIN_NAMES = frozenset(dir(builtins))
TRUSTED_PATH = None  # sys.path for T: computed once, by the worker, before its first assert test


class Broken(BaseException):
    """The isolated harness cannot go on (the program's process is gone or garbled, a value cannot
    cross). A BaseException, so that test code catching Exception does not swallow it; and the harness
    remembers the first one anyway (`Program.broken`), so that no test code can recover from it."""


UNCROSSABLE = (StopIteration, StopAsyncIteration)


class RemoteError(Exception):
    """An exception the program raised, of a type that is not a builtin (one the program defined)."""

    def __init__(self, name, message):
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name


class Program:
    """T's end of the call pipes: one request, then its answer."""

    def __init__(self):
        self.broken = None  # the first failure's report: once set, T never proves

    def fail(self, report):
        if self.broken is None:
            self.broken = report
        raise Broken(self.broken)

    def exchange(self, request):
        if self.broken is not None:
            raise Broken(self.broken)
        try:
            write_frame(T_CALLS, request)
            answer = read_frame(T_ANSWERS)
        except (EOFError, OSError):
            self.fail(PROGRAM_EXITED)
        except (ValueError, RecursionError):
            self.fail(GARBLED)
        if type(answer) is not dict:
            self.fail(GARBLED)
        return answer

    def send_value(self, value):
        def reference(value):
            if type(value) is Remote and value._Remote__attr is None:
                return {"t": value._Remote__target[0], "v": value._Remote__target[1]}
            what = "method of a program object" if type(value) is Remote else type(value).__name__
            self.fail(
                {
                    "error": {
                        "type": "CannotSend",
                        "line": f"the test passes a {what} to the program, which the isolated harness cannot send",
                    }
                }
            )

        try:
            return plain(value, reference)
        except RecursionError:
            self.fail({"error": {"type": "CannotSend", "line": "the test passes a value nested too deeply"}})

    def call(self, target, attr, args, kwargs, name):
        request = {"op": "call", "target": target, "args": self.send_value(list(args))}
        request["kwargs"] = self.send_value(kwargs)
        if attr is not None:
            request["attr"] = attr
        return self.result(self.exchange(request), name, "returned")

    def apply(self, fn, remote, *args):
        request = {"op": "apply", "fn": fn, "args": self.send_value([remote, *args])}
        return self.result(self.exchange(request), remote._Remote__name, f"{fn}() of it gave")

    def attr(self, target, attr, name):
        answer = self.exchange({"op": "attr", "target": target, "attr": attr})
        if answer == {"callable": True}:
            return Remote(self, target, f"{name}.{attr}", "method", attr)
        return self.result(answer, f"{name}.{attr}", "is")

    def result(self, answer, name, verb):
        keys = set(answer)
        if keys == {"value"}:
            return self.decode(answer["value"])
        if keys == {"ref"} and type(answer["ref"]) is int:
            return Remote(self, ["ref", answer["ref"]], f"{name} object", "object")
        if keys == {"unplain"} and type(answer["unplain"]) is str:
            what = answer["unplain"][:100]
            self.fail({"unserialisable": what, "detail": f"{verb} a {what}, which is not a plain value"})
        if keys == {"raised", "args", "message", "traceback"}:
            raise self.exception(answer)
        self.fail(GARBLED)

    def decode(self, data):
        try:
            return unplain(data)
        except (ValueError, TypeError, RecursionError):
            self.fail(GARBLED)

    def exception(self, answer):
        """The program's exception, raised in T: of the same builtin type where there is one (so that
        `except ValueError` in the test code works), else a RemoteError."""
        name, message, args, trace = answer["raised"], answer["message"], answer["args"], answer["traceback"]
        if not (type(name) is str and type(message) is str and type(trace) is str):
            self.fail(GARBLED)
        cls = getattr(builtins, name, None) if name.isidentifier() else None
        exc = None
        # Only ordinary exceptions cross as themselves. StopIteration would end a map() or zip() in the
        # test code as if the data ran out (all() of nothing is True); GeneratorExit, SystemExit and
        # KeyboardInterrupt are control flow of T's own.
        if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, UNCROSSABLE):
            try:
                args = self.decode(args) if args is not None else None
                exc = cls(*args) if type(args) is tuple else cls(message)
            except Exception:
                exc = None
        if exc is None:
            exc = RemoteError(name[:100], message)
        exc.program_traceback = trace
        return exc

    def bind(self, namespace, code):
        """Wait for P's top-level names; bind those the tests may use (see `Remote`, `library_module`).
        A builtin's name always means the builtin: the program's `abs` is not the tests' `abs`."""
        try:
            hello = read_frame(T_ANSWERS)
        except (EOFError, OSError):
            self.fail(PROGRAM_EXITED)
        except (ValueError, RecursionError):
            self.fail(GARBLED)
        if type(hello) is not dict or len(hello) != 1:
            self.fail(GARBLED)
        error = hello.get("error")
        if type(error) is dict and type(error.get("type")) is str and type(error.get("line")) is str:
            self.fail({"error": {"type": error["type"][:100], "line": error["line"][:500]}})
        names = hello.get("names")
        if type(names) is not dict:
            self.fail(GARBLED)
        used = code_names(code)
        values = []
        for name, info in names.items():
            if not name.isidentifier() or name.startswith("__") or name in BUILTIN_NAMES:
                continue
            if type(info) is not list or not info or info[0] not in KINDS:
                self.fail(GARBLED)
            kind = info[0]
            if kind in ("function", "class"):
                namespace[name] = Remote(self, ["name", name], name, kind)
            elif name in used:
                module = library_module(name, info)
                if module is not None:
                    namespace[name] = module
                elif kind == "value":
                    values.append(name)
                else:
                    namespace[name] = Remote(self, ["name", name], name, "object")
        if values:
            answer = self.exchange({"op": "values", "names": values})
            if set(answer) == {"unplain"} and type(answer["unplain"]) is str:
                what = answer["unplain"][:100]
                detail = f"a top-level value holds a {what}, which is not a plain value"
                self.fail({"unserialisable": what, "detail": detail})
            got = answer.get("values")
            if set(answer) != {"values"} or type(got) is not dict or set(got) != set(values):
                self.fail(GARBLED)
            for name in values:
                namespace[name] = self.decode(got[name])


class Remote:
    """In T, one of the program's objects, which stays in P. A function or class is only called (a
    class's call gives a handle on the new object); a handle answers attribute reads, method calls,
    len(), [], `in`, iteration (as a list), bool() and str(). Whatever comes back crosses as plain
    values. Equality, hashing and ordering are T's own: identity, never the program's __eq__."""

    __slots__ = ("__program", "__target", "__name", "__kind", "__attr")

    def __init__(self, program, target, name, kind, attr=None):
        self.__program, self.__target, self.__attr = program, target, attr
        self.__name, self.__kind = name, kind

    @property
    def __name__(self):
        return self.__name

    def __repr__(self):
        return f"<the program's {self.__name}>"

    def __call__(self, *args, **kwargs):
        if self.__kind == "object":
            raise TypeError(f"the program's {self.__name} cannot be called from the tests")
        return self.__program.call(self.__target, self.__attr, args, kwargs, self.__name)

    def __getattr__(self, attr):
        if self.__kind != "object" or attr.startswith("__"):
            raise AttributeError(f"the program's {self.__name} has no attribute {attr!r} the tests can read")
        return self.__program.attr(self.__target, attr, self.__name)

    def __apply(self, fn, *args):
        if self.__kind != "object":
            raise TypeError(f"the program's {self.__name} is a {self.__kind}: {fn}() does not apply")
        return self.__program.apply(fn, self, *args)

    def __bool__(self):
        return True if self.__kind != "object" else self.__apply("bool")

    def __len__(self):
        return self.__apply("len")

    def __getitem__(self, key):
        return self.__apply("getitem", key)

    def __contains__(self, item):
        return self.__apply("contains", item)

    def __iter__(self):
        return iter(self.__apply("list"))

    def __str__(self):
        return self.__apply("str") if self.__kind == "object" else repr(self)


def code_names(code):
    """Every global name the compiled tests (and functions and classes they define) may look up."""
    names, stack = set(), [code]
    while stack:
        current = stack.pop()
        names.update(current.co_names)
        stack.extend(const for const in current.co_consts if type(const) is type(code))
    return names


def library_module(name, info):
    """T's own import of the library module the tests mean by `name` (`math` after the program's
    `import math`, `np` for numpy), whatever the program bound there: the program cannot stand in
    for a library. None where `name` names no importable module."""
    wanted = [LIBRARY_ALIASES.get(name, name)]
    if info[0] == "module" and len(info) > 1 and type(info[1]) is str:
        wanted.append(info[1])  # `import os.path as osp`, `from collections import abc`
    for index, module in enumerate(wanted):
        if not all(part.isidentifier() for part in module.split(".")):
            continue
        if index and module.partition(".")[0] not in sys.stdlib_module_names:
            continue  # a module of the program's naming: only from the standard library
        try:
            return importlib.import_module(module)
        except Exception:
            continue
    return None


def stop_calls():
    """The tests are over: P sees its request pipe close and exits, while T reports and exits."""
    for fd in (T_CALLS, T_ANSWERS):
        try:
            os.close(fd)
        except OSError:
            pass


def trusted_path():
    """sys.path without the entries a test process could write to (nor '', relative ones): nothing
    the program writes is ever imported in T."""

    def writable(path):
        while not os.path.exists(path):
            parent = os.path.dirname(path)
            if parent == path:
                return True
            path = parent
        return os.access(path, os.W_OK)

    return [p for p in sys.path if p and os.path.isabs(p) and not writable(p)]


def tests_process(size, limits, fds):
    """T: reads the `size` bytes of test source from fd 0, runs them against the program in P, and
    reports on fd 3: the proof, or why not. Never returns."""
    global harness_pid
    harness_pid = os.getpid()
    status = 1
    try:
        enter_test_process(fds, limits)
        if LIBC is not None:
            LIBC.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE: not dumpable, whatever set_limits did
        os.close(T_READY)  # P may run the program now
        sys.path[:] = TRUSTED_PATH
        status = run_tests(size)
    except BaseException as exc:  # a failure of the harness itself
        report({"harness_error": describe_error(exc)})
    finally:
        flush_stdio()
        os._exit(status)


def run_tests(size):
    chunks, got = [], 0
    while chunk := os.read(0, 1 << 16):
        chunks.append(chunk)
        got += len(chunk)
    if got != size:
        line = f"the test source arrived incomplete ({got} of {size} bytes)"
        report({"harness_error": {"type": "IncompleteSource", "line": line}})
        return 1
    program = Program()
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    out_of_memory = False
    try:
        code = compile(b"".join(chunks).decode("utf-8", "surrogatepass"), "<tests>", "exec")
        del chunks
        program.bind(namespace, code)
        exec(code, namespace)
    except Broken:
        pass
    except MemoryError:
        out_of_memory = True
    except BaseException as exc:
        if program.broken is None:
            stop_calls()
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<tests>"]
            lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
            print("Traceback (most recent call last):\n" + "".join(lines), file=sys.stderr, end="")
            trace = getattr(exc, "program_traceback", "")
            if trace:
                print("In the program's process:\n" + trace, file=sys.stderr, end="")
            remote = isinstance(exc, RemoteError)
            report({"error": {"type": exc.name, "line": str(exc)[:500]} if remote else describe_error(exc)})
            return 1
    stop_calls()
    if program.broken is not None:  # even if the test code caught it
        report(program.broken)
        return 1
    if out_of_memory:
        namespace.clear()
        report({"error": {"type": "MemoryError", "line": "MemoryError"}})
        return 1
    os.write(3, b'{"proof": "' + os.read(SECRET_FD, 64) + b'"}')
    os.close(3)
    return 0


# ---------------------------------------------------------------- the worker: forks and watches


class Drain:
    """Collects one pipe's bytes up to a cap (keeping the head, or the tail for stderr)."""

    def __init__(self, fd, cap, keep_tail=False):
        self.fd, self.cap, self.keep_tail = fd, cap, keep_tail
        self.data = bytearray()
        self.total = 0

    def read(self):
        chunk = os.read(self.fd, 1 << 16)
        self.total += len(chunk)
        if self.keep_tail:
            self.data += chunk
            del self.data[: max(0, len(self.data) - self.cap)]
        else:
            self.data += chunk[: max(0, self.cap - len(self.data))]
        return bool(chunk)


def overrun(out, err, limits, deadline):
    """The limit a running test has just passed ("output_limit" or "timeout"), or None."""
    if out.total > limits["output_bytes"] or err.total > limits["output_bytes"]:
        return "output_limit"
    if time.monotonic() >= deadline:
        return "timeout"
    return None


def run_test(code, request):
    if request["kind"] == "assert":
        return run_assert_test(code, request)
    limits = request["limits"]
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    res_r, res_w = os.pipe()
    # Stdin goes into the pipe before the fork, as far as the pipe holds it without blocking, so
    # the program rarely waits for it; the select loop below writes the rest.
    pending = memoryview(request.get("stdin", "").encode())
    os.set_blocking(stdin_w, False)
    try:
        pending = pending[os.write(stdin_w, pending) :] if pending else pending
    except BlockingIOError:
        pass
    group_start, oom_start = group_cpu(), OOM_KILLS
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        child(code, request, (stdin_r, out_w, err_w, res_w))
    for fd in (stdin_r, out_w, err_w, res_w):
        os.close(fd)
    try:
        exited = os.pidfd_open(pid)  # readable once the child exits
    except (AttributeError, OSError):  # Linux < 5.3, or a seccomp profile without pidfd_open
        exited = None

    out = Drain(out_r, limits["output_bytes"] + 1)
    err = Drain(err_r, STDERR_TAIL, keep_tail=True)
    res = Drain(res_r, RESULT_CAP + 1)
    readers = {out_r: out, err_r: err, res_r: res}
    writers = [stdin_w] if pending else []
    if not pending:
        os.close(stdin_w)
    deadline = start + limits["wall_s"]
    outcome, status, rusage = None, None, None

    def kill():
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

    while status is None:
        if outcome is None and (outcome := overrun(out, err, limits, deadline)):
            kill()
        remaining = deadline - time.monotonic()
        waiting = list(readers) + ([exited] if exited is not None else [])
        # Without a pidfd, poll: a child holding no pipe open would otherwise go unnoticed.
        wait = min(remaining, 1.0 if exited is not None else 0.002)
        ready_r, ready_w, _ = select.select(waiting, writers, [], max(0.0, wait))
        for fd in ready_r:
            if fd != exited and not readers[fd].read():
                del readers[fd]
                os.close(fd)
        for fd in ready_w:
            try:
                pending = pending[os.write(fd, pending[: 1 << 16]) :]
            except OSError:  # the program closed its stdin early: fine
                pending = pending[:0]
            if not pending:
                writers.remove(fd)
                os.close(fd)
        done_pid, raw, usage = os.wait4(pid, os.WNOHANG)
        if done_pid:
            status, rusage = raw, usage
    wall = time.monotonic() - start
    cpu = rusage.ru_utime + rusage.ru_stime
    if group_start is not None:
        # Children the program let the kernel reap (SIGCHLD ignored) are missing from rusage but not
        # from the cgroup; past a margin for this worker's own work, their time counts too.
        unaccounted = group_cpu() - group_start - cpu
        if unaccounted > 0.05:
            cpu += unaccounted
    if exited is not None:
        os.close(exited)
    # The child is gone; whatever it wrote is already in the pipes unless a leftover process holds
    # them open, so drain without waiting for EOF.
    for fd, drain in list(readers.items()):
        os.set_blocking(fd, False)
        try:
            while drain.read():
                pass
        except BlockingIOError:
            pass
        os.close(fd)
    for fd in writers:
        os.close(fd)

    reply = reply_for(outcome, status, wall, cpu, rusage.ru_maxrss, out, err, limits)
    reply.update(
        harness=parse_harness(bytes(res.data)), oom_killed=new_oom_kills(oom_start), dirty=cleanup(pid)
    )
    return reply


def reply_for(outcome, status, wall, cpu, max_rss_kb, out, err, limits):
    """What the host judges a test by, but for the harness's report and the state checks."""
    return {
        "outcome": outcome,
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "wall_s": wall,
        "cpu_s": cpu,
        "max_rss_kb": max_rss_kb,
        # surrogateescape keeps invalid UTF-8 distinct from any valid text, so "exact" means bytes
        "stdout": bytes(out.data[: limits["output_bytes"]]).decode("utf-8", "surrogateescape"),
        "stderr_tail": bytes(err.data).decode("utf-8", "replace"),
    }


class SourceRelay:
    """Moves an assert test's source (the `size` bytes after its request on fd 0) into T's pipe with
    splice(2): kernel to kernel, so the bytes never enter this process's memory, which every later
    test's program inherits. What T does not take is discarded the same way, so that the next request
    starts where it should. `failed` says why the stream could not be kept in step (the worker then
    retires)."""

    def __init__(self, fd, size):
        self.fd, self.left, self.room, self.failed = fd, size, False, None
        if not size:
            self.close()

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def waiting(self):
        """(fds to read, fds to write) for select: T's pipe until it has room, then the request stream."""
        if self.fd is None or not self.left:
            return [], []
        return ([0], []) if self.room else ([], [self.fd])

    def move(self):
        if self.fd is None or not self.left:
            return
        try:
            moved = os.splice(0, self.fd, self.left, flags=os.SPLICE_F_NONBLOCK)
        except BlockingIOError:  # T's pipe is full again
            self.room = False
            return
        except OSError as exc:  # EPIPE: T is gone; the rest is discarded in finish()
            if exc.errno != errno.EPIPE:
                self.failed = f"could not relay the test source ({exc.strerror})"
            self.close()
            return
        if not moved:
            self.failed = "the request stream ended inside a test source"
            self.left = 0
        self.left -= moved
        if not self.left:
            self.close()

    def finish(self):
        self.close()
        while self.left and not self.failed:
            sink_r, sink_w = os.pipe()  # closed unread: what it holds is dropped
            try:
                moved = os.splice(0, sink_w, self.left)
            except OSError as exc:
                moved, self.failed = 0, f"could not discard the rest of a test source ({exc.strerror})"
            finally:
                os.close(sink_r)
                os.close(sink_w)
            if not moved:
                self.failed = self.failed or "the request stream ended inside a test source"
            self.left -= moved
        return self.failed


def discard_source(request):
    """For a run request that is refused without running: an assert test's source still follows it on
    fd 0 and must leave the stream. A reason string if the stream could not be kept in step."""
    return SourceRelay(None, request.get("source_bytes") or 0).finish()


def run_assert_test(code, request):
    """An assert test: T (the tests) and P (the program), forked and watched like run_test's one child.
    The test ends when T exits; P is killed then. CPU time is P's and T's together, memory the larger."""
    limits = request["limits"]
    size = request["source_bytes"]
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    res_r, res_w = os.pipe()
    secret_r, secret_w = os.pipe()
    source_r, source_w = os.pipe()
    calls_r, calls_w = os.pipe()  # T's requests to P
    answers_r, answers_w = os.pipe()  # P's answers to T
    ready_r, ready_w = os.pipe()  # T closes it once it is not dumpable; P waits for that
    stdin_r, stdin_w = os.pipe()
    os.close(stdin_w)  # the program's stdin: empty
    global TRUSTED_PATH
    if TRUSTED_PATH is None:
        TRUSTED_PATH = trusted_path()
    group_start, oom_start = group_cpu(), OOM_KILLS
    start = time.monotonic()
    relay = SourceRelay(source_w, size)
    relay.room = True
    relay.move()  # what is there already, before T starts to read
    tests = os.fork()
    if tests == 0:
        tests_process(size, limits, (source_r, out_w, err_w, res_w, secret_r, answers_r, calls_w, ready_w))
    program = os.fork()
    if program == 0:
        P_HARNESS["program_process"](code, limits, (stdin_r, out_w, err_w, calls_r, answers_w, ready_r))
    for fd in (out_w, err_w, res_w, secret_r, source_r, calls_r, calls_w, answers_r, answers_w):
        os.close(fd)
    for fd in (ready_r, ready_w, stdin_r):
        os.close(fd)
    # Made after both forks, so that neither process's copy of this one's memory holds it.
    secret = os.urandom(16).hex()
    os.write(secret_w, secret.encode())
    os.close(secret_w)
    try:
        exited = os.pidfd_open(tests)  # readable once T exits
    except (AttributeError, OSError):
        exited = None

    out = Drain(out_r, limits["output_bytes"] + 1)
    err = Drain(err_r, STDERR_TAIL, keep_tail=True)
    res = Drain(res_r, RESULT_CAP + 1)
    readers = {out_r: out, err_r: err, res_r: res}
    deadline = start + limits["wall_s"]
    outcome, ended = None, {}  # pid: (wait status, rusage)

    def kill():
        for pid in (tests, program):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            if pid not in ended:  # a reaped pid may be someone else's by now
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    while tests not in ended:
        if outcome is None and (outcome := overrun(out, err, limits, deadline)):
            kill()
        remaining = deadline - time.monotonic()
        relay_r, relay_w = relay.waiting()
        waiting = list(readers) + relay_r + ([exited] if exited is not None else [])
        wait = min(remaining, 1.0 if exited is not None else 0.002)
        ready_r, ready_w, _ = select.select(waiting, relay_w, [], max(0.0, wait))
        for fd in ready_r:
            if fd == 0:
                relay.move()
            elif fd != exited and not readers[fd].read():
                del readers[fd]
                os.close(fd)
        if ready_w:
            relay.room = True
        for pid in (program, tests):
            if pid not in ended:
                done_pid, raw, usage = os.wait4(pid, os.WNOHANG)
                if done_pid:
                    ended[pid] = raw, usage
    wall = time.monotonic() - start

    def drain(fds):
        for fd in fds:
            os.set_blocking(fd, False)
            try:
                while readers[fd].read():
                    pass
            except BlockingIOError:
                pass
            os.close(fd)
            del readers[fd]

    drain([res_r] if res_r in readers else [])  # only T writes there, and T is gone
    harness = parse_harness(bytes(res.data))
    # T saw the program's process go: its end is the story (SIGXCPU, an exit status, a signal). It
    # may still be on its way out (its pipes close before it exits): a moment to finish.
    gone = harness.get("error", {}).get("type") == "ProgramExited"
    if gone and program not in ended:
        grace = wait_for(program, min(0.5, max(0.0, deadline - time.monotonic())))
        if grace is not None:
            ended[program] = grace
    stopped = program not in ended  # still running: the worker's SIGKILL is no part of the story
    kill()
    if stopped:
        ended[program] = os.wait4(program, 0)[1:]
    if gone and stopped:
        line = "the program's process stopped answering before the test code finished"
        harness["error"] = {"type": "ProgramStopped", "line": line}
    settle()
    if exited is not None:
        os.close(exited)
    relay_failed = relay.finish()
    cpu = sum(usage.ru_utime + usage.ru_stime for _, usage in ended.values())
    if group_start is not None:
        unaccounted = group_cpu() - group_start - cpu
        if unaccounted > 0.05:
            cpu += unaccounted
    drain(list(readers))
    status = ended[program if gone and not stopped else tests][0]
    max_rss_kb = max(usage.ru_maxrss for _, usage in ended.values())
    reply = reply_for(outcome, status, wall, cpu, max_rss_kb, out, err, limits)
    reply.update(harness=harness, oom_killed=new_oom_kills(oom_start), dirty=cleanup(program) or relay_failed)
    reply["proved"] = reply["harness"].pop("proof", None) == secret
    return reply


def wait_for(pid, timeout):
    """(wait status, rusage) of `pid` if it exits within `timeout` seconds, else None."""
    end = time.monotonic() + timeout
    while True:
        done_pid, raw, usage = os.wait4(pid, os.WNOHANG)
        if done_pid:
            return raw, usage
        if time.monotonic() >= end:
            return None
        time.sleep(0.0005)


def settle():
    """After the SIGKILLs that end an assert test: reap, for a moment, what they killed (the program's
    children), so that cleanup counts only what survived them. Costs nothing when nothing is left."""
    if os.getpid() != 1:
        return
    end = time.monotonic() + 0.05
    while time.monotonic() < end:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                time.sleep(0.001)
        except ChildProcessError:
            return


def parse_harness(data):
    """The harness's report, checked: the program can write to fd 3 too, so anything that is not
    exactly one of the harness's own shapes counts as forged."""
    if not data:
        return {}
    try:
        report = json.loads(data)
        if valid_report(report):
            return report
    except (ValueError, RecursionError):
        pass
    return {"error": {"type": "ForgedReport", "line": "fd 3 held a report the harness did not write"}}


def valid_report(report):
    def strings(d):
        return all(isinstance(v, str) for v in d.values())

    if not isinstance(report, dict):
        return False
    keys = set(report)
    if keys == {"return"}:
        return strings(report)  # the host decodes it, within bounds: decoding here could grow this process
    if keys in ({"proof"}, {"unserialisable", "detail"}):
        return strings(report)
    if keys in ({"error"}, {"harness_error"}):
        value = next(iter(report.values()))
        return isinstance(value, dict) and set(value) == {"type", "line"} and strings(value)
    return False


def cleanup(pid):
    """Kill whatever the test left running, wipe scratch; a reason string if the worker is dirty."""
    try:
        return _cleanup(pid)
    except Exception as exc:  # whatever went wrong, this worker cannot be trusted with the next test
        return f"cleanup failed ({type(exc).__name__})"


def _cleanup(pid):
    dirty = None
    if os.getpid() == 1:
        others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != 1]
        if others:
            dirty = f"left {len(others)} process(es) running"
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
    else:  # unsafe mode: no pid namespace, so the process group is all we can reach
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    reap()
    for scratch in SCRATCH_DIRS:
        dirty = dirty or wipe(scratch)
    if kernel_objects() != KERNEL_OBJECTS:
        dirty = dirty or "left System V IPC objects or keys"
    if worker_state() != WORKER_STATE:
        dirty = dirty or "changed the worker's limits, priority, scheduling or OOM score"
    if address_space() > WORKER_SIZE + WORKER_GROWTH:
        if LIBC is not None:
            LIBC.malloc_trim(0)  # what a big reply left in the heap, back to the kernel
        if address_space() > WORKER_SIZE + WORKER_GROWTH:  # every later test would inherit it (RLIMIT_AS)
            dirty = dirty or f"the worker grew by {(address_space() - WORKER_SIZE) >> 20} MB"
    return dirty


def reap():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def wipe(root):
    """Remove everything under `root`, depth first, without recursion (a program can nest directories
    deeper than any recursion limit); a reason string if something survived."""
    stack, seen = [(root, False)], 0
    try:
        while stack:
            path, emptied = stack.pop()
            if emptied:
                os.rmdir(path)
                continue
            if path != root and path not in KEPT:
                stack.append((path, True))
            for entry in os.scandir(path):
                seen += 1
                if seen > WIPE_LIMIT:
                    return f"{root} held over {WIPE_LIMIT} files"
                if entry.path in KEPT:
                    if not os.path.ismount(entry.path):
                        stack.append((entry.path, False))  # a directory above a mount: empty it, keep it
                elif entry.is_dir(follow_symlinks=False):
                    os.chmod(entry.path, 0o700)
                    stack.append((entry.path, False))
                else:
                    os.unlink(entry.path)
    except OSError:
        return f"{root} could not be wiped"
    if not all(os.path.isdir(path) for path in KEPT if path.startswith(root + "/")):
        return f"a mount under {root} was moved"
    return None


def group_cpu():
    """CPU seconds used by every process of this worker's cgroup, or None where there is no counter."""
    if CPU_COUNTER is None:
        return None
    with open(CPU_COUNTER) as f:
        text = f.read()
    if CPU_COUNTER.endswith("cpu.stat"):
        return int(text.split("usage_usec", 1)[1].split()[0]) / 1e6
    return int(text) / 1e9


def oom_kills():
    """How many times the kernel's OOM killer has struck in this worker's cgroup (0 without one)."""
    if OOM_COUNTER is None:
        return 0
    with open(OOM_COUNTER) as f:
        for line in f:
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    return 0


def new_oom_kills(before):
    """Whether the OOM killer struck since `before`; the count is kept for the next test (nothing of
    this worker's runs between two tests), so each test reads the counter once."""
    global OOM_KILLS
    OOM_KILLS = oom_kills()
    return OOM_KILLS > before


def address_space():
    """This process's address space in bytes: what a forked test starts with, under its RLIMIT_AS."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * PAGE_SIZE


RLIMITS = [getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")]


def worker_state():
    """What a test could change about this process from outside, were the seccomp filter to miss it."""
    limits = tuple(map(resource.getrlimit, RLIMITS))
    with open("/proc/self/oom_score_adj") as f:
        oom = f.read()
    scheduling = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
    return limits, os.getpriority(os.PRIO_PROCESS, 0), scheduling, sorted(os.sched_getaffinity(0)), oom


def kept_mounts():
    """Mount points under scratch and the directories leading to them: `wipe` keeps these."""
    kept = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = re.sub(
                r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4]
            )  # \040: a space
            for scratch in SCRATCH_DIRS:
                while point.startswith(scratch + "/"):
                    kept.add(point)
                    point = os.path.dirname(point)
    return kept


def harden():
    """Before any program: become the unprivileged uid the host chose (root hosts), then install the
    seccomp filter. Failing either, the worker refuses to start: the host reports why."""
    run_as = os.environ.get("CODER_RL_RUN_AS")
    if run_as:
        uid = int(run_as)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        with open("/proc/self/status") as f:
            capabilities = [line.split()[1] for line in f if line.startswith(("CapPrm", "CapEff"))]
        if os.getresuid() != (uid,) * 3 or os.getgroups() or set(capabilities) != {"0000000000000000"}:
            raise RuntimeError("could not drop root")
    import ctypes

    global LIBC
    LIBC = libc = ctypes.CDLL(None, use_errno=True)
    program = bytes.fromhex(os.environ["CODER_RL_SECCOMP"])

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    ulong = ctypes.c_ulong
    # PR_SET_NO_NEW_PRIVS = 38, PR_SET_SECCOMP = 22 with SECCOMP_MODE_FILTER = 2
    if (
        libc.prctl(38, ulong(1), ulong(0), ulong(0), ulong(0)) != 0
        or libc.prctl(22, ulong(2), ctypes.byref(fprog), ulong(0), ulong(0)) != 0
    ):
        raise OSError(ctypes.get_errno(), "the seccomp filter was refused")
    # Nobody else in the sandbox may read this process's memory through /proc or ptrace.
    libc.prctl(4, ulong(0), ulong(0), ulong(0), ulong(0))  # PR_SET_DUMPABLE = 4
    # A change of uid clears bubblewrap's --die-with-parent: set it again (PR_SET_PDEATHSIG = 1).
    libc.prctl(1, ulong(signal.SIGKILL), ulong(0), ulong(0), ulong(0))


def kernel_objects():
    """Ids of what a test could leave outside the file system: System V IPC objects and keys."""
    ids = []
    for table in ("/proc/sysvipc/shm", "/proc/sysvipc/msg", "/proc/sysvipc/sem", "/proc/keys"):
        try:
            with open(table) as f:
                ids.append(sorted(line.split(None, 2)[:2] for line in f if line.strip()))
        except OSError:
            ids.append(None)
    return ids


def load(program):
    try:
        return compile(program, "main.py", "exec"), None
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as exc:
        return None, describe_error(exc)


def main():
    if "CODER_RL_SECCOMP" in os.environ:  # every isolating backend; not the unsafe one
        harden()
    for name in PRELOAD:
        __import__(name)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    # As pid 1 this process gets only the signals it handles; Python handles SIGINT unless told not
    # to. Children inherit the ignored SIGINT: resetting handlers in each child costs 0.3 ms a test.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    global KERNEL_OBJECTS, WORKER_STATE, KEPT, WORKER_SIZE, OOM_KILLS
    KERNEL_OBJECTS = kernel_objects()  # what each test must leave as it found it
    OOM_KILLS = oom_kills()
    WORKER_STATE = worker_state()
    KEPT = kept_mounts()
    WORKER_SIZE = address_space()
    gc.freeze()  # keep the heap shared with forked children: fewer copied pages per fork
    send({"ready": True, "pid": os.getpid(), "python": sys.version.split()[0]})
    code = None
    while True:
        try:
            request = recv()
        except EOFError:
            return
        op = request.get("op")
        if op == "exit":
            return
        if op == "load":
            code, error = load(request["program"])
            send({"loaded": code is not None, "compile_error": error})
        elif op == "run":
            if code is None:
                send({"error": "no program loaded"})
                continue
            reply = run_test(code, request)
            send(reply)
            if reply["dirty"]:
                return  # the host replaces a worker that may carry state into the next test


if __name__ == "__main__":
    main()
