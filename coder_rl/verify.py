"""The verifier: the sandbox, a TCG and a PRM together judge candidate programs without reference code.

`Verifier.verify(problem, candidates)` runs every candidate on the problem's given tests and/or on
tests the TCG writes from the statement, scores its reasoning steps with the PRM (a candidate without
steps is scored as one generate step holding its code), and ranks the candidates by

    score = (w_given·given + w_generated·generated + w_prm·prm) / (sum of the weights of what was measured)

where `given` and `generated` are pass fractions and `prm` the aggregated step score. The given tests are
trusted by default (`trust_given_tests`): they order the candidates first, and the score orders those
that pass as many of them. The HTTP service
(`coder-rl serve`) and inference-time search (`coder-rl search`) are both built on it. Models load once,
when the verifier is made.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.problem import Problem
from coder_rl.devices import resolve_device
from coder_rl.errors import UserError
from coder_rl.execution import SandboxConfig, open_sandbox
from coder_rl.models.paths import check_model_path
from coder_rl.policy.base import PolicyConfig
from coder_rl.prm.model import StepReduction, reduce_steps
from coder_rl.trajectory import PRMInput, prm_input
from pseudocode import Action, Step, fence
from sandbox import Limits, ProgramResult, TestCase, TestResult, pass_fraction
from tcg.reward_tests import tcg_tests


class ScoreWeightsConfig(Section):
    given: float = Field(1.0, ge=0, description="pass fraction on the tests given with the problem")
    generated: float = Field(0.5, ge=0, description="pass fraction on the TCG's tests")
    prm: float = Field(0.25, ge=0, description="the PRM's aggregated step score")


class VerifierConfig(Section):
    sandbox: SandboxConfig = SandboxConfig()
    tcg_model: str | None = Field(
        None, description="a model from `coder-rl tcg train` (tests from the statement)"
    )
    tcg_backend: str = Field("hf", pattern="^(hf|vllm|openai)$")
    tcg_samples: int = Field(2, ge=1, description="suites sampled per problem; their tests are pooled")
    tcg_max_tokens: int = Field(384, ge=16)
    prm: str | None = Field(None, description="a PRM from `coder-rl prm train`")
    prm_reduction: StepReduction = "min"
    weights: ScoreWeightsConfig = ScoreWeightsConfig()
    trust_given_tests: bool = Field(
        True, description="given tests rank first; the TCG and the PRM break ties"
    )
    device: str = "auto"

    def check_models(self) -> None:
        """Before anything loads: the PRM is a local directory (`coder-rl prm train` made it); the TCG may
        also be a hub id, or any name an OpenAI-compatible server serves."""
        if self.prm:
            check_model_path("verifier.prm", self.prm)
        if self.tcg_model and self.tcg_backend != "openai":
            check_model_path("verifier.tcg_model", self.tcg_model, hub=True)


@dataclass
class Candidate:
    code: str
    steps: list[Step] | None = None  # the reasoning that led to the code, if any


@dataclass
class CandidateReport:
    given: float | None = None  # pass fraction on the given tests (None: none given)
    given_results: ProgramResult | None = None
    generated: float | None = None  # pass fraction on the TCG's tests (None: none asked for or parsed)
    generated_results: ProgramResult | None = None
    step_scores: list[float] | None = None  # the PRM's, per step (None: no PRM loaded)
    prm: float | None = None
    score: float = 0.0
    rank: int = 0  # 1 is the best; ties keep the candidates' order


def candidate_score(report: CandidateReport, weights: ScoreWeightsConfig) -> float:
    """The weighted mean of what was measured for this candidate (0 when nothing was)."""
    parts = [(report.given, weights.given), (report.generated, weights.generated), (report.prm, weights.prm)]
    total = sum(w for value, w in parts if value is not None)
    return sum(value * w for value, w in parts if value is not None) / total if total else 0.0


def rank(reports: list[CandidateReport], weights: ScoreWeightsConfig, trust_given: bool) -> None:
    """Rank 1 for the best. With `trust_given`, the given tests decide first and the other signals (the
    TCG's tests, the PRM) only order candidates that pass as many of them: a program that fails a test
    the user gave never outranks one that passes it. Otherwise by score. A stable sort: ties keep the
    order given."""

    def key(i: int) -> tuple[float, float]:
        report = reports[i]
        if not trust_given or report.given is None:
            return (0.0, -report.score)
        rest = CandidateReport(generated=report.generated, prm=report.prm)
        return (-report.given, -candidate_score(rest, weights))

    for position, index in enumerate(sorted(range(len(reports)), key=key), start=1):
        reports[index].rank = position


def as_steps(candidate: Candidate) -> list[Step]:
    """A candidate's reasoning, or its code as one generate step when it came without any."""
    return candidate.steps or [Step(Action.GENERATE, fence(candidate.code))]


class Verifier:
    """Holds the sandbox and the loaded models; thread-safe (each model is used by one caller at a time)."""

    def __init__(self, cfg: VerifierConfig) -> None:
        self.cfg = cfg
        cfg.check_models()
        self._sandbox = open_sandbox(cfg.sandbox)
        self._tcg: Any = None
        self._prm: Any = None
        self._tcg_lock, self._prm_lock = threading.Lock(), threading.Lock()
        try:
            if cfg.tcg_model:
                from coder_rl.policy import load_policy

                self._tcg = load_policy(
                    PolicyConfig(backend=cfg.tcg_backend, model=cfg.tcg_model, device=cfg.device)
                )  # type: ignore[arg-type]
            if cfg.prm:
                from coder_rl.prm import PRM

                self._prm = PRM(cfg.prm, device=str(resolve_device(cfg.device)))
        except BaseException:
            self.close()
            raise

    def loaded(self) -> dict[str, Any]:
        """What this verifier can do, for /health."""
        return {
            "sandbox": {"backend": self.cfg.sandbox.backend, "workers": self._sandbox.workers},
            "tcg": self.cfg.tcg_model if self._tcg is not None else None,
            "prm": self.cfg.prm if self._prm is not None else None,
        }

    @property
    def has_tcg(self) -> bool:
        return self._tcg is not None

    @property
    def has_prm(self) -> bool:
        return self._prm is not None

    def execute(
        self, programs: Sequence[str], tests: Sequence[TestCase], limits: Limits | None = None
    ) -> list[ProgramResult]:
        """Every program on the same tests."""
        return self.run_batch([(program, tests) for program in programs], limits)

    def run_batch(
        self,
        batch: Sequence[tuple[str, Sequence[TestCase]]],
        limits: Limits | None = None,
        fail_fast: bool | None = None,
    ) -> list[ProgramResult]:
        """Each program on its own tests, in the sandbox (a `BatchRunner`, for the MCTS search)."""
        return self._sandbox.run_batch(batch, limits, fail_fast)

    def generate_tests(self, problem: Problem, num_tests: int) -> list[TestCase]:
        """Tests the TCG writes from the statement alone, pooled over its samples, deduplicated by input:
        as RL and MCTS get theirs (`tcg.reward_tests.tcg_tests`)."""
        if self._tcg is None:
            raise UserError("no TCG loaded: start the verifier with tcg_model")
        with self._tcg_lock:
            (tests,) = tcg_tests(
                self._tcg, [problem], num_tests, self.cfg.tcg_samples, self.cfg.tcg_max_tokens
            )
        return tests

    async def acapture(self, program: str, stdin: str, limits: Limits | None = None) -> TestResult:
        """One run judged against nothing (`Sandbox.capture`), for SandboxFusion's run_code."""
        return await self._sandbox.acapture(program, stdin, limits)

    def score_steps(self, problem: Problem, trajectories: Sequence[Sequence[Step]]) -> list[list[float]]:
        # the PRM reads what it reads in RL and in training: `prm_input`
        return self.score_prm_inputs([prm_input(problem, steps) for steps in trajectories])

    def score_prm_inputs(self, items: list[PRMInput]) -> list[list[float]]:
        """The PRM's per-step scores (a `PRMScorer`, for the rewards)."""
        if self._prm is None:
            raise UserError("no PRM loaded: start the verifier with prm")
        with self._prm_lock:
            return self._prm.score_batch(items)

    def verify(
        self,
        problem: Problem,
        candidates: Sequence[Candidate],
        use_given: bool = True,
        generated_tests: int = 0,
        limits: Limits | None = None,
    ) -> tuple[list[CandidateReport], list[TestCase]]:
        """Each candidate's report, ranked, and the tests the TCG wrote (if asked)."""
        reports = [CandidateReport() for _ in candidates]
        suites = []
        if use_given and problem.tests:
            suites.append(("given", list(problem.tests)))
        generated = self.generate_tests(problem, generated_tests) if generated_tests else []
        if generated:
            suites.append(("generated", generated))
        # every candidate on every suite in one sandbox batch: all of it runs concurrently
        batch = [(problem.runnable(c.code), tests) for _, tests in suites for c in candidates]
        results = iter(self.run_batch(batch, limits) if batch else [])
        for name, _ in suites:
            for report in reports:
                result = next(results)
                setattr(report, name, pass_fraction(result))
                setattr(report, f"{name}_results", result)
        if self._prm is not None and candidates:
            for report, scores in zip(
                reports, self.score_steps(problem, [as_steps(c) for c in candidates]), strict=True
            ):
                report.step_scores, report.prm = scores, reduce_steps(scores, self.cfg.prm_reduction)
        for report in reports:
            report.score = candidate_score(report, self.cfg.weights)
        rank(reports, self.cfg.weights, self.cfg.trust_given_tests)
        return reports, generated

    def close(self) -> None:
        if self._tcg is not None:
            self._tcg.close()
        self._sandbox.close()
