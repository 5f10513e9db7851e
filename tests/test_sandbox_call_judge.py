"""Attacks on how call results are judged, end to end through a real sandbox on both backends.

A call-based test's result crosses back to the host as JSON text that the program shapes (it can also
write its own report on the harness's descriptor). Each attack here gets one exact, named verdict,
never `sandbox_error`, and the box judges the next program correctly afterwards:

- a float for an int (`float(n * 1000)` is within 1e-6 of `n * 1000 + 7`);
- results nested 990 and 5000 deep, as lists and as objects, returned or forged (`json.loads` on the
  host raised RecursionError near 1000, which the pool turned into sandbox_error);
- integers past Python's 4300-digit string limit, NaN and Infinity, long strings, lone surrogates;
- the wrapped form of a TACO problem's answer, and the bare form of a problem that was not wrapped
  (problems are built through the TACO adapter, so its once-per-problem unwrap decision is exercised).

Only `sandbox` is needed at import time: the tests that read TACO rows skip where `coder_rl` is not
installed (scripts/test_unprivileged.sh copies just the sandbox package and its tests).
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import pytest

from sandbox import CallCase, Sandbox, StdioCase, Verdict
from sandbox.judge import MAX_RESULT_DEPTH, MAX_RESULT_ITEMS

if TYPE_CHECKING:
    from sandbox import TestResult

DEEPER = f"result nested deeper than {MAX_RESULT_DEPTH}"
FORGED = "fd 3 held a report the harness did not write"


def run1(box: Sandbox, program: str, case: CallCase) -> TestResult:
    result = box.run(program, [case])
    assert len(result.tests) == 1
    return result.tests[0]


def explain(result: TestResult) -> str:
    return f"verdict={result.verdict} detail={result.detail[:300]!r}\nstderr={result.stderr[-600:]!r}"


def assert_verdict(result: TestResult, verdict: Verdict, *in_detail: str) -> None:
    """The verdict is exactly `verdict`, and the detail contains each of `in_detail`."""
    assert result.verdict is verdict, explain(result)
    for part in in_detail:
        assert part in result.detail, explain(result)
    result.detail.encode("utf-8")  # whatever the program did, the detail can be written out


def assert_healthy(box: Sandbox) -> None:
    """The box still judges ordinary programs, stdin and call-based, correctly."""
    stdin = box.run("print(int(input()) * 2)", [StdioCase("21\n", "42\n")]).tests[0]
    assert stdin.verdict is Verdict.PASSED, explain(stdin)
    ok, wrong = box.run("def f(x):\n    return x * 2", [CallCase("f", [21], 42), CallCase("f", [1], 3)]).tests
    assert ok.verdict is Verdict.PASSED, explain(ok)
    assert (wrong.verdict, wrong.detail) == (Verdict.WRONG_ANSWER, "expected 3, got 2")


def taco_cases(inputs: list[Any], outputs: list[Any], fn_name: str = "f") -> list[CallCase]:
    """The tests of a call-based TACO row, as the adapter reads them."""
    taco_row = pytest.importorskip("coder_rl.data.adapters").taco_row
    row = {
        "question": "q",
        "input_output": json.dumps({"fn_name": fn_name, "inputs": inputs, "outputs": outputs}),
    }
    problem = taco_row(json.loads(json.dumps(row)), "taco/train", 0)
    return problem.tests  # type: ignore[return-value]


def forging(text: str) -> str:
    """A program that writes `text` as its return value on the harness's descriptor, then exits."""
    report = json.dumps({"return": text}).encode()
    return f"import os\n\ndef f(*args):\n    os.write(3, {report!r})\n    os._exit(0)\n"


def nested(depth: int | str, kind: str) -> str:
    """Source of an expression building `depth` containers one inside the other, without recursion."""
    wrap = "[v]" if kind == "list" else "{'k': v}"
    return f"v = 0\n    for _ in range({depth}):\n        v = {wrap}\n    "


