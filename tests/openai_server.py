"""A real OpenAI-compatible `/v1/completions` and `/v1/chat/completions` server, backed by any `Policy`
(the tiny HF model in tests, which renders chat messages with its own chat template, as vLLM does).

It speaks the legacy completions API the way vLLM does (choices with text, finish_reason and
logprobs.token_logprobs, plus usage), and the chat API (choices with message.content and
logprobs.content[].logprob). Hooks for tests, on `app.state`: `answer_next` (what to answer
the next requests with instead: a status code, or a whole response), `delay_s`, `hold_until_in_flight`,
`requests` (each request's Authorization header), `in_flight` and `max_in_flight`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from coder_rl.policy import Policy, SamplingParams


class SamplingRequest(BaseModel):
    """What both endpoints take besides the prompt."""

    model: str
    n: int = 1
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    stop: str | list[str] | None = None
    seed: int | None = None


class CompletionRequest(SamplingRequest):
    prompt: str
    logprobs: int | None = None  # alternatives per token


class ChatRequest(SamplingRequest):
    messages: list[dict[str, str]]
    logprobs: bool = False


HOLD_S = 10.0  # the longest a request waits for `hold_until_in_flight`


def create_app(policy: Policy) -> FastAPI:
    app = FastAPI()
    app.state.answer_next = []  # e.g. [503, PlainTextResponse("busy")]: the next requests get these
    app.state.requests = []  # the Authorization header of every request
    app.state.delay_s = 0.0  # seconds to wait before answering (timeout tests); lowering it ends a wait
    # Requests wait (up to HOLD_S) until this many have been in flight at once, so that a concurrency
    # test sees its requests overlap however slowly the client sends them; 0: no waiting.
    app.state.hold_until_in_flight = 0
    app.state.in_flight = app.state.max_in_flight = 0
    one_at_a_time = threading.Lock()  # the policy seeds torch's global generator: not thread-safe

    def generate(body: CompletionRequest | ChatRequest) -> dict:
        chat = isinstance(body, ChatRequest)
        params = SamplingParams(
            n=body.n,
            max_tokens=body.max_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            stop=body.stop or [],  # SamplingParams takes one string or a list
            seed=body.seed,
            logprobs=bool(body.logprobs) if chat else body.logprobs is not None,
        )
        with one_at_a_time:
            [completions] = policy.generate([body.messages if chat else body.prompt], params)
        choices = [
            {
                "index": i,
                "finish_reason": c.finish_reason,
                **(
                    {
                        "message": {"role": "assistant", "content": c.text},
                        "logprobs": None
                        if c.token_logprobs is None
                        else {"content": [{"token": "?", "logprob": lp} for lp in c.token_logprobs]},
                    }
                    if chat
                    else {
                        "text": c.text,
                        "logprobs": None
                        if c.token_logprobs is None
                        else {"token_logprobs": c.token_logprobs},
                    }
                ),
            }
            for i, c in enumerate(completions)
        ]
        prompt_tokens = completions[0].prompt_tokens
        completion_tokens = sum(c.num_tokens for c in completions)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        kind = "chat.completion" if chat else "text_completion"
        return {"object": kind, "model": body.model, "choices": choices, "usage": usage}

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest, request: Request):
        return await answer(body, request)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        return await answer(body, request)

    async def answer(body: CompletionRequest | ChatRequest, request: Request):
        app.state.in_flight += 1  # before the request is logged: see wait_until_idle
        app.state.requests.append(request.headers.get("authorization"))
        try:
            if app.state.answer_next:
                answer = app.state.answer_next.pop(0)
                if isinstance(answer, Response):
                    return answer
                return JSONResponse({"error": {"message": f"injected {answer}"}}, status_code=answer)
            app.state.max_in_flight = max(app.state.max_in_flight, app.state.in_flight)
            start = time.monotonic()
            while time.monotonic() - start < app.state.delay_s:  # polled: lowering delay_s ends the wait
                await asyncio.sleep(0.005)
            while (
                app.state.max_in_flight < app.state.hold_until_in_flight and time.monotonic() - start < HOLD_S
            ):
                await asyncio.sleep(0.005)
            return await run_in_threadpool(generate, body)
        finally:
            app.state.in_flight -= 1

    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn on a free port of 127.0.0.1 in a background thread; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound here, so the port cannot be taken between choosing and serving
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def wait_until_idle(state: Any, requests: int = 0, timeout_s: float = 10.0) -> None:
    """Block until the server has taken `requests` requests in all and answered every one it took.

    `state` is `app.state`. Call it after a client gave up on a request, so that the request does not
    run on into the next test.
    """
    deadline = time.monotonic() + timeout_s
    while len(state.requests) < requests or state.in_flight:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the test server still has {state.in_flight} requests in flight")
        time.sleep(0.005)
