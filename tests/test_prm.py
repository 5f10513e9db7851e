"""The PRM: step-tag positions for any text, aggregations, AUC, and training on labelled trajectories."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coder_rl.prm import PRM, build_input, prepare_tokenizer, reduce_steps
from coder_rl.prm.model import STEP_TAG
from coder_rl.prm.train import PRMTrainConfig, auc, run_prm_train
from pseudocode import Action, Step


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    return tok, prepare_tokenizer(tok)


# Texts that end in pieces of the tag, or of the step delimiters, are where a tag written as text
# would merge with what precedes it.
_TRICKY = st.sampled_from(
    ["<|step", "<|", "<", "|", "step|>", STEP_TAG[:-1], "</step", "+", "-", "ки", " ", "\n"]
)
_TEXT = st.lists(st.one_of(st.text(max_size=12), _TRICKY), max_size=5).map("".join)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_TEXT, st.lists(st.tuples(st.sampled_from(list(Action)), _TEXT), min_size=1, max_size=5))
def test_every_step_gets_its_tag_whatever_text_precedes_it(tokenizer, prompt, pairs):
    tok, (tag_id, _, _) = tokenizer
    steps = [Step(action, text) for action, text in pairs]
    item = build_input(tok, prompt, steps, tag_id, max_length=100_000)
    assert len(item.tag_positions) == len(steps)
    assert [i for i, t in enumerate(item.input_ids) if t == tag_id] == item.tag_positions
    assert (
        item.tag_positions == sorted(item.tag_positions) and item.tag_positions[-1] == len(item.input_ids) - 1
    )


def test_steps_past_max_length_are_cut_not_misaligned(tokenizer):
    tok, (tag_id, _, _) = tokenizer
    steps = [Step(Action.REFINE, "x " * 50)] * 4
    item = build_input(tok, "p", steps, tag_id, max_length=120)
    assert 0 < len(item.tag_positions) < 4 and len(item.input_ids) <= 120
    assert all(item.input_ids[p] == tag_id for p in item.tag_positions)


def test_aggregations_and_auc_by_hand():
    scores = [0.9, 0.5, 0.8]
    assert reduce_steps(scores, "min") == 0.5 and reduce_steps(scores, "last") == 0.8
    assert reduce_steps(scores, "product") == pytest.approx(0.36) and reduce_steps(
        scores, "mean"
    ) == pytest.approx(2.2 / 3)
    assert reduce_steps([], "min") == 0.0
    assert auc([0.9, 0.8, 0.1, 0.8], [True, True, False, False]) == pytest.approx((1 + 1 + 1 + 0.5) / 4)
    assert auc([0.3], [True]) is None


def write_trajectories(directory, problems=12):
    """Correct trajectories say "double", wrong ones "add one": a pattern a PRM can learn."""
    (directory / "trajectories").mkdir(parents=True)
    lines = []
    for i in range(problems):
        for good in (True, False):
            plan = "double the number" if good else "add one to the number"
            lines.append(
                {
                    "problem_id": f"p{i}",
                    "prompt": f"### Problem\nTransform the number {i}.\n\n### Steps\n",
                    "steps": [
                        {"action": "define", "text": plan},
                        {"action": "generate", "text": f"# {plan}"},
                    ],
                    "values": [1.0, 1.0] if good else [0.0, 0.0],
                    "labels": [good, good],
                    "code": None,
                    "reward": float(good),
                }
            )
    (directory / "trajectories" / "00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


def test_training_lowers_the_loss_and_scores_every_step(tiny_model_dir, tmp_path):
    write_trajectories(tmp_path / "mcts")
    cfg = PRMTrainConfig(
        trajectories=str(tmp_path / "mcts"),
        model=str(tiny_model_dir),
        output_dir=str(tmp_path / "prm"),
        eval_fraction=0.25,
        device="cpu",
        trainer={
            "max_steps": 20,
            "learning_rate": 3e-3,
            "per_device_train_batch_size": 8,
            "logging_steps": 1,
        },
    )
    result = run_prm_train(cfg)
    assert result.last_loss < 0.5 * result.first_loss, (result.first_loss, result.last_loss)
    assert result.held_out_auc is not None and result.held_out_steps > 0
    prm = PRM(str(result.model_dir))
    good = prm.score(
        "### Problem\nTransform the number 99.\n\n### Steps\n", [Step(Action.DEFINE, "double the number")]
    )
    bad = prm.score(
        "### Problem\nTransform the number 99.\n\n### Steps\n", [Step(Action.DEFINE, "add one to the number")]
    )
    assert len(good) == len(bad) == 1 and 0 <= bad[0] < good[0] <= 1
    assert json.loads((tmp_path / "prm" / "report.json").read_text())["held_out_auc"] == result.held_out_auc


def test_batched_scores_equal_full_logits_one_trajectory_at_a_time(tiny_prm_dir):
    """Scoring sorts trajectories by length and applies only the label rows of the LM head at the tags:
    the scores must be those of the whole model's logits, in the caller's order."""
    import torch

    from coder_rl.prm.model import PRM, build_input, prepare_tokenizer, step_scores

    items = [
        ("### Problem\nA long statement " + "word " * 40, [Step(Action.DEFINE, "plan"), Step(Action.GENERATE, "x")]),
        ("short", [Step(Action.REFINE, "one step")]),
        ("medium " * 5, [Step(Action.DEFINE, "a"), Step(Action.REFINE, "b"), Step(Action.GENERATE, "c")]),
    ]  # fmt: skip
    prm = PRM(str(tiny_prm_dir), batch_size=2)
    tag, good, bad = prepare_tokenizer(prm.tokenizer)
    expected = []
    for prompt, steps in items:
        item = build_input(prm.tokenizer, prompt, steps, tag, prm.max_length)
        with torch.no_grad():
            logits = prm.model(input_ids=torch.tensor([item.input_ids])).logits[0]
        expected.append(step_scores(logits, item.tag_positions, good, bad).tolist())
    got = prm.score_batch(items)
    assert [len(s) for s in got] == [2, 1, 3]
    assert all(g == pytest.approx(e, abs=1e-5) for g, e in zip(got, expected, strict=True))