def nested_json(depth: int, kind: str) -> str:
    return "[" * depth + "0" + "]" * depth if kind == "list" else '{"k": ' * depth + "0" + "}" * depth


# ---------------------------------------------------------------- a float for an int


@pytest.mark.parametrize(
    ("program", "expected", "detail"),
    [
        ("def f(n):\n    return float(n * 1000)", 10**15 + 7, "got 1000000000000000.0"),
        ("def f(n):\n    return float(n * 10**6 + 7)", 10**18 + 7, "got 1e+18"),  # rounded: not the number
        ("def f(n):\n    return True", 1, "got true"),
    ],
)
def test_a_float_or_bool_for_an_int_is_wrong(box, program, expected, detail):
    case = CallCase("f", [10**12], expected)
    assert_verdict(run1(box, program, case), Verdict.WRONG_ANSWER, f"expected {expected}, {detail}")
    assert run1(box, "def f(n):\n    return n * 1000 + 7", CallCase("f", [10**12], 10**15 + 7)).passed
    assert_healthy(box)


@pytest.mark.parametrize(
    "program", ["def f(n):\n    return n * 1000 + 7.0", "def f(n):\n    return (n * 1000 + 7) / 1"]
)
def test_a_float_that_is_exactly_the_int_passes(box, program):
    """The same number as a float (what `/` gives) is the answer: compared exactly, nothing rounds."""
    assert run1(box, program, CallCase("f", [10**12], 10**15 + 7)).passed


def test_a_float_for_an_int_read_from_a_taco_row(box):
    (case,) = taco_cases([[10**12]], [[10**15 + 7]])  # wrapped: the adapter unwraps it
    assert case.expected == 10**15 + 7 and type(case.expected) is int
    result = run1(box, "def f(n):\n    return float(n * 1000)", case)
    assert (result.verdict, result.detail) == (
        Verdict.WRONG_ANSWER,
        "expected 1000000000000007, got 1000000000000000.0",
    )
    assert run1(box, "def f(n):\n    return n * 1000 + 7", case).passed
    assert_healthy(box)


def test_floats_keep_their_tolerance(box):
    cases = [CallCase("f", [1, 3], 0.333333), CallCase("f", [6, 3], 2.0), CallCase("f", [1, 0], 0.0)]
    # 1/3 is within 1e-6 of 0.333333; the int 2 is a number within the tolerance of 2.0.
    result = box.run("def f(a, b):\n    return a // b if b and a % b == 0 else (a / b if b else 0)", cases)
    assert [t.verdict for t in result.tests] == [Verdict.PASSED] * 3, [explain(t) for t in result.tests]
    off = run1(box, "def f(a, b):\n    return 0.3334", cases[0])
    assert_verdict(off, Verdict.WRONG_ANSWER, "expected 0.333333, got 0.3334")
    assert_healthy(box)


