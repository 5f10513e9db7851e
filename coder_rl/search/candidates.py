"""Generation methods for inference-time search: each turns a budget N into candidate programs.

- `best_of_n`: N independent completions of RL's `policy_prompt` (the whole answer at once), in either
  prompt format; the other two search step by step, in the steps format.
- `beam_search`: step-level beam search guided by the PRM (OpenR's beam_search): width W; the root is
  expanded by N samples of the first step, each later beam by N // W samples of its next step, and
  the W partial trajectories whose last step the PRM scores highest are kept; the last depth writes
  code, so every depth costs N samples.
- `mcts`: the pseudocode MCTS of `coder_rl.mcts` with N rollouts, rewarded by the tests selection may
  use (never the hidden ones); every program in the tree is a candidate.

Best-of-N and MCTS serve every budget from one run (the first k samples, the first k rollouts); beam
search, whose width and branching depend on N, runs once per budget.

Every method handles many problems at once (one policy call per round for all of them) and counts
the tokens the policy generated for each problem: the budget axis of the scaling curve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.problem import Problem
from coder_rl.execution import BatchRunner
from coder_rl.mcts.search import MCTSConfig, ProblemSearch, run_round
from coder_rl.policy.base import Completion, Policy, SamplingParams
from coder_rl.prm.model import reduce_steps
from coder_rl.trajectory import (
    DEFAULT_PROMPT,
    PromptConfig,
    next_step_prompt,
    policy_prompt,
    read_completion,
    statement,
)
from coder_rl.verify import Candidate
from pseudocode import STEP_STOP, Action, Step, extract_code, parse_step_body
from sandbox import TestCase

Method = Literal["best_of_n", "beam", "mcts"]
StepScorer = Callable[[Problem, list[list[Step]]], list[list[float]]]  # `Verifier.score_steps`


class BeamConfig(Section):
    width: int = Field(2, ge=1, description="beams kept per depth (at most the budget)")
    max_depth: int = Field(3, ge=2, description="steps in a trajectory: define, refines, then generate")


@dataclass
class Generation:
    """One problem's candidates under one method and budget."""

    candidates: list[Candidate] = field(default_factory=list)  # programs only, in the order made
    tokens: int = 0  # tokens the policy generated for this problem, programs or not


def merge(generations: Sequence[Generation]) -> Generation:
    return Generation([c for g in generations for c in g.candidates], sum(g.tokens for g in generations))


def best_of_n(
    policy: Policy, problems: Sequence[Problem], n: int, sampling: SamplingParams,
    prompt: PromptConfig = DEFAULT_PROMPT,
) -> list[list[Generation]]:  # fmt: skip
    """Per problem, n samples, each its own Generation (holding its program, if it wrote one). The first
    k of them are best-of-k: one call at the largest budget serves every smaller one."""
    params = sampling.model_copy(update={"n": n, "stop": []})
    prompts = [policy_prompt(p, prompt) for p in problems]
    return [[_sample(c, prompt) for c in samples] for samples in policy.generate(prompts, params)]


def _sample(completion: Completion, prompt: PromptConfig) -> Generation:
    trajectory = read_completion(completion.text, prompt.format)
    program = trajectory.program
    candidates = [] if program is None else [Candidate(program, list(trajectory.steps))]
    return Generation(candidates, completion.num_tokens)


