"""Dataset adapters: one function per dataset format that turns a raw row into a `Problem`.

An adapter raises `BadRow(reason)` for a row it cannot use; the loader counts those by reason.
Reasons are short snake_case names, stable enough to grep for in a run's report.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from coder_rl.data.problem import PRELUDE, Problem
from sandbox.cases import AssertCase, CallCase, StdioCase, TestCase


class BadRow(ValueError):
    """A row that cannot become a Problem; `reason` is the counter key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# An adapter takes a raw row, the id prefix ("taco/train") and the row's position in its source.
Adapter = Callable[[dict[str, Any], str, int], Problem]


_TACO_METADATA = ("name", "url", "tags", "time_limit", "memory_limit")
# Set on call-based TACO/APPS problems: whether every output was wrapped in a one-element list (then
# unwrapped into CallCase.expected, and wrapped again when the problem is written in TACO's format).
TACO_WRAPPED = "taco_wrapped_outputs"


def taco_row(row: dict[str, Any], prefix: str, index: int) -> Problem:
    """TACO / APPS: `solutions` and `input_output` are JSON strings; call-based rows carry `fn_name`."""
    question = _text_field(row, "question")
    tests, wrapped = _taco_io(row.get("input_output"))
    solutions = _taco_solutions(row.get("solutions"))
    metadata = {k: row[k] for k in _TACO_METADATA if row.get(k) is not None}
    if wrapped is not None:
        metadata[TACO_WRAPPED] = wrapped
    return Problem(
        id=_row_id(prefix, row.get("problem_id"), index),
        question=question,
        tests=tests,
        solutions=solutions,
        starter_code=_optional_text(row, "starter_code"),
        difficulty=str(row.get("difficulty") or ""),
        source=str(row.get("source") or ""),
        metadata=metadata,
    )


def taco_tests(raw: Any) -> list[TestCase]:
    """The test cases of TACO's `input_output` (a JSON string or the decoded object).

    Call-based outputs are unwrapped once per problem: TACO (like APPS) stores many call-based
    problems with every expected return value inside a one-element list. When *every* output is a
    list of length 1, the problem counts as wrapped and each `CallCase.expected` is `out[0]`;
    otherwise every output is kept as given. The judge then compares exactly, never either form.
    The one ambiguity: a function that returns a one-element list in every test of a problem that
    was not wrapped loses that list (it is read as wrapped), and its real answers fail.
    """
    return _taco_io(raw)[0]


