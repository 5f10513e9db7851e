"""The judge: turns what a worker saw (exit status, output, the harness's report) into a verdict.

Judging happens on the host, never inside the sandbox, so the program cannot read expected outputs.

Stdout rule (mode "tokens", the default): trailing whitespace on each line and trailing blank lines
are ignored; the remaining lines must match one for one, token by token (tokens split on ASCII
whitespace: space, tab, CR, FF, VT; a no-break space is part of a token). Where the expected token is a float (it has a '.' or an exponent), the actual token
matches if it is within 1e-6, relative or absolute; every other token must be identical,
case-sensitively. Unlike TACO's checker, line order and single-character tokens get no leniency.
Mode "exact" compares the whole output byte for byte (invalid UTF-8 never matches text).

Call rule: the result crosses back as JSON text, which the program shapes, so the host decodes it
with bounds (`decode_result`: size, nesting depth, integer digits) and compares it with `compare_value`:
an expected int needs an int equal to it (3.0 is not 3), an expected float matches within 1e-6, bools
equal only bools. Whatever the text holds, the verdict is passed or wrong_answer, never sandbox_error.
"""

from __future__ import annotations

import json
import math
import re
import signal
import sys
from itertools import accumulate
from typing import Any

from sandbox.cases import AssertCase, CallCase, StdioCase, TestCase
from sandbox.limits import Limits
from sandbox.results import TestResult, Verdict

TOLERANCE = 1e-6
KEEP_CHARS = 4096  # stdout head and stderr tail kept on each result
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+(?=[eE]))([eE][+-]?\d+)?")
STDOUT_MODES = ("tokens", "exact")
# A stdin run judged against nothing (`Sandbox.capture`): its whole stdout is kept, and a clean exit passes.
CAPTURE = "capture"
_SIGNALS = {s.value for s in signal.Signals}
_ASCII_SPACE = " \t\r\f\v"
_SEPARATOR = re.compile(r"[ \t\r\f\v]+")
MAX_RESULT_DEPTH = 100  # lists and objects nested in a call result; deeper is a wrong_answer
MAX_RESULT_CHARS = 16 * 1024 * 1024  # the worker caps its report at this (RESULT_CAP); so does the host
# Lists, objects and elements in a result: decoding costs host memory (`[{}, {}, ...]` grows some 30x).
# More than twice the expected value's, and at least this many, cannot be the answer.
MAX_RESULT_ITEMS = 100_000
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def close_enough(expected: float, actual: float, tolerance: float = TOLERANCE) -> bool:
    try:
        return math.isclose(actual, expected, rel_tol=tolerance, abs_tol=tolerance)
    except OverflowError:  # an int too large for a float: only exact equality can match
        return expected == actual


def compare_stdout(expected: str, actual: str, mode: str = "tokens") -> str | None:
    """None if `actual` matches `expected` under the documented rule, else what differs."""
    if mode == "exact":
        return None if actual == expected else "output differs (exact mode)"
    want, got = _lines(expected), _lines(actual)
    for number, (want_line, got_line) in enumerate(zip(want, got, strict=False), start=1):
        want_tokens, got_tokens = _tokens(want_line), _tokens(got_line)
        for position, (w, g) in enumerate(zip(want_tokens, got_tokens, strict=False), start=1):
            if not _token_matches(w, g):
                return f"line {number} token {position}: expected {w[:80]!r}, got {g[:80]!r}"
        if len(want_tokens) != len(got_tokens):
            return f"line {number}: expected {len(want_tokens)} tokens, got {len(got_tokens)}"
    if len(want) != len(got):
        return f"expected {len(want)} lines, got {len(got)}"
    return None


def _lines(text: str) -> list[str]:
    lines = [line.rstrip(_ASCII_SPACE) for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _tokens(line: str) -> list[str]:
    return [token for token in _SEPARATOR.split(line) if token]


def _token_matches(expected: str, actual: str) -> bool:
    if expected == actual:
        return True
    if not _FLOAT.fullmatch(expected):
        return False
    try:
        want, got = float(expected), float(actual)
    except ValueError:
        return False
    return math.isfinite(want) and close_enough(want, got)  # "1e999" is a token, not infinity


def compare_value(expected: Any, actual: Any) -> bool:
    """Structural equality for call results: tuples equal lists, floats within the tolerance.

    An expected int (not a bool) compares exactly, with no tolerance: `n*1000+7` is not within 1e-6 of
    `float(n*1000)`, it is wrong. A float exactly equal to it (3.0 for 3, as `/` gives) is the same
    number and matches, as Python's `==` and TACO's checker have it; an exact comparison of an int
    with a float cannot round, so no nearby float passes. An expected float matches an int or a float within 1e-6, relative or absolute (NaN only NaN).
    Bools equal only bools. `actual` has crossed the process boundary as JSON, so tuples are already
    lists. The expected value is compared as given: no extra list around it is stripped here (the
    dataset adapter decides that once per problem).
    """
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int):
        return isinstance(actual, (int, float)) and expected == actual
    if isinstance(expected, float):
        if not isinstance(actual, (int, float)):
            return False
        nans = [isinstance(x, float) and math.isnan(x) for x in (expected, actual)]
        return all(nans) if any(nans) else close_enough(expected, actual)
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        return len(expected) == len(actual) and all(map(compare_value, expected, actual))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            compare_value(v, actual[k]) for k, v in expected.items()
        )
    return type(expected) is type(actual) and expected == actual


