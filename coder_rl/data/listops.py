"""`listops`: a generated family of small list problems that a tiny model can learn from scratch.

A problem composes an input shape, a condition (a filter), optionally a map and, for HARD problems, a
second condition applied after the map, and an operation over the values kept:

    stdin_count + even + double + sum:  "Given n integers, print the sum of the numbers that are even,
    each doubled."  ->  kept = [x * 2 for x in nums if x % 2 == 0]; return sum(kept)

The statement is worded in many ways; the reference program always has the same few shapes, so the
statement -> code mapping is regular and compositional. Rows are in TACO's format plus `steps` (the
reference as define / refine / generate steps) and `composition`; row i of a split depends only on
(seed, split, i), so a smaller size is a prefix of a larger one.

Held out by composition: the seed draws some (condition, operation) and (operation, shape) pairs that
no training problem contains and every test problem does, so the test split measures generalisation
to new combinations of parts that training shows separately.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from itertools import count, product
from typing import Any

from coder_rl.data.adapters import taco_row
from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from pseudocode.steps import Action, Step

SPLIT_SIZES = {"train": 1000, "test": 200}  # the default size of each split (data.limit overrides)
SHAPES = ("stdin_count", "stdin_line", "call")
CONDITIONS = ("even", "odd", "positive", "negative", "greater", "less", "divisible", "not_divisible")
MAPS = ("double", "square", "negate", "add", "abs")
OPERATIONS = ("sum", "count", "max", "min", "list", "sorted", "any")
FN_NAMES = ("solve", "compute", "answer", "process", "evaluate")
DIFFICULTY_WEIGHTS = {"EASY": 0.5, "MEDIUM": 0.35, "HARD": 0.15}
VALUES = range(-20, 21)  # every test value lies here
MAX_LENGTH = 10
TESTS = 10
HELDOUT_CONDITION_OPS = 12  # of the 56 (condition, operation) pairs
HELDOUT_OP_SHAPES = 3  # of the 21 (operation, shape) pairs
MIN_PARTNERS = 4  # every part keeps at least this many training partners in each kind of pair

Pair = tuple[str, str]


@dataclass(frozen=True)
class Composition:
    """One problem's parts and constants (k: the condition's, k_map: the map's, k2: condition2's)."""

    shape: str
    condition: str
    operation: str
    map: str | None = None
    condition2: str | None = None
    k: int = 0
    k_map: int = 0
    k2: int = 0
    fn_name: str = "solve"

    @property
    def difficulty(self) -> str:
        return "HARD" if self.condition2 else "MEDIUM" if self.map else "EASY"

    def pairs(self) -> set[Pair]:
        return _pairs(self.parts())

    def parts(self) -> dict[str, str | None]:
        return {
            "shape": self.shape,
            "condition": self.condition,
            "map": self.map,
            "condition2": self.condition2,
            "operation": self.operation,
        }


# --- semantics: computes the expected outputs, independently of the reference code below -----------

_HOLDS: dict[str, Callable[[int, int], bool]] = {
    "even": lambda x, k: x % 2 == 0,
    "odd": lambda x, k: x % 2 == 1,
    "positive": lambda x, k: x > 0,
    "negative": lambda x, k: x < 0,
    "greater": lambda x, k: x > k,
    "less": lambda x, k: x < k,
    "divisible": lambda x, k: x % k == 0,
    "not_divisible": lambda x, k: x % k != 0,
}
_APPLY: dict[str, Callable[[int, int], int]] = {
    "double": lambda x, k: x * 2,
    "square": lambda x, k: x * x,
    "negate": lambda x, k: -x,
    "add": lambda x, k: x + k,
    "abs": lambda x, k: abs(x),
}
_REDUCE: dict[str, Callable[[list[int]], Any]] = {
    "sum": sum,
    "count": len,
    "max": lambda kept: max(kept, default=0),
    "min": lambda kept: min(kept, default=0),
    "list": list,
    "sorted": sorted,
    "any": bool,
}


def kept_values(comp: Composition, nums: list[int]) -> list[int]:
    """The values the operation sees: filtered, mapped, filtered again."""
    kept = [x for x in nums if _HOLDS[comp.condition](x, comp.k)]
    if comp.map:
        kept = [_APPLY[comp.map](x, comp.k_map) for x in kept]
    if comp.condition2:
        kept = [y for y in kept if _HOLDS[comp.condition2](y, comp.k2)]
    return kept


def answer(comp: Composition, nums: list[int]) -> Any:
    return _REDUCE[comp.operation](kept_values(comp, nums))


# --- held-out compositions ------------------------------------------------------------------------


@cache
def heldout_pairs(seed: int) -> frozenset[Pair]:
    """The (condition, operation) and (operation, shape) pairs held out of training for this seed.

    Every condition, operation and shape keeps at least MIN_PARTNERS training partners, so each part
    is learnt in training and only its combination with the held-out partner is new.
    """
    rng = random.Random(f"listops-heldout:{seed}")
    while True:
        held = rng.sample(sorted(product(CONDITIONS, OPERATIONS)), HELDOUT_CONDITION_OPS)
        held += [(op, rng.choice(SHAPES)) for op in rng.sample(OPERATIONS, HELDOUT_OP_SHAPES)]
        if _parts_keep_partners(set(held)):
            return frozenset(held)


def _parts_keep_partners(held: set[Pair]) -> bool:
    """Whether training still pairs every part with enough others for the part itself to be learnt."""
    kept_ops = [sum((c, op) not in held for op in OPERATIONS) for c in CONDITIONS]
    kept_conditions = [sum((c, op) not in held for c in CONDITIONS) for op in OPERATIONS]
    kept_shapes = [sum((op, s) not in held for s in SHAPES) for op in OPERATIONS]
    kept_shape_ops = [sum((op, s) not in held for op in OPERATIONS) for s in SHAPES]
    return (
        min(kept_ops + kept_conditions + kept_shape_ops) >= MIN_PARTNERS
        and min(kept_shapes) >= len(SHAPES) - 1
    )


def composition_pairs(problem: Problem) -> set[Pair]:
    """The pairs a listops problem contains (from `metadata["composition"]`), to check against
    `heldout_pairs`."""
    return _pairs(problem.metadata["composition"])


def _pairs(parts: dict[str, str | None]) -> set[Pair]:
    """Each condition with the operation, and the operation with the shape."""
    operation, shape = str(parts["operation"]), str(parts["shape"])
    conditions = [c for c in (parts["condition"], parts["condition2"]) if c]
    return {(c, operation) for c in conditions} | {(operation, shape)}


# --- drawing a problem ----------------------------------------------------------------------------


def _draw_composition(rng: random.Random, difficulty: str) -> Composition:
    shape, condition = rng.choice(SHAPES), rng.choice(CONDITIONS)
    return Composition(
        shape=shape,
        condition=condition,
        operation=rng.choice(OPERATIONS),
        map=rng.choice(MAPS) if difficulty != "EASY" else None,
        condition2=rng.choice([c for c in CONDITIONS if c != condition]) if difficulty == "HARD" else None,
        k=rng.randint(2, 9),
        k_map=rng.randint(1, 9),
        k2=rng.randint(2, 9),
        fn_name=rng.choice(FN_NAMES) if shape == "call" else "solve",  # the stdin programs' helper
    )


def _degenerate(comp: Composition) -> bool:
    """True when a part does nothing over the whole value range: nothing ever kept, or a second
    condition that keeps every mapped value (then a wrong program could pass every test)."""
    if not kept_values(comp, list(VALUES)):
        return True
    if comp.condition2:
        mapped = kept_values(replace(comp, condition2=None), list(VALUES))
        return all(_HOLDS[comp.condition2](y, comp.k2) for y in mapped)
    return False


def draw(seed: int, split: str, index: int) -> Composition:
    """Row `index` of `split`: a training composition holds no held-out pair, a test one at least one."""
    rng = random.Random(f"listops:{seed}:{split}:{index}")
    held = heldout_pairs(seed)
    difficulty = rng.choices(list(DIFFICULTY_WEIGHTS), weights=list(DIFFICULTY_WEIGHTS.values()))[0]
    while True:
        comp = _draw_composition(rng, difficulty)
        if bool(comp.pairs() & held) == (split == "test") and not _degenerate(comp):
            return comp


def input_lists(rng: random.Random, comp: Composition) -> list[list[int]]:
    """TESTS lists: an empty one, one where nothing qualifies, one where everything does, and random ones."""
    qualifies = [v for v in VALUES if kept_values(comp, [v])]
    fails = [v for v in VALUES if not kept_values(comp, [v])]
    lists = [[], [rng.choice(fails) for _ in range(rng.randint(1, 5))]]
    lists.append([rng.choice(qualifies) for _ in range(rng.randint(1, 5))])
    lists += [
        [rng.choice(VALUES) for _ in range(rng.randint(0, MAX_LENGTH))] for _ in range(TESTS - len(lists))
    ]
    rng.shuffle(lists)
    return lists


# --- reference code and steps: the same few shapes everywhere -------------------------------------

_CONDITION_CODE = {
    "even": "{v} % 2 == 0",
    "odd": "{v} % 2 == 1",
    "positive": "{v} > 0",
    "negative": "{v} < 0",
    "greater": "{v} > {k}",
    "less": "{v} < {k}",
    "divisible": "{v} % {k} == 0",
    "not_divisible": "{v} % {k} != 0",
}
_MAP_CODE = {"double": "x * 2", "square": "x * x", "negate": "-x", "add": "x + {k}", "abs": "abs(x)"}
_RETURN_CODE = {
    "sum": "sum(kept)",
    "count": "len(kept)",
    "max": "max(kept) if kept else 0",
    "min": "min(kept) if kept else 0",
    "list": "kept",
    "sorted": "sorted(kept)",
    "any": "len(kept) > 0",
}
_RETURN_TYPE = {"list": "list of int", "sorted": "list of int", "any": "bool"}
_READ_CODE = {
    "stdin_count": "n = int(input())\nnums = list(map(int, input().split()))\n",
    "stdin_line": "nums = list(map(int, input().split()))\n",
}
_PRINT_CODE = {
    "list": "print(*solve(nums))",
    "sorted": "print(*solve(nums))",
    "any": 'print("YES" if solve(nums) else "NO")',
}
_READ_PLAN = {"stdin_count": "read n and the n numbers", "stdin_line": "read the numbers on one line"}
_PRINT_PLAN = {
    "list": "print the values of solve(nums) on one line, separated by spaces",
    "sorted": "print the values of solve(nums) on one line, separated by spaces",
    "any": "print YES if solve(nums) is true, else NO",
}


def _body(comp: Composition) -> list[str]:
    """The function body, one statement a line: the comprehension(s) and the return."""
    condition = _CONDITION_CODE[comp.condition].format(v="x", k=comp.k)
    value = _MAP_CODE[comp.map].format(k=comp.k_map) if comp.map else "x"
    lines = [f"kept = [{value} for x in nums if {condition}]"]
    if comp.condition2:
        condition2 = _CONDITION_CODE[comp.condition2].format(v="y", k=comp.k2)
        lines.append(f"kept = [y for y in kept if {condition2}]")
    return [*lines, f"return {_RETURN_CODE[comp.operation]}"]


def reference_code(comp: Composition) -> str:
    body = "".join(f"    {line}\n" for line in _body(comp))
    code = f"def {comp.fn_name}(nums):\n{body}"
    if comp.shape == "call":
        return code
    return f"{code}\n\n{_READ_CODE[comp.shape]}{_PRINT_CODE.get(comp.operation, 'print(solve(nums))')}\n"


_KEYWORD = re.compile(r"\b(for|in|if|else|return)\b")


def _pseudocode(line: str) -> str:
    """A code line in the refine step's notation: `<-` for assignment, keywords in capitals."""
    line = _KEYWORD.sub(lambda match: match.group(0).upper(), line)
    return line.replace(" = ", " <- ", 1)