# ---------------------------------------------------------------- nesting


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_depth_bound_at_the_edge(box, kind):
    expected = json.loads(nested_json(MAX_RESULT_DEPTH, kind))
    case = CallCase("f", [MAX_RESULT_DEPTH], expected)
    program = f"def f(depth):\n    {nested('depth', kind)}return v"
    assert run1(box, program, case).passed
    deeper = run1(box, program, CallCase("f", [MAX_RESULT_DEPTH + 1], expected))
    assert_verdict(deeper, Verdict.WRONG_ANSWER, DEEPER)
    assert deeper.detail == DEEPER
    assert_healthy(box)


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_990_deep_result(box, kind):
    # The harness encodes it and the worker checks it; the host's json.loads raised RecursionError.
    result = run1(box, f"def f():\n    {nested(990, kind)}return v", CallCase("f", [], 0))
    assert (result.verdict, result.detail) == (Verdict.WRONG_ANSWER, DEEPER), explain(result)
    assert_healthy(box)


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_990_deep_forged_report(box, kind):
    # Written straight to the report descriptor, past the harness's encoder: the worker accepts it
    # (its stack is shallow), so only the host's bound stands between it and a RecursionError.
    result = run1(box, forging(nested_json(990, kind)), CallCase("f", [], 0))
    assert (result.verdict, result.detail) == (Verdict.WRONG_ANSWER, DEEPER), explain(result)
    assert_healthy(box)


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_5000_deep_result(box, kind):
    # Inside the sandbox: the harness's JSON encoder gives up first (a runtime error of the program);
    # with a raised recursion limit, or forged, the text reaches the host, which refuses it unread.
    result = run1(box, f"def f():\n    {nested(5000, kind)}return v", CallCase("f", [], 0))
    assert_verdict(result, Verdict.RUNTIME_ERROR, "RecursionError", "while encoding a JSON object")
    raised = f"import sys\nsys.setrecursionlimit(100_000)\n\ndef f():\n    {nested(5000, kind)}return v"
    assert_verdict(run1(box, raised, CallCase("f", [], 0)), Verdict.WRONG_ANSWER, DEEPER)
    forged = run1(box, forging(nested_json(5000, kind)), CallCase("f", [], 0))
    assert_verdict(forged, Verdict.WRONG_ANSWER, DEEPER)
    assert_healthy(box)


# ---------------------------------------------------------------- values JSON holds that Python balks at


def test_huge_integers(box):
    limit = 4300  # Python's default int-string limit, on both sides
    case = CallCase("f", [limit], json.loads("9" * limit))
    assert run1(box, "def f(n):\n    return int('9' * n)", case).passed  # at the limit: fine
    huge = "def f(n):\n    return 10 ** 5000 - 1"
    assert_verdict(
        run1(box, huge, case), Verdict.WRONG_ANSWER, "returned a int, which is not JSON-serialisable"
    )
    unlimited = "import sys\nsys.set_int_max_str_digits(0)\n\n" + huge
    over = f"result holds an integer over {limit} digits"
    assert_verdict(run1(box, unlimited, case), Verdict.WRONG_ANSWER, over)
    assert_verdict(run1(box, forging("9" * 5000), case), Verdict.WRONG_ANSWER, over)
    assert_healthy(box)


@pytest.mark.parametrize(
    ("value", "shown"),
    [("float('nan')", "NaN"), ("float('inf')", "Infinity"), ("[float('-inf')]", "[-Infinity]")],
)
def test_nan_and_infinity(box, value, shown):
    for expected in (1, 1.5, [1.5]):
        result = run1(box, f"def f():\n    return {value}", CallCase("f", [], expected))
        assert_verdict(result, Verdict.WRONG_ANSWER)
        assert result.detail == f"expected {json.dumps(expected)}, got {shown}"
    forged = run1(box, forging(shown), CallCase("f", [], 1))
    assert (forged.verdict, forged.detail) == (Verdict.WRONG_ANSWER, f"expected 1, got {shown}")
    assert_healthy(box)


def test_long_strings_and_lone_surrogates(box):
    long = run1(box, "def f():\n    return 'x' * (10 << 20)", CallCase("f", [], "x"))
    assert_verdict(long, Verdict.WRONG_ANSWER, 'expected "x", got "xxx')
    assert len(long.detail) < 300
    surrogate = run1(box, "def f():\n    return '\\ud800'", CallCase("f", [], "a"))
    assert (surrogate.verdict, surrogate.detail) == (Verdict.WRONG_ANSWER, 'expected "a", got "\\ud800"')
    crash = run1(box, "def f():\n    raise ValueError('\\ud800')", CallCase("f", [], "a"))
    assert (crash.verdict, crash.detail) == (Verdict.RUNTIME_ERROR, "ValueError: \\ud800")
    name = run1(box, "def f():\n    return type('A' * 100_000, (), {})()", CallCase("f", [], "a"))
    assert (name.verdict, name.detail) == (
        Verdict.WRONG_ANSWER,
        f"returned a {'A' * 100}, which is not JSON-serialisable",
    )
    assert_healthy(box)


