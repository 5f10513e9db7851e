"""The tiny local model loads like a hub model, tokenizes code losslessly and builds reproducibly."""

from __future__ import annotations

import unicodedata

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from transformers import AutoModelForCausalLM, AutoTokenizer

from coder_rl.models import TinyModelConfig, build_tiny_model
from coder_rl.models.tiny import EOS, load_corpus

CODE = [
    "def add(a, b):\n    return a + b\n",
    "for i in range(n):\n\tif x[i] != 0:  # tab-indented\r\n\t\tprint(i, end=' ')\n",
    'print(f"{x!r:>10}")\n\n\n   \n',
    "s = 'héllo wörld – 世界 🚀'\n",
    "x = 1;;;y=2\\\n<|pad|><|endoftext|>",
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_loads_like_a_hub_model(tiny_model_dir, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert model.config.vocab_size == len(tokenizer)
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == (EOS, EOS, "<|pad|>")
    batch = tokenizer(CODE[:2], return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (*batch["input_ids"].shape, len(tokenizer)) and torch.isfinite(logits).all()


@pytest.mark.parametrize("text", CODE)
def test_tokenizer_round_trips_code(tokenizer, text):
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_tokenizer_round_trips_any_nfc_text(tokenizer, text):
    text = unicodedata.normalize("NFC", text)  # the tokenizer normalizes to NFC, as Qwen2's does
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_chat_template(tokenizer):
    messages = [
        {"role": "user", "content": "Add two numbers."},
        {"role": "assistant", "content": "def add(a, b):\n    return a + b"},
    ]
    prompt = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nAdd two numbers.<|im_end|>\n<|im_start|>assistant\n"
    # the ChatML markers are single tokens, and the assistant's turn is maskable (TRL's assistant_only_loss)
    out = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    assert out["input_ids"].count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 2
    assistant = [i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(assistant) == messages[1]["content"] + "<|im_end|>"


def test_build_is_deterministic_given_the_seed(tmp_path):
    def build(name: str, seed: int) -> dict[str, torch.Tensor]:
        path = build_tiny_model(tmp_path / name, TinyModelConfig(pretrain_steps=3, seed=seed))
        return AutoModelForCausalLM.from_pretrained(path).state_dict()

    first, again, other = build("a", 0), build("b", 0), build("c", 1)
    assert (tmp_path / "a" / "tokenizer.json").read_text() == (tmp_path / "b" / "tokenizer.json").read_text()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_gpt2_arch_and_a_custom_corpus(tmp_path):
    corpus = load_corpus()[:10]
    path = build_tiny_model(tmp_path, TinyModelConfig(arch="gpt2", num_layers=3, hidden_size=32), corpus)
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert (model.config.n_layer, model.config.n_embd, model.config.vocab_size) == (3, 32, len(tokenizer))
    assert tokenizer.decode(tokenizer(CODE[1])["input_ids"]) == CODE[1]


def test_bad_configs_are_rejected(tmp_path):
    with pytest.raises(ValidationError, match="num_heads"):
        TinyModelConfig(hidden_size=60, num_heads=8)
    with pytest.raises(ValidationError):
        TinyModelConfig(num_layers=5)
    with pytest.raises(ValueError, match="empty"):
        build_tiny_model(tmp_path, TinyModelConfig(), corpus=["", ""])
