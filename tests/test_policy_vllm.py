"""The `vllm` backend. The real-engine test needs vllm (the `gpu` extra) and a CUDA GPU; it skips otherwise."""

from __future__ import annotations

import importlib.util
import math

import pytest

from coder_rl.errors import UserError
from coder_rl.models import TinyModelConfig, build_tiny_model
from coder_rl.policy import PolicyConfig, SamplingParams, load_policy

HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed")
def test_without_vllm_a_user_error_says_what_to_install(tiny_model_dir):
    with pytest.raises(UserError, match=r"pip install 'coder-rl\[gpu\]'"):
        load_policy(PolicyConfig(backend="vllm", model=str(tiny_model_dir)))


@pytest.mark.skipif(not HAS_VLLM, reason="vllm is not installed (pip install 'coder-rl[gpu]')")
def test_vllm_engine(tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vllm needs a CUDA GPU")
    # head size 64: vLLM's attention kernels do not all take the default tiny model's 16
    model_dir = build_tiny_model(tmp_path, TinyModelConfig(hidden_size=128, num_heads=2, pretrain_steps=20))
    policy = load_policy(
        PolicyConfig(backend="vllm", model=str(model_dir), gpu_memory_utilization=0.3, max_model_len=512)
    )
    try:
        prompts = ["def encode(s):\n", "import sys\n", "x"]
        params = SamplingParams(n=3, max_tokens=16, temperature=1.0, seed=0, stop=["\n\n"], logprobs=True)
        results = policy.generate(prompts, params)
        assert [len(r) for r in results] == [3] * 3
        for completions in results:
            for c in completions:
                assert "\n\n" not in c.text and c.prompt_tokens > 0 and 1 <= c.num_tokens <= 16
                assert len(c.token_logprobs) == c.num_tokens and all(
                    math.isfinite(x) for x in c.token_logprobs
                )
                assert c.finish_reason == "stop" or c.num_tokens == 16
        assert policy.generate(prompts, params) == results  # same seed, same samples
        greedy = SamplingParams(n=2, max_tokens=8, temperature=0)
        assert all(r[0] == r[1] for r in policy.generate(prompts, greedy))
    finally:
        policy.close()
