"""Standard benchmarks from local files: gzip-compressed JSONL as openai/human-eval and EvalPlus ship it,
EvalPlus's HumanEval+ and MBPP+ (base and plus inputs, atol, MBPP+'s typed inputs, re.Match results,
special oracles, the time limit per input), and LiveCodeBench's code generation (public and private
tests, stdin and functional, packed private tests, `data.since`, its imports before every program).
The files are small ones written here in each project's documented format; the sandbox runs their tests."""

from __future__ import annotations

import base64
import gzip
import json
import pickle
import zlib
from pathlib import Path

import pytest

from coder_rl.data import DataConfig, load_problems
from coder_rl.data.adapters import problem_to_taco_row
from coder_rl.errors import UserError
from coder_rl.evaluate import judge_samples
from coder_rl.rewards import run_programs
from coder_rl.trajectory import read_trajectory
from pseudocode import fence
from sandbox import AssertCase, CallCase, StdioCase, Verdict, all_passed
from tests.helpers import run

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
    mutating = "def mean(xs):\n    r = sum(xs) / len(xs)\n    xs.clear()\n    return r\n"
    assert passes(local_box, mutating, mean.tests)
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


# MBPP+ rows as MbppPlus.jsonl holds them: inputs that EvalPlus rebuilds (`mbpp_deserialize_inputs`) stored
# as lists and strings (Mbpp/580's nested tuples, Mbpp/124's complex numbers); results that are re.Match
# objects (Mbpp/794); answers judged by their own oracles (Mbpp/558, 581).
def mbpp_plus(
    number: int, entry_point: str, text: str, canonical: str, base: list, plus: list, **row
) -> dict:
    return {
        "task_id": f"Mbpp/{number}", "prompt": f'"""\n{text}\n"""\n', "canonical_solution": canonical,
        "entry_point": entry_point, "base_input": base, "plus_input": plus, "atol": 0, **row,
    }  # fmt: skip


EXTRACT_EVEN = (
    "def even_ele(test_tuple, even_fnc):\n    res = tuple()\n    for ele in test_tuple:\n"
    "        if isinstance(ele, tuple):\n            res += (even_ele(ele, even_fnc), )\n"
    "        elif even_fnc(ele):\n            res += (ele, )\n    return res\n"
    "def extract_even(test_tuple):\n    return even_ele(test_tuple, lambda x: x % 2 == 0)\n"
)
MBPP_580 = mbpp_plus(
    580, "extract_even", "Write a function to remove uneven elements in the nested mixed tuple.", EXTRACT_EVEN,
    [[[4, 5, [7, 6, [2, 4]], 6, 8]], [[5, 6, [8, 7, [4, 8]], 7, 9]]], [[[]], [[1, [2, [3, [4]]]]]],
    assertion="assert extract_even((4, 5, (7, 6, (2, 4)), 6, 8)) == (4, (6, (2, 4)), 6, 8)",
)  # fmt: skip
MBPP_124 = mbpp_plus(
    124, "angle_complex", "Write a function to get the angle of a complex number.",
    "import cmath\ndef angle_complex(a,b):\n  angle=cmath.phase(a+b)\n  return angle\n",
    [["0", "1j"], ["2", "1j"], ["0", "2j"]], [["-1.5", "(-0-3j)"], ["0.0", "-1j"]],
    assertion="assert math.isclose(angle_complex(0,1j), 1.5707963267948966, rel_tol=0.001)",
)  # fmt: skip
TEXT_STARTA_ENDB = (
    "import re\ndef text_starta_endb(text):\n    patterns = 'a.*?b$'\n    return re.search(patterns, text)\n"
)
MBPP_794 = mbpp_plus(
    794, "text_starta_endb",
    "Write a function that matches a string that has an 'a' followed by anything, ending in 'b'.",
    TEXT_STARTA_ENDB, [["aabbbb"], ["aabAbbbc"], ["accddbbjjj"]], [["ab"], ["a"], [""], ["xab"]],
    assertion='assert text_starta_endb("aabbbb")',
)  # fmt: skip
MBPP_581 = mbpp_plus(
    581, "surface_Area", "Write a python function to find the surface area of a square pyramid with a given base edge and height.",
    "def surface_Area(b,s):\n    return 2 * b * s + pow(b,2)\n", [[3, 4], [4, 5], [1, 2]], [[10, 20], [0, 7]],
    assertion="assert surface_Area(3,4) == 33",
)  # fmt: skip
MBPP_558 = mbpp_plus(
    558, "digit_distance_nums", "Write a python function to find the sum of the per-digit difference between two integers.",
    "def digit_distance_nums(n1, n2):\n    return sum(map(int,str(abs(n1-n2))))\n",
    [[1, 2], [23, 56], [123, 256]], [[123, 19], [1000, 1]], assertion="assert digit_distance_nums(1,2) == 1",
)  # fmt: skip


