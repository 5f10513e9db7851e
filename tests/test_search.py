"""Inference-time search: the generation methods with a scripted policy (a deterministic fake, for tests
only; the command always samples a real model), selection on real sandbox runs, the CLI's errors, and
`coder-rl search` end to end with the tiny model."""

from __future__ import annotations

import json
import re

import pytest

from coder_rl.data import Problem
from coder_rl.data.load import DataConfig, load_problems
from coder_rl.execution import LimitsSection, SandboxConfig
from coder_rl.mcts.search import MCTSConfig
from coder_rl.policy.base import Completion, SamplingParams
from coder_rl.search.candidates import (
    BeamConfig,
    Generation,
    TokenMeter,
    beam_search,
    best_of_n,
    mcts,
    merge,
)
from coder_rl.search.run import Judge
from coder_rl.verify import Candidate, Verifier, VerifierConfig
from pseudocode import Action, Step, step_prompt
from pseudocode.prompts import problem_prompt
from sandbox import StdioCase
from tests.helpers import PROBLEM, ScriptedPolicy, assert_one_line_error, run

OTHER = Problem(id="triple", question="Print three times the integer.", tests=[StdioCase("2\n", "6\n")])


class CountingScript:
    """A scripted policy (a deterministic fake, for tests only): sample k of any call writes
    "<action> <k>", k counting up over the whole run, and a generate step prints k. Every completion
    costs 3 tokens. Records (prompts, n) of each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.counter = 0

    def generate(self, prompts, params):
        self.calls.append((len(prompts), params.n))
        return [[self._one(prompt) for _ in range(params.n)] for prompt in prompts]

    def _one(self, prompt: str) -> Completion:
        self.counter += 1
        action = re.search(r'<step action="(\w+)">\n$', prompt).group(1)
        text = (
            f"```python\nprint({self.counter})\n```" if action == "generate" else f"{action} {self.counter}"
        )
        return Completion(text + "\n</step>", num_tokens=3, finish_reason="stop")

    def close(self) -> None:
        pass


def by_number(problem, trajectories):
    """A fake PRM: a step's score is the number it holds, over 100 (the later the sample, the better)."""
    return [[int(step.text.split()[-1]) / 100 for step in steps] for steps in trajectories]


def test_beam_search_expands_the_root_by_n_then_each_beam_by_n_over_w():
    policy = CountingScript()
    (out,) = beam_search(policy, by_number, [PROBLEM], 4, BeamConfig(width=2, max_depth=3), SamplingParams())
    assert policy.calls == [(1, 4), (2, 2), (2, 2)]
    # define 1..4 -> keep 4 and 3; refine 5, 6 (after 4) and 7, 8 (after 3) -> keep 8 and 7, both after 3
    assert [[s.text for s in c.steps[:2]] for c in out.candidates] == [
        ["define 3", "refine 8"], ["define 3", "refine 8"], ["define 3", "refine 7"], ["define 3", "refine 7"],
    ]  # fmt: skip
    assert [c.code for c in out.candidates] == [f"print({k})\n" for k in (9, 10, 11, 12)]
    assert out.tokens == 12 * 3


def test_beam_search_batches_every_problem_and_handles_a_budget_below_the_width():
    policy = CountingScript()
    outs = beam_search(policy, by_number, [PROBLEM, OTHER], 4, BeamConfig(width=2), SamplingParams())
    assert policy.calls == [(2, 4), (4, 2), (4, 2)]  # one call per depth for both problems
    assert [len(o.candidates) for o in outs] == [4, 4] and [o.tokens for o in outs] == [36, 36]
    policy = CountingScript()
    (out,) = beam_search(policy, by_number, [PROBLEM], 1, BeamConfig(width=3, max_depth=4), SamplingParams())
    assert policy.calls == [(1, 1)] * 4 and len(out.candidates) == 1
    assert [s.action for s in out.candidates[0].steps] == [
        Action.DEFINE,
        Action.REFINE,
        Action.REFINE,
        Action.GENERATE,
    ]


