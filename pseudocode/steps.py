"""Reasoning steps: the three actions, one explicit step format, a tolerant parser, code extraction.

A trajectory is a run of steps, each naming its action:

    <step action="define">
    FUNCTION count_pairs(nums, k) -> int: how many pairs i < j have nums[i] + nums[j] == k
    MAIN: read the input, call count_pairs, print the result
    </step>
    <step action="refine">
    count_pairs: walk the numbers once, keeping a map value -> times seen; for each x add seen[k - x]
    </step>
    <step action="generate">
    ```python
    ...
    ```
    </step>

*define* lays out the algorithm's structure (main functions, their inputs, outputs and role), *refine*
makes part of it concrete (steps, logic, operations), *generate* writes the Python program. The
parser never raises: what it cannot read is counted under a reason, and a model's text with no step
delimiter at all still counts as one step of the action that was asked for.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum


class Action(str, Enum):
    DEFINE = "define"
    REFINE = "refine"
    GENERATE = "generate"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Step:
    action: Action
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"action": self.action.value, "text": self.text}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Step:
        return cls(Action(data["action"]), data["text"])


@dataclass
class StepParse:
    steps: list[Step] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)  # reason -> count
    ends: list[int] = field(default_factory=list)  # per step, the offset just past its `</step>`


_STEP = re.compile(r'<step action="([^"]*)">\n?(.*?)(?:</step>|(?=<step action=)|\Z)', re.DOTALL)
# A Python (or unlabelled) code block; group 2 is empty where the text ends before the block closes.
_FENCE = re.compile(r"```(?:python|py|python3)?[ \t]*\n(.*?)(```|\Z)", re.DOTALL)


def step_open(action: Action) -> str:
    """The opening delimiter: a prompt ends with it, so the model writes the step's body."""
    return f'<step action="{action.value}">\n'


STEP_CLOSE = "</step>"


def format_step(step: Step) -> str:
    return f"{step_open(step.action)}{step.text.strip()}\n{STEP_CLOSE}\n"


def format_steps(steps: list[Step]) -> str:
    return "".join(format_step(step) for step in steps)


def parse_steps(text: str) -> StepParse:
    """Every readable step of a run of steps."""
    result = StepParse()
    if not isinstance(text, str):
        result.errors["not_text"] += 1
        return result
    if not text.strip():  # no steps yet
        return result
    matches = list(_STEP.finditer(text))
    if not matches:
        result.errors["no_delimiter"] += 1
        return result
    for match in matches:
        name, body = match.group(1), match.group(2).strip()
        if not match.group(0).rstrip().endswith(STEP_CLOSE):
            result.errors["unclosed_step"] += 1
            continue
        try:
            action = Action(name)
        except ValueError:
            result.errors["unknown_action"] += 1
            continue
        if not body:
            result.errors["empty_step"] += 1
            continue
        result.steps.append(Step(action, body))
        result.ends.append(match.start() + len(match.group(0).rstrip()))
    return result


def parse_step_body(action: Action, completion: str) -> tuple[Step | None, Counter]:
    """The step a model wrote after a prompt ending in `step_open(action)`: its text up to `</step>`.
    A completion cut before `</step>` (a stop string or max_tokens) is still read; an empty one is not."""
    errors: Counter = Counter()
    body = completion.split(STEP_CLOSE, 1)[0]
    if "<step action=" in body:  # the model went on to write further steps: keep only its own
        body = body.split("<step action=", 1)[0]
        errors["extra_steps"] += 1
    body = body.strip()
    if not body:
        errors["empty_step"] += 1
        return None, errors
    return Step(action, body), errors


def fence(code: str) -> str:
    """A program as a generate step holds it, in a ```python block (`extract_code` reads it back)."""
    return f"```python\n{code.strip()}\n```"


def fenced_blocks(text: str) -> list[tuple[str, bool]]:
    """Every non-empty Python code block of `text`, in order, as (code, closed): the last one may run to
    the end of the text without its closing fence (a completion cut by max_tokens)."""
    return [
        (m.group(1).rstrip() + "\n", bool(m.group(2))) for m in _FENCE.finditer(text) if m.group(1).strip()
    ]


def extract_code(step: Step) -> tuple[str | None, Counter]:
    """The program in a generate step: its last fenced block; failing that, the whole step if it is
    Python (counted as `code_without_fence`); otherwise None (`no_code`)."""
    errors: Counter = Counter()
    if step.action is not Action.GENERATE:
        errors["not_a_generate_step"] += 1
        return None, errors
    blocks = fenced_blocks(step.text)
    if blocks:
        return blocks[-1][0], errors
    errors["code_without_fence"] += 1
    try:
        compile(step.text, "<step>", "exec")
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
        errors["no_code"] += 1
        return None, errors
    return step.text.rstrip() + "\n", errors
