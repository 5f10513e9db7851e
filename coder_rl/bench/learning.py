"""`coder-rl bench learning`: every o1-Coder stage, trained from a randomly initialised tiny model on the
`listops` family, each measured on held-out problems beside the figure it should beat.

Per seed, in `output_dir/seed-N/` (the seed draws the family, its held-out compositions, the weights and the
sampling):

1. `model`: a tiny model and tokenizer built from the training split's text (random weights);
2. `sft`: warm start on the references (define / refine / generate steps): held-out pass@1, pass@k;
3. `mcts`: pseudocode MCTS with the warm policy on training problems (the PRM's data) and on held-out
   ones (its test labels): solve rate and share of correct steps;
4. `prm`: fitted on the training search; step AUC on the held-out search;
5. `grpo`, `grpo_ds`, `grpo_prm`, `ppo`: RL from the warm policy (outcome reward; the same with DAPO's
   dynamic sampling; outcome + PRM; PPO): held-out pass@1, and its curve against training step next to
   the training reward;
6. `tcg`: test-case generator, SFT then DPO: pass rate, parse rate, discriminative power after each;
7. `selfplay`: iterations of search, PRM refit and GRPO with that PRM: pass@1 after each;
8. `search`: best-of-N with N = 1..16 on the first `search_problems` held-out problems, selected by
   majority vote, CodeT (the TCG's tests) and the PRM, against pass@1 and the oracle;
9. `chat`: the chat prompt format from the same random model: SFT on the references as chat answers,
   then the `grpo` stage's GRPO, each measured on the held-out problems in that format.

Every stage is recorded in `bench.json` when it ends; a rerun resumes (each trainer from its own
checkpoints). Library output goes to `logs/<stage>.log` unless `verbose`. The results are
`learning.json`, `learning.md` and PNG plots; with several seeds, `output_dir` holds their mean and std.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from statistics import mean, stdev
from typing import Any

from pydantic import Field, field_validator, model_validator

from coder_rl.config import Section
from coder_rl.data.load import DataConfig, load_problems
from coder_rl.data.problem import Problem
from coder_rl.evaluate import PassRateConfig
from coder_rl.execution import SandboxConfig, open_sandbox
from coder_rl.logs import output_to
from coder_rl.mcts.synthesize import SynthesizeConfig
from coder_rl.models.tiny import TinyModelConfig
from coder_rl.policy.base import PolicyConfig
from coder_rl.prm.train import PRMTrainConfig
from coder_rl.rl.config import RLConfig
from coder_rl.rl.sft import PolicySFTConfig
from coder_rl.rundir import StageLog
from coder_rl.search.run import SearchConfig
from coder_rl.selfplay import SelfPlayConfig
from coder_rl.trajectory import PromptConfig
from tcg.train import TCGTrainConfig


class FamilySection(Section):
    """How many `listops` problems each stage sees; the seed is the bench's."""

    train: int = Field(1000, ge=8, description="training problems (SFT, RL, TCG)")
    # At 48 problems x 4 samples the same weights scored 0.063 and 0.120 (seed 0); sampling costs ~0.07 s a
    # completion on 2 cores, so pass rates use more problems than the searches (search_problems).
    heldout: int = Field(128, ge=4, description="held-out problems: every figure is measured on these")
    difficulty: list[str] = Field(default_factory=list, description="keep only these, e.g. [EASY]; []: all")
    search_problems: int = Field(
        48,
        ge=1,
        description="problems self-play searches (training split), and MCTS and best-of-N search on the "
        "held-out split (its first ones)",
    )
    # The PRM's held-out step AUC on seed 0 from 48, 192 and 384 searched problems: 0.739, 0.780, 0.812
    # (about 4 more minutes than 48).
    prm_problems: int = Field(
        384, ge=1, description="training problems the `mcts` stage searches: the PRM's training data"
    )


class CurveSection(Section):
    points: int = Field(
        2, ge=1, description="held-out points along each RL run after step 0, the last being the final model"
    )
    samples: int = Field(2, ge=1, description="samples per held-out problem at each point before the last")


class TCGBenchSection(Section):
    num_tests: int = Field(4, ge=1, description="tests the TCG writes per sample")
    samples: int = Field(2, ge=1, description="samples per held-out problem")
    max_tokens: int = Field(256, ge=16)