def reference_steps(comp: Composition) -> list[Step]:
    define = (
        f"FUNCTION {comp.fn_name}(nums: list of int) -> {_RETURN_TYPE.get(comp.operation, 'int')}\n"
        f"    role: {_role(comp)}"
    )
    if comp.shape != "call":
        define += f"\nMAIN: {_READ_PLAN[comp.shape]}; {_PRINT_PLAN.get(comp.operation, 'print solve(nums)')}"
    refine = f"{comp.fn_name}:\n" + "\n".join(f"    {_pseudocode(line)}" for line in _body(comp))
    return [
        Step(Action.DEFINE, define),
        Step(Action.REFINE, refine),
        Step(Action.GENERATE, f"```python\n{reference_code(comp)}```"),
    ]


def _role(comp: Composition) -> str:
    """The define step's canonical description: the first wording of every part."""
    role = _OPERATION_WORDS[comp.operation][0].format(v=_values(comp, _first))
    return role + (", or 0 if there is none" if comp.operation in ("max", "min") else "")


# --- statements: several wordings of each part, and several sentence templates ----------------------

_CONDITION_WORDS = {
    "even": ["even", "even-valued", "of even parity"],
    "odd": ["odd", "odd-valued", "of odd parity"],
    "positive": ["positive", "greater than zero", "strictly positive", "above zero"],
    "negative": ["negative", "less than zero", "strictly negative", "below zero"],
    "greater": ["greater than {k}", "larger than {k}", "strictly greater than {k}", "bigger than {k}"],
    "less": ["less than {k}", "smaller than {k}", "strictly less than {k}", "lower than {k}"],
    "divisible": ["divisible by {k}", "evenly divisible by {k}", "a multiple of {k}"],
    "not_divisible": ["not divisible by {k}", "not evenly divisible by {k}", "not a multiple of {k}"],
}
_SELECTION_WORDS = [
    "the numbers that are {c}",
    "the values which are {c}",
    "those of them that are {c}",
    "the integers that are {c}",
    "the elements that are {c}",
]
_MAP_WORDS = {
    "double": ["doubled", "multiplied by 2", "multiplied by two"],
    "square": ["squared", "multiplied by itself", "raised to the second power"],
    "negate": ["negated", "multiplied by -1", "sign-flipped"],
    "add": ["increased by {k}", "incremented by {k}", "shifted up by {k}"],
    "abs": [
        "replaced by its absolute value",
        "converted to its absolute value",
        "mapped to its absolute value",
    ],
}
# The map always follows the selection in the sentence, and never reads as part of the condition.
_MAPPED_WORDS = [", each {m}", ", each of them {m}", ", each of which is then {m}", ", each then {m}"]
_SECOND_CONDITION_WORDS = [
    ", keeping only the results that are {c}",
    ", then keeping only the resulting values which are {c}",
    ", and then only those results that are {c}",
]
_OPERATION_WORDS = {
    "sum": ["the sum of {v}", "the total of {v}", "the sum of all {v}"],
    "count": ["the number of {v}", "the count of {v}", "how many values there are among {v}"],
    "max": ["the largest of {v}", "the maximum of {v}", "the greatest value among {v}"],
    "min": ["the smallest of {v}", "the minimum of {v}", "the least value among {v}"],
    "list": ["{v}, in their original order", "{v}, keeping their original order", "{v}, in input order"],
    "sorted": ["{v}, in ascending order", "{v}, from smallest to largest", "{v}, sorted in increasing order"],
    "any": [
        "whether there is at least one of {v}",
        "whether there exists a value among {v}",
        "whether at least one value remains among {v}",
    ],
}
_TASK_WORDS = {
    "stdin_count": [
        "Given n integers, {verb} {op}.",
        "You are given n integers. {Verb} {op}.",
        "Read an integer n and then n integers, and {verb} {op}.",
        "The input holds n integers; {verb} {op}.",
    ],
    "stdin_line": [
        "Given a line of integers, {verb} {op}.",
        "You are given one line of integers. {Verb} {op}.",
        "Read a line of integers and {verb} {op}.",
        "The input is a single line of integers; {verb} {op}.",
    ],
    "call": [
        "Write a function {fn}(nums) that returns {op}.",
        "Implement {fn}(nums): given a list of integers nums, return {op}.",
        "Define a function {fn} that takes a list of integers nums and returns {op}.",
        "Complete the function {fn}(nums), which must return {op}.",
    ],
}
_PRINT_VERBS = ["print", "output", "write"]
_INPUT_WORDS = {
    "stdin_count": [
        "Input: the first line contains n (0 <= n <= 10); the second line contains the n integers, "
        "separated by spaces (it is empty when n is 0). Each integer is between -20 and 20.",
        "Input format: a line with the count n, then a line with the n space-separated integers "
        "(an empty line if n = 0), each in [-20, 20].",
        "The first input line is n, how many integers follow (at most 10); the second line lists them "
        "separated by spaces and is empty when n is 0. Values lie between -20 and 20.",
    ],
    "stdin_line": [
        "Input: a single line with up to 10 integers separated by spaces (the line is empty when there "
        "are none). Each integer is between -20 and 20.",
        "Input format: one line of space-separated integers, each in [-20, 20]; the line may be empty.",
        "The only input line lists the integers (at most 10, each between -20 and 20) separated by "
        "spaces; it is empty if there are none.",
    ],
    "call": [
        "The function takes one argument, nums, a list of at most 10 integers between -20 and 20 "
        "(possibly empty), and returns {ret}.",
        "Argument: nums, a list of integers (0 to 10 of them, each in [-20, 20]). Return value: {ret}.",
        "{fn} receives nums, a possibly empty list of integers between -20 and 20, and must return {ret}.",
    ],
}
_LIST_OUTPUT = [
    "Output: the values on one line, separated by single spaces; print an empty line if there is no "
    "such value.",
    "Print them on one line separated by spaces, or an empty line if there are none.",
]
_OUTPUT_WORDS = {
    "sum": [
        "Output: a single integer, the sum (0 if there is no such value).",
        "Print one integer; the sum of no values is 0.",
    ],
    "count": ["Output: a single integer, the count.", "Print one integer (0 if there is no such value)."],
    "max": [
        "Output: a single integer, the maximum; print 0 if there is no such value.",
        "Print one integer, or 0 if there is no such value.",
    ],
    "min": [
        "Output: a single integer, the minimum; print 0 if there is no such value.",
        "Print one integer, or 0 if there is no such value.",
    ],
    "list": _LIST_OUTPUT,
    "sorted": _LIST_OUTPUT,
    "any": [
        "Output: YES if there is at least one such value, otherwise NO.",
        "Print YES if there is such a value, NO otherwise.",
    ],
}
_RETURN_WORDS = {
    "sum": "an integer, the sum (0 if there is no such value)",
    "count": "an integer, the count",
    "max": "an integer, the maximum, or 0 if there is no such value",
    "min": "an integer, the minimum, or 0 if there is no such value",
    "list": "a list of integers (an empty list if there is no such value)",
    "sorted": "a list of integers in ascending order (an empty list if there is no such value)",
    "any": "True if there is at least one such value, otherwise False",
}