def load_mbpp_plus(tmp_path, *rows: dict) -> list:
    path = write_gz(tmp_path / "MbppPlus.jsonl.gz", list(rows))
    return load_problems(DataConfig(dataset="evalplus", path=str(path))).require_problems()


def test_mbpp_plus_inputs_are_rebuilt_as_evalplus_does_tuples_and_complex_numbers(tmp_path, local_box):
    """Both canonical solutions fail on the stored lists and strings (`isinstance(ele, tuple)`, `a + b` of
    two strings); rebuilt, they pass, and a program written for the stored form fails."""
    extract, angle = load_mbpp_plus(tmp_path, MBPP_580, MBPP_124)
    assert passes(local_box, extract.solutions[0], extract.tests)
    for_lists = EXTRACT_EVEN.replace("isinstance(ele, tuple)", "isinstance(ele, list)")
    assert not passes(local_box, for_lists, extract.tests)
    dropping = (
        "def extract_even(t):\n    return tuple(x for x in t if not isinstance(x, tuple) and x % 2 == 0)\n"
    )
    assert not passes(local_box, dropping, extract.tests)
    assert passes(local_box, angle.solutions[0], angle.tests)
    assert passes(
        local_box,
        "import cmath\ndef angle_complex(a, b):\n    return cmath.phase(complex(a) + b)\n",
        angle.tests,
    )
    assert not passes(
        local_box,
        "import cmath\ndef angle_complex(a, b):\n    return cmath.phase(complex(a, b))\n",
        angle.tests,
    )


def test_mbpp_plus_re_match_results_are_judged_on_whether_they_are_none(tmp_path, local_box):
    """EvalPlus judges Mbpp/794 on whether the result is None (a bool as itself). A re.Match cannot leave
    the program's process, so the problem's prelude asks that question there."""
    (problem,) = load_mbpp_plus(tmp_path, MBPP_794)
    assert "_evalplus_not_none" in problem.metadata["prelude"] and "\n" not in problem.metadata["prelude"]
    assert passes(local_box, problem.runnable(problem.solutions[0]), problem.tests)
    as_bool = "import re\ndef text_starta_endb(text):\n    return bool(re.search('a.*?b$', text))\n"
    assert passes(local_box, problem.runnable(as_bool), problem.tests)
    # a string is not None, so 'Not matched!' says "matched"; a match of anything says so everywhere
    as_text = "import re\ndef text_starta_endb(text):\n    return 'Found!' if re.search('a.*?b$', text) else 'Not matched!'\n"
    assert not passes(local_box, problem.runnable(as_text), problem.tests)
    assert not passes(
        local_box,
        problem.runnable("import re\ndef text_starta_endb(text):\n    return re.search('', text)\n"),
        problem.tests,
    )
    assert not passes(local_box, problem.solutions[0], problem.tests)  # without the prelude: not plain


