"""`load_policy`: the one place that turns a `policy` config section into a backend.

Backends are imported here, lazily, so that importing `coder_rl.policy` stays cheap (no torch, no httpx).
"""

from __future__ import annotations

from coder_rl.models.paths import check_model_path
from coder_rl.policy.base import Policy, PolicyConfig


def load_policy(cfg: PolicyConfig) -> Policy:
    if cfg.backend == "openai":
        from coder_rl.policy.openai import OpenAIPolicy

        return OpenAIPolicy(cfg)
    # transformers would retry the hub for most of a minute on a mistyped path, then fail in many lines
    check_model_path(f"{cfg.backend} backend", cfg.model, hub=True, ask_hub=True)
    if cfg.backend == "vllm":
        from coder_rl.policy.vllm import VLLMPolicy

        return VLLMPolicy(cfg)
    from coder_rl.policy.hf import HFPolicy

    return HFPolicy(cfg)