class WholeTrajectory:
    """A scripted policy (a fake, for tests only) for the RL prompt form: every other sample writes a
    plan then code, the rest write no code at all."""

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, prompts, params):
        self.calls += 1
        good = 'plan\n</step>\n<step action="generate">\n```python\nprint(2 * int(input()))\n```\n</step>\n'
        return [
            [Completion(good if k % 2 == 0 else "I do not know", 10 + k, "stop") for k in range(params.n)]
            for _ in prompts
        ]

    def close(self) -> None:
        pass


def test_best_of_n_samples_once_and_prefixes_are_smaller_budgets():
    policy = WholeTrajectory()
    (samples,) = best_of_n(policy, [PROBLEM], 4, SamplingParams())
    assert policy.calls == 1 and len(samples) == 4
    one, three = merge(samples[:1]), merge(samples[:3])
    assert (len(one.candidates), one.tokens) == (1, 10)
    assert (len(three.candidates), three.tokens) == (2, 10 + 11 + 12)  # the second sample wrote no code
    assert one.candidates[0].code == "print(2 * int(input()))\n"
    assert [s.action for s in one.candidates[0].steps] == [Action.DEFINE, Action.GENERATE]


def test_with_tests_keeps_the_prompt_of_a_call_based_problem():
    problems = load_problems(DataConfig(dataset="sample")).problems
    called = next(p for p in problems if p.fn_name)
    hidden = called.with_tests([])
    assert hidden.tests == [] and called.tests  # the original is untouched
    assert step_prompt(hidden, [], Action.DEFINE) == step_prompt(called, [], Action.DEFINE)


def test_the_token_meter_charges_each_problem_for_its_own_prompts():
    meter = TokenMeter(CountingScript(), [PROBLEM, OTHER])
    prompts = [step_prompt(OTHER, [], Action.DEFINE), step_prompt(PROBLEM, [], Action.DEFINE)] * 2
    meter.generate(
        prompts + [step_prompt(OTHER, [Step(Action.DEFINE, "x")], Action.REFINE)], SamplingParams(n=2)
    )
    assert meter.tokens == [2 * 2 * 3, 3 * 2 * 3]
    assert problem_prompt(PROBLEM) in prompts[1]


def test_mcts_is_rewarded_on_the_selection_tests_never_the_hidden_ones(local_box):
    cfg = MCTSConfig(rollouts=99, children=3, max_depth=3)
    runs = list(mcts(ScriptedPolicy(), local_box, [PROBLEM], [[]], [1, 2, 4, 8], cfg, SamplingParams()))
    assert [budget for budget, _ in runs] == [1, 2, 4, 8]
    counts = [len(g.candidates) for _, (g,) in runs]
    tokens = [g.tokens for _, (g,) in runs]
    assert counts == sorted(counts) and tokens == sorted(tokens) and tokens[0] < tokens[-1]  # one search
    blind = runs[-1][1][0]
    assert "print(2 * int(input()))\n" in {c.code for c in blind.candidates}  # the right plan was found ...
    # ... yet nothing rewarded it (the hidden tests stayed hidden): the search spent its whole budget,
    # where the same search given those tests stops once a program passes them.
    [(_, [told])] = list(
        mcts(ScriptedPolicy(), local_box, [PROBLEM], [PROBLEM.tests], [8], cfg, SamplingParams())
    )
    assert told.tokens < blind.tokens


@pytest.fixture(scope="module")
def sandbox_verifier():
    limits = LimitsSection(time_s=1.0, wall_s=3.0, memory_mb=256)
    verifier = Verifier(VerifierConfig(sandbox=SandboxConfig(workers=2, limits=limits)))
    yield verifier
    verifier.close()


