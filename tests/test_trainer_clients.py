"""The trainers' own client code calls coder-rl: veRL 0.9.1's SandboxFusion client and its
custom_reward_function loader, and OpenRLHF 0.11.2's remote-reward client, installed from PyPI in
.venv-trainers beside coder-rl (scripts/setup_trainers.sh), each run in a process of its own against a
real `coder-rl serve` on loopback, on TACO's own rows."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from coder_rl.integrations.scoring import label_problem
from coder_rl.verify import Verifier, VerifierConfig
from sandbox import Sandbox, pass_fraction
from tests.helpers import REPO, TACO_SAMPLE, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trainers_python() -> Path:
    subprocess.run([str(REPO / "scripts" / "setup_trainers.sh")], check=True, timeout=900)
    return REPO / ".venv-trainers" / "bin" / "python"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    verifier = Verifier(VerifierConfig(sandbox={"workers": 2}))
    with serving(verifier) as base:
        yield base
    verifier.close()


def in_trainer(python: Path, script: str, payload: object) -> object:
    """Run `script` in the trainers' virtualenv: it reads `payload` as JSON on stdin and prints its
    answer as JSON on its last line."""
    done = subprocess.run(
        [str(python), "-c", script], input=json.dumps(payload), capture_output=True, text=True, timeout=600,
        cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def taco_references() -> list[dict]:
    """Every TACO sample row with its first two reference solutions, fenced as a model writes them, and
    coder-rl's judge's pass fraction for each."""
    out = []
    with Sandbox(workers=2) as box:
        for line in TACO_SAMPLE.read_text().splitlines():
            row = json.loads(line)
            problem = label_problem(row["input_output"])
            for code in json.loads(row["solutions"])[:2]:
                judged = pass_fraction(box.run(code, problem.tests))
                out.append({"io": row["input_output"], "solution": f"```python\n{code}\n```", "judge": judged,
                            "kind": problem.kind})  # fmt: skip
    return out


VERL_SANDBOX_FUSION = """
import json, sys
from verl.utils.reward_score import sandbox_fusion
cases, url = json.load(sys.stdin)
scores = [sandbox_fusion.compute_score(url + "/run_code", None, 1024, c["solution"], c["io"])[0] for c in cases]
print(json.dumps(scores))
"""


def test_verls_sandbox_fusion_client_on_our_run_code(trainers_python, url):
    """veRL's own client, pointed at coder-rl's /run_code, agrees with coder-rl's judge on every stdin
    test of TACO's rows. On call-based rows it scores every reference 0: it sends `str(args)` as stdin
    to a wrapper that reads one JSON value per line, and compares against TACO's wrapped outputs."""
    cases = taco_references()
    scores = in_trainer(trainers_python, VERL_SANDBOX_FUSION, [cases, url])
    for case, score in zip(cases, scores, strict=True):
        if case["kind"] == "stdin":
            assert score == case["judge"], case
        else:
            assert score == 0.0 and case["judge"] == 1.0, case
    assert any(c["kind"] == "call" for c in cases) and any(c["kind"] == "stdin" for c in cases)


VERL_CUSTOM_REWARD = """
import asyncio, inspect, json, sys
from omegaconf import OmegaConf
from verl.trainer.ppo.reward import get_custom_reward_fn
cases, name, kwargs = json.load(sys.stdin)
config = OmegaConf.create({"reward": {"custom_reward_function": {
    "path": "pkg://coder_rl.integrations.verl", "name": name, "reward_kwargs": kwargs}}})
fn = get_custom_reward_fn(config)
out = []
for c in cases:  # as veRL's naive reward manager calls it
    result = fn(data_source="taco", solution_str=c["solution"], ground_truth=c["io"], extra_info={"index": 0})
    out.append(asyncio.run(result) if inspect.isawaitable(result) else result)
print(json.dumps(out))
"""


@pytest.mark.parametrize(("name", "remote"), [("compute_score", False), ("compute_score_async", True)])
def test_verls_loader_loads_our_reward_and_it_scores_as_our_judge(trainers_python, url, name, remote):
    """`custom_reward_function.path: pkg://coder_rl.integrations.verl`, loaded by veRL's own
    get_custom_reward_fn: on its own sandbox, or on a coder-rl server; sync and async. Its scores equal
    coder-rl's judge on every TACO row, call-based ones included."""
    cases = taco_references()
    # the sandbox veRL's process starts runs programs on coder-rl's interpreter, whose numpy they import
    own = {"python": str(REPO / ".venv" / "bin" / "python"), "workers": 2}
    answers = in_trainer(trainers_python, VERL_CUSTOM_REWARD, [cases, name, {"url": url} if remote else own])
    assert [a["score"] for a in answers] == [c["judge"] for c in cases]
    assert len({tuple(sorted(a)) for a in answers}) == 1  # one set of keys, as veRL's reward loop needs


OPENRLHF_CLIENT = """
import asyncio, importlib.util, json, sys, types
from pathlib import Path
# OpenRLHF's remote-reward client (openrlhf/utils/agent.py), loaded alone: the package's __init__ imports
# the GPU stack, the client itself only aiohttp. OpenRLHF's own tests load it the same way.
root = Path(importlib.util.find_spec("openrlhf").submodule_search_locations[0])
for name, path in (("openrlhf", root), ("openrlhf.utils", root / "utils")):
    package = types.ModuleType(name)
    package.__path__ = [str(path)]
    sys.modules[name] = package
spec = importlib.util.spec_from_file_location("openrlhf.utils.agent", root / "utils" / "agent.py")
agent = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = agent
spec.loader.exec_module(agent)
queries, prompts, labels, url = json.load(sys.stdin)
executor = agent.SingleTurnAgentExecutor(url + "/get_reward")
answers = asyncio.run(executor._fetch_rewards_via_http(queries, prompts, labels))
import aiohttp
async def empty():  # what earlier OpenRLHF sends the servers a batch has no share for
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/get_reward", json={"query": [], "prompts": [], "labels": []}) as r:
            r.raise_for_status()
            return await r.json()
print(json.dumps([answers, asyncio.run(empty())]))
"""


def test_openrlhfs_remote_reward_client_on_our_get_reward(trainers_python, url):
    """OpenRLHF's own client posts prompt+response queries with TACO labels; the prompt's worked example
    (code that would pass) is never read as the answer."""
    cases = taco_references()
    prompt = (
        "<|im_start|>user\nSolve it. Example:\n```python\nprint(0)\n```<|im_end|>\n<|im_start|>assistant\n"
    )
    queries = [prompt + c["solution"] + "<|im_end|>" for c in cases] + [prompt + "I do not know.<|im_end|>"]
    labels = [c["io"] for c in cases] + [cases[0]["io"]]
    (answer,), empty = in_trainer(
        trainers_python, OPENRLHF_CLIENT, [queries, [prompt] * len(queries), labels, url]
    )
    assert answer["rewards"] == [c["judge"] for c in cases] + [0.0]
    assert answer["scores"] == answer["rewards"] and len(answer["extra_logs"]["pass_fraction"]) == len(
        queries
    )
    assert empty["rewards"] == [] and empty["scores"] == []
