"""One trajectory format: every pipeline prompts the policy alike, the PRM scores exactly the steps the
policy wrote, a problem is described alike by every prompt, and replacing a problem's tests keeps it
call-based."""

from __future__ import annotations

import asyncio

import pytest

from coder_rl.data import DataConfig, Problem, load_problems
from coder_rl.policy.base import Completion, SamplingParams
from coder_rl.prompts import code_prompt, describe
from coder_rl.trajectory import (
    OPENING,
    next_step_prompt,
    policy_prompt,
    prm_input,
    prm_text,
    read_completion,
    read_trajectory,
    statement,
    step_completion,
)
from pseudocode import Action, Step, format_steps, parse_step_body, step_prompt
from pseudocode.prompts import problem_prompt
from pseudocode.steps import format_step
from sandbox import CallCase, StdioCase
from sandbox.cases import AssertCase
from tcg.prompts import tcg_prompt

STDIN = Problem(
    id="double", question="Print twice n.", tests=[StdioCase("2\n", "4\n")], solutions=["print(1)"]
)
CALL = Problem(
    id="add",
    question="Add two numbers.",
    tests=[CallCase("add", [1, 2], 3)],
    solutions=["def add(a, b):\n    return a + b\n"],
    starter_code="def add(a, b):\n",
)
# What a policy writes after `policy_prompt`, in the canonical step format: the prompt opened the define step.
COMPLETION = (
    "read n\n</step>\n"
    '<step action="refine">\ndouble it\n</step>\n'
    '<step action="generate">\n```python\nprint(2 * int(input()))\n```\n</step>\n'
)
STEPS = [
    Step(Action.DEFINE, "read n"),
    Step(Action.REFINE, "double it"),
    Step(Action.GENERATE, "```python\nprint(2 * int(input()))\n```"),
]


class Recorder:
    """A policy (a fake, for tests only) that records every prompt and writes `text` for each sample."""

    def __init__(self, text: str = COMPLETION) -> None:
        self.prompts: list[str] = []
        self.text = text

    def generate(self, prompts, params):
        self.prompts += prompts
        return [[Completion(self.text, 3, "stop") for _ in range(params.n)] for _ in prompts]

    def close(self) -> None:
        pass


class NoBox:
    """A sandbox (a fake) for pipelines whose programs this test does not run."""

    workers = 1

    def run_batch(self, items, *args, **kwargs):
        assert not items
        return []


class Stop(Exception):
    pass


# ---------------------------------------------------------------- the policy prompt


def test_the_policy_prompt_is_todays_first_step_prompt():
    for problem in (STDIN, CALL):
        assert policy_prompt(problem) == step_prompt(problem, [], Action.DEFINE)
        assert policy_prompt(problem).endswith(OPENING)
        assert policy_prompt(statement(problem)) == policy_prompt(problem)  # an exported record's prompt
        assert next_step_prompt(problem, [], Action.DEFINE) == policy_prompt(problem)


