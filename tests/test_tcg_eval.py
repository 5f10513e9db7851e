"""TCG evaluation on hand-written generations: every metric matches a value computed by hand.

Two problems with references and dataset tests; hand-written generated suites (valid, invalid,
duplicate and broken blocks); hand-written wrong programs standing in for the mutants, so that which
of them are known-wrong, and which the generated tests reject, is known in advance.
"""

from __future__ import annotations

import json

import pytest

from coder_rl.data import Problem
from coder_rl.errors import UserError
from coder_rl.execution import LimitsSection, SandboxConfig
from sandbox import CallCase, Limits, Sandbox, StdioCase, case_to_dict
from tcg import evaluate
from tcg.evaluate import EvalConfig, ProblemScores, metrics, run_tcg_eval
from tcg.format import parse_cases
from tcg.mutate import Mutant
from tcg.validate import validate

ADD = Problem(
    id="hand/add",
    question="Print the sum of two integers.",
    tests=[StdioCase("1 2\n", "3\n"), StdioCase("5 5\n", "10\n"), StdioCase("0 7\n", "7\n")],
    solutions=["a, b = map(int, input().split())\nprint(a + b)\n"],
)
INC = Problem(
    id="hand/inc",
    question="Return x + 1.",
    tests=[CallCase("inc", [1], 2), CallCase("inc", [5], 6)],
    solutions=["def inc(x):\n    return x + 1\n"],
)
GENERATED = {
    "hand/add": [
        # valid; the same input again (valid, not distinct); a wrong output; a block cut off
        "<test>\n<input>\n2 3\n</input>\n<output>\n5\n</output>\n</test>\n"
        "<test>\n<input>\n2 3\n</input>\n<output>\n5\n</output>\n</test>\n"
        "<test>\n<input>\n10 1\n</input>\n<output>\n12\n</output>\n</test>\n",
        "<test>\n<input>\n4 4\n",
    ],
    "hand/inc": [
        # valid; the same input with the answer in a one-element list (not the answer); a call to another function
        "<test>\n<call>inc</call>\n<args>[3]</args>\n<expected>4</expected>\n</test>\n"
        "<test>\n<call>inc</call>\n<args>[3]</args>\n<expected>[4]</expected>\n</test>\n"
        "<test>\n<call>dec</call>\n<args>[3]</args>\n<expected>2</expected>\n</test>\n",
    ],
}
WRONG = {
    ADD.solutions[0]: [
        "a, b = map(int, input().split())\nprint(a * b)\n",  # fails 1 2; rejected by the valid 2 3
        "a, b = map(int, input().split())\nprint(a + b if a else 0)\n",  # fails 0 7 only: not rejected
        "a, b = map(int, input().split())\nprint(b + a)\n",  # equivalent: not known-wrong
    ],
    INC.solutions[0]: ["def inc(x):\n    return x - 1\n"],  # known-wrong, rejected
}
EXPECTED = {
    "pass_rate": 3 / 5,  # the 12-for-10-1 test and the [4]-for-3 test fail the reference
    "parse_rate": 5 / 7,  # the cut-off block and the call to dec are dropped
    "distinct_input_rate": 3 / 5,  # add: "2 3", "10 1"; inc: [3]
    "discriminative_power": 2 / 3,  # known-wrong: a*b, the a=0 special case, x-1; rejected: a*b, x-1
}


def write_inputs(tmp_path):
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in (ADD, INC)))
    generations = tmp_path / "generations.jsonl"
    lines = []
    for problem in (ADD, INC):
        samples = []
        for text in GENERATED[problem.id]:
            parsed = parse_cases(text, problem.fn_name)
            samples.append(
                {
                    "text": text,
                    "tests": [case_to_dict(c) for c in parsed.cases],
                    "dropped": dict(parsed.errors),
                    "num_tokens": 0,
                }
            )
        lines.append(json.dumps({"problem_id": problem.id, "samples": samples}))
    generations.write_text("\n".join(lines) + "\n")
    return problems, generations


