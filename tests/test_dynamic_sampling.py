"""DAPO's dynamic sampling: the group choice and the merge of rounds against hand computations, then
TRL's GRPOTrainer on the tiny model with a reward that is constant for some prompts ("flat") and varies
within the group for the others ("varied"): no all-equal group reaches the loss, the batch is refilled to
its full size from further prompts, the counts logged are the ones the reward calls imply, and the cap
ends the sampling with a full batch."""

from __future__ import annotations

import math

import pytest
import torch

from coder_rl.errors import UserError
from coder_rl.rl.config import GRPOSection, RLConfig
from coder_rl.rl.dynamic_sampling import (
    DynamicSamplingGRPOTrainer,
    GroupChoice,
    choose_groups,
    informative_groups,
    pad_width,
)

NAN = math.nan


def test_a_group_is_informative_when_its_scored_rewards_differ():
    rewards = torch.tensor([1.0, 1.0, 1.0,   0.0, 0.5, 0.0,   NAN, 0.3, 0.3,   NAN, NAN, 0.7,   NAN, NAN, NAN,
                            0.2, 0.2 + 1e-8, 0.2])  # fmt: skip
    # all equal; differ; equal once the unscored one is left out; one scored; none scored; within tolerance
    assert informative_groups(rewards, 3) == [False, True, False, False, False, False]


def test_the_batch_takes_the_first_informative_groups_and_fills_a_short_one():
    # two groups a round; round 0: equal, informative; round 1: informative, informative
    assert choose_groups([[False, True], [True, True]], 2) == GroupChoice([(0, 1), (1, 0)], 2, 0, 1)
    # the cap stopped after one round with one informative group: the all-equal one fills the batch
    assert choose_groups([[True, False]], 2) == GroupChoice([(0, 0), (0, 1)], 1, 1, 0)
    # three rounds, no informative group: the earliest all-equal groups fill it, the rest are dropped
    assert choose_groups([[False, False]] * 3, 2) == GroupChoice([(0, 0), (0, 1)], 0, 2, 4)


def test_padding_keeps_prompts_left_and_completions_right():
    a, b = torch.tensor([[1, 2]]), torch.tensor([[3, 4, 5]])
    assert [t.tolist() for t in pad_width([a, b], True, 0)] == [[[0, 1, 2]], [[3, 4, 5]]]
    assert [t.tolist() for t in pad_width([a, b], False, 9)] == [[[1, 2, 9]], [[3, 4, 5]]]


