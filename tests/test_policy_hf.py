"""The `hf` backend on the tiny model: shapes, batching, determinism, stop strings, lengths, logprobs."""

from __future__ import annotations

import math
import time

import pytest
import torch

from coder_rl.errors import UserError
from coder_rl.policy import PolicyConfig, SamplingParams, load_policy
from coder_rl.policy.hf import HFPolicy

# different lengths, so batches are left-padded
PROMPTS = [
    "def encode(s):\n",
    "n = int(input())\nfor i in range(n):\n",
    "import sys\n",
    "class Solution:\n",
    "x",
]


@pytest.fixture(scope="module")
def policy(tiny_model_dir) -> HFPolicy:
    policy = load_policy(PolicyConfig(model=str(tiny_model_dir), device="cpu", batch_size=2))
    assert isinstance(policy, HFPolicy)
    return policy


def test_n_completions_per_prompt_in_batches(policy):
    params = SamplingParams(n=3, max_tokens=8, temperature=1.0, seed=0)
    results = policy.generate(PROMPTS, params)  # 5 prompts in batches of 2
    assert [len(r) for r in results] == [3] * len(PROMPTS)
    for prompt, completions in zip(PROMPTS, results, strict=True):
        for c in completions:
            assert c.prompt_tokens == len(policy.tokenizer(prompt)["input_ids"]) > 0
            assert 1 <= c.num_tokens <= 8 and c.token_logprobs is None


def test_batching_and_padding_do_not_change_greedy_outputs(policy):
    params = SamplingParams(max_tokens=12, temperature=0)
    batched = policy.generate(PROMPTS, params)
    alone = [policy.generate([p], params)[0] for p in PROMPTS]
    assert [[c.text for c in r] for r in batched] == [[c.text for c in r] for r in alone]


def test_greedy_is_deterministic(policy):
    params = SamplingParams(n=2, max_tokens=12, temperature=0)
    first, again = policy.generate(PROMPTS[:2], params), policy.generate(PROMPTS[:2], params)
    assert first == again
    assert all(r[0] == r[1] for r in first)  # n greedy completions are all the same


def test_same_seed_same_samples(policy):
    def sample(seed: int) -> list[list[str]]:
        params = SamplingParams(n=4, max_tokens=12, temperature=1.0, top_p=0.95, seed=seed)
        return [[c.text for c in r] for r in policy.generate(PROMPTS[:3], params)]

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)


def test_stop_strings_cut_the_output(policy):
    greedy = SamplingParams(max_tokens=24, temperature=0)
    [[full]] = policy.generate([PROMPTS[0]], greedy)
    stop = full.text[len(full.text) // 2 :][:2]  # a string the model does produce, halfway through
    assert stop.strip()
    cut = full.text.index(stop)
    [[stopped]] = policy.generate([PROMPTS[0]], greedy.model_copy(update={"stop": ["never seen", stop]}))
    assert stopped.text == full.text[:cut]
    assert stopped.finish_reason == "stop"
    assert stopped.num_tokens < full.num_tokens  # generation ended early, at the stop string


def test_max_tokens_and_finish_reason_length(policy):
    results = policy.generate(PROMPTS, SamplingParams(n=2, max_tokens=5, temperature=1.0, seed=0))
    completions = [c for r in results for c in r]
    assert all(c.num_tokens <= 5 for c in completions)
    assert all(c.num_tokens == 5 for c in completions if c.finish_reason == "length")
    assert any(c.finish_reason == "length" for c in completions)


def test_logprobs(policy):
    params = SamplingParams(n=2, max_tokens=10, temperature=1.0, seed=0, logprobs=True, stop=["\n\n"])
    for completions in policy.generate(PROMPTS, params):
        for c in completions:
            assert c.token_logprobs is not None and len(c.token_logprobs) == c.num_tokens
            assert all(math.isfinite(lp) and lp <= 0 for lp in c.token_logprobs)


def test_greedy_logprobs_match_an_unpadded_forward_pass(policy):
    """The first greedy token's logprob is the top logprob after the bare prompt, padded batch or not."""
    results = policy.generate(PROMPTS[:2], SamplingParams(max_tokens=3, temperature=0, logprobs=True))
    for prompt, [completion] in zip(PROMPTS[:2], results, strict=True):
        ids = policy.tokenizer(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            top = torch.log_softmax(policy.model(ids).logits[0, -1], dim=-1).max().item()
        assert completion.token_logprobs[0] == pytest.approx(top, abs=1e-4)


def test_a_missing_model_is_a_one_line_user_error(tmp_path):
    start = time.perf_counter()
    for missing in [str(tmp_path / "no-such-model"), "runs/no-such-model"]:
        with pytest.raises(UserError, match="cannot load model") as err:
            load_policy(PolicyConfig(model=missing))
        assert missing in str(err.value) and "\n" not in str(err.value)
    assert time.perf_counter() - start < 30  # no minute-long hub retries
