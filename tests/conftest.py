"""Shared fixtures. Session-scoped ones are built once per test run, in pytest's temporary directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests are offline by construction: never wait on the Hugging Face hub (subprocesses inherit this too).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2 model + tokenizer, briefly pretrained on the bundled sample (~8 s on 2 CPU cores).

    Load it like a hub model: `AutoModelForCausalLM.from_pretrained(tiny_model_dir)`, or
    `load_policy(PolicyConfig(model=str(tiny_model_dir)))`.
    """
    from coder_rl.models import TinyModelConfig, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), TinyModelConfig(pretrain_steps=60))
