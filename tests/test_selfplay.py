"""`coder-rl selfplay` end to end with the tiny model, the real sandbox and the real trainers: what one
iteration writes, a run interrupted in its RL stage and resumed, a finished run extended by an iteration,
and the settings it refuses. The stage functions are wrapped only to count their calls and see their
configs (and once to raise KeyboardInterrupt); what they do is real.

One loop run is shared (module-scoped fixtures): the first run is interrupted in iteration 1's RL
and then resumed to the end, and the extension test adds iteration 2 to that same directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from coder_rl import selfplay
from coder_rl.errors import UserError
from coder_rl.selfplay import SelfPlayConfig, run_selfplay, selfplay_log, selfplay_table
from tests.helpers import assert_one_line_error, run

STAGES = ("synthesize_stage", "_prm", "_sft", "_rl", "_pass_rate")
EVAL_KEYS = {"iteration", "problems", "pass_at_1", "pass_at", "solved", "pass_fraction", "format", "faults"}
LOOP_KEYS = EVAL_KEYS | {"mcts_solve_rate", "correct_step_share", "prm_auc", "rl_reward", "rl_pass_rate"}


def tiny_config(policy: Path | str, run_dir: Path, iterations: int = 1) -> SelfPlayConfig:
    """The smallest loop that still runs every stage for real (seeded, so the search is repeatable).

    The PRM holds no problem out: a random policy's search finds no correct step, so there is no AUC
    to measure anyway, and with two problems a held-out one can be the only one the search left
    trajectories for (about one sampling seed in four), which would leave the PRM nothing to train on."""
    return SelfPlayConfig(
        iterations=iterations,
        output_dir=str(run_dir),
        data={"dataset": "sample", "limit": 2},
        policy=str(policy),
        device="cpu",
        warm_start=None,
        mcts={"mcts": {"rollouts": 2, "children": 2, "max_depth": 3}, "sampling": {"max_tokens": 32, "seed": 0},
              "sandbox": {"workers": 1}},
        prm={"eval_fraction": 0.0, "trainer": {"max_steps": 1}},
        rl={"sandbox": {"workers": 1},
            "grpo": {"max_steps": 1, "per_device_train_batch_size": 2, "num_generations": 2,
                     "max_completion_length": 16, "save_steps": 1}},
        eval={"samples": 1, "max_tokens": 16},
    )  # fmt: skip


@contextmanager
def watched_stages(interrupt: str | None = None) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """Record each stage function's calls (their arguments); `interrupt` names one whose first call
    does its real work and then raises KeyboardInterrupt, before the loop can record it as finished."""
    calls: dict[str, list[tuple[Any, ...]]] = {name: [] for name in STAGES}

    def watched(name: str) -> Any:
        real = getattr(selfplay, name)

        def wrapper(*args: Any) -> Any:
            calls[name].append(args)
            result = real(*args)
            if name == interrupt and len(calls[name]) == 1:
                raise KeyboardInterrupt
            return result

        return wrapper

    with pytest.MonkeyPatch.context() as mp:
        for name in STAGES:
            mp.setattr(selfplay, name, watched(name))
        yield calls


def counts(calls: dict[str, list[tuple[Any, ...]]]) -> dict[str, int]:
    """How often each stage ran, by its name without the underscore or "_stage"."""
    return {name.removeprefix("_").removesuffix("_stage"): len(args) for name, args in calls.items()}


def read_jsonl(directory: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for f in sorted(directory.glob("*.jsonl")) for line in f.read_text().splitlines()
    ]


def saved_weights(trainer_dir: Path) -> dict[str, int]:
    """Each checkpoint's weights file and when it was written."""
    return {
        str(p.relative_to(trainer_dir)): p.stat().st_mtime_ns
        for p in trainer_dir.glob("checkpoint-*/model.*")
    }


