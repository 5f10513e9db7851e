"""The `Problem`: one programming task with its tests and reference solutions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sandbox.cases import CallCase, TestCase, case_from_dict, case_kind, case_to_dict

# The metadata key of a problem's prelude: code its grader runs before every program (`Problem.runnable`).
PRELUDE = "prelude"


@dataclass
class Problem:
    id: str
    question: str
    tests: list[TestCase]
    solutions: list[str] = field(default_factory=list)
    starter_code: str = ""
    difficulty: str = ""
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """'stdin', 'call' or 'assert': how the tests talk to the program ('mixed' if several)."""
        kinds = {case_kind(case) for case in self.tests}
        return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "none")

    @property
    def fn_name(self) -> str | None:
        """The function call-based tests call, if any (`metadata["fn_name"]` when the tests are hidden)."""
        called = next((case.fn_name for case in self.tests if isinstance(case, CallCase)), None)
        return called or self.metadata.get("fn_name")

    def runnable(self, program: str) -> str:
        """The program as this problem's grader runs it, on any tests: `metadata["prelude"]` on a line
        before it (LiveCodeBench's imports, say), else the program unchanged. An adapter writes a
        prelude as one line, so the program's own lines, in a traceback, move down by one."""
        prelude = self.metadata.get(PRELUDE)
        return f"{prelude}\n{program}" if prelude else program

    def with_tests(self, tests: Iterable[TestCase]) -> Problem:
        """This problem with other tests (a TCG's, the selection's, none). A call-based problem stays one:
        the name of its function, which every prompt states and which otherwise comes from its tests, is
        kept in `metadata["fn_name"]`."""
        metadata = {**self.metadata, "fn_name": self.fn_name} if self.fn_name else dict(self.metadata)
        return replace(self, tests=list(tests), metadata=metadata)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "starter_code": self.starter_code,
            "tests": [case_to_dict(case) for case in self.tests],
            "solutions": list(self.solutions),
            "difficulty": self.difficulty,
            "source": self.source,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        """Inverse of `to_dict`; raises ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"a problem must be an object, got {type(data).__name__}")
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            raise ValueError(f"unknown problem fields {unknown}")
        for name in ("id", "question"):
            if not isinstance(data.get(name), str):
                raise ValueError(f"problem field {name!r} must be a string")
        tests = data.get("tests", [])
        solutions = data.get("solutions", [])
        if not isinstance(tests, list):
            raise ValueError("problem field 'tests' must be a list")
        if not isinstance(solutions, list) or not all(isinstance(s, str) for s in solutions):
            raise ValueError("problem field 'solutions' must be a list of strings")
        for name in ("starter_code", "difficulty", "source"):
            if not isinstance(data.get(name, ""), str):
                raise ValueError(f"problem field {name!r} must be a string")
        if not isinstance(data.get("metadata", {}), dict):
            raise ValueError("problem field 'metadata' must be an object")
        return cls(
            id=data["id"],
            question=data["question"],
            tests=[case_from_dict(case) for case in tests],
            solutions=solutions,
            starter_code=data.get("starter_code", ""),
            difficulty=data.get("difficulty", ""),
            source=data.get("source", ""),
            metadata=data.get("metadata", {}),
        )


_FIELDS = {"id", "question", "starter_code", "tests", "solutions", "difficulty", "source", "metadata"}
