"""Selection aggregations on hand-built inputs, against answers worked out by hand (no models, no sandbox)."""

from __future__ import annotations

import typing

import pytest

from coder_rl.search.run import ALL_AGGREGATIONS, search_table, summarize
from coder_rl.search.select import (
    AGGREGATIONS,
    NEEDS_PRM,
    AggregationName,
    Evidence,
    argmax,
    behaviour,
    clusters,
    codet,
    majority_vote,
    orm_max,
    orm_vote,
    pick,
    prm_last_max,
    prm_last_vote,
    prm_min_max,
    prm_min_vote,
    weighted_vote,
)
from sandbox import AssertCase, CallCase, ProgramResult, StdioCase, Verdict
from sandbox import TestResult as Outcome  # not collected as a test class


def test_argmax_breaks_ties_by_lowest_index():
    assert argmax([0.2, 0.7, 0.7, 0.1]) == 1
    assert argmax([0.0, 0.0]) == 0
    with pytest.raises(ValueError):
        argmax([])


def test_clusters_keep_first_appearance_order():
    assert clusters(["b", "a", "b", "c", "a"]) == [[0, 2], [1, 4], [3]]


def test_majority_vote():
    assert majority_vote(["x", "y", "y"]) == 1
    # two clusters of two: the one whose first member comes first wins, and its first member is chosen
    assert majority_vote(["a", "b", "b", "a", "c"]) == 0
    assert majority_vote([("out 1", "out 2"), ("out 1", "out 3"), ("out 1", "out 3")]) == 1


def test_codet_scores_cluster_size_times_tests_passed():
    vectors = [(1, 0, 0), (1, 1, 0), (1, 1, 0), (1, 0, 0), (1, 0, 0)]
    # (1,0,0): 3 programs x 1 test = 3; (1,1,0): 2 programs x 2 tests = 4
    assert codet(vectors) == 1
    # (1,1,1) alone scores 1 x 3 = 3, tied with (1,0,0)'s 3 x 1: the cluster met first wins
    assert codet([(1, 0, 0), (1, 1, 1), (1, 0, 0), (1, 0, 0)]) == 0
    assert codet([(True, True), (False, False), (False, False), (False, False)]) == 0  # 1x2 > 3x0
    assert codet([(), (), ()]) == 0  # no tests: one cluster scoring 0


def test_weighted_vote_sums_scores_per_cluster_then_takes_the_best_member():
    signatures = ["a", "b", "a", "b", "c"]
    scores = [0.3, 0.5, 0.3, 0.2, 0.65]
    # a: 0.6, b: 0.7, c: 0.65 -> b; in b, 0.5 (index 1) beats 0.2 (index 3)
    assert weighted_vote(signatures, scores) == 1
    assert orm_vote(signatures, scores) == 1
    # equal sums: the first cluster; equal members: the first of them
    assert weighted_vote(["a", "b", "a"], [0.25, 0.5, 0.25]) == 0


def test_orm_max():
    assert orm_max([0.2, 0.9, 0.9]) == 1


STEPS = [[0.9, 0.8], [0.3, 0.95], [0.6, 0.7]]  # min: 0.8, 0.3, 0.6; last: 0.8, 0.95, 0.7


def test_prm_max_by_min_and_by_last():
    assert prm_min_max(STEPS) == 0
    assert prm_last_max(STEPS) == 1
    assert prm_min_max([[], [0.1]]) == 1  # a trajectory the PRM could not score counts 0


def test_prm_votes():
    signatures = ["a", "b", "b"]
    # min: a 0.8, b 0.3 + 0.6 = 0.9 -> b, whose best min is index 2 (0.6)
    assert prm_min_vote(signatures, STEPS) == 2
    # last: a 0.8, b 0.95 + 0.7 = 1.65 -> b, whose best last is index 1 (0.95)
    assert prm_last_vote(signatures, STEPS) == 1
    assert prm_min_vote(["a", "b", "c"], STEPS) == 0


def test_every_aggregation_is_registered_and_selectable():
    assert set(AGGREGATIONS) == set(typing.get_args(AggregationName)) == set(ALL_AGGREGATIONS)
    assert NEEDS_PRM == set(AGGREGATIONS) - {"majority_vote", "codet"}
    evidence = Evidence(
        signatures=["a", "b", "b"],
        pass_vectors=[(True, False), (True, True), (True, True)],
        orm=[0.9, 0.2, 0.3],
        steps=STEPS,
    )
    picks = {name: pick(name, evidence) for name in AGGREGATIONS}
    assert picks == {
        "majority_vote": 1,
        "codet": 1,  # (T,T): 2 x 2 = 4 against 1 x 1
        "orm_max": 0,
        "orm_vote": 0,  # a 0.9 against b 0.5
        "prm_min_max": 0,
        "prm_last_max": 1,
        "prm_min_vote": 2,
        "prm_last_vote": 1,
    }


