"""The reward side of other trainers: `coder_rl.integrations` (TRL, veRL, OpenRLHF) and the server's
`/run_code` (SandboxFusion's) and `/get_reward` (OpenRLHF's), on the real sandbox and a real server, on
TACO's own rows. The trainers' own client code calls them in test_trainer_clients.py."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from coder_rl.errors import UserError
from coder_rl.integrations import openrlhf, scoring, verl
from coder_rl.integrations.scoring import RewardScorer, label_problem
from coder_rl.integrations.trl import CodeReward
from coder_rl.rewards import RewardConfig
from coder_rl.verify import Verifier, VerifierConfig
from sandbox import Limits, ProgramResult, Sandbox, Verdict, pass_fraction
from sandbox import TestResult as Outcome  # not collected as a test class
from tests.helpers import TACO_SAMPLE, serving
from tests.sandbox_helpers import descendants

ADD = "a, b = map(int, input().split())\nprint(a + b)\n"
ADD_IO = json.dumps({"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]})


def fenced(code: str) -> str:
    return f"Here is my solution.\n```python\n{code.rstrip()}\n```\n"


def taco_rows() -> list[dict]:
    return [json.loads(line) for line in TACO_SAMPLE.read_text().splitlines()]


def references() -> list[tuple[str, str]]:
    """(input_output, a reference solution) for the first two solutions of every TACO sample row."""
    return [(row["input_output"], code) for row in taco_rows() for code in json.loads(row["solutions"])[:2]]


@pytest.fixture(scope="module")
def verifier() -> Iterator[Verifier]:
    made = Verifier(VerifierConfig(sandbox={"workers": 2, "limits": {"time_s": 2}}))
    yield made
    made.close()


@pytest.fixture(scope="module")
def url(verifier) -> Iterator[str]:
    with serving(verifier) as base:
        yield base


@pytest.fixture
def process_scorer(monkeypatch, verifier):
    """The adapters' own scorer on the test's sandbox (they would otherwise start one of their own)."""
    monkeypatch.setitem(scoring._local, "box", verifier)


class Faulty:
    """A sandbox whose every test ends in sandbox_error: a fault of ours that outlived its retry."""

    def run_batch(self, batch, *, fail_fast=None) -> list[ProgramResult]:
        return [
            ProgramResult([Outcome(Verdict.SANDBOX_ERROR, "worker exited") for _ in tests])
            for _, tests in batch
        ]


# ---------------------------------------------------------------- one reward, whichever trainer asks


def test_every_adapter_gives_the_judges_pass_fraction_on_taco(verifier, process_scorer):
    """On TACO's rows, stdin and call-based: veRL's compute_score, TRL's CodeReward and OpenRLHF's
    answer all equal the sandbox's own pass fraction on the same tests."""
    pairs = references()
    judge = [pass_fraction(verifier.run_batch([(code, label_problem(io).tests)])[0]) for io, code in pairs]
    assert sum(j == 1.0 for j in judge) >= len(pairs) // 2, judge  # mostly references that pass
    by_verl = [verl.compute_score("taco", fenced(code), io)["score"] for io, code in pairs]
    by_trl = asyncio.run(
        CodeReward(verifier)(
            prompts=["Solve it."] * len(pairs), completions=[fenced(c) for _, c in pairs],
            input_output=[io for io, _ in pairs],
        )
    )  # fmt: skip
    judged = RewardScorer(verifier).score(
        [label_problem(io) for io, _ in pairs], [fenced(c) for _, c in pairs]
    )
    by_openrlhf = openrlhf.reward_response(judged).rewards
    assert by_verl == by_trl == by_openrlhf == judge


def test_verl_answers_the_same_keys_for_every_sample(process_scorer):
    """veRL's reward loop builds one array per key from the first sample's keys."""
    answers = [
        verl.compute_score("taco", fenced(ADD), ADD_IO),
        verl.compute_score("taco", "no code at all", ADD_IO),
        verl.compute_score("taco", fenced("print(1/0)"), {"inputs": ["1 2\n"], "outputs": ["3\n"]}),
        asyncio.run(verl.compute_score_async("taco", fenced("print(3)"), ADD_IO, {"question": "Add."})),
    ]
    assert len({tuple(a) for a in answers}) == 1
    assert [a["score"] for a in answers] == [1.0, 0.0, 0.0, 0.5]
    assert answers[2]["verdict/runtime_error"] == 1 and answers[3]["verdict/wrong_answer"] == 1


