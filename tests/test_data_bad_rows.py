"""Bad rows are counted by reason and reported; they never crash a run and never vanish."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from coder_rl.data import DataConfig, load_problems

GOOD = {
    "question": "Echo.",
    "input_output": json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]}),
    "solutions": '["print(input())"]',
}
REASONS = {"invalid_json", "bad_input_output", "mismatched_io", "no_tests", "bad_solutions", "missing_field"}


def _load(tmp_path, lines, dataset="taco"):
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return load_problems(DataConfig(dataset=dataset, path=str(path)))


def test_each_reason_is_counted_with_an_example(tmp_path):
    bad = {
        "invalid_json": "{not json",
        "bad_input_output": json.dumps({**GOOD, "input_output": "{'inputs': oops"}),
        "mismatched_io": json.dumps({**GOOD, "input_output": json.dumps({"inputs": ["1"], "outputs": []})}),
        "no_tests": json.dumps({**GOOD, "input_output": ""}),
        "bad_solutions": json.dumps({**GOOD, "solutions": "[1, 2]"}),
        "missing_field": json.dumps({k: v for k, v in GOOD.items() if k != "question"}),
    }
    report = _load(tmp_path, [json.dumps(GOOD), *bad.values(), json.dumps(GOOD)])
    assert len(report.problems) == 2 and report.rows_read == 8
    assert dict(report.skipped) == {reason: 1 for reason in bad}
    assert report.examples["no_tests"].startswith("row 4:")
    assert "6 skipped" in report.summary()
    assert [p.id for p in report.problems] == ["taco/train/0", "taco/train/7"]


def test_fn_name_must_be_an_identifier(tmp_path):
    row = {**GOOD, "input_output": json.dumps({"fn_name": "os.system('x')", "inputs": [[1]], "outputs": [1]})}
    report = _load(tmp_path, [json.dumps(row)])
    assert dict(report.skipped) == {"bad_input_output": 1}


# Keys of the nested structures adapters read: TACO's input_output, CodeContests' tests and solutions,
# coder-rl's test cases.
NESTED_KEYS = [
    "inputs",
    "outputs",
    "fn_name",
    "input",
    "output",
    "language",
    "solution",
    "kind",
    "stdin",
    "expected_stdout",
    "args",
    "expected",
    "source",
    "x",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(NESTED_KEYS), inner, max_size=4)
    ),
    max_leaves=10,
)
field_values = json_values | json_values.map(json.dumps) | st.text(max_size=30)
# Every field some adapter reads, each with arbitrary JSON (or JSON-in-a-string, or text).
ADAPTER_FIELDS = [
    "question",
    "input_output",
    "solutions",
    "starter_code",
    "difficulty",
    "problem_id",  # TACO / APPS
    "task_id",
    "prompt",
    "canonical_solution",
    "test",
    "entry_point",  # HumanEval
    "text",
    "code",
    "test_list",
    "test_setup_code",
    "test_imports",  # MBPP
    "name",
    "description",
    "public_tests",
    "private_tests",
    "generated_tests",  # CodeContests
    "id",
    "tests",
    "metadata",
    "source",  # coder-rl JSONL
]
rows = st.fixed_dictionaries({}, optional={name: field_values for name in ADAPTER_FIELDS})
lines = st.one_of(
    rows.map(json.dumps), st.text(min_size=1, max_size=40).filter(lambda s: "\n" not in s and "\r" not in s)
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@example(["["], "taco")  # a first line that looks like the start of a JSON array
@example(["[1, 2]", json.dumps(GOOD)], "taco")
@given(
    st.lists(lines, min_size=1, max_size=8),
    st.sampled_from(["taco", "apps", "humaneval", "mbpp", "code_contests", "jsonl"]),
)
def test_malformed_rows_never_crash_and_are_all_accounted_for(tmp_path, batch, dataset):
    report = _load(tmp_path, batch, dataset)
    non_blank = [line for line in batch if line.encode().strip()]  # bytes: U+0085 is not blank in a file
    assert report.rows_read == len(non_blank)
    assert len(report.problems) + sum(report.skipped.values()) == report.rows_read
    assert set(report.examples) == set(report.skipped)
    assert "malformed_row" not in report.skipped, report.examples
    for problem in report.problems:
        assert problem.tests and problem.question.strip()


def test_duplicate_ids_are_skipped_not_merged(tmp_path):
    rows = [{**GOOD, "problem_id": 7}, {**GOOD, "problem_id": 7}, {**GOOD, "problem_id": None}]
    report = _load(tmp_path, [json.dumps(r) for r in rows], dataset="apps")
    assert [p.id for p in report.problems] == ["apps/train/7", "apps/train/2"]
    assert dict(report.skipped) == {"duplicate_id": 1}


def test_a_bom_is_not_part_of_the_first_row(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (json.dumps(GOOD) + "\n").encode())
    report = load_problems(DataConfig(dataset="taco", path=str(path)))
    assert len(report.problems) == 1 and not report.skipped


def test_a_json_array_file_and_a_directory_of_json_files(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.json").write_text(json.dumps([GOOD, GOOD, 3]))
    (tmp_path / "dir" / "b.jsonl").write_text(json.dumps(GOOD) + "\n")
    report = load_problems(DataConfig(dataset="taco", path=str(tmp_path / "dir" / "a.json")))
    assert len(report.problems) == 2 and dict(report.skipped) == {"invalid_json": 1}
    report = load_problems(DataConfig(dataset="taco", path=str(tmp_path / "dir")))
    assert [p.id for p in report.problems] == ["taco/train/0", "taco/train/1", "taco/train/3"]


def test_a_path_needs_a_dataset_format():
    import pytest

    from coder_rl.errors import UserError

    with pytest.raises(UserError, match="say which format it holds with --dataset"):
        load_problems(DataConfig(path="x.jsonl"))


def test_invalid_utf8_is_one_bad_row(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(
        json.dumps(GOOD).encode() + b"\n" + b'{"question": "\xff\xfe"}\n' + json.dumps(GOOD).encode() + b"\n"
    )
    report = load_problems(DataConfig(dataset="taco", path=str(path)))
    assert len(report.problems) == 2 and dict(report.skipped) == {"invalid_utf8": 1}


def test_a_damaged_save_to_disk_directory_is_one_line(tmp_path):
    import pytest

    from coder_rl.errors import UserError

    (tmp_path / "dataset_dict.json").write_text("{}")
    with pytest.raises(UserError, match="not a readable `save_to_disk` directory"):
        load_problems(DataConfig(dataset="taco", path=str(tmp_path)))


def test_coder_rl_jsonl_rejects_what_the_taco_adapter_rejects(tmp_path):
    bad_call = {"kind": "call", "fn_name": "os.system(1)", "args": [], "expected": 0}
    rows = [
        {"id": "a", "question": " ", "tests": [{"kind": "stdin", "stdin": "", "expected_stdout": ""}]},
        {"id": "b", "question": "q", "tests": [bad_call]},
    ]
    report = _load(tmp_path, [json.dumps(r) for r in rows], dataset="jsonl")
    assert not report.problems and dict(report.skipped) == {"missing_field": 1, "bad_problem": 1}
