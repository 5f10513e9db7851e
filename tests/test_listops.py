"""The generated `listops` family: deterministic, held out by composition, every reference passing its
own tests in the real sandbox, statements worded many ways, and reachable from the CLI."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict

import pytest

from coder_rl.data import DataConfig, Problem, load_problems
from coder_rl.data.listops import (
    CONDITIONS,
    MAPS,
    OPERATIONS,
    SHAPES,
    composition_pairs,
    heldout_pairs,
    make_row,
)
from coder_rl.errors import UserError
from pseudocode.steps import Action, Step, extract_code
from sandbox import CallCase, StdioCase
from tests.helpers import assert_one_line_error, run


def _load(split: str, limit: int | None = None, seed: int = 0, **more) -> list[Problem]:
    return load_problems(DataConfig(dataset="listops", split=split, limit=limit, seed=seed, **more)).problems


TRAIN = _load("train")
TEST = _load("test")


def test_default_sizes_ids_and_the_difficulty_mix():
    assert len(TRAIN) == 1000 and len(TEST) == 200
    assert [p.id for p in TRAIN[:3]] == ["listops/train/0", "listops/train/1", "listops/train/2"]
    mix = Counter(p.difficulty for p in TRAIN)
    assert set(mix) == {"EASY", "MEDIUM", "HARD"}
    assert mix["EASY"] > mix["MEDIUM"] > mix["HARD"] > 80
    hard = _load("test", limit=20, difficulty=["HARD"])
    assert len(hard) == 20 and {p.difficulty for p in hard} == {"HARD"}  # the filter is the knob


def test_the_generator_is_deterministic_and_smaller_sizes_are_prefixes():
    again = _load("train", limit=100)
    assert [p.to_dict() for p in again] == [p.to_dict() for p in TRAIN[:100]]
    assert json.dumps(make_row(0, "test", 7)) == json.dumps(make_row(0, "test", 7))  # byte-identical
    other = _load("train", limit=100, seed=1)
    assert sum(a.question == b.question for a, b in zip(other, again, strict=True)) < 10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heldout_compositions_never_occur_in_training(seed):
    held = heldout_pairs(seed)
    condition_ops = {pair for pair in held if pair[0] in CONDITIONS}
    assert 0.2 <= len(condition_ops) / (len(CONDITIONS) * len(OPERATIONS)) <= 0.25
    assert 2 <= len(held - condition_ops) <= 4  # (operation, shape) pairs
    train = TRAIN if seed == 0 else _load("train", seed=seed)
    test = TEST if seed == 0 else _load("test", seed=seed)
    assert all(not composition_pairs(p) & held for p in train)
    assert all(composition_pairs(p) & held for p in test)
    # Each held-out pair is tested, so the split measures every new combination.
    assert set().union(*(composition_pairs(p) & held for p in test)) == held


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_part_occurs_in_training(seed):
    train = TRAIN if seed == 0 else _load("train", seed=seed)
    seen = defaultdict(set)
    for problem in train:
        for part, value in problem.metadata["composition"].items():
            seen["condition" if part == "condition2" else part].add(value)
    assert seen["condition"] == {*CONDITIONS, None}  # None: no second condition
    assert seen["operation"] == set(OPERATIONS)
    assert seen["shape"] == set(SHAPES)
    assert seen["map"] == {*MAPS, None}


def test_every_reference_passes_its_tests_in_the_sandbox(box):
    problems = TRAIN[:150] + TEST[:100]
    assert (
        {p.difficulty for p in TRAIN[:150]}
        == {p.difficulty for p in TEST[:100]}
        == {"EASY", "MEDIUM", "HARD"}
    )
    assert {p.kind for p in problems} == {"stdin", "call"}
    results = box.run_batch([(p.solutions[0], p.tests) for p in problems])
    failures = {
        p.id: [(i, t.verdict.value, t.detail) for i, t in enumerate(r.tests) if not t.passed]
        for p, r in zip(problems, results, strict=True)
    }
    assert {pid: f for pid, f in failures.items() if f} == {}
    assert sum(len(r.tests) for r in results) == 10 * len(problems)


def test_tests_cover_empty_and_nothing_qualifying_inputs():
    for problem in TRAIN[:200]:
        assert len(problem.tests) == 10, problem.id
        if problem.kind == "call":
            lists = [case.args[0] for case in problem.tests]
            assert problem.metadata["taco_wrapped_outputs"] is True
        else:
            lists = [
                case.stdin.splitlines()[-1].split() if case.stdin.strip() else [] for case in problem.tests
            ]
        assert [] in lists, problem.id
        # an empty input and at least one other input give the "nothing qualifies" answer
        empty_answer = _answer_of(problem, next(i for i, xs in enumerate(lists) if not xs))
        assert sum(_answer_of(problem, i) == empty_answer for i in range(10)) >= 2, problem.id


def _answer_of(problem: Problem, index: int) -> object:
    case = problem.tests[index]
    return case.expected if isinstance(case, CallCase) else case.expected_stdout


def test_stdin_inputs_follow_the_stated_format():
    for problem in TRAIN[:300]:
        shape = problem.metadata["composition"]["shape"]
        for case in problem.tests:
            if shape == "call":
                assert isinstance(case, CallCase) and len(case.args) == 1
                continue
            assert isinstance(case, StdioCase)
            lines = case.stdin.split("\n")
            if shape == "stdin_count":
                assert len(lines) == 3 and lines[2] == "" and int(lines[0]) == len(lines[1].split())
            else:
                assert len(lines) == 2 and lines[1] == ""
            assert all(-20 <= int(x) <= 20 for x in lines[-2].split())


def test_steps_are_define_refine_generate_and_generate_holds_the_reference():
    for problem in TRAIN[:300]:
        (steps,) = problem.metadata["reference_steps"]
        parsed = [Step.from_dict(step) for step in steps]
        assert [s.action for s in parsed] == [Action.DEFINE, Action.REFINE, Action.GENERATE]
        assert extract_code(parsed[2])[0] == problem.solutions[0]
        define, refine = parsed[0].text, parsed[1].text
        name = problem.fn_name or "solve"
        assert define.startswith(f"FUNCTION {name}(nums: list of int) -> ") and "role: " in define
        assert ("MAIN:" in define) == (problem.kind == "stdin")
        assert refine.startswith(f"{name}:\n    kept <- [") and "RETURN " in refine
        if problem.kind == "call":
            assert problem.solutions[0].startswith(f"def {problem.fn_name}(nums):")


def test_statements_vary_and_state_the_formats():
    def skeleton(question: str) -> str:  # the task sentence's wording, without constants and names
        first = question.splitlines()[0]
        return re.sub(r"\d+|solve|compute|answer|process|evaluate", "#", first)

    skeletons = {skeleton(p.question) for p in TRAIN}
    assert len(skeletons) > 600
    openings = Counter(" ".join(p.question.split()[:3]) for p in TRAIN)
    assert len(openings) >= 12
    # The same composition is worded differently in different problems.
    wordings, counts = defaultdict(set), Counter()
    for problem in TRAIN:
        key = json.dumps(problem.metadata["composition"])
        wordings[key].add(skeleton(problem.question))
        counts[key] += 1
    repeated = [wordings[key] for key, n in counts.items() if n >= 3]
    assert len(repeated) > 50 and all(len(w) > 1 for w in repeated)
    for problem in TRAIN:
        text, op = problem.question, problem.metadata["composition"]["operation"]
        assert "-20" in text  # the value range is stated
        if op in ("max", "min"):
            assert "or 0 if" in text or "print 0 if" in text, problem.id
        if problem.kind == "call":
            assert f"{problem.fn_name}(nums)" in text or f"{problem.fn_name} " in text
            assert "return" in text.lower()
        elif op == "any":
            assert "YES" in text and "NO" in text
        else:
            assert "line" in text


def test_bad_selections_are_one_line_errors():
    with pytest.raises(UserError, match="listops has the splits train, test"):
        load_problems(DataConfig(dataset="listops", split="validation"))
    with pytest.raises(UserError, match="listops is generated"):
        load_problems(DataConfig(dataset="listops", path="x.jsonl"))
    with pytest.raises(UserError, match="listops difficulties are EASY, MEDIUM, HARD"):
        load_problems(DataConfig(dataset="listops", limit=5, difficulty=["VERY_HARD"]))


def test_cli_inspect_convert_and_check(tmp_path):
    inspect = run("data", "inspect", "--dataset", "listops", "--limit", "20")
    assert inspect.returncode == 0, inspect.stderr
    assert inspect.stdout.count("listops/train/") == 20
    assert "read 20 rows from listops (train, seed 0): 20 problems" in inspect.stdout

    out = tmp_path / "listops.jsonl"
    convert = run("data", "convert", str(out), "--dataset", "listops", "--limit", "50", "--split", "test")
    assert convert.returncode == 0, convert.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [p.id for p in TEST[:50]]
    assert rows[0]["metadata"]["reference_steps"] == TEST[0].metadata["reference_steps"]
    again = load_problems(DataConfig(dataset="jsonl", path=str(out)))
    assert [p.to_dict() for p in again.problems] == [p.to_dict() for p in TEST[:50]]

    seeded = run("data", "convert", str(out), "--dataset", "listops", "--limit", "3", "--set", "data.seed=1")
    assert seeded.returncode == 0, seeded.stderr
    assert [json.loads(line)["question"] for line in out.read_text().splitlines()] == [
        p.question for p in _load("train", limit=3, seed=1)
    ]

    verdicts = tmp_path / "verdicts.jsonl"
    check = run(
        "sandbox", "check", "--dataset", "listops", "--limit", "30", "--workers", "2", "--out", str(verdicts)
    )
    assert check.returncode == 0, check.stderr
    assert "checked 30 problems (0 already done): passed 30" in check.stdout

    assert_one_line_error(
        run("data", "inspect", "--dataset", "listops", "--split", "valid"), "listops has the splits"
    )
