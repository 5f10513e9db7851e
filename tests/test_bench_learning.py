"""`coder-rl bench learning`: the pass@k estimator, the config's defaults and stage rules, combining seeds,
and (slow) a reduced bench from a random tiny model that must learn."""

from __future__ import annotations

import json
import math

import pytest

from coder_rl.bench.learning import (
    DEFAULTS,
    HEADLINES,
    LearningBenchConfig,
    combine_seeds,
    lookup,
    merged,
    results_table,
    run_learning_bench,
)
from coder_rl.evaluate import pass_at_k
from tests.helpers import assert_one_line_error, run


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (10, 3, 1, 0.3),  # pass@1 is c/n
        (5, 0, 3, 0.0),
        (5, 5, 1, 1.0),
        (5, 3, 3, 1.0),  # fewer failures than draws: a draw of 3 always holds a pass
        (8, 2, 4, 1 - 15 / 70),  # 1 - C(6,4)/C(8,4)
    ],
)
def test_pass_at_k_is_the_unbiased_estimator(n, c, k, expected):
    assert math.isclose(pass_at_k(n, c, k), expected)


def test_pass_at_k_refuses_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_a_config_overrides_single_keys_and_keeps_the_bench_defaults():
    cfg = LearningBenchConfig.model_validate({"sft": {"trainer": {"num_train_epochs": 1}}})
    assert cfg.sft.trainer.num_train_epochs == 1
    assert cfg.sft.source == "references"  # the bench's default, not PolicySFTConfig's
    assert cfg.ppo.algorithm == "ppo" and cfg.grpo.algorithm == "grpo"
    assert merged({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}, "d": 4}) == {"a": {"b": 1, "c": 3}, "d": 4}


def test_the_prm_ablation_gives_the_process_reward_weight():
    """grpo and grpo_prm share their RL section; only the PRM differs. A constant α of 1 would give the
    PRM no weight and make the ablation a copy of plain GRPO."""
    from coder_rl.rewards import alpha, combined

    cfg = LearningBenchConfig()
    rewards = cfg.grpo.rewards
    assert alpha(0, rewards) == 0.5 and alpha(cfg.grpo.grpo.max_steps, rewards) == 1.0
    assert combined(1.0, [0.0, 0.0], 0, rewards) == 0.5  # a PRM that rejects every step halves the reward
    assert combined(1.0, [], 0, rewards) == 1.0  # without a PRM, the outcome alone


def test_alpha_rises_over_each_rl_run_unless_set():
    cfg = LearningBenchConfig.model_validate({"ppo": {"ppo": {"max_steps": 7}}})
    assert cfg.grpo.rewards.alpha_steps == cfg.grpo.grpo.max_steps == DEFAULTS["grpo"]["grpo"]["max_steps"]
    assert cfg.ppo.rewards.alpha_steps == 7
    assert cfg.selfplay.rl.rewards.alpha_steps == cfg.selfplay.rl.grpo.max_steps < cfg.grpo.grpo.max_steps
    chosen = LearningBenchConfig.model_validate({"grpo": {"rewards": {"alpha_steps": 3}}})
    assert chosen.grpo.rewards.alpha_steps == 3
    assert (
        chosen.grpo.rewards.model_dump(include=set(DEFAULTS["grpo"]["rewards"]))
        == DEFAULTS["grpo"]["rewards"]
    )
    assert "alpha_steps" not in DEFAULTS["grpo"]["rewards"]  # the defaults were not changed in place
    for bad, key in (
        ("ppo.algorithm=nope", "algorithm"),
        ("grpo=null", "grpo"),
        ("selfplay.rl.rewards=3", "rewards"),
    ):
        assert_one_line_error(run("bench", "learning", "--set", bad), key)


def test_stages_need_their_inputs():
    assert LearningBenchConfig(stages=["model", "sft", "grpo"]).stages == ["model", "sft", "grpo"]
    assert_one_line_error(run("bench", "learning", "--set", "stages=[model,sft,prm]"), "stage prm needs mcts")
    assert_one_line_error(run("bench", "learning", "--set", "stages=[sft,nope]"), "unknown stage 'nope'")
    assert_one_line_error(run("bench", "learning", "--set", "family.trian=3"), "family.trian: unknown key")


