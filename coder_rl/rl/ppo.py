"""PPO with the PRM as a dense reward model (`coder-rl rl run --set algorithm=ppo`).

TRL 1.16 removed its PPOTrainer, so this is a compact PPO in one file, after TRL's old PPOv2. Each update:

1. rollouts: `batch_size` problems, one sampled completion each after the step prompt;
2. rewards, placed on tokens as o1-Coder's φ suggests: step j's PRM score, (1 − α(t))·γ^j·r_j/m, on the
   token that closes its `</step>`; α(t)·outcome + format_weight·format on the last token; so a
   completion's rewards sum to the φ GRPO would give it. Minus kl_coef·(logp − ref_logp) on every token;
3. GAE on a value model (the policy's backbone with a scalar head), whitened advantages;
4. `num_ppo_epochs` passes over mini-batches: clipped policy loss + vf_coef · clipped value loss.

Checkpoints (policy, value model, optimizer, RNG, log) go to output_dir/checkpoint-N; a rerun resumes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coder_rl.devices import resolve_device
from coder_rl.errors import UserError
from coder_rl.integrations.scoring import RewardScorer
from coder_rl.policy.base import encode_prompts
from coder_rl.rewards import RewardConfig, alpha
from coder_rl.rl.config import RLConfig, RLResult
from coder_rl.rl.inputs import load_prm, rewarded_problems
from coder_rl.rundir import replace_dir
from coder_rl.trajectory import PromptFormat, policy_prompt, read_completion

if TYPE_CHECKING:
    import torch


def _decode(tokenizer: Any, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=True)


def token_positions(tokenizer: Any, ids: Sequence[int], ends: Sequence[int]) -> list[int]:
    """For each character offset `end` of `_decode(ids)`, the token that completes the text up to it.

    Decoding prefixes keeps to the tokens the policy sampled (re-tokenizing the text may split it
    otherwise). A prefix counts once its text starts with text[:end]: comparing text, not lengths,
    passes over a token that stops inside a multi-byte character (it decodes to U+FFFD). Prefixes only
    grow, so a binary search finds the first such token."""
    text = _decode(tokenizer, ids)
    positions = []
    for end in ends:
        lo, hi = 0, len(ids) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if _decode(tokenizer, ids[: mid + 1]).startswith(text[:end]):
                hi = mid
            else:
                lo = mid + 1
        positions.append(lo)
    return positions


def token_rewards(
    n_tokens: int, step_tokens: Sequence[int], outcome: float, scores: Sequence[float], fmt: float,
    step: int, rewards: RewardConfig, format_weight: float,
) -> list[float]:  # fmt: skip
    """φ spread over a completion's tokens; they sum to combined(outcome, scores, step) + w·format.

    Without step scores `combined` is the outcome alone (not α·outcome), and so is the last token's."""
    a, m = alpha(step, rewards), len(scores)
    out = [0.0] * n_tokens
    # The PRM may score fewer steps than were written (it cuts those past its max length): zip stops there.
    for j, (pos, score) in enumerate(zip(step_tokens, scores, strict=False)):
        out[pos] += (1 - a) * rewards.gamma**j * score / m
    out[-1] += (a * outcome if m else outcome) + format_weight * fmt
    return out


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns, (batch, T). Padding (mask 0) holds no reward and no value, so the last
    real token bootstraps from 0: the episode ends there."""
    import torch

    rewards, values = rewards * mask, values * mask
    advantages, last = torch.zeros_like(rewards), torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(last)
        last = rewards[:, t] + gamma * next_value - values[:, t] + gamma * lam * last
        advantages[:, t] = last
    return advantages * mask, (advantages + values) * mask


def batch_indices(n: int, batch_size: int, step: int, seed: int) -> list[int]:
    """Update `step`'s problems: the dataset in a fresh seeded order per pass, `batch_size` at a time.
    A function of the step alone, so a resumed run goes on where it stopped."""
    picks, orders = [], {}
    for k in range(step * batch_size, (step + 1) * batch_size):
        if k // n not in orders:
            orders[k // n] = random.Random(f"{seed}/{k // n}").sample(range(n), n)
        picks.append(orders[k // n][k % n])
    return picks


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def _whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    mean = _masked_mean(x, mask)
    out = (x - mean) * (_masked_mean((x - mean) ** 2, mask) + 1e-8).rsqrt()
    return (out if shift_mean else out + mean) * mask


def _logprobs(
    model: Any, ids: torch.Tensor, mask: torch.Tensor, context: int, temperature: float
) -> torch.Tensor:
    """Log-probabilities of the response tokens (those after `context`), at the sampling temperature."""
    import torch

    # Left padding: positions count real tokens only, as `generate` numbered them.
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False,
                   logits_to_keep=ids.shape[1] - context + 1).logits[:, :-1]  # fmt: skip
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return logp.gather(-1, ids[:, context:, None]).squeeze(-1)


def _values(value: Any, ids: torch.Tensor, mask: torch.Tensor, context: int) -> torch.Tensor:
    """The value of the state before each response token (the hidden state that predicts it)."""
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    hidden = value["backbone"](input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False)
    return value["head"](hidden.last_hidden_state[:, context - 1 : -1]).squeeze(-1).float()


def _last_checkpoint(out: Path) -> Path | None:
    # state.json is written last: a checkpoint without it was interrupted and is skipped.
    done = [p for p in out.glob("checkpoint-*") if (p / "state.json").is_file() and p.name[11:].isdigit()]
    return max(done, key=lambda p: int(p.name[11:]), default=None)


def dense_rewards(
    tokenizer: Any, ids: Sequence[int], n_tokens: int, outcome: float, scores: Sequence[float], fmt: float,
    step: int, rewards: RewardConfig, format_weight: float, format: PromptFormat = "steps",
) -> list[float]:  # fmt: skip
    """A completion's per-token rewards; `ids` are its tokens less the EOS, `n_tokens` counts the EOS."""
    text = _decode(tokenizer, ids)
    read = read_completion(text, format)
    opened = len(read.text) - len(text)  # what `read_completion` put before the completion (`OPENING`)
    ends = [end - opened for end in read.ends]  # in the completion
    positions = token_positions(tokenizer, ids, ends)
    return token_rewards(n_tokens, positions, outcome, scores, fmt, step, rewards, format_weight)


