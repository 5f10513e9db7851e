"""One trajectory format: the prompt a policy sees, what its completion says, and what the PRM scores.

A prompt comes in one of two formats (`PromptConfig.format`):
- `steps`: coder-rl's own text prompt. The policy writes a trajectory (a define step, refine steps, a
  generate step) after `policy_prompt`; beam search and MCTS ask for it one step at a time with
  `next_step_prompt`.
- `chat`: system and user messages that the backend renders with the model's chat template, as
  instruction-tuned and reasoning models expect. The answer may reason first (`<think>`, free text, or
  steps); its program is the last fenced code block after the reasoning.

`read_completion` turns what the policy wrote into a `Trajectory` (its steps, its program, whether it
has the format's shape), and `prm_input` is what the PRM scores for those steps: the problem's
`statement`, then the steps. Every pipeline (GRPO, PPO, SFT, evaluation, best-of-N, beam search, MCTS
and its exports, the verifier, PRM training) goes through these functions, because a mismatch between
what training, evaluation and the PRM see raises no error: learning just stops.

Imports `coder_rl.config`, `coder_rl.data`, `coder_rl.prompts` and `pseudocode` only, so every layer
above may use it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from coder_rl.prompts import Message, Prompt
from pseudocode.prompts import STEPS_HEADING, problem_prompt, step_prompt
from pseudocode.steps import (
    Action,
    Step,
    StepParse,
    extract_code,
    fenced_blocks,
    format_step,
    parse_steps,
    step_open,
)

Stated = Problem | str  # a problem, or its `statement` as exported records hold it
PRMInput = tuple[str, list[Step]]  # what `PRM.score_batch` takes for one trajectory

# A policy prompt ends by opening the first (define) step, so the completion continues that step.
OPENING = step_open(Action.DEFINE)


def statement(problem: Problem) -> str:
    """The problem as trajectories state it: in a policy prompt after the worked example, before the
    steps the PRM scores, and as the `prompt` of exported records (which PRM training and SFT read)."""
    return problem_prompt(problem)


# chat_think: chat for a template that opens <think> in the prompt (the DeepSeek-R1 distills'), so an
# answer without `</think>` was cut off while reasoning, whatever blocks it holds.
PromptFormat = Literal["steps", "chat", "chat_think"]

DEFAULT_SYSTEM = "You are an expert Python programmer."
# The chat format's request, after the problem: the answer's shape that `read_completion` reads.
CHAT_TASK = (
    "Reason about the problem first. Then write the complete Python 3 program in one ```python code "
    "block at the end of your answer."
)
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


class PromptConfig(Section):
    """How a policy is prompted: the `prompt` section of every command that prompts one (rl run, rl sft,
    mcts synthesize, search, eval, the pass rate). A policy must be prompted the same way in training
    and evaluation, so set it alike everywhere (`bench learning` and `selfplay` pass theirs down)."""

    format: PromptFormat = Field(
        "steps",
        description="steps: coder-rl's text prompt, answered in pseudocode steps; chat: system and user "
        "messages through the model's chat template, answered with reasoning then a ```python block; "
        "chat_think: chat, for a template that opens <think> in the prompt (the R1 distills)",
    )
    worked_example: bool = Field(
        True,
        description="steps: open with a worked example: helps a pretrained model; a model trained from "
        "scratch needs none",
    )
    system: str = Field(DEFAULT_SYSTEM, description="chat: the system message ('' sends none)")


DEFAULT_PROMPT = PromptConfig()


def policy_prompt(problem: Stated, prompt: PromptConfig = DEFAULT_PROMPT) -> Prompt:
    """The prompt for a whole answer (RL, SFT, evaluation, best-of-N). In the steps format it is also the
    first prompt of beam search and MCTS, which ask for the same define step."""
    if prompt.format != "steps":
        return chat_messages(problem, prompt.system)
    return step_prompt(problem, [], Action.DEFINE, prompt.worked_example)


def chat_messages(problem: Stated, system: str = DEFAULT_SYSTEM) -> list[Message]:
    """The chat format's prompt: the system message (none when empty), then the problem (as `statement`
    states it, without the steps heading) and `CHAT_TASK` from the user."""
    stated = problem if isinstance(problem, str) else statement(problem)
    user = {"role": "user", "content": f"{stated.removesuffix(STEPS_HEADING)}\n\n{CHAT_TASK}"}
    return [{"role": "system", "content": system}, user] if system else [user]


def step_search_format(prompt: PromptConfig, where: str) -> None:
    """Step-level search (beam, MCTS) asks for one step at a time, which only the steps format does."""
    if prompt.format != "steps":
        raise UserError(f"{where} searches step by step: it needs prompt.format steps, not {prompt.format}")


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
    """What a policy wrote, read once for every reward and every consumer."""

    text: str  # the whole run: for a steps completion, `OPENING` + what the policy wrote
    steps: tuple[Step, ...]  # every readable step (a chat answer has them only if it writes them)
    program: str | None  # what the sandbox runs (`_program`, `read_answer`)
    ends: tuple[int, ...]  # per step, the offset in `text` just past its `</step>`
    errors: Counter = field(hash=False)  # what breaks the format's shape, by reason
    format: PromptFormat = "steps"

    @property
    def well_formed(self) -> bool:
        """The format reward's test. steps: every step readable, the last one a generate step with code;
        chat: reasoning closed where it was opened, then a closed ```python block holding the program."""
        if self.format != "steps":
            return not self.errors and self.program is not None
        ends_in_code = bool(self.steps) and self.steps[-1].action is Action.GENERATE
        return not self.errors and ends_in_code and self.program is not None


def read_completion(completion: str, format: PromptFormat = "steps") -> Trajectory:
    """What a policy wrote after `policy_prompt` in that format."""
    if format != "steps":
        return read_answer(completion, think_opened=format == "chat_think")
    return read_trajectory(OPENING + completion)


def read_trajectory(text: str) -> Trajectory:
    """A whole run of steps, its first one opened (an exported record's completion, say)."""
    parsed = parse_steps(text)
    return Trajectory(
        text, tuple(parsed.steps), _program(parsed.steps, text), tuple(parsed.ends), parsed.errors
    )


def read_answer(text: str, think_opened: bool = False) -> Trajectory:
    """A chat answer: reasoning, then the program in the last ```python block after it.

    The reasoning ends at the last `</think>` where there is one. A `<think>` never closed (opened by
    the answer, or by the prompt: `think_opened`) leaves no answer: the model was cut off while
    reasoning, and a draft in its reasoning is not its program. A last block cut before
    its closing fence is still the program (it runs) but breaks the shape, as does an answer without a
    block. The steps are those the answer writes in the step format, for the PRM."""
    errors: Counter = Counter()
    answer = text.rsplit(THINK_CLOSE, 1)[1] if THINK_CLOSE in text else text
    if THINK_CLOSE not in text and (think_opened or THINK_OPEN in text):
        errors["unclosed_think"] += 1
        answer = ""
    blocks = fenced_blocks(answer)
    if not blocks:
        errors["no_code_block"] += 1
    elif not blocks[-1][1]:
        errors["unclosed_code_block"] += 1
    parsed = parse_steps(text) if "<step action=" in text else StepParse()
    program = blocks[-1][0] if blocks else None
    chat: PromptFormat = "chat_think" if think_opened else "chat"
    return Trajectory(text, tuple(parsed.steps), program, tuple(parsed.ends), errors, chat)


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
