"""`coder-rl prm train`: fit the PRM on the MCTS's step-labelled trajectories.

The loss is binary cross-entropy between P("+") at each step tag and the step's target: its soft
label (the backed-up MC value, in [0, 1]) or its hard label (0 or 1, where BCE is the two-way
cross-entropy). TRL's PRMTrainer casts labels to int, which would round every soft label away, so
the loss is ours, on transformers' Trainer (checkpoints, resume, TensorBoard). With `pairwise_weight`
a Bradley-Terry loss on sibling steps (same prefix, values `pairwise_gap` apart) is added, so the PRM
also learns which of two next steps is better. Problems are split into training and held-out ones;
the held-out step-level AUC is reported, and the gain of best-of-N reranking by the PRM over a random
pick among each held-out problem's programs.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from statistics import mean
from typing import Any, Literal

from pydantic import Field

from coder_rl.config import Section
from coder_rl.errors import UserError
from coder_rl.prm.model import (
    PRM_SETTINGS,
    StepReduction,
    build_input,
    prm_base,
    reduce_steps,
    step_scores,
)
from coder_rl.training import StageSection, run_args, save_final, train_resuming
from pseudocode import Step


class PRMTrainConfig(Section):
    trajectories: str = Field("runs/mcts", description="an `mcts synthesize` output directory")
    model: str = "runs/tiny-model"
    output_dir: str = "runs/prm"
    target: Literal["soft", "hard"] = Field("soft", description="soft: MC values; hard: 0/1 labels")
    max_length: int = Field(1024, ge=32)
    eval_fraction: float = Field(
        0.2, ge=0, lt=1, description="share of problems held out for the AUC and the rerank"
    )
    pairwise_weight: float = Field(
        0.0, ge=0, description="weight of the Bradley-Terry loss on sibling steps added to the BCE; 0: off"
    )
    pairwise_gap: float = Field(
        0.5, gt=0, le=1, description="the least value difference that makes two sibling steps a pair"
    )
    rerank_reduction: StepReduction = Field(
        "min", description="how step scores make a trajectory's score when reranking held-out programs"
    )
    seed: int = 0
    device: str = "auto"
    trainer: StageSection = StageSection(learning_rate=1e-4, num_train_epochs=1.0)


def read_trajectories(directory: Path) -> list[dict[str, Any]]:
    files = sorted((directory / "trajectories").glob("*.jsonl"))
    if not files:
        raise UserError(
            f"no trajectories under {directory}/trajectories: run `coder-rl mcts synthesize` first"
        )
    records = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                record["steps"] = [Step.from_dict(s) for s in record["steps"]]
                record["reward"] = float(record["reward"])
                assert len(record["steps"]) == len(record["values"]) == len(record["labels"])
            except (ValueError, KeyError, TypeError, AssertionError):
                raise UserError(
                    f"{path}:{number}: not a trajectory written by `coder-rl mcts synthesize`"
                ) from None
            records.append(record)
    return records


def held_out(problem_id: str, fraction: float, seed: int) -> bool:
    """A stable split by problem: every trajectory of a problem lands on the same side."""
    digest = hashlib.sha256(f"{seed}:{problem_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_problems(
    records: list[dict[str, Any]], fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The training records and the held-out ones, split by `held_out`."""
    training, evaluation = [], []
    for record in records:
        (evaluation if held_out(record["problem_id"], fraction, seed) else training).append(record)
    if evaluation and not training:  # a few problems, all drawn out: the first one trains instead
        first = evaluation[0]["problem_id"]
        training = [r for r in evaluation if r["problem_id"] == first]
        evaluation = [r for r in evaluation if r["problem_id"] != first]
    return training, evaluation


@dataclass(frozen=True)
class SiblingPair:
    """Two steps taken after the same prefix, each side being its trajectory cut after that step."""

    problem_id: str
    prompt: str
    better: tuple[Step, ...]
    worse: tuple[Step, ...]


def sibling_pairs(records: list[dict[str, Any]], gap: float) -> list[SiblingPair]:
    """Every pair of sibling steps whose values differ by at least `gap`, each pair once.

    The trajectories of a problem are paths down one search tree, so they are rebuilt into its nodes
    (a node is a problem and its steps so far): many trajectories pass through the same two siblings,
    and keying by node gives each pair once.
    """
    prompts = {record["problem_id"]: record["prompt"] for record in records}
    values: dict[tuple[str, tuple[Step, ...]], float] = {}  # node -> its value
    for record in records:
        for j, value in enumerate(record["values"]):
            values.setdefault((record["problem_id"], tuple(record["steps"][: j + 1])), value)
    siblings: dict[tuple[str, tuple[Step, ...]], list[tuple[tuple[Step, ...], float]]] = defaultdict(list)
    for (problem_id, steps), value in values.items():
        siblings[problem_id, steps[:-1]].append((steps, value))
    pairs = []
    for (problem_id, _), children in siblings.items():
        for better, high in children:
            for worse, low in children:
                if high - low >= gap:
                    pairs.append(SiblingPair(problem_id, prompts[problem_id], better, worse))
    return pairs


