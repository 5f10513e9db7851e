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

    `expected` is kept exactly as the dataset gives it: TACO sometimes wraps it in an extra list,
    and the judge, not the loader, decides what matches.
    """

    fn_name: str
    args: list[Any]
    expected: Any


@dataclass(slots=True)
class AssertCase:
    """Assert-based test code that runs after the program; it passes only if it runs to its end."""

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