def decode_result(text: Any, max_items: int = MAX_RESULT_ITEMS) -> tuple[Any, str | None]:
    """A call result's JSON text, decoded on the host: (value, None), or (None, why it is no answer).

    The program shapes this text (it can also write its own report), so it is bounded before and while
    it is decoded: at most MAX_RESULT_CHARS characters and `max_items` lists, objects and elements
    (what decoding costs in memory), lists and objects nested at most MAX_RESULT_DEPTH deep (`[1]` is
    depth 1; `json.loads` would raise RecursionError near 1000), and integers within Python's
    int-string limit (`sys.get_int_max_str_digits()`, 4300 digits). NaN and Infinity decode to
    floats. Nothing in the text makes this raise.
    """
    if not isinstance(text, str):
        return None, "result is not JSON text"
    if len(text) > MAX_RESULT_CHARS:
        return None, f"result over {MAX_RESULT_CHARS} characters"
    if _nested_deeper_than(text, MAX_RESULT_DEPTH):
        return None, f"result nested deeper than {MAX_RESULT_DEPTH}"
    if _items(text) > max_items:
        return None, f"result holds over {max_items} values"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"result is not JSON ({exc.msg})"
    except ValueError:  # an integer literal past the int-string limit
        return None, f"result holds an integer over {sys.get_int_max_str_digits()} digits"
    except (RecursionError, MemoryError) as exc:  # not reachable within the bounds above; still no crash
        return None, f"result could not be decoded ({type(exc).__name__})"


def _outside_strings(text: str) -> str:
    """The JSON text without its strings, whose brackets and commas are not structure (escapes first)."""
    if '"' not in text:
        return text
    return "".join(text.replace("\\\\", "").replace('\\"', "").split('"')[::2])


def _items(text: str) -> int:
    """About how many lists, objects and elements the JSON text holds; linear, no decoding."""
    if text.count(",") + text.count("[") + text.count("{") <= MAX_RESULT_ITEMS:
        return 0  # few enough whatever the strings hold: no need to look closer
    bare = _outside_strings(text)
    return bare.count(",") + bare.count("[") + bare.count("{")


def _nested_deeper_than(text: str, limit: int) -> bool:
    """Whether the JSON text nests lists and objects more than `limit` deep; linear, no recursion."""
    if text.count("[") + text.count("{") <= limit:
        return False
    text = _outside_strings(text)
    brackets = _NOT_BRACKET.sub("", text)
    return len(brackets) > limit and max(accumulate(map(_DEPTH_STEP.__getitem__, brackets))) > limit


def judge(case: TestCase, reply: dict[str, Any], limits: Limits, stdout_mode: str = "tokens") -> TestResult:
    """The verdict for one worker reply to one test (`stdout_mode`: `compare_stdout`'s, or CAPTURE)."""
    keep = limits.output_bytes if stdout_mode == CAPTURE else KEEP_CHARS
    result = TestResult(
        verdict=Verdict.PASSED,
        wall_s=round(reply["wall_s"], 6),
        cpu_s=round(reply["cpu_s"], 6),
        peak_memory_mb=round(reply["max_rss_kb"] / 1024, 2),
        stdout=reply["stdout"][:keep].encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
        stderr=reply["stderr_tail"][-keep:],
        exit_code=_exit_code(reply),
    )
    result.verdict, detail = _verdict(case, reply, limits, stdout_mode)
    # Exception messages and names the program chose (or forged in its report) may be long, and may
    # hold lone surrogates, which UTF-8 cannot write.
    result.detail = detail[:KEEP_CHARS].encode("utf-8", "backslashreplace").decode("utf-8")
    return result