def test_the_batch_merges_rounds_and_slices_each_process_its_rows():
    """Two processes, groups of 2, two groups a round (8 rows a round over both processes, 4 each).
    Round 0's informative group is its second; round 1's, its first. The batch is those two groups,
    rows 2-3 of round 0 and 0-1 of round 1; process 1 holds the second half: round 1's group."""
    from types import SimpleNamespace

    trainer = DynamicSamplingGRPOTrainer.__new__(DynamicSamplingGRPOTrainer)
    trainer.num_generations = 2
    trainer.accelerator = SimpleNamespace(device="cpu", process_index=1)
    trainer._tokenizer = SimpleNamespace(pad_token_id=0)
    round0 = {  # prompts one token wide (with padding), completions two
        "prompt_ids": torch.tensor([[11], [11], [12], [12]]),
        "prompt_mask": torch.ones(4, 1, dtype=torch.long),
        "completion_ids": torch.tensor([[5, 6], [5, 0], [7, 0], [7, 8]]),
        "completion_mask": torch.tensor([[1, 1], [1, 0], [1, 0], [1, 1]]),
        "advantages": torch.tensor([0.0, 0.0, -1.0, 1.0]),
    }
    round1 = {  # prompts two tokens wide, completions three
        "prompt_ids": torch.tensor([[0, 13], [0, 13], [14, 15], [14, 15]]),
        "prompt_mask": torch.tensor([[0, 1], [0, 1], [1, 1], [1, 1]]),
        "completion_ids": torch.tensor([[1, 2, 3], [4, 0, 0], [9, 9, 0], [9, 9, 0]]),
        "completion_mask": torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0], [1, 1, 0]]),
        "advantages": torch.tensor([1.0, -1.0, 0.0, 0.0]),
    }
    batch = trainer._batch([round0, round1], choose_groups([[False, True], [True, False]], 2), local_rows=2)
    assert batch["prompt_ids"].tolist() == [[0, 13], [0, 13]]
    assert batch["prompt_mask"].tolist() == [[0, 1], [0, 1]]
    assert batch["completion_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch["advantages"].tolist() == [1.0, -1.0]
    trainer.accelerator.process_index = 0
    first = trainer._batch([round0, round1], choose_groups([[False, True], [True, False]], 2), local_rows=2)
    assert first["prompt_ids"].tolist() == [[0, 12], [0, 12]]  # left-padded to round 1's width
    assert first["completion_ids"].tolist() == [[7, 0, 0], [7, 8, 0]]  # right-padded
    assert first["completion_mask"].tolist() == [[1, 0, 0], [1, 1, 0]]
    # the loss tokens of the whole batch, over both processes: 1 + 2 + 3 + 1
    assert batch["num_items_in_batch"].item() == first["num_items_in_batch"].item() == 7


def test_the_options_are_coder_rls_own_not_trls():
    import dataclasses

    from trl import GRPOConfig

    from coder_rl.config import load_config
    from coder_rl.rl.grpo import trl_arguments

    fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    assert not GRPOSection.OWN_KEYS & fields
    cfg = load_config(RLConfig, None, ["grpo.dynamic_sampling=true", "grpo.max_sampling_rounds=4"])
    assert not GRPOSection.OWN_KEYS & set(trl_arguments(cfg.grpo, fields))
    for key in GRPOSection.OWN_KEYS:
        bad = load_config(RLConfig, None, [f"grpo.trl.{key}=1"])
        with pytest.raises(UserError, match=f"grpo.trl.{key}: set grpo.{key} instead"):
            trl_arguments(bad.grpo, fields)
    with pytest.raises(UserError, match="max_sampling_rounds"):
        load_config(RLConfig, None, ["grpo.max_sampling_rounds=0"])


# ---------------------------------------------------------------- with TRL's trainer and the tiny model

GROUP, GROUPS = 4, 2  # completions per prompt; groups per batch


def _train(model_dir, out, kinds: list[str], rounds: int, steps: int = 3):
    """Train `steps` steps; return the trainer, the kinds of prompts each reward call scored, and the
    advantages and prompts of each batch the loss saw."""
    from datasets import Dataset
    from trl import GRPOConfig

    dataset = Dataset.from_list(
        [{"prompt": f"{kind} {i}: def f(x):", "kind": kind} for i, kind in enumerate(kinds)]
    )
    scored: list[list[str]] = []

    def reward(completions, kind, **_):
        """Constant for flat prompts; 0, 1, 2, 3 across a varied prompt's group (its rows are consecutive)."""
        scored.append(kind[::GROUP])
        return [1.0 if k == "flat" else float(i % GROUP) for i, k in enumerate(kind)]

    args = GRPOConfig(
        output_dir=str(out), per_device_train_batch_size=GROUP * GROUPS, num_generations=GROUP,
        max_completion_length=8, max_steps=steps, learning_rate=1e-3, logging_steps=1, save_strategy="no",
        report_to=[], use_cpu=True, seed=0, beta=0.0,
    )  # fmt: skip
    trainer = DynamicSamplingGRPOTrainer(
        model=str(model_dir),
        reward_funcs=[reward],
        args=args,
        train_dataset=dataset,
        max_sampling_rounds=rounds,
    )
    seen: list[tuple[list[float], list[str]]] = []
    compute_loss = trainer.compute_loss

    def recording(model, inputs, *rest, **kwargs):
        prompts = trainer.processing_class.batch_decode(inputs["prompt_ids"], skip_special_tokens=True)
        seen.append((inputs["advantages"].tolist(), [p.split()[0] for p in prompts]))
        return compute_loss(model, inputs, *rest, **kwargs)

    trainer.compute_loss = recording
    trainer.train()
    return trainer, scored, seen


def _logged(trainer, name: str) -> list[float]:
    return [
        e[f"dynamic_sampling/{name}"] for e in trainer.state.log_history if f"dynamic_sampling/{name}" in e
    ]


@pytest.mark.slow
def test_all_equal_groups_never_reach_the_loss_and_the_batch_is_refilled(tiny_model_dir, tmp_path):
    """2 of 8 prompts vary: most batches need further rounds to find two informative groups. 8 rounds
    always do (every refill pass covers the whole training set)."""
    kinds = ["flat"] * 6 + ["varied"] * 2
    trainer, scored, seen = _train(tiny_model_dir, tmp_path, kinds, rounds=8)
    assert len(seen) == 3 and all(len(advantages) == GROUP * GROUPS for advantages, _ in seen)
    for advantages, prompts in seen:
        assert all(a != 0 for a in advantages) and set(prompts) == {"varied"}
    # per step, the rounds run until two varied groups were scored; dropped: the flat groups among them
    expected_rounds, expected_dropped, calls = [], [], iter(scored)
    for _ in range(3):
        found, flat, rounds = 0, 0, 0
        while found < GROUPS:
            groups = next(calls)
            rounds, found, flat = rounds + 1, found + groups.count("varied"), flat + groups.count("flat")
        expected_rounds.append(rounds)
        expected_dropped.append(flat)
    assert next(calls, None) is None
    assert _logged(trainer, "rounds") == expected_rounds and max(expected_rounds) > 1
    assert _logged(trainer, "dropped_groups") == expected_dropped
    assert _logged(trainer, "kept_groups") == [GROUPS] * 3
    assert _logged(trainer, "filled_groups") == [0] * 3
    assert trainer.state.global_step == 3  # steps count as without dynamic sampling


@pytest.mark.slow
def test_the_cap_ends_sampling_with_a_full_batch_of_what_was_found(tiny_model_dir, tmp_path):
    """No prompt varies: each step samples the cap's 2 rounds, then trains on the first round's groups
    (zero advantage, as GRPO without dynamic sampling would), and says so in the counts."""
    trainer, scored, seen = _train(tiny_model_dir, tmp_path, ["flat"] * 8, rounds=2, steps=2)
    assert len(scored) == 4  # 2 steps x 2 rounds
    assert [len(advantages) for advantages, _ in seen] == [GROUP * GROUPS] * 2
    assert all(a == 0 for advantages, _ in seen for a in advantages)
    assert _logged(trainer, "rounds") == [2, 2]
    assert _logged(trainer, "kept_groups") == [0, 0]
    assert _logged(trainer, "filled_groups") == [GROUPS, GROUPS]
    assert _logged(trainer, "dropped_groups") == [GROUPS, GROUPS]


@pytest.mark.slow
def test_rl_run_trains_with_dynamic_sampling_when_asked(tiny_model_dir, tmp_path):
    """`rl run` with grpo.dynamic_sampling: the sandbox's reward decides the groups; one group a batch,
    so it is either kept or, after the cap's rounds, fills the batch."""
    from coder_rl.rl.grpo import run_grpo

    cfg = RLConfig(
        data={"dataset": "sample", "limit": 2}, model=str(tiny_model_dir), output_dir=str(tmp_path), device="cpu",
        sandbox={"workers": 2},
        grpo={"max_steps": 1, "per_device_train_batch_size": 4, "num_generations": 4, "max_completion_length": 16,
              "save_steps": 1, "dynamic_sampling": True, "max_sampling_rounds": 2},
    )  # fmt: skip
    logged = next(e for e in run_grpo(cfg).log_history if "dynamic_sampling/rounds" in e)
    assert logged["dynamic_sampling/kept_groups"] + logged["dynamic_sampling/filled_groups"] == 1
    assert logged["dynamic_sampling/rounds"] in (1, 2)
