"""The process reward model: P("+") at a step tag after each reasoning step (issue 6; the PRM so far)."""

from coder_rl.prm.model import PRM, build_input, prepare_tokenizer, reduce_steps

__all__ = ["PRM", "reduce_steps", "build_input", "prepare_tokenizer"]