def _models(cfg: RLConfig, checkpoint: Path | None, device: torch.device) -> tuple[Any, Any, Any, Any]:
    """Tokenizer, policy (from the checkpoint when resuming), frozen reference (None without KL) and
    value model: the policy's backbone with a scalar head, in a ModuleDict for one state_dict."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(cfg.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Trained weights stay float32 (bf16 is autocast, as in the HF Trainer); the frozen reference may be bf16.
    fp32, ref_dtype = torch.float32, torch.bfloat16 if cfg.ppo.bf16 else torch.float32
    policy = AutoModelForCausalLM.from_pretrained(checkpoint or cfg.model, dtype=fp32).to(device)
    ref = None
    if cfg.ppo.kl_coef > 0:
        ref = AutoModelForCausalLM.from_pretrained(cfg.model, dtype=ref_dtype).to(device).eval()
    # The value model starts from the policy's backbone, not the PRM's: the PRM's tokenizer has an extra
    # token (the step tag), and sharing the policy's tokenizer means one tokenization serves both.
    backbone = AutoModel.from_pretrained(cfg.model, dtype=fp32)
    head = torch.nn.Linear(backbone.config.get_text_config().hidden_size, 1)
    value = torch.nn.ModuleDict({"backbone": backbone, "head": head}).to(device)
    for model in (policy, value):
        # The ratio must be exactly 1 before the first step: no dropout between rollout and update.
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
            if isinstance(getattr(module, "attention_dropout", None), float):
                module.attention_dropout = 0.0
    if cfg.ppo.gradient_checkpointing:
        for model in (policy, backbone):
            # Non-reentrant: the recomputation needs no gradient on its inputs (token ids have none).
            model.activation_checkpointing_enable({"use_reentrant": False})
    return tokenizer, policy, ref, value


def sampling(temperature: float, max_new_tokens: int) -> dict[str, Any]:
    """`generate` settings whose sampling distribution is exactly softmax(logits / T), the one the update
    scores: whatever else the model's generation_config holds (Qwen's Instruct models ship a repetition
    penalty, top-k and top-p) is undone."""
    return {
        "do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0, "min_p": 0.0, "typical_p": 1.0,
        "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "max_new_tokens": max_new_tokens,
    }  # fmt: skip


def _autocast(bf16: bool, device: torch.device) -> Any:
    """bf16 is autocast over float32 weights, as in the HF Trainer; backward runs outside it."""
    import torch

    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


@dataclass
class Rollout:
    """One batch of sampled completions, their scores and per-token rewards."""

    ids: torch.Tensor  # (batch, context + response): left-padded prompts, then the sampled tokens
    mask: torch.Tensor  # attention mask over ids
    response_mask: torch.Tensor  # (batch, response): 1 up to and including a completion's EOS
    rewards: torch.Tensor  # (batch, response): dense rewards, before the KL penalty
    context: int
    outcomes: list[float | None]  # None: a sandbox fault, no reward; the sample is left out of the update
    scores: list[list[float]]
    formats: list[float]
    lengths: list[int]


def _rollout(
    policy: Any, tokenizer: Any, eos: set[int], box: Any, prm: Any, batch: list[Any], step: int, cfg: RLConfig,
    device: torch.device,
) -> Rollout:  # fmt: skip
    """Sample one completion per problem and score it: the sandbox, the PRM and the format."""
    import torch

    enc = encode_prompts(tokenizer, [policy_prompt(p, cfg.prompt) for p in batch]).to(device)
    context = enc.input_ids.shape[1]
    policy.eval()  # in train mode, gradient checkpointing turns the KV cache off: generation goes wrong
    with torch.no_grad(), _autocast(cfg.ppo.bf16, device):
        ids = policy.generate(**enc, **sampling(cfg.ppo.temperature, cfg.ppo.max_completion_length),
                              pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    # A completion runs to its first EOS, included: stopping is an action the policy takes.
    response = ids[:, context:].tolist()
    lengths = [next((i + 1 for i, t in enumerate(r) if t in eos), len(r)) for r in response]
    own = [r[: n - (r[n - 1] in eos)] for r, n in zip(response, lengths, strict=True)]  # less the EOS
    scorer = RewardScorer(box, prm.score_batch if prm else None, cfg.rewards, format=cfg.prompt.format)
    judged = scorer.score(batch, [_decode(tokenizer, r) for r in own], step)
    outcomes, scores = [j.outcome for j in judged], [j.step_scores for j in judged]
    formats = [j.format for j in judged]
    known = [0.0 if o is None else o for o in outcomes]  # a fault's row is masked out below
    rows = [dense_rewards(tokenizer, *args, step, cfg.rewards, cfg.format_weight, cfg.prompt.format)
            for args in zip(own, lengths, known, scores, formats, strict=True)]  # fmt: skip
    width = ids.shape[1] - context
    response_mask = (
        torch.arange(width, device=device)[None] < torch.tensor(lengths, device=device)[:, None]
    ).float()
    return Rollout(
        ids=ids, mask=torch.cat([enc.attention_mask, response_mask.long()], dim=1), response_mask=response_mask,
        rewards=torch.tensor([row + [0.0] * (width - len(row)) for row in rows], device=device), context=context,
        outcomes=outcomes, scores=scores, formats=formats, lengths=lengths,
    )  # fmt: skip


def _update(
    policy: Any, ref: Any, value: Any, optimizer: Any, params: list[Any], r: Rollout, step: int, cfg: RLConfig
) -> dict[str, float]:
    """The KL-shaped rewards, GAE, then `num_ppo_epochs` passes of clipped policy and value losses."""
    import torch

    ppo = cfg.ppo
    # Samples without a reward (a sandbox fault) take no part: not in the whitening, nor in any loss.
    scored = torch.tensor([o is not None for o in r.outcomes], device=r.ids.device, dtype=torch.float)
    m_all = r.response_mask * scored[:, None]
    chunks = torch.arange(len(r.lengths)).split(ppo.mini_batch_size)
    policy.eval()
    value.eval()
    with torch.no_grad(), _autocast(cfg.ppo.bf16, r.ids.device):
        old_logp = torch.cat(
            [_logprobs(policy, r.ids[i], r.mask[i], r.context, ppo.temperature) for i in chunks]
        )
        old_values = torch.cat([_values(value, r.ids[i], r.mask[i], r.context) for i in chunks]) * m_all
        kl = torch.zeros_like(old_logp)
        if ref is not None:
            ref_logp = torch.cat(
                [_logprobs(ref, r.ids[i], r.mask[i], r.context, ppo.temperature) for i in chunks]
            )
            kl = (old_logp - ref_logp) * m_all
    shaped = r.rewards - ppo.kl_coef * kl
    if ppo.whiten_rewards:
        shaped = _whiten(shaped, m_all, shift_mean=False)
    advantages, returns = gae(shaped, old_values, m_all, ppo.gamma, ppo.lam)
    advantages = _whiten(advantages, m_all)

    policy.train()
    value.train()
    stats: dict[str, list[float]] = {"policy/clipfrac": [], "loss/policy": [], "loss/value": []}
    shuffle = torch.Generator().manual_seed(cfg.seed * 100_003 + step)
    for _ in range(ppo.num_ppo_epochs):
        for i in torch.randperm(len(r.lengths), generator=shuffle).split(ppo.mini_batch_size):
            m, adv, ret, v_old = m_all[i], advantages[i], returns[i], old_values[i]
            if not m.any():  # every sample here faulted: no step (AdamW would still move the weights)
                continue
            with _autocast(cfg.ppo.bf16, r.ids.device):
                logp = _logprobs(policy, r.ids[i], r.mask[i], r.context, ppo.temperature)
                v = _values(value, r.ids[i], r.mask[i], r.context)
            v_clipped = v_old + (v - v_old).clamp(-ppo.cliprange_value, ppo.cliprange_value)
            vf_loss = 0.5 * _masked_mean(torch.max((v - ret) ** 2, (v_clipped - ret) ** 2), m)
            ratio = torch.exp(logp - old_logp[i])
            pg_losses = -adv * ratio
            pg_clipped = -adv * ratio.clamp(1 - ppo.cliprange, 1 + ppo.cliprange)
            pg_loss = _masked_mean(torch.max(pg_losses, pg_clipped), m)
            optimizer.zero_grad()
            (pg_loss + ppo.vf_coef * vf_loss).backward()
            torch.nn.utils.clip_grad_norm_(params, ppo.max_grad_norm)
            optimizer.step()
            stats["policy/clipfrac"].append(_masked_mean((pg_clipped > pg_losses).float(), m).item())
            stats["loss/policy"].append(pg_loss.item())
            stats["loss/value"].append(vf_loss.item())
    return {"kl": kl.sum(1).mean().item(), **{k: sum(v) / max(len(v), 1) for k, v in stats.items()}}


def _log_entry(r: Rollout, update: dict[str, float], prm: Any, step: int, cfg: RLConfig) -> dict[str, float]:
    flat, n = [x for s in r.scores for x in s], len(r.lengths)
    outcomes = [o for o in r.outcomes if o is not None]
    return {
        "reward": r.rewards.sum().item() / n,  # φ + format, before the KL penalty
        "reward/outcome": sum(outcomes) / max(len(outcomes), 1),
        "reward/pass_rate": sum(o == 1.0 for o in outcomes) / max(len(outcomes), 1),
        "reward/faults": n - len(outcomes),
        **({"reward/process": sum(flat) / len(flat)} if prm and flat else {}),
        "reward/format": sum(r.formats) / n,
        "reward/alpha": alpha(step, cfg.rewards),
        **update,
        "completion_length": sum(r.lengths) / n,
    }


def _save_checkpoint(
    path: Path,
    policy: Any,
    tokenizer: Any,
    value: Any,
    optimizer: Any,
    done: int,
    log_history: list[dict[str, Any]],
    save_total_limit: int,
) -> None:
    import torch

    policy.save_pretrained(path)
    tokenizer.save_pretrained(path)
    torch.save(value.state_dict(), path / "value.pt")
    torch.save(optimizer.state_dict(), path / "optimizer.pt")
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    torch.save({"cpu": torch.get_rng_state(), "cuda": cuda}, path / "rng.pt")
    (path / "state.json").write_text(json.dumps({"step": done, "log_history": log_history}))  # last: complete
    saved = sorted(
        (p for p in path.parent.glob("checkpoint-*") if p.name[11:].isdigit()), key=lambda p: int(p.name[11:])
    )
    for old in saved[:-save_total_limit]:  # the newest save_total_limit stay
        shutil.rmtree(old, ignore_errors=True)


def run_ppo(cfg: RLConfig) -> RLResult:
    """Train with PPO, resuming from the last checkpoint in output_dir; the model ends in output_dir/final."""
    import torch
    from torch.utils.tensorboard import SummaryWriter

    from coder_rl.execution import open_sandbox

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserError("PPO runs in one process (one GPU); for several GPUs use algorithm: grpo")
    ppo, out = cfg.ppo, Path(cfg.output_dir)
    final, checkpoint = out / "final", _last_checkpoint(out)
    state = (
        json.loads((checkpoint / "state.json").read_text()) if checkpoint else {"step": 0, "log_history": []}
    )
    log_history = state["log_history"]
    if state["step"] >= ppo.max_steps and (final / "config.json").is_file():
        return RLResult(final, log_history)  # finished already: nothing more to do

    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    problems = rewarded_problems(cfg)
    tokenizer, policy, ref, value = _models(cfg, checkpoint, device)
    params = [*policy.parameters(), *value.parameters()]
    optimizer = torch.optim.AdamW(params, lr=ppo.learning_rate)  # one optimizer: one loss sums both
    if checkpoint:
        value.load_state_dict(torch.load(checkpoint / "value.pt", map_location=device))
        optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", map_location=device))
        rng = torch.load(checkpoint / "rng.pt")
        torch.set_rng_state(rng["cpu"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
    eos = policy.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos if eos is not None else tokenizer.eos_token_id])
    prm = load_prm(cfg)

    with open_sandbox(cfg.sandbox) as box, SummaryWriter(str(out / "runs")) as writer:
        for step in range(state["step"], ppo.max_steps):
            batch = [problems[i] for i in batch_indices(len(problems), ppo.batch_size, step, cfg.seed)]
            rollout = _rollout(policy, tokenizer, eos, box, prm, batch, step, cfg, device)
            update = _update(policy, ref, value, optimizer, params, rollout, step, cfg)
            done = step + 1
            if done % ppo.logging_steps == 0 or done == ppo.max_steps:
                entry = _log_entry(rollout, update, prm, step, cfg)
                for key, val in entry.items():
                    writer.add_scalar(key, val, done)
                print(f"ppo {done}/{ppo.max_steps} " + " ".join(f"{k}={v:.4g}" for k, v in entry.items()))
                log_history.append({**entry, "step": done})
            if done % ppo.save_steps == 0 or done == ppo.max_steps:
                _save_checkpoint(
                    out / f"checkpoint-{done}", policy, tokenizer, value, optimizer, done, log_history,
                    ppo.save_total_limit,
                )  # fmt: skip
    tmp = out / "final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    policy.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    return RLResult(replace_dir(tmp, final), log_history)