def test_the_program_is_the_responses_code_never_the_prompts():
    """OpenRLHF's query holds the prompt, whose worked example has code: only what follows is read."""
    prompt = (
        "<|im_start|>user\nExample:\n```python\nprint(3)\n```\nNow add.<|im_end|>\n<|im_start|>assistant\n"
    )
    assert openrlhf.response_text(prompt + "I cannot.<|im_end|>", prompt) == "I cannot.<|im_end|>"
    cut = prompt[40:]  # OpenRLHF may cut a long prompt on the left
    assert openrlhf.response_text(cut + "Answer", prompt) == "Answer"
    with pytest.raises(UserError, match="does not contain its prompt"):
        openrlhf.response_text("something else", prompt)
    # a few-shot prompt repeats its own end: cut inside it, the first fit would start at an example
    shots = "Q: five\n### Response:\n```python\nprint(5)\n```\nQ: nine\n### Response:\n"
    cut = shots[shots.index("e\n### Response:") :]
    assert openrlhf.response_text(cut + "I am not sure.", shots) == "I am not sure."


def test_trl_reads_conversational_rows_and_named_problems(verifier):
    reward = CodeReward(verifier, problems={"p1": label_problem(ADD_IO)})
    chat = [[{"role": "assistant", "content": fenced(ADD)}], [{"role": "assistant", "content": "no idea"}]]
    prompts = [[{"role": "user", "content": "Add two numbers."}]] * 2
    assert asyncio.run(reward(prompts=prompts, completions=chat, input_output=[ADD_IO, ADD_IO])) == [1.0, 0.0]
    assert asyncio.run(reward(prompts=prompts, completions=chat, problem_id=["p1", "p1"])) == [1.0, 0.0]
    with pytest.raises(UserError, match="input_output column"):
        asyncio.run(CodeReward(verifier)(prompts=prompts, completions=chat))


def test_a_bad_label_is_a_clear_error():
    with pytest.raises(UserError, match="label is not TACO input_output: bad_input_output"):
        label_problem('{"inputs": 3, "outputs": []}')
    with pytest.raises(UserError, match="not JSON"):
        label_problem("p-17")


# ---------------------------------------------------------------- faults are not wrong answers


def test_a_worker_killed_mid_scoring_is_retried_and_scores_what_the_program_earns():
    """The program's worker is killed while it runs: the sandbox runs it again on a fresh worker, and
    the reward is the program's own (1.0), never the 0 a lost test would have been."""
    slow_add = "import time\ntime.sleep(1.0)\n" + ADD
    before = descendants()
    with Sandbox(workers=1, limits=Limits(time_s=4)) as box:
        killed = []

        def kill_worker_soon() -> None:
            time.sleep(0.5)
            for pid in descendants() - before:
                try:
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "bwrap":
                        os.kill(pid, 9)
                        killed.append(pid)
                except OSError:
                    pass

        killer = threading.Thread(target=kill_worker_soon)
        killer.start()
        (judged,) = RewardScorer(box).score([label_problem(ADD_IO)], [fenced(slow_add)])
        killer.join()
        assert killed, "no worker was running the program"
        assert judged.reward == 1.0 and judged.verdicts == {"passed": 2}


def test_a_persistent_fault_is_no_reward_in_every_adapter(monkeypatch):
    (judged,) = RewardScorer(Faulty()).score([label_problem(ADD_IO)], [fenced(ADD)])
    assert judged.reward is None and judged.outcome is None
    rewards = asyncio.run(
        CodeReward(Faulty())(prompts=["p"], completions=[fenced(ADD)], input_output=[ADD_IO])  # type: ignore[arg-type]
    )
    assert rewards == [None]  # TRL leaves a completion every reward scored None out of the advantages
    monkeypatch.setitem(scoring._local, "box", Faulty())
    with pytest.raises(verl.SandboxFault, match="3 times"):
        verl.compute_score("taco", fenced(ADD), ADD_IO)
    with pytest.raises(ValueError, match="no rewards"):
        openrlhf.reward_response([judged])
    with pytest.raises(RuntimeError, match="sandbox fault"):
        openrlhf.reward_func(["P" + fenced(ADD)], ["P"], [ADD_IO])


