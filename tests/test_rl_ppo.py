"""PPO with dense rewards: each step's PRM score lands on the token that closes the step, the rewards
of a completion sum to φ + format, GAE is the textbook recursion, and a run updates, saves and resumes."""

from __future__ import annotations

import pytest

from coder_rl.data import Problem
from coder_rl.integrations.scoring import RewardScorer
from coder_rl.rewards import combined
from coder_rl.rl import RLConfig
from coder_rl.rl.ppo import (
    _logprobs,
    batch_indices,
    dense_rewards,
    gae,
    run_ppo,
    sampling,
    token_positions,
    token_rewards,
)
from coder_rl.trajectory import OPENING as OPEN
from pseudocode import parse_steps
from sandbox import StdioCase

# What the policy writes after the prompt (which ends with OPEN): two closed steps, code in the second.
COMPLETION = (
    "read n; print twice n\n</step>\n"
    '<step action="generate">\n```python\nprint(2 * int(input()))\n```\n</step>\n'
)
PROBLEM = Problem(id="p", question="double", tests=[StdioCase("2\n", "4\n"), StdioCase("3\n", "6\n")])


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def encode(tokenizer, *pieces: str) -> list[int]:
    """Pieces tokenized one by one: a tokenization the policy may sample, though not the canonical one."""
    return [i for piece in pieces for i in tokenizer.encode(piece, add_special_tokens=False)]


def first_covering(tokenizer, ids: list[int], end: int) -> int:
    """The reference answer, by brute force: the first prefix whose text holds text[:end]."""
    text = tokenizer.decode(ids)
    return next(i for i in range(len(ids)) if tokenizer.decode(ids[: i + 1]).startswith(text[:end]))


# ---------------------------------------------------------------- where step rewards land


@pytest.mark.parametrize(
    "text",
    [
        OPEN + COMPLETION,
        OPEN + "a\n</step>\n<step action=\"dream\">\nb\n</step>\n<step action=\"refine\">\n\n</step>\n"
        '<step action="refine">\nc\n</step><step action="generate">\nunclosed',
        "no steps at all",
        "",
    ],
)  # fmt: skip
def test_step_ends_are_the_closing_tags_of_the_steps_parse_steps_reads(text):
    ends = parse_steps(text).ends
    assert len(ends) == len(parse_steps(text).steps)
    assert all(text[:end].endswith("</step>") for end in ends)


def test_step_ends_of_a_hand_written_completion():
    text = OPEN + COMPLETION
    first = text.index("</step>") + len("</step>")
    assert parse_steps(text).ends == [first, len(text) - 1]  # the last step's `</step>` precedes a newline


def test_a_split_closing_tag_maps_to_the_token_holding_its_last_character(tokenizer):
    ids = encode(tokenizer, "ab", "</st", "ep>", "\nmore")
    pieces = [tokenizer.decode([i]) for i in ids]
    assert "".join(pieces).startswith("ab</step>") and "</step>" not in pieces  # split, as promised
    end = len("ab</step>")
    (pos,) = token_positions(tokenizer, ids, [end])
    assert pieces[pos].endswith(">") and "".join(pieces[: pos + 1]) == "ab</step>"


def test_an_end_inside_a_token_maps_to_that_token(tokenizer):
    ids = encode(tokenizer, "a >= b")
    pieces = [tokenizer.decode([i]) for i in ids]
    assert " >=" in pieces
    # offset 3 ends after ">", inside the token " >="
    assert token_positions(tokenizer, ids, [3]) == [pieces.index(" >=")]


def test_a_token_that_stops_inside_a_character_does_not_count(tokenizer):
    # The tiny tokenizer writes "é" as two byte tokens: the first alone decodes to U+FFFD, one character
    # long, so a mapping by decoded length would stop a token early.
    ids = encode(tokenizer, "é</step>")
    assert tokenizer.decode(ids[:1]) == "\ufffd" and tokenizer.decode(ids[:2]) == "é"
    assert token_positions(tokenizer, ids, [1, len("é</step>")]) == [1, len(ids) - 1]


@pytest.mark.parametrize(
    "pieces",
    [
        (COMPLETION,),
        ("x = 1\n<", "/step>", "\n", '<step action="generate">\n', "é😀", "</", "step>"),
        ("ü", "</step>", "日本", "</step>\n", "```python\nprint(1)\n```", "</step>"),
    ],
)
def test_every_step_end_maps_to_the_first_token_that_completes_it(tokenizer, pieces):
    ids = encode(tokenizer, *pieces)
    ends = [e - len(OPEN) for e in parse_steps(OPEN + tokenizer.decode(ids)).ends]
    assert ends
    positions = token_positions(tokenizer, ids, ends)
    assert positions == [first_covering(tokenizer, ids, e) for e in ends]
    assert all(tokenizer.decode(ids[: p + 1]).endswith("</step>") for p in positions)


