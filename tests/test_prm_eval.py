"""The PRM's pairwise loss on sibling steps and its best-of-N reranking gain on held-out problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coder_rl.prm import PRM
from coder_rl.prm.train import (
    PRMTrainConfig,
    SiblingPair,
    held_out,
    rerank_gain,
    run_prm_train,
    sibling_pairs,
    split_problems,
)
from pseudocode import Action, Step


def test_rerank_gain_by_hand():
    groups = [
        [(0.9, 1.0), (0.2, 0.0), (0.5, 0.5)],  # the PRM picks the best program
        [(0.7, 0.0), (0.7, 1.0), (0.1, 1.0)],  # a tie at the top: the mean of the tied, 0.5
        [(0.3, 0.4)],  # one program: nothing to choose, left out
    ]
    random, selected = (0.5 + 2 / 3) / 2, (1.0 + 0.5) / 2
    assert rerank_gain(groups) == pytest.approx(
        {"problems": 2, "random": random, "selected": selected, "oracle": 1.0, "gain": selected - random}
    )
    # A tie does not depend on the order of the programs.
    assert rerank_gain([[(0.7, 1.0), (0.7, 0.0)]]) == rerank_gain([[(0.7, 0.0), (0.7, 1.0)]])
    assert rerank_gain([[(0.3, 0.4)]]) is None and rerank_gain([]) is None


READ, DOUBLE, ADD, TRIPLE = (
    Step(Action.DEFINE, "read the number"),
    Step(Action.GENERATE, "double the number"),
    Step(Action.GENERATE, "add one to the number"),
    Step(Action.GENERATE, "triple the number"),
)


def prompt(problem_id):
    return f"### Problem\nTransform the number in {problem_id}.\n\n### Steps\n"


def trajectory(problem_id, steps, values, reward=0.0):
    return {
        "problem_id": problem_id,
        "prompt": prompt(problem_id),
        "steps": list(steps),
        "values": values,
        "labels": [False] * len(steps),
        "code": None,
        "reward": reward,
    }


def test_sibling_pairs_respect_the_gap_skip_held_out_problems_and_come_once():
    assert [held_out(p, 0.5, 0) for p in ("p0", "p1", "p2")] == [False, False, True]
    refine = Step(Action.REFINE, "loop over the digits")
    records = [
        trajectory("p0", [READ, DOUBLE], [0.5, 1.0]),
        trajectory("p0", [READ, ADD, refine], [0.5, 0.2, 0.0]),
        trajectory("p0", [READ, ADD, TRIPLE], [0.5, 0.2, 0.4]),  # passes through ADD again; 0.4 apart
        trajectory("p0", [TRIPLE], [0.0]),  # exactly the gap below READ
        trajectory("p1", [READ, DOUBLE], [0.5, 0.7]),  # the same steps, another problem
        trajectory("p1", [READ, ADD], [0.5, 0.1]),
        trajectory("p2", [READ, DOUBLE], [0.5, 1.0]),  # held out
        trajectory("p2", [READ, ADD], [0.5, 0.0]),
    ]
    training, evaluation = split_problems(records, 0.5, 0)
    assert {r["problem_id"] for r in evaluation} == {"p2"}
    pairs = sibling_pairs(training, gap=0.5)
    assert sorted(pairs, key=repr) == sorted(
        [
            SiblingPair("p0", prompt("p0"), (READ, DOUBLE), (READ, ADD)),
            SiblingPair("p0", prompt("p0"), (READ,), (TRIPLE,)),
            SiblingPair("p1", prompt("p1"), (READ, DOUBLE), (READ, ADD)),
        ],
        key=repr,
    )
    assert sibling_pairs(training, gap=0.7) == [SiblingPair("p0", prompt("p0"), (READ, DOUBLE), (READ, ADD))]


def write_siblings(directory, problems=12):
    """Each problem: one first step, then doubling (value 0.8), tripling (0.3) or adding one (0.0).

    Every hard label is 0, so trained on hard labels the BCE pushes all steps down alike: only the
    pairwise loss can rank the siblings. Doubling makes a pair with each of the others; tripling and
    adding one are less than the gap apart."""
    (directory / "trajectories").mkdir(parents=True)
    records = [
        trajectory(f"p{i}", [READ, last], [0.4, value], reward)
        for i in range(problems)
        for last, value, reward in ((DOUBLE, 0.8, 1.0), (TRIPLE, 0.3, 0.5), (ADD, 0.0, 0.0))
    ]
    lines = [json.dumps({**r, "steps": [s.to_dict() for s in r["steps"]]}) + "\n" for r in records]
    (directory / "trajectories" / "00000.jsonl").write_text("".join(lines))
    return records


@pytest.fixture(scope="module")
def pairwise_run(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prm-pairwise")
    records = write_siblings(tmp / "mcts")
    cfg = PRMTrainConfig(
        trajectories=str(tmp / "mcts"),
        model=str(tiny_model_dir),
        output_dir=str(tmp / "prm"),
        target="hard",
        eval_fraction=0.25,
        pairwise_weight=1.0,
        rerank_reduction="last",  # the programs differ in their last step only
        max_length=1536,
        device="cpu",
        trainer={
            "max_steps": 20,
            "learning_rate": 3e-3,
            "per_device_train_batch_size": 8,
            "logging_steps": 1,
        },
    )
    return cfg, records, run_prm_train(cfg)


def test_the_pairwise_loss_ranks_the_better_sibling_first(pairwise_run):
    cfg, records, result = pairwise_run
    training, _ = split_problems(records, cfg.eval_fraction, cfg.seed)
    pairs = sibling_pairs(training, cfg.pairwise_gap)
    assert len(pairs) == 2 * len({r["problem_id"] for r in training}) == result.train_pairs > 0
    assert json.loads((Path(cfg.output_dir) / "report.json").read_text())["train_pairs"] == result.train_pairs
    prm = PRM(str(result.model_dir))  # scores with the max_length it was trained with (prm.json)
    assert prm.max_length == cfg.max_length != 2048
    for pair in pairs:
        better, worse = prm.score(pair.prompt, pair.better), prm.score(pair.prompt, pair.worse)
        assert better[-1] > worse[-1], (pair, better, worse)
    # On the held-out problems too, the PRM picks the doubling program (reward 1) out of the three.
    assert result.rerank == pytest.approx(
        {"problems": 3, "random": 0.5, "selected": 1.0, "oracle": 1.0, "gain": 0.5}
    )


def test_the_reported_rerank_is_best_of_n_by_the_trained_prm(pairwise_run):
    cfg, records, result = pairwise_run
    prm = PRM(str(result.model_dir), max_length=cfg.max_length)
    groups: dict[str, list[tuple[float, float]]] = {}
    for record in records:
        if held_out(record["problem_id"], cfg.eval_fraction, cfg.seed):
            score = prm.score(record["prompt"], record["steps"], how=cfg.rerank_reduction)
            groups.setdefault(record["problem_id"], []).append((score, record["reward"]))
    expected = rerank_gain(list(groups.values()))
    report = json.loads((Path(cfg.output_dir) / "report.json").read_text())
    assert expected is not None and expected["problems"] == len(groups) > 0
    assert report["rerank"] == pytest.approx(expected) and result.rerank == report["rerank"]
