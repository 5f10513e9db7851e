"""`coder-rl tcg eval`: how good are generated tests, on held-out problems?

- pass rate (o1-Coder's metric): the share of generated tests that the reference solution passes;
- parse rate: the share of test blocks the parser could read; distinct inputs: the share of parsed
  tests whose input no earlier test of the same problem had;
- discriminative power: the share of known-wrong programs that the valid generated tests reject.
  Known-wrong programs are mutants of the references (tcg.mutate) that fail at least one of the
  dataset's own tests; a mutant that passes them all may be equivalent and is not counted. A suite
  the reference passes but no wrong program fails is worthless as a reward; the paper does not
  measure this.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.load import DataConfig, load_problems
from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from coder_rl.execution import SandboxConfig, open_sandbox
from sandbox import Sandbox, Verdict
from tcg.data import input_key
from tcg.format import TestCase
from tcg.generate import sample_cases
from tcg.mutate import mutants
from tcg.validate import validate


class EvalOutputSection(Section):
    path: str = Field("runs/tcg/eval.json", description="the report (JSON)")


class EvalConfig(Section):
    data: DataConfig = DataConfig()
    sandbox: SandboxConfig = SandboxConfig()
    generations: str = Field("runs/tcg/generations.jsonl", description="output of `coder-rl tcg generate`")
    output: EvalOutputSection = EvalOutputSection()
    max_references: int = Field(3, ge=1)
    mutants_per_reference: int = Field(8, ge=1)
    seed: int = 0


@dataclass
class ProblemScores:
    """The counts behind every metric, for one problem."""

    problem_id: str
    blocks: int  # test blocks in all samples, parsed or not
    parsed: int
    distinct_inputs: int
    valid: int  # parsed tests the reference passes
    known_wrong: int  # mutants failing at least one dataset test
    rejected: int  # of those, failing at least one valid generated test


def metrics(scores: Sequence[ProblemScores]) -> dict[str, float]:
    """Micro-averages over all problems (each test, each mutant counts once)."""

    def ratio(part: str, whole: str) -> float:
        total = sum(getattr(s, whole) for s in scores)
        return sum(getattr(s, part) for s in scores) / total if total else 0.0

    return {
        "pass_rate": ratio("valid", "parsed"),
        "parse_rate": ratio("parsed", "blocks"),
        "distinct_input_rate": ratio("distinct_inputs", "parsed"),
        "discriminative_power": ratio("rejected", "known_wrong"),
        "problems": float(len(scores)),
        "tests_parsed": float(sum(s.parsed for s in scores)),
        "known_wrong_programs": float(sum(s.known_wrong for s in scores)),
    }


def score_problems(
    box: Sandbox,
    problems: Sequence[Problem],
    generated: Sequence[list[TestCase]],
    blocks: Sequence[int],
    max_references: int = 3,
    mutants_per_reference: int = 8,
    seed: int = 0,
) -> list[ProblemScores]:
    """Run references and mutants on the generated tests of each problem (parsed, in `generated`).
    Every problem needs at least one reference solution."""
    validity = validate(box, list(zip(problems, generated, strict=True)), max_references)
    # Only references that pass their own dataset tests are mutated: a mutant of a wrong reference
    # may fail those tests while behaving exactly like the reference.
    references = [p.solutions[:max_references] for p in problems]
    own = iter(
        box.run_batch(
            [(p.runnable(r), p.tests) for p, rs in zip(problems, references, strict=True) for r in rs]
        )
    )
    sound = [[r for r in rs if next(own).verdict is Verdict.PASSED] for rs in references]
    wrong = [[m.source for r in rs for m in mutants(r, mutants_per_reference, seed)] for rs in sound]
    # Known-wrong: a mutant that fails the dataset's own tests. Fail-fast: one failure decides, and a
    # mutant that loops would otherwise time out on every test.
    on_dataset = iter(
        box.run_batch(
            [(p.runnable(m), p.tests) for p, ms in zip(problems, wrong, strict=True) for m in ms],
            fail_fast=True,
        )
    )
    known = [[m for m in ms if next(on_dataset).verdict is not Verdict.PASSED] for ms in wrong]
    valid_tests = [
        [case for case, ok in zip(cases, valid or [], strict=False) if ok is True]
        for cases, valid in zip(generated, validity, strict=True)
    ]
    on_generated = iter(
        box.run_batch(
            [
                (p.runnable(m), tests)
                for p, ms, tests in zip(problems, known, valid_tests, strict=True)
                if tests
                for m in ms
            ],
            fail_fast=True,
        )
    )
    scores = []
    for problem, cases, count, ms, tests in zip(problems, generated, blocks, known, valid_tests, strict=True):
        rejected = sum(next(on_generated).verdict is not Verdict.PASSED for _ in ms) if tests else 0
        scores.append(
            ProblemScores(
                problem_id=problem.id,
                blocks=count,
                parsed=len(cases),
                distinct_inputs=len({input_key(case) for case in cases}),
                valid=len(tests),
                known_wrong=len(ms),
                rejected=rejected,
            )
        )
    return scores


def read_generations(path: Path) -> Iterator[tuple[str, list[TestCase], int]]:
    """(problem id, parsed tests of all samples, blocks) per record of a `tcg generate` file. A torn
    last line (a killed run) is ignored; any other bad line is a one-line error naming it."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise UserError(f"no generations file {path}: run `coder-rl tcg generate` first") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            samples = record["samples"]
            cases = [case for sample in samples for case in sample_cases(sample)]
            blocks = sum(len(s["tests"]) + sum(s["dropped"].values()) for s in samples)
            yield record["problem_id"], cases, blocks
        except (ValueError, KeyError, TypeError, AttributeError):
            if number == len(lines):  # no newline after it: a line the generate run did not finish
                continue
            raise UserError(f"{path}:{number}: not a record written by `coder-rl tcg generate`") from None


def run_tcg_eval(cfg: EvalConfig) -> dict[str, Any]:
    problems = {p.id: p for p in load_problems(cfg.data).require_problems()}
    chosen, generated, blocks = [], [], []
    unmatched = no_reference = 0
    for problem_id, cases, count in read_generations(Path(cfg.generations)):
        problem = problems.get(problem_id)
        if problem is None:
            unmatched += 1
        elif not problem.solutions:  # nothing to judge its tests by
            no_reference += 1
        else:
            chosen.append(problem)
            generated.append(cases)
            blocks.append(count)
    if not chosen:
        raise UserError(
            f"no record of {cfg.generations} is for a problem of the data selected ({unmatched} for other "
            f"problems, {no_reference} without a reference): check data.* against the generate run"
        )
    with open_sandbox(cfg.sandbox) as box:
        scores = score_problems(
            box, chosen, generated, blocks, cfg.max_references, cfg.mutants_per_reference, cfg.seed
        )
    report = {
        "metrics": metrics(scores),
        "generations": cfg.generations,
        "records_for_other_problems": unmatched,
        "problems_without_reference": no_reference,
        "problems": [asdict(s) for s in scores],
    }
    out = Path(cfg.output.path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    return report