# ---------------------------------------------------------------- rewards sum to φ + format


def test_token_rewards_by_hand():
    cfg = RLConfig(
        rewards={"alpha_schedule": "constant", "alpha_start": 0.25, "gamma": 0.5}, format_weight=0.1
    )
    rewards = token_rewards(10, [2, 6], 1.0, [0.8, 0.4], 1.0, 0, cfg.rewards, cfg.format_weight)
    # step 0: 0.75·0.8/2; step 1: 0.75·0.5·0.4/2; last: 0.25·1 + 0.1·1
    assert rewards == pytest.approx([0, 0, 0.3, 0, 0, 0, 0.075, 0, 0, 0.35])
    assert sum(rewards) == pytest.approx(combined(1.0, [0.8, 0.4], 0, cfg.rewards) + 0.1)
    # No step scores (no PRM): the outcome alone, as `combined` gives it, plus the format.
    assert token_rewards(3, [0, 1], 0.5, [], 1.0, 0, cfg.rewards, cfg.format_weight) == pytest.approx(
        [0, 0, 0.6]
    )
    # The PRM scored only the first of two steps: m = 1.
    assert token_rewards(4, [0, 2], 0.0, [0.8], 0.0, 0, cfg.rewards, cfg.format_weight) == pytest.approx(
        [0.6, 0, 0, 0]
    )


def test_a_completions_rewards_sum_to_phi_plus_format(tokenizer, local_box):
    cfg = RLConfig(rewards={"alpha_schedule": "linear", "alpha_steps": 10, "gamma": 0.9}, format_weight=0.2)
    completions = [encode(tokenizer, COMPLETION), encode(tokenizer, "just words\n</st", "ep>\n")]

    def fake_prm(items):  # any scores will do: the step's length
        return [[len(step.text) / 100 for step in steps] for _, steps in items]

    judged = RewardScorer(local_box, fake_prm, cfg.rewards).score(
        [PROBLEM] * 2, [tokenizer.decode(ids) for ids in completions], 3
    )  # as PPO's rollout scores them
    outcomes, scores, formats = (
        [j.outcome for j in judged],
        [j.step_scores for j in judged],
        [j.format for j in judged],
    )
    assert outcomes == [1.0, 0.0] and formats == [1.0, 0.0] and [len(s) for s in scores] == [2, 1]
    for ids, outcome, steps, fmt in zip(completions, outcomes, scores, formats, strict=True):
        rewards = dense_rewards(
            tokenizer, ids, len(ids) + 1, outcome, steps, fmt, 3, cfg.rewards, cfg.format_weight
        )  # + an EOS
        assert sum(rewards) == pytest.approx(combined(outcome, steps, 3, cfg.rewards) + 0.2 * fmt)
        closing = [i for i in range(len(ids)) if tokenizer.decode(ids[: i + 1]).endswith("</step>")]
        assert len(closing) == len(steps) and all(rewards[i] > 0 for i in closing)
        assert not any(
            r for i, r in enumerate(rewards) if i not in closing and i != len(ids)
        )  # EOS: α·R + w·f


# ---------------------------------------------------------------- GAE, batches, log-probabilities