def beam_search(
    policy: Policy,
    score_steps: StepScorer,
    problems: Sequence[Problem],
    budget: int,
    cfg: BeamConfig,
    sampling: SamplingParams,
    prompt: PromptConfig = DEFAULT_PROMPT,
) -> list[Generation]:
    """Step-level beam search; each depth is one policy call for every beam of every problem."""
    width = min(cfg.width, budget)
    # The root is one beam: it gets all N samples; after it, each of the W beams gets N // W.
    first = sampling.model_copy(update={"n": budget, "stop": [STEP_STOP]})
    params = first.model_copy(update={"n": budget // width})
    beams: list[list[list[Step]]] = [[[]] for _ in problems]  # per problem, its partial trajectories
    out = [Generation() for _ in problems]
    for depth in range(cfg.max_depth):
        last = depth == cfg.max_depth - 1
        action = Action.DEFINE if depth == 0 else Action.GENERATE if last else Action.REFINE
        requests = [(i, steps) for i, kept in enumerate(beams) for steps in kept]
        if not requests:  # every beam died (the policy wrote nothing readable)
            break
        prompts = [next_step_prompt(problems[i], steps, action, prompt) for i, steps in requests]
        results = policy.generate(prompts, first if depth == 0 else params)
        expanded: list[list[list[Step]]] = [[] for _ in problems]
        for (i, steps), samples in zip(requests, results, strict=True):
            for completion in samples:
                out[i].tokens += completion.num_tokens
                step, _ = parse_step_body(action, completion.text)
                if step is not None:
                    expanded[i].append([*steps, step])
        if last:
            for generation, trajectories in zip(out, expanded, strict=True):
                for steps in trajectories:
                    code, _ = extract_code(steps[-1])
                    if code is not None:
                        generation.candidates.append(Candidate(code, steps))
            break
        beams = [
            _top(score_steps(p, t), t, width) if t else [] for p, t in zip(problems, expanded, strict=True)
        ]
    return out


def _top(scores: list[list[float]], trajectories: list[list[Step]], width: int) -> list[list[Step]]:
    """The `width` trajectories whose last step the PRM scores highest (a stable sort: ties keep order)."""
    order = sorted(range(len(trajectories)), key=lambda i: -reduce_steps(scores[i], "last"))
    return [trajectories[i] for i in order[:width]]


def mcts(
    policy: Policy,
    box: BatchRunner,
    problems: Sequence[Problem],
    selection_tests: Sequence[Sequence[TestCase]],
    budgets: Sequence[int],
    cfg: MCTSConfig,
    sampling: SamplingParams,
    prompt: PromptConfig = DEFAULT_PROMPT,
) -> Iterator[tuple[int, list[Generation]]]:
    """(budget, one Generation per problem) for each budget, ascending. MCTS is an anytime search, so
    one search serves every budget: the tree after k rollouts is the search with budget k.

    The search is rewarded on `selection_tests` (generated or public tests, possibly none: then every
    reward is 0 and the search still writes programs), never on the problems' own (hidden) tests."""
    meter = TokenMeter(policy, problems)
    blind = [p.with_tests(tests) for p, tests in zip(problems, selection_tests, strict=True)]
    states = [ProblemSearch(p, prompt) for p in blind]
    # what `coder_rl.mcts.search.search` samples with
    one = sampling.model_copy(update={"n": 1, "stop": [STEP_STOP], "logprobs": cfg.rule == "puct"})
    for budget in sorted(budgets):
        upto = cfg.model_copy(update={"rollouts": budget})
        while active := [s for s in states if not s.done(upto)]:
            run_round(meter, box, active, upto, one)
        yield (
            budget,
            [
                Generation(
                    [
                        Candidate(n.code, n.steps())
                        for n in s.tree.root.walk()
                        if n.terminal and n.code is not None
                    ],
                    tokens,
                )
                for s, tokens in zip(states, meter.tokens, strict=True)
            ],
        )


class TokenMeter:
    """The policy, counting the tokens it generates for each problem. The search batches many problems
    in one call and says nothing of whose prompt is whose, but every prompt states its problem, so a
    prompt belongs to the first problem whose statement it holds (problems stated identically share
    one count: the first's)."""

    def __init__(self, policy: Policy, problems: Sequence[Problem]) -> None:
        self.policy = policy
        self.statements = [statement(p) for p in problems]
        self.tokens = [0] * len(problems)

    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        results = self.policy.generate(prompts, params)
        for prompt, samples in zip(prompts, results, strict=True):
            owner = next(i for i, statement in enumerate(self.statements) if statement in prompt)
            self.tokens[owner] += sum(c.num_tokens for c in samples)
        return results

    def close(self) -> None:
        self.policy.close()