def _taco_io(raw: Any) -> tuple[list[TestCase], bool | None]:
    """The tests and, for call-based problems, whether their outputs were wrapped (None for stdin)."""
    if raw is None or raw == "":
        raise BadRow("no_tests", "input_output is empty")
    try:
        io = json.loads(raw) if isinstance(raw, str) else raw
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadRow("bad_input_output", f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(io, dict):
        raise BadRow("bad_input_output", f"expected an object, got {type(io).__name__}")
    inputs, outputs, fn_name = io.get("inputs"), io.get("outputs"), io.get("fn_name")
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise BadRow("bad_input_output", "inputs and outputs must be lists")
    if len(inputs) != len(outputs):
        raise BadRow("mismatched_io", f"{len(inputs)} inputs but {len(outputs)} outputs")
    if not inputs:
        raise BadRow("no_tests", "input_output has no inputs")
    if fn_name is not None:
        if not isinstance(fn_name, str) or not fn_name.isidentifier():
            raise BadRow("bad_input_output", f"fn_name {fn_name!r} is not an identifier")
        wrapped = _all_wrapped(outputs)
        # Call-based inputs are argument lists; a lone non-list is a single argument.
        return [
            CallCase(fn_name, args if isinstance(args, list) else [args], out[0] if wrapped else out)
            for args, out in zip(inputs, outputs, strict=True)
        ], wrapped
    return [
        StdioCase(_stdio_text(i, "input"), _stdio_text(o, "output"))
        for i, o in zip(inputs, outputs, strict=True)
    ], None


def _all_wrapped(outputs: list[Any]) -> bool:
    return bool(outputs) and all(isinstance(out, list) and len(out) == 1 for out in outputs)


def _stdio_text(value: Any, what: str) -> str:
    # APPS/TACO sometimes store stdin/stdout as a list of lines; TACO's own runner joins them with newlines.
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "\n".join(value)
    if not isinstance(value, str):
        raise BadRow("bad_input_output", f"a stdin {what} must be text, got {type(value).__name__}")
    return value


def _taco_solutions(raw: Any) -> list[str]:
    if raw is None or raw == "":
        return []
    try:
        solutions = json.loads(raw) if isinstance(raw, str) else raw
    except (json.JSONDecodeError, RecursionError):
        raise BadRow("bad_solutions", "solutions is not JSON") from None
    if not isinstance(solutions, list) or not all(isinstance(s, str) for s in solutions):
        raise BadRow("bad_solutions", "solutions must be a list of strings")
    return solutions


def humaneval_row(row: dict[str, Any], prefix: str, index: int) -> Problem:
    """HumanEval: the prompt is a signature plus docstring; `test` defines check(candidate)."""
    prompt = _text_field(row, "prompt")
    test = _text_field(row, "test")
    entry_point = _text_field(row, "entry_point")
    solution = row.get("canonical_solution")
    return Problem(
        id=_row_id(prefix, row.get("task_id"), index),
        question=prompt,
        tests=[AssertCase(f"{_prompt_helpers(prompt, entry_point)}{test}\n\ncheck({entry_point})\n")],
        solutions=[prompt + solution] if isinstance(solution, str) and solution.strip() else [],
        starter_code=prompt,
        source="humaneval",
        metadata={"entry_point": entry_point},
    )


def _prompt_helpers(prompt: str, entry_point: str) -> str:
    """What the prompt defines besides the entry point (imports, helpers such as HumanEval/38's
    `encode_cyclic`), for the test code: the tests then call the dataset's helper, not one the program
    redefined to agree with a wrong answer. Empty when the prompt does not parse."""
    try:
        module = ast.parse(prompt)
    except (SyntaxError, ValueError):
        return ""
    helpers = [
        node
        for node in module.body
        if not (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point)
        and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))  # docstrings
    ]
    return ast.unparse(ast.Module(body=helpers, type_ignores=[])) + "\n\n" if helpers else ""


def mbpp_row(row: dict[str, Any], prefix: str, index: int) -> Problem:
    """MBPP (full or sanitized): a text task, a reference `code`, and assert lines in `test_list`."""
    text = row.get("text") if isinstance(row.get("text"), str) else row.get("prompt")
    if not isinstance(text, str) or not text.strip():
        raise BadRow("missing_field", "text")
    asserts = row.get("test_list")
    if not isinstance(asserts, list) or not asserts or not all(isinstance(a, str) for a in asserts):
        raise BadRow("no_tests", "test_list is empty or not a list of strings")
    imports = row.get("test_imports") or []  # sanitized MBPP keeps imports apart from the asserts
    if not isinstance(imports, list):
        raise BadRow("bad_tests", "test_imports must be a list of strings")
    setup = "\n".join(
        part for part in (row.get("test_setup_code"), *imports) if isinstance(part, str) and part
    )
    code = row.get("code")
    # MBPP's own prompting shows the asserts, since they fix the function's name and signature.
    question = text.strip() + "\nYour code should pass these tests:\n" + "\n".join(asserts)
    return Problem(
        id=_row_id(prefix, row.get("task_id"), index),
        question=question,
        tests=[AssertCase(f"{setup}\n{a}\n" if setup else a + "\n") for a in asserts],
        solutions=[code] if isinstance(code, str) and code.strip() else [],
        source="mbpp",
        metadata={"entry_point": entry_point} if (entry_point := _first_def(asserts[0], code)) else {},
    )


