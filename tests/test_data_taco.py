"""The TACO adapter against five real TACO training rows, in every local file format."""

from __future__ import annotations

import json

import pytest

from coder_rl.data import DataConfig, Problem, load_problems
from coder_rl.data.adapters import problem_to_taco_row, taco_row, taco_tests
from sandbox import CallCase, StdioCase
from tests.helpers import TACO_SAMPLE

# Per row of the real file: (tests, kind, fn_name, solutions), counted from the raw JSON by hand.
EXPECTED = [
    (3, "call", "encode", 10),
    (102, "stdin", None, 35),
    (8, "call", "min_and_max", 8),
    (11, "call", "count_pairs_int", 10),
    (88, "stdin", None, 4),
]


def _summary(problems):
    return [(len(p.tests), p.kind, p.fn_name, len(p.solutions)) for p in problems]


@pytest.fixture(scope="module")
def taco_rows():
    return [json.loads(line) for line in TACO_SAMPLE.read_text().splitlines()]


def test_reads_the_real_rows_exactly():
    report = load_problems(DataConfig(dataset="TACO", path=str(TACO_SAMPLE)))
    assert _summary(report.problems) == EXPECTED
    assert report.rows_read == 5 and not report.skipped
    assert [p.id for p in report.problems] == [f"taco/train/{i}" for i in range(5)]
    assert all(p.difficulty == "EASY" for p in report.problems)


def test_test_case_values(taco_rows):
    problems = load_problems(DataConfig(dataset="taco", path=str(TACO_SAMPLE))).problems
    # Call-based: args are the input list; all three call-based rows wrap every output in a one-element
    # list, so the adapter unwraps each (once per problem) and says so in the metadata.
    assert problems[2].tests[0] == CallCase("min_and_max", [100, 200, 10], [109, 190])
    assert problems[0].tests[0] == CallCase("encode", ["hello"], "h2ll4")
    assert problems[3].tests[0] == CallCase("count_pairs_int", [1, 50], 8)
    assert [p.metadata.get("taco_wrapped_outputs") for p in problems] == [True, None, True, True, None]
    for problem, row in zip(problems, taco_rows, strict=True):
        io = json.loads(row["input_output"])
        if "fn_name" in io:
            assert [[case.expected] for case in problem.tests] == io["outputs"]
    assert problems[1].tests[0] == StdioCase("2\n2\n1 2\n0 0\n3\n3 3\n0 0\n0 3", "3\n0")
    assert problems[0].starter_code == taco_rows[0]["starter_code"]
    assert problems[1].solutions == json.loads(taco_rows[1]["solutions"])
    assert problems[1].question == taco_rows[1]["question"]
    assert problems[1].source == "codechef" and problems[1].metadata["url"] == taco_rows[1]["url"]


def test_limit_and_difficulty():
    report = load_problems(DataConfig(dataset="taco", path=str(TACO_SAMPLE), limit=2))
    assert len(report.problems) == 2 and report.rows_read == 2
    report = load_problems(DataConfig(dataset="taco", path=str(TACO_SAMPLE), difficulty=["HARD"]))
    assert report.problems == [] and report.filtered_out == {"EASY": 5}
    assert "5 not matching the difficulty filter" in report.summary()


def test_parquet_arrow_and_save_to_disk_read_the_same(tmp_path, taco_rows):
    from datasets import Dataset, DatasetDict

    data = Dataset.from_list(taco_rows)
    data.to_parquet(str(tmp_path / "train.parquet"))
    DatasetDict({"train": data}).save_to_disk(str(tmp_path / "saved"))
    arrow = next((tmp_path / "saved" / "train").glob("*.arrow"))
    # TACO's hub layout: a directory per split holding .arrow shards.
    (tmp_path / "hub" / "train").mkdir(parents=True)
    Dataset.from_list(taco_rows[:2]).to_parquet(str(tmp_path / "hub" / "train" / "part-0.parquet"))
    Dataset.from_list(taco_rows[2:]).to_parquet(str(tmp_path / "hub" / "train" / "part-1.parquet"))
    for path in ("train.parquet", "saved", str(arrow), "hub"):
        report = load_problems(DataConfig(dataset="taco", path=str(tmp_path / path)))
        assert _summary(report.problems) == EXPECTED, path
        assert [p.id for p in report.problems] == [f"taco/train/{i}" for i in range(5)], path


