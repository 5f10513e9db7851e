"""The `openai` backend: any OpenAI-compatible server (vLLM, SGLang, TGI, ...).

One POST per prompt (its `n` completions come back together): to `{base_url}/completions` for a text
prompt, to `{base_url}/chat/completions` for chat messages, which the server renders with the model's
chat template. At most `max_concurrency` in flight, retried with exponential backoff on connection
errors, 5xx and 429.
Imported only when `load_policy` picks this backend, so httpx is imported at the top.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from coder_rl.errors import UserError
from coder_rl.policy.base import Completion, PolicyConfig, SamplingParams, truncate_at_stop
from coder_rl.prompts import Prompt

BACKOFF_S = 0.5  # first retry waits 0.5 s (x0.5-1.5 jitter), then 1 s, 2 s, ...; at most MAX_BACKOFF_S
MAX_BACKOFF_S = 30.0

T = TypeVar("T")


class OpenAIPolicy:
    def __init__(self, cfg: PolicyConfig) -> None:
        if not cfg.base_url:
            raise UserError("openai backend: set policy.base_url, e.g. http://127.0.0.1:8000/v1")
        self.cfg = cfg
        self.base_url = cfg.base_url.rstrip("/")
        key = cfg.api_key or os.environ.get("OPENAI_API_KEY")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        return _run(self.agenerate(prompts, params))

    async def agenerate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        # A client per call: an httpx client belongs to the event loop it was first used on, and each
        # sync `generate` runs on a fresh loop.
        limits = httpx.Limits(max_connections=self.cfg.max_concurrency)
        async with httpx.AsyncClient(
            headers=self.headers, timeout=self.cfg.timeout_s, limits=limits
        ) as client:
            slots = asyncio.Semaphore(self.cfg.max_concurrency)
            tasks = [asyncio.create_task(self._complete(client, slots, p, params)) for p in prompts]
            try:
                return list(await asyncio.gather(*tasks))
            except BaseException:  # on the first failure, stop the other requests before the client closes
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

    def close(self) -> None:
        pass  # no connection outlives a `generate` call

    async def _complete(
        self, client: httpx.AsyncClient, slots: asyncio.Semaphore, prompt: Prompt, params: SamplingParams
    ) -> list[Completion]:
        chat = not isinstance(prompt, str)
        body: dict[str, Any] = {
            "model": self.cfg.model,
            "messages" if chat else "prompt": prompt,
            "n": params.n,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            # Always: the sampled tokens' logprobs are how each choice's token count is known exactly
            # (`usage` has only the total over the n choices). Legacy completions take the number of
            # alternatives per token (1; every server sends the sampled token's logprob along with it),
            # chat completions a flag.
            "logprobs": True if chat else 1,
        }
        if params.stop:
            body["stop"] = params.stop
        if params.seed is not None:
            body["seed"] = params.seed
        async with slots:
            response = await self._post(client, "chat/completions" if chat else "completions", body)
        return _parse(response, params)

    async def _post(self, client: httpx.AsyncClient, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/{endpoint}"
        retries = self.cfg.max_retries
        for attempt in range(retries + 1):
            if attempt:
                await asyncio.sleep(
                    min(BACKOFF_S * 2 ** (attempt - 1), MAX_BACKOFF_S) * random.uniform(0.5, 1.5)
                )
            try:
                response = await client.post(url, json=body)
            except httpx.TransportError as exc:  # refused, reset, DNS, timeouts
                problem = _describe(exc, self.cfg.timeout_s)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                problem = f"HTTP {response.status_code}"
                continue
            if response.is_error:  # a bad request will not get better by retrying
                detail = " ".join(response.text.split())[:300]
                raise UserError(f"openai backend: {url} answered HTTP {response.status_code}: {detail}")
            return _reply(url, response, body["n"])
        raise UserError(f"openai backend: cannot reach {self.base_url} ({problem}) after {retries} retries")


def _reply(url: str, response: httpx.Response, n: int) -> dict[str, Any]:
    """The JSON of a successful answer, checked to hold the n choices asked for, each countable."""
    answered = f"openai backend: {url} answered {response.status_code}"
    try:
        reply = response.json()
    except ValueError:
        raise UserError(f"{answered} with non-JSON: {response.text[:100]!r}") from None
    choices = reply.get("choices") if isinstance(reply, dict) else None
    if not isinstance(choices, list):
        raise UserError(f"{answered} without choices: {response.text[:100]!r}")
    choices = reply["choices"] = [_as_legacy(choice) for choice in choices]
    if len(choices) != n:
        raise UserError(f"{answered} with {len(choices)} choices for n={n}")
    if not isinstance(reply.get("usage") or {}, dict):
        raise UserError(f"{answered} with a malformed usage: {str(reply['usage'])[:100]!r}")
    for choice in choices:
        if not isinstance(choice, dict) or not isinstance(choice.get("text"), str):
            raise UserError(f"{answered} with a choice that has no text: {str(choice)[:100]!r}")
        try:
            _token_logprobs(choice)
        except (AttributeError, TypeError, ValueError):
            raise UserError(
                f"{answered} with malformed logprobs: {str(choice.get('logprobs'))[:100]!r}"
            ) from None
    if n > 1 and any(_token_logprobs(choice) is None for choice in choices):
        # `usage` has only the total over the n choices: each one's count must come from its logprobs
        raise UserError(
            f"{answered} without logprobs: the token count of each of the n choices is unknown; "
            "use n=1 or a server that returns logprobs (vLLM, SGLang)"
        )
    return reply


def _as_legacy(choice: Any) -> Any:
    """A chat completion's choice in the legacy shape (`text`, `logprobs.token_logprobs`), so one reader
    serves both endpoints; a legacy choice, or anything unreadable, as it is."""
    if not isinstance(choice, dict) or "message" not in choice:
        return choice
    message, logprobs = choice["message"], choice.get("logprobs")
    content = message.get("content") if isinstance(message, dict) else None
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    return {
        **{k: v for k, v in choice.items() if k not in ("message", "logprobs")},
        "text": "" if content is None and isinstance(message, dict) else content,
        "logprobs": None if tokens is None else {
            "token_logprobs": [t.get("logprob") if isinstance(t, dict) else t for t in tokens]
        },
    }  # fmt: skip


def _parse(reply: dict[str, Any], params: SamplingParams) -> list[Completion]:
    """The completions of one reply, in `index` order."""
    choices = sorted(reply["choices"], key=lambda choice: choice.get("index", 0))
    usage = reply.get("usage") or {}
    completions = []
    for choice in choices:
        # cut again, in case a server left a stop string in
        text, stopped = truncate_at_stop(choice["text"], params.stop)
        logprobs = _token_logprobs(choice)
        completions.append(
            Completion(
                text=text,
                # no logprobs (a server that ignores them, e.g. TGI) only with n=1: usage counts that choice
                num_tokens=usage.get("completion_tokens", 0) if logprobs is None else len(logprobs),
                finish_reason="length" if choice.get("finish_reason") == "length" and not stopped else "stop",
                prompt_tokens=usage.get("prompt_tokens", 0),
                token_logprobs=logprobs if params.logprobs else None,
            )
        )
    return completions


def _token_logprobs(choice: dict[str, Any]) -> list[float] | None:
    """The sampled tokens' logprobs of a legacy-completions choice, None when the server gave none."""
    logprobs = (choice.get("logprobs") or {}).get("token_logprobs")
    return None if logprobs is None else [float(lp) for lp in logprobs]


def _describe(exc: httpx.TransportError, timeout_s: float) -> str:
    """'connection refused', 'no answer within 120s', ...: the reason, in a few words."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout_s:g}s"
    cause: BaseException | None = exc
    while cause is not None:  # httpx may only say "All connection attempts failed"; its causes say why
        errno = getattr(cause, "errno", None)
        if isinstance(errno, int) and errno > 0:
            text = os.strerror(errno)  # "Connection refused"
            break
        cause = cause.__cause__ or cause.__context__
    else:
        text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc).strip()) or type(exc).__name__
    text = text.splitlines()[0]
    return text[:1].lower() + text[1:]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion from sync code, whether or not this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Inside a running loop (a notebook, an async caller): it cannot be blocked on, so use a helper thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
