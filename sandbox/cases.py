"""Test-case types: what a candidate program is judged against.

Plain dataclasses with a JSON form (`case_to_dict` / `case_from_dict`), so that test cases cross
process and network boundaries unchanged and this package needs nothing beyond the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class StdioCase:
    """The program reads `stdin` and must print `expected_stdout`."""

    stdin: str
    expected_stdout: str


@dataclass(slots=True)
class CallCase:
    """Call `fn_name(*args)` (or `Solution().fn_name(*args)`) and compare the result with `expected`.

    The judge compares the result with `expected` exactly (`sandbox.judge.compare_value`): no extra
    list is stripped there. TACO/APPS store many call-based problems with every expected value in a
    one-element list; the loader decides that once per problem (every output a list of length 1:
    wrapped, so `expected` is `out[0]`; otherwise as given) and records it in the problem's
    `metadata["taco_wrapped_outputs"]`. The one ambiguity: in a problem that was not wrapped, a
    function that returns a one-element list in every test is read as wrapped, and then fails.
    """

    fn_name: str
    args: list[Any]
    expected: Any


@dataclass(slots=True)
class AssertCase:
    """Assert-based test code (MBPP's asserts, HumanEval's `check(candidate)`); it passes only if it
    runs to its end.

    The test code runs in a process of its own, apart from the program's: every name of the program
    it uses is a stand-in that sends calls to the program's process, and only plain values come back
    (None, bool, int, float, str, bytes, complex, and lists, tuples, dicts, sets and frozensets of
    them; subclasses such as Counter or a namedtuple come back as their base type, numpy values via
    .tolist()). Comparisons, builtins and `assert` itself run where the program cannot reach, so
    neither an object whose __eq__ is always true nor any patching, tracing or exiting of the
    program's process passes a test, and the source (with its expected values) never enters memory
    the program can read.

    What this means for test code. Works as before: calling the program's functions with plain
    arguments (positional or keyword), `Solution().method(...)` and other classes (the instance stays
    in the program's process; its attributes, methods, len(), [], `in`, iteration and str() answer
    from there), passing the program's own objects or functions back to it, expected exceptions
    (`except ValueError`: a builtin exception type is raised as itself, the program's own as a
    RemoteError), library modules (`math.isclose` after the program's `import math` is the tests'
    own math), the program's plain top-level values (copied), and `is None` / `is True`. Fails, never
    passes a wrong program: passing a lambda or other object of the test's own to the program
    (runtime_error: it cannot be sent), a function returning a generator, iterator or instance
    (wrong_answer: not a plain value), checking that an argument was mutated (the program changed
    its own copy), `is` on anything but None and bools, a class's own attributes (`Foo.CONST`), and a
    program function named like a builtin (`max`, `sum`: the tests' name means the builtin). Test
    code that uses a helper the program defines (HumanEval's `poly`) trusts the program for it.
    """

    source: str


TestCase = StdioCase | CallCase | AssertCase

_KINDS: dict[str, type] = {"stdin": StdioCase, "call": CallCase, "assert": AssertCase}
_KIND_OF: dict[type, str] = {cls: kind for kind, cls in _KINDS.items()}


def case_kind(case: TestCase) -> str:
    """'stdin', 'call' or 'assert': how the case talks to the program."""
    return _KIND_OF[type(case)]


def case_to_dict(case: TestCase) -> dict[str, Any]:
    """JSON-ready form: the fields plus a `kind` tag."""
    data = {name: getattr(case, name) for name in case.__slots__}
    return {"kind": case_kind(case), **data}


def case_from_dict(data: dict[str, Any]) -> TestCase:
    """Inverse of `case_to_dict`; raises ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"a test case must be an object, got {type(data).__name__}")
    fields = dict(data)
    kind = fields.pop("kind", None)
    cls = _KINDS.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"unknown test-case kind {kind!r} (expected one of {sorted(_KINDS)})")
    missing = [name for name in cls.__slots__ if name not in fields]
    extra = sorted(set(fields) - set(cls.__slots__))
    if missing or extra:
        raise ValueError(f"{kind} case: missing fields {missing}, unknown fields {extra}")
    case = cls(**fields)
    if isinstance(case, StdioCase) and not (
        isinstance(case.stdin, str) and isinstance(case.expected_stdout, str)
    ):
        raise ValueError("stdin case: stdin and expected_stdout must be strings")
    if isinstance(case, CallCase) and not (
        isinstance(case.fn_name, str) and case.fn_name.isidentifier() and isinstance(case.args, list)
    ):
        raise ValueError("call case: fn_name must be an identifier and args a list")
    if isinstance(case, AssertCase) and not isinstance(case.source, str):
        raise ValueError("assert case: source must be a string")
    return case