def test_apps_stdio_given_as_lists_of_lines(tmp_path):
    row = {
        "question": "Sum two numbers.",
        "input_output": json.dumps({"inputs": [["1", "2"]], "outputs": [["3"]]}),
    }
    path = tmp_path / "apps.jsonl"
    path.write_text(json.dumps(row) + "\n")
    problem = load_problems(DataConfig(dataset="apps", path=str(path))).problems[0]
    assert problem.tests == [StdioCase("1\n2", "3")] and problem.solutions == []


def _call_row(outputs, inputs=None):
    inputs = inputs if inputs is not None else [[i] for i in range(len(outputs))]
    return {
        "question": "q",
        "input_output": json.dumps({"fn_name": "f", "inputs": inputs, "outputs": outputs}),
    }


@pytest.mark.parametrize(
    ("outputs", "expected", "wrapped"),
    [
        ([[5], [6]], [5, 6], True),  # every output a one-element list: wrapped
        ([[[1, 2]], [[]]], [[1, 2], []], True),
        ([[5], 6], [[5], 6], False),  # one bare output: nothing is unwrapped, in any test
        ([[5], [6, 7]], [[5], [6, 7]], False),
        ([[5], []], [[5], []], False),
        ([5, 6], [5, 6], False),
        (["ab", "c"], ["ab", "c"], False),  # a one-character string is not a one-element list
        ([{"a": 1}], [{"a": 1}], False),
        ([[None]], [None], True),
    ],
)
def test_wrapping_is_decided_once_per_problem(outputs, expected, wrapped):
    problem = taco_row(_call_row(outputs), "taco/train", 0)
    assert [case.expected for case in problem.tests] == expected
    assert problem.metadata["taco_wrapped_outputs"] is wrapped
    assert taco_tests(_call_row(outputs)["input_output"]) == problem.tests  # `sandbox run --tests` too
    # Written back in TACO's format, the row is what it was.
    assert json.loads(problem_to_taco_row(problem)["input_output"])["outputs"] == outputs


def test_the_documented_ambiguity():
    # A dataset that did not wrap, whose function returns a one-element list in every test, reads as
    # wrapped: the expected values lose their list. The round trip still gives back the same row.
    problem = taco_row(_call_row([["x"], ["y"]]), "taco/train", 0)
    assert [case.expected for case in problem.tests] == ["x", "y"]
    assert json.loads(problem_to_taco_row(problem)["input_output"])["outputs"] == [["x"], ["y"]]


def test_the_real_rows_convert_back_to_what_they_were(taco_rows):
    problems = load_problems(DataConfig(dataset="taco", path=str(TACO_SAMPLE))).problems
    for problem, row in zip(problems, taco_rows, strict=True):
        back = problem_to_taco_row(problem)
        assert json.loads(back["input_output"]) == json.loads(row["input_output"]), problem.id
        assert taco_row(json.loads(json.dumps(back)), "taco/train", 0).tests == problem.tests


def test_problems_from_elsewhere_round_trip_through_tacos_format():
    # Without the metadata flag, one-element-list results are wrapped on the way out, so that reading
    # the row back does not strip their list.
    for expected in ([[1], ["a"]], [1, 2], [[1], 2], [[[1]], [[2]]]):
        problem = Problem("p", "q", [CallCase("f", [i], e) for i, e in enumerate(expected)])
        back = taco_row(json.loads(json.dumps(problem_to_taco_row(problem))), "taco/train", 0)
        assert back.tests == problem.tests, expected


def test_convert_command_round_trips_the_real_file(tmp_path):
    from typer.testing import CliRunner

    from coder_rl.cli.main import app

    out = tmp_path / "taco.jsonl"
    result = CliRunner().invoke(
        app, ["data", "convert", str(out), "--to", "taco", "--dataset", "taco", "--path", str(TACO_SAMPLE)]
    )
    assert result.exit_code == 0, result.output
    original = [json.loads(line) for line in TACO_SAMPLE.read_text().splitlines()]
    converted = [json.loads(line) for line in out.read_text().splitlines()]
    assert [json.loads(r["input_output"]) for r in converted] == [
        json.loads(r["input_output"]) for r in original
    ]
