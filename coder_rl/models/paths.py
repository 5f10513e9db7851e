"""Model paths given in configs, checked before anything loads: the one rule every command applies."""

from __future__ import annotations

from pathlib import Path

from coder_rl.errors import UserError, first_line

# A local model: a transformers directory, a PEFT adapter, or a Mistral-format directory (vLLM).
MODEL_FILES = ("config.json", "adapter_config.json", "params.json")


def check_model_path(key: str, path: str, hub: bool = False, ask_hub: bool = False) -> None:
    """`path` must be a local model (a file such as a GGUF, or a directory holding one of MODEL_FILES)
    or, where a hub model makes sense (`hub`), a hub id: with `ask_hub`, one in the local cache or that
    the hub knows (a single request, no retries); without, any name shaped like `org/name`. A mistyped
    path fails at once, in one line naming `key`, not after a minute of the hub's retries offline."""
    local = Path(path).expanduser()
    if local.is_file() or any((local / name).is_file() for name in MODEL_FILES):
        return
    if local.exists():
        raise UserError(f"{key}: cannot load model {path!r}: not a model directory (no config.json)")
    reason = "no such directory"
    if hub and ask_hub:
        import huggingface_hub
        from huggingface_hub.errors import HFValidationError

        try:
            if huggingface_hub.try_to_load_from_cache(path, "config.json") is not None:
                return
            huggingface_hub.model_info(path, timeout=10)
            return
        except HFValidationError:  # not shaped like a hub id: a local path that is not there
            pass
        except Exception as exc:  # not on the hub, gated, or no network: all the user can act on
            reason = f"no such directory, and not found on the Hugging Face hub: {first_line(exc)}"
    elif hub and path.count("/") == 1 and not path.startswith((".", "/", "~")):
        return
    raise UserError(f"{key}: cannot load model {path!r}: {reason}")