def test_under_all_pass_a_failed_test_decides_whatever_a_fault_hid():
    class HalfFaulty:
        def run_batch(self, batch, *, fail_fast=None) -> list[ProgramResult]:
            tests = [Outcome(Verdict.WRONG_ANSWER), Outcome(Verdict.SANDBOX_ERROR, "worker exited")]
            return [ProgramResult(list(tests)) for _ in batch]

    problem, completion = label_problem(ADD_IO), fenced(ADD)
    (all_pass,) = RewardScorer(HalfFaulty(), rewards=RewardConfig(outcome="all_pass")).score(
        [problem], [completion]
    )
    (fraction,) = RewardScorer(HalfFaulty()).score([problem], [completion])
    assert (all_pass.reward, fraction.reward) == (0.0, None)


def test_run_code_past_its_queue_is_a_504_which_verl_retries(verifier):
    with serving(verifier, max_queued_requests=1) as base:
        slow = threading.Thread(target=lambda: run_code(base, "import time; time.sleep(1.5)"))
        slow.start()
        time.sleep(0.5)
        busy = httpx.post(f"{base}/run_code", json={"code": "print(1)", "language": "python"})
        slow.join()
        assert busy.status_code == 504, busy.text
        assert run_code(base, "print(1)")["status"] == "Success"


def test_get_reward_answers_503_for_a_fault_and_counts_it(verifier, monkeypatch):
    with serving(verifier) as base:
        app_scorer_runs = verifier.run_batch
        monkeypatch.setattr(verifier, "run_batch", Faulty().run_batch)
        body = {"query": ["P" + fenced(ADD)], "prompts": ["P"], "labels": [ADD_IO]}
        answer = httpx.post(f"{base}/get_reward", json=body)
        assert answer.status_code == 503 and "sandbox fault" in answer.json()["detail"]
        monkeypatch.setattr(verifier, "run_batch", app_scorer_runs)
        assert httpx.post(f"{base}/get_reward", json=body).json()["rewards"] == [1.0]
        metrics = httpx.get(f"{base}/metrics").text
        assert 'coder_rl_reward_faults_total{endpoint="/get_reward"} 1.0' in metrics


# ---------------------------------------------------------------- the server: SandboxFusion's and OpenRLHF's calls

SANDBOX_FUSION_KEYS = {"status", "message", "compile_result", "run_result", "executor_pod_name", "files"}
RUN_RESULT_KEYS = {"status", "execution_time", "return_code", "stdout", "stderr"}