def auc(scores: list[float], labels: list[bool]) -> float | None:
    """The probability that a correct step outscores an incorrect one (ties count half); None without both."""
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not positives or not negatives:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def rerank_gain(groups: list[list[tuple[float, float]]]) -> dict[str, float] | None:
    """Best-of-N by the PRM: each group is one problem's programs as (PRM score, reward).

    Means over the problems with 2+ programs (one leaves nothing to choose) of: `random`, the mean
    reward (a random pick's expected reward); `selected`, the reward of the top-scored program, or the
    mean over a tied top so that ties do not favour file order; `oracle`, the best reward; and `gain`,
    selected - random. None without such a problem.
    """
    groups = [group for group in groups if len(group) >= 2]
    if not groups:
        return None
    random, selected, oracle = [], [], []
    for group in groups:
        top = max(score for score, _ in group)
        random.append(mean(reward for _, reward in group))
        selected.append(mean(reward for score, reward in group if score == top))
        oracle.append(max(reward for _, reward in group))
    return {
        "problems": len(groups),
        "random": mean(random),
        "selected": mean(selected),
        "oracle": mean(oracle),
        "gain": mean(selected) - mean(random),
    }


NO_TARGET = -1.0  # pads the targets, and stands for the tags of sibling-pair inputs, which have none


def _trajectory_row(
    tokenizer: Any, record: dict[str, Any], tag_id: int, cfg: PRMTrainConfig
) -> dict[str, Any]:
    item = build_input(tokenizer, record["prompt"], record["steps"], tag_id, cfg.max_length)
    targets = record["values"] if cfg.target == "soft" else [float(label) for label in record["labels"]]
    return {
        "input_ids": item.input_ids,
        "tags": item.tag_positions,
        "targets": targets[: len(item.tag_positions)],
    }


def _pair_row(tokenizer: Any, pair: SiblingPair, tag_id: int, max_length: int) -> dict[str, Any] | None:
    """Both sides as inputs ending at the tag of the step they differ in (their last step); None if a
    side does not fit in `max_length`."""
    better, worse = (
        build_input(tokenizer, pair.prompt, steps, tag_id, max_length) for steps in (pair.better, pair.worse)
    )
    if len(better.tag_positions) < len(pair.better) or len(worse.tag_positions) < len(pair.worse):
        return None
    return {"better": better.input_ids, "worse": worse.input_ids}


def _collate(batch: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """One padded forward pass for a batch of trajectory rows and sibling-pair rows.

    A trajectory brings its tags and their targets. A pair brings its two inputs, each with a single tag
    (its last token) and no target, and `pairs` gives their rows: (better, worse).
    """
    import torch

    sequences, tags, targets, pairs = [], [], [], []
    for row in batch:
        if "better" in row:
            pairs.append([len(sequences), len(sequences) + 1])
            for ids in (row["better"], row["worse"]):
                sequences.append(ids)
                tags.append([len(ids) - 1])
                targets.append([NO_TARGET])
        else:
            sequences.append(row["input_ids"])
            tags.append(row["tags"])
            targets.append(row["targets"])
    width, count = max(map(len, sequences)), max(map(len, tags))
    return {
        "input_ids": torch.tensor([s + [pad_id] * (width - len(s)) for s in sequences]),
        "attention_mask": torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences]),
        "tags": torch.tensor([t + [0] * (count - len(t)) for t in tags]),  # padding: its target is NO_TARGET
        "targets": torch.tensor([t + [NO_TARGET] * (count - len(t)) for t in targets]),
        "pairs": torch.tensor(pairs, dtype=torch.long).reshape(-1, 2),
    }


def _prm_loss(
    logits: Any, tags: Any, targets: Any, pairs: Any, good_id: int, bad_id: int, pairwise_weight: float
) -> Any:
    """BCE between P("+") and the target at every tag that has one, plus `pairwise_weight` times the
    Bradley-Terry loss -log σ(z_better - z_worse) over the pairs, z being the logit of P("+")."""
    import torch.nn.functional as F

    # P("+") against "-" is σ of the difference of their logits: z, computed once for both losses.
    z = (logits[..., good_id].float() - logits[..., bad_id].float()).gather(1, tags)
    scored = targets >= 0
    # A sum over the scored tags, not a mean: a batch of pairs alone has none, and adds no BCE.
    loss = F.binary_cross_entropy_with_logits(z[scored], targets[scored].float(), reduction="sum")
    loss = loss / scored.sum().clamp(min=1)
    if len(pairs):
        # A pair's inputs have their one tag in the first column.
        loss = loss + pairwise_weight * -F.logsigmoid(z[pairs[:, 0], 0] - z[pairs[:, 1], 0]).mean()
    return loss


