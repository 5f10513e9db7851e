"""The `openai` backend against a real local OpenAI-compatible server that serves the tiny model."""

from __future__ import annotations

import asyncio
import math
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.responses import JSONResponse, PlainTextResponse

from coder_rl.errors import UserError
from coder_rl.policy import PolicyConfig, SamplingParams, load_policy
from coder_rl.policy import openai as openai_backend
from coder_rl.policy.hf import HFPolicy
from coder_rl.policy.openai import OpenAIPolicy
from tests.helpers import tie_free
from tests.openai_server import create_app, serve, wait_until_idle

PROMPTS = ["def encode(s):\n", "n = int(input())\nfor i in range(n):\n", "import sys\n", "class Solution:\n"]
GREEDY = SamplingParams(max_tokens=12, temperature=0)


@pytest.fixture(scope="module")
def local(tiny_model_dir) -> HFPolicy:
    """The same model in-process: what the server should answer."""
    return HFPolicy(PolicyConfig(model=str(tiny_model_dir), device="cpu"))


@pytest.fixture(scope="module")
def server(local):
    app = create_app(local)
    with serve(app) as base_url:
        yield base_url, app.state


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(openai_backend, "BACKOFF_S", 0.01)


def remote(base_url: str, **overrides) -> OpenAIPolicy:
    policy = load_policy(PolicyConfig(backend="openai", base_url=base_url, model="tiny", **overrides))
    assert isinstance(policy, OpenAIPolicy)
    return policy


def test_matches_the_model_served(server, local):
    base_url, _ = server
    params = GREEDY.model_copy(update={"stop": ["\n\n"], "logprobs": True})
    # the server generates each prompt alone, `local` them in one padded batch: see tie_free
    prompts = tie_free(local, PROMPTS, params.max_tokens)
    assert len(prompts) >= 2, "too few prompts without near ties to batch: add some to PROMPTS"
    got, want = remote(base_url).generate(prompts, params), local.generate(prompts, params)
    for got_one, want_one in zip(got, want, strict=True):
        [g], [w] = got_one, want_one
        assert (g.text, g.finish_reason, g.num_tokens, g.prompt_tokens) == (
            w.text,
            w.finish_reason,
            w.num_tokens,
            w.prompt_tokens,
        )
        assert g.token_logprobs == pytest.approx(w.token_logprobs, abs=1e-4)  # batched vs alone: float noise


def test_n_completions_and_token_counts(server, local):
    base_url, _ = server
    params = SamplingParams(n=3, max_tokens=8, temperature=1.0, seed=0)
    results = remote(base_url).generate(PROMPTS[:2], params)
    assert [len(r) for r in results] == [3, 3]
    for prompt, completions in zip(PROMPTS[:2], results, strict=True):
        [served] = local.generate([prompt], params)  # what the server generated for this request, alone
        # token counts are exact per choice: they come from the logprobs, asked for whether wanted or not
        assert [(c.text, c.num_tokens, c.finish_reason) for c in completions] == [
            (c.text, c.num_tokens, c.finish_reason) for c in served
        ]
        for c in completions:
            assert c.prompt_tokens > 0 and c.token_logprobs is None  # not wanted: dropped


def test_stop_and_logprobs(server):
    base_url, _ = server
    params = SamplingParams(n=2, max_tokens=16, temperature=1.0, seed=0, stop=["\n"], logprobs=True)
    for completions in remote(base_url).generate(PROMPTS, params):
        for c in completions:
            assert "\n" not in c.text
            assert len(c.token_logprobs) == c.num_tokens
            assert all(math.isfinite(lp) for lp in c.token_logprobs)


def test_many_prompts_with_bounded_concurrency(server, local):
    base_url, state = server
    state.max_in_flight = 0
    state.hold_until_in_flight = 3  # the server holds the first requests until 3 overlap
    prompts = ["x = 1\n" * (i + 1) for i in range(12)]  # each a different number of tokens long
    try:
        results = remote(base_url, max_concurrency=3).generate(prompts, GREEDY)
    finally:
        state.hold_until_in_flight = 0
    lengths = [len(local.tokenizer(p)["input_ids"]) for p in prompts]
    assert len(set(lengths)) == len(prompts) and [r[0].prompt_tokens for r in results] == lengths  # in order
    assert state.max_in_flight == 3


def test_retries_on_503_and_429(server):
    base_url, state = server
    state.requests.clear()
    state.answer_next = [503, 429]
    [[completion]] = remote(base_url, max_retries=2).generate(PROMPTS[:1], GREEDY)
    assert completion.text and len(state.requests) == 3


def test_gives_up_after_the_retries(server):
    base_url, state = server
    state.answer_next = [503] * 3
    with pytest.raises(UserError, match=r"\(HTTP 503\) after 2 retries"):
        remote(base_url, max_retries=2).generate(PROMPTS[:1], GREEDY)