def test_mbpp_plus_558_and_581_accept_their_oracles_answers_too(tmp_path, local_box):
    """Mbpp/581's oracle reads the height as perpendicular (rounded), 558's pads the numbers with zeros
    and sums the digits' distances; the canonical solution's answers pass as well, others fail."""
    area, distance = load_mbpp_plus(tmp_path, MBPP_581, MBPP_558)
    perpendicular = "import math\ndef surface_Area(b, h):\n    return round(b * b + 2 * b * math.sqrt((b / 2) ** 2 + h * h))\n"
    assert passes(local_box, area.solutions[0], area.tests) and passes(local_box, perpendicular, area.tests)
    assert not passes(local_box, perpendicular.replace("return round(", "return ("), area.tests)
    assert not passes(local_box, "def surface_Area(b, s):\n    return b * s\n", area.tests)
    padded = (
        "def digit_distance_nums(a, b):\n    x, y = str(a), str(b)\n    w = max(len(x), len(y))\n"
        "    return sum(abs(int(p) - int(q)) for p, q in zip(x.zfill(w), y.zfill(w)))\n"
    )
    assert passes(local_box, distance.solutions[0], distance.tests) and passes(
        local_box, padded, distance.tests
    )
    assert not passes(local_box, "def digit_distance_nums(a, b):\n    return abs(a - b)\n", distance.tests)


def test_each_evalplus_input_has_its_own_time_limit(tmp_path, local_box, monkeypatch):
    """EvalPlus's limit, max(floor, factor × the reference's time), per input; here with a floor of 0.3 s
    so that a program slow on some inputs (within the sandbox's limits) fails by it."""
    from coder_rl.data import adapters

    monkeypatch.setattr(adapters, "EVALPLUS_MIN_TIME_S", 0.3)
    mean, _ = load_problems(
        DataConfig(
            dataset="evalplus", path=str(write_gz(tmp_path / "p.jsonl.gz", [HUMANEVAL_PLUS, MBPP_PLUS]))
        )
    ).require_problems()
    assert passes(local_box, mean.solutions[0], mean.tests)
    slow = "import time\ndef mean(xs):\n    if len(xs) == 3:\n        time.sleep(0.6)\n    return sum(xs) / len(xs)\n"
    verdicts = local_box.run(slow, mean.tests).tests
    assert [t.verdict for t in verdicts] == [Verdict.PASSED, Verdict.WRONG_ANSWER, Verdict.WRONG_ANSWER]
    assert "over the time limit on [[1000000000.0, -1000000000.0, 1.0]]" in verdicts[1].detail


