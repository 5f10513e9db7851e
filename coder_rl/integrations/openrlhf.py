"""OpenRLHF's remote reward: what `--reward.remote_url http://HOST:PORT/get_reward` (OpenRLHF 0.10+;
`--remote_rm_url` before) sends, and the answer it reads. `coder-rl serve` answers it at `/get_reward`.

OpenRLHF (`openrlhf/utils/agent.py`, 0.11) POSTs `{"query": [...], "prompts": [...], "labels": [...]}`:
`query` is the prompt and the response decoded together, special tokens kept (the prompt possibly cut
on the left), `prompts` the prompt alone, `labels` the dataset's `--data.label_key` column. It reads
`rewards` (the advantages), `scores` (dynamic filtering) and `extra_logs` (each key a logged metric).

OpenRLHF can also load a reward function from a file (`--reward.remote_url path/to/file.py`): this
module's `reward_func` is one, scoring on a sandbox of its own in each process that loads it.

A label is TACO's `input_output` (JSON text or object), or the id of a problem in the dataset the server
loaded (`reward.data`). OpenRLHF has no "no reward": a null fails its training step. So a sample whose
sandbox run hit a fault (after the sandbox's own retry on a fresh worker) is never answered 0: the whole
request gets a 503, which OpenRLHF retries (5 times, a second apart); a fault that persists leaves
OpenRLHF without a reward, and its step fails rather than train on a forged verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from coder_rl.integrations.scoring import Judged, faults, label_problem, local_scorer, verdict_counts
from sandbox import Verdict

MAX_BATCH = 1024
_VERDICT_KEYS = [f"verdict/{v.value}" for v in Verdict]


class RewardRequest(BaseModel):
    query: list[str] = Field(max_length=MAX_BATCH)
    prompts: list[str] = Field(default_factory=list, max_length=MAX_BATCH)
    labels: list[Any] = Field(default_factory=list, max_length=MAX_BATCH)


class RewardResponse(BaseModel):
    rewards: list[float]
    scores: list[float]  # the outcome alone, in [0, 1]: what OpenRLHF's dynamic filtering reads
    extra_logs: dict[str, list[float]]


def check_request(body: RewardRequest) -> None:
    """Every list as long as `query` (empty `prompts` or `labels` only with an empty `query`)."""
    for name in ("prompts", "labels"):
        if len(getattr(body, name)) != len(body.query):
            raise UserError(f"{name}: {len(getattr(body, name))} items for {len(body.query)} queries")


def response_text(query: str, prompt: str) -> str:
    """What the policy wrote: `query` less its prompt, which may stand after a BOS or, cut on the left by
    OpenRLHF, only in part. The prompt's own code (a worked example) must never be read as the answer,
    so a query whose prompt cannot be found is an error, not a guess."""
    if not prompt:
        return query
    at = query.find(prompt)
    if at >= 0:
        return query[at + len(prompt) :]
    tail = prompt[-16:]  # a cut prompt keeps at least its end
    end, at = None, query.find(tail)
    while at >= 0:  # a left-cut prompt: the query starts with one of the prompt's suffixes
        if prompt.endswith(query[: at + len(tail)]):
            end = at + len(tail)  # the last cut that fits: more of the query is prompt, never less
        at = query.find(tail, at + 1)
    if end is not None:
        return query[end:]
    raise UserError("a query does not contain its prompt: cannot tell the response from the prompt")


def reward_response(judged: list[Judged]) -> RewardResponse:
    """The answer for a batch with no fault in it."""
    rewards = [float(j.reward) for j in judged if j.reward is not None]
    if len(rewards) != len(judged):
        raise ValueError("a batch with a sandbox fault gets no rewards")
    return RewardResponse(
        rewards=rewards,
        scores=[float(j.outcome or 0.0) for j in judged],
        extra_logs={
            "pass_fraction": [j.pass_fraction for j in judged],
            "format": [j.format for j in judged],
            **{key: [float(verdict_counts(j)[key]) for j in judged] for key in _VERDICT_KEYS},
        },
    )


def request_samples(
    body: RewardRequest, known: Mapping[str, Problem] | None = None, untested_labels: bool = False
) -> tuple[list[Problem], list[str]]:
    """Each sample's problem (its label's, `label_problem`) and response (`response_text`). With
    `untested_labels`, a label of "" stands for a problem without tests of its own (the TCG's come later)."""
    check_request(body)
    problems = [
        Problem(id="label", question=prompt, tests=[]) if untested_labels and label in ("", None)
        else label_problem(label, prompt, known)
        for label, prompt in zip(body.labels, body.prompts, strict=True)
    ]  # fmt: skip
    return problems, [response_text(q, p) for q, p in zip(body.query, body.prompts, strict=True)]


def reward_func(queries: list[str], prompts: list[str], labels: list[Any]) -> dict[str, Any]:
    """OpenRLHF's file-based remote reward: the answer `/get_reward` gives, scored in this process. A
    sandbox fault raises (OpenRLHF then has no reward for the sample and stops), never a 0."""
    problems, texts = request_samples(RewardRequest(query=queries, prompts=prompts, labels=labels))
    judged = local_scorer().score(problems, texts)
    if faults(judged):
        raise RuntimeError(f"{faults(judged)} samples hit a sandbox fault twice: no reward for them")
    return reward_response(judged).model_dump()
