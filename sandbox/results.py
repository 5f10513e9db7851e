"""Verdicts and results: what a run of a program on its tests produces, and the rewards made from it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Verdict(str, Enum):
    PASSED = "passed"
    WRONG_ANSWER = "wrong_answer"
    RUNTIME_ERROR = "runtime_error"
    TIMEOUT = "timeout"
    MEMORY_EXCEEDED = "memory_exceeded"
    OUTPUT_LIMIT = "output_limit"
    COMPILE_ERROR = "compile_error"
    SANDBOX_ERROR = "sandbox_error"  # our fault, never the program's: callers may retry
    SKIPPED = "skipped"  # not run: fail-fast stopped after an earlier failure

    def __str__(self) -> str:
        return self.value


@dataclass(slots=True)
class TestResult:
    """One test of one program. `detail` says why it failed (exception line, first differing token)."""

    verdict: Verdict
    detail: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_memory_mb: float = 0.0
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None  # minus the signal's number if one killed it; None if stopped or not run

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASSED

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict.value}


@dataclass(slots=True)
class ProgramResult:
    """All tests of one program, in the order given."""

    tests: list[TestResult] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        """PASSED if every test passed, else the first failing test's verdict."""
        for test in self.tests:
            if test.verdict is not Verdict.PASSED:
                return test.verdict
        return Verdict.PASSED

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value, "tests": [t.to_dict() for t in self.tests]}


def pass_fraction(result: ProgramResult) -> float:
    """Share of tests passed (0.0 for a program with no tests)."""
    if not result.tests:
        return 0.0
    return sum(t.passed for t in result.tests) / len(result.tests)


def all_passed(result: ProgramResult) -> float:
    """1.0 if the program has tests and passed them all, else 0.0."""
    return float(bool(result.tests) and all(t.passed for t in result.tests))
