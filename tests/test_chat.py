"""The chat prompt format (`prompt.format: chat`) end to end on CPU: the tiny model's chat template, its
answers read as reasoning then a fenced program, SFT, a GRPO step, every backend, eval and search."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from coder_rl.data import DataConfig, load_problems
from coder_rl.errors import UserError
from coder_rl.integrations.scoring import RewardScorer, label_problem
from coder_rl.integrations.trl import CodeReward
from coder_rl.trajectory import CHAT_TASK, PromptConfig, policy_prompt, read_completion, statement
from pseudocode import Action, Step, fence, format_steps
from sandbox import Sandbox

CHAT = PromptConfig(format="chat")
ROWS = [
    ("Read n and print twice n.", "print(2 * int(input()))", ["3\n", "5\n"], ["6\n", "10\n"]),
    ("Read n and print n plus one.", "print(int(input()) + 1)", ["3\n", "5\n"], ["4\n", "6\n"]),
]


def written_program(text: str) -> str | None:
    """The test's own reading of a chat answer: the last ```python block after any reasoning."""
    answer = text.rsplit("</think>", 1)[-1]
    blocks = [b for b in re.findall(r"```(?:python)?[ \t]*\n(.*?)(?:```|$)", answer, re.DOTALL) if b.strip()]
    return blocks[-1].rstrip() + "\n" if blocks else None