def _verdict(case: TestCase, reply: dict[str, Any], limits: Limits, stdout_mode: str) -> tuple[Verdict, str]:
    harness = reply["harness"]
    error = harness.get("error") or harness.get("harness_error")
    sig = reply["signal"]
    if reply["outcome"] == "timeout":
        return Verdict.TIMEOUT, f"wall time over {limits.wall:g} s"
    if reply["outcome"] == "output_limit":
        return Verdict.OUTPUT_LIMIT, f"output over {limits.output_bytes} bytes"
    if sig == signal.SIGXCPU or reply["cpu_s"] > limits.time_s:
        return Verdict.TIMEOUT, f"CPU time over {limits.time_s:g} s"
    if error and "[Errno 27]" in error["line"]:  # EFBIG: Python ignores SIGXFSZ, so the write fails
        return Verdict.OUTPUT_LIMIT, f"wrote a file over {limits.file_size_mb} MB"
    if (
        reply.get("oom_killed")
        or (error and error["type"] == "MemoryError")
        or (error and "[Errno 12]" in error["line"])  # ENOMEM: an mmap past the address-space limit
        or (sig is not None and reply["max_rss_kb"] >= 0.9 * limits.memory_mb * 1024)
    ):
        return Verdict.MEMORY_EXCEEDED, f"memory over {limits.memory_mb} MB"
    if isinstance(case, AssertCase):
        # Judged in the tests' own process, apart from the program's (sandbox/worker.py, assert tests).
        if reply.get("proved"):
            return Verdict.PASSED, ""
        if "unserialisable" in harness:  # the program gave the tests something that is not a plain value
            return Verdict.WRONG_ANSWER, harness["detail"][:300]
        if error and error["type"] == "AssertionError":
            return Verdict.WRONG_ANSWER, error["line"]
        if error and error["type"] == "ProgramExited":  # reply's status is the program process's
            error = None
        return Verdict.RUNTIME_ERROR, _failure(error, reply, "exited before the test code finished")
    if error or sig is not None:
        return Verdict.RUNTIME_ERROR, _failure(error, reply, "")
    if isinstance(case, CallCase):
        if "unserialisable" in harness:
            return (
                Verdict.WRONG_ANSWER,
                f"returned a {harness['unserialisable'][:100]}, which is not JSON-serialisable",
            )
        if "return" not in harness:
            return Verdict.RUNTIME_ERROR, _failure(None, reply, "exited before returning")
        text = harness["return"]
        # The expected value's own size matters only for a result that large: sized only then.
        room = _room_for(case.expected) if _items(text) > MAX_RESULT_ITEMS else MAX_RESULT_ITEMS
        actual, why_not = decode_result(text, room)
        if why_not:
            return Verdict.WRONG_ANSWER, why_not
        if compare_value(case.expected, actual):
            return Verdict.PASSED, ""
        return Verdict.WRONG_ANSWER, f"expected {_short(case.expected)}, got {_short(actual)}"
    if reply["exit_code"]:
        return Verdict.RUNTIME_ERROR, _failure(None, reply, "")
    assert isinstance(case, StdioCase)
    if stdout_mode == CAPTURE:
        return Verdict.PASSED, ""
    difference = compare_stdout(case.expected_stdout, reply["stdout"], stdout_mode)
    return (Verdict.WRONG_ANSWER, difference) if difference else (Verdict.PASSED, "")


def _exit_code(reply: dict[str, Any]) -> int | None:
    """The program's exit status; minus the signal's number if one killed it; None if it was stopped for
    running out of time or output (it never ended by itself)."""
    if reply["outcome"] in ("timeout", "output_limit"):
        return None
    return -reply["signal"] if reply["signal"] is not None else reply["exit_code"]


def _failure(error: dict[str, str] | None, reply: dict[str, Any], fallback: str) -> str:
    if error:
        return error["line"]
    if reply["signal"] is not None:
        number = reply["signal"]
        return f"killed by {signal.Signals(number).name if number in _SIGNALS else f'signal {number}'}"
    status = f"exit status {reply['exit_code']}"
    last = reply["stderr_tail"].strip().splitlines()[-1:] or [""]
    return ", ".join(part for part in (fallback, status, last[0][:300]) if part)


def _room_for(expected: Any) -> int:
    """The values a result may hold: MAX_RESULT_ITEMS, or twice the expected value's where that is more."""
    try:
        return max(MAX_RESULT_ITEMS, 2 * _items(json.dumps(expected)))
    except (TypeError, ValueError, RecursionError):
        return MAX_RESULT_ITEMS


def _short(value: Any) -> str:
    try:
        text = json.dumps(value)  # ASCII: a lone surrogate the program returned is escaped
    except (TypeError, ValueError, RecursionError):  # an expected value built in Python, not from JSON
        try:
            text = ascii(value)[:201]
        except (ValueError, RecursionError):
            text = f"<{type(value).__name__}>"
    return text if len(text) <= 200 else text[:200] + "..."