# Tried on seed 0: with 4 problems a step, lr 1e-4 or 2e-4 left the training reward flat over 60 steps;
# lr 5e-4 and up collapsed the policy (entropy 0.1 -> 1, training pass rate -> 0). 16 problems a step
# at 3e-4 is the largest stable setting tried. On seed 0's warm policy (held-out pass@1 0.168), 20 steps
# ended at 0.107 with the all-pass outcome, 0.176 with the pass-fraction outcome (_RL), and with the
# all-pass outcome 0.129 with a KL term (beta 0.04), 0.115 with 4 updates a batch, 0.156 at lr 1e-4;
# pass fraction at lr 6e-4: 0.113, at 40 steps: 0.178 (while pass@1 on the training problems it saw went
# from 0.205 to 0.254). A step takes 8-10 s on 2 cores.
_GRPO = {
    "max_steps": 20,
    "learning_rate": 3e-4,
    "per_device_train_batch_size": 128,  # 16 problems x 8 completions
    "num_generations": 8,
    "max_completion_length": 256,
    "save_steps": 10,
    "save_total_limit": 8,
}
_MCTS = {
    "policy": {"batch_size": 32},
    "sampling": {"max_tokens": 128, "temperature": 1.0},
    "mcts": {"rollouts": 6, "children": 3, "max_depth": 4, "early_stop": False},
    "output": {"problems_per_shard": 16},
}
_PRM = {
    "eval_fraction": 0.0,  # its held-out figures come from the held-out problems' search instead
    "trainer": {
        "num_train_epochs": 3,
        "learning_rate": 1e-3,
        "per_device_train_batch_size": 16,
        "logging_steps": 10,
        "save_steps": 500,
    },
}
_RL = {
    "format_weight": 0.1,
    # The outcome's weight α rises from 0.5 toward 1 over each run (o1-Coder's schedule; alpha_steps is
    # the run's own step count unless set): process reward first, outcome later. Without a PRM the reward
    # is the outcome alone, whatever α. The outcome is the share of tests passed: with all-pass, half of
    # the groups had equal rewards (no advantage) and held-out pass@1 fell (see _GRPO).
    "rewards": {"outcome": "pass_fraction", "alpha_schedule": "linear", "alpha_start": 0.5, "alpha_end": 1.0},
}

