"""The plain code-generation prompt: a problem in, a fenced Python program out.

Reasoning-step prompts (define / refine / generate) live in `pseudocode`; this one is for direct sampling.
"""

from __future__ import annotations

from coder_rl.data.problem import Problem

CODE_FENCE_STOP = "\n```"  # the completion ends where the model closes the code block


def code_prompt(problem: Problem) -> str:
    """Question, how the program is run, starter code, then an open ```python fence for the whole program."""
    if problem.kind == "call":
        task = f"Complete the function `{problem.fn_name}` (a top-level function or a method of `class Solution`)."
    elif problem.kind == "assert":
        task = "Write the Python function the problem asks for; it will be tested with assert statements."
    else:
        task = "Write a Python 3 program that reads the input from standard input and prints the answer."
    parts = ["### Problem", problem.question.strip(), "", "### Task", task, ""]
    if problem.starter_code.strip():
        parts += ["### Starter code", "```python", problem.starter_code.rstrip(), "```", ""]
    parts += ["### Solution", "```python"]
    return "\n".join(parts) + "\n"