def test_judge_majority_vote_against_codet_on_real_runs(sandbox_verifier):
    """Two right programs and three that agree on a wrong answer: the vote follows the crowd, CodeT the
    crowd that passes the (generated) selection test."""
    programs = [
        "print(2 * int(input()))",
        "n = int(input())\nprint(n + n)",
        "print(int(input()) + 1)",
        "print(1 + int(input()))",
        "x = int(input())\nprint(x + 1)",
    ]
    selection = [StdioCase("3\n", "6\n")]
    judge = Judge(sandbox_verifier, [PROBLEM], [selection])
    generation = Generation([Candidate(code) for code in programs], tokens=50)
    record = judge.record(0, "best_of_n", 5, generation, ["majority_vote", "codet"])
    assert record["oracle"] and record["candidates"] == 5 and record["tokens"] == 50
    assert record["selected"] == {
        "majority_vote": {"index": 2, "passed": False},
        "codet": {"index": 0, "passed": True},
    }
    none = judge.record(0, "best_of_n", 1, Generation(), ["majority_vote"])
    assert none["selected"] == {"majority_vote": {"index": None, "passed": False}} and not none["oracle"]


def test_beam_or_prm_reductions_without_a_prm_are_one_line_errors(tmp_path):
    result = run("search", "--set", "methods=[beam]", "--set", "aggregations=[codet]", "--out", str(tmp_path))
    assert_one_line_error(result, "method beam needs a PRM: set verifier.prm")
    result = run(
        "search", "--set", "methods=[best_of_n]", "--set", "aggregations=[codet, prm_min_max, orm_vote]"
    )
    assert_one_line_error(result, "aggregation prm_min_max, aggregation orm_vote need a PRM")
    assert_one_line_error(run("search", "--set", "beam.widht=2"), "config error: beam.widht: unknown key")
    missing = run("search", "--set", f"verifier.prm={tmp_path / 'nope'}")
    assert_one_line_error(missing, "verifier.prm: ")
    assert_one_line_error(run("search", "--set", "budgets=[0]"), "config error: budgets.0:")


@pytest.fixture(scope="module")
def prm_dir(tiny_prm_dir):
    return tiny_prm_dir


@pytest.mark.slow
def test_search_command_end_to_end(tiny_model_dir, prm_dir, tmp_path):
    out = tmp_path / "search"
    settings = {
        "policy.model": tiny_model_dir, "policy.device": "cpu", "verifier.prm": prm_dir,
        "verifier.tcg_model": tiny_model_dir, "verifier.tcg_samples": 1, "verifier.tcg_max_tokens": 48,
        "verifier.device": "cpu", "verifier.sandbox.workers": 2, "verifier.sandbox.limits.time_s": 1,
        "budgets": "[2, 1]", "sampling.max_tokens": 48, "sampling.step_max_tokens": 24,
        "mcts.children": 2, "mcts.max_depth": 3, "beam.width": 2, "generated_tests": 2,
    }  # fmt: skip
    args = ["search", "--dataset", "sample", "--limit", "2", "--out", str(out)]
    args += [item for key, value in settings.items() for item in ("--set", f"{key}={value}")]
    first = run(*args)
    assert first.returncode == 0, first.stderr
    assert "prm_last_vote" in first.stdout and "wrote" in first.stdout
    results = json.loads((out / "results.json").read_text())
    methods, aggregations = ["best_of_n", "beam", "mcts"], results["aggregations"]
    assert results["methods"] == methods and results["budgets"] == [1, 2] and len(aggregations) == 8
    assert results["problems"] == 2 and results["selection_tests"] == "generated"
    assert len(results["table"]) == 3 * 2 * (8 + 1)
    assert all(0.0 <= row["accuracy"] <= 1.0 and row["problems"] == 2 for row in results["table"])
    tokens = {(r["method"], r["budget"]): r["mean_tokens"] for r in results["table"]}
    for method in methods:
        assert 0 < tokens[(method, 1)] <= tokens[(method, 2)], method
    assert tokens[("best_of_n", 1)] < tokens[("best_of_n", 2)]
    for record in results["per_problem"]:
        assert [(r["method"], r["budget"]) for r in record["runs"]] == [
            (m, b) for m in methods for b in (1, 2)
        ]
        for r in record["runs"]:
            assert set(r["selected"]) == set(aggregations)
            for pick in r["selected"].values():
                assert (pick["index"] is None) == (r["candidates"] == 0)
                assert pick["index"] is None or 0 <= pick["index"] < r["candidates"]
                assert not pick["passed"] or r["oracle"]
    assert (out / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A rerun finds every problem done: it loads no model and writes the same table.
    again = run(*args)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "results.json").read_text())["table"] == results["table"]
