"""Standard benchmarks from local files: gzip-compressed JSONL as openai/human-eval and EvalPlus ship it,
EvalPlus's HumanEval+ and MBPP+ (base and plus inputs, atol), and LiveCodeBench's code generation
(public and private tests, stdin and functional, packed private tests, `data.since`). The files are small
ones written here in each project's documented format; the sandbox runs their tests."""

from __future__ import annotations

import base64
import gzip
import json
import pickle
import zlib
from pathlib import Path

import pytest

from coder_rl.data import DataConfig, load_problems
from coder_rl.errors import UserError
from sandbox import AssertCase, CallCase, StdioCase, Verdict, all_passed

HUMANEVAL = {
    "task_id": "HumanEval/0",
    "prompt": 'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n',
    "canonical_solution": "    return a + b\n",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n",
    "entry_point": "add",
}
# EvalPlus's release rows (HumanEvalPlus.jsonl.gz, MbppPlus.jsonl.gz): the canonical solution defines the
# expected outputs; `atol` where floats are compared.
HUMANEVAL_PLUS = {
    **HUMANEVAL, "task_id": "HumanEval/1",
    "prompt": 'def mean(xs: list) -> float:\n    """The mean of xs."""\n',
    "canonical_solution": "    return sum(xs) / len(xs)\n", "entry_point": "mean",
    "base_input": [[[1.0, 2.0]], [[3.0]]], "plus_input": [[[0.1] * 10], [[1e9, -1e9, 1.0]]] * 20,
    "atol": 1e-6, "contract": "",
}  # fmt: skip
MBPP_PLUS = {
    "task_id": "Mbpp/2", "prompt": '"""\nWrite a function to find the shared elements from the given two lists.\n"""\n',
    "canonical_solution": "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))\n",
    "entry_point": "similar_elements", "assertion": "assert similar_elements((3, 4), (4, 5)) == (4,)",
    "base_input": [[[3, 4, 5, 6], [5, 7, 4, 10]]], "plus_input": [[[1, 2], [3]], [[], [1]]], "atol": 0,
}  # fmt: skip


def write_gz(path: Path, rows: list[dict]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path


def passes(box, program: str, tests) -> bool:
    return bool(all_passed(box.run(program, tests)))


def test_humaneval_reads_from_its_gzip_file_and_a_cut_file_keeps_its_rows(tmp_path, local_box):
    path = write_gz(tmp_path / "HumanEval.jsonl.gz", [HUMANEVAL, {**HUMANEVAL, "task_id": "HumanEval/9"}])
    (problem, second) = load_problems(DataConfig(dataset="humaneval", path=str(path))).require_problems()
    assert (
        passes(local_box, problem.solutions[0], problem.tests) and second.id == "humaneval/train/HumanEval/9"
    )
    cut = tmp_path / "cut.jsonl.gz"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) - 12])  # the archive's end is lost
    report = load_problems(DataConfig(dataset="humaneval", path=str(cut)))
    assert report.skipped["unreadable_file"] == 1, report.summary()
    (tmp_path / "junk.jsonl.gz").write_bytes(b"this is no gzip file")
    with pytest.raises(UserError, match="not a readable gzip file"):
        load_problems(DataConfig(dataset="humaneval", path=str(tmp_path / "junk.jsonl.gz")))


def test_evalplus_checks_base_and_plus_inputs_against_the_canonical_solution(tmp_path, local_box):
    path = write_gz(tmp_path / "Plus.jsonl.gz", [HUMANEVAL_PLUS, MBPP_PLUS])
    mean, shared = load_problems(DataConfig(dataset="evalplus", path=str(path))).require_problems()
    assert all(isinstance(t, AssertCase) for t in mean.tests) and len(mean.tests) == 1 + 2  # 2 base, 40 plus
    assert mean.metadata == {"entry_point": "mean", "base_tests": 1}
    assert passes(local_box, mean.solutions[0], mean.tests)
    rounded = "def mean(xs):\n    return round(sum(xs) / len(xs), 3)\n"  # base inputs pass, plus ones not
    verdicts = [t.verdict for t in local_box.run(rounded, mean.tests).tests]
    assert verdicts[0] is Verdict.PASSED and Verdict.WRONG_ANSWER in verdicts[1:]
    assert passes(local_box, shared.solutions[0], shared.tests)
    # similar_elements is one of EvalPlus's set-valued tasks: any order, list or tuple
    as_list = "def similar_elements(a, b):\n    return list(set(b) & set(a))\n"
    assert passes(local_box, as_list, shared.tests)
    assert not passes(local_box, "def similar_elements(a, b):\n    return (min(a),)\n", shared.tests)
    # a right answer that empties its argument: the reference still gets the input as given
    mutating = (
        "def similar_elements(a, b):\n    r = tuple(sorted(set(a) & set(b)))\n    a.clear()\n    return r\n"
    )
    assert passes(local_box, mutating, shared.tests)
    assert "Your code should pass these tests" in shared.question and not shared.starter_code


