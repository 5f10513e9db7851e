"""Model paths given in configs, checked before anything loads."""

from __future__ import annotations

from pathlib import Path

from coder_rl.errors import UserError


def check_model_path(key: str, path: str, hub: bool = False) -> None:
    """`path` must be a local model directory or, where a hub model makes sense (`hub`), shaped like a
    hub id: a mistyped local path fails at once, not after the hub's retries."""
    local = Path(path).expanduser()
    if (local / "config.json").is_file():
        return
    if hub and not local.exists() and path.count("/") == 1 and not path.startswith((".", "/", "~")):
        return
    raise UserError(f"{key}: {path} is not a model directory")