def test_metrics_match_hand_computed_values(tmp_path, monkeypatch):
    monkeypatch.setattr(
        evaluate, "mutants", lambda source, limit, seed: [Mutant("hand", 1, m) for m in WRONG[source]]
    )
    problems, generations = write_inputs(tmp_path)
    cfg = EvalConfig(
        data={"dataset": "jsonl", "path": str(problems)},
        sandbox=SandboxConfig(workers=2, limits=LimitsSection(time_s=2)),
        generations=str(generations),
        output={"path": str(tmp_path / "eval.json")},
    )
    report = run_tcg_eval(cfg)
    for name, value in EXPECTED.items():
        assert report["metrics"][name] == pytest.approx(value), name
    per_problem = {p["problem_id"]: p for p in report["problems"]}
    assert per_problem["hand/add"] == {
        "problem_id": "hand/add", "blocks": 4, "parsed": 3, "distinct_inputs": 2, "valid": 2, "known_wrong": 2, "rejected": 1,
    }  # fmt: skip
    assert per_problem["hand/inc"] == {
        "problem_id": "hand/inc", "blocks": 3, "parsed": 2, "distinct_inputs": 1, "valid": 1, "known_wrong": 1, "rejected": 1,
    }  # fmt: skip
    assert json.loads((tmp_path / "eval.json").read_text())["metrics"] == report["metrics"]


def test_metrics_of_nothing_are_zero_not_a_crash():
    empty = ProblemScores("p", blocks=0, parsed=0, distinct_inputs=0, valid=0, known_wrong=0, rejected=0)
    values = metrics([empty])
    assert values["pass_rate"] == values["parse_rate"] == values["discriminative_power"] == 0.0


def test_validation_takes_the_majority_and_leaves_ties_undecided():

    twice = "print(2 * int(input()))"
    plus_two = "print(int(input()) + 2)"
    problem = Problem(
        id="p", question="q", tests=[StdioCase("1\n", "2\n")], solutions=[twice, plus_two, twice]
    )
    cases = [
        StdioCase("2\n", "4\n"),
        StdioCase("3\n", "6\n"),
        StdioCase("3\n", "5\n"),
        StdioCase("3\n", "7\n"),
    ]
    # A fail-fast sandbox must not change the votes: every test runs for every reference.
    with Sandbox(workers=1, limits=Limits(time_s=2), fail_fast=True) as box:
        (all_three,) = validate(box, [(problem, cases)])
        (two,) = validate(box, [(Problem(**{**vars(problem), "solutions": [twice, plus_two]}), cases)])
        assert validate(box, [(Problem(id="n", question="q", tests=problem.tests), cases)]) == [None]
    assert all_three == [True, True, False, False]  # 4 = 2*2 = 2+2; "6" has 2 of 3 votes, "5" 1 of 3
    assert two == [True, None, None, False]  # the two references disagree on 3: undecided


def test_a_reference_failing_its_own_tests_is_not_mutated(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, "mutants", lambda source, limit, seed: [Mutant("hand", 1, "print(0)")])
    wrong_reference = Problem(**{**vars(ADD), "solutions": ["print(3)"]})  # fails 5 5 and 0 7
    with Sandbox(workers=1) as box:
        scores = evaluate.score_problems(box, [wrong_reference], [[StdioCase("1 2\n", "3\n")]], [1])
    assert scores[0].known_wrong == 0  # its "mutants" cannot be told apart from a wrong reference


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"problem_id": "hand/add", "samples": [\n{"problem_id": "hand/inc", "samples": []}\n',
            ":1: not a record",
        ),
        ('{"problem_id": "hand/add"}\n', ":1: not a record"),
        ('{"problem_id": "other", "samples": []}\n', "no record of"),
    ],
)
def test_bad_generation_files_are_one_line_errors(tmp_path, content, message):
    problems, _ = write_inputs(tmp_path)
    generations = tmp_path / "bad.jsonl"
    generations.write_text(content)
    cfg = EvalConfig(data={"dataset": "jsonl", "path": str(problems)}, generations=str(generations))
    with pytest.raises(UserError, match=message):
        run_tcg_eval(cfg)


def test_a_torn_last_line_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, "mutants", lambda source, limit, seed: [])
    problems, generations = write_inputs(tmp_path)
    with generations.open("a") as f:
        f.write('{"problem_id": "hand/add", "samp')  # a killed generate run
    cfg = EvalConfig(
        data={"dataset": "jsonl", "path": str(problems)},
        generations=str(generations),
        output={"path": str(tmp_path / "e.json")},
    )
    assert run_tcg_eval(cfg)["metrics"]["problems"] == 2
