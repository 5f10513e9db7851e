"""`load_policy`: the one place that turns a `policy` config section into a backend.

Backends are imported here, lazily, so that importing `coder_rl.policy` stays cheap (no torch, no httpx).
"""

from __future__ import annotations

from pathlib import Path

from coder_rl.errors import UserError, first_line
from coder_rl.policy.base import Policy, PolicyConfig


def load_policy(cfg: PolicyConfig) -> Policy:
    if cfg.backend == "openai":
        from coder_rl.policy.openai import OpenAIPolicy

        return OpenAIPolicy(cfg)
    _check_model_exists(cfg)
    if cfg.backend == "vllm":
        from coder_rl.policy.vllm import VLLMPolicy

        return VLLMPolicy(cfg)
    from coder_rl.policy.hf import HFPolicy

    return HFPolicy(cfg)


def _check_model_exists(cfg: PolicyConfig) -> None:
    """Fail fast, in one line, when `cfg.model` is neither a local model, a cached one, nor on the hub.

    Without this, a missing path that looks like a hub id (`runs/tiny-model`) makes transformers retry
    the hub for most of a minute on an offline machine, then fail with a multi-line message.
    """
    import huggingface_hub
    from huggingface_hub.errors import HFValidationError

    name = cfg.model
    if Path(name).expanduser().exists():
        return
    try:
        if huggingface_hub.try_to_load_from_cache(name, "config.json") is not None:
            return
        huggingface_hub.model_info(name, timeout=10)  # one request, no retries
    except HFValidationError:
        reason = "no such directory"
    except Exception as exc:  # not on the hub, gated, or no network: all the user can act on
        reason = f"no such directory, and not found on the Hugging Face hub: {first_line(exc)}"
    else:
        return
    raise UserError(f"{cfg.backend} backend: cannot load model {name!r}: {reason}")
