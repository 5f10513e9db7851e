"""HumanEval, MBPP, CodeContests and coder-rl's own JSONL; conversion round trips."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from coder_rl.data import DataConfig, Problem, load_problems
from coder_rl.data.adapters import problem_to_taco_row, taco_row
from sandbox import AssertCase, CallCase, StdioCase

HUMANEVAL_ROW = {
    "task_id": "HumanEval/x",
    "prompt": 'def add(a: int, b: int) -> int:\n    """Return a + b.\n    >>> add(2, 3)\n    5\n    """\n',
    "canonical_solution": "    return a + b\n",
    "test": "METADATA = {}\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
    "entry_point": "add",
}
MBPP_ROW = {
    "task_id": 2,
    "text": "Write a function to find the shared elements from the given two lists.",
    "code": "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n",
    "test_list": [
        "assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == set((4, 5))",
        "assert set(similar_elements((1, 2, 3, 4), (5, 4, 3, 7))) == set((3, 4))",
    ],
    "test_setup_code": "",
    "challenge_test_list": [],
}
CODE_CONTESTS_ROW = {
    "name": "1_A. Double",
    "description": "Print twice the number.",
    "public_tests": {"input": ["2\n"], "output": ["4\n"]},
    "private_tests": {"input": ["5\n"], "output": ["10\n"]},
    "generated_tests": {"input": [], "output": []},
    "solutions": {
        "language": [1, 3, 2],
        "solution": ["print input()*2", "print(int(input())*2)", "int main(){}"],
    },
    "difficulty": 7,
    "cf_rating": 800,
}


def _write(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def run_asserts(problem):
    """Our own rows are trusted: run the reference with each assert in-process (an AssertionError fails the test)."""
    for case in problem.tests:
        exec(problem.solutions[0] + "\n" + case.source, {})  # noqa: S102


def test_humaneval(tmp_path):
    (problem,) = load_problems(
        DataConfig(dataset="humaneval", path=_write(tmp_path, "he.jsonl", [HUMANEVAL_ROW]))
    ).problems
    assert (
        problem.id == "humaneval/train/HumanEval/x"
        and problem.kind == "assert"
        and problem.metadata["entry_point"] == "add"
    )
    assert problem.tests[0].source.rstrip().endswith("check(add)")
    run_asserts(problem)


def test_mbpp(tmp_path):
    (problem,) = load_problems(
        DataConfig(dataset="mbpp", path=_write(tmp_path, "mbpp.jsonl", [MBPP_ROW]))
    ).problems
    assert len(problem.tests) == 2 and problem.metadata["entry_point"] == "similar_elements"
    assert MBPP_ROW["test_list"][0] in problem.question
    run_asserts(problem)


def test_code_contests_keeps_python3_solutions_and_all_tests(tmp_path):
    path = _write(tmp_path, "cc.jsonl", [CODE_CONTESTS_ROW])
    (problem,) = load_problems(DataConfig(dataset="code_contests", path=path)).problems
    assert problem.tests == [StdioCase("2\n", "4\n"), StdioCase("5\n", "10\n")]
    assert problem.solutions == ["print(int(input())*2)"]
    bad = {**CODE_CONTESTS_ROW, "solutions": {"language": [3], "solution": [5]}}
    report = load_problems(DataConfig(dataset="code_contests", path=_write(tmp_path, "bad.jsonl", [bad])))
    assert dict(report.skipped) == {"bad_solutions": 1}


def test_problem_jsonl_round_trip(tmp_path):
    problem = Problem(
        id="p1",
        question="q",
        tests=[StdioCase("1\n", "2\n"), CallCase("f", [1, [2]], [3]), AssertCase("assert f(1) == 3")],
        solutions=["def f(a, b=0): return 3"],
        difficulty="EASY",
        metadata={"k": 1},
    )
    (loaded,) = load_problems(
        DataConfig(dataset="jsonl", path=_write(tmp_path, "p.jsonl", [problem.to_dict()]))
    ).problems
    assert loaded == problem and loaded.kind == "mixed"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@given(
    tests=st.one_of(
        st.lists(st.builds(StdioCase, st.text(max_size=20), st.text(max_size=20)), min_size=1, max_size=4),
        st.lists(
            st.builds(CallCase, st.just("solve"), st.lists(json_values, max_size=3), json_values),
            min_size=1,
            max_size=4,
        ),
    ),
    solutions=st.lists(st.text(max_size=30), max_size=3),
    question=st.text(min_size=1, max_size=40).filter(str.strip),
)
def test_taco_row_round_trip(tests, solutions, question):
    problem = Problem(
        id="p",
        question=question,
        tests=tests,
        solutions=solutions,
        starter_code="",
        difficulty="EASY",
        source="s",
    )
    back = taco_row(json.loads(json.dumps(problem_to_taco_row(problem))), "taco/train", 3)
    assert (back.id, back.question, back.tests, back.solutions) == (
        "taco/train/3",
        question,
        tests,
        solutions,
    )


HUMANEVAL_WITH_HELPER = {  # HumanEval/50's shape: the prompt defines a helper the tests call
    "task_id": "HumanEval/50",
    "prompt": (
        'def encode_shift(s: str):\n    """shift every character by 5"""\n'
        "    return ''.join(chr(((ord(ch) + 5 - ord('a')) % 26) + ord('a')) for ch in s)\n\n\n"
        'def decode_shift(s: str):\n    """takes as input string encoded with encode_shift."""\n'
    ),
    "canonical_solution": "    return ''.join(chr(((ord(ch) - 5 - ord('a')) % 26) + ord('a')) for ch in s)\n",
    "test": (
        "def check(candidate):\n    for word in ['abc', 'hello', 'zzz']:\n"
        "        assert candidate(encode_shift(word)) == word\n"
    ),
    "entry_point": "decode_shift",
}


def test_humaneval_tests_call_the_prompts_helpers_not_the_programs(tmp_path):
    """A program that redefines the prompt's helper to agree with a wrong answer (both the identity)
    fails: the test code carries the dataset's helper; the reference still passes."""
    from sandbox import Limits, Sandbox, Verdict

    (problem,) = load_problems(
        DataConfig(dataset="humaneval", path=_write(tmp_path, "he.jsonl", [HUMANEVAL_WITH_HELPER]))
    ).problems
    source = problem.tests[0].source
    assert source.startswith("def encode_shift(s: str):") and "def decode_shift" not in source
    identity = "def encode_shift(s):\n    return s\n\ndef decode_shift(s):\n    return s\n"
    with Sandbox(workers=1, limits=Limits(time_s=2)) as box:
        assert box.run(problem.solutions[0], problem.tests).verdict is Verdict.PASSED
        assert box.run(identity, problem.tests).verdict is Verdict.WRONG_ANSWER


def test_mbpp_entry_point_is_the_function_under_test_not_a_wrapper(tmp_path):
    """`assert int(f(...)) == ...` tests f: the reference defines it; without a reference, the first
    call that is not a builtin."""
    row = {**MBPP_ROW, "test_list": ["assert int(similar_elements((3, 4), (5, 4))[0]) == 4"]}
    (problem,) = load_problems(DataConfig(dataset="mbpp", path=_write(tmp_path, "a.jsonl", [row]))).problems
    assert problem.metadata["entry_point"] == "similar_elements"
    row = {**row, "code": "", "test_list": ["assert round(float(area(2)), 2) == 12.57"]}
    (problem,) = load_problems(DataConfig(dataset="mbpp", path=_write(tmp_path, "b.jsonl", [row]))).problems
    assert problem.metadata["entry_point"] == "area"