# ---------------------------------------------------------------- TACO's extra list, decided per problem


def test_a_wrapped_problem_wants_the_bare_value(box):
    cases = taco_cases([[2, 3], [5, 5]], [[5], [10]])  # every output wrapped: unwrapped once
    assert [c.expected for c in cases] == [5, 10]
    bare = box.run("def f(a, b):\n    return a + b", cases)
    assert [t.verdict for t in bare.tests] == [Verdict.PASSED] * 2
    wrapped = box.run("def f(a, b):\n    return [a + b]", cases)
    assert [(t.verdict, t.detail) for t in wrapped.tests] == [
        (Verdict.WRONG_ANSWER, "expected 5, got [5]"),
        (Verdict.WRONG_ANSWER, "expected 10, got [10]"),
    ]
    assert_healthy(box)


def test_a_problem_that_was_not_wrapped_keeps_its_lists(box):
    # "The first k items": one output has a single item, the other two; nothing is unwrapped.
    cases = taco_cases([[[7, 8, 9], 1], [[7, 8, 9], 2]], [[7], [7, 8]])
    assert [c.expected for c in cases] == [[7], [7, 8]]
    assert [t.verdict for t in box.run("def f(xs, k):\n    return xs[:k]", cases).tests] == [
        Verdict.PASSED
    ] * 2
    scalar = box.run("def f(xs, k):\n    return xs[0] if k == 1 else xs[:k]", cases).tests
    assert [(t.verdict, t.detail) for t in scalar] == [
        (Verdict.WRONG_ANSWER, "expected [7], got 7"),
        (Verdict.PASSED, ""),
    ]
    assert_healthy(box)


def test_a_wrapped_list_answer(box):
    # A function returning a list, in TACO's wrapped form: [[1, 2]] means the answer [1, 2].
    cases = taco_cases([[2], [0]], [[[1, 2]], [[]]])
    assert [c.expected for c in cases] == [[1, 2], []]
    assert [t.verdict for t in box.run("def f(n):\n    return list(range(1, n + 1))", cases).tests] == [
        Verdict.PASSED
    ] * 2
    doubled = box.run("def f(n):\n    return [list(range(1, n + 1))]", cases).tests
    assert [(t.verdict, t.detail) for t in doubled] == [
        (Verdict.WRONG_ANSWER, "expected [1, 2], got [[1, 2]]"),
        (Verdict.WRONG_ANSWER, "expected [], got [[]]"),
    ]
    assert_healthy(box)


@pytest.mark.parametrize(
    "program",
    [
        "def f(x):\n    return [{}] * 4_000_000",
        "def f(x):\n    return [[]] * 4_000_000",
        "import os\ndef f(x):\n    os.write(3, b'{\"return\": \"[' + b'{},' * 5_000_000 + b'{}]\"}')\n    os._exit(0)",
    ],
    ids=["empty-objects", "empty-lists", "forged"],
)
def test_a_small_result_that_decodes_huge_is_refused_unread(box, program):
    """16 MB of `[{}, {}, ...]` would grow some 30x when decoded, in the worker or on the host: it is
    counted first, and a result with far more values than the answer's is a wrong answer, at no cost."""
    limits = dataclasses.replace(box.limits, memory_mb=256)
    result = box.run(program, [CallCase("f", [1], [1])], limits=limits).tests[0]
    assert_verdict(result, Verdict.WRONG_ANSWER, f"result holds over {MAX_RESULT_ITEMS} values")
    assert_healthy(box)


def test_a_large_answer_has_room(box):
    """The bound grows with the expected value: twice its size is always allowed."""
    n = 3 * MAX_RESULT_ITEMS
    case = CallCase("f", [n], [[i, i] for i in range(n)])
    assert run1(box, "def f(n):\n    return [[i, i] for i in range(n)]", case).passed