def test_a_client_error_is_not_retried(server):
    base_url, state = server
    state.requests.clear()
    state.answer_next = [400]
    with pytest.raises(UserError, match="answered HTTP 400"):
        remote(base_url).generate(PROMPTS[:1], GREEDY)
    assert len(state.requests) == 1


def test_the_api_key_is_sent_as_a_bearer_token(server, monkeypatch):
    base_url, state = server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    state.requests.clear()
    remote(base_url, api_key="sk-from-config").generate(PROMPTS[:1], GREEDY)
    remote(base_url).generate(PROMPTS[:1], GREEDY)
    assert state.requests == ["Bearer sk-from-config", "Bearer sk-from-env"]


def test_sync_generate_from_a_thread_and_from_inside_an_event_loop(server):
    base_url, _ = server
    policy = remote(base_url)
    expected = policy.generate(PROMPTS[:2], GREEDY)
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(policy.generate, PROMPTS[:2], GREEDY).result() == expected

    async def caller():  # e.g. an async reward function or a notebook
        return policy.generate(PROMPTS[:2], GREEDY), await policy.agenerate(PROMPTS[:2], GREEDY)

    assert asyncio.run(caller()) == (expected, expected)


def test_a_server_that_is_down_is_a_one_line_user_error():
    with socket.socket() as sock:
        # Bound but not listening, for the whole test: connections are refused, and no other process can
        # take the port meanwhile.
        sock.bind(("127.0.0.1", 0))
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        with pytest.raises(UserError) as err:
            remote(base_url, max_retries=2, timeout_s=2).generate(PROMPTS, GREEDY)
    assert str(err.value) == f"openai backend: cannot reach {base_url} (connection refused) after 2 retries"


def test_a_slow_server_times_out(server):
    base_url, state = server
    state.requests.clear()
    state.delay_s = 60.0
    try:
        with pytest.raises(UserError, match=r"\(no answer within 0.2s\) after 0 retries"):
            remote(base_url, max_retries=0, timeout_s=0.2).generate(PROMPTS[:1], GREEDY)
    finally:
        state.delay_s = 0.0  # ends the server's wait...
        wait_until_idle(state, requests=1)  # ...so that the abandoned request is over before the next test


CHOICE = {"index": 0, "text": "x", "finish_reason": "stop", "logprobs": {"token_logprobs": [-0.5]}}


@pytest.mark.parametrize(
    ("reply", "n", "problem"),
    [
        (PlainTextResponse("<html>\n" + "Bad Gateway " * 20), 1, "with non-JSON: '<html>\\nBad Gateway"),
        (JSONResponse({"object": "error", "message": "no such model"}), 1, "without choices: '{"),
        (JSONResponse({"choices": [CHOICE]}), 2, "with 1 choices for n=2"),
        (JSONResponse({"choices": [{**CHOICE, "logprobs": None}] * 2}), 2, "without logprobs"),
        (JSONResponse({"choices": [{"index": 0, "finish_reason": "stop"}]}), 1, "a choice that has no text"),
        (JSONResponse({"choices": [{**CHOICE, "text": None}]}), 1, "a choice that has no text"),
        (JSONResponse({"choices": ["x"]}), 1, "a choice that has no text"),
        (JSONResponse({"choices": [CHOICE], "usage": [1]}), 1, "a malformed usage"),
        (
            JSONResponse({"choices": [{**CHOICE, "logprobs": {"token_logprobs": [None]}}]}),
            1,
            "malformed logprobs",
        ),
        (
            JSONResponse({"choices": [{**CHOICE, "logprobs": {"token_logprobs": "-1"}}]}),
            1,
            "malformed logprobs",
        ),
        (JSONResponse({"choices": [{**CHOICE, "logprobs": 3}]}), 1, "malformed logprobs"),
    ],
)
def test_a_malformed_answer_is_a_one_line_user_error(server, reply, n, problem):
    base_url, state = server
    state.requests.clear()
    state.answer_next = [reply]
    with pytest.raises(UserError) as err:
        remote(base_url).generate(PROMPTS[:1], GREEDY.model_copy(update={"n": n}))
    message = str(err.value)
    assert message.startswith(f"openai backend: {base_url}/completions answered 200 ")
    assert problem in message and "\n" not in message and len(message) < 300
    assert len(state.requests) == 1  # not retried


def test_without_logprobs_one_choice_is_counted_by_usage(server):
    """Servers that ignore `logprobs` (TGI's completions API) still work with n=1."""
    base_url, state = server
    usage = {"prompt_tokens": 4, "completion_tokens": 7, "total_tokens": 11}
    state.answer_next = [JSONResponse({"choices": [{**CHOICE, "logprobs": None}], "usage": usage})]
    params = GREEDY.model_copy(update={"logprobs": True})
    [[completion]] = remote(base_url).generate(PROMPTS[:1], params)
    assert (completion.text, completion.num_tokens, completion.prompt_tokens) == ("x", 7, 4)
    assert completion.token_logprobs is None


def test_base_url_is_required():
    with pytest.raises(UserError, match="base_url"):
        load_policy(PolicyConfig(backend="openai"))