def code_contests_row(row: dict[str, Any], prefix: str, index: int) -> Problem:
    """DeepMind CodeContests: public/private/generated stdin tests and solutions in several languages."""
    description = _text_field(row, "description")
    tests: list[TestCase] = []
    for split in ("public_tests", "private_tests", "generated_tests"):
        block = row.get(split) or {}
        inputs, outputs = (
            (block.get("input") or [], block.get("output") or []) if isinstance(block, dict) else (None, None)
        )
        if not isinstance(inputs, list) or not isinstance(outputs, list):
            raise BadRow("bad_tests", f"{split} must be {{'input': [...], 'output': [...]}}")
        if not all(isinstance(text, str) for text in inputs + outputs):
            raise BadRow("bad_tests", f"{split} inputs and outputs must be text")
        if len(inputs) != len(outputs):
            raise BadRow("mismatched_io", f"{split}: {len(inputs)} inputs but {len(outputs)} outputs")
        tests += [StdioCase(i, o) for i, o in zip(inputs, outputs, strict=True)]
    if not tests:
        raise BadRow("no_tests", "no public, private or generated tests")
    sols = row.get("solutions") or {}
    if not isinstance(sols, dict):
        raise BadRow("bad_solutions", "solutions must be {'language': [...], 'solution': [...]}")
    # Language ids: 3 is PYTHON3 (1 is Python 2, which the sandbox does not run).
    python3 = [
        s
        for lang, s in zip(sols.get("language") or [], sols.get("solution") or [], strict=False)
        if lang == 3
    ]
    if not all(isinstance(s, str) for s in python3):
        raise BadRow("bad_solutions", "solutions must be text")
    return Problem(
        id=_row_id(prefix, row.get("name"), index),
        question=description,
        tests=tests,
        solutions=python3,
        difficulty="" if row.get("difficulty") is None else str(row["difficulty"]),
        source="code_contests",
        metadata={k: row[k] for k in ("cf_rating", "cf_tags", "source") if row.get(k) is not None},
    )


def livecodebench_row(row: dict[str, Any], prefix: str, index: int) -> Problem:
    """LiveCodeBench's code generation (`livecodebench/code_generation_lite`): public and private tests,
    stdin or functional (LeetCode's `Solution().<func_name>`, one JSON argument per input line). Private
    tests come as JSON or as base64 of zlib of a pickle of that JSON; the pickle is read by an
    unpickler that builds nothing but plain values. `contest_date` is kept for `data.since`. Every
    program runs after LiveCodeBench's imports (`metadata["prelude"]`, `_lcb_prelude`)."""
    question = _text_field(row, "question_content")
    metadata = _json_field(row, "metadata", {}) or {}
    if not isinstance(metadata, dict):
        raise BadRow("bad_field_type", "metadata must be a JSON object")
    cases = _lcb_cases(row.get("public_test_cases"), "public") + _lcb_cases(
        row.get("private_test_cases"), "private"
    )
    if not cases:
        raise BadRow("no_tests", "no public or private tests")
    fn_name = metadata.get("func_name")
    tests: list[TestCase] = []
    for case in cases:
        kind, given, expected = case.get("testtype"), case.get("input"), case.get("output")
        if not isinstance(given, str) or not isinstance(expected, str):
            raise BadRow("bad_tests", "a test's input and output must be text")
        if kind == "stdin":
            tests.append(StdioCase(given, expected))
        elif kind == "functional":
            if not isinstance(fn_name, str) or not fn_name.isidentifier():
                raise BadRow("bad_tests", "functional tests need metadata.func_name")
            try:
                args = [json.loads(line) for line in given.split("\n")]
                tests.append(CallCase(fn_name, args, json.loads(expected)))
            except (json.JSONDecodeError, RecursionError):
                raise BadRow("bad_tests", "a functional test's input or output is not JSON") from None
        else:
            raise BadRow("bad_tests", f"unknown testtype {kind!r}")
    date = row.get("contest_date")
    return Problem(
        id=_row_id(prefix, row.get("question_id"), index),
        question=question,
        tests=tests,
        starter_code=_optional_text(row, "starter_code"),
        difficulty=str(row.get("difficulty") or ""),
        source=f"livecodebench/{row.get('platform') or ''}".rstrip("/"),
        metadata={
            PRELUDE: _lcb_prelude(fn_name if isinstance(fn_name, str) else None),
            **({"fn_name": fn_name} if isinstance(fn_name, str) else {}),
            **({"contest_date": str(date)} if date else {}),
            **{k: row[k] for k in ("question_title", "contest_id", "platform") if row.get(k)},
        },
    )


# The lines of LiveCodeBench's `import_string` (lcb_runner/evaluation/testing_util.py;
# LiveCodeBench/LiveCodeBench at 28fef95), which its grader runs before every program, stdin and
# functional: an answer may use `List`, `Counter` or `heappush` without importing them, and recurse
# 50,000 deep.
_LCB_MODULES = (
    "string re datetime collections heapq bisect copy math random statistics "
    "itertools functools operator io sys json"
)
_LCB_IMPORTS = (
    *(f"from {module} import *" for module in [*_LCB_MODULES.split(), "builtins", "typing"]),
    *(f"import {module}" for module in _LCB_MODULES.split()),
    "sys.setrecursionlimit(50000)",
)