def test_every_pipeline_prompts_the_policy_alike(monkeypatch, local_box):
    """Evaluation, PPO, SFT, best-of-N, beam search and MCTS all show the policy `policy_prompt` first
    (GRPO's prompts are checked where a real GRPO step runs: tests/test_rl_grpo.py)."""
    import coder_rl.policy
    import coder_rl.rl.ppo
    from coder_rl.evaluate import PassRateConfig, pass_rate
    from coder_rl.mcts.search import MCTSConfig, ProblemSearch, run_round
    from coder_rl.rl.config import RLConfig
    from coder_rl.rl.ppo import _rollout
    from coder_rl.rl.sft import reference_examples
    from coder_rl.search.candidates import BeamConfig, beam_search, best_of_n

    problems = [STDIN, CALL]
    wanted = [policy_prompt(p) for p in problems]
    seen: dict[str, list[str]] = {}

    policy = Recorder("no program")
    monkeypatch.setattr(coder_rl.policy, "load_policy", lambda cfg: policy)
    pass_rate(coder_rl.policy.PolicyConfig(), problems, NoBox(), PassRateConfig(samples=1))
    seen["evaluate"] = policy.prompts

    def encode_prompts(tokenizer, prompts):
        seen["ppo"] = prompts
        raise Stop

    monkeypatch.setattr(coder_rl.rl.ppo, "encode_prompts", encode_prompts)
    with pytest.raises(Stop):
        _rollout(None, None, set(), None, None, problems, 0, RLConfig(), "cpu")

    # each problem's reference: the whole trajectory (after the policy prompt), then its generate step
    seen["sft"] = [e["prompt"] for e in reference_examples(problems, 1)[::2]]

    policy = Recorder()
    best_of_n(policy, problems, 2, SamplingParams())
    seen["best_of_n"] = policy.prompts

    policy = Recorder("plan\n</step>")
    beam_search(
        policy,
        lambda p, t: [[0.5] * len(s) for s in t],
        problems,
        2,
        BeamConfig(max_depth=2),
        SamplingParams(),
    )
    seen["beam"] = policy.prompts[: len(problems)]

    policy = Recorder("plan\n</step>")
    states = [ProblemSearch(p) for p in problems]
    run_round(policy, local_box, states, MCTSConfig(children=1), SamplingParams())
    seen["mcts"] = policy.prompts[: len(problems)]

    for name, prompts in seen.items():
        assert prompts == wanted, name


# ---------------------------------------------------------------- reading a completion


def test_a_completion_reads_as_its_steps_and_program():
    trajectory = read_completion(COMPLETION)
    assert trajectory.text == OPENING + COMPLETION == format_steps(STEPS)
    assert list(trajectory.steps) == STEPS and not trajectory.errors and trajectory.well_formed
    assert trajectory.program == "print(2 * int(input()))\n"
    assert [trajectory.text[:end].endswith("</step>") for end in trajectory.ends] == [True] * 3
    # a generate step cut before its `</step>` (max tokens) still has its program run, but is not well formed
    cut = read_completion(COMPLETION[: COMPLETION.rindex("</step>")])
    assert cut.program == trajectory.program and not cut.well_formed
    assert read_completion("no steps, no code").program is None


def test_a_step_written_for_the_next_step_prompt_reads_back_as_itself():
    for step in STEPS:
        assert parse_step_body(step.action, step_completion(step))[0] == step


# ---------------------------------------------------------------- what the PRM scores


def test_the_prm_reads_the_statement_then_the_steps():
    stated, steps = prm_input(STDIN, STEPS)
    assert stated == statement(STDIN) == problem_prompt(STDIN) and steps == STEPS
    assert prm_input(stated, STEPS) == (stated, STEPS)  # exported records hold the statement
    assert prm_text(stated, STEPS) == statement(STDIN) + format_steps(STEPS)


def test_the_prm_scores_exactly_the_text_the_policy_wrote(tiny_prm_dir, local_box, monkeypatch):
    """GRPO's reward, for real with an (untrained) tiny PRM: the tokens the PRM reads decode to the
    problem's statement, then what the policy wrote (re-opened), a step tag after each step."""
    import coder_rl.prm.model as prm_model
    from coder_rl.integrations.trl import CodeReward
    from coder_rl.prm import PRM
    from coder_rl.prm.model import STEP_TAG
    from coder_rl.rl.config import RLConfig

    prm = PRM(str(tiny_prm_dir))
    built = []
    real = prm_model.build_input
    monkeypatch.setattr(prm_model, "build_input", lambda *a: built.append(real(*a)) or built[-1])
    reward = CodeReward(local_box, {STDIN.id: STDIN}, prm, RLConfig().rewards)
    (value,) = asyncio.run(
        reward(prompts=[policy_prompt(STDIN)], completions=[COMPLETION], problem_id=[STDIN.id])
    )
    assert 0.0 <= value <= 1.0
    (item,) = built
    text = prm.tokenizer.decode(item.input_ids)
    assert text.replace(STEP_TAG, "") == statement(STDIN) + OPENING + COMPLETION
    assert text == statement(STDIN) + "".join(format_step(step) + STEP_TAG for step in STEPS)
    assert len(item.tag_positions) == len(STEPS)


