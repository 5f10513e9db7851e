"""The verifier as an HTTP service (FastAPI): `create_app(cfg)`, run by `coder-rl serve`.

Robustness, each in one place below:
- models load once, in the lifespan, and `/health` says what is loaded;
- request bodies over `max_body_bytes` are refused (413) while they are read, whatever their headers say;
- with an API key every endpoint but `/health` wants `Authorization: Bearer <key>` (401);
- at most `max_concurrency` requests work at a time; one more is answered 429 at once;
- a request that outlives `request_timeout_s` is answered 504 (its sandbox runs still end by their limits,
  and hold their slot until they do, so the bound on work stays true);
- malformed input is a 4xx with a one-line message naming the field; never a 500;
- `/metrics` counts every /v1/ response by route and status, including those made before the app (413).

Beside its own /v1/ API it answers the reward calls of other trainers: SandboxFusion's `/run_code`
(veRL's `sandbox_fusion.url`) and OpenRLHF's `/get_reward`. Those wait their turn for a sandbox worker
rather than take one of `max_concurrency` slots: up to `max_queued_requests` at once, since such clients
send a whole step's samples together (veRL: 8 reward workers x 64). Past that, /run_code answers 504,
the one failure veRL's client retries.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.load import DataConfig
from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from coder_rl.integrations import openrlhf
from coder_rl.integrations.scoring import NO_PROGRAM, RewardScorer, faults
from coder_rl.rewards import RewardConfig
from coder_rl.serve import sandbox_fusion as sf
from coder_rl.serve import schemas as s
from coder_rl.trajectory import PromptFormat
from coder_rl.verify import Candidate, CandidateReport, Verifier, VerifierConfig
from pseudocode import Action, Step
from sandbox import ProgramResult, TestCase, TestResult, Verdict, pass_fraction


class RewardSection(Section):
    """How `/get_reward` (and `coder_rl.integrations.verl` pointed at this server) rewards a completion:
    `coder_rl.integrations.scoring.RewardScorer`, as `rl run` does."""

    data: DataConfig | None = Field(None, description="a dataset whose problem ids labels may name")
    rewards: RewardConfig = RewardConfig()
    format: PromptFormat = Field(
        "steps", description="the answers' format: steps (pseudocode steps), chat (reasoning, then code)"
    )
    format_weight: float = Field(0.0, ge=0, description="weight of the format reward (that format's shape)")
    prm: bool = Field(False, description="add the process reward of the verifier's PRM (verifier.prm)")
    tcg_tests: int = Field(
        0, ge=0, description="tests the verifier's TCG writes from each prompt, pooled with the label's"
    )

    def check(self, verifier: VerifierConfig) -> None:
        if self.prm and not verifier.prm:
            raise UserError("config error: reward.prm needs verifier.prm, a PRM from `coder-rl prm train`")
        if self.tcg_tests and not verifier.tcg_model:
            raise UserError("config error: reward.tcg_tests needs verifier.tcg_model, a TCG model")


class ServeConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_key: str | None = Field(None, description="required to bind anywhere but loopback")
    max_body_bytes: int = Field(4 << 20, ge=1024)
    max_concurrency: int = Field(8, ge=1, description="requests at work at once; more get 429")
    request_timeout_s: float = Field(120.0, gt=0)
    graceful_shutdown_s: float = Field(30.0, ge=0, description="time for requests in flight at shutdown")
    max_queued_requests: int = Field(
        4096, ge=1, description="/run_code and /get_reward requests at once, most waiting for a worker"
    )
    verifier: VerifierConfig = VerifierConfig()
    reward: RewardSection = RewardSection()


LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def check_bind(cfg: ServeConfig) -> None:
    cfg.reward.check(cfg.verifier)
    if cfg.host not in LOOPBACK and not cfg.api_key:
        raise UserError(f"binding {cfg.host} exposes the sandbox: give an API key (--api-key or api_key)")


class HTTPError(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        self.status, self.detail, self.headers = status, detail, headers or {}


class BodyLimit:
    """ASGI middleware: a body larger than `limit` bytes is refused with 413 as soon as it is known,
    from Content-Length or while a chunked body streams in; a body within it is read here, then handed on."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _plain(send, 413, f"request body over {self.limit} bytes")
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await _plain(send, 413, f"request body over {self.limit} bytes")
        handed = False

        async def replay() -> dict[str, Any]:
            nonlocal handed
            if handed:
                return await receive()  # after the body: a disconnect, when it comes
            handed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


COUNTED = ("/v1/", "/run_code", "/get_reward")