@pytest.fixture(scope="module")
def chat_data(tmp_path_factory: pytest.TempPathFactory) -> DataConfig:
    """Two TACO rows with one-line references, so a tiny model learns their answers in seconds."""
    path = tmp_path_factory.mktemp("chat-data") / "rows.jsonl"
    rows = [
        {"question": q, "solutions": json.dumps([code]), "difficulty": "EASY",
         "input_output": json.dumps({"inputs": inputs, "outputs": outputs})}
        for q, code, inputs, outputs in ROWS
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return DataConfig(dataset="taco", path=str(path))


@pytest.fixture(scope="module")
def chat_policy(
    tiny_model_dir: Path, chat_data: DataConfig, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The tiny model warm-started in the chat format on the references (`rl sft`), so that some of its
    answers hold a fenced program and some do not."""
    from coder_rl.rl.sft import PolicySFTConfig, run_policy_sft

    cfg = PolicySFTConfig(
        source="references", data=chat_data, model=str(tiny_model_dir), prompt=CHAT, device="cpu",
        output_dir=str(tmp_path_factory.mktemp("chat-sft")), references_per_problem=1,
        trainer={"max_steps": 60, "learning_rate": 1e-2, "per_device_train_batch_size": 2, "logging_steps": 1},
    )  # fmt: skip
    final, losses = run_policy_sft(cfg)
    assert losses[-1] < losses[0] / 4
    return final


# ---------------------------------------------------------------- prompts and answers


def test_a_chat_prompt_is_system_and_user_messages_stating_the_problem():
    problem = load_problems(DataConfig(dataset="sample", limit=1)).problems[0]
    system, user = policy_prompt(problem, CHAT)
    assert system == {"role": "system", "content": CHAT.system}
    assert user["role"] == "user" and user["content"].endswith(CHAT_TASK)
    assert problem.question.strip() in user["content"] and "### Steps" not in user["content"]
    # no system message when it is empty; a statement from an exported record reads alike
    assert policy_prompt(statement(problem), PromptConfig(format="chat", system="")) == [user]


@pytest.mark.parametrize(
    ("answer", "program", "errors"),
    [
        ("Double it.\n```python\nprint(2 * int(input()))\n```", "print(2 * int(input()))\n", {}),
        # the program is the last block of the answer, never a draft inside the reasoning
        ("<think>\n```python\ndraft()\n```\n</think>\nFinal:\n```python\nfinal()\n```\n", "final()\n", {}),
        ("<think>\n```python\ndraft()\n```\n</think>\nI give up.", None, {"no_code_block": 1}),
        # a template that opens <think> in the prompt: the answer starts inside it
        ("plan it\n</think>\n```py\nx = 1\n```", "x = 1\n", {}),
        ("<think>still thinking ```python\nx = 1\n```", None, {"unclosed_think": 1, "no_code_block": 1}),
        ("Sure:\n```python\nprint(1)\n", "print(1)\n", {"unclosed_code_block": 1}),  # cut by max_tokens
        ("print(1)", None, {"no_code_block": 1}),  # code without a fence: not the chat format's shape
        ("```cpp\nint main() {}\n```", None, {"no_code_block": 1}),
    ],
)
def test_a_chat_answer_is_read_as_reasoning_then_its_last_fenced_block(answer, program, errors):
    read = read_completion(answer, "chat")
    assert read.program == program and dict(read.errors) == errors
    assert read.well_formed == (not errors)


def test_under_a_template_that_opens_think_an_unfinished_answer_has_no_program():
    """chat_think (the R1 distills' template ends the prompt with `<think>`): no `</think>`, no answer."""
    cut = "Let me try\n```python\nprint(1)\n```\nhmm, but wait"
    assert read_completion(cut, "chat").program == "print(1)\n"  # a template that opens nothing
    read = read_completion(cut, "chat_think")
    assert read.program is None and read.errors == {"unclosed_think": 1, "no_code_block": 1}
    done = read_completion("draft ```python\nx = 0\n```\n</think>\n```python\nx = 1\n```", "chat_think")
    assert done.program == "x = 1\n" and done.well_formed


def test_the_bench_prompts_in_steps_and_sft_refuses_chat_think():
    from pydantic import ValidationError

    from coder_rl.bench.learning import LearningBenchConfig
    from coder_rl.rl.sft import PolicySFTConfig, read_examples

    with pytest.raises(ValidationError, match="the bench prompts in steps"):
        LearningBenchConfig(prompt=CHAT)
    with pytest.raises(UserError, match="warm-start in chat"):
        read_examples(PolicySFTConfig(source="references", prompt={"format": "chat_think"}))


def test_a_chat_answer_in_steps_keeps_its_steps_for_the_prm():
    steps = [Step(Action.DEFINE, "MAIN: double n"), Step(Action.GENERATE, fence("print(2 * int(input()))"))]
    read = read_completion(format_steps(steps), "chat")
    assert list(read.steps) == steps and read.program == "print(2 * int(input()))\n" and read.well_formed


def test_the_prm_scores_the_steps_a_chat_answer_writes(local_box):
    steps = [Step(Action.DEFINE, "MAIN: double n"), Step(Action.GENERATE, fence("print(2 * int(input()))"))]
    io = json.dumps({"inputs": ["3\n"], "outputs": ["6\n"]})

    def prm(items):  # test only: each step's score is its length over 100
        seen.extend(items)
        return [[len(step.text) / 100 for step in given] for _, given in items]

    seen: list = []
    scorer = RewardScorer(local_box, prm, format="chat")
    with_steps, plain = scorer.score(
        [label_problem(io, "Double n.")] * 2, [format_steps(steps), fence("print(0)")]
    )
    assert with_steps.step_scores == [len(s.text) / 100 for s in steps] and plain.step_scores == []
    assert seen[0][1] == steps  # the PRM reads exactly the steps written, after the problem's statement
    assert with_steps.outcome == 1.0 and plain.outcome == 0.0


def test_the_format_reward_rejects_a_chat_answer_without_a_fenced_block(local_box):
    reward = CodeReward(local_box, format_weight=0.5, format="chat")
    io = json.dumps({"inputs": ["3\n"], "outputs": ["6\n"]})
    answers = ["Easy.\n```python\nprint(2 * int(input()))\n```", "print(2 * int(input()))", "I am not sure."]
    completions = [[{"role": "assistant", "content": a}] for a in answers]
    prompts = [[{"role": "user", "content": "Double n."}]] * 3
    assert asyncio.run(reward(prompts=prompts, completions=completions, input_output=[io] * 3)) == [
        1.5,
        0.0,
        0.0,
    ]
    # the same answers read in the steps format: none is a run of steps
    judged = RewardScorer(local_box, format_weight=0.5).score([label_problem(io)] * 3, answers)
    assert [j.format for j in judged] == [0.0, 0.0, 0.0]


def test_step_level_search_refuses_chat_prompts_and_its_defaults_leave_it_out():
    from coder_rl.mcts.synthesize import SynthesizeConfig, run_synthesize
    from coder_rl.search.run import SearchConfig, resolved

    assert resolved(SearchConfig(prompt=CHAT)).methods == ["best_of_n"]
    with pytest.raises(UserError, match="methods mcts search step by step.*prompt.format steps"):
        resolved(SearchConfig(prompt=CHAT, methods=["best_of_n", "mcts"]))
    with pytest.raises(UserError, match="mcts synthesize searches step by step"):
        run_synthesize(SynthesizeConfig(prompt=CHAT))


# ---------------------------------------------------------------- backends


def test_the_hf_backend_renders_chat_prompts_with_the_models_template(tiny_model_dir):
    from transformers import AutoTokenizer

    from coder_rl.policy import PolicyConfig, SamplingParams, load_policy

    messages = policy_prompt(load_problems(DataConfig(dataset="sample", limit=1)).problems[0], CHAT)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered.startswith("<|im_start|>system\n") and rendered.endswith("<|im_start|>assistant\n")
    policy = load_policy(PolicyConfig(model=str(tiny_model_dir), device="cpu"))
    try:
        greedy = SamplingParams(max_tokens=12, temperature=0)
        [[chat]] = policy.generate([messages], greedy)
        assert chat.prompt_tokens == len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
        [[text]] = policy.generate([rendered], greedy)
        assert chat.text == text.text  # the same tokens: the template writes every special token itself
        tokenizer.chat_template = None
        policy.tokenizer = tokenizer
        with pytest.raises(UserError, match="has none"):
            policy.generate([messages], greedy)
    finally:
        policy.close()


def test_the_openai_backend_sends_chat_prompts_to_chat_completions(tiny_model_dir):
    from coder_rl.policy import PolicyConfig, SamplingParams, load_policy
    from tests.openai_server import create_app, serve

    messages = [{"role": "user", "content": "Write a program."}]
    local = load_policy(PolicyConfig(model=str(tiny_model_dir), device="cpu"))
    try:
        with serve(create_app(local)) as base_url:
            remote = load_policy(PolicyConfig(backend="openai", model="tiny", base_url=base_url))
            params = SamplingParams(n=3, max_tokens=10, temperature=1.0, seed=1, logprobs=True)
            [answers] = remote.generate([messages], params)
        [direct] = local.generate([messages], params)
    finally:
        local.close()
    assert [a.text for a in answers] == [d.text for d in direct]
    assert [a.num_tokens for a in answers] == [len(a.token_logprobs) for a in answers]


# ---------------------------------------------------------------- training and evaluation


def test_chat_sft_examples_are_conversational_and_hold_the_steps():
    from coder_rl.rl.sft import reference_examples

    problems = load_problems(DataConfig(dataset="sample", limit=2)).problems
    examples = reference_examples(problems, 1, CHAT)
    assert len(examples) == 2  # one per reference: no per-step examples, nothing searches chat by step
    for problem, example in zip(problems, examples, strict=True):
        assert example["prompt"] == policy_prompt(problem, CHAT)
        [answer] = example["completion"]
        assert answer["role"] == "assistant"
        read = read_completion(answer["content"], "chat")
        assert read.well_formed and read.program == problem.solutions[0].strip() + "\n"
        assert [s.action for s in read.steps][-1] is Action.GENERATE


@pytest.mark.slow
def test_a_chat_grpo_step_rewards_exactly_the_program_the_model_wrote(
    chat_policy, chat_data, tmp_path, monkeypatch
):
    """One GRPO step on the chat-templated tiny model: TRL renders the messages with the template, and the
    reward runs the last fenced block of each answer, nothing else; the format reward is 1 exactly for
    the answers that end in a closed ```python block."""
    from coder_rl.rl.config import RLConfig
    from coder_rl.rl.grpo import run_grpo

    ran: list[str] = []
    seen: list[tuple[str, str, float, float | None]] = []
    run_batch, score = Sandbox.run_batch, RewardScorer.score

    def recording_run(self, batch, *args, **kwargs):
        ran.extend(code for code, _ in batch)
        return run_batch(self, batch, *args, **kwargs)

    def recording_score(self, problems, completions, step=0):
        judged = score(self, problems, completions, step)
        seen.extend(
            (p.id, c, j.format, j.reward) for p, c, j in zip(problems, completions, judged, strict=True)
        )
        return judged

    prompted: list = []
    original = CodeReward.__call__

    async def recording_call(self, *args, **kwargs):
        prompted.extend(zip(kwargs["prompts"], kwargs["problem_id"], strict=True))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(Sandbox, "run_batch", recording_run)
    monkeypatch.setattr(RewardScorer, "score", recording_score)
    monkeypatch.setattr(CodeReward, "__call__", recording_call)
    cfg = RLConfig(
        data=chat_data, model=str(chat_policy), output_dir=str(tmp_path), device="cpu", prompt=CHAT,
        sandbox={"workers": 2}, format_weight=0.5,
        grpo={"max_steps": 1, "per_device_train_batch_size": 8, "num_generations": 8, "max_completion_length": 80,
              "learning_rate": 1e-3, "save_steps": 1},
    )  # fmt: skip
    result = run_grpo(cfg)
    problems = {p.id: p for p in load_problems(chat_data).problems}
    assert prompted and all(prompt == policy_prompt(problems[pid], CHAT) for prompt, pid in prompted)
    written = [written_program(text) for _, text, _, _ in seen]
    assert any(written), "the warm-started model wrote no program: the check below would be empty"
    assert ran == [program for program in written if program is not None]
    for (_, text, fmt, reward), program in zip(seen, written, strict=True):
        closed = program is not None and read_completion(text, "chat").errors == {}
        assert fmt == float(closed)
        if program is None:
            assert reward == 0.0  # nothing ran and the format reward gave nothing
    logged = next(e for e in result.log_history if "reward/format" in e)
    assert logged["reward/format"] == pytest.approx(sum(f for _, _, f, _ in seen) / len(seen))


@pytest.mark.slow
def test_eval_in_chat_format_measures_the_chat_model(chat_policy, chat_data, tmp_path):
    from coder_rl.evaluate import EvalConfig, PassRateConfig, run_eval

    eval_cfg = PassRateConfig(samples=4, max_tokens=80, temperature=1.0, prompt=CHAT)
    report = run_eval(
        EvalConfig(
            data=chat_data,
            policy={"model": str(chat_policy), "device": "cpu"},
            eval=eval_cfg,
            sandbox={"workers": 2},
            output_dir=str(tmp_path / "eval"),
        ),  # fmt: skip
        quiet=True,
    )
    records = [json.loads(line) for line in (tmp_path / "eval" / "samples.jsonl").read_text().splitlines()]
    flat = [s for r in records for s in r["samples"]]
    assert report["problems"] == 2 and len(flat) == 8
    assert report["format"] == sum(s["well_formed"] for s in flat) / 8 > 0
    assert report["pass_at_1"] == sum(s["pass_fraction"] == 1.0 for s in flat) / 8
    # the references, fenced as a chat answer writes them, pass and have the chat format's shape
    reference = run_eval(
        EvalConfig(
            data=chat_data,
            eval=eval_cfg,
            reference=True,
            sandbox={"workers": 2},
            output_dir=str(tmp_path / "reference"),
        ),  # fmt: skip
        quiet=True,
    )
    assert reference["pass_at_1"] == 1.0 and reference["format_failures"] == 0.0


@pytest.mark.slow
def test_a_chat_ppo_update_prompts_through_the_template_and_reads_chat_answers(
    chat_policy, chat_data, tmp_path, monkeypatch
):
    import coder_rl.rl.ppo as ppo
    from coder_rl.rl.config import RLConfig
    from coder_rl.rl.run import run_rl

    rendered: list[str] = []
    seen: list[tuple[str, float]] = []
    encode, score = ppo.encode_prompts, RewardScorer.score

    def recording_encode(tokenizer, prompts):
        batch = encode(tokenizer, prompts)
        rendered.extend(tokenizer.decode(ids, skip_special_tokens=False) for ids in batch["input_ids"])
        return batch

    def recording_score(self, problems, completions, step=0):
        judged = score(self, problems, completions, step)
        seen.extend((c, j.format) for c, j in zip(completions, judged, strict=True))
        return judged

    monkeypatch.setattr(ppo, "encode_prompts", recording_encode)
    monkeypatch.setattr(RewardScorer, "score", recording_score)
    cfg = RLConfig(
        algorithm="ppo", data=chat_data, model=str(chat_policy), output_dir=str(tmp_path), device="cpu",
        prompt=CHAT, sandbox={"workers": 2}, format_weight=0.5,
        ppo={"max_steps": 1, "batch_size": 2, "mini_batch_size": 2, "num_ppo_epochs": 1, "max_completion_length": 80,
             "learning_rate": 1e-3, "save_steps": 1},
    )  # fmt: skip
    run_rl(cfg)
    assert rendered and all(
        "<|im_start|>system\n" in text and text.endswith("<|im_start|>assistant\n") for text in rendered
    )
    assert seen and all(fmt == float(read_completion(text, "chat").well_formed) for text, fmt in seen)
