"""`coder-rl sandbox run|check|bench` as users run them: real subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.helpers import TACO_SAMPLE, assert_one_line_error, run

PROGRAM = "a, b = map(int, input().split())\nprint(a + b)\n"


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "add.py"
    path.write_text(PROGRAM)
    return path


def write_tests(tmp_path, tests) -> str:
    path = tmp_path / "tests.json"
    path.write_text(json.dumps(tests))
    return str(path)


def test_run_prints_each_verdict_and_exits_by_the_result(program, tmp_path):
    good = write_tests(tmp_path, [{"kind": "stdin", "stdin": "1 2\n", "expected_stdout": "3\n"}])
    result = run("sandbox", "run", str(program), "--tests", good)
    assert result.returncode == 0, result.stderr
    assert "passed: 1/1 tests passed" in result.stdout
    taco = tmp_path / "io.json"
    taco.write_text(json.dumps({"inputs": ["1 2\n", "2 2\n"], "outputs": ["3\n", "5\n"]}))
    result = run("sandbox", "run", str(program), "-t", str(taco), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [t["verdict"] for t in report["tests"]] == ["passed", "wrong_answer"]


@pytest.mark.parametrize(
    ("tests", "message"),
    [
        ("not json", "not a JSON file"),
        ([{"kind": "bogus"}], "unknown test-case kind 'bogus'"),
        ({"inputs": ["1"], "outputs": []}, "mismatched_io"),
        ({"cases": []}, "expected a list of test cases or a TACO input_output object"),
    ],
)
def test_run_rejects_bad_tests_in_one_line(program, tmp_path, tests, message):
    path = tmp_path / "tests.json"
    path.write_text(tests if isinstance(tests, str) else json.dumps(tests))
    assert_one_line_error(run("sandbox", "run", str(program), "--tests", str(path)), message)


def test_run_with_an_image_that_does_not_exist(program, tmp_path):
    tests = write_tests(tmp_path, [{"kind": "stdin", "stdin": "1 2\n", "expected_stdout": "3\n"}])
    result = run("sandbox", "run", str(program), "-t", tests, "--backend", "docker", "--set", "image=nope:0")
    # Either the engine is down or the image is missing: both are one line that says what to do.
    assert_one_line_error(result, "docker")
    assert "build-offline.sh" in result.stderr or "start one" in result.stderr


def test_check_writes_verdicts_and_the_passing_subset_and_resumes(tmp_path):
    out, passing = tmp_path / "verdicts.jsonl", tmp_path / "passing.jsonl"
    args = ["sandbox", "check", "--dataset", "taco", "--path", str(TACO_SAMPLE), "--out", str(out)]
    result = run(*args, "--write-passing", str(passing), "--set", "max_solutions=1")
    assert result.returncode == 0, result.stderr
    assert "checked 5 problems (0 already done): passed 5" in result.stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["outcome"] for r in records] == ["passed"] * 5
    assert [r["tests"] for r in records] == [3, 102, 8, 11, 88]
    assert len(passing.read_text().splitlines()) == 5
    again = run(*args, "--set", "max_solutions=1")
    assert again.returncode == 0 and "checked 0 problems (5 already done): passed 5" in again.stdout
    other = run(*args, "--set", "max_solutions=2")
    assert_one_line_error(other, "was written with other settings")


def test_check_exits_1_when_a_reference_fails(tmp_path):
    rows = tmp_path / "rows.jsonl"
    problem = {
        "id": "p1",
        "question": "add",
        "tests": [{"kind": "stdin", "stdin": "1 2\n", "expected_stdout": "4\n"}],
        "solutions": [PROGRAM],
    }
    rows.write_text(json.dumps(problem) + "\n")
    args = ["sandbox", "check", "--dataset", "jsonl", "--path", str(rows), "--out", str(tmp_path / "v.jsonl")]
    result = run(*args)
    assert result.returncode == 1
    assert "failed 1" in result.stdout and "wrong_answer 1" in result.stdout
    # A rerun checks nothing new, but reports and exits with what the whole output holds.
    again = run(*args)
    assert again.returncode == 1 and "checked 0 problems (1 already done): failed 1" in again.stdout


def test_bench_prints_figures_for_naive_and_local(tmp_path):
    out = tmp_path / "bench.json"
    result = run(
        "sandbox", "bench", "--backends", "local", "--workers", "2", "--humaneval-programs", "4",
        "--stdin-programs", "2", "--stdin-tests", "3", "--overhead-tests", "5", "--repeats", "1", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "speed-up over naive" in result.stdout
    rows = json.loads(out.read_text())["rows"]
    assert {(r["workload"], r["runner"]) for r in rows} == {
        (w, r) for w in ("humaneval", "stdin", "overhead") for r in ("naive", "local")
    }
    assert all(r["passed"] == r["tests"] for r in rows)