def _values(comp: Composition, pick: Callable[[list[str]], str]) -> str:
    """The noun phrase naming the values the operation sees, each part worded by `pick`."""
    words = pick(_SELECTION_WORDS).format(c=pick(_CONDITION_WORDS[comp.condition]).format(k=comp.k))
    if comp.map:
        words += pick(_MAPPED_WORDS).format(m=pick(_MAP_WORDS[comp.map]).format(k=comp.k_map))
    if comp.condition2:
        condition2 = pick(_CONDITION_WORDS[comp.condition2]).format(k=comp.k2)
        words += pick(_SECOND_CONDITION_WORDS).format(c=condition2)
    return words


def _first(options: list[str]) -> str:
    return options[0]


def statement(rng: random.Random, comp: Composition) -> str:
    """The problem statement: the task in one sentence, then the exact input and output formats."""
    op = rng.choice(_OPERATION_WORDS[comp.operation]).format(v=_values(comp, rng.choice))
    verb = rng.choice(_PRINT_VERBS)
    task = rng.choice(_TASK_WORDS[comp.shape]).format(
        verb=verb, Verb=verb.capitalize(), op=op, fn=comp.fn_name
    )
    io = rng.choice(_INPUT_WORDS[comp.shape]).format(fn=comp.fn_name, ret=_RETURN_WORDS[comp.operation])
    if comp.shape != "call":
        io += "\n" + rng.choice(_OUTPUT_WORDS[comp.operation])
    return f"{task}\n\n{io}\n"