# The bench's own defaults for the stage sections. A config overrides single keys: it is merged into
# these, so `--set grpo.grpo.max_steps=10` keeps every other value here.
DEFAULTS: dict[str, Any] = {
    "sft": {"source": "references", "references_per_problem": 1,
            "trainer": {"num_train_epochs": 3, "learning_rate": 3e-3, "per_device_train_batch_size": 16,
                        "warmup_steps": 0.05, "logging_steps": 20, "save_steps": 200}},
    "grpo": {**_RL, "grpo": _GRPO},
    "ppo": {**_RL, "algorithm": "ppo",
            "ppo": {"max_steps": 20, "learning_rate": 2e-4, "batch_size": 16, "mini_batch_size": 8, "num_ppo_epochs": 2,
                    "max_completion_length": 256, "save_steps": 10, "save_total_limit": 4, "kl_coef": 0.02}},
    "mcts": _MCTS,
    "prm": _PRM,
    "tcg": {"num_tests": 4, "samples_per_problem": 1, "max_case_chars": 200,
            "sft": {"num_train_epochs": 2, "learning_rate": 2e-3, "per_device_train_batch_size": 16,
                    "logging_steps": 20, "save_steps": 500},
            # DPO alone (lr 2e-4) unlearned the format: parse rate 0.69 -> 0.11 on seed 0; the chosen suite's
            # NLL (sft_weight, RPO) did not hold it (0.53 -> 0.13), as both suites' log-probabilities fell. At
            # lr 1e-4: parse rate 0.53 -> 0.34, discriminative power 0.060 -> 0.051; at 5e-5: 0.53 -> 0.50, and
            # 0.060 -> 0.094 (seed 0).
            "dpo": {"num_train_epochs": 1, "learning_rate": 5e-5, "beta": 0.1, "per_device_train_batch_size": 8,
                    "logging_steps": 10, "save_steps": 500, "sft_weight": 1.0, "max_problems": 200,
                    "sampling": {"n": 2, "max_tokens": 256, "temperature": 1.0}}},
    # SFT on the search's solved paths (a few dozen, all on training problems) cut held-out pass@1 from
    # 0.12 to 0.04 on seed 0: the policy overfits them. Each iteration refits the PRM and runs GRPO instead.
    # Its GRPO (8 steps on the searched problems, with the refitted PRM's process reward) rewards all-pass:
    # held-out pass@1 at iterations 1 and 2 was 0.162 -> 0.174, 0.082 -> 0.088, 0.205 -> 0.211 on seeds
    # 0-2; at the pass fraction it fell back at iteration 2 on each (0.170 -> 0.129, 0.080 -> 0.066,
    # 0.236 -> 0.207).
    "selfplay": {"iterations": 2, "mcts": _MCTS, "prm": _PRM, "sft_on_solved": False,
                 "rl": {**_RL, "rewards": {**_RL["rewards"], "outcome": "all_pass"},
                        "grpo": {**_GRPO, "max_steps": 8, "save_steps": 8}}},
    "search": {"methods": ["best_of_n"], "budgets": [1, 2, 4, 8, 16],
               "aggregations": ["majority_vote", "codet", "prm_min_max", "prm_last_max", "prm_min_vote"],
               "sampling": {"max_tokens": 256, "temperature": 1.0}, "generated_tests": 4, "problems_per_batch": 16,
               # a TCG sample's suite parses about 1 time in 3 here: 4 samples give most problems inputs
               # to cluster the candidates' behaviour on (majority vote) and tests to check them (CodeT)
               "verifier": {"tcg_samples": 4, "tcg_max_tokens": 256}},
}  # fmt: skip


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` laid over `base`, key by key into nested dicts (a non-dict value replaces)."""
    out = dict(base)
    for key, value in override.items():
        out[key] = (
            merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
        )
    return out


STAGES = [
    "model", "sft", "mcts", "prm", "grpo", "grpo_ds", "grpo_prm", "ppo", "tcg", "selfplay", "search", "chat",
]  # fmt: skip
NEEDS = {
    "prm": ["mcts"],
    "grpo_prm": ["prm"],
    "search": ["tcg", "prm"],
}  # besides model and sft (ppo uses a PRM if there is one; grpo_ds runs alone as well as beside grpo)


class LearningBenchConfig(Section):
    """The config of `coder-rl bench learning`. The bench sets each stage's model, data, seed, device and
    directories; the stage sections hold the rest (a stage's own keys for those are not read)."""

    seed: int = 0
    seeds: int = Field(1, ge=1, description="seeds seed, seed+1, ...: their mean and std are reported")
    output_dir: str = "runs/bench-learning"
    device: str = "cpu"
    verbose: bool = Field(False, description="let library output (progress bars, warnings) through")
    prompt: PromptConfig = Field(
        PromptConfig(worked_example=False), description="how every stage prompts the policy (all alike)"
    )
    family: FamilySection = FamilySection()
    model: TinyModelConfig = TinyModelConfig(num_layers=2, hidden_size=128, num_heads=4, max_positions=2048)
    sft: PolicySFTConfig = PolicySFTConfig()
    eval: PassRateConfig = PassRateConfig(samples=4, max_tokens=256, temperature=1.0)
    curve: CurveSection = CurveSection()
    grpo: RLConfig = RLConfig()
    ppo: RLConfig = RLConfig()
    mcts: SynthesizeConfig = SynthesizeConfig()
    prm: PRMTrainConfig = PRMTrainConfig()
    tcg: TCGTrainConfig = TCGTrainConfig()
    tcg_eval: TCGBenchSection = TCGBenchSection()
    selfplay: SelfPlayConfig = SelfPlayConfig()
    search: SearchConfig = SearchConfig()
    chat_sft_epochs: float = Field(
        3.0,
        gt=0,
        description="the chat stage's SFT epochs, as a multiple of sft's: a chat example is a whole "
        "trajectory, where the steps format adds one per later step (3 examples for 3 steps)",
    )
    sandbox: SandboxConfig = SandboxConfig.model_validate({"workers": 2, "limits": {"time_s": 2}})
    stages: list[str] = Field(
        default_factory=lambda: list(STAGES), description="which stages run (model, sft always)"
    )

    @field_validator("prompt")
    @classmethod
    def _steps_prompts(cls, value: PromptConfig) -> PromptConfig:
        if value.format != "steps":  # MCTS, the PRM and self-play work step by step
            raise ValueError("the bench prompts in steps; its chat stage measures the chat format")
        return value

    @field_validator("stages")
    @classmethod
    def _stages_with_their_inputs(cls, value: list[str]) -> list[str]:
        for stage in value:
            if stage not in STAGES:
                raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")
            missing = [need for need in NEEDS.get(stage, []) if need not in value]
            if missing:
                raise ValueError(f"stage {stage} needs {', '.join(missing)}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = merged(copy.deepcopy(DEFAULTS), data)  # a copy: the loop below writes into its sections
        selfplay = out["selfplay"] if isinstance(out["selfplay"], dict) else {}
        for rl in (out["grpo"], out["ppo"], selfplay.get("rl")):
            if not isinstance(rl, dict):
                continue  # pydantic reports it
            rewards, algorithm = rl.get("rewards"), rl.get(str(rl.get("algorithm", "grpo")))
            steps = algorithm.get("max_steps") if isinstance(algorithm, dict) else None
            if (
                isinstance(rewards, dict)
                and "alpha_steps" not in rewards
                and isinstance(steps, int)
                and steps >= 1
            ):
                # runs differ in length: each one's α spans its own (a copy: the sections share _RL's)
                rl["rewards"] = {**rewards, "alpha_steps": steps}
        return out


# The headline figures: (key in learning.json, what it is, the figure it should beat).
HEADLINES = [
    ("sft.heldout_pass1", "SFT warm start: held-out pass@1", "random init: 0"),
    ("grpo.heldout_pass1", "GRPO (sandbox reward): held-out pass@1", "sft.heldout_pass1"),
    ("grpo_ds.heldout_pass1", "GRPO with DAPO's dynamic sampling: held-out pass@1", "grpo.heldout_pass1"),
    ("grpo_prm.heldout_pass1", "GRPO (sandbox + PRM reward): held-out pass@1", "grpo.heldout_pass1"),
    ("ppo.heldout_pass1", "PPO (sandbox + PRM reward): held-out pass@1", "sft.heldout_pass1"),
    ("mcts.solve_rate", "MCTS with the warm policy: held-out solve rate", "sft.heldout_pass1"),
    ("prm.heldout_auc", "PRM: held-out step AUC", "chance: 0.5"),
    ("prm.bon_gain", "PRM best-of-8 minus a random pick", "0"),
    ("tcg.sft.pass_rate", "TCG after SFT: pass rate", "–"),
    ("tcg.dpo.pass_rate", "TCG after DPO: pass rate", "tcg.sft.pass_rate"),
    ("tcg.sft.discriminative_power", "TCG after SFT: discriminative power", "–"),
    ("tcg.dpo.discriminative_power", "TCG after DPO: discriminative power", "tcg.sft.discriminative_power"),
    ("selfplay", "self-play: held-out pass@1 per iteration", "sft.heldout_pass1"),
    ("search.best", "best-of-16, best selection", "search.pass1"),
    ("search.pass1", "pass@1 of the searched policy", "–"),
    ("search.oracle", "best-of-16 oracle (any sample passes)", "search.best"),
    ("chat.sft.heldout_pass1", "chat format, SFT warm start: held-out pass@1", "sft.heldout_pass1"),
    ("chat.grpo.heldout_pass1", "chat format, GRPO: held-out pass@1", "chat.sft.heldout_pass1"),
]


def run_learning_bench(cfg: LearningBenchConfig, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or resume) every seed; return learning.json's content (the mean over seeds, with `std`)."""
    out = Path(cfg.output_dir)
    seeds = [cfg.seed + k for k in range(cfg.seeds)]
    results = []
    for seed in seeds:
        if len(seeds) > 1:
            say(f"seed {seed}")
        results.append(run_seed(cfg, seed, out / f"seed-{seed}" if len(seeds) > 1 else out, say))
    if len(seeds) == 1:
        return results[0]
    summary = combine_seeds(results, seeds)
    write_results(summary, out)
    return summary


def run_seed(cfg: LearningBenchConfig, seed: int, out: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """One seed's bench in `out`: each stage once, recorded in bench.json."""
    settings = cfg.model_dump(mode="json", exclude={"seeds", "output_dir", "verbose", "seed"}) | {
        "seed": seed
    }
    started: dict[str, float] = {}
    log = StageLog(out, "bench.json", settings, announce=lambda key: started.__setitem__(key, time.time()))
    bench = _Bench(cfg, seed, out, log, say, started)
    return bench.run()


class _Bench:
    """One seed's stages, in order; each returns a JSON-able dict recorded by the StageLog."""

    def __init__(self, cfg: LearningBenchConfig, seed: int, out: Path, log: StageLog,
                 say: Callable[[str], None], started: dict[str, float]) -> None:  # fmt: skip
        self.cfg, self.seed, self.out, self.log, self.say, self.started = cfg, seed, out, log, say, started
        difficulty = cfg.family.difficulty
        self.train = DataConfig(dataset="listops", split="train", seed=seed, limit=cfg.family.train,
                                difficulty=difficulty)  # fmt: skip
        self.heldout = DataConfig(dataset="listops", split="test", seed=seed, limit=cfg.family.heldout,
                                  difficulty=difficulty)  # fmt: skip
        self.search_train = self.train.model_copy(update={"limit": cfg.family.search_problems})
        self.search_heldout = self.heldout.model_copy(update={"limit": min(cfg.family.search_problems,
                                                                           cfg.family.heldout)})  # fmt: skip

    def stage(
        self, key: str, run: Callable[..., dict[str, Any]], *args: Any, show: Callable[[dict], str]
    ) -> dict:
        fresh = not self.log.done(key)
        log_file = None if self.cfg.verbose else self.out / "logs" / f"{key}.log"
        with output_to(log_file):
            result = self.log.stage(key, run, *args)
        took = f"{time.time() - self.started[key]:5.0f}s" if fresh else "  done"
        self.say(f"  {key:<10} {took}  {show(result)}")
        return result

    def run(self) -> dict[str, Any]:
        cfg, want, found = self.cfg, self.cfg.stages, {}
        model = self.stage(
            "model", self._model, show=lambda r: f"{r['parameters']:,} parameters, random weights"
        )
        found["sft"] = sft = self.stage("sft", self._sft, model["dir"], show=_pass_line)
        warm = sft["model"]
        if "mcts" in want:
            found["mcts"] = self.stage(
                "mcts",
                self._mcts,
                warm,
                show=lambda r: (
                    f"held-out solve rate {r['heldout']['solve_rate']:.3f}, correct steps "
                    f"{r['heldout']['correct_step_share']:.3f} (training search: {r['train']['solve_rate']:.3f})"
                ),
            )
        if "prm" in want:
            found["prm"] = self.stage(
                "prm", self._prm, warm, show=lambda r: f"held-out step AUC {_f(r['heldout_auc'])}"
            )
        prm = found["prm"]["model"] if "prm" in found else None
        # grpo_ds: the grpo stage's settings with dynamic sampling on, from the same warm start
        sampled = cfg.grpo.grpo.model_copy(update={"dynamic_sampling": True})
        for name, rl, reward_prm in (
            ("grpo", cfg.grpo, None),
            ("grpo_ds", cfg.grpo.model_copy(update={"grpo": sampled}), None),
            ("grpo_prm", cfg.grpo, prm),
            ("ppo", cfg.ppo, prm),
        ):
            if name in want:
                found[name] = self.stage(name, self._rl, rl, warm, reward_prm, name, sft, show=_pass_line)
        if "tcg" in want:
            found["tcg"] = self.stage(
                "tcg",
                self._tcg,
                warm,
                show=lambda r: (
                    f"pass rate {_f(r['sft']['pass_rate'])} -> {_f(r['dpo']['pass_rate'])}, discriminative power "
                    f"{_f(r['sft']['discriminative_power'])} -> {_f(r['dpo']['discriminative_power'])}"
                ),
            )
        if "selfplay" in want:
            played = self.stage(
                "selfplay",
                self._selfplay,
                warm,
                show=lambda r: "held-out pass@1 " + " -> ".join(f"{v:.3f}" for v in r["pass1"]),
            )
            found["selfplay"], found["selfplay_detail"] = played["pass1"][1:], played
        if "search" in want:
            found["search"] = search = self.stage(
                "search",
                self._search,
                warm,
                found["tcg"]["dpo"]["model"],
                prm,
                show=lambda r: (
                    f"pass@1 {r['pass1']:.3f}, best-of-{r['budgets'][-1]} {r['best']:.3f} ({r['best_aggregation']}), "
                    f"oracle {r['oracle']:.3f}"
                ),
            )
            found["prm"]["bon_gain"] = search["prm_best_of_8"] - search["pass1"]
        if "chat" in want:
            found["chat"] = self.stage(
                "chat",
                self._chat,
                model["dir"],
                show=lambda r: (
                    f"SFT held-out pass@1 {r['sft']['heldout_pass1']:.3f} (format {r['sft']['heldout_format']:.3f})"
                    f" -> GRPO {r['grpo']['heldout_pass1']:.3f} (format {r['grpo']['heldout_format']:.3f})"
                ),
            )
        seconds = {key: stage.get("seconds") for key, stage in self.log.state["stages"].items()}
        results = {"seed": self.seed, **found, "seconds": seconds}
        write_results(results, self.out)
        return results

    def _timed(self, result: dict[str, Any], start: float) -> dict[str, Any]:
        return {**result, "seconds": round(time.time() - start, 1)}

    # --- the stages ---------------------------------------------------------------------------------

    def _model(self) -> dict[str, Any]:
        from coder_rl.models.tiny import build_tiny_model
        from coder_rl.trajectory import policy_prompt

        start = time.time()
        problems = load_problems(self.train).require_problems()
        corpus = [t for p in problems for t in (p.question, *p.solutions, *_step_texts(p))]
        corpus.append(
            policy_prompt(problems[0], self.cfg.prompt)
        )  # the prompt's fixed text tokenizes compactly too
        directory = self.out / "model"
        build_tiny_model(directory, self.cfg.model.model_copy(update={"seed": self.seed}), corpus)
        from transformers import AutoModelForCausalLM

        size = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(directory).parameters())
        return self._timed({"dir": str(directory), "parameters": size}, start)

    def _sft(self, base: str) -> dict[str, Any]:
        from coder_rl.rl.sft import run_policy_sft

        start = time.time()
        sft = self.cfg.sft.model_copy(update={"data": self.train, "model": base, "seed": self.seed,
                                              "output_dir": str(self.out / "sft"), "device": self.cfg.device,
                                              "prompt": self.cfg.prompt})  # fmt: skip
        final, losses = run_policy_sft(sft)
        measured = self.evaluate(str(final))
        return self._timed({"model": str(final), "first_loss": losses[0] if losses else None,
                            "last_loss": losses[-1] if losses else None, **measured}, start)  # fmt: skip

    def _mcts(self, policy: str) -> dict[str, Any]:
        from coder_rl.selfplay import synthesize_stage

        start = time.time()
        found = {}
        prm_data = self.train.model_copy(update={"limit": self.cfg.family.prm_problems})
        for name, data in (("train", prm_data), ("heldout", self.search_heldout)):
            mcts = self._mcts_config(self.cfg.mcts, policy, data, self.out / "mcts" / name)
            found[name] = synthesize_stage(mcts, False)
        return self._timed({**found, "solve_rate": found["heldout"]["solve_rate"],
                            "correct_step_share": found["heldout"]["correct_step_share"]}, start)  # fmt: skip

    def _mcts_config(
        self, base: SynthesizeConfig, policy: str, data: DataConfig, out: Path
    ) -> SynthesizeConfig:
        mcts = base.model_copy(deep=True)
        mcts.data, mcts.policy.model, mcts.policy.device, mcts.output_dir = (
            data,
            policy,
            self.cfg.device,
            str(out),
        )
        mcts.sampling.seed, mcts.sandbox, mcts.prompt = self.seed, self.cfg.sandbox, self.cfg.prompt
        return mcts

    def _prm(self, base: str) -> dict[str, Any]:
        from coder_rl.prm import PRM
        from coder_rl.prm.model import reduce_steps
        from coder_rl.prm.train import auc, read_trajectories, rerank_gain, run_prm_train

        start = time.time()
        prm_cfg = self.cfg.prm.model_copy(update={
            "trajectories": str(self.out / "mcts" / "train"), "model": base, "seed": self.seed,
            "output_dir": str(self.out / "prm"), "device": self.cfg.device})  # fmt: skip
        trained = run_prm_train(prm_cfg)
        records = read_trajectories(self.out / "mcts" / "heldout")
        prm = PRM(str(trained.model_dir), device=self.cfg.device)
        scores = prm.score_batch([(r["prompt"], r["steps"]) for r in records])
        flat, labels, groups = [], [], {}
        for record, trajectory in zip(records, scores, strict=True):
            flat += trajectory
            labels += [bool(x) for x in record["labels"][: len(trajectory)]]
            if trajectory:
                groups.setdefault(record["problem_id"], []).append(
                    (reduce_steps(trajectory, prm_cfg.rerank_reduction), record["reward"])
                )
        return self._timed({"model": str(trained.model_dir), "heldout_auc": auc(flat, labels),
                            "heldout_steps": len(labels), "rerank": rerank_gain(list(groups.values())),
                            "train_steps": trained.train_steps}, start)  # fmt: skip

    def _rl(
        self, base: RLConfig, policy: str, prm: str | None, name: str, sft: dict[str, Any]
    ) -> dict[str, Any]:
        from coder_rl.rl.run import run_rl

        start = time.time()
        out = self.out / name
        rl = base.model_copy(update={"data": self.train, "model": policy, "prm": prm, "output_dir": str(out),
                                     "device": self.cfg.device, "seed": self.seed, "sandbox": self.cfg.sandbox,
                                     "prompt": self.cfg.prompt})  # fmt: skip
        result = run_rl(rl)
        rewards = [(e["step"], e["reward"]) for e in result.log_history if "reward" in e and "step" in e]
        if not rewards:  # TRL's log entries carry the step under its own key
            rewards = [
                (i + 1, e["reward"]) for i, e in enumerate(e for e in result.log_history if "reward" in e)
            ]
        measured = self.evaluate(str(result.model_dir))
        # Held-out pass@1 along the run: the warm start, checkpoints before the end (curve.samples each),
        # then the final model's own figure; the last checkpoint holds the final weights, so it is not
        # sampled twice.
        checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[:-1]
        curve = [(0, sft["heldout_pass1"])]
        for checkpoint in _spread(checkpoints, self.cfg.curve.points - 1):
            curve.append((int(checkpoint.name.split("-")[1]), self.curve_point(str(checkpoint))))
        curve.append((getattr(rl, rl.algorithm).max_steps, measured["heldout_pass1"]))
        # dynamic sampling's group counts, one per logged step (kept, dropped, filled groups; rounds)
        sampling: dict[str, list[float]] = {}
        for entry in result.log_history:
            for key, value in entry.items():
                if key.startswith("dynamic_sampling/"):
                    sampling.setdefault(key.removeprefix("dynamic_sampling/"), []).append(value)
        return self._timed({"model": str(result.model_dir), "reward_curve": rewards, "heldout_curve": curve,
                            **({"dynamic_sampling": sampling} if sampling else {}), **measured}, start)  # fmt: skip

    def _tcg(self, base: str) -> dict[str, Any]:
        from tcg.evaluate import EvalConfig, run_tcg_eval
        from tcg.generate import (
            SuiteSamplingParams,
            TCGGenerateConfig,
            TCGGenerateOutputSection,
            run_tcg_generate,
        )
        from tcg.train import run_tcg_train

        start = time.time()
        out = self.out / "tcg"
        train = self.cfg.tcg.model_copy(deep=True)
        train.data, train.model, train.output_dir, train.seed = self.train, base, str(out), self.seed
        train.device, train.sandbox = self.cfg.device, self.cfg.sandbox
        run_tcg_train(train)
        found: dict[str, Any] = {}
        for stage in ("sft", "dpo"):
            generations = out / f"heldout-{stage}.jsonl"
            run_tcg_generate(TCGGenerateConfig(
                data=self.heldout, num_tests=self.cfg.tcg_eval.num_tests,
                policy=PolicyConfig(model=str(out / stage / "final"), device=self.cfg.device, batch_size=32),
                sampling=SuiteSamplingParams(n=self.cfg.tcg_eval.samples, max_tokens=self.cfg.tcg_eval.max_tokens,
                                             temperature=1.0, seed=self.seed),
                output=TCGGenerateOutputSection(path=str(generations))), show_progress=False)  # fmt: skip
            report = run_tcg_eval(EvalConfig(data=self.heldout, sandbox=self.cfg.sandbox, generations=str(generations),
                                             output={"path": str(out / f"heldout-{stage}.json")}, seed=self.seed))  # fmt: skip
            metrics = report["metrics"]
            found[stage] = {"model": str(out / stage / "final"), **{k: metrics.get(k) for k in
                            ("pass_rate", "parse_rate", "discriminative_power")}}  # fmt: skip
        return self._timed(found, start)

    def _selfplay(self, policy: str) -> dict[str, Any]:
        from coder_rl.selfplay import run_selfplay

        start = time.time()
        sp = self.cfg.selfplay.model_copy(deep=True)
        sp.output_dir, sp.data, sp.eval_data, sp.policy = (
            str(self.out / "selfplay"),
            self.search_train,
            self.heldout,
            policy,
        )
        sp.device, sp.eval, sp.warm_start = self.cfg.device, self.eval_config(self.cfg.eval), None
        # the loop sets each stage's data, model, device and directory itself
        mcts = sp.mcts.model_copy(deep=True)
        mcts.sampling.seed, mcts.sandbox, mcts.prompt = self.seed, self.cfg.sandbox, self.cfg.prompt
        sp.mcts = mcts
        sp.rl = sp.rl.model_copy(
            update={"seed": self.seed, "sandbox": self.cfg.sandbox, "prompt": self.cfg.prompt}
        )
        sp.sft = sp.sft.model_copy(update={"prompt": self.cfg.prompt})
        rows = run_selfplay(sp, show_progress=False)
        return self._timed({"pass1": [row["pass_at_1"] for row in rows], "rows": rows}, start)

    def _search(self, policy: str, tcg: str, prm: str) -> dict[str, Any]:
        from coder_rl.search.run import run_search

        start = time.time()
        search = self.cfg.search.model_copy(deep=True)
        search.data, search.output_dir = self.search_heldout, str(self.out / "search")
        search.policy = PolicyConfig(model=policy, device=self.cfg.device, batch_size=64)
        search.sampling.seed, search.prompt = self.seed, self.cfg.prompt
        search.verifier = search.verifier.model_copy(update={"tcg_model": tcg, "prm": prm, "device": self.cfg.device,
                                                             "sandbox": self.cfg.sandbox})  # fmt: skip
        results = run_search(search, show_progress=False)
        cell = {(r["aggregation"], r["budget"]): r["accuracy"] for r in results["table"]}
        top = max(search.budgets)
        # pass@1: the odds that one of the N samples, picked at random, passes (a sample without a
        # program fails), averaged over the problems
        runs = [r for rec in results["per_problem"] for r in rec["runs"] if r["budget"] == top]
        pass1 = sum(r["passed"] / top for r in runs) / max(len(runs), 1)
        best_name = max(search.aggregations, key=lambda a: cell[(a, top)])
        prm_8 = cell.get(("prm_min_max", 8), float("nan"))
        curves = {a: [cell[(a, b)] for b in search.budgets] for a in [*search.aggregations, "oracle"]}
        return self._timed({"pass1": pass1, "best": cell[(best_name, top)], "best_aggregation": best_name,
                            "oracle": cell[("oracle", top)], "prm_best_of_8": prm_8, "budgets": search.budgets,
                            "curves": curves}, start)  # fmt: skip

    def _chat(self, base: str) -> dict[str, Any]:
        from coder_rl.rl.run import run_rl
        from coder_rl.rl.sft import run_policy_sft

        start = time.time()
        prompt = self.cfg.prompt.model_copy(update={"format": "chat"})
        epochs = self.cfg.sft.trainer.num_train_epochs * self.cfg.chat_sft_epochs
        sft = self.cfg.sft.model_copy(update={"data": self.train, "model": base, "seed": self.seed, "prompt": prompt,
                                              "output_dir": str(self.out / "chat" / "sft"), "device": self.cfg.device,
                                              "trainer": self.cfg.sft.trainer.model_copy(update={"num_train_epochs": epochs})})  # fmt: skip
        warm, _ = run_policy_sft(sft)
        rl = self.cfg.grpo.model_copy(update={"data": self.train, "model": str(warm), "output_dir": str(self.out / "chat" / "grpo"),
                                              "device": self.cfg.device, "seed": self.seed, "sandbox": self.cfg.sandbox,
                                              "prompt": prompt})  # fmt: skip
        trained = run_rl(rl).model_dir
        return self._timed({"sft": {"model": str(warm), **self.evaluate(str(warm), prompt)},
                            "grpo": {"model": str(trained), **self.evaluate(str(trained), prompt)}}, start)  # fmt: skip

    # --- measuring a policy on the held-out problems --------------------------------------------------

    def evaluate(self, model: str, prompt: PromptConfig | None = None) -> dict[str, Any]:
        """Held-out pass@1 and pass@k (k up to the samples) of `model`, prompted as the bench prompts
        unless `prompt` says otherwise."""
        measured = self._pass_rate(model, self.cfg.eval, prompt)
        return {"heldout_pass1": measured["pass_at_1"], "heldout_pass_at": measured["pass_at"],
                "heldout_format": measured["format"]}  # fmt: skip

    def curve_point(self, model: str) -> float:
        quick = self.cfg.eval.model_copy(update={"samples": self.cfg.curve.samples})
        return self._pass_rate(model, quick)["pass_at_1"]

    def _pass_rate(
        self, model: str, eval_cfg: PassRateConfig, prompt: PromptConfig | None = None
    ) -> dict[str, Any]:
        from coder_rl.evaluate import pass_rate

        problems = self.heldout_problems()
        policy = PolicyConfig(model=model, device=self.cfg.device, batch_size=64)
        with open_sandbox(self.cfg.sandbox) as box:
            return pass_rate(policy, problems, box, self.eval_config(eval_cfg, prompt))

    def eval_config(self, eval_cfg: PassRateConfig, prompt: PromptConfig | None = None) -> PassRateConfig:
        """The pass rate's settings with this seed and the bench's prompt (self-play's too)."""
        return eval_cfg.model_copy(update={"seed": self.seed, "prompt": prompt or self.cfg.prompt})

    def heldout_problems(self) -> list[Problem]:
        return load_problems(self.heldout).require_problems()


def _step_texts(problem: Problem) -> list[str]:
    return [step["text"] for steps in problem.metadata.get("reference_steps", []) for step in steps]


def _spread(items: list[Path], count: int) -> list[Path]:
    """`count` items evenly spread over `items`, always with the last."""
    if len(items) <= count:
        return items
    return [items[round((len(items) - 1) * (k + 1) / count)] for k in range(count)]


def _f(value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _pass_line(result: dict[str, Any]) -> str:
    at = result["heldout_pass_at"]
    top = max(at, key=int)
    return f"held-out pass@1 {result['heldout_pass1']:.3f}, pass@{top} {at[top]:.3f}"


# --- results ------------------------------------------------------------------------------------------


def lookup(results: dict[str, Any], key: str) -> Any:
    """`results["a"]["b"]` for key "a.b"; None where absent."""
    value: Any = results
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def combine_seeds(results: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """Every headline figure's mean over the seeds at its own key, and its std under `std`."""
    combined: dict[str, Any] = {"seeds": seeds, "std": {}, "per_seed": results}
    for key, _, _ in HEADLINES:
        values = [lookup(r, key) for r in results]
        if key == "selfplay":
            rows = list(zip(*values, strict=True))
            mean_value: Any = [mean(v) for v in rows]
            spread: Any = [stdev(v) if len(v) > 1 else 0.0 for v in rows]
        else:
            numbers = [v for v in values if isinstance(v, int | float) and not math.isnan(v)]
            mean_value = mean(numbers) if numbers else None
            spread = stdev(numbers) if len(numbers) > 1 else (0.0 if numbers else None)
        _assign(combined, key, mean_value)
        combined["std"][key] = spread
    return combined


def _assign(target: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def results_table(results: dict[str, Any]) -> str:
    """Markdown: each headline figure (mean ± std over seeds where there are several) and what it should beat."""
    std = results.get("std", {})
    seeds = results.get("seeds", [results.get("seed")])

    def shown(key: str) -> str:
        value, spread = lookup(results, key), std.get(key)
        if isinstance(value, list):
            spreads = spread or [None] * len(value)
            return " → ".join(
                _f(v) + (f" ± {s:.3f}" if s is not None and len(seeds) > 1 else "")
                for v, s in zip(value, spreads, strict=True)
            )
        return _f(value) + (f" ± {spread:.3f}" if spread is not None and len(seeds) > 1 else "")

    lines = [f"Held-out `listops` problems, seeds {', '.join(map(str, seeds))}"
             + (" (mean ± std)" if len(seeds) > 1 else ""), "",
             "| figure | key | value | should beat |", "|---|---|---|---|"]  # fmt: skip
    for key, title, beat in HEADLINES:
        against = f"{beat} = {shown(beat)}" if lookup(results, beat) is not None else beat
        lines.append(f"| {title} | `{key}` | {shown(key)} | {against} |")
    return "\n".join(lines) + "\n"


def write_results(results: dict[str, Any], out: Path) -> None:
    """learning.json, learning.md and the plots (rl_curves.png, search_scaling.png), atomically each."""
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("learning.json", json.dumps(results, indent=1)),
        ("learning.md", results_table(results)),
    ):
        tmp = out / (name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out / name)
    runs = results.get("per_seed", [results])
    plot_rl_curves(runs, out / "rl_curves.png")
    plot_search(runs, out / "search_scaling.png")


def plot_rl_curves(runs: list[dict[str, Any]], path: Path) -> None:
    """Training reward (left) and held-out pass@1 (right) against step, for GRPO (with and without dynamic
    sampling), GRPO+PRM and PPO."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    colours = {"grpo": "tab:blue", "grpo_ds": "tab:purple", "grpo_prm": "tab:green", "ppo": "tab:red"}
    for name, colour in colours.items():
        for k, run in enumerate(runs):
            label = name if k == 0 else None
            if run.get(name, {}).get("reward_curve"):
                xs, ys = zip(*run[name]["reward_curve"], strict=True)
                left.plot(xs, ys, color=colour, alpha=0.7, label=label)
            if run.get(name, {}).get("heldout_curve"):
                xs, ys = zip(*run[name]["heldout_curve"], strict=True)
                right.plot(xs, ys, "o-", color=colour, alpha=0.7, label=label)
    left.set(xlabel="training step", ylabel="training reward", title="reward (training problems)")
    right.set(xlabel="training step", ylabel="pass@1", title="held-out pass@1", ylim=(0, 1))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_search(runs: list[dict[str, Any]], path: Path) -> None:
    """Held-out accuracy against N for each selection, pass@1 dashed, the oracle in black."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    search = [run["search"] for run in runs if "search" in run]
    if search:
        budgets = search[0]["budgets"]
        for name in search[0]["curves"]:
            ys = [mean(s["curves"][name][i] for s in search) for i in range(len(budgets))]
            ax.plot(budgets, ys, "o-", color="black" if name == "oracle" else None, label=name)
        ax.axhline(mean(s["pass1"] for s in search), linestyle="--", color="grey", label="pass@1")
    ax.set_xscale("log", base=2)
    ax.set(
        xlabel="N (samples)", ylabel="held-out accuracy", title="best-of-N on held-out problems", ylim=(0, 1)
    )
    ax.grid(alpha=0.3)
    if search:
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
