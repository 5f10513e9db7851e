"""One trajectory format: the prompt a policy sees, what its completion says, and what the PRM scores.

A policy writes a trajectory (a define step, refine steps, a generate step) after `policy_prompt`;
beam search and MCTS ask for it one step at a time with `next_step_prompt`. `read_completion` turns
what the policy wrote into a `Trajectory` (its steps, its program), and `prm_input` is what the PRM
scores for those steps: the problem's `statement`, then the steps. Every pipeline (GRPO, PPO, SFT,
evaluation, best-of-N, beam search, MCTS and its exports, the verifier, PRM training) goes through
these functions, because a mismatch between what training, evaluation and the PRM see raises no
error: learning just stops.

Imports `coder_rl.config`, `coder_rl.data` and `pseudocode` only, so every layer above may use it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.problem import Problem
from pseudocode.prompts import problem_prompt, step_prompt
from pseudocode.steps import Action, Step, extract_code, format_step, parse_steps, step_open

Stated = Problem | str  # a problem, or its `statement` as exported records hold it
PRMInput = tuple[str, list[Step]]  # what `PRM.score_batch` takes for one trajectory

# A policy prompt ends by opening the first (define) step, so the completion continues that step.
OPENING = step_open(Action.DEFINE)


def statement(problem: Problem) -> str:
    """The problem as trajectories state it: in a policy prompt after the worked example, before the
    steps the PRM scores, and as the `prompt` of exported records (which PRM training and SFT read)."""
    return problem_prompt(problem)


class PromptConfig(Section):
    """How a policy is prompted: the `prompt` section of every command that prompts one (rl run, rl sft,
    mcts synthesize, search, the pass rate). A policy must be prompted the same way in training and
    evaluation, so set it alike everywhere (`bench learning` and `selfplay` pass theirs down)."""

    worked_example: bool = Field(
        True,
        description="open with a worked example: helps a pretrained model; a model trained from scratch needs none",
    )


DEFAULT_PROMPT = PromptConfig()


def policy_prompt(problem: Stated, prompt: PromptConfig = DEFAULT_PROMPT) -> str:
    """The prompt for a whole trajectory (RL, SFT, evaluation, best-of-N); also the first prompt of
    beam search and MCTS, which ask for the same define step."""
    return step_prompt(problem, [], Action.DEFINE, prompt.worked_example)


def next_step_prompt(
    problem: Stated, steps: Sequence[Step], action: Action, prompt: PromptConfig = DEFAULT_PROMPT
) -> str:
    """The prompt for the next step, of kind `action`, of a partial trajectory (beam search, MCTS, SFT's
    per-step examples). With no steps and a define step it is `policy_prompt`."""
    return step_prompt(problem, list(steps), action, prompt.worked_example)


def step_completion(step: Step) -> str:
    """What a policy writes for `step` after `next_step_prompt` asked for it: the body and `</step>`
    (the prompt opened the step). `pseudocode.parse_step_body` reads it back."""
    return format_step(step)[len(step_open(step.action)) :]


@dataclass(frozen=True)
class Trajectory:
    """A run of steps as the policy wrote it, read once for every reward and every consumer."""

    text: str  # the whole run: for a completion, `OPENING` + what the policy wrote
    steps: tuple[Step, ...]  # every readable step
    program: str | None  # what the sandbox runs: the last generate step's code (`_program`)
    ends: tuple[int, ...]  # per step, the offset in `text` just past its `</step>`
    errors: Counter = field(hash=False)  # unreadable parts, by reason (`pseudocode.parse_steps`)

    @property
    def well_formed(self) -> bool:
        """The format reward's test: every step readable, the last one a generate step with code."""
        ends_in_code = bool(self.steps) and self.steps[-1].action is Action.GENERATE
        return not self.errors and ends_in_code and self.program is not None


def read_completion(completion: str) -> Trajectory:
    """What a policy wrote after `policy_prompt`."""
    return read_trajectory(OPENING + completion)


def read_trajectory(text: str) -> Trajectory:
    """A whole run of steps, its first one opened (an exported record's completion, say)."""
    parsed = parse_steps(text)
    return Trajectory(
        text, tuple(parsed.steps), _program(parsed.steps, text), tuple(parsed.ends), parsed.errors
    )


def _program(steps: Sequence[Step], text: str) -> str | None:
    """The code of the last generate step; without one, that of `text` read as a generate step (its
    last fenced block), so a program whose step was cut before `</step>` still runs."""
    generate = [s for s in steps if s.action is Action.GENERATE]
    code, _ = extract_code(generate[-1] if generate else Step(Action.GENERATE, text))
    return code


def prm_input(problem: Stated, steps: Sequence[Step]) -> PRMInput:
    """What the PRM scores for a trajectory: the problem's `statement` (as it read in training, from
    exported records), then exactly these steps, each scored at the tag after it (`prm_pieces`)."""
    return (problem if isinstance(problem, str) else statement(problem), list(steps))


def prm_pieces(stated: str, steps: Sequence[Step]) -> list[str]:
    """The PRM's text in the pieces it tokenizes apart, a step tag after each step's piece: the
    statement, then each step in the format the policy writes it."""
    return [stated, *(format_step(step) for step in steps)]


def prm_text(stated: str, steps: Sequence[Step]) -> str:
    """The PRM's text without its tags: the statement and the steps so far."""
    return "".join(prm_pieces(stated, steps))