def test_seeds_combine_into_mean_and_std():
    runs = [
        {"sft": {"heldout_pass1": 0.2}, "selfplay": [0.2, 0.3], "prm": {"heldout_auc": None}},
        {"sft": {"heldout_pass1": 0.4}, "selfplay": [0.4, 0.5], "prm": {"heldout_auc": 0.8}},
    ]
    combined = combine_seeds(runs, [0, 1])
    assert math.isclose(combined["sft"]["heldout_pass1"], 0.3)
    assert math.isclose(combined["std"]["sft.heldout_pass1"], math.sqrt(0.02))
    assert combined["selfplay"] == pytest.approx([0.3, 0.4])
    assert combined["prm"]["heldout_auc"] == 0.8  # a seed without the figure is left out, not counted as 0
    assert lookup(combined, "grpo.heldout_pass1") is None
    table = results_table(combined)
    assert "| SFT warm start: held-out pass@1 | `sft.heldout_pass1` | 0.300 ± 0.141 |" in table
    assert all(f"`{key}`" in table for key, _, _ in HEADLINES)


@pytest.mark.slow
def test_a_reduced_bench_runs_and_its_warm_start_learns(tmp_path):
    reduced_bench_learns(tmp_path, seed=0)


def reduced_bench_learns(tmp_path, seed: int) -> dict:
    """SFT of a random tiny model on 500 EASY problems, then GRPO: the warm policy solves training
    problems (measured with the bench's own pass rate and prompt); the bench's GRPO stage logs a reward
    for every step and every stage is one line; a rerun resumes. Then GRPO from the warm policy on 8
    training problems, every one in every step: its training reward rises. Checked over seeds 0-4 (see
    the issue's note); held-out figures need the full size (`bench learning`). Returns the figures."""
    from coder_rl.data.load import DataConfig, load_problems
    from coder_rl.evaluate import PassRateConfig, pass_rate
    from coder_rl.execution import SandboxConfig, open_sandbox
    from coder_rl.policy.base import PolicyConfig
    from coder_rl.rl.run import run_rl

    cfg = LearningBenchConfig.model_validate({
        "seed": seed, "output_dir": str(tmp_path / "bench"), "stages": ["model", "sft", "grpo"],
        "family": {"train": 500, "heldout": 8, "difficulty": ["EASY"]},
        "eval": {"samples": 2}, "curve": {"points": 1, "samples": 1},
        "grpo": {"grpo": {"max_steps": 4, "save_steps": 4, "per_device_train_batch_size": 16}},
    })  # fmt: skip
    lines: list[str] = []
    results = run_learning_bench(cfg, say=lines.append)
    train = DataConfig(dataset="listops", seed=seed, limit=16, difficulty=["EASY"])
    with open_sandbox(SandboxConfig(workers=2)) as box:
        warm = pass_rate(PolicyConfig(model=results["sft"]["model"], device="cpu"), load_problems(train).problems,
                         box, PassRateConfig(samples=4, max_tokens=256, prompt=cfg.prompt, seed=seed))  # fmt: skip
    assert warm["pass_at_1"] > 0, warm
    assert results["sft"]["last_loss"] < results["sft"]["first_loss"] / 4
    rewards = [reward for _, reward in results["grpo"]["reward_curve"]]
    assert len(rewards) == 4 and all(0 <= r <= 1.1 for r in rewards)
    assert [step for step, _ in results["grpo"]["heldout_curve"]] == [0, 4]
    assert [line.split()[0] for line in lines] == ["model", "sft", "grpo"]  # one line per stage
    written = json.loads((tmp_path / "bench" / "learning.json").read_text())
    assert written["grpo"]["heldout_pass1"] == results["grpo"]["heldout_pass1"]
    assert (tmp_path / "bench" / "rl_curves.png").stat().st_size > 0
    # A rerun resumes: every stage is read back, none runs again.
    again: list[str] = []
    assert run_learning_bench(cfg, say=again.append)["sft"] == results["sft"]
    assert all(line.split()[1] == "done" for line in again)

    # GRPO's training reward rises where every step sees the same problems (the bench's own settings).
    rl = cfg.grpo.model_copy(update={
        "data": train.model_copy(update={"limit": 8}), "model": results["sft"]["model"], "seed": seed,
        "output_dir": str(tmp_path / "grpo-8"), "device": "cpu", "prompt": cfg.prompt,
        "grpo": cfg.grpo.grpo.model_copy(update={"max_steps": 16, "save_steps": 16, "per_device_train_batch_size": 64}),
    })  # fmt: skip
    curve = [entry["reward"] for entry in run_rl(rl).log_history if "reward" in entry]
    assert len(curve) == 16
    first, last = sum(curve[:4]) / 4, sum(curve[-4:]) / 4
    assert last > first, curve
    return {"seed": seed, "warm_pass1": warm["pass_at_1"], "reward_first": first, "reward_last": last}
