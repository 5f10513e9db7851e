"""A small client for `coder-rl serve`: plain dicts in and out, or the package's own types.

client = VerifierClient("http://127.0.0.1:8000")
client.execute(["print(input())"], [StdioCase("hi\\n", "hi\\n")])
client.verify({"question": "...", "tests": [...]}, [Candidate(code), ...])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from coder_rl.data.problem import Problem
from coder_rl.verify import Candidate
from pseudocode import Step
from sandbox import TestCase, case_to_dict


class VerifierError(Exception):
    """The server said no: `status` is the HTTP status, `detail` its one-line reason."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


class VerifierClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 300.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def metrics(self) -> str:
        response = self.http.get("/metrics")
        _raise_for(response)
        return response.text

    def execute(
        self,
        programs: Sequence[str],
        tests: Sequence[TestCase | dict[str, Any]],
        limits: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self._call(
            "POST", "/v1/execute", {"programs": list(programs), "tests": _tests(tests), "limits": limits}
        )

    def generate_tests(self, problem: Problem | dict[str, Any], num_tests: int = 4) -> dict[str, Any]:
        return self._call(
            "POST", "/v1/tests/generate", {"problem": _problem(problem), "num_tests": num_tests}
        )

    def verify(
        self, problem: Problem | dict[str, Any], candidates: Sequence[Candidate | dict[str, Any]],
        use_given_tests: bool = True, generate_tests: int = 0, limits: dict[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        body = {
            "problem": _problem(problem), "candidates": [_candidate(c) for c in candidates],
            "use_given_tests": use_given_tests, "generate_tests": generate_tests, "limits": limits,
        }  # fmt: skip
        return self._call("POST", "/v1/verify", body)

    def score_steps(
        self, problem: Problem | dict[str, Any], trajectories: Sequence[Sequence[Step | dict[str, str]]],
        reduction: str = "min",
    ) -> dict[str, Any]:  # fmt: skip
        body = {
            "problem": _problem(problem), "trajectories": [[_step(s) for s in t] for t in trajectories],
            "reduction": reduction,
        }  # fmt: skip
        return self._call("POST", "/v1/score_steps", body)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> VerifierClient:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.request(method, path, json=body)
        _raise_for(response)
        return response.json()


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        detail = str(response.json().get("detail", response.text))
    except ValueError:
        detail = response.text
    raise VerifierError(response.status_code, detail)


def _tests(tests: Sequence[TestCase | dict[str, Any]]) -> list[dict[str, Any]]:
    return [t if isinstance(t, dict) else case_to_dict(t) for t in tests]


def _problem(problem: Problem | dict[str, Any]) -> dict[str, Any]:
    if isinstance(problem, dict):
        return problem
    return {
        "question": problem.question, "starter_code": problem.starter_code, "fn_name": problem.fn_name,
        "tests": _tests(problem.tests),
    }  # fmt: skip


def _step(step: Step | dict[str, str]) -> dict[str, str]:
    return step if isinstance(step, dict) else {"action": step.action.value, "text": step.text}


def _candidate(candidate: Candidate | dict[str, Any]) -> dict[str, Any]:
    if isinstance(candidate, dict):
        return candidate
    steps = [_step(s) for s in candidate.steps] if candidate.steps else None
    return {"code": candidate.code, "steps": steps}
