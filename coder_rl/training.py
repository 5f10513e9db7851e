"""Trainer settings shared by every training command (TCG, PRM, policy SFT): transformers' names."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pydantic import Field

from coder_rl.config import Section
from coder_rl.rundir import replace_dir


class StageSection(Section):
    """Trainer settings shared by both stages (TRL/transformers names)."""

    max_steps: int = Field(-1, description="-1: train for num_train_epochs")
    num_train_epochs: float = Field(3.0, gt=0)
    learning_rate: float = Field(2e-5, gt=0)
    per_device_train_batch_size: int = Field(8, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_length: int = Field(1024, ge=16, description="prompt + completion tokens")
    warmup_steps: float = Field(0, ge=0, description="steps, or a fraction of all steps when below 1")
    logging_steps: int = Field(5, ge=1)
    save_steps: int = Field(50, ge=1)
    save_total_limit: int = Field(2, ge=1)
    bf16: bool = False
    gradient_checkpointing: bool = False


def run_args(output_dir: Path, seed: int, device: str) -> dict[str, Any]:
    """What every training command passes to transformers' TrainingArguments (or TRL's configs) beside
    its own trainer section: where to save, when, the seed, the CPU when asked, TensorBoard logs."""
    return {
        "output_dir": str(output_dir),
        "report_to": ["tensorboard"],
        "save_strategy": "steps",
        "seed": seed,
        "use_cpu": device == "cpu",
    }


def train_resuming(trainer: Any, out: Path) -> None:
    """Train, resuming from the last checkpoint in `out`. A checkpoint that already reached max_steps is
    loaded instead: transformers' Trainer would run one more step past it before checking the limit.
    (Not under DeepSpeed or FSDP, whose engines only `train` sets up: there the extra step is the price.)"""
    from transformers import TrainerState
    from transformers.trainer_utils import get_last_checkpoint

    checkpoint = get_last_checkpoint(str(out)) if out.exists() else None
    if checkpoint:
        print(f"resuming from {checkpoint}")
        state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
        sharded = trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled
        if 0 < trainer.args.max_steps <= state.global_step and not sharded:
            trainer._load_from_checkpoint(checkpoint)
            trainer.state = state
            return
    trainer.train(resume_from_checkpoint=checkpoint)


def save_final(trainer: Any, out: Path, files: dict[str, str] | None = None) -> Path:
    """Save the trained model and its tokenizer, with `files` (name -> text) beside them, to out/final:
    written whole, then renamed, so a `final` that exists is complete. Every process calls it (under
    `accelerate launch`); those the Trainer saves from (`args.should_save`) write."""
    final, tmp = out / "final", out / "final.tmp"
    if trainer.args.should_save:
        shutil.rmtree(tmp, ignore_errors=True)  # an interrupted earlier save
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))
    if trainer.args.should_save:
        for name, text in (files or {}).items():
            (tmp / name).write_text(text)
        replace_dir(tmp, final)
    trainer.accelerator.wait_for_everyone()
    return final
