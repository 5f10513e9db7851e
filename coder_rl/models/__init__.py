"""Local model factories (no downloads): the tiny causal LM used by quickstarts and tests; model paths."""

from coder_rl.models.paths import check_model_path
from coder_rl.models.tiny import TinyModelConfig, build_tiny_model

__all__ = ["TinyModelConfig", "build_tiny_model", "check_model_path"]