def _held_out_scores(
    model: Any, tokenizer: Any, records: list[dict[str, Any]], ids: tuple[int, int, int], max_length: int
) -> list[list[float]]:
    """Each trajectory's step scores (fewer than its steps where it does not fit in `max_length`).

    A step's score depends only on the steps up to it, so a node that several trajectories pass through
    keeps the score it got first: scored again within a longer input it can differ in the last bits of
    a float, which would split programs that the PRM ties (on their shared weakest step, say).
    """
    import torch

    tag_id, good_id, bad_id = ids
    model.eval()
    nodes: dict[tuple[str, tuple[Step, ...]], float] = {}
    out = []
    for record in records:
        item = build_input(tokenizer, record["prompt"], record["steps"], tag_id, max_length)
        scores: list[float] = []
        if item.tag_positions:
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([item.input_ids], device=model.device)).logits[0]
            scores = step_scores(logits, item.tag_positions, good_id, bad_id).tolist()
        steps = tuple(record["steps"])
        out.append(
            [nodes.setdefault((record["problem_id"], steps[: j + 1]), s) for j, s in enumerate(scores)]
        )
    return out


@dataclass
class PRMResult:
    model_dir: Path
    train_steps: int
    train_pairs: int
    held_out_steps: int
    first_loss: float | None
    last_loss: float | None
    held_out_auc: float | None
    rerank: dict[str, float] | None  # `rerank_gain` on the held-out problems


def run_prm_train(cfg: PRMTrainConfig) -> PRMResult:
    import torch
    from transformers import Trainer, TrainingArguments

    records = read_trajectories(Path(cfg.trajectories))
    training, evaluation = split_problems(records, cfg.eval_fraction, cfg.seed)
    # float32 weights, whatever the checkpoint holds: bf16 (`trainer.bf16`) is autocast, since AdamW's
    # small updates round away on bf16 weights.
    model, tokenizer, (tag_id, good_id, bad_id) = prm_base(cfg.model, dtype=torch.float32)
    rows = [row for record in training if (row := _trajectory_row(tokenizer, record, tag_id, cfg))["tags"]]
    if not rows:
        raise UserError("no trajectory left to train on (all held out, or none fits max_length)")
    pairs = sibling_pairs(training, cfg.pairwise_gap) if cfg.pairwise_weight else []
    pair_rows = [row for pair in pairs if (row := _pair_row(tokenizer, pair, tag_id, cfg.max_length))]
    out = Path(cfg.output_dir)
    settings = cfg.trainer.model_dump(exclude={"max_length"})  # the PRM's own max_length applies
    args = TrainingArguments(**settings, **run_args(out, cfg.seed, cfg.device), remove_unused_columns=False)

    class StepTrainer(Trainer):
        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, **_: Any
        ) -> Any:
            tags, targets, pairs = inputs.pop("tags"), inputs.pop("targets"), inputs.pop("pairs")
            outputs = model(**inputs)
            loss = _prm_loss(outputs.logits, tags, targets, pairs, good_id, bad_id, cfg.pairwise_weight)
            return (loss, outputs) if return_outputs else loss

    trainer = StepTrainer(
        model=model,
        args=args,
        train_dataset=rows + pair_rows,  # a plain list: the two kinds of rows share no columns
        data_collator=partial(_collate, pad_id=tokenizer.pad_token_id or 0),
        processing_class=tokenizer,
    )
    train_resuming(trainer, out)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    # PRM(path) reads the max length it was trained with from PRM_SETTINGS
    final = save_final(trainer, out, {PRM_SETTINGS: json.dumps({"max_length": cfg.max_length})})
    train_steps, train_pairs = sum(len(r["tags"]) for r in rows), len(pair_rows)
    first, last = (losses[0], losses[-1]) if losses else (None, None)
    if not trainer.is_world_process_zero():  # under `accelerate launch`: the main process evaluates
        return PRMResult(final, train_steps, train_pairs, 0, first, last, None, None)
    held_scores = _held_out_scores(model, tokenizer, evaluation, (tag_id, good_id, bad_id), cfg.max_length)
    scores, labels = [], []
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)  # problem -> (PRM score, reward)
    for record, trajectory in zip(evaluation, held_scores, strict=True):
        if not trajectory:  # not even its first step fits in max_length: nothing to rank it by
            continue
        scores += trajectory
        labels += [bool(label) for label in record["labels"][: len(trajectory)]]
        groups[record["problem_id"]].append(
            (reduce_steps(trajectory, cfg.rerank_reduction), record["reward"])
        )
    result = PRMResult(
        model_dir=final,
        train_steps=train_steps,
        train_pairs=train_pairs,
        held_out_steps=len(labels),
        first_loss=first,
        last_loss=last,
        held_out_auc=auc(scores, labels),
        rerank=rerank_gain(list(groups.values())),
    )
    (out / "report.json").write_text(json.dumps({**vars(result), "model_dir": str(final)}, indent=1))
    return result
