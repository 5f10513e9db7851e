"""The exports agree with the tree they come from (the hand-built tree of test_mcts_tree)."""

from __future__ import annotations

from coder_rl.data import Problem
from coder_rl.mcts.exports import correct_paths, journey, step_preferences, trajectories
from pseudocode import parse_steps
from pseudocode.prompts import problem_prompt
from sandbox import StdioCase
from tests.helpers import small_tree

PROBLEM = Problem(id="p", question="Print 1.", tests=[StdioCase("", "1\n")], solutions=["print(1)"])


def test_trajectories_carry_each_steps_value_and_label():
    tree, a, b, a1, a2, b1 = small_tree()
    a1.code = "print(1)\n"
    records = trajectories(PROBLEM, tree.root)
    assert [r["reward"] for r in records] == [1.0, 0.0, 0.5]  # one per program, depth first
    first = records[0]
    assert first["prompt"] == problem_prompt(PROBLEM) and first["code"] == "print(1)\n"
    assert first["steps"] == [{"action": "define", "text": "a"}, {"action": "generate", "text": "print(1)"}]
    assert first["values"] == [0.5, 1.0] and first["labels"] == [True, True]
    assert records[1]["values"] == [0.5, 0.0] and records[1]["labels"] == [True, False]
    assert records[2]["values"] == [0.5, 0.5] and records[2]["labels"] == [False, False]
    by_threshold = trajectories(PROBLEM, tree.root, threshold=0.5, rule="threshold")
    assert [r["labels"] for r in by_threshold] == [[True, True], [True, False], [True, True]]


def test_correct_paths_and_preferences():
    tree, a, b, a1, a2, b1 = small_tree()
    (path,) = correct_paths(PROBLEM, tree.root)
    assert [s.text for s in parse_steps(path["completion"]).steps] == ["a", "print(1)"]
    pairs = step_preferences(PROBLEM, tree.root, gap=0.5)
    # Only A1 (1.0) over A2 (0.0) clears the gap; A and B are both 0.5.
    assert len(pairs) == 1 and pairs[0]["value_gap"] == 1.0
    assert "print(1)" in pairs[0]["chosen"] and "print(2)" in pairs[0]["rejected"]
    assert pairs[0]["prompt"].endswith('<step action="define">\na\n</step>\n')


def test_journey_visits_a_dead_end_then_the_correct_path():
    tree, a, b, a1, a2, b1 = small_tree()
    trace = journey(PROBLEM, tree.root)
    text = trace["completion"]
    # At the root B is the dead end (its program passes 50%); under A, A2 (0%).
    assert text.index("b") < text.index("50% of the tests") < text.index("Back to the start")
    assert "0% of the tests. Back to step 1." in text
    assert text.rstrip().endswith("print(1)\n</step>")
    steps = parse_steps(text).steps
    assert [s.text for s in steps] == ["b", "print(3)", "a", "print(2)", "print(1)"]
    unsolved = small_tree()
    unsolved[3].reward = 0.9  # no program passes every test now
    assert journey(PROBLEM, unsolved[0].root) is None