def _lcb_prelude(fn_name: str | None) -> str:
    """LiveCodeBench's imports as one line. For a functional problem, a name they bring that is the
    function's is dropped again: LiveCodeBench calls `Solution().<func_name>`, while the sandbox calls a
    top-level function of that name first, and `count` or `merge` from the imports is none of the
    program's."""
    drop = [f"globals().pop({fn_name!r}, None)"] if fn_name else []
    return "; ".join([*_LCB_IMPORTS, *drop])


def _lcb_cases(raw: Any, which: str) -> list[dict[str, Any]]:
    if raw is None or raw == "" or raw == []:
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            raw = _plain_unpickle(raw, which)
    if not isinstance(raw, list) or not all(isinstance(case, dict) for case in raw):
        raise BadRow("bad_tests", f"{which}_test_cases must be a list of objects")
    return raw


MAX_PACKED_BYTES = 256 << 20  # a problem's packed tests, unpacked


def _plain_unpickle(text: str, which: str) -> Any:
    """LiveCodeBench's packed tests: base64(zlib(pickle(json text))). The pickle may hold only plain
    values: a class or function in it (which a pickle could run) is refused, never built."""
    import base64
    import io
    import pickle
    import zlib

    class Plain(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            raise pickle.UnpicklingError(f"{module}.{name} is not a plain value")

    try:
        inflate = zlib.decompressobj()
        packed = inflate.decompress(base64.b64decode(text.encode("ascii"), validate=True), MAX_PACKED_BYTES)
        if inflate.unconsumed_tail:
            raise ValueError(f"over {MAX_PACKED_BYTES} bytes unpacked")
        value = Plain(io.BytesIO(packed)).load()
        if not isinstance(value, (str, bytes)):  # LiveCodeBench packs JSON text, nothing else
            raise ValueError(f"a packed {type(value).__name__}, not JSON text")
        return json.loads(value)
    except Exception as exc:  # base64, zlib, pickle and JSON each fail their own way
        raise BadRow(
            "bad_tests", f"{which}_test_cases: neither JSON nor packed JSON ({type(exc).__name__})"
        ) from None


def evalplus_row(row: dict[str, Any], prefix: str, index: int) -> Problem:
    """EvalPlus's HumanEval+ and MBPP+ (`HumanEvalPlus.jsonl.gz`, `MbppPlus.jsonl.gz`): the entry point
    is called on `base_input` and then `plus_input`, and each result must equal the canonical solution's
    on a copy of the same arguments (within `atol` for floats, where the row gives one), as EvalPlus
    judges. The reference runs in the tests' own process, where the program cannot reach it; the inputs
    are checked in chunks, each one test. MBPP+'s inputs are rebuilt into the tuples, sets and complex
    numbers its file stores as lists and strings (`_MBPP_TYPED`)."""
    prompt = _text_field(row, "prompt")
    entry_point = _text_field(row, "entry_point")
    canonical = _text_field(row, "canonical_solution")
    # HumanEval+ keeps the body apart from the signature in the prompt; MBPP+ gives the whole program.
    reference = (
        canonical if re.search(rf"^def {re.escape(entry_point)}\b", canonical, re.M) else prompt + canonical
    )
    inputs = {}
    for name in ("base_input", "plus_input"):
        given = row.get(name) or []
        if not isinstance(given, list) or not all(isinstance(args, list) for args in given):
            raise BadRow("bad_tests", f"{name} must be a list of argument lists")
        inputs[name] = given
    if not inputs["base_input"] and not inputs["plus_input"]:
        raise BadRow("no_tests", "no base_input or plus_input")
    atol = row.get("atol") or 0
    if not isinstance(atol, (int, float)):
        raise BadRow("bad_field_type", "atol must be a number")
    chunks = [
        args[start : start + EVALPLUS_CHUNK]
        for args in (inputs["base_input"], inputs["plus_input"])
        for start in range(0, len(args), EVALPLUS_CHUNK)
    ]
    task_id = str(row.get("task_id") or "")
    is_mbpp = "mbpp" in task_id.lower()
    number = task_id.rsplit("/", 1)[-1]
    task = _EvalPlusTask(
        reference,
        entry_point,
        float(atol),
        is_mbpp,
        typed=_MBPP_TYPED.get(int(number), "inp") if is_mbpp and number.isdigit() else "inp",
        not_none=is_mbpp and entry_point in _MBPP_OUTPUT_NOT_NONE,
    )
    assertion = str(row.get("assertion") or "").strip()
    shown = not is_mbpp or assertion in prompt  # MBPP+'s prompt shows its assertion already
    question = prompt if shown else prompt.strip() + "\nYour code should pass these tests:\n" + assertion
    return Problem(
        id=_row_id(prefix, row.get("task_id"), index),
        question=question,
        tests=[AssertCase(_evalplus_test(task, chunk)) for chunk in chunks],
        solutions=[reference],
        starter_code="" if is_mbpp else prompt,
        source="evalplus",
        metadata={
            "entry_point": entry_point,
            "base_tests": -(-len(inputs["base_input"]) // EVALPLUS_CHUNK),
            **({PRELUDE: _not_none_prelude(entry_point)} if task.not_none else {}),
        },
    )


EVALPLUS_CHUNK = 25  # inputs checked in one test
# EvalPlus's time limit on each call (evalplus/config.py: DEFAULT_MIN_TIME_LIMIT and
# DEFAULT_GT_TIME_LIMIT_FACTOR; evalplus/evalplus at 26d6d00, v0.3.1-44): max(4 s, 4 × the reference's
# time on the same input), of wall clock. The sandbox's limits still bound each test, all its inputs
# together.
EVALPLUS_MIN_TIME_S = 4.0
EVALPLUS_TIME_FACTOR = 4.0


@dataclass(frozen=True)
class _EvalPlusTask:
    """What every test of one EvalPlus task shares."""

    reference: str
    entry_point: str
    atol: float
    mbpp: bool
    typed: str  # the expression that rebuilds one input `inp` (`_MBPP_TYPED`)
    not_none: bool  # judged on whether the result is None (`_MBPP_OUTPUT_NOT_NONE`)


def _evalplus_test(task: _EvalPlusTask, inputs: list[list[Any]]) -> str:
    """Test code: the reference defined in a namespace of its own (its recursion stays its own), then
    each input rebuilt (`_typed`) and run through the reference and then the program, each call timed
    and each result judged by `_EVALPLUS_JUDGE`. The inputs travel as JSON text, which holds the
    infinities and NaNs that Python's repr would write as undefined names."""
    program = _NOT_NONE_CALL if task.not_none else task.entry_point
    want = "_want is not None" if task.not_none else "_want"  # EvalPlus's expected value for those tasks
    return (
        _EVALPLUS_JUDGE
        + f"_namespace = {{}}\nexec(compile({task.reference!r}, '<reference>', 'exec'), _namespace)\n"
        + f"_reference = _namespace[{task.entry_point!r}]\n"
        + f"def _typed(inp):\n    return {task.typed}\n"
        + f"for _args in map(_typed, json.loads({json.dumps(inputs)!r})):\n"
        + "    _want, _took = _timed(_reference, _args)\n"
        + f"    _got, _spent = _timed({program}, _args)\n"
        + f"    assert _spent <= max({EVALPLUS_MIN_TIME_S!r}, {EVALPLUS_TIME_FACTOR!r} * _took), "
        + "f'{_spent:.2f} s, over the time limit on {_args!r}'\n"
        + f"    assert _judge({task.entry_point!r}, {task.mbpp!r}, _args, _got, {want}, {task.atol!r}), _args\n"
    )


# EvalPlus's `mbpp_deserialize_inputs` (evalplus/data/mbpp.py; evalplus/evalplus at 26d6d00, v0.3.1-44)
# as the expression that rebuilds one input `inp`: MbppPlus.jsonl stores these tasks' tuples, sets and
# complex numbers as lists and strings, and EvalPlus rebuilds them on loading, before the reference or
# a program sees them. They are no JSON, so the tests' process rebuilds them, from the JSON it decodes.
# Where upstream rebuilds in two passes (259, 401, 445; 278) the two are written as one; 115's empty set
# is `{}`, a dict, as upstream makes it.
_MBPP_TYPED: dict[int, str] = {
    **dict.fromkeys((2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726,
                     740, 744, 809), "[tuple(lst) for lst in inp]"),
    **dict.fromkeys((63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780),
                    "[[tuple(lst) for lst in lst_lst] for lst_lst in inp]"),
    **dict.fromkeys((75, 413, 444, 753), "[[tuple(lst) for lst in inp[0]]] + [inp[1]]"),
    **dict.fromkeys((106, 750), "[inp[0]] + [tuple(inp[1])]"),
    115: "[[set(item) if isinstance(item, list) and len(item) else {} for item in inp[0]]]",
    124: "(float(inp[0]), complex(inp[1]))",
    **dict.fromkeys((250, 405, 446, 617, 720, 763, 808), "[tuple(inp[0])] + [inp[1]]"),
    **dict.fromkeys((259, 401, 445), "[tuple(tuple(lst) for lst in lst_lst) for lst_lst in inp]"),
    278: "[tuple(tuple(item) if isinstance(item, list) else item for item in inp[0])]",
    307: "[tuple(inp[0])] + [inp[1], inp[2]]",
    722: "[{key: tuple(value) for key, value in inp[0].items()}] + inp[1:]",
    252: "[complex(inp[0])]",
    **dict.fromkeys((580, 615, 791), "tuple(map(_typed, inp)) if isinstance(inp, list) else inp"),
}  # fmt: skip

# EvalPlus's MBPP_OUTPUT_NOT_NONE_TASKS (evalplus/eval/_special_oracle.py): a result is judged by whether
# it is None, a bool as itself, and the expected value is whether the reference's is not None. These
# references return `re.Match` objects, which cannot leave the program's process, so there the
# prelude's function (`_not_none_prelude`) gives the tests that bool. It tells them nothing the program
# could not have returned itself.
_MBPP_OUTPUT_NOT_NONE = frozenset({"check_str", "text_match_three", "text_starta_endb"})
_NOT_NONE_CALL = "_evalplus_not_none"


def _not_none_prelude(entry_point: str) -> str:
    """A function, in the program's process, that calls the program's `entry_point` (defined later) and
    gives EvalPlus's view of its result: a bool as itself, anything else as whether it is not None."""
    return (
        f"def {_NOT_NONE_CALL}(*args): out = {entry_point}(*args); "
        "return out if isinstance(out, bool) else out is not None"
    )


# EvalPlus's rule (evalplus/eval/__init__.py, `unsafe_execute`, and _special_oracle.py; evalplus/evalplus
# at 26d6d00, v0.3.1-44), in the tests' process: equal, or where a tolerance applies (the row's atol; 1e-6
# when the expected value is a float or a list of them) within atol + 1e-7·|expected| element by element,
# as numpy's allclose. Its special oracles: MBPP's set-valued tasks, Mbpp/164 and 295, Mbpp/558's and
# 581's own reference functions, and HumanEval/32's root (the polynomial at the answer must be within
# atol of 0, whatever the reference's root).
_EVALPLUS_JUDGE = """import copy, json, math, time
_SET_EQ = {"similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
           "intersection_array", "find_dissimilar", "Diff"}
def _timed(function, args):
    args = copy.deepcopy(args)
    start = time.perf_counter()
    out = function(*args)
    return out, time.perf_counter() - start
def _floats(x):
    return isinstance(x, float) or (isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(i, float) for i in x))
def _number(x):
    return isinstance(x, (int, float))
def _allclose(got, want, atol):
    if isinstance(want, (list, tuple)) or isinstance(got, (list, tuple)):
        if not isinstance(got, (list, tuple)) or not isinstance(want, (list, tuple)) or len(got) != len(want):
            return False
        return all(_allclose(g, w, atol) for g, w in zip(got, want))
    if not (_number(got) and _number(want)):
        return False
    if math.isnan(got) or math.isnan(want):
        return False
    try:
        return abs(got - want) <= atol + 1e-07 * abs(want)
    except OverflowError:
        return False
def _poly(xs, x):
    return sum(c * math.pow(x, i) for i, c in enumerate(xs))
def _surface_Area(base_edge, height):
    slant_height = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant_height) / 2)
def _digit_distance_nums(num1, num2):
    width = max(len(str(num1)), len(str(num2)))
    return sum(abs(int(a) - int(b)) for a, b in zip(str(num1).zfill(width), str(num2).zfill(width)))
def _judge(name, mbpp, args, got, want, atol):
    if not mbpp and name == "find_zero":
        return abs(_poly(*args, got)) <= atol
    same = got == want
    if mbpp and name == "are_equivalent":
        same = True
    elif mbpp and name == "sum_div":
        same = same or got == 0
    elif mbpp and name == "surface_Area":
        same = same or abs(got - _surface_Area(*args)) <= atol
    elif mbpp and name == "digit_distance_nums":
        same = same or got == _digit_distance_nums(*args)
    elif mbpp and name in _SET_EQ:
        same = set(got) == set(want)
    if atol == 0 and _floats(want):
        atol = 1e-6
    return _allclose(got, want, atol) if not same and atol != 0 else bool(same)
"""


def _json_field(row: dict[str, Any], name: str, default: Any) -> Any:
    """A field that holds JSON text (LiveCodeBench's) or the decoded value."""
    value = row.get(name, default)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            raise BadRow("bad_field_type", f"{name} is not JSON") from None
    return value


def problem_row(row: dict[str, Any], prefix: str, index: int) -> Problem:
    """coder-rl's own JSONL (what `coder-rl data convert` writes): `Problem.to_dict()` per line, ids kept."""
    try:
        problem = Problem.from_dict(row)
    except (ValueError, TypeError) as exc:
        raise BadRow("bad_problem", str(exc)) from None
    if not problem.tests:
        raise BadRow("no_tests", "tests is empty")
    if not problem.question.strip():
        raise BadRow("missing_field", "question")
    return problem


def problem_to_taco_row(problem: Problem) -> dict[str, Any]:
    """A Problem in TACO's field format (inverse of `taco_row` for stdin and call-based problems).

    Call-based outputs are wrapped in a one-element list again when the problem was read wrapped
    (`metadata["taco_wrapped_outputs"]`), and also when they would otherwise be read back as wrapped
    (every expected value a one-element list), so that reading the row gives the same tests.
    """
    call = [c for c in problem.tests if isinstance(c, CallCase)]
    stdio = [c for c in problem.tests if isinstance(c, StdioCase)]
    if call and len(call) == len(problem.tests):
        outputs = [c.expected for c in call]
        if problem.metadata.get(TACO_WRAPPED) is True or _all_wrapped(outputs):
            outputs = [[out] for out in outputs]
        io: dict[str, Any] = {
            "fn_name": call[0].fn_name,
            "inputs": [c.args for c in call],
            "outputs": outputs,
        }
    elif stdio and len(stdio) == len(problem.tests):
        io = {"inputs": [c.stdin for c in stdio], "outputs": [c.expected_stdout for c in stdio]}
    else:
        raise ValueError("TACO's format holds only all-stdin or all-call tests")
    if call and len({c.fn_name for c in call}) > 1:
        raise ValueError("TACO's format holds one fn_name per problem")
    if problem.metadata.get(PRELUDE):
        raise ValueError("TACO's format holds no prelude (what the grader runs before each program)")
    # TACO rows carry no id: a converted file gets position-based ids when it is read back.
    return {
        "question": problem.question,
        "solutions": json.dumps(problem.solutions),
        "starter_code": problem.starter_code,
        "input_output": json.dumps(io),
        "difficulty": problem.difficulty,
        "source": problem.source,
        **{k: problem.metadata[k] for k in _TACO_METADATA if k in problem.metadata},
    }


def _row_id(prefix: str, native: Any, index: int) -> str:
    """`apps/test/4021`: the dataset's own id where the row has one, else the row's position."""
    return f"{prefix}/{index if native is None or native == '' else native}"


def _text_field(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadRow("missing_field", name)
    return value


def _optional_text(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRow("bad_field_type", f"{name} must be text, got {type(value).__name__}")
    return value or ""


def _first_def(assert_line: str, code: str | None) -> str | None:
    """The function an MBPP assert tests: the first function it calls that the reference defines, else
    the first that is not a builtin (`assert int(foo(1)) == 2` -> 'foo', `assert set(foo(x)) == ...` ->
    'foo')."""
    try:
        tree = ast.parse(assert_line)
    except SyntaxError:
        return None
    calls = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    defined = set()
    if code:
        try:
            defined = {n.name for n in ast.walk(ast.parse(code)) if isinstance(n, ast.FunctionDef)}
        except SyntaxError:
            pass
    not_builtin = [name for name in calls if not hasattr(builtins, name) and name != "isclose"]
    return next((name for name in calls if name in defined), None) or next(iter(not_builtin), None)