def run_code(base: str, code: str, **fields) -> dict:
    body = {"code": code, "language": "python", "compile_timeout": 10, "run_timeout": 10, "stdin": None,
            "memory_limit_MB": 1024, "files": {}, "fetch_files": [], **fields}  # fmt: skip
    answer = httpx.post(f"{base}/run_code", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert set(data) == SANDBOX_FUSION_KEYS and set(data["run_result"] or RUN_RESULT_KEYS) == RUN_RESULT_KEYS
    return data


def test_run_code_speaks_sandbox_fusion_and_a_programs_failure_is_failed(url):
    ok = run_code(url, ADD, stdin="20 22")
    assert (ok["status"], ok["run_result"]["status"], ok["run_result"]["return_code"]) == (
        "Success",
        "Finished",
        0,
    )
    assert ok["run_result"]["stdout"] == "42\n" and ok["compile_result"] is None and ok["message"] == ""
    big = run_code(url, "print('x' * 300_000)")  # SandboxFusion's own server cuts this short
    assert big["status"] == "Success" and len(big["run_result"]["stdout"]) == 300_001
    for code, run_status, return_code, in_stderr in [
        ("1/0", "Finished", 1, "ZeroDivisionError"),
        ("import sys; sys.exit(3)", "Finished", 3, ""),
        ("def f(:\n  pass", "Finished", 1, "SyntaxError"),
        ("import os; os.kill(os.getpid(), 9)", "Finished", -9, "SIGKILL"),
        ("while True: pass", "TimeLimitExceeded", None, "CPU time"),
        ("x = bytearray(3 << 30)", "Finished", 1, "memory over 256 MB"),  # the request's limit
    ]:
        data = run_code(url, code, run_timeout=1, memory_limit_MB=None if "bytearray" not in code else 256)
        assert data["status"] == "Failed", (code, data)  # never SandboxError: veRL reads that as our fault
        result = data["run_result"]
        assert (result["status"], result["return_code"]) == (run_status, return_code), (code, data)
        assert in_stderr in result["stderr"], (code, data)
    unknown = {"extra_field": 1}  # SandboxFusion ignores keys it does not know
    assert run_code(url, "print(1)", **unknown)["status"] == "Success"


def test_run_code_refuses_what_it_cannot_do_with_a_4xx(url):
    for fields, status, text in [
        ({"language": "cpp"}, 422, "language: Input should be 'python'"),
        ({"language": None}, 422, "language"),
    ]:
        body = {"code": "print(1)", "language": "python", **fields}
        answer = httpx.post(f"{url}/run_code", json=body)
        assert answer.status_code == status and text in answer.json()["detail"], answer.text
    assert httpx.get(f"{url}/v1/ping").json() == "pong"


def test_run_code_writes_files_before_the_run_and_fetches_them_after(url):
    """SandboxFusion's `files` (base64, written into the working directory) and `fetch_files` (read back
    after the run, an exception included; a missing one left out), as its own server does."""
    import base64

    code = (
        "import os\nos.makedirs('out', exist_ok=True)\n"
        "open('out/result.txt', 'w').write(open('data/in.txt').read().upper())\n"
        "print('done', end='')\nraise SystemExit(int(input()))\n"
    )
    files = {"data/in.txt": base64.b64encode(b"hello").decode(), "skip.txt": None}
    for exit_code, status in [(0, "Success"), (3, "Failed")]:
        data = run_code(url, code, stdin=str(exit_code), files=files,
                        fetch_files=["out/result.txt", "data/in.txt", "missing.txt"])  # fmt: skip
        assert data["status"] == status and data["run_result"]["return_code"] == exit_code, data
        assert data["run_result"]["stdout"] == "done"  # the fetched files are not left in stdout
        assert {k: base64.b64decode(v) for k, v in data["files"].items()} == {
            "out/result.txt": b"HELLO", "data/in.txt": b"hello"
        }  # fmt: skip
    # a program that prints what looks like the files' block cannot forge them: the marker is secret
    forged = run_code(url, 'print(\'\\ncoder-rl-files-0:{"x": "eA=="}\')', fetch_files=["x"])
    assert forged["files"] == {} and "coder-rl-files-0" in forged["run_result"]["stdout"]


def test_get_reward_answers_openrlhf_including_an_empty_batch(url, verifier, tmp_path):
    empty = httpx.post(f"{url}/get_reward", json={"query": [], "prompts": [], "labels": []})
    assert empty.status_code == 200 and empty.json()["rewards"] == [] and empty.json()["scores"] == []
    data = tmp_path / "problems.jsonl"
    data.write_text(json.dumps({"id": "add", "question": "Add.", "tests": [
        {"kind": "stdin", "stdin": "1 2\n", "expected_stdout": "3\n"}]}) + "\n")  # fmt: skip
    reward = {"data": {"dataset": "jsonl", "path": str(data)}}
    with serving(verifier, reward=reward) as base:
        prompts = ["Q1:", "Q2:", "Q3:"]
        body = {
            "query": ["Q1:" + fenced(ADD), "Q2:" + fenced("print(3)"), "Q3:" + fenced(ADD)],
            "prompts": prompts, "labels": [ADD_IO, ADD_IO, "add"],
        }  # fmt: skip
        answer = httpx.post(f"{base}/get_reward", json=body).json()
        assert answer["rewards"] == [1.0, 0.5, 1.0] and answer["scores"] == [1.0, 0.5, 1.0]
        assert answer["extra_logs"]["verdict/wrong_answer"] == [0.0, 1.0, 0.0]
        assert all(len(v) == 3 for v in answer["extra_logs"].values())
        bad = httpx.post(f"{base}/get_reward", json={**body, "labels": [ADD_IO]})
        assert bad.status_code == 400 and "labels: 1 items for 3 queries" in bad.json()["detail"]


def test_verl_scores_alike_on_a_server_and_on_its_own_sandbox(url, process_scorer):
    for solution, io in [(fenced(ADD), ADD_IO), (fenced("print(3)"), ADD_IO), ("none", ADD_IO)]:
        here = verl.compute_score("taco", solution, io)
        there = verl.compute_score("taco", solution, io, url=url)
        assert here == there


def test_get_reward_adds_the_prms_process_reward_and_the_tcgs_tests(tiny_model_dir, tiny_prm_dir):
    """With `reward.prm`, φ = α·R + (1 − α)·mean step score, as `rl run` combines them; with
    `reward.tcg_tests`, the TCG's tests for the prompt run beside the label's."""
    from coder_rl.integrations.scoring import label_problem as problem_of
    from coder_rl.trajectory import OPENING, prm_input, read_completion
    from pseudocode import Action, Step
    from pseudocode.steps import format_step

    cfg = VerifierConfig(
        sandbox={"workers": 2}, tcg_model=str(tiny_model_dir), tcg_samples=1, tcg_max_tokens=64,
        prm=str(tiny_prm_dir), device="cpu",
    )  # fmt: skip
    made = Verifier(cfg)
    try:
        steps = [
            Step(Action.DEFINE, "Read two ints; print their sum."),
            Step(Action.GENERATE, fenced(ADD).strip()),
        ]
        completion = "".join(format_step(step) for step in steps)[len(OPENING) :]  # after the policy prompt
        body = {"query": ["Add.\n" + completion], "prompts": ["Add.\n"], "labels": [ADD_IO]}
        with serving(made, reward={"prm": True}) as base:
            (reward,) = httpx.post(f"{base}/get_reward", json=body, timeout=120).json()["rewards"]
        assert list(read_completion(completion).steps) == steps
        (scores,) = made.score_prm_inputs([prm_input(problem_of(ADD_IO, "Add.\n"), steps)])
        assert reward == pytest.approx(0.5 * 1.0 + 0.5 * sum(scores) / len(scores))  # α(0) = alpha_start
        written = made.generate_tests(problem_of(ADD_IO, "Add.\n"), 2)
        with serving(made, reward={"tcg_tests": 2}) as base:
            answer = httpx.post(f"{base}/get_reward", json=body, timeout=120).json()
            ran = sum(values[0] for key, values in answer["extra_logs"].items() if key.startswith("verdict/"))
            assert ran == 2 + len(written)
            if not written:  # a label of "" asks for the TCG's tests alone: none is a 400, never a 0
                empty = httpx.post(f"{base}/get_reward", json={**body, "labels": [""]}, timeout=120)
                assert empty.status_code == 400 and "no tests" in empty.json()["detail"]
    finally:
        made.close()


def test_chat_answers_are_read_as_chat_answers_by_verl_and_get_reward(verifier, process_scorer):
    """`format: chat`: the program is the last fenced block after the reasoning, never a draft inside it."""
    answer = "<think>\n```python\nprint(3)\n```\n</think>\n" + fenced(ADD)
    unfinished = "<think>\n" + fenced(ADD) + "</think>\nI could not finish."
    assert verl.compute_score("taco", answer, ADD_IO, format="chat")["score"] == 1.0
    assert verl.compute_score("taco", unfinished, ADD_IO, format="chat")["score"] == 0.0
    # read in the steps format, the draft is the last fenced block of the text
    assert verl.compute_score("taco", unfinished, ADD_IO)["score"] == 1.0
    with pytest.raises(UserError, match="the server's reward.format"):
        verl.compute_score("taco", answer, ADD_IO, url="http://127.0.0.1:9", format="chat")
    with serving(verifier, reward={"format": "chat", "format_weight": 0.5}) as base:
        body = {
            "query": ["Q:" + answer, "Q:" + unfinished],
            "prompts": ["Q:", "Q:"],
            "labels": [ADD_IO, ADD_IO],
        }
        assert httpx.post(f"{base}/get_reward", json=body).json()["rewards"] == [1.5, 0.0]
