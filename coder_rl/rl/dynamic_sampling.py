"""DAPO's dynamic sampling (Yu et al. 2025, "DAPO", §3.2) for TRL's GRPOTrainer.

A group is the num_generations completions of one prompt. When its rewards r_1..r_G are all equal, every
advantage A_i = (r_i − mean(r)) / (std(r) + ε) is 0: the group moves no weight, and under a token-level
loss its tokens still count in the normaliser, diluting the groups that do teach. With
`grpo.dynamic_sampling`, each generation batch of B groups is scored as TRL scores it, the groups whose
scored rewards (the weighted sum TRL normalises; None-scored completions left out) are all equal are
set aside, and further batches of prompts are sampled, one round each, until B informative groups are
found or `grpo.max_sampling_rounds` rounds have run. The batch is the first B informative groups in
sampling order. When the cap leaves it short, the earliest all-equal groups fill it up: zero advantage,
as GRPO without dynamic sampling would have trained on them, so every step keeps its full shape and no
step waits on an unbounded loop. Informative groups beyond B (the last round's surplus) are discarded,
as in DAPO. Logged per generation batch: `dynamic_sampling/kept_groups`, `dropped_groups` (all-equal
groups left out), `filled_groups` (all-equal groups in a short batch) and `rounds`.

Each round is TRL's own `_generate_and_score_completions`, so advantages are normalised within each
group exactly as TRL does, from the one policy (nothing is updated between rounds). Under several
processes: the rewards TRL gathers across processes decide the groups, so every process makes the same
choice and runs the same number of rounds (the collectives inside each round stay in step); each round's
tensors are padded and gathered across processes, the batch is assembled from the global rows of the
chosen groups (a group's rows may have been generated on different processes), and each process takes
its own slice of it, as TRL slices a gathered batch. Further prompts come from a second sampler over the
training set (TRL's RepeatSampler, each prompt num_generations times, always shuffled and seeded apart
from the trainer's own), so the trainer's steps and epochs count as they do without dynamic sampling.

Imported only by `run_grpo` when the option is on, so torch and trl are imported at the top.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from trl import GRPOTrainer
from trl.trainer.utils import RepeatSampler

from coder_rl.errors import UserError

# The row tensors a text-only round returns, with how TRL pads each: (pads on the left, pad value);
# None for the pad token. Prompts are left-padded, completions and their per-token values right-padded.
_PADDING: dict[str, tuple[bool, float | None]] = {
    "prompt_ids": (True, None),
    "prompt_mask": (True, 0),
    "completion_ids": (False, None),
    "completion_mask": (False, 0),
    "tool_mask": (False, 1),
    "old_per_token_logps": (False, 0.0),
    "sampling_per_token_logps": (False, 0.0),
    "ref_per_token_logps": (False, 0.0),
    "importance_sampling_ratio": (False, 1.0),  # exp(0): what TRL's ratio is at a padded token
}


def informative_groups(rewards: torch.Tensor, group_size: int, tolerance: float = 1e-6) -> list[bool]:
    """Per group of `group_size` consecutive rewards: whether its scored rewards (NaN: not scored)
    differ, max − min > `tolerance`. A group with fewer than two scored rewards has no advantage."""
    grouped = rewards.view(-1, group_size)
    scored = ~torch.isnan(grouped)
    high = torch.where(scored, grouped, -torch.inf).max(dim=1).values
    low = torch.where(scored, grouped, torch.inf).min(dim=1).values
    return ((high - low) > tolerance).tolist()  # no scored reward: -inf − inf, not informative


@dataclass(frozen=True)
class GroupChoice:
    """The groups that make a batch, as (round, group) in sampling order, and the counts logged."""

    groups: list[tuple[int, int]]
    kept: int  # informative groups in the batch
    filled: int  # all-equal groups filling a batch the cap left short
    dropped: int  # all-equal groups left out


def choose_groups(informative: list[list[bool]], needed: int) -> GroupChoice:
    """The first `needed` informative groups over the rounds (`informative[round][group]`); if fewer
    were found, the earliest all-equal groups make up the rest."""
    flags = [((r, g), ok) for r, round_flags in enumerate(informative) for g, ok in enumerate(round_flags)]
    kept = [group for group, ok in flags if ok][:needed]
    equal = [group for group, ok in flags if not ok]
    filler = equal[: needed - len(kept)]
    return GroupChoice(kept + filler, len(kept), len(filler), len(equal) - len(filler))


def pad_width(tensors: list[torch.Tensor], left: bool, value: float) -> list[torch.Tensor]:
    """Each (rows, width) tensor padded along dim 1 to the widest one's width, on the left or right."""
    width = max(t.size(1) for t in tensors)
    return [
        F.pad(t, (width - t.size(1), 0) if left else (0, width - t.size(1)), value=value) for t in tensors
    ]


class DynamicSamplingGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose training batches hold only groups with unequal rewards, while the rounds
    allowed (`max_sampling_rounds`) find enough of them. Evaluation batches are TRL's, unchanged."""

    def __init__(self, *args: Any, max_sampling_rounds: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.train_dataset, torch.utils.data.IterableDataset):
            raise UserError("config error: grpo.dynamic_sampling: needs a dataset that can be indexed")
        if self.args.multi_objective_aggregation != "sum_then_normalize":
            # groups are judged on the summed rewards, which only this aggregation normalises per group
            raise UserError(
                "config error: grpo.dynamic_sampling: needs grpo.trl.multi_objective_aggregation "
                "sum_then_normalize (TRL's default)"
            )
        self.max_sampling_rounds = max_sampling_rounds
        self._refills: Iterator[list[dict[str, Any]]] | None = None
        self._round_rewards: torch.Tensor | None = None

    def _calculate_rewards(
        self, inputs: list[dict[str, Any]], prompts: list[Any], completions: list[Any],
        completion_ids_list: list[list[int]],
    ) -> torch.Tensor:  # fmt: skip
        # TRL's, gathered across processes: every process sees every group's rewards
        self._round_rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        return self._round_rewards

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        if not self.model.training:
            return super()._generate_and_score_completions(inputs)
        local_rows = len(inputs)
        rounds: list[dict[str, torch.Tensor]] = []
        informative: list[list[bool]] = []
        while True:
            rounds.append(self._gathered(super()._generate_and_score_completions(inputs)))
            informative.append(informative_groups(self._weighted_rewards(), self.num_generations))
            needed = len(informative[0])  # every round samples one generation batch of groups
            if sum(map(sum, informative)) >= needed or len(informative) == self.max_sampling_rounds:
                break
            inputs = self._next_refill()
        choice = choose_groups(informative, needed)
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/kept_groups"].append(choice.kept)
        metrics["dynamic_sampling/dropped_groups"].append(choice.dropped)
        metrics["dynamic_sampling/filled_groups"].append(choice.filled)
        metrics["dynamic_sampling/rounds"].append(len(informative))
        return self._batch(rounds, choice, local_rows)

    def _weighted_rewards(self) -> torch.Tensor:
        """The last round's reward per completion, Σ_k w_k·r_k as TRL sums it; NaN where no reward
        function scored the completion."""
        assert self._round_rewards is not None  # set by the round's _calculate_rewards
        per_func = self._round_rewards
        rewards = (per_func * self.reward_weights.to(per_func.device).unsqueeze(0)).nansum(dim=1)
        return rewards.masked_fill(torch.isnan(per_func).all(dim=1), torch.nan)

    def _gathered(self, output: dict[str, Any]) -> dict[str, torch.Tensor]:
        """A round's row tensors from every process, in process order (TRL's order of the rewards)."""
        unknown = set(output) - {*_PADDING, "advantages", "num_items_in_batch"}
        if unknown:
            raise UserError(
                f"config error: grpo.dynamic_sampling: supports text-only batches (got {', '.join(sorted(unknown))})"
            )
        gathered = {}
        for key, tensor in output.items():
            if key in _PADDING:
                left, value = self._padding(key)
                tensor = self.accelerator.pad_across_processes(tensor, dim=1, pad_index=value, pad_first=left)
            if key != "num_items_in_batch":  # recounted over the batch's own rows
                gathered[key] = self.accelerator.gather(tensor)
        return gathered

    def _batch(
        self, rounds: list[dict[str, torch.Tensor]], choice: GroupChoice, local_rows: int
    ) -> dict[str, Any]:
        """This process's slice of the batch of the chosen groups' rows, with TRL's `num_items_in_batch`:
        the loss tokens of the whole batch, over every process."""
        size, groups = self.num_generations, len(rounds[0]["advantages"]) // self.num_generations
        rows = torch.tensor(
            [(r * groups + g) * size + i for r, g in choice.groups for i in range(size)],
            device=self.accelerator.device,
        )
        chosen = {key: self._merged([r[key] for r in rounds], key)[rows] for key in rounds[0]}
        start = self.accelerator.process_index * local_rows
        batch: dict[str, Any] = {key: value[start : start + local_rows] for key, value in chosen.items()}
        batch["num_items_in_batch"] = (chosen["completion_mask"] * chosen.get("tool_mask", 1)).sum()
        return batch

    def _merged(self, parts: list[torch.Tensor], key: str) -> torch.Tensor:
        """One key's tensors from every round, one under the other, padded to one width as TRL pads."""
        if key in _PADDING:
            parts = pad_width(parts, *self._padding(key))
        return torch.cat(parts)

    def _padding(self, key: str) -> tuple[bool, float]:
        """How TRL pads `key`'s rows: (on the left, with what)."""
        left, value = _PADDING[key]
        return left, self._tokenizer.pad_token_id if value is None else value

    def _next_refill(self) -> list[dict[str, Any]]:
        """The next local generation batch of the refill sampler, started on first use."""
        if self._refills is None:
            loader = self._get_dataloader(
                dataset=self.train_dataset,
                description="Dynamic sampling",
                batch_size=self._train_batch_size * self.args.steps_per_generation,
                sampler_fn=lambda dataset: RepeatSampler(
                    data_source=dataset,
                    mini_repeat_count=self.num_generations,
                    batch_size=self.args.generation_batch_size // self.num_generations,
                    # shuffled and seeded apart from the trainer's sampler, which would replay the prompts it is
                    # about to give (in order, without shuffling)
                    shuffle=True,
                    seed=self.args.seed + 1,
                ),
                is_training=True,
            )
            self._refills = _endless(loader)
        return next(self._refills)


def _endless(loader: Iterable[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    """The loader's batches, pass after pass (RepeatSampler reshuffles each pass)."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise UserError(
                "config error: grpo.dynamic_sampling: the training set holds fewer prompts than one "
                "generation batch needs"
            )