def result(*tests: Outcome) -> ProgramResult:
    return ProgramResult(list(tests))


def test_behaviour_compares_outputs_not_verdicts():
    stdin = [StdioCase("1\n", "2\n"), StdioCase("2\n", "4\n")]
    right = result(Outcome(Verdict.PASSED, stdout="2\n"), Outcome(Verdict.PASSED, stdout="4 \n\n"))
    same_output = result(Outcome(Verdict.PASSED, stdout="2"), Outcome(Verdict.PASSED, stdout="4\n"))
    wrong = result(
        Outcome(Verdict.PASSED, stdout="2\n"), Outcome(Verdict.WRONG_ANSWER, "line 1", stdout="3\n")
    )
    crash = result(Outcome(Verdict.PASSED, stdout="2\n"), Outcome(Verdict.RUNTIME_ERROR, "ValueError"))
    assert behaviour(right, stdin) == behaviour(same_output, stdin) == ("stdout: 2", "stdout: 4")
    assert behaviour(wrong, stdin) == ("stdout: 2", "stdout: 3")
    assert behaviour(crash, stdin) == ("stdout: 2", "runtime_error")
    # two wrong programs agreeing on a wrong output share a signature: a vote can pick them
    other_wrong = result(Outcome(Verdict.PASSED, stdout="2\n"), Outcome(Verdict.WRONG_ANSWER, stdout="3"))
    assert behaviour(wrong, stdin) == behaviour(other_wrong, stdin)


def test_behaviour_of_calls_and_asserts():
    calls = [CallCase("f", [1], 2), CallCase("f", [2], 4)]
    returned = result(Outcome(Verdict.PASSED), Outcome(Verdict.WRONG_ANSWER, "expected 4, got 5"))
    assert behaviour(returned, calls) == ("passed", "expected 4, got 5")
    asserts = [AssertCase("assert f(1) == 2\n")]
    assert behaviour(result(Outcome(Verdict.WRONG_ANSWER, "AssertionError")), asserts) == ("wrong_answer",)


def run(method: str, budget: int, tokens: int, oracle: bool, picks: dict[str, bool]) -> dict:
    return {
        "method": method, "budget": budget, "tokens": tokens, "candidates": 1, "oracle": oracle,
        "selected": {name: {"index": 0, "passed": passed} for name, passed in picks.items()},
    }  # fmt: skip


def test_summarize_and_table():
    records = [
        {"problem_id": "p1", "selection_tests": 0, "runs": [
            run("best_of_n", 1, 100, True, {"majority_vote": True}),
            run("best_of_n", 2, 200, True, {"majority_vote": True})]},
        {"problem_id": "p2", "selection_tests": 0, "runs": [
            run("best_of_n", 1, 50, False, {"majority_vote": False}),
            run("best_of_n", 2, 150, True, {"majority_vote": False})]},
    ]  # fmt: skip
    table = summarize(records, ["best_of_n"], ["majority_vote"], [1, 2])
    got = {(r["aggregation"], r["budget"]): (r["accuracy"], r["mean_tokens"]) for r in table}
    assert got == {
        ("majority_vote", 1): (0.5, 75.0),
        ("oracle", 1): (0.5, 75.0),
        ("majority_vote", 2): (0.5, 175.0),
        ("oracle", 2): (1.0, 175.0),
    }
    text = search_table(
        {"methods": ["best_of_n"], "aggregations": ["majority_vote"], "budgets": [1, 2], "table": table}
    )
    lines = text.strip().splitlines()
    assert lines[0] == "| method | aggregation | N=1 | N=2 |"
    assert lines[2:] == [
        "| best_of_n | *tokens/problem* | 75 | 175 |",
        "| best_of_n | majority_vote | 0.500 | 0.500 |",
        "| best_of_n | oracle | 0.500 | 1.000 |",
    ]


def test_without_a_prm_the_defaults_keep_what_needs_none_and_named_ones_are_errors():
    import pytest

    from coder_rl.errors import UserError
    from coder_rl.search.run import SearchConfig, resolved

    defaults = SearchConfig()
    runs = resolved(defaults)
    assert runs.methods == ["best_of_n", "mcts"] and runs.aggregations == ["majority_vote", "codet"]
    assert defaults == SearchConfig()  # the config it checked is left as given
    with pytest.raises(UserError, match="method beam needs a PRM"):
        resolved(SearchConfig(methods=["beam"]))
    with pytest.raises(UserError, match="aggregation prm_min_max needs a PRM"):
        resolved(SearchConfig(aggregations=["prm_min_max"]))
