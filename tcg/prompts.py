"""TCG prompts: the problem alone (the default: at inference there is no code), or with a reference
solution in context (o1-Coder's training variant). The completion is a run of test blocks in the
format of `tcg.format`, and the prompt ends where the first block starts."""

from __future__ import annotations

from coder_rl.data.problem import Problem
from coder_rl.prompts import describe

TESTS_STOP = "\n###"  # generation ends if the model starts a new section


def tcg_prompt(problem: Problem, num_tests: int, solution: str | None = None) -> str:
    d = describe(problem)
    parts = ["### Problem", d.question, ""]
    if d.starter_code:
        parts += ["### Starter code", *d.starter_block(), ""]
    if solution is not None:
        parts += ["### Reference solution", "```python", solution.rstrip(), "```", ""]
    # The test format has a call form and a stdin form: asserts have none, so they get stdin's.
    if d.runs == "call":
        shape = (
            f"<test>\n<call>{d.fn_name}</call>\n<args>[JSON list of the arguments]</args>\n"
            "<expected>JSON value it returns</expected>\n</test>"
        )
    else:
        shape = (
            "<test>\n<input>\nthe program's stdin\n</input>\n<output>\nthe exact stdout\n</output>\n</test>"
        )
    parts += [
        "### Task",
        f"Write {num_tests} test cases that a correct solution passes, each in this form:",
        shape,
        "",
        "### Tests",
    ]
    return "\n".join(parts) + "\n"
