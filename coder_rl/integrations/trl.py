"""A reward function for TRL's GRPOTrainer (and any trainer that calls reward functions TRL's way):

    from trl import GRPOTrainer
    from sandbox import Sandbox
    from coder_rl.integrations.trl import CodeReward

    box = Sandbox()                      # isolated workers, one per core; close it after training
    trainer = GRPOTrainer(model=..., train_dataset=rows, reward_funcs=[CodeReward(box)], args=...)

Each dataset row carries its tests in an `input_output` column (TACO's JSON, stdin or call-based), or a
`problem_id` of a problem given to CodeReward. `coder-rl rl run` rewards its own GRPO runs with this
class. Completions may be standard or conversational; with `format="chat"` (a chat model's answer) the
program is the last fenced code block after the reasoning, in the default `steps` format it is the code
of the last generate step (or, failing that, the last fenced block). The reward is `RewardScorer`'s:
the sandbox's outcome, the PRM's process reward when one is given, and `format_weight` × the format
reward for that format's shape.

A sample whose sandbox run failed for a fault of ours (after a retry on a fresh worker) is None: TRL
leaves a completion every reward function scored None out of the advantages, so it is neither rewarded
nor punished. Faults are logged as `reward/faults`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from coder_rl.integrations.scoring import RewardScorer, faults, label_problem
from coder_rl.rewards import PRMScorer, RewardConfig, alpha
from coder_rl.trajectory import PromptFormat
from sandbox import Sandbox


class CodeReward:
    """φ (+ format) for each completion of a batch; async, so TRL awaits it beside other reward functions
    while the sandbox runs the batch's programs together."""

    def __init__(
        self,
        box: Sandbox,
        problems: Mapping[str, Problem] | None = None,
        prm: Any = None,
        rewards: RewardConfig | None = None,
        format_weight: float = 0.0,
        format: PromptFormat = "steps",
    ) -> None:
        """`prm`: a `coder_rl.prm.PRM` (or its `score_batch`) for the process reward."""
        prm_scores: PRMScorer | None = getattr(prm, "score_batch", prm)
        self.scorer = RewardScorer(box, prm_scores, rewards, format_weight, format)
        self.problems = problems or {}

    async def __call__(
        self, prompts: list[Any], completions: list[Any], trainer_state: Any = None, log_metric: Any = None,
        problem_id: list[str] | None = None, input_output: list[Any] | None = None, **_: Any,
    ) -> list[float | None]:  # fmt: skip
        problems = self._problems(prompts, problem_id, input_output)
        step = trainer_state.global_step if trainer_state is not None else 0
        judged = await asyncio.to_thread(self.scorer.score, problems, [_text(c) for c in completions], step)
        if log_metric is not None:
            known = [j.outcome for j in judged if j.outcome is not None]
            flat = [s for j in judged for s in j.step_scores]
            log_metric("reward/outcome", sum(known) / max(len(known), 1))
            log_metric("reward/pass_rate", sum(o == 1.0 for o in known) / max(len(known), 1))
            log_metric("reward/format", sum(j.format for j in judged) / max(len(judged), 1))
            log_metric("reward/faults", faults(judged))
            log_metric("reward/alpha", alpha(step, self.scorer.rewards))
            if flat:
                log_metric("reward/process", sum(flat) / len(flat))
        return [j.reward for j in judged]

    def _problems(
        self, prompts: list[Any], problem_id: list[str] | None, input_output: list[Any] | None
    ) -> list[Problem]:
        if problem_id is not None and self.problems:
            return [self.problems[pid] for pid in problem_id]
        if input_output is None:
            raise UserError(
                "CodeReward needs each row's tests: an input_output column (TACO's JSON), or a problem_id "
                "column naming one of the problems it was given"
            )
        return [label_problem(io, _text(p)) for io, p in zip(input_output, prompts, strict=True)]


def _text(message: str | Sequence[Mapping[str, Any]]) -> str:
    """A standard-format prompt or completion as it is; a conversational one as its last message's
    content (the model's answer, or the user's question)."""
    if isinstance(message, str):
        return message
    return str(message[-1]["content"]) if message else ""