# ---------------------------------------------------------------- one description of a problem


def test_every_prompt_describes_a_problem_alike():
    hidden = Problem(id="h", question="Q", tests=[], metadata={"fn_name": "solve"})
    asserts = Problem(id="a", question="Q", tests=[AssertCase("assert f(1) == 2")])
    assert [describe(p).runs for p in (STDIN, CALL, hidden, asserts)] == ["stdin", "call", "call", "assert"]
    for problem in (CALL, hidden):
        name = f"`{problem.fn_name}`"
        assert name in code_prompt(problem) and name in problem_prompt(problem)
        assert f"<call>{problem.fn_name}</call>" in tcg_prompt(problem, 2)
    for prompt in (code_prompt(STDIN), problem_prompt(STDIN)):
        assert "standard input" in prompt
    assert "assert" in code_prompt(asserts) and "assert" in problem_prompt(asserts)
    for prompt in (code_prompt(CALL), problem_prompt(CALL), tcg_prompt(CALL, 2)):
        assert "```python\ndef add(a, b):\n```" in prompt


def test_the_statement_is_byte_identical_to_before():
    assert problem_prompt(CALL) == (
        "### Problem\nAdd two numbers.\n"
        "The program defines `add` (a function or a method of `class Solution`); it is called.\n"
        "Starter code:\n```python\ndef add(a, b):\n```\n\n### Steps\n"
    )
    assert problem_prompt(STDIN) == (
        "### Problem\nPrint twice n.\nThe program reads standard input and prints the answer.\n\n### Steps\n"
    )


# ---------------------------------------------------------------- new tests keep a problem call-based


def test_replacing_a_call_based_problems_tests_keeps_it_call_based():
    called = next(p for p in load_problems(DataConfig(dataset="sample")).problems if p.fn_name)
    for tests in ([], [StdioCase("1\n", "1\n")]):
        replaced = called.with_tests(tests)
        assert replaced.tests == tests and replaced.fn_name == called.fn_name
        assert statement(replaced) == statement(called) and policy_prompt(replaced) == policy_prompt(called)
    assert STDIN.with_tests([]).metadata == {}  # a stdin problem gains no fn_name


def test_tcg_reward_tests_keep_a_call_based_problem_call_based(monkeypatch):
    """tests.source=tcg with a TCG that writes nothing usable: the problem MCTS then searches, and exports
    to the PRM, is still stated as called by name (it used to read "reads standard input")."""
    import coder_rl.policy
    from tcg.reward_tests import RewardTestsConfig, with_reward_tests

    monkeypatch.setattr(coder_rl.policy, "load_policy", lambda cfg: Recorder("nothing parses"))
    cfg = RewardTestsConfig(source="tcg", tcg_model="a-tcg", samples=1)
    (rewarded,) = with_reward_tests([CALL], cfg, "hf", "cpu")
    assert rewarded.tests == [] and describe(rewarded).runs == "call"
    assert statement(rewarded) == statement(CALL) and "standard input" not in statement(rewarded)


def test_search_selection_tests_keep_a_call_based_problem_call_based(local_box):
    from coder_rl.mcts.search import MCTSConfig
    from coder_rl.search.candidates import mcts

    policy = Recorder("plan\n</step>")
    list(mcts(policy, local_box, [CALL], [[]], [1], MCTSConfig(children=1), SamplingParams()))
    assert policy.prompts[0] == policy_prompt(CALL)


def test_read_trajectory_of_an_exported_record():
    assert read_trajectory(format_steps(STEPS)) == read_completion(COMPLETION)
