"""`coder-rl eval`: pass@k on a dataset, checked with the references (pass@1 = 1) on the bundled sample and
on HumanEval's own gzip file format, with the tiny model as measured, resumed, and equal to the pass rate
self-play and `bench learning` report (`pass_rate`)."""

from __future__ import annotations

import gzip
import json

import pytest

from coder_rl.data import DataConfig, load_problems
from coder_rl.evaluate import EvalConfig, PassRateConfig, in_band, pass_rate, run_eval
from coder_rl.execution import SandboxConfig, open_sandbox
from tests.helpers import run

# Two of openai/human-eval's problems, as HumanEval.jsonl.gz holds them.
HUMANEVAL_ROWS = [
    {
        "task_id": "HumanEval/0",
        "prompt": "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        '    """ Check if in given list of numbers, are any two numbers closer to each other than\n'
        '    given threshold.\n    """\n',
        "canonical_solution": "    for idx, elem in enumerate(numbers):\n        for idx2, elem2 in enumerate(numbers):\n"
        "            if idx != idx2:\n                distance = abs(elem - elem2)\n"
        "                if distance < threshold:\n                    return True\n\n    return False\n",
        "test": "\n\nMETADATA = {\n    'author': 'jt',\n    'dataset': 'test'\n}\n\n\ndef check(candidate):\n"
        "    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True\n"
        "    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False\n"
        "    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True\n",
        "entry_point": "has_close_elements",
    },
    {
        "task_id": "HumanEval/2",
        "prompt": 'def truncate_number(number: float) -> float:\n    """ Given a positive floating point number, it '
        "can be decomposed into\n    and integer part and decimals. Return the decimal part.\n"
        '    >>> truncate_number(3.5)\n    0.5\n    """\n',
        "canonical_solution": "    return number % 1.0\n",
        "test": "\n\nMETADATA = {\n    'author': 'jt',\n    'dataset': 'test'\n}\n\n\ndef check(candidate):\n"
        "    assert candidate(3.5) == 0.5\n    assert abs(candidate(1.33) - 0.33) < 1e-6\n"
        "    assert abs(candidate(123.456) - 0.456) < 1e-6\n",
        "entry_point": "truncate_number",
    },
]


def test_the_references_pass_on_the_sample_and_on_humanevals_gzip_file(tmp_path):
    done = run("eval", "--dataset", "sample", "--reference", "--out", str(tmp_path / "sample"))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "sample" / "eval.json").read_text())
    assert report["pass_at_1"] == 1.0 and report["problems"] == 30 and report["verdicts"] == {"passed": 30}
    assert "pass@1" in done.stdout and "| EASY" not in done.stderr
    path = tmp_path / "HumanEval.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(row) + "\n" for row in HUMANEVAL_ROWS)
    done = run(
        "eval", "--dataset", "humaneval", "--path", str(path), "--reference", "--out", str(tmp_path / "he")
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "he" / "eval.json").read_text())["pass_at"] == {"1": 1.0}


@pytest.mark.slow
def test_the_tiny_models_eval_resumes_and_equals_the_pass_rate_self_play_reports(tiny_model_dir, tmp_path):
    data = {"dataset": "sample", "limit": 6}
    cfg = EvalConfig(
        data=data, policy={"model": str(tiny_model_dir), "device": "cpu"}, output_dir=str(tmp_path / "eval"),
        eval={"samples": 4, "max_tokens": 48, "seed": 3}, sandbox={"workers": 2},
    )  # fmt: skip
    report = run_eval(cfg)
    with open_sandbox(SandboxConfig(workers=2)) as box:
        measured = pass_rate(
            cfg.policy,
            load_problems(DataConfig(**data)).problems,
            box,
            PassRateConfig(**cfg.eval.model_dump()),
        )
    assert {key: report[key] for key in measured} == measured  # one sampling, one judging, one estimator
    assert set(report["pass_at"]) == {"1", "2", "4"} and sum(report["verdicts"].values()) == 6 * 4
    print("tiny model on 6 sample problems:", {k: report[k] for k in ("pass_at", "verdicts", "mean_tokens")})

    # a run killed after its first batch resumes with the rest, and a finished one does nothing more
    samples = tmp_path / "eval" / "samples.jsonl"
    lines = samples.read_text().splitlines(keepends=True)
    samples.write_text("".join(lines[:2]) + lines[2][:10])  # two problems written, a third torn
    again = run_eval(cfg.model_copy(update={"problems_per_batch": 2}))
    assert again["problems"] == 6 and len(samples.read_text().splitlines()) == 6
    assert run_eval(cfg) == run_eval(cfg)
    with pytest.raises(Exception, match="other settings"):
        run_eval(cfg.model_copy(update={"eval": PassRateConfig(samples=2)}))


def test_in_band_keeps_what_the_policy_solves_sometimes():
    def record(pid: str, passes: list[float | None]) -> dict:
        return {"problem_id": pid, "samples": [{"pass_fraction": p} for p in passes]}

    records = [record("never", [0.0, 0.5, 0.0, 0.0]), record("quarter", [1.0, 0.0, 0.0, 0.0]),
               record("half", [1.0, None, 1.0, 0.9]), record("always", [1.0, 1.0, 1.0, 1.0])]  # fmt: skip
    assert in_band(records, 0.2, 0.8) == ["quarter", "half"]  # a fault counts as not passing
    assert in_band(records, 0.0, 0.0) == ["never"] and in_band(records, 1.0, 1.0) == ["always"]


def test_data_filter_writes_the_problems_in_the_band(tmp_path):
    out = tmp_path / "kept.jsonl"
    done = run("data", "filter", str(out), "--dataset", "sample", "--set", "reference=true", "--band", "1,1")
    assert done.returncode == 0, done.stderr
    assert "kept 30 of 30 problems" in done.stdout and len(out.read_text().splitlines()) == 30
    assert load_problems(DataConfig(dataset="jsonl", path=str(out))).problems[0].tests
    done = run(
        "data", "filter", str(out), "--dataset", "sample", "--set", "reference=true", "--band", "0.2,0.8"
    )
    assert "kept 0 of 30" in done.stdout and out.read_text() == ""  # resumed: nothing sampled again
    bad = run("data", "filter", str(out), "--dataset", "sample", "--band", "0.8,0.2")
    assert bad.returncode == 2 and "LOW <= HIGH" in bad.stderr
