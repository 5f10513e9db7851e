"""Run directories: settings recorded once, a rerun with other settings refused, files written whole."""

from __future__ import annotations

import json

import pytest

from coder_rl.errors import UserError
from coder_rl.rundir import claim, replace_dir, without


def test_claim_records_settings_and_refuses_others(tmp_path):
    path = tmp_path / "run" / "state.json"
    state = claim(path, {"lr": 1}, "use another dir", shards=[])
    assert state == {"settings": {"lr": 1}, "shards": []} and json.loads(path.read_text()) == state
    state["shards"].append("00000")
    path.write_text(json.dumps(state))
    assert claim(path, {"lr": 1}, "use another dir", shards=[]) == state  # read back, not reset
    with pytest.raises(UserError, match=r"run was written with other settings .*; use another dir"):
        claim(path, {"lr": 2}, "use another dir")
    path.write_text("[1, 2")
    with pytest.raises(UserError, match="is damaged"):
        claim(path, {"lr": 1}, "use another dir")


def test_a_state_file_holding_bare_settings_is_read_and_rewritten(tmp_path):
    """Earlier versions wrote the bare settings (TCG stages, JSONL sidecars): they still resume."""
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"lr": 1}))
    assert claim(path, {"lr": 1}, "x", stages={}) == {"settings": {"lr": 1}, "stages": {}}
    assert json.loads(path.read_text()) == {"settings": {"lr": 1}, "stages": {}}
    path.write_text(json.dumps({"lr": 3}))
    with pytest.raises(UserError, match="other settings"):
        claim(path, {"lr": 1}, "x")
    assert json.loads(path.read_text()) == {"lr": 3}  # a refused file is left as it was


def test_without_drops_dotted_keys():
    settings = {"sft": {"save_steps": 5, "lr": 1}, "dpo": {"beta": 0.1}, "seed": 0}
    assert without(settings, ["sft.save_steps", "dpo.missing", "nothing.here", "seed"]) == {
        "sft": {"lr": 1},
        "dpo": {"beta": 0.1},
    }
    assert settings["sft"]["save_steps"] == 5  # the input is not changed


def test_replace_dir_swaps_a_complete_directory_in(tmp_path):
    final, tmp = tmp_path / "final", tmp_path / "final.tmp"
    final.mkdir()
    (final / "old").write_text("old")
    tmp.mkdir()
    (tmp / "new").write_text("new")
    assert replace_dir(tmp, final) == final
    assert [p.name for p in final.iterdir()] == ["new"] and not tmp.exists()
