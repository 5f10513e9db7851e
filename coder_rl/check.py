"""`coder-rl sandbox check`: run every reference solution of a dataset against its own tests.

It measures how far a dataset can be trusted as a reward source, and cleans it, as DeepCoder did:
problems whose reference fails its own tests give wrong rewards. Output: one JSONL record per
problem (resumable, see `coder_rl.rundir`), and optionally the subset of problems whose
reference passes, with only the passing solutions kept, as coder-rl problems JSONL.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data import Problem
from coder_rl.data.load import DataConfig, load_problems
from coder_rl.execution import SandboxConfig, open_sandbox
from coder_rl.rundir import prepare_output
from sandbox import Verdict


class CheckOutputSection(Section):
    path: str = "runs/check/verdicts.jsonl"
    passing: str | None = Field(None, description="also write the problems whose reference passes here")


class CheckConfig(Section):
    data: DataConfig = DataConfig()
    sandbox: SandboxConfig = SandboxConfig()
    output: CheckOutputSection = CheckOutputSection()
    max_solutions: int = Field(3, ge=1, description="reference solutions checked per problem")
    problems_per_batch: int = Field(16, ge=1)


@dataclass
class CheckSummary:
    problems: int = 0
    resumed: int = 0
    # passed / failed / no_reference / sandbox_error, over every problem asked for: resumed ones too, so a
    # rerun reports (and exits with) what the whole output holds
    outcomes: Counter = field(default_factory=Counter)
    verdicts: Counter = field(default_factory=Counter)  # over every test of every solution
    tests_run: int = 0
    seconds: float = 0.0
    passing_written: int | None = None


def check_record(problem: Problem, results: list[Any]) -> dict[str, Any]:
    """The per-problem record: each solution's verdict, pass count and first failure."""
    solutions = []
    for result in results:
        failure = next(((i, t) for i, t in enumerate(result.tests) if not t.passed), None)
        solutions.append(
            {
                "verdict": result.verdict.value,
                "passed_tests": sum(t.passed for t in result.tests),
                "first_failure": None
                if failure is None
                else {"test": failure[0], "verdict": failure[1].verdict.value, "detail": failure[1].detail},
            }
        )
    if not results:
        outcome = "no_reference"
    elif any(r.verdict is Verdict.PASSED for r in results):
        outcome = "passed"
    elif any(t.verdict is Verdict.SANDBOX_ERROR for r in results for t in r.tests):
        outcome = "sandbox_error"  # ours, not the dataset's: rerun after removing this record
    else:
        outcome = "failed"
    return {"problem_id": problem.id, "outcome": outcome, "tests": len(problem.tests), "solutions": solutions}


def run_check(cfg: CheckConfig, show_progress: bool = True) -> CheckSummary:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    problems = load_problems(cfg.data).require_problems()
    out = Path(cfg.output.path)
    settings = {
        "data": cfg.data.model_dump(),
        "limits": cfg.sandbox.limits.model_dump(),
        "stdout_mode": cfg.sandbox.stdout_mode,
        "max_solutions": cfg.max_solutions,
    }
    done = prepare_output(out, settings, "sandbox check")
    todo = [p for p in problems if p.id not in done]
    summary = CheckSummary(problems=len(todo), resumed=len(problems) - len(todo))
    if summary.resumed:
        asked = {p.id for p in problems}
        with out.open(encoding="utf-8") as f:
            records = (json.loads(line) for line in f if line.strip())
            summary.outcomes.update(r["outcome"] for r in records if r["problem_id"] in asked)
    start = time.perf_counter()
    progress = Progress(
        TextColumn("check"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        disable=not show_progress,
    )
    if todo:
        with open_sandbox(cfg.sandbox) as box, progress, out.open("a", encoding="utf-8") as f:
            task = progress.add_task("check", total=len(todo), status="")
            for i in range(0, len(todo), cfg.problems_per_batch):
                chunk = todo[i : i + cfg.problems_per_batch]
                batch = [(p.runnable(s), p.tests) for p in chunk for s in p.solutions[: cfg.max_solutions]]
                results = iter(box.run_batch(batch))
                for problem in chunk:
                    own = [next(results) for _ in problem.solutions[: cfg.max_solutions]]
                    record = check_record(problem, own)
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")
                    summary.outcomes[record["outcome"]] += 1
                    for result in own:
                        summary.verdicts.update(t.verdict.value for t in result.tests)
                        summary.tests_run += len(result.tests)
                f.flush()
                rate = summary.tests_run / max(time.perf_counter() - start, 1e-9)
                progress.update(
                    task, advance=len(chunk), status=f"{summary.outcomes['passed']} pass · {rate:.0f} tests/s"
                )
    summary.seconds = time.perf_counter() - start
    if cfg.output.passing:
        summary.passing_written = write_passing(out, problems, Path(cfg.output.passing))
    return summary


def write_passing(verdicts: Path, problems: list[Problem], out: Path) -> int:
    """Write the problems whose reference passed (from every record, resumed ones included)."""
    passing: dict[str, list[int]] = {}
    with verdicts.open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record["outcome"] == "passed":
                keep = [i for i, s in enumerate(record["solutions"]) if s["verdict"] == "passed"]
                passing[record["problem_id"]] = keep
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    written = 0
    with tmp.open("w", encoding="utf-8") as f:
        for problem in problems:
            if problem.id in passing:
                row = problem.to_dict()
                row["solutions"] = [problem.solutions[i] for i in passing[problem.id]]
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
    tmp.replace(out)
    return written
