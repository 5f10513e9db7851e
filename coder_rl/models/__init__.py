"""Local model factories (no downloads): the tiny causal LM used by quickstarts and tests."""

from coder_rl.models.tiny import InitTinyConfig, TinyModelConfig, build_tiny_model, load_corpus

__all__ = ["InitTinyConfig", "TinyModelConfig", "build_tiny_model", "load_corpus"]