def test_gae_by_hand():
    import torch

    rewards = torch.tensor([[1.0, 0.0, 2.0, 5.0], [0.0, 0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 1.0, 0.5, 9.0], [0.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])  # row 0's last token is padding
    advantages, returns = gae(rewards, values, mask, gamma=0.9, lam=0.8)
    # row 0: δ2 = 2 − 0.5 = 1.5; δ1 = 0.9·0.5 − 1 = −0.55; δ0 = 1 + 0.9·1 − 0.5 = 1.4; A_t = δ_t + 0.72·A_{t+1}
    a0 = [1.4 + 0.72 * (-0.55 + 0.72 * 1.5), -0.55 + 0.72 * 1.5, 1.5, 0.0]
    a1 = [0.72**3, 0.72**2, 0.72, 1.0]
    assert advantages.tolist() == [pytest.approx(a0), pytest.approx(a1)]
    assert returns.tolist() == [
        pytest.approx([a0[0] + 0.5, a0[1] + 1.0, a0[2] + 0.5, 0.0]),
        pytest.approx(a1),
    ]
    # γ = λ = 1 with no values: the advantage is the reward to go.
    advantages, _ = gae(rewards, torch.zeros_like(values), mask, gamma=1.0, lam=1.0)
    assert advantages.tolist() == [[3.0, 2.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]]


def test_batches_cycle_through_the_dataset_deterministically():
    picks = [batch_indices(5, 2, step, seed=3) for step in range(5)]  # two passes over 5 problems
    flat = [i for batch in picks for i in batch]
    assert sorted(flat[:5]) == sorted(flat[5:]) == list(range(5))
    assert picks == [batch_indices(5, 2, step, seed=3) for step in range(5)]
    assert picks != [batch_indices(5, 2, step, seed=4) for step in range(5)]


def test_logprobs_of_a_left_padded_batch_are_what_generate_sampled_from(tiny_model_dir, tokenizer):
    """The update's log-probabilities must be the rollout's: positions skip the left padding."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    # A generation_config like Qwen's Instruct models ship: run_ppo's sampling settings must undo it.
    model.generation_config.update(repetition_penalty=1.3, top_k=20, top_p=0.8, no_repeat_ngram_size=2)
    enc = tokenizer(["def f(x):\n    return", "x"], return_tensors="pt", padding=True, padding_side="left")
    assert not enc.attention_mask.all()
    torch.manual_seed(0)
    out = model.generate(**enc, **sampling(0.7, 8), pad_token_id=tokenizer.pad_token_id, output_scores=True,
                         return_dict_in_generate=True)  # fmt: skip
    context = enc.input_ids.shape[1]
    sampled = out.sequences[:, context:]
    expected = torch.stack(out.scores, 1).log_softmax(-1).gather(-1, sampled[..., None]).squeeze(-1)
    # Compare up to each row's first EOS (what follows is padding generate wrote, not sampled).
    eos = torch.isin(sampled, torch.tensor(model.generation_config.eos_token_id)).long()
    valid = (eos.cumsum(1) - eos) == 0
    mask = torch.cat([enc.attention_mask, valid.long()], dim=1)
    with torch.no_grad():
        logp = _logprobs(model, out.sequences, mask, context, 0.7)
    assert valid[:, 0].all() and torch.allclose(logp[valid], expected[valid], atol=1e-4)


# ---------------------------------------------------------------- end to end


@pytest.mark.slow
def test_a_ppo_update_changes_the_weights_saves_and_resumes(tiny_model_dir, tmp_path, monkeypatch):
    from safetensors.torch import load_file
    from transformers import GenerationMixin

    import coder_rl.rl.ppo as ppo

    steps_run: list[int] = []
    generating_in_train_mode: list[bool] = []
    generate = GenerationMixin.generate
    monkeypatch.setattr(
        GenerationMixin, "generate", lambda self, *a, **k: generating_in_train_mode.append(self.training) or generate(self, *a, **k)
    )  # fmt: skip
    original = ppo.batch_indices
    monkeypatch.setattr(
        ppo, "batch_indices", lambda n, b, step, seed: steps_run.append(step) or original(n, b, step, seed)
    )

    def config(max_steps: int) -> RLConfig:
        return RLConfig(
            algorithm="ppo", data={"dataset": "sample", "limit": 2}, model=str(tiny_model_dir),
            output_dir=str(tmp_path), device="cpu", sandbox={"workers": 2},
            ppo={"max_steps": max_steps, "batch_size": 2, "mini_batch_size": 2, "num_ppo_epochs": 1,
                 "max_completion_length": 12, "learning_rate": 1e-2, "save_steps": 1, "save_total_limit": 2,
                 "gradient_checkpointing": True},
        )  # fmt: skip

    result = run_ppo(config(1))
    assert steps_run == [0]
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(result.model_dir / "model.safetensors"))
    assert result.model_dir == tmp_path / "final"
    assert any(not before[name].equal(after[name]) for name in before if name in after)
    for name in ("model.safetensors", "tokenizer.json", "value.pt", "optimizer.pt", "rng.pt", "state.json"):
        assert (tmp_path / "checkpoint-1" / name).is_file()
    assert list((tmp_path / "runs").iterdir())  # TensorBoard events
    (entry,) = result.log_history
    keys = {"reward", "reward/outcome", "reward/pass_rate", "reward/format", "reward/alpha", "kl",
            "policy/clipfrac", "loss/policy", "loss/value", "completion_length", "step"}  # fmt: skip
    assert keys <= entry.keys() and entry["step"] == 1 and 1 <= entry["completion_length"] <= 12

    # More steps on the same directory: only the new one runs, and the log goes on.
    result = run_ppo(config(2))
    assert steps_run == [0, 1]
    assert [e["step"] for e in result.log_history] == [1, 2] and result.log_history[0] == entry
    assert (tmp_path / "checkpoint-2" / "state.json").is_file()
    # Finished: a rerun does nothing and returns the same.
    again = run_ppo(config(2))
    assert steps_run == [0, 1] and again.log_history == result.log_history
    # A third step: only the newest save_total_limit checkpoints stay.
    run_ppo(config(3))
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    # Every rollout sampled in eval mode (in train mode gradient checkpointing turns the KV cache off).
    assert generating_in_train_mode == [False, False, False]
