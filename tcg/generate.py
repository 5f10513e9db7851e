"""Generation: sample test suites from a TCG model through any policy backend, and parse them.

`coder-rl tcg generate` writes one JSONL record per problem (resumable, see `coder_rl.rundir`):
every sample's text, the tests parsed from it and what was dropped, by reason.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.load import DataConfig, load_problems
from coder_rl.data.problem import Problem
from coder_rl.policy.base import Policy, PolicyConfig, SamplingParams
from coder_rl.rundir import prepare_output
from sandbox import case_from_dict, case_to_dict
from tcg.format import TestCase, parse_cases
from tcg.prompts import TESTS_STOP, tcg_prompt


class SuiteSamplingParams(SamplingParams):
    """Sampling for test suites: by default a suite ends where the model starts a new section."""

    n: int = 4
    max_tokens: int = 384
    temperature: float = 0.8
    stop: list[str] = Field(default_factory=lambda: [TESTS_STOP])


class TCGGenerateOutputSection(Section):
    path: str = "runs/tcg/generations.jsonl"
    problems_per_call: int = Field(8, ge=1)


class TCGGenerateConfig(Section):
    data: DataConfig = DataConfig()
    policy: PolicyConfig = PolicyConfig()
    sampling: SuiteSamplingParams = SuiteSamplingParams()
    num_tests: int = Field(4, ge=1, description="tests asked for in each prompt")
    output: TCGGenerateOutputSection = TCGGenerateOutputSection()


def sample_tests(
    policy: Policy,
    problems: Sequence[Problem],
    num_tests: int,
    sampling: SamplingParams,
    problems_per_call: int,
) -> Iterator[tuple[Problem, list[dict[str, Any]]]]:
    """Per problem, its samples: text, parsed tests (as dicts), dropped blocks by reason, tokens."""
    for start in range(0, len(problems), problems_per_call):
        chunk = problems[start : start + problems_per_call]
        completions = policy.generate([tcg_prompt(p, num_tests) for p in chunk], sampling)
        for problem, samples in zip(chunk, completions, strict=True):
            records = []
            for completion in samples:
                parsed = parse_cases(completion.text, problem.fn_name)
                records.append(
                    {
                        "text": completion.text,
                        "tests": [case_to_dict(case) for case in parsed.cases],
                        "dropped": dict(parsed.errors),
                        "num_tokens": completion.num_tokens,
                    }
                )
            yield problem, records


def sample_cases(sample: dict[str, Any]) -> list[TestCase]:
    return [case_from_dict(data) for data in sample["tests"]]  # type: ignore[misc]


@dataclass
class TCGGenerateSummary:
    problems: int = 0
    resumed: int = 0
    samples: int = 0
    parsed: int = 0
    dropped: Counter = field(default_factory=Counter)
    tokens: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        blocks = self.parsed + sum(self.dropped.values())
        rate = self.parsed / blocks if blocks else 0.0
        dropped = ", ".join(f"{k} {v}" for k, v in self.dropped.most_common()) or "none"
        return (
            f"{self.samples} samples for {self.problems} problems ({self.resumed} already done): "
            f"{self.parsed} tests parsed of {blocks} blocks ({rate:.1%}); dropped: {dropped}; "
            f"{self.tokens / max(self.seconds, 1e-9):.0f} tokens/s"
        )


def run_tcg_generate(cfg: TCGGenerateConfig, show_progress: bool = True) -> TCGGenerateSummary:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from coder_rl.policy import load_policy

    problems = [p for p in load_problems(cfg.data).require_problems() if p.kind in ("stdin", "call")]
    out = Path(cfg.output.path)
    settings = {
        "policy": cfg.policy.model_dump(include={"backend", "model", "dtype"}),
        "sampling": cfg.sampling.model_dump(),
        "num_tests": cfg.num_tests,
    }
    done = prepare_output(out, settings, "tcg generate")
    todo = [p for p in problems if p.id not in done]
    summary = TCGGenerateSummary(problems=len(todo), resumed=len(problems) - len(todo))
    if not todo:
        return summary
    policy = load_policy(cfg.policy)
    progress = Progress(
        TextColumn("tcg generate"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show_progress,
    )
    start = time.perf_counter()
    try:
        with progress, out.open("a", encoding="utf-8") as f:
            task = progress.add_task("generate", total=len(todo))
            for problem, samples in sample_tests(
                policy, todo, cfg.num_tests, cfg.sampling, cfg.output.problems_per_call
            ):
                f.write(json.dumps({"problem_id": problem.id, "samples": samples}, ensure_ascii=False) + "\n")
                f.flush()
                summary.samples += len(samples)
                summary.parsed += sum(len(s["tests"]) for s in samples)
                summary.tokens += sum(s["num_tokens"] for s in samples)
                for sample in samples:
                    summary.dropped.update(sample["dropped"])
                progress.advance(task)
    finally:
        policy.close()
    summary.seconds = time.perf_counter() - start
    return summary
