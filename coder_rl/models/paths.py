"""Model paths given in configs, checked before anything loads: the one rule every command applies."""

from __future__ import annotations

from pathlib import Path

from coder_rl.errors import UserError, first_line


def check_model_path(key: str, path: str, hub: bool = False, ask_hub: bool = False) -> None:
    """`path` must be a local model directory (it holds config.json) or, where a hub model makes sense
    (`hub`), a hub id: one in the local cache, or with `ask_hub` one the hub knows (a single request, no
    retries), else any name shaped like `org/name`. A mistyped path fails at once, in one line naming
    `key`, not after a minute of the hub's retries on an offline machine."""
    local = Path(path).expanduser()
    if (local / "config.json").is_file():
        return
    if local.exists():
        raise UserError(f"{key}: cannot load model {path!r}: not a model directory (no config.json)")
    reason = "no such directory"
    if hub and path.count("/") == 1 and not path.startswith((".", "/", "~")):
        if not ask_hub:
            return
        import huggingface_hub

        try:
            if huggingface_hub.try_to_load_from_cache(path, "config.json") is not None:
                return
            huggingface_hub.model_info(path, timeout=10)
            return
        except Exception as exc:  # not on the hub, gated, or no network: all the user can act on
            reason = f"no such directory, and not found on the Hugging Face hub: {first_line(exc)}"
    raise UserError(f"{key}: cannot load model {path!r}: {reason}")
