"""Prompts for the three actions. Each shows one worked example, written for this project, then the
problem, the steps so far, and the action asked for; it ends with that step's opening delimiter, so
the completion is the step's body (stop at `</step>`). Sibling expansions of a node share every
token up to the action line, which a backend's prefix cache reuses."""

from __future__ import annotations

from coder_rl.data.problem import Problem
from coder_rl.prompts import describe
from pseudocode.steps import STEP_CLOSE, Action, Step, format_steps, step_open

STEP_STOP = STEP_CLOSE

INSTRUCTIONS = {
    Action.DEFINE: (
        "define the algorithm's structure in pseudocode: the main functions, their inputs and outputs, "
        "and the core role of each"
    ),
    Action.REFINE: "refine the pseudocode: make one part concrete, with its steps, logic and operations",
    Action.GENERATE: "generate the complete Python 3 program from the pseudocode, in a ```python block",
}

EXAMPLE_PROBLEM = """Given n integers and a number k, count the pairs i < j with a_i + a_j = k.
Input: the first line holds n and k, the second line the n integers. Output: the count."""

EXAMPLE_STEPS = [
    Step(
        Action.DEFINE,
        "FUNCTION count_pairs(nums: list of int, k: int) -> int\n"
        "    role: the number of pairs i < j with nums[i] + nums[j] == k\n"
        "MAIN: read n, k and nums from stdin; print count_pairs(nums, k)",
    ),
    Step(
        Action.REFINE,
        "count_pairs:\n"
        "    seen <- empty map from value to how many times it occurred so far\n"
        "    pairs <- 0\n"
        "    FOR x IN nums:\n"
        "        pairs <- pairs + seen[k - x]   (every earlier partner of x)\n"
        "        seen[x] <- seen[x] + 1\n"
        "    RETURN pairs   (one pass: O(n) time and memory)",
    ),
    Step(
        Action.GENERATE,
        "```python\n"
        "from collections import Counter\n\n\n"
        "def count_pairs(nums, k):\n"
        "    seen = Counter()\n"
        "    pairs = 0\n"
        "    for x in nums:\n"
        "        pairs += seen[k - x]\n"
        "        seen[x] += 1\n"
        "    return pairs\n\n\n"
        "n, k = map(int, input().split())\n"
        "nums = list(map(int, input().split()))\n"
        "print(count_pairs(nums, k))\n"
        "```",
    ),
]


HOW_IT_RUNS = {
    "call": "The program defines `{fn_name}` (a function or a method of `class Solution`); it is called.",
    "assert": "The program defines the function the problem asks for; assert statements test it.",
    "stdin": "The program reads standard input and prints the answer.",
}


STEPS_HEADING = "\n\n### Steps\n"  # ends a step prompt's statement of the problem


def problem_text(problem: Problem) -> str:
    """The problem: its question, how its program runs, its starter code."""
    d = describe(problem)
    parts = ["### Problem", d.question, HOW_IT_RUNS[d.runs].format(fn_name=d.fn_name)]
    if d.starter_code:
        parts += ["Starter code:", *d.starter_block()]
    return "\n".join(parts)


def problem_prompt(problem: Problem) -> str:
    """The problem as every step prompt states it (also the `prompt` of exported trajectories)."""
    return problem_text(problem) + STEPS_HEADING


def step_prompt(
    problem: Problem | str, steps: list[Step], action: Action, worked_example: bool = True
) -> str:
    """The prompt for the next step of `problem`'s trajectory `steps`, of kind `action`. The problem may
    come already stated (`problem_prompt`'s text, as exported trajectories hold it). Without the worked
    example the prompt is the instructions, the problem and the steps: a model trained from scratch
    learns nothing from an example it sees in every prompt, and pays for its tokens."""
    intro = [
        "Solve programming problems step by step: define the structure in pseudocode, refine it, then "
        'generate the code. Each step is written between <step action="..."> and </step>.',
        "",
    ]
    if worked_example:
        intro += ["### Example problem", EXAMPLE_PROBLEM, "", "### Example steps",
                  format_steps(EXAMPLE_STEPS).rstrip(), ""]  # fmt: skip
    return (
        "\n".join(intro)
        + "\n"
        + (problem if isinstance(problem, str) else problem_prompt(problem))
        + format_steps(steps)
        + f"Next: {INSTRUCTIONS[action]}.\n"
        + step_open(action)
    )
