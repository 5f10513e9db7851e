"""The `hf` backend on the tiny model: shapes, batching, determinism, stop strings, lengths, logprobs."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from coder_rl.errors import UserError
from coder_rl.policy import PolicyConfig, SamplingParams, load_policy
from coder_rl.policy.hf import HFPolicy
from tests.helpers import greedy_alone, tie_free

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
    prompts = tie_free(policy, PROMPTS, params.max_tokens)
    assert len(prompts) >= 2, "too few prompts without near ties to batch: add some to PROMPTS"
    batched = policy.generate(prompts, params)
    alone = [policy.generate([p], params)[0] for p in prompts]
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
    # counted up to the token that completes the stop string, as vLLM does
    ids, _ = greedy_alone(policy, PROMPTS[0], greedy.max_tokens)
    decode = policy.tokenizer.decode
    through = next(k for k in range(1, len(ids) + 1) if stop in decode(ids[:k], skip_special_tokens=True))
    assert stopped.num_tokens == through < full.num_tokens


def test_stop_strings_do_not_match_across_the_end_of_the_prompt(policy):
    """As in vLLM and OpenAI servers, only the completion is searched for stop strings."""
    greedy = SamplingParams(max_tokens=12, temperature=0)
    checked = 0
    for prompt in PROMPTS:
        [[full]] = policy.generate([prompt], greedy)
        if not full.text:
            continue
        stop = prompt[-1] + full.text[0]  # occurs in prompt + completion, where they meet
        if stop in full.text:  # would rightly stop the completion
            continue
        [[unstopped]] = policy.generate([prompt], greedy.model_copy(update={"stop": [stop]}))
        assert unstopped == full
        checked += 1
    assert checked, "no prompt to check: add some to PROMPTS"


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


def test_logprobs_are_those_of_the_logits_generate_sampled_from(policy):
    """Rescored after generation, they equal the raw logits' logprobs (before temperature and top_p)."""
    prompts, params = PROMPTS[:2], SamplingParams(n=2, max_tokens=8, temperature=0.7, top_p=0.9, seed=0)
    results = policy.generate(prompts, params.model_copy(update={"logprobs": True}))  # one padded batch
    torch.manual_seed(0)  # the same draws again, this time keeping generate's logits
    batch = policy.tokenizer(prompts, return_tensors="pt", padding=True)
    out = policy.model.generate(
        **batch,
        do_sample=True,
        temperature=0.7,
        top_p=0.9,
        top_k=0,
        max_new_tokens=8,
        num_return_sequences=2,
        return_dict_in_generate=True,
        output_logits=True,
    )
    tokens = out.sequences[:, batch["input_ids"].shape[1] :]
    want = torch.log_softmax(torch.stack(out.logits, dim=1).float(), dim=-1).gather(-1, tokens[..., None])
    for row, c in enumerate(c for completions in results for c in completions):
        assert c.text == policy.tokenizer.decode(tokens[row, : c.num_tokens], skip_special_tokens=True)
        assert c.token_logprobs == pytest.approx(want[row, : c.num_tokens, 0].tolist(), abs=1e-4)


def test_greedy_logprobs_match_an_unpadded_forward_pass(policy):
    """The first greedy token's logprob is the top logprob after the bare prompt, padded batch or not."""
    results = policy.generate(PROMPTS[:2], SamplingParams(max_tokens=3, temperature=0, logprobs=True))
    for prompt, [completion] in zip(PROMPTS[:2], results, strict=True):
        ids = policy.tokenizer(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            top = torch.log_softmax(policy.model(ids).logits[0, -1], dim=-1).max().item()
        assert completion.token_logprobs[0] == pytest.approx(top, abs=1e-4)


def test_a_missing_model_is_a_one_line_user_error(tmp_path):
    for missing in [str(tmp_path / "no-such-model"), "runs/no-such-model"]:
        with pytest.raises(UserError, match="cannot load model") as err:
            load_policy(PolicyConfig(model=missing))
        assert missing in str(err.value) and "\n" not in str(err.value)


def test_bad_settings_and_model_directories_are_one_line_user_errors(tiny_model_dir, tmp_path):
    weights_only, tokenizer_only, empty = tmp_path / "weights", tmp_path / "tokenizer", tmp_path / "empty"
    for folder in (weights_only, tokenizer_only, empty):
        folder.mkdir()
    for path in tiny_model_dir.iterdir():
        shutil.copy(path, tokenizer_only if path.name.startswith("tokenizer") else weights_only)
    cases = [
        ({"device": "banana"}, "unknown device 'banana'"),
        ({"device": "cuda:99"}, "device 'cuda:99' is not available"),
        ({"dtype": "float9"}, "unknown dtype 'float9'"),
        ({"dtype": "int8"}, "unknown dtype 'int8'"),
        ({"model": str(empty)}, "not a model directory (no config.json)"),
        ({"model": str(tokenizer_only)}, "not a model directory (no config.json)"),
        ({"model": str(weights_only)}, "has no tokenizer"),
    ]
    for overrides, problem in cases:
        with pytest.raises(UserError) as err:
            load_policy(PolicyConfig(**{"model": str(tiny_model_dir), "device": "cpu", **overrides}))
        message = str(err.value)
        assert message.startswith("hf backend: ") and problem in message and "\n" not in message, overrides


def test_close_twice(tiny_model_dir):
    policy = load_policy(PolicyConfig(model=str(tiny_model_dir), device="cpu"))
    policy.close()
    policy.close()


def test_generation_stops_at_the_end_of_the_context(tmp_path):
    from coder_rl.models import TinyModelConfig, build_tiny_model

    model = build_tiny_model(tmp_path, TinyModelConfig(arch="gpt2", max_positions=128))
    policy = load_policy(PolicyConfig(model=str(model), device="cpu"))
    prompt = "x = 1\n" * 10
    (completion,) = policy.generate([prompt], SamplingParams(max_tokens=500, temperature=0))[0]
    assert completion.prompt_tokens + completion.num_tokens <= 128
    assert completion.finish_reason == "length" or completion.num_tokens < 128 - completion.prompt_tokens
    with pytest.raises(UserError, match="leaves no room in the model's context of 128"):
        policy.generate(["x = 1\n" * 200], SamplingParams(max_tokens=5))
    with pytest.raises(UserError, match="an empty prompt"):
        policy.generate([""], SamplingParams(max_tokens=5))
