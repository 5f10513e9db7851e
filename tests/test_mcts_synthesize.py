"""`coder-rl mcts synthesize` end to end with the tiny local model: the sample, real TACO rows,
per-problem errors, and a run killed with SIGKILL then resumed without losing or repeating a problem."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import REPO, TACO_SAMPLE, assert_one_line_error, run


def args(tiny_model_dir, out, *extra):
    return [
        "mcts", "synthesize", "--config", "configs/mcts_quickstart.yaml",
        "--set", f"policy.model={tiny_model_dir}", "--out", str(out),
        "--set", "mcts.rollouts=3", "--set", "sampling.max_tokens=48", *extra,
    ]  # fmt: skip


def lines(path):
    return [json.loads(line) for f in sorted(path.glob("*.jsonl")) for line in f.read_text().splitlines()]


@pytest.mark.slow
def test_sample_run_writes_every_output_and_a_report(tiny_model_dir, tmp_path):
    result = run(*args(tiny_model_dir, tmp_path, "--dataset", "sample", "--limit", "4"))
    assert result.returncode == 0, result.stderr[-2000:]
    trees = lines(tmp_path / "trees")
    assert [t["problem_id"] for t in trees] == [f"sample/train/{i}" for i in range(4)]
    assert all(t["rollouts"] == 3 and t["error"] is None for t in trees)
    trajectories = lines(tmp_path / "trajectories")
    programs = sum(1 for t in trees for n in t["nodes"] if n["terminal"] and n["step"])
    assert len(trajectories) == programs  # one labelled trajectory per program in the trees
    assert all(len(t["steps"]) == len(t["values"]) == len(t["labels"]) for t in trajectories)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["problems"] == 4 and 0 < report["policy_time_share"] <= 1
    assert sum(report["step_labels"].values()) == sum(len(t["labels"]) for t in trajectories)
    assert "solve_rate" in result.stdout
    again = run(*args(tiny_model_dir, tmp_path, "--dataset", "sample", "--limit", "4"))
    assert "searched 0 problems (4 already done)" in again.stdout


@pytest.mark.slow
def test_real_taco_rows(tiny_model_dir, tmp_path):
    result = run(*args(tiny_model_dir, tmp_path, "--dataset", "TACO", "--path", str(TACO_SAMPLE)))
    assert result.returncode == 0, result.stderr[-2000:]
    assert [t["problem_id"] for t in lines(tmp_path / "trees")] == [f"taco/train/{i}" for i in range(5)]


def test_a_policy_failure_is_recorded_on_its_problems_and_the_run_goes_on(tiny_model_dir, tmp_path):
    # An OpenAI-compatible server that is down: every group's search fails, and says why.
    down = ["--set", "policy.backend=openai", "--set", "policy.model=tiny", "--set", "policy.base_url=http://127.0.0.1:9/v1",
            "--set", "policy.max_retries=0", "--set", "output.problems_per_shard=1"]  # fmt: skip
    result = run(*args(tiny_model_dir, tmp_path, "--dataset", "sample", "--limit", "2", *down))
    assert result.returncode == 0, result.stderr[-2000:]
    trees = lines(tmp_path / "trees")
    assert len(trees) == 2 and all(t["error"] and "127.0.0.1:9" in t["error"] for t in trees)
    assert json.loads((tmp_path / "report.json").read_text())["failed"] == 2


def test_other_settings_in_the_same_directory_are_refused(tiny_model_dir, tmp_path):
    run(*args(tiny_model_dir, tmp_path, "--dataset", "sample", "--limit", "1"))
    other = run(
        *args(tiny_model_dir, tmp_path, "--dataset", "sample", "--limit", "1", "--set", "mcts.children=2")
    )
    assert_one_line_error(other, "was written with other settings")


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_loses_and_repeats_nothing(tiny_model_dir, tmp_path):
    command = [sys.executable, "-m", "coder_rl.cli.main", *args(tiny_model_dir, tmp_path, "--dataset", "sample",
               "--limit", "8", "--set", "output.problems_per_shard=2")]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = tmp_path / "manifest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill once at least one shard is done, before all are
        if manifest.exists() and len(json.loads(manifest.read_text())["shards"]) >= 1:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(json.loads(manifest.read_text())["shards"])
    assert 1 <= done_before < 4, "the kill should land mid-run"
    resumed = run(*args(tiny_model_dir, tmp_path, "--dataset", "sample", "--limit", "8",
                        "--set", "output.problems_per_shard=2"))  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"({2 * done_before} already done)" in resumed.stdout
    ids = [t["problem_id"] for t in lines(tmp_path / "trees")]
    assert sorted(ids) == sorted(f"sample/train/{i}" for i in range(8))  # none lost, none twice
    shards = json.loads(manifest.read_text())["shards"]
    assert sorted(pid for shard in shards for pid in shard["problems"]) == sorted(ids)


def test_rewards_from_tcg_tests(tiny_model_dir, tmp_path):
    """With tests.source=tcg the search scores programs on tests a TCG writes (here an untrained model,
    whose suites mostly do not parse: the plumbing, not the quality)."""
    tcg = [
        "--set",
        "tests.source=tcg",
        "--set",
        f"tests.tcg_model={tiny_model_dir}",
        "--set",
        "tests.samples=1",
    ]
    result = run(*args(tiny_model_dir, tmp_path, "--dataset", "sample", "--limit", "2", *tcg))
    assert result.returncode == 0, result.stderr[-2000:]
    assert [t["error"] for t in lines(tmp_path / "trees")] == [None, None]
    missing = run(
        *args(tiny_model_dir, tmp_path / "other", "--dataset", "sample", "--set", "tests.source=tcg")
    )
    assert_one_line_error(missing, "give tests.tcg_model")


@pytest.mark.slow
def test_ray_mode_spreads_groups_over_actors(tiny_model_dir, tmp_path):
    """Groups of problems go to Ray actors (a local instance on loopback), each with its own policy and
    sandbox; the driver writes the same outputs as a local run."""
    pytest.importorskip("ray", reason="ray is not installed (pip install 'coder-rl[ray]')")
    ray_mode = ["--set", "ray.actors=2", "--set", "output.problems_per_shard=1", "--set", "sandbox.workers=1"]
    result = run(*args(tiny_model_dir, tmp_path, "--dataset", "sample", "--limit", "3", *ray_mode))
    assert result.returncode == 0, result.stderr[-2000:]
    trees = lines(tmp_path / "trees")
    assert sorted(t["problem_id"] for t in trees) == [f"sample/train/{i}" for i in range(3)]
    assert all(t["rollouts"] == 3 and t["error"] is None for t in trees)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["problems"] == 3 and report["policy_calls_per_problem"] > 0
