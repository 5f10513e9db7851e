"""`coder-rl tcg train`: SFT, then DPO, of a test-case generator, with TRL's trainers.

SFT teaches the format and the task from each problem's own tests (tcg.data). DPO then samples
suites from the SFT model on the same problems, validates them against the references in the
sandbox, and prefers valid suites over rejected ones (tcg.pairs). Each stage writes checkpoints
under `output_dir/<stage>`, resumes from the last one after an interruption, logs to TensorBoard
(`output_dir/<stage>/runs`), and saves the finished model to `output_dir/<stage>/final`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.load import DataConfig, load_problems
from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from coder_rl.execution import SandboxConfig, open_sandbox
from coder_rl.policy.base import PolicyConfig
from coder_rl.rundir import claim, replace_dir, without
from coder_rl.training import StageSection, run_args, train_resuming
from tcg.data import sft_examples, usable_cases
from tcg.generate import SuiteSamplingParams, sample_cases, sample_tests
from tcg.pairs import PairSource, build_pairs
from tcg.validate import validate


class LoraSection(Section):
    enabled: bool = False
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | str = "all-linear"
    load_in_4bit: bool = Field(False, description="QLoRA: the base model in 4 bits (bitsandbytes, GPU)")


class DPOSection(StageSection):
    learning_rate: float = Field(5e-6, gt=0)
    beta: float = Field(0.1, gt=0)
    shuffled_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="target share of rejected tests made by shuffling outputs (topped up from the other pool)",
    )
    sft_weight: float = Field(
        0.0,
        ge=0,
        description="weight of an NLL term on the chosen suite (RPO; TRL's loss_type sft), to hold the format",
    )
    max_problems: int | None = Field(
        None, ge=1, description="sample pairs on the first N problems only (sampling is DPO's costly part)"
    )
    backend: Literal["hf", "vllm"] = Field("hf", description="samples the SFT model for DPO's pairs")
    sampling: SuiteSamplingParams = SuiteSamplingParams(seed=0)  # seeded: a rerun samples the same pairs
    problems_per_call: int = Field(8, ge=1)


class TCGTrainConfig(Section):
    data: DataConfig = DataConfig()
    model: str = Field("runs/tiny-model", description="base model: a hub id or a local path")
    output_dir: str = "runs/tcg"
    num_tests: int = Field(4, ge=1, description="tests per prompt (K)")
    samples_per_problem: int = Field(1, ge=1, description="SFT examples per problem, each a different K")
    max_case_chars: int = Field(400, ge=16, description="longer test cases are dropped")
    with_solution: bool = Field(False, description="put a reference solution in the SFT prompt")
    max_references: int = Field(3, ge=1)
    seed: int = 0
    lora: LoraSection = LoraSection()
    sft: StageSection = StageSection()
    dpo: DPOSection = DPOSection()
    sandbox: SandboxConfig = SandboxConfig()
    device: str = Field("auto", description="auto, cpu or cuda, for DPO's sampling")


@dataclass
class StageResult:
    stage: str
    model_dir: Path
    examples: int
    first_loss: float | None
    last_loss: float | None
    skipped: bool = False  # the stage had already finished


def run_tcg_train(cfg: TCGTrainConfig, stage: Literal["all", "sft", "dpo"] = "all") -> list[StageResult]:
    problems = [p for p in load_problems(cfg.data).require_problems() if p.kind in ("stdin", "call")]
    if not problems:
        raise UserError("no problem with stdin or call-based tests to train a test-case generator on")
    out = Path(cfg.output_dir)
    results = []
    if stage in ("all", "sft"):
        results.append(_sft(cfg, problems, out))
    if stage in ("all", "dpo"):
        sft_model = out / "sft" / "final"
        if not sft_model.exists():
            raise UserError(
                f"DPO starts from the SFT model, and {sft_model} does not exist: run --stage sft first"
            )
        results.append(_dpo(cfg, problems, out, sft_model))
    return results


def _sft(cfg: TCGTrainConfig, problems: list[Problem], out: Path) -> StageResult:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    stage_dir = _stage_dir(cfg, out, "sft")
    if (stage_dir / "final").exists():
        return StageResult("sft", stage_dir / "final", 0, None, None, skipped=True)
    rows, report = sft_examples(
        problems, cfg.num_tests, cfg.max_case_chars, cfg.samples_per_problem, cfg.with_solution, cfg.seed
    )
    print(f"sft data: {report.summary()}")
    if not rows:
        raise UserError("no SFT example could be built (see the counts above)")
    dataset = Dataset.from_list(rows)
    dataset.save_to_disk(str(out / "data" / "sft"))
    args = SFTConfig(
        completion_only_loss=True,  # learn to write tests, not to repeat the problem statement
        **_trainer_args(cfg, cfg.sft, stage_dir),
    )
    trainer = SFTTrainer(
        model=cfg.model,
        args=args,
        train_dataset=dataset.remove_columns("problem_id"),
        peft_config=_peft_config(cfg.lora),
        quantization_config=_quantization(cfg.lora),
    )
    return _train_and_save(trainer, "sft", stage_dir, len(rows), cfg, base_model=cfg.model)


def _dpo(cfg: TCGTrainConfig, problems: list[Problem], out: Path, sft_model: Path) -> StageResult:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    stage_dir = _stage_dir(cfg, out, "dpo")
    if (stage_dir / "final").exists():
        return StageResult("dpo", stage_dir / "final", 0, None, None, skipped=True)
    saved = stage_dir / "pairs"  # inside the stage: its settings check covers the pairs too
    if saved.exists():  # an interrupted run with the same settings: resume on the same pairs
        dataset = Dataset.load_from_disk(str(saved))
        print(f"dpo data: {len(dataset)} pairs from {saved}")
    else:
        pairs = _dpo_pairs(cfg, problems[: cfg.dpo.max_problems], sft_model)
        if not pairs:
            raise UserError("no DPO pair could be built: no problem had both valid and failing tests")
        dataset = Dataset.from_list(pairs)
        dataset.save_to_disk(str(saved))
    # RPO (Pang et al. 2024): DPO's loss plus the chosen suite's NLL, so preferring one suite over
    # another does not unlearn the format both are written in.
    losses = (
        {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, cfg.dpo.sft_weight]}
        if cfg.dpo.sft_weight
        else {}
    )
    args = DPOConfig(beta=cfg.dpo.beta, **losses, **_trainer_args(cfg, cfg.dpo, stage_dir))
    trainer = DPOTrainer(
        model=str(sft_model),
        args=args,
        train_dataset=dataset.remove_columns("problem_id"),
        peft_config=_peft_config(cfg.lora),
        quantization_config=_quantization(cfg.lora),
    )
    return _train_and_save(trainer, "dpo", stage_dir, len(dataset), cfg, base_model=str(sft_model))


def _dpo_pairs(cfg: TCGTrainConfig, problems: list[Problem], sft_model: Path) -> list[dict[str, str]]:
    """Sample suites from the SFT model, validate them, and pair valid suites with failing ones."""
    from coder_rl.policy import load_policy

    policy = load_policy(PolicyConfig(backend=cfg.dpo.backend, model=str(sft_model), device=cfg.device))
    try:
        sampled = list(
            sample_tests(policy, problems, cfg.num_tests, cfg.dpo.sampling, cfg.dpo.problems_per_call)
        )
    finally:
        policy.close()
    generated = [[case for s in samples for case in sample_cases(s)] for _, samples in sampled]
    # The dataset's own tests join the candidates: they fill in where the model produced few valid ones.
    candidates = [
        usable_cases(cases + problem.tests, cfg.max_case_chars)
        for problem, cases in zip(problems, generated, strict=True)
    ]
    with open_sandbox(cfg.sandbox) as box:
        verdicts = validate(box, list(zip(problems, candidates, strict=True)), cfg.max_references)
        sources = [
            PairSource(
                problem,
                valid=[case for case, ok in zip(cases, valid, strict=True) if ok is True],
                invalid=[case for case, ok in zip(cases, valid, strict=True) if ok is False],
            )
            for problem, cases, valid in zip(problems, candidates, verdicts, strict=True)
            if valid is not None  # no reference to judge by
        ]
        pairs = build_pairs(
            box, sources, cfg.num_tests, cfg.dpo.shuffled_fraction, cfg.max_references, cfg.seed
        )
    # usable_cases keeps the sampled tests first, so each problem's first candidates are the model's.
    from_model = sum(
        ok is True
        for valid, cases in zip(verdicts, generated, strict=True)
        for ok in (valid or [])[: len(usable_cases(cases, cfg.max_case_chars))]
    )
    failing = sum(len(source.invalid) for source in sources)
    print(
        f"dpo data: {sum(map(len, generated))} sampled tests parsed, {from_model} of them valid; "
        f"{failing} candidates fail the reference; {len(pairs)} pairs"
    )
    if not from_model:
        print(
            "dpo data: warning: the SFT model wrote no valid test, so every chosen suite is the dataset's own "
            "tests; train SFT longer for DPO to learn from the model's samples"
        )
    return pairs


def _stage_dir(cfg: TCGTrainConfig, out: Path, stage: str) -> Path:
    """The stage's directory, with the settings it was started with: a rerun with other settings
    would resume a checkpoint into a different run, so it is refused."""
    stage_dir = out / stage
    unrelated = {"sandbox", "device"} | ({"dpo", "max_references"} if stage == "sft" else set())
    # how long to train and how often to save may change on resume
    knobs = ("max_steps", "num_train_epochs", "save_steps", "save_total_limit", "logging_steps")
    settings = without(
        cfg.model_dump(mode="json", exclude=unrelated), [f"{s}.{k}" for s in ("sft", "dpo") for k in knobs]
    )
    claim(stage_dir / "coder_rl_settings.json", settings, "use another output_dir or remove it")
    return stage_dir


def _trainer_args(cfg: TCGTrainConfig, stage: StageSection, stage_dir: Path) -> dict[str, Any]:
    settings = stage.model_dump(
        exclude={
            "beta",
            "shuffled_fraction",
            "sft_weight",
            "max_problems",
            "backend",
            "sampling",
            "problems_per_call",
        }
    )
    return {**settings, **run_args(stage_dir, cfg.seed, cfg.device)}


def _peft_config(lora: LoraSection) -> Any:
    if not lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )


def _quantization(lora: LoraSection) -> Any:
    if not (lora.enabled and lora.load_in_4bit):
        return None
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
    )


def _train_and_save(
    trainer: Any, stage: str, stage_dir: Path, examples: int, cfg: TCGTrainConfig, base_model: str
) -> StageResult:

    train_resuming(trainer, stage_dir)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    tmp = stage_dir / "final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    if cfg.lora.enabled:  # later stages and generation load a plain model: merge into the full base
        trainer.model.save_pretrained(str(stage_dir / "adapter"))
        _merged(base_model, stage_dir / "adapter").save_pretrained(str(tmp))
    else:
        trainer.model.save_pretrained(str(tmp))
    trainer.processing_class.save_pretrained(str(tmp))
    (tmp / "coder_rl_stage.json").write_text(
        json.dumps({"stage": stage, "examples": examples, "losses": losses})
    )
    final = replace_dir(tmp, stage_dir / "final")
    return StageResult(stage, final, examples, losses[0] if losses else None, losses[-1] if losses else None)


def _merged(base_model: str, adapter: Path) -> Any:
    """The base model, loaded in full precision (even after QLoRA), with the adapter merged in."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_model, dtype="auto")
    return PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
