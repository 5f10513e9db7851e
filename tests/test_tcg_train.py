"""TCG training with TRL on the tiny local model: SFT lowers the loss, stages resume, and the whole
train -> generate -> eval chain runs through the CLI."""

from __future__ import annotations

import json
import shutil

import pytest

from coder_rl.errors import UserError
from tcg.train import TCGTrainConfig, run_tcg_train
from tests.helpers import assert_one_line_error, run


def config(tiny_model_dir, out, **changes) -> TCGTrainConfig:
    base = {
        "data": {"dataset": "sample", "limit": 8},
        "model": str(tiny_model_dir),
        "output_dir": str(out),
        "num_tests": 3,
        "samples_per_problem": 2,
        "device": "cpu",
        "sft": {"max_steps": 12, "learning_rate": 2e-3, "per_device_train_batch_size": 8, "logging_steps": 1},
        "sandbox": {"workers": 2},
        "lora": {},
    }
    for key, value in changes.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return TCGTrainConfig.model_validate(base)


def test_sft_lowers_the_training_loss(tiny_model_dir, tmp_path):
    (result,) = run_tcg_train(config(tiny_model_dir, tmp_path), stage="sft")
    assert result.examples == 16
    assert result.last_loss < 0.7 * result.first_loss, (result.first_loss, result.last_loss)
    assert (tmp_path / "sft" / "final" / "model.safetensors").exists()
    assert list((tmp_path / "sft" / "runs").rglob("events.out.tfevents.*"))  # TensorBoard logs
    assert (tmp_path / "data" / "sft" / "dataset_info.json").exists()  # the SFT data, as a datasets dataset


def test_an_interrupted_stage_resumes_from_its_last_checkpoint(tiny_model_dir, tmp_path, capsys):
    run_tcg_train(config(tiny_model_dir, tmp_path, sft={"max_steps": 4, "save_steps": 2}), stage="sft")
    shutil.rmtree(tmp_path / "sft" / "final")  # as if killed after checkpoint-4, before saving
    (result,) = run_tcg_train(
        config(tiny_model_dir, tmp_path, sft={"max_steps": 6, "save_steps": 2}), stage="sft"
    )
    assert "resuming from" in capsys.readouterr().out
    state = json.loads((tmp_path / "sft" / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    (again,) = run_tcg_train(config(tiny_model_dir, tmp_path), stage="sft")
    assert again.skipped  # a finished stage is not trained twice


def test_dpo_needs_the_sft_model(tiny_model_dir, tmp_path):
    with pytest.raises(UserError, match="run --stage sft first"):
        run_tcg_train(config(tiny_model_dir, tmp_path), stage="dpo")


def test_dpo_adds_the_chosen_suites_nll_and_samples_only_max_problems(tiny_model_dir, tmp_path):
    import torch
    from datasets import Dataset

    from coder_rl.data.load import load_problems

    dpo = {"max_steps": 2, "save_steps": 2, "sft_weight": 0.5, "max_problems": 3, "sampling": {"n": 2}}
    cfg = config(tiny_model_dir, tmp_path, dpo=dpo)
    run_tcg_train(cfg)
    first = [p.id for p in load_problems(cfg.data).require_problems() if p.kind in ("stdin", "call")][:3]
    pairs = Dataset.load_from_disk(str(tmp_path / "dpo" / "pairs"))
    assert len(pairs) > 0 and set(pairs["problem_id"]) <= set(first)
    args = torch.load(tmp_path / "dpo" / "checkpoint-2" / "training_args.bin", weights_only=False)
    assert args.loss_type == ["sigmoid", "sft"] and args.loss_weights == [1.0, 0.5]


@pytest.mark.slow
def test_train_generate_eval_through_the_cli(tiny_model_dir, tmp_path):
    out = tmp_path / "tcg"
    common = [
        "--config",
        "configs/tcg_quickstart.yaml",
        "--set",
        f"model={tiny_model_dir}",
        "--set",
        f"output_dir={out}",
    ]
    trained = run(
        "tcg", "train", *common, "--limit", "6",
        "--set", "sft.max_steps=10", "--set", "dpo.max_steps=3", "--set", "dpo.sampling.n=2",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "sft: " in trained.stdout and "dpo: " in trained.stdout
    assert (out / "dpo" / "final" / "model.safetensors").exists()
    assert (out / "dpo" / "pairs" / "dataset_info.json").exists()
    generations = tmp_path / "generations.jsonl"
    generated = run(
        "tcg", "generate", "--config", "configs/tcg_generate_quickstart.yaml",
        "--model", str(out / "dpo" / "final"), "--out", str(generations), "--set", "sampling.n=2",
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr[-2000:]
    assert "samples for 6 problems" in generated.stdout
    report_path = tmp_path / "eval.json"
    evaluated = run(
        "tcg", "eval", "--config", "configs/tcg_eval_quickstart.yaml",
        "--generations", str(generations), "--out", str(report_path),
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    metrics = json.loads(report_path.read_text())["metrics"]
    assert set(metrics) >= {"pass_rate", "parse_rate", "distinct_input_rate", "discriminative_power"}
    assert metrics["problems"] == 6 and metrics["known_wrong_programs"] > 0
    assert "discriminative_power" in evaluated.stdout


def test_dpo_without_sft_is_one_line_through_the_cli(tiny_model_dir, tmp_path):
    result = run(
        "tcg",
        "train",
        "--stage",
        "dpo",
        "--set",
        f"model={tiny_model_dir}",
        "--set",
        f"output_dir={tmp_path}",
    )
    assert_one_line_error(result, "run --stage sft first")


def test_a_rerun_with_other_settings_is_refused(tiny_model_dir, tmp_path):
    run_tcg_train(config(tiny_model_dir, tmp_path, sft={"max_steps": 2}), stage="sft")
    with pytest.raises(UserError, match="was written with other settings"):
        run_tcg_train(config(tiny_model_dir, tmp_path, lora={"enabled": True}), stage="sft")
