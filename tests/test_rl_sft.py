"""`coder-rl rl sft`: the policy warm start on the search's correct paths."""

from __future__ import annotations

import json

import pytest

from coder_rl.data import Problem
from coder_rl.errors import UserError
from coder_rl.rl.sft import (
    PolicySFTConfig,
    outline,
    read_examples,
    reference_examples,
    run_policy_sft,
    trajectory_examples,
)
from coder_rl.trajectory import OPENING, next_step_prompt, policy_prompt, statement
from pseudocode import Action, Step, format_steps, step_prompt
from pseudocode.prompts import problem_prompt
from pseudocode.steps import step_open
from tests.helpers import assert_one_line_error, run


def test_warm_start_lowers_the_loss(tiny_model_dir, tmp_path):
    (tmp_path / "mcts" / "correct").mkdir(parents=True)
    (tmp_path / "mcts" / "manifest.json").write_text('{"settings": {}, "shards": []}')
    steps = [
        Step(Action.DEFINE, "double n"),
        Step(Action.GENERATE, "```python\nprint(2 * int(input()))\n```"),
    ]
    rows = [{"problem_id": f"p{i}", "prompt": f"### Problem\nDouble {i}.\n\n### Steps\n", "completion": format_steps(steps)}
            for i in range(8)]  # fmt: skip
    (tmp_path / "mcts" / "correct" / "00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = PolicySFTConfig(
        synthesized=str(tmp_path / "mcts"), model=str(tiny_model_dir), output_dir=str(tmp_path / "sft"), device="cpu",
        trainer={"max_steps": 10, "learning_rate": 3e-3, "per_device_train_batch_size": 8, "logging_steps": 1},
    )  # fmt: skip
    final, losses = run_policy_sft(cfg)
    assert losses[-1] < 0.7 * losses[0] and (final / "model.safetensors").exists()


def test_nothing_solved_is_one_line(tmp_path):
    assert_one_line_error(
        run("rl", "sft", "--synthesized", str(tmp_path)), "is not an `mcts synthesize` output"
    )
    (tmp_path / "manifest.json").write_text('{"settings": {}, "shards": []}')
    (tmp_path / "correct").mkdir()
    assert_one_line_error(run("rl", "sft", "--synthesized", str(tmp_path)), "the search solved nothing there")


def test_a_trajectory_becomes_the_prompts_that_rl_and_the_search_give():
    problem = Problem(id="p", question="Double n.", tests=[])
    stated = problem_prompt(problem)  # as exported trajectories hold the problem
    steps = [Step(Action.DEFINE, "double n"), Step(Action.REFINE, "read, multiply"),
             Step(Action.GENERATE, "```python\nprint(2 * int(input()))\n```")]  # fmt: skip
    text = format_steps(steps)
    examples = trajectory_examples(stated, text)
    # the whole trajectory after RL's prompt, which ends inside the first step's opening delimiter
    assert examples[0] == {"prompt": step_prompt(problem, [], Action.DEFINE), "completion": text[len(step_open(Action.DEFINE)):]}  # fmt: skip
    # then each later step after the prompt the tree search gives for it
    assert examples[1] == {"prompt": step_prompt(problem, steps[:1], Action.REFINE), "completion": "read, multiply\n</step>\n"}  # fmt: skip
    assert examples[2]["prompt"] == step_prompt(problem, steps[:2], Action.GENERATE)
    assert len(examples) == 3
    assert trajectory_examples(stated, text, per_step=False) == examples[:1]  # journeys: the whole trace only
    assert trajectory_examples(stated, "prose, no steps") == []


def test_reference_outline_names_the_programs_parts():
    code = "import sys\n\ndef solve(a, b):\n    return a + b\n\nclass Solution:\n    def twoSum(self, x):\n        pass\n\nprint(solve(1, 2))\n"
    assert (
        outline(code)
        == "FUNCTION solve(a, b)\nCLASS Solution: twoSum\nMAIN: read the input, compute the answer, print it"
    )
    assert outline("def f(x):\n    return x\n") == "FUNCTION f(x)"
    assert outline("def broken(:\n") == "MAIN: read the input, compute the answer, print it"


def test_references_use_the_datasets_steps_where_it_gives_them():
    """`metadata["reference_steps"]`, one entry per solution: the first solution's steps replace the
    outline and generate steps; the second, with none given, keeps them."""
    given = [
        {"action": "define", "text": "FUNCTION double(n)\nMAIN: read n, print double(n)"},
        {"action": "refine", "text": "double: return n + n"},
        {"action": "generate", "text": "```python\nprint(2 * int(input()))\n```"},
    ]
    problem = Problem(
        id="p", question="Double n.", tests=[], solutions=["print(2 * int(input()))", "print(int(input()) * 2)"],
        metadata={"reference_steps": [given, None]},
    )  # fmt: skip
    examples = reference_examples([problem], per_problem=2)
    steps = [Step.from_dict(s) for s in given]
    assert examples[:3] == [
        {"prompt": policy_prompt(problem), "completion": format_steps(steps)[len(OPENING) :]},
        {"prompt": next_step_prompt(problem, steps[:1], Action.REFINE), "completion": "double: return n + n\n</step>\n"},
        {"prompt": next_step_prompt(problem, steps[:2], Action.GENERATE), "completion": format_steps(steps[2:])[len(step_open(Action.GENERATE)) :]},
    ]  # fmt: skip
    outlined = [Step(Action.DEFINE, outline(problem.solutions[1])), Step(Action.GENERATE, "```python\nprint(int(input()) * 2)\n```")]  # fmt: skip
    assert examples[3:] == trajectory_examples(statement(problem), format_steps(outlined))
    assert len(examples) == 5
    for bad, message in [
        ([{"action": "plan", "text": "x"}], "is not a list of"),
        ([{"action": "define", "text": "x"}, {"action": "refine", "text": "  "}], "a step is empty"),
        ([{"action": "refine", "text": "x"}], "does not start with a define step"),
    ]:
        broken = Problem(
            id="q", question="Q", tests=[], solutions=["print(1)"], metadata={"reference_steps": [bad]}
        )
        with pytest.raises(UserError, match=message):
            reference_examples([broken], per_problem=1)


def test_references_cold_start_learns_the_samples_solutions(tiny_model_dir, tmp_path):
    cfg = PolicySFTConfig(
        source="references", data={"dataset": "sample", "limit": 2}, model=str(tiny_model_dir),
        output_dir=str(tmp_path / "sft"), device="cpu",
        trainer={"max_steps": 8, "learning_rate": 3e-3, "per_device_train_batch_size": 4, "logging_steps": 1},
    )  # fmt: skip
    examples = read_examples(cfg)
    assert len(examples) == 4  # two problems, one reference each: the whole trajectory and its generate step
    assert all("```python" in e["completion"] for e in examples)
    final, losses = run_policy_sft(cfg)
    assert losses[-1] < 0.7 * losses[0] and (final / "model.safetensors").exists()