def test_evalplus_references_pass_through_eval_and_sandbox_check(tmp_path):
    path = write_gz(
        tmp_path / "MbppPlus.jsonl.gz", [MBPP_PLUS, MBPP_580, MBPP_124, MBPP_794, MBPP_581, MBPP_558]
    )
    done = run(
        "eval", "--dataset", "evalplus", "--path", str(path), "--reference", "--out", str(tmp_path / "eval")
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert report["pass_at"] == {"1": 1.0} and report["problems"] == 6
    check = run(
        "sandbox", "check", "--dataset", "evalplus", "--path", str(path), "--out", str(tmp_path / "c.jsonl")
    )
    assert check.returncode == 0 and "checked 6 problems (0 already done): passed 6" in check.stdout, (
        check.stderr
    )


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


# LeetCode-style answers that use `List` and `Counter` without importing them, as LiveCodeBench's grader
# (its `import_string` before every program) accepts them.
def lcb(row: dict, question_id: str, content: str, kind: str, tests: list[tuple[str, str]], **more) -> dict:
    """A row like `row`: its first test public, the others packed as private ones."""
    cases = [{"input": given, "output": out, "testtype": kind} for given, out in tests]
    return {
        **row, "question_id": question_id, "question_content": content, "public_test_cases": json.dumps(cases[:1]),
        "private_test_cases": packed(cases[1:]), **more,
    }  # fmt: skip


LCB_MODE = lcb(
    LCB_FUNCTIONAL, "2", "Return the most frequent value of nums, the smallest on a tie.", "functional",
    [("[3, 1, 3, 2]", "3"), ("[5, 4, 4, 5]", "4")], metadata=json.dumps({"func_name": "mostFrequent"}),
    starter_code="class Solution:\n    def mostFrequent(self, nums: List[int]) -> int:\n        ",
)  # fmt: skip
MODE = (
    "class Solution:\n    def mostFrequent(self, nums: List[int]) -> int:\n        counts = Counter(nums)\n"
    "        return min(counts, key=lambda x: (-counts[x], x))\n"
)
LCB_WORDS = lcb(
    LCB_STDIN, "abc002_a", "Given n and n words, print the most frequent word, the smallest on a tie.", "stdin",
    [("3\nb a b\n", "b\n"), ("4\nz y y z\n", "y\n")],
)  # fmt: skip
WORDS = (
    "def most_frequent(words: List[str]) -> str:\n    counts = Counter(words)\n"
    "    return min(counts, key=lambda w: (-counts[w], w))\n\ninput()\nprint(most_frequent(input().split()))\n"
)
# a method named like a function the imports bring (itertools.count): LiveCodeBench calls Solution().count
LCB_COUNT = lcb(
    LCB_MODE, "3", "Return the length of nums.", "functional", [("[3, 1, 3, 2]", "4")],
    metadata=json.dumps({"func_name": "count"}),
)  # fmt: skip
COUNT = "class Solution:\n    def count(self, nums: List[int]) -> int:\n        return len(nums)\n"


def test_livecodebench_answers_run_after_its_imports_in_rewards_and_eval(tmp_path, local_box):
    """The prelude goes before every program wherever a problem's tests judge it: the rewards'
    `run_programs`, eval's judging, `coder-rl eval --reference`. A TACO problem has none: its programs
    run as written, so the same answer fails there for want of its imports."""
    path = tmp_path / "lcb.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in (LCB_MODE, LCB_WORDS, LCB_COUNT)))
    problems = load_problems(DataConfig(dataset="livecodebench", path=str(path))).require_problems()
    programs = [MODE, WORDS, COUNT]
    trajectories = [read_trajectory(fence(code)) for code in programs]
    assert [all_passed(r) for r in run_programs(local_box, problems, trajectories)] == [1.0, 1.0, 1.0]
    records = judge_samples(local_box, problems, [[(fence(code), 0)] for code in programs])
    assert [r["samples"][0]["verdict"] for r in records] == ["passed"] * 3
    assert not passes(local_box, MODE, problems[0].tests) and not passes(local_box, WORDS, problems[1].tests)
    wrong = MODE.replace("-counts[x], x", "counts[x], x")
    assert not passes(local_box, problems[0].runnable(wrong), problems[0].tests)
    # tracebacks: the prelude is one line, so the program's lines move down by one
    (result,) = local_box.run(problems[1].runnable("1 // 0\n"), problems[1].tests[:1]).tests
    assert result.verdict is Verdict.RUNTIME_ERROR and "line 2, in <module>" in result.stderr

    taco = load_problems(DataConfig(dataset="taco", path=str(taco_words(tmp_path)))).require_problems()[0]
    assert "prelude" not in taco.metadata and taco.runnable(WORDS) == WORDS
    assert [all_passed(r) for r in run_programs(local_box, [taco], [read_trajectory(fence(WORDS))])] == [0.0]
    with pytest.raises(ValueError, match="no prelude"):
        problem_to_taco_row(problems[1])

    # `coder-rl eval --reference`, the answers as the problems' references, in coder-rl's own JSONL
    own = tmp_path / "own.jsonl"
    own.write_text(
        "".join(
            json.dumps({**p.to_dict(), "solutions": [code]}) + "\n"
            for p, code in zip(problems, programs, strict=True)
        )
    )
    done = run(
        "eval", "--dataset", "jsonl", "--path", str(own), "--reference", "--out", str(tmp_path / "eval")
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "eval" / "eval.json").read_text())["pass_at"] == {"1": 1.0}


def taco_words(tmp_path: Path) -> Path:
    """LCB_WORDS's tests as a TACO row."""
    io = {"inputs": ["3\nb a b\n", "4\nz y y z\n"], "outputs": ["b\n", "y\n"]}
    path = tmp_path / "taco.jsonl"
    path.write_text(
        json.dumps({"question": "Words", "solutions": "[]", "input_output": json.dumps(io)}) + "\n"
    )
    return path


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