# --- rows ------------------------------------------------------------------------------------------


def _stdin(comp: Composition, nums: list[int]) -> str:
    """The second line is there even when empty, as the statement says."""
    line = " ".join(map(str, nums)) + "\n"
    return f"{len(nums)}\n{line}" if comp.shape == "stdin_count" else line


def _stdout(comp: Composition, value: Any) -> str:
    """What the reference prints: one integer, the values on one line (maybe empty), or YES/NO."""
    if comp.operation in ("list", "sorted"):
        return " ".join(map(str, value)) + "\n"
    if comp.operation == "any":
        return "YES\n" if value else "NO\n"
    return f"{value}\n"


def _input_output(comp: Composition, lists: list[list[int]]) -> dict[str, Any]:
    """TACO's `input_output`: stdin texts, or argument lists with each output wrapped in a list."""
    if comp.shape == "call":
        return {
            "fn_name": comp.fn_name,
            "inputs": [[xs] for xs in lists],
            "outputs": [[answer(comp, xs)] for xs in lists],
        }
    return {
        "inputs": [_stdin(comp, xs) for xs in lists],
        "outputs": [_stdout(comp, answer(comp, xs)) for xs in lists],
    }


def make_row(seed: int, split: str, index: int) -> dict[str, Any]:
    """Row `index` of `split` in TACO's format, plus `steps` and `composition`."""
    comp = draw(seed, split, index)
    rng = random.Random(f"listops-text:{seed}:{split}:{index}")
    return {
        "question": statement(rng, comp),
        "solutions": json.dumps([reference_code(comp)]),
        "starter_code": "",
        "input_output": json.dumps(_input_output(comp, input_lists(rng, comp))),
        "difficulty": comp.difficulty,
        "source": "listops",
        "steps": [[step.to_dict() for step in reference_steps(comp)]],
        "composition": comp.parts(),
    }


def listops_rows(seed: int, split: str, size: int | None) -> Iterator[tuple[int, dict[str, Any]]]:
    """The first `size` rows of a split (all of them, endlessly, when None), numbered."""
    if split not in SPLIT_SIZES:
        raise UserError(f"listops has the splits {', '.join(SPLIT_SIZES)} (got {split!r})")
    return ((i, make_row(seed, split, i)) for i in (count() if size is None else range(size)))


def listops_row(row: dict[str, Any], prefix: str, index: int) -> Problem:
    """A listops row: TACO's fields, with the reference steps and the composition kept in metadata."""
    problem = taco_row(row, prefix, index)
    problem.metadata["reference_steps"] = row["steps"]
    problem.metadata["composition"] = row["composition"]
    return problem
