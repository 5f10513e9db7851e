"""The search tree on a small hand-built example: backed-up values, selection and labels, by hand."""

from __future__ import annotations

import math

import pytest

from coder_rl.mcts import hard_label, priors, select
from coder_rl.mcts.tree import node_record, score
from pseudocode import Action, Step
from tests.helpers import small_tree


def test_backed_up_values_are_means_along_the_path():
    tree, a, b, a1, a2, b1 = small_tree()
    assert [(n.visits, n.value) for n in (tree.root, a, b, a1, a2, b1)] == [
        (3, 0.5), (2, 0.5), (1, 0.5), (1, 1.0), (1, 0.0), (1, 0.5),
    ]  # fmt: skip
    assert [n.depth for n in (tree.root, a, a1)] == [0, 1, 2]
    assert a1.steps() == [Step(Action.DEFINE, "a"), Step(Action.GENERATE, "print(1)")]


def test_uct_selection_by_hand():
    tree, a, b, *_ = small_tree()
    # root N=3, c=2: A = 0.5 + 2·sqrt(ln3/2) = 1.982; B = 0.5 + 2·sqrt(ln3/1) = 2.596
    assert score(a, 3, 2.0, "uct") == pytest.approx(0.5 + 2 * math.sqrt(math.log(3) / 2))
    assert score(b, 3, 2.0, "uct") == pytest.approx(0.5 + 2 * math.sqrt(math.log(3)))
    assert select(tree.root, 2.0, "uct") is b.children[0]  # B, then its only child, a terminal
    c = tree.add_child(tree.root, Step(Action.DEFINE, "c"))
    assert select(tree.root, 2.0, "uct") is c  # an unvisited child comes first


def test_puct_selection_by_hand():
    tree, a, b, a1, a2, _ = small_tree()
    # A = 0.5 + 2·0.75·sqrt(3)/3 = 1.366 beats B = 0.5 + 2·0.25·sqrt(3)/2 = 0.933; then
    # A1 = 1 + 2·0.5·sqrt(2)/2 = 1.707 beats A2 = 0 + 0.707
    assert score(a, 3, 2.0, "puct") == pytest.approx(0.5 + 1.5 * math.sqrt(3) / 3)
    assert score(b, 3, 2.0, "puct") == pytest.approx(0.5 + 0.5 * math.sqrt(3) / 2)
    assert select(tree.root, 2.0, "puct") is a1


def test_labels_by_hand():
    tree, a, b, a1, a2, b1 = small_tree()
    nodes = (tree.root, a, b, a1, a2, b1)
    assert [hard_label(n) for n in nodes] == [True, True, False, True, False, False]  # a solution below?
    assert [hard_label(n, 0.5, "threshold") for n in nodes] == [True, True, True, True, False, True]


def test_priors_from_logprobs():
    assert priors([-1.0, -2.0]) == pytest.approx([1 / (1 + math.exp(-1)), math.exp(-1) / (1 + math.exp(-1))])
    assert priors([None, -1.0]) == [0.5, 0.5]  # a backend without logprobs: uniform
    assert priors([]) == []


def test_node_records_link_the_tree():
    tree, a, *_ = small_tree()
    records = [node_record(n) for n in tree.root.walk()]
    assert [r["id"] for r in records] == [0, 1, 3, 4, 2, 5]  # depth first
    assert records[1] == {
        "id": 1, "parent": 0, "depth": 1, "step": {"action": "define", "text": "a"}, "prior": 0.75,
        "visits": 2, "value": 0.5, "terminal": False, "reward": None, "code": None,
    }  # fmt: skip
