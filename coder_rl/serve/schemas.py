"""The verifier API's requests and responses: what the OpenAPI schema shows and every request is checked
against (a malformed one is a 422 naming the field, never a 500)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from sandbox import Limits, TestCase, case_from_dict, case_to_dict

MAX_PROGRAMS = 64
MAX_TESTS = 256
MAX_TEXT = 100_000  # characters of one program, stdin or expected output


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StdioTest(Strict):
    kind: Literal["stdin"]
    stdin: str = Field("", max_length=MAX_TEXT)
    expected_stdout: str = Field(max_length=MAX_TEXT)


class CallTest(Strict):
    kind: Literal["call"]
    fn_name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    args: list[Any] = Field(max_length=64)
    expected: Any


class AssertTest(Strict):
    kind: Literal["assert"]
    source: str = Field(min_length=1, max_length=MAX_TEXT)


Test = Annotated[StdioTest | CallTest | AssertTest, Field(discriminator="kind")]
_TESTS: TypeAdapter[StdioTest | CallTest | AssertTest] = TypeAdapter(Test)


def to_case(test: StdioTest | CallTest | AssertTest) -> TestCase:
    return case_from_dict(test.model_dump())


def from_case(case: TestCase) -> StdioTest | CallTest | AssertTest:
    return _TESTS.validate_python(case_to_dict(case))


def shown(cases: list[TestCase]) -> list[StdioTest | CallTest | AssertTest]:
    """A TCG's tests as the API shows them; one it wrote past the request limits (70 arguments, say) is
    left out rather than failing the response."""
    out = []
    for case in cases:
        try:
            out.append(from_case(case))
        except ValueError:
            continue
    return out


class LimitsIn(Strict):
    """Per-test limits; the server caps them at its own."""

    time_s: float | None = Field(None, gt=0, le=60)
    memory_mb: int | None = Field(None, gt=0, le=16_384)


class ExecuteRequest(Strict):
    programs: list[Annotated[str, Field(max_length=MAX_TEXT)]] = Field(min_length=1, max_length=MAX_PROGRAMS)
    tests: list[Test] = Field(min_length=1, max_length=MAX_TESTS)
    limits: LimitsIn | None = None


class TestOut(BaseModel):
    verdict: str
    detail: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_memory_mb: float = 0.0
    stdout: str = ""
    stderr: str = ""


class ProgramOut(BaseModel):
    verdict: str
    pass_fraction: float
    tests: list[TestOut]


class ExecuteResponse(BaseModel):
    results: list[ProgramOut]


class ProblemIn(Strict):
    question: str = Field(min_length=1, max_length=MAX_TEXT)
    starter_code: str = Field("", max_length=MAX_TEXT)
    fn_name: str | None = Field(None, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    tests: list[Test] = Field(default_factory=list, max_length=MAX_TESTS)


class GenerateTestsRequest(Strict):
    problem: ProblemIn
    num_tests: int = Field(4, ge=1, le=32)


class GenerateTestsResponse(BaseModel):
    tests: list[Test]


class StepIn(Strict):
    action: Literal["define", "refine", "generate"]
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class CandidateIn(Strict):
    code: str = Field(max_length=MAX_TEXT)
    steps: list[StepIn] | None = Field(None, max_length=32)


class VerifyRequest(Strict):
    problem: ProblemIn
    candidates: list[CandidateIn] = Field(min_length=1, max_length=MAX_PROGRAMS)
    use_given_tests: bool = True
    generate_tests: int = Field(0, ge=0, le=32, description="TCG tests to write and run (0: none)")
    limits: LimitsIn | None = None


class CandidateOut(BaseModel):
    rank: int
    score: float
    given: float | None
    generated: float | None
    prm: float | None
    step_scores: list[float] | None
    given_results: ProgramOut | None
    generated_results: ProgramOut | None


class VerifyResponse(BaseModel):
    candidates: list[CandidateOut]
    generated_tests: list[Test] = Field(default_factory=list)


class ScoreStepsRequest(Strict):
    problem: ProblemIn
    trajectories: list[Annotated[list[StepIn], Field(min_length=1, max_length=32)]] = Field(
        min_length=1, max_length=MAX_PROGRAMS
    )
    reduction: Literal["min", "last", "product", "mean"] = "min"


class ScoreStepsResponse(BaseModel):
    step_scores: list[list[float]]
    scores: list[float]


class HealthResponse(BaseModel):
    status: Literal["ok"]
    sandbox: dict[str, Any]
    tcg: str | None
    prm: str | None
    in_flight: int
    max_concurrency: int


class ErrorResponse(BaseModel):
    detail: str


def capped(limits: LimitsIn | None, ceiling: Limits) -> Limits:
    """The request's limits, never above the server's."""
    if limits is None:
        return ceiling
    from dataclasses import replace

    time_s = min(limits.time_s or ceiling.time_s, ceiling.time_s)
    memory_mb = min(limits.memory_mb or ceiling.memory_mb, ceiling.memory_mb)
    return replace(ceiling, time_s=time_s, wall_s=min(2 * time_s + 1, ceiling.wall), memory_mb=memory_mb)
