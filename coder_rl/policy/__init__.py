"""Policy (generation) backends behind one interface: `hf`, `openai`, `vllm`."""

from coder_rl.policy.base import Completion, Policy, PolicyConfig, SamplingParams
from coder_rl.policy.load import load_policy

__all__ = ["Completion", "Policy", "PolicyConfig", "SamplingParams", "load_policy"]
