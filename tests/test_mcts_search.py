"""The search loop with a scripted policy (a deterministic fake, for tests only) and the real sandbox."""

from __future__ import annotations

import pytest

from coder_rl.data import Problem
from coder_rl.mcts.search import MCTSConfig, child_actions, search
from coder_rl.policy.base import SamplingParams
from pseudocode import Action
from tests.helpers import PROBLEM, ScriptedPolicy


def test_child_actions_follow_the_define_refine_generate_order():
    assert child_actions(0, 3, 5) == [Action.DEFINE] * 3
    assert child_actions(2, 3, 5) == [Action.REFINE, Action.REFINE, Action.GENERATE]
    assert child_actions(4, 3, 5) == [Action.GENERATE] * 3


@pytest.mark.parametrize("rule", ["uct", "puct"])
def test_the_search_finds_the_correct_path(local_box, rule):
    policy = ScriptedPolicy()
    (state,) = search(policy, local_box, [PROBLEM], MCTSConfig(rollouts=6, rule=rule), SamplingParams())
    assert state.solved
    solved = [n for n in state.tree.root.walk() if n.solved]
    assert all("double the number" in n.steps()[0].text for n in solved)
    assert all(n.code == "print(2 * int(input()))\n" for n in solved)
    # The first round already defines three plans and simulates one: the policy saw batched calls.
    assert policy.calls[0] == 3
    root = state.tree.root
    best = max(root.children, key=lambda c: c.value)
    assert best.step.text == "plan: double the number" and best.value == 1.0


def test_early_stop_and_budget(local_box):
    cfg = MCTSConfig(rollouts=4, early_stop=False)
    (state,) = search(ScriptedPolicy(), local_box, [PROBLEM], cfg, SamplingParams())
    assert state.rollouts == 4 and state.tree.root.visits >= 4
    (stopped,) = search(ScriptedPolicy(), local_box, [PROBLEM], MCTSConfig(rollouts=50), SamplingParams())
    assert stopped.solved and stopped.rollouts < 50


def test_many_problems_share_each_policy_call(local_box):
    policy = ScriptedPolicy()
    problems = [Problem(**{**vars(PROBLEM), "id": f"double-{i}"}) for i in range(4)]
    states = search(policy, local_box, problems, MCTSConfig(rollouts=2, early_stop=False), SamplingParams())
    assert len(states) == 4 and all(s.rollouts == 2 for s in states)
    assert policy.calls[0] == 4 * 3  # round one: every problem's three define samples in one call
