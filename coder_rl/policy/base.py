"""The policy interface: batched sampling from a language model, whatever serves it.

A prompt is text the model continues, or chat messages (`coder_rl.prompts.Prompt`): the `hf` and `vllm`
backends render those with the model's chat template (`render`), the `openai` backend sends them to the
server's chat completions endpoint, whose template they meet there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import Field, field_validator

from coder_rl.config import Section
from coder_rl.errors import UserError
from coder_rl.prompts import Prompt


class SamplingParams(Section):
    """How to sample; the `sampling` section of a config. Mirrors vLLM's and OpenAI's names."""

    n: int = Field(1, ge=1, description="completions per prompt")
    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(1.0, ge=0.0, description="0 means greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: list[str] = Field(default_factory=list, description="cut the completion before the first of these")
    seed: int | None = None
    logprobs: bool = Field(False, description="return per-token logprobs of the sampled tokens")

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop_string(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class PolicyConfig(Section):
    """Which model serves generation; the `policy` section of a config."""

    backend: Literal["hf", "openai", "vllm"] = "hf"
    model: str = Field("runs/tiny-model", description="hub id or local path (hf, vllm); model name (openai)")
    # hf
    device: str = Field("auto", description="auto, cpu, cuda, cuda:1, ...")
    dtype: str = Field("auto", description="auto, float32, bfloat16, float16")
    batch_size: int = Field(8, ge=1, description="prompts per generate() call")
    # openai
    base_url: str | None = Field(None, description="e.g. http://127.0.0.1:8000/v1")
    api_key: str | None = Field(None, description="defaults to $OPENAI_API_KEY")
    max_concurrency: int = Field(32, ge=1, description="requests in flight")
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(3, ge=0)
    # vllm
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0)
    max_model_len: int | None = None
    enable_prefix_caching: bool = Field(True, description="siblings in a tree search share their prefix")


@dataclass
class Completion:
    text: str
    num_tokens: int
    finish_reason: Literal["stop", "length"]
    prompt_tokens: int = 0
    token_logprobs: list[float] | None = None

    @property
    def logprob(self) -> float | None:
        """Sum of the sampled tokens' logprobs, when the backend gave them."""
        return None if self.token_logprobs is None else sum(self.token_logprobs)


class Policy(Protocol):
    """Anything that samples completions. `generate` returns, per prompt, `params.n` completions."""

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]: ...

    def close(self) -> None: ...


def render(tokenizer: Any, prompt: Prompt) -> str:
    """The text a model reads for `prompt`: text as given; chat messages through the tokenizer's chat
    template with the assistant's turn opened (the template writes the special tokens it needs, so the
    text is tokenized without adding any: `add_special_tokens=isinstance(prompt, str)`)."""
    if isinstance(prompt, str):
        return prompt
    if not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "the model")
        raise UserError(f"chat prompts need a chat template, and the tokenizer of {name!r} has none")
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def encode_prompts(tokenizer: Any, prompts: Sequence[Prompt]) -> Any:
    """Prompts as one left-padded batch (input_ids, attention_mask; torch tensors), every prompt's last
    token right before the new ones: text with the tokenizer's own special tokens, chat messages as
    `render` writes them (the template holds theirs)."""
    encoded = [tokenizer(render(tokenizer, p), add_special_tokens=isinstance(p, str)) for p in prompts]
    return tokenizer.pad(encoded, return_tensors="pt", padding_side="left")


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` before the earliest stop string (OpenAI semantics: the stop string is not returned)."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)