def test_evalplus_inputs_keep_infinities_and_its_equality_is_pythons(tmp_path, local_box):
    """Inputs travel as JSON (an infinity stays one); outside a tolerance, 1 == True as in Python."""
    row = {
        "task_id": "HumanEval/9", "prompt": "def is_big(x):\n", "canonical_solution": "    return x > 1e300\n",
        "entry_point": "is_big", "base_input": [[float("inf")], [1.0]], "plus_input": [[-float("inf")]], "atol": 0,
    }  # fmt: skip
    path = write_gz(tmp_path / "inf.jsonl.gz", [row])
    (problem,) = load_problems(DataConfig(dataset="evalplus", path=str(path))).require_problems()
    assert passes(local_box, problem.solutions[0], problem.tests)
    assert passes(local_box, "def is_big(x):\n    return int(x > 1e300)\n", problem.tests)
    assert not passes(local_box, "def is_big(x):\n    return x < 1e300\n", problem.tests)


# LiveCodeBench's code_generation_lite rows: tests and metadata as JSON text; private tests packed.
def packed(tests: list[dict]) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


LCB_STDIN = {
    "question_title": "Sum", "question_content": "Print a + b.", "platform": "atcoder", "question_id": "abc001_a",
    "contest_id": "abc001", "contest_date": "2024-03-02T00:00:00", "starter_code": "", "difficulty": "easy",
    "public_test_cases": json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]),
    "private_test_cases": packed([{"input": "5 7\n", "output": "12\n", "testtype": "stdin"}]),
    "metadata": "{}",
}  # fmt: skip
LCB_FUNCTIONAL = {
    "question_title": "Two sum", "question_content": "Return the indices of two numbers adding to target.",
    "platform": "leetcode", "question_id": "1", "contest_id": "weekly-1", "contest_date": "2023-05-01T00:00:00",
    "starter_code": "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        ",
    "difficulty": "easy", "metadata": json.dumps({"func_name": "twoSum"}),
    "public_test_cases": json.dumps([{"input": "[2, 7, 11, 15]\n9", "output": "[0, 1]", "testtype": "functional"}]),
    "private_test_cases": json.dumps([{"input": "[3, 3]\n6", "output": "[0, 1]", "testtype": "functional"}]),
}  # fmt: skip
TWO_SUM = (
    "from typing import List\nclass Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
    "        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n"
    "                return [seen[target - x], i]\n            seen[x] = i\n"
)


def test_livecodebench_reads_public_and_packed_private_tests_of_both_kinds(tmp_path, local_box):
    path = tmp_path / "test6.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in (LCB_STDIN, LCB_FUNCTIONAL)) + "\n")
    stdin, functional = load_problems(DataConfig(dataset="livecodebench", path=str(path))).require_problems()
    assert stdin.tests == [StdioCase("1 2\n", "3\n"), StdioCase("5 7\n", "12\n")]
    assert functional.tests == [
        CallCase("twoSum", [[2, 7, 11, 15], 9], [0, 1]),
        CallCase("twoSum", [[3, 3], 6], [0, 1]),
    ]
    assert functional.fn_name == "twoSum" and stdin.metadata["contest_date"].startswith("2024-03-02")
    assert passes(local_box, "a, b = map(int, input().split())\nprint(a + b)\n", stdin.tests)
    assert passes(local_box, TWO_SUM, functional.tests)
    assert not passes(
        local_box, TWO_SUM.replace("[seen[target - x], i]", "[i, seen[target - x]]"), functional.tests
    )
    later = load_problems(DataConfig(dataset="livecodebench", path=str(path), since="2024-01-01"))
    assert [p.id for p in later.problems] == [stdin.id] and "1 dated before data.since" in later.summary()


def test_a_packed_pickle_that_would_build_an_object_is_a_bad_row_never_run(tmp_path):
    class Boom:
        def __reduce__(self):
            return (print, ("this must never run",))

    evil = base64.b64encode(zlib.compress(pickle.dumps([Boom()]))).decode()
    path = tmp_path / "evil.jsonl"
    path.write_text(json.dumps({**LCB_STDIN, "private_test_cases": evil}) + "\n")
    report = load_problems(DataConfig(dataset="livecodebench", path=str(path)))
    assert not report.problems and report.skipped["bad_tests"] == 1
    assert "neither JSON nor packed JSON (UnpicklingError)" in report.examples["bad_tests"]


def test_a_bad_since_is_a_one_line_error():
    with pytest.raises(ValueError, match="since"):
        DataConfig(dataset="livecodebench", since="last tuesday")
