"""The judge's documented rules, without running anything."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.cases import CallCase
from sandbox.judge import MAX_RESULT_DEPTH, compare_stdout, compare_value, decode_result, judge
from sandbox.limits import Limits
from sandbox.results import Verdict


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("3\n", "3"),  # no trailing newline
        ("1 2 3\n", "1 2 3   \n\n\n"),  # trailing whitespace and blank lines
        ("1 2\n3\n", "1   2\n3\n"),  # token by token: runs of spaces are one separator
        ("0.5\n", "0.5000001"),  # float within 1e-6 relative/absolute
        ("1e6\n", "1000000.5"),  # relative tolerance on a large float
        ("0.000001\n", "0"),  # absolute tolerance near zero
        ("YES\n", "YES"),
        ("", "\n\n"),  # empty output
    ],
)
def test_stdout_matches(expected, actual):
    assert compare_stdout(expected, actual) is None


@pytest.mark.parametrize(
    ("expected", "actual", "why"),
    [
        ("3\n", "3.0\n", "line 1 token 1: expected '3', got '3.0'"),  # an integer token is exact
        ("YES\n", "yes\n", "line 1 token 1: expected 'YES', got 'yes'"),  # case-sensitive
        ("1000\n", "1007\n", "line 1 token 1: expected '1000', got '1007'"),  # no tolerance on integers
        ("1000\n", "1000.0\n", "line 1 token 1: expected '1000', got '1000.0'"),  # nor their float form
        ("1000000000\n", "1e9\n", "line 1 token 1: expected '1000000000', got '1e9'"),
        ("1 2\n", "1\n2\n", "line 1: expected 2 tokens, got 1"),  # lines are kept
        ("a\nb\n", "b\na\n", "line 1 token 1: expected 'a', got 'b'"),  # TACO ignores this order; we don't
        ("0.5\n", "0.50001\n", "line 1 token 1: expected '0.5', got '0.50001'"),
        ("1\n2\n", "1\n", "expected 2 lines, got 1"),  # a correct prefix is not an answer
        ("1\n", "1\n2\n", "expected 1 lines, got 2"),
        ("0.5\n", "nan\n", "line 1 token 1: expected '0.5', got 'nan'"),
        ("1\n", "\n1\n", "line 1: expected 1 tokens, got 0"),  # leading blank lines count
    ],
)
def test_stdout_differs(expected, actual, why):
    assert compare_stdout(expected, actual) == why


def test_exact_mode_is_byte_for_byte():
    assert compare_stdout("1 2\n", "1 2\n", mode="exact") is None
    assert compare_stdout("1 2\n", "1 2", mode="exact") == "output differs (exact mode)"
    assert compare_stdout("1 2\n", "1  2\n", mode="exact") is not None


@given(st.text(), st.text(alphabet=" \t\n", max_size=5))
def test_any_output_matches_itself_with_trailing_whitespace(text, tail):
    assert compare_stdout(text, text + tail) is None


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        ([1, 2], [1, 2], True),
        ([[1, 2]], [1, 2], False),  # no extra list is stripped: the adapter unwraps TACO's, per problem
        ([[1, 2]], [[1, 2]], True),
        ([3], 3, False),
        (3, [3], False),
        ([0.1 + 0.2], [0.3], True),  # floats within the tolerance
        ({"a": [1.0, 2]}, {"a": [1.0000000001, 2]}, True),
        (1.0, 1, True),  # an expected float: an int within the tolerance is a number like any
        (1, 1.0, True),  # the same number: an exact comparison, no tolerance
        (1, 1.0000001, False),
        (1, 2, False),
        (True, 1, False),  # bools are not integers
        (1, True, False),
        (1.0, True, False),
        ([True], [1], False),
        ("1", 1, False),
        ([1, 2], [2, 1], False),
        ([[1], [2]], [1], False),
        (None, None, True),
        ([None], None, False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        (float("nan"), float("nan"), True),
    ],
)
def test_call_results(expected, actual, same):
    assert compare_value(expected, actual) is same


def test_tuples_equal_lists():
    assert compare_value((1, (2, 3)), [1, [2, 3]])


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        ("3 4\n", "3\xa04\n", False),  # a no-break space is not a separator
        ("3 4\n", "3\u30004\n", False),  # nor is an ideographic space
        ("3 4\n", "3\t4\r\n", True),  # ASCII whitespace is
        ("1e999\n", "inf\n", False),  # an expected float that overflows is compared as text
        ("1e999\n", "1e999\n", True),
        ("1.5\n", "1" + "0" * 400 + "\n", False),  # a huge token is not a crash
    ],
)
def test_stdout_edge_cases(expected, actual, same):
    assert (compare_stdout(expected, actual) is None) is same


def test_exact_mode_never_matches_invalid_utf8_to_text():
    # The worker decodes stdout with surrogateescape, so bytes that are not UTF-8 stay distinct.
    assert compare_stdout("\ufffd\n", b"\xfe\n".decode("utf-8", "surrogateescape"), mode="exact") is not None


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        (10**400, 1.5, False),  # too large for a float: no OverflowError, just a mismatch
        (1.5, 10**400, False),
        ([10**400], [10**400], True),
        (10**400, float(10**300), False),
        (float("nan"), 1, False),
        (float("nan"), float("nan"), True),
        (1, float("nan"), False),
        (1.5, float("inf"), False),
        (float("inf"), float("inf"), True),
    ],
)
def test_call_edge_cases(expected, actual, same):
    assert compare_value(expected, actual) is same


# ---------------------------------------------------------------- call results: exact ints, bounded decoding


@pytest.mark.parametrize("n", [0, 1, 12345, 10**15, 10**18 + 7])
def test_a_float_never_passes_for_an_int(n):
    # float(n * 1000) is within 1e-6 relative of n * 1000 + 7 for large n: an int must match exactly.
    assert not compare_value(n * 1000 + 7, float(n * 1000))
    assert compare_value(n, float(n)) is (int(float(n)) == n)  # only the very same number
    assert compare_value(n, n) and not compare_value(n, n + 1)
    assert compare_value(float(n), n) and compare_value(float(n), float(n))


def test_floats_keep_the_tolerance():
    assert compare_value(2.5, 2.5000001) and compare_value(1e9, 1e9 + 0.5)
    assert not compare_value(2.5, 2.5001)
    assert compare_value(0.0, 1e-7) and not compare_value(0.0, 1e-5)


def nested(depth: int, kind: str = "list") -> str:
    """JSON text with `depth` containers, one inside the other: depth 1 is `[0]` or `{"k": 0}`."""
    if kind == "list":
        return "[" * depth + "0" + "]" * depth
    return '{"k": ' * depth + "0" + "}" * depth


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_depth_bound_at_the_edge(kind):
    value, why = decode_result(nested(MAX_RESULT_DEPTH, kind))
    assert why is None and value is not None
    assert decode_result(nested(MAX_RESULT_DEPTH + 1, kind)) == (
        None,
        f"result nested deeper than {MAX_RESULT_DEPTH}",
    )


@pytest.mark.parametrize("depth", [990, 5000, 200_000])
def test_deep_results_are_refused_before_decoding(depth):
    for kind in ("list", "dict"):
        assert decode_result(nested(depth, kind))[1] == f"result nested deeper than {MAX_RESULT_DEPTH}"
    mixed = '[{"a": ' * (depth // 2) + "1" + "}]" * (depth // 2)
    assert decode_result(mixed)[1] == f"result nested deeper than {MAX_RESULT_DEPTH}"


def test_brackets_inside_strings_do_not_nest():
    strings = ["[{" * 5000, "\\", '\\"[[[[', '"', "\\[", "[\u005b"]
    assert decode_result(json.dumps(strings)) == (strings, None)
    assert decode_result(json.dumps({"[" * 200: ["{" * 200]})) == ({"[" * 200: ["{" * 200]}, None)
    wide = "[" + ",".join(["[[1]]"] * 10_000) + "]"  # many containers, none deep
    assert decode_result(wide)[1] is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("9" * 5000, "result holds an integer over 4300 digits"),
        ("[-" + "9" * 5000 + "]", "result holds an integer over 4300 digits"),
        ('{"a": ' + "1" * 4301 + "}", "result holds an integer over 4300 digits"),
        ("[1,", "result is not JSON (Expecting value)"),
        (None, "result is not JSON text"),
        ("[" + "0," * (8 << 20) + "0]", "result over 16777216 characters"),
    ],
)
def test_hostile_results_are_named_not_raised(text, why):
    assert decode_result(text) == (None, why)


def test_values_that_decode():
    assert decode_result("1" * 4300) == (int("1" * 4300), None)
    assert decode_result("1." + "1" * 5000)[0] == pytest.approx(1.1111111)  # floats have no digit limit
    value, why = decode_result("NaN")
    assert why is None and value != value
    assert decode_result("[Infinity, -Infinity, 1e999]") == (
        [float("inf"), float("-inf"), float("inf")],
        None,
    )
    long = "x" * (1 << 20)
    assert decode_result(json.dumps(long)) == (long, None)


def reply_returning(text: str, **harness) -> dict:
    """A worker reply to a call test whose harness reported `text` as the return value."""
    return {
        "outcome": None,
        "exit_code": 0,
        "signal": None,
        "wall_s": 0.01,
        "cpu_s": 0.01,
        "max_rss_kb": 10_000,
        "stdout": "",
        "stderr_tail": "",
        "harness": harness or {"return": text},
        "dirty": None,
    }


@pytest.mark.parametrize(
    ("expected", "text", "verdict", "detail"),
    [
        (3, "3", Verdict.PASSED, ""),
        (3, "3.0", Verdict.PASSED, ""),  # the same number, exactly
        (10**18 + 7, "1e18", Verdict.WRONG_ANSWER, "expected 1000000000000000007, got 1e+18"),
        (1000007, "1000000.0", Verdict.WRONG_ANSWER, "expected 1000007, got 1000000.0"),
        (1, "true", Verdict.WRONG_ANSWER, "expected 1, got true"),
        (True, "1", Verdict.WRONG_ANSWER, "expected true, got 1"),
        (2.5, "2.5000000001", Verdict.PASSED, ""),
        (2.5, "NaN", Verdict.WRONG_ANSWER, "expected 2.5, got NaN"),
        (1, "NaN", Verdict.WRONG_ANSWER, "expected 1, got NaN"),
        ([5], "5", Verdict.WRONG_ANSWER, "expected [5], got 5"),
        (5, "[5]", Verdict.WRONG_ANSWER, "expected 5, got [5]"),
        ([0], nested(990), Verdict.WRONG_ANSWER, "result nested deeper than 100"),
        ({"k": 0}, nested(5000, "dict"), Verdict.WRONG_ANSWER, "result nested deeper than 100"),
        (9, "9" * 5000, Verdict.WRONG_ANSWER, "result holds an integer over 4300 digits"),
        ("a", json.dumps("\ud800"), Verdict.WRONG_ANSWER, 'expected "a", got "\\ud800"'),
    ],
)
def test_judge_of_call_results(expected, text, verdict, detail):
    result = judge(CallCase("f", [], expected), reply_returning(text), Limits())
    assert (result.verdict, result.detail) == (verdict, detail)
    result.detail.encode("utf-8")  # writable as UTF-8, whatever the program returned


def test_judge_details_are_bounded_and_writable():
    limits = Limits()
    long_name = judge(
        CallCase("f", [], 1), reply_returning("", unserialisable="A" * 10_000, detail=""), limits
    )
    assert long_name.verdict is Verdict.WRONG_ANSWER
    assert long_name.detail == f"returned a {'A' * 100}, which is not JSON-serialisable"
    crash = reply_returning("", error={"type": "ValueError", "line": "ValueError: \ud800"})
    result = judge(CallCase("f", [], 1), crash, limits)
    assert (result.verdict, result.detail) == (Verdict.RUNTIME_ERROR, "ValueError: \\ud800")
    huge = judge(CallCase("f", [], 10**5000), reply_returning("1"), limits)
    assert huge.verdict is Verdict.WRONG_ANSWER and huge.detail == "expected <int>, got 1"


def test_a_forged_error_line_is_cut_to_a_bounded_detail():
    forged = reply_returning("", error={"type": "X", "line": "E" * (1 << 20)})
    result = judge(CallCase("f", [], 1), forged, Limits())
    assert result.verdict is Verdict.RUNTIME_ERROR and result.detail == "E" * 4096
