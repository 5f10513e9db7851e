"""How every prompt describes a problem (`describe`), and the plain code-generation prompt.

The code prompt here, the reasoning-step prompts (`pseudocode.prompts`) and the TCG's (`tcg.prompts`)
each word a problem their own way, but all of them state the same facts, taken from `describe`: the
question, how the program is run, the starter code. Imports nothing above `coder_rl.data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from coder_rl.data.problem import Problem

CODE_FENCE_STOP = "\n```"  # the completion ends where the model closes the code block

Runs = Literal["stdin", "call", "assert"]

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}
# What a policy is prompted with: text it continues, or chat messages the backend renders with the
# model's own chat template (the tokenizer's, or the server's for an OpenAI-compatible one).
Prompt = str | list[Message]


@dataclass(frozen=True)
class Description:
    """What every prompt says about a problem."""

    question: str  # stripped
    runs: Runs  # how the program is run: reads stdin, has `fn_name` called, or is tested by asserts
    fn_name: str | None  # the function a call-based problem's tests call
    starter_code: str  # right-stripped; "" when there is none

    def starter_block(self) -> list[str]:
        """The starter code as a fenced block's lines (none without starter code)."""
        return ["```python", self.starter_code, "```"] if self.starter_code else []


def describe(problem: Problem) -> Description:
    """The one place that decides how a problem's program runs: called by name when the problem names a
    function (its tests do, or `metadata["fn_name"]` when they are hidden or replaced), tested by asserts
    when its tests are asserts, else reading standard input."""
    runs: Runs = "call" if problem.fn_name else "assert" if problem.kind == "assert" else "stdin"
    return Description(problem.question.strip(), runs, problem.fn_name, problem.starter_code.rstrip())


def code_prompt(problem: Problem) -> str:
    """Question, how the program is run, starter code, then an open ```python fence for the whole program."""
    d = describe(problem)
    task = {
        "call": f"Complete the function `{d.fn_name}` (a top-level function or a method of `class Solution`).",
        "assert": "Write the Python function the problem asks for; it will be tested with assert statements.",
        "stdin": "Write a Python 3 program that reads the input from standard input and prints the answer.",
    }[d.runs]
    parts = ["### Problem", d.question, "", "### Task", task, ""]
    if d.starter_code:
        parts += ["### Starter code", *d.starter_block(), ""]
    parts += ["### Solution", "```python"]
    return "\n".join(parts) + "\n"