@pytest.fixture(scope="module")
def first_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A 1-iteration loop interrupted right after its RL stage ran, then rerun to the end. What the
    tests read is captured here, so that the extension test may add to the directory afterwards."""
    run_dir = tmp_path_factory.mktemp("selfplay") / "run"
    cfg = tiny_config(tiny_model_dir, run_dir)
    with watched_stages(interrupt="_rl") as interrupted, pytest.raises(KeyboardInterrupt):
        run_selfplay(cfg, show_progress=False)
    state_after_interrupt = json.loads((run_dir / "selfplay.json").read_text())
    summary_after_interrupt = (run_dir / "summary.json").exists() or (run_dir / "summary.md").exists()
    rl_dir = run_dir / "iter-1" / "rl"
    checkpoints_at_interrupt = saved_weights(rl_dir)
    with watched_stages() as resumed:
        rows = run_selfplay(cfg, show_progress=False)
    return SimpleNamespace(
        cfg=cfg,
        dir=run_dir,
        policy=str(tiny_model_dir),
        interrupted=interrupted,
        state_after_interrupt=state_after_interrupt,
        summary_after_interrupt=summary_after_interrupt,
        checkpoints_at_interrupt=checkpoints_at_interrupt,
        checkpoints=saved_weights(rl_dir),
        resumed=resumed,
        rows=rows,
        state=json.loads((run_dir / "selfplay.json").read_text()),
        summary_json=json.loads((run_dir / "summary.json").read_text()),
        summary_md=(run_dir / "summary.md").read_text(),
        trees=read_jsonl(run_dir / "iter-1" / "mcts" / "trees"),
        trajectories=read_jsonl(run_dir / "iter-1" / "mcts" / "trajectories"),
    )


@pytest.fixture(scope="module")
def extended(first_run: SimpleNamespace) -> SimpleNamespace:
    """The finished 1-iteration directory rerun with iterations=2."""
    with watched_stages() as calls:
        rows = run_selfplay(tiny_config(first_run.policy, first_run.dir, iterations=2), show_progress=False)
    state = json.loads((first_run.dir / "selfplay.json").read_text())
    return SimpleNamespace(calls=calls, rows=rows, state=state)


@pytest.mark.slow
def test_one_iteration_writes_every_artifact_and_a_consistent_summary(first_run):
    here = first_run.dir / "iter-1"
    assert (here / "mcts" / "manifest.json").is_file()
    for model in (here / "prm" / "final", here / "rl" / "final"):
        assert (model / "config.json").is_file() and (model / "model.safetensors").is_file()
    for name in ("summary.md", "summary.json", "selfplay.json"):
        assert (first_run.dir / name).is_file()

    rows = first_run.rows
    assert [row["iteration"] for row in rows] == [0, 1]
    assert set(rows[0]) == EVAL_KEYS and set(rows[1]) == LOOP_KEYS
    assert first_run.summary_json == rows
    assert first_run.summary_md == selfplay_table(rows)

    # The search's yield, counted here from its shards.
    trees, trajectories = first_run.trees, first_run.trajectories
    assert len(trees) == 2 and trajectories, "the seeded search should leave trajectories for the PRM"
    assert rows[1]["mcts_solve_rate"] == pytest.approx(sum(t["solved"] for t in trees) / len(trees))
    labels = [label for t in trajectories for label in t["labels"]]
    assert rows[1]["correct_step_share"] == pytest.approx(sum(labels) / len(labels))
    assert rows[1]["prm_auc"] == json.loads((here / "prm" / "report.json").read_text())["held_out_auc"]
    if rows[1]["prm_auc"] is None:
        assert "| n/a |" in first_run.summary_md

    # What each stage was given: the search and the PRM start from the starting policy, the RL from
    # it too (or from the SFT on what the search solved) with this iteration's PRM as process reward.
    stages = first_run.state["stages"]
    solved = stages["iter-1/mcts"]["solve_rate"] > 0
    assert set(stages) == {"iter-0/eval", "iter-1/mcts", "iter-1/prm", "iter-1/rl", "iter-1/eval"} | (
        {"iter-1/sft"} if solved else set()
    )
    manifest = json.loads((here / "mcts" / "manifest.json").read_text())
    assert manifest["settings"]["policy"]["model"] == first_run.policy
    search = first_run.interrupted["synthesize_stage"][0][0]
    assert search.policy.model == first_run.policy and search.output_dir == str(here / "mcts")
    prm = first_run.interrupted["_prm"][0][0]
    assert prm.model == first_run.policy and prm.trajectories == str(here / "mcts")
    assert prm.output_dir == str(here / "prm")
    assert stages["iter-1/prm"]["model"] == str(here / "prm" / "final")
    rl = first_run.resumed["_rl"][0][0]
    assert rl.prm == str(here / "prm" / "final")
    assert rl.model == (str(here / "sft" / "final") if solved else first_run.policy)
    assert rl.output_dir == str(here / "rl")
    assert stages["iter-1/rl"]["model"] == str(here / "rl" / "final")
    evaluated = [args[1] for args in first_run.interrupted["_pass_rate"] + first_run.resumed["_pass_rate"]]
    assert evaluated == [first_run.policy, str(here / "rl" / "final")]


@pytest.mark.slow
def test_an_interrupted_stage_is_resumed_and_finished_stages_are_not_rerun(first_run):
    assert counts(first_run.interrupted) == dict(synthesize=1, prm=1, sft=0, rl=1, pass_rate=1)
    recorded = set(first_run.state_after_interrupt["stages"])
    assert {"iter-0/eval", "iter-1/mcts", "iter-1/prm"} <= recorded
    assert "iter-1/rl" not in recorded and "iter-1/eval" not in recorded
    assert not first_run.summary_after_interrupt  # the run stopped before its summary
    assert counts(first_run.resumed) == dict(synthesize=0, prm=0, sft=0, rl=1, pass_rate=1)
    assert "checkpoint-1/model.safetensors" in first_run.checkpoints_at_interrupt
    # The rerun RL resumed from the trainer's checkpoint and still reports the reward it trained on.
    assert first_run.state["stages"]["iter-1/rl"]["reward"] is not None
    assert [set(row) for row in first_run.rows] == [EVAL_KEYS, LOOP_KEYS]


@pytest.mark.slow
def test_a_resumed_stage_trains_no_step_twice(first_run):
    """The interrupted RL had saved its last step; resuming from it trains nothing more."""
    assert first_run.checkpoints == first_run.checkpoints_at_interrupt


@pytest.mark.slow
def test_more_iterations_extend_a_finished_run(first_run, extended):
    one, two = first_run.dir / "iter-1", first_run.dir / "iter-2"
    solved = extended.state["stages"]["iter-2/mcts"]["solve_rate"] > 0
    assert counts(extended.calls) == dict(synthesize=1, prm=1, sft=int(solved), rl=1, pass_rate=1)
    search = extended.calls["synthesize_stage"][0][0]
    assert search.policy.model == str(one / "rl" / "final") and search.output_dir == str(two / "mcts")
    manifest = json.loads((two / "mcts" / "manifest.json").read_text())
    assert manifest["settings"]["policy"]["model"] == str(one / "rl" / "final")
    prm = extended.calls["_prm"][0][0]
    assert prm.model == str(one / "prm" / "final") and prm.output_dir == str(two / "prm")
    rl = extended.calls["_rl"][0][0]
    assert rl.prm == str(two / "prm" / "final")
    assert rl.model == (str(two / "sft" / "final") if solved else str(one / "rl" / "final"))
    assert extended.calls["_pass_rate"][0][1] == str(two / "rl" / "final")
    assert extended.rows[:2] == first_run.rows
    assert [row["iteration"] for row in extended.rows] == [0, 1, 2] and set(extended.rows[2]) == LOOP_KEYS
    assert json.loads((first_run.dir / "summary.json").read_text()) == extended.rows
    assert (first_run.dir / "summary.md").read_text() == selfplay_table(extended.rows)


@pytest.mark.parametrize(
    "change",
    [
        {"device": "auto"},
        {"policy": "runs/other-model"},
        {"data": {"dataset": "sample", "limit": 3}},
        {"mcts": {"mcts": {"rollouts": 3}}},
        {"sft_on_solved": False},
    ],
)
def test_other_settings_on_an_existing_run_dir_are_refused(tmp_path, change):
    cfg = tiny_config("runs/tiny-model", tmp_path / "run")
    selfplay_log(cfg)  # starts the directory: selfplay.json with the settings
    before = (tmp_path / "run" / "selfplay.json").read_text()
    selfplay_log(cfg.model_copy(update={"iterations": 5}))  # only iterations may change
    other = SelfPlayConfig.model_validate({**cfg.model_dump(exclude_unset=True), **change})
    with pytest.raises(UserError, match="only iterations may change") as refused:
        run_selfplay(other, show_progress=False)
    assert str(tmp_path / "run") in str(refused.value)
    assert (tmp_path / "run" / "selfplay.json").read_text() == before


@pytest.mark.parametrize("text", ['{"settings": {', "", "[]", "null"])
def test_a_damaged_state_file_is_a_user_error(tmp_path, text):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "selfplay.json").write_text(text)
    with pytest.raises(UserError) as damaged:
        selfplay_log(tiny_config("runs/tiny-model", run_dir))
    assert str(run_dir) in str(damaged.value)


def test_selfplay_table_renders_markdown():
    rows = [
        {"iteration": 0, "problems": 2, "pass_at_1": 0.25, "solved": 0.5, "pass_fraction": 0.3, "format": 1.0},
        {"iteration": 1, "problems": 2, "pass_at_1": 0.5, "solved": 1.0, "pass_fraction": 0.5, "format": 0.75,
         "mcts_solve_rate": 0.5, "correct_step_share": 0.125, "prm_auc": None, "rl_reward": 0.1234,
         "rl_pass_rate": None},
    ]  # fmt: skip
    assert selfplay_table(rows) == (
        "| iter | pass@1 | solved | format | MCTS solve rate | correct steps | PRM AUC | RL reward | RL pass rate |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        "| 0 | 0.250 | 0.500 | 1.000 | – | – | – | – | – |\n"
        "| 1 | 0.500 | 1.000 | 0.750 | 0.500 | 0.125 | n/a | 0.123 | n/a |\n"
    )


def test_cli_errors_and_help(tmp_path):
    assert_one_line_error(run("selfplay", "--set", "nope=1"), "config error: nope: unknown key")
    selfplay_log(SelfPlayConfig(output_dir=str(tmp_path)))  # a run directory with the default settings
    refused = run("selfplay", "--out", str(tmp_path), "--set", "device=cpu")
    assert_one_line_error(refused, f"{tmp_path} was written with other settings")
    helped = run("selfplay", "--help")
    assert helped.returncode == 0 and "--iterations" in helped.stdout


def pid_stage() -> dict[str, int]:
    """A stage that says which process ran it (module level: a spawned process imports it by name)."""
    import os

    return {"pid": os.getpid()}


def test_stage_processes_run_each_stage_in_a_fresh_process(tmp_path):
    import os

    cfg = tiny_config("runs/tiny-model", tmp_path / "run").model_copy(update={"stage_processes": True})
    loop = selfplay_log(cfg)
    ran = loop.stage("probe", pid_stage)
    assert ran["pid"] != os.getpid()
    assert selfplay_log(cfg).stage("probe", pid_stage) == ran  # recorded: not run again


def test_a_stage_key_the_loop_sets_is_an_error(tmp_path):
    """rl.output_dir, mcts.policy.model, ...: the loop sets them for every iteration, so giving one is
    a one-line error rather than a value silently ignored."""
    from coder_rl.config import load_config
    from coder_rl.selfplay import SelfPlayConfig, check_loop_keys

    check_loop_keys(load_config(SelfPlayConfig, None, ["rl.grpo.max_steps=3", "mcts.policy.batch_size=4"]))
    for given, named in (("rl.output_dir=x", "rl.output_dir"), ("mcts.policy.model=x", "mcts.policy.model"),
                         ("prm.model=x", "prm.model"), ("warm_start.data.limit=2", "warm_start.data")):  # fmt: skip
        with pytest.raises(UserError, match=f"config error: {named}: the loop sets it"):
            check_loop_keys(load_config(SelfPlayConfig, None, [given]))
