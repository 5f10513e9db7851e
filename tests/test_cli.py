"""The `coder-rl` command as users run it: a real subprocess, real exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO, TACO_SAMPLE, assert_one_line_error, run


def test_help_imports_nothing_heavy():
    """`--help` stays fast because no ML library is imported for it (the timing is a benchmark, not a test)."""
    code = (
        "import sys\nfrom coder_rl.cli.main import app\n"
        "for args in (['--help'], ['data', 'inspect', '--help'], ['model', 'generate', '--help'], ['model', 'init-tiny', '--help'],\n"
        "             ['sandbox', 'run', '--help'], ['sandbox', 'check', '--help'], ['sandbox', 'bench', '--help']):\n"
        "    try:\n        app(args)\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'trl') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "data" in out.stdout and "init-tiny" in out.stdout


def test_inspect_real_taco_rows():
    result = run("data", "inspect", "--dataset", "TACO", "--path", str(TACO_SAMPLE))
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if "taco/train/" in line]
    assert len(rows) == 5
    cells = [[c.strip() for c in row.strip("│ ").split("│")] for row in rows]
    assert [(c[2], c[3], c[4], c[5]) for c in cells] == [
        ("call", "3", "encode", "10"),
        ("stdin", "102", "-", "35"),
        ("call", "8", "min_and_max", "8"),
        ("call", "11", "count_pairs_int", "10"),
        ("stdin", "88", "-", "4"),
    ]
    assert "read 5 rows" in result.stdout and "5 problems" in result.stdout


def test_inspect_reports_skipped_rows_and_exits_1(tmp_path):
    lines = TACO_SAMPLE.read_text().splitlines()[:2] + [
        "{broken",
        json.dumps({"question": "q", "input_output": ""}),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run("data", "inspect", "--dataset", "taco", "--path", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "2 problems, 2 skipped" in result.stdout
    assert "skipped invalid_json: 1 (first: row 2: JSONDecodeError)" in result.stdout
    assert "skipped no_tests: 1 (first: row 3" in result.stdout


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (
            ("data", "inspect", "--dataset", "taco", "--path", "/nonexistent/train.jsonl"),
            "no such file or directory: /nonexistent/train.jsonl",
        ),
        (("data", "inspect", "--set", "data.limt=3"), "config error: data.limt: unknown key"),
        (
            ("data", "inspect", "--set", "data.limit=many"),
            "config error: data.limit: Input should be a valid integer",
        ),
        (("data", "inspect", "--config", "/nonexistent.yaml"), "no such config file"),
        (
            ("data", "inspect", "--dataset", "taco", "--path", str(REPO / "pyproject.toml")),
            "unsupported file type '.toml'",
        ),
        (("data", "inspect", "--split", "test"), "the sample dataset has one split"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, text):
    assert_one_line_error(run(*args), text)


def test_missing_model_is_one_line(tmp_path):
    result = run(
        "model",
        "generate",
        "--set",
        "policy.model=/nonexistent/model",
        "--limit",
        "1",
        "--out",
        str(tmp_path / "o.jsonl"),
    )
    assert_one_line_error(result, "cannot load model '/nonexistent/model'")


def test_generate_writes_and_resumes(tmp_path, tiny_model_dir):
    out = tmp_path / "completions.jsonl"
    args = (
        "model",
        "generate",
        "--config",
        str(REPO / "configs" / "generate_quickstart.yaml"),
        "--limit",
        "3",
        "--set",
        f"policy.model={tiny_model_dir}",
        "--set",
        "sampling.max_tokens=8",
        "--out",
        str(out),
    )
    first = run(*args)
    assert first.returncode == 0, first.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["problem_id"] for r in records] == ["sample/train/0", "sample/train/1", "sample/train/2"]
    assert all(len(r["completions"]) == 4 and r["prompt_tokens"] > 0 for r in records)
    # A run killed mid-write leaves a torn last line: the rerun cuts it off and redoes only that problem.
    out.write_text(out.read_text()[:-20])
    again = run(*args)
    assert again.returncode == 0 and "for 1 problems (2 already done)" in again.stdout, (
        again.stdout + again.stderr
    )
    assert len(out.read_text().splitlines()) == 3
    # Other sampling settings would mix two experiments in one file: refused.
    assert_one_line_error(run(*args, "--set", "sampling.temperature=0.1"), "was written with other settings")


@pytest.mark.parametrize("content", ["not json at all\n", '{"x": 1}\n'])
def test_generate_refuses_a_foreign_output_file(tmp_path, content):
    out = tmp_path / "theirs.jsonl"
    out.write_text(content)
    assert_one_line_error(
        run("model", "generate", "--limit", "1", "--out", str(out)),
        "was not written by `coder-rl model generate`",
    )
    assert_one_line_error(run("model", "generate", "--limit", "1", "--out", str(tmp_path)), "is a directory")


def test_unwritable_outputs_are_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(run("data", "convert", str(blocker / "sub" / "out.jsonl")), "Not a directory")
    assert_one_line_error(run("data", "convert", str(tmp_path)), "is a directory")
    assert not list(tmp_path.glob("*.tmp"))


def test_hub_dataset_offline_is_one_line():
    result = run(
        "data",
        "inspect",
        "--dataset",
        "taco",
        "--limit",
        "1",
        env={"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
    )
    assert_one_line_error(result, "cannot load 'BAAI/TACO' split 'train' from the hub")


def test_convert_round_trips_through_both_formats(tmp_path):
    problems = tmp_path / "problems.jsonl"
    taco = tmp_path / "taco.jsonl"
    assert (
        run("data", "convert", str(problems), "--dataset", "taco", "--path", str(TACO_SAMPLE)).returncode == 0
    )
    assert (
        run(
            "data", "convert", str(taco), "--to", "taco", "--dataset", "jsonl", "--path", str(problems)
        ).returncode
        == 0
    )
    again = run("data", "inspect", "--dataset", "taco", "--path", str(taco))
    assert again.returncode == 0 and again.stdout.count("taco/train/") == 5
    assert [json.loads(line)["id"] for line in problems.read_text().splitlines()] == [
        f"taco/train/{i}" for i in range(5)
    ]
    # Everything survives both conversions: tests, solutions, starter code, metadata.
    original = [json.loads(line) for line in TACO_SAMPLE.read_text().splitlines()]
    final = [json.loads(line) for line in taco.read_text().splitlines()]
    for before, after in zip(original, final, strict=True):
        for key in ("question", "starter_code", "difficulty", "source", "url", "time_limit"):
            assert after.get(key) == before[key], key
        assert json.loads(after["input_output"]) == json.loads(before["input_output"])
        assert json.loads(after["solutions"]) == json.loads(before["solutions"])


def test_convert_to_taco_counts_problems_it_cannot_write(tmp_path):
    he = tmp_path / "he.jsonl"
    he.write_text(
        json.dumps(
            {"task_id": "HumanEval/0", "prompt": "def f():\n", "test": "assert True", "entry_point": "f"}
        )
        + "\n"
    )
    result = run(
        "data",
        "convert",
        str(tmp_path / "out.jsonl"),
        "--to",
        "taco",
        "--dataset",
        "humaneval",
        "--path",
        str(he),
    )
    assert result.returncode == 1  # the output is not the whole input
    assert "not written (taco format): 1 problems" in result.stdout and "wrote 0 problems" in result.stdout


def test_init_tiny_saves_a_model_loadable_by_path(tmp_path):
    out = tmp_path / "tiny"
    result = run(
        "model",
        "init-tiny",
        str(out),
        "--config",
        str(REPO / "configs" / "model_init_tiny.yaml"),
        "--set",
        "model.pretrain_steps=0",
        "--set",
        "model.arch=gpt2",
    )
    assert result.returncode == 0, result.stderr
    from transformers import AutoConfig, AutoTokenizer

    assert AutoConfig.from_pretrained(out).model_type == "gpt2"
    assert (
        AutoTokenizer.from_pretrained(out).decode(AutoTokenizer.from_pretrained(out).encode("x = 1\n"))
        == "x = 1\n"
    )
    assert_one_line_error(
        run("model", "init-tiny", str(out), "--set", "model.num_layers=9"), "model.num_layers:"
    )