class CountRequests:
    """ASGI middleware, outermost: every response to a /v1/, /run_code or /get_reward request is counted with its route and status,
    whichever layer made it (the body limit's 413, the auth check's 401, the app, or Starlette's 500 for
    an unhandled error). A request the router never reached is labelled by the route its path matches."""

    def __init__(self, app: Any, routes: Callable[[], list[Any]], metrics: Metrics) -> None:
        self.app, self.routes, self.metrics = app, routes, metrics

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(COUNTED):
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status: int | None = None

        async def observed(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        except Exception:
            status = status or 500  # the server answers 500 for an error nobody handled
            raise
        finally:
            if status is not None:  # None: the client left before any answer
                endpoint = self._endpoint(scope)
                self.metrics.requests.labels(endpoint, str(status)).inc()
                self.metrics.seconds.labels(endpoint).observe(time.perf_counter() - start)

    def _endpoint(self, scope: dict[str, Any]) -> str:
        """The route's own path (unknown paths make no new series): the router's pick, else a match."""
        route = scope.get("route")
        if route is None:
            from starlette.routing import Match

            matches = [(r.matches(scope)[0], r) for r in self.routes()]
            route = next((r for m, r in matches if m is Match.FULL), None) or next(
                (r for m, r in matches if m is Match.PARTIAL), None
            )
        return getattr(route, "path", None) or "unmatched"


async def _plain(send: Callable, status: int, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Metrics:
    """Prometheus metrics in a registry of the app's own (several apps in one process stay apart)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("coder_rl_requests", "Requests by endpoint and status", ["endpoint", "status"],
                                registry=self.registry)  # fmt: skip
        self.seconds = Histogram(
            "coder_rl_request_seconds", "Request latency", ["endpoint"], registry=self.registry
        )
        self.in_flight = Gauge("coder_rl_in_flight", "Requests at work", registry=self.registry)
        self.tests = Counter("coder_rl_tests", "Tests run, by verdict", ["verdict"], registry=self.registry)
        self.faults = Counter(
            "coder_rl_reward_faults", "Samples left without a reward by a sandbox fault, by endpoint",
            ["endpoint"], registry=self.registry,
        )  # fmt: skip

    def count_results(self, results: list[ProgramResult]) -> None:
        for result in results:
            self.count_tests(result.tests)

    def count_tests(self, tests: list[TestResult]) -> None:
        for test in tests:
            self.tests.labels(test.verdict.value).inc()

    def count_verdicts(self, counts: dict[str, int]) -> None:
        """Tests counted by verdict already (a `Judged`'s, where NO_PROGRAM ran none)."""
        for verdict, count in counts.items():
            if verdict != NO_PROGRAM:
                self.tests.labels(verdict).inc(count)


def create_app(cfg: ServeConfig, verifier: Verifier | None = None) -> Any:
    """The app; it makes its Verifier at start-up (or uses the one given) and closes it at shutdown."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, PlainTextResponse

    metrics = Metrics()
    slots = {"used": 0, "queued": 0}
    state: dict[str, Any] = {}
    tcg_written = TCGCache()
    # One thread per slot: an admitted request never waits for a thread (it would spend its deadline there).
    threads = ThreadPoolExecutor(cfg.max_concurrency, thread_name_prefix="verifier")
    # /get_reward's batches wait on the sandbox in these; more wait their turn for one
    reward_threads = ThreadPoolExecutor(min(cfg.max_queued_requests, 64), thread_name_prefix="reward")
    working: set[asyncio.Future] = set()

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        state["verifier"] = verifier or await asyncio.to_thread(Verifier, cfg.verifier)
        state["known"] = await asyncio.to_thread(_known_problems, cfg.reward.data)
        v = state["verifier"]
        state["scorer"] = RewardScorer(
            v,
            v.score_prm_inputs if cfg.reward.prm else None,
            cfg.reward.rewards,
            cfg.reward.format_weight,
            cfg.reward.format,
        )
        try:
            yield
        finally:
            if working:  # runs past their deadline still use the sandbox: let them end first
                await asyncio.wait(working, timeout=cfg.graceful_shutdown_s)
            threads.shutdown(wait=False)
            reward_threads.shutdown(wait=False)
            if verifier is None:
                await asyncio.to_thread(state["verifier"].close)

    app = FastAPI(
        title="coder-rl verifier",
        version="1",
        description="Run programs in the sandbox, write tests with the TCG, score reasoning steps with the "
        "PRM, and rank candidate programs without reference code.",
        lifespan=lifespan,
        responses={code: {"model": s.ErrorResponse} for code in (400, 401, 413, 422, 429, 503, 504)},
    )

    @app.exception_handler(HTTPError)
    async def _http_error(_: Request, exc: HTTPError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"detail": "malformed JSON body"}, 400)
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
        return JSONResponse({"detail": " ".join(where.split())[:1000]}, 422)

    @app.exception_handler(UserError)
    async def _user_error(_: Request, exc: UserError) -> JSONResponse:
        return JSONResponse({"detail": " ".join(str(exc).split())}, 400)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable) -> Any:
        if cfg.api_key and request.url.path != "/health" and not _authorized(request, cfg.api_key):
            return JSONResponse(
                {"detail": "missing or wrong API key (Authorization: Bearer <key>)"}, 401,
                headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        return await call_next(request)

    async def admitted(start: Callable[[], Awaitable[Any]], slot: str, limit: int, busy_status: int) -> Any:
        """Await the work `start()` begins, holding one of `limit` slots until it ends (past the deadline
        too: its sandbox runs go on to their limits, so the bound on work stays true); `busy_status`
        when none is free, 504 past the deadline."""
        if slots[slot] >= limit:
            raise HTTPError(busy_status, f"busy: {limit} requests at work; retry", {"Retry-After": "1"})
        slots[slot] += 1
        metrics.in_flight.inc()

        def release(_: Any) -> None:
            slots[slot] -= 1
            metrics.in_flight.dec()

        task = asyncio.ensure_future(start())
        working.add(task)
        task.add_done_callback(working.discard)
        task.add_done_callback(release)
        try:
            return await asyncio.wait_for(asyncio.shield(task), cfg.request_timeout_s)
        except asyncio.TimeoutError:  # not TimeoutError before Python 3.11
            raise HTTPError(504, f"deadline of {cfg.request_timeout_s:g} s passed") from None

    async def work(fn: Callable[[], Any]) -> Any:
        """`fn` in one of `max_concurrency` threads; 429 when all are at work."""
        loop = asyncio.get_running_loop()
        return await admitted(lambda: loop.run_in_executor(threads, fn), "used", cfg.max_concurrency, 429)

    def limits(given: s.LimitsIn | None) -> Any:
        return s.capped(given, cfg.verifier.sandbox.limits.to_limits())

    @app.get("/health", response_model=s.HealthResponse)
    async def health() -> s.HealthResponse:
        return s.HealthResponse(
            status="ok",
            **state["verifier"].loaded(),
            in_flight=slots["used"],
            max_concurrency=cfg.max_concurrency,
        )

    @app.get("/metrics", response_class=PlainTextResponse, response_model=None)
    async def prometheus() -> PlainTextResponse:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/execute", response_model=s.ExecuteResponse)
    async def execute(body: s.ExecuteRequest) -> s.ExecuteResponse:
        tests = [s.to_case(t) for t in body.tests]
        results = await work(lambda: state["verifier"].execute(body.programs, tests, limits(body.limits)))
        metrics.count_results(results)
        return s.ExecuteResponse(results=[_program(r) for r in results])

    @app.post("/v1/tests/generate", response_model=s.GenerateTestsResponse)
    async def generate_tests(body: s.GenerateTestsRequest) -> s.GenerateTestsResponse:
        problem = _problem(body.problem)
        tests = await work(lambda: state["verifier"].generate_tests(problem, body.num_tests))
        return s.GenerateTestsResponse(tests=s.shown(tests))

    @app.post("/v1/verify", response_model=s.VerifyResponse)
    async def verify(body: s.VerifyRequest) -> s.VerifyResponse:
        problem = _problem(body.problem)
        candidates = [Candidate(c.code, _steps(c.steps) if c.steps else None) for c in body.candidates]
        reports, generated = await work(
            lambda: state["verifier"].verify(
                problem, candidates, body.use_given_tests, body.generate_tests, limits(body.limits)
            )
        )
        metrics.count_results([r for rep in reports for r in (rep.given_results, rep.generated_results) if r])
        return s.VerifyResponse(
            candidates=[_candidate(r) for r in reports], generated_tests=s.shown(generated)
        )

    @app.post("/v1/score_steps", response_model=s.ScoreStepsResponse)
    async def score_steps(body: s.ScoreStepsRequest) -> s.ScoreStepsResponse:
        from coder_rl.prm import reduce_steps

        problem = _problem(body.problem)
        trajectories = [_steps(t) for t in body.trajectories]
        scores = await work(lambda: state["verifier"].score_steps(problem, trajectories))
        return s.ScoreStepsResponse(
            step_scores=scores, scores=[reduce_steps(x, body.reduction) for x in scores]
        )

    @app.post("/run_code", response_model=sf.RunCodeResponse, tags=["SandboxFusion"])
    async def run_code(body: sf.RunCodeRequest) -> sf.RunCodeResponse:
        """SandboxFusion's run_code, for Python: a program's own failure is Failed, never SandboxError."""
        limits = sf.run_limits(body, cfg.verifier.sandbox.limits.to_limits())
        # Busy is a 504 here: the one answer veRL's SandboxFusion client retries (a 429 would score 0).
        marker = f"coder-rl-files-{secrets.token_hex(16)}:"  # the program cannot forge what it never sees
        program = sf.with_files(body, marker)
        run = lambda: state["verifier"].acapture(program, body.stdin or "", limits)  # noqa: E731
        result = await admitted(run, "queued", cfg.max_queued_requests, 504)
        metrics.count_tests([result])
        if result.verdict is Verdict.SANDBOX_ERROR:
            metrics.faults.labels("/run_code").inc()
        files = sf.fetched_files(result, marker) if program is not body.code else {}
        return sf.run_code_response(result, files)

    @app.get("/v1/ping", tags=["SandboxFusion"])
    async def ping() -> str:
        return "pong"  # SandboxFusion's liveness check

    @app.post("/get_reward", response_model=openrlhf.RewardResponse, tags=["OpenRLHF"])
    async def get_reward(body: openrlhf.RewardRequest) -> openrlhf.RewardResponse:
        """OpenRLHF's remote reward. A sandbox fault in the batch is a 503 (OpenRLHF retries), never a 0."""
        # with the TCG writing tests, a label of "" means: the TCG's tests alone
        problems, responses = openrlhf.request_samples(body, state["known"], cfg.reward.tcg_tests > 0)

        def score() -> list[Any]:
            tested = [
                _with_tcg_tests(p, state["verifier"], cfg.reward.tcg_tests, tcg_written) for p in problems
            ]
            if any(not p.tests for p in tested):
                raise UserError("a sample has no tests: its label gives none and the TCG wrote none")
            return state["scorer"].score(tested, responses)

        loop = asyncio.get_running_loop()
        scoring = lambda: loop.run_in_executor(reward_threads, score)  # noqa: E731
        judged = await admitted(scoring, "queued", cfg.max_queued_requests, 429) if body.query else []
        for j in judged:
            metrics.count_verdicts(j.verdicts)
        left = faults(judged)
        if left:
            metrics.faults.labels("/get_reward").inc(left)
            raise HTTPError(
                503, f"{left} of {len(judged)} samples hit a sandbox fault twice; retry", {"Retry-After": "1"}
            )
        return openrlhf.reward_response(judged)

    # Requests are counted outside everything else, so that a response made before the app (413) counts.
    return CountRequests(BodyLimit(app, cfg.max_body_bytes), lambda: app.routes, metrics)


def _known_problems(data: DataConfig | None) -> dict[str, Problem]:
    """The problems whose ids `/get_reward`'s labels may name."""
    if data is None:
        return {}
    from coder_rl.data.load import load_problems

    return {p.id: p for p in load_problems(data).problems}


def _with_tcg_tests(problem: Problem, verifier: Verifier, count: int, cache: TCGCache) -> Problem:
    """The problem with `count` tests the TCG writes from its statement pooled after its own, written once
    per statement, so that every sample of a group is judged alike. A problem without a statement (a
    veRL call, which sends none) keeps its own tests."""
    if not count or not problem.question.strip():
        return problem
    with cache.lock:  # one writer per statement: two would judge one group on two suites
        tests = cache.tests.get(problem.question)
        if tests is None:
            tests = verifier.generate_tests(problem, count)
            if len(cache.tests) >= 4096:
                cache.tests.pop(next(iter(cache.tests)))  # the oldest
            cache.tests[problem.question] = tests
    return problem.with_tests([*problem.tests, *tests])


@dataclass
class TCGCache:
    """The TCG's tests for each statement `/get_reward` has seen (`reward.tcg_tests`)."""

    tests: dict[str, list[TestCase]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _authorized(request: Any, key: str) -> bool:
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())


def _problem(given: s.ProblemIn) -> Problem:
    metadata = {"fn_name": given.fn_name} if given.fn_name else {}
    return Problem(
        id="request", question=given.question, tests=[s.to_case(t) for t in given.tests],
        starter_code=given.starter_code, metadata=metadata,
    )  # fmt: skip


def _steps(given: list[s.StepIn]) -> list[Step]:
    return [Step(Action(step.action), step.text) for step in given]


def _program(result: ProgramResult) -> s.ProgramOut:
    return s.ProgramOut(
        verdict=result.verdict.value,
        pass_fraction=pass_fraction(result),
        tests=[s.TestOut(**t.to_dict()) for t in result.tests],
    )


def _candidate(report: CandidateReport) -> s.CandidateOut:
    return s.CandidateOut(
        rank=report.rank, score=report.score, given=report.given, generated=report.generated, prm=report.prm,
        step_scores=report.step_scores,
        given_results=_program(report.given_results) if report.given_results else None,
        generated_results=_program(report.generated_results) if report.generated_results else None,
    )  # fmt: skip
