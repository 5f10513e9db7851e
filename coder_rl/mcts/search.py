"""The search loop: many problems at once, one batched policy call and one batched sandbox call a round.

Each round, every unfinished problem runs one rollout:
1. select a leaf by UCT or PUCT;
2. expand it: `children` samples of the next step, all problems' samples in one policy call (siblings
   share their prompt up to the action, so a backend's prefix cache serves them);
3. simulate: a generate step written straight from the first new non-code child, so that every
   rollout ends in a program;
4. run every new program on the problem's tests, all problems in one sandbox batch;
5. back each terminal's reward up its path.

Actions follow o1-Coder's order: the first step defines, the last allowed step generates, and steps
in between refine, with one sibling of each expansion generating, so code can come early.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.problem import Problem
from coder_rl.execution import BatchRunner
from coder_rl.mcts.tree import Node, Rule, Tree, backup, priors, select
from coder_rl.policy.base import Policy, SamplingParams
from coder_rl.trajectory import DEFAULT_PROMPT, PromptConfig, next_step_prompt
from pseudocode import STEP_STOP, Action, Step, extract_code, parse_step_body
from sandbox import Verdict, all_passed, pass_fraction


class MCTSConfig(Section):
    """o1-Coder's defaults: exploration weight 2.0, 3 samples per expansion, 15 rollouts, depth 5."""

    exploration: float = Field(2.0, ge=0)
    rule: Rule = "uct"
    children: int = Field(3, ge=1, description="samples per expansion")
    rollouts: int = Field(15, ge=1, description="rollouts per problem")
    max_depth: int = Field(5, ge=2, description="steps in a trajectory; the last one generates code")
    early_stop: bool = Field(True, description="stop a problem's search once a program passes every test")
    reward: Literal["pass_fraction", "all_pass"] = "pass_fraction"


@dataclass
class ProblemSearch:
    problem: Problem
    prompt: PromptConfig = field(default_factory=PromptConfig)  # how the policy is asked for each step
    tree: Tree = field(default_factory=Tree)
    rollouts: int = 0
    errors: Counter = field(default_factory=Counter)

    @property
    def solved(self) -> bool:
        return any(node.solved for node in self.tree.root.walk())

    def done(self, cfg: MCTSConfig) -> bool:
        return self.rollouts >= cfg.rollouts or (cfg.early_stop and self.solved)


def child_actions(depth: int, count: int, max_depth: int) -> list[Action]:
    """The actions of a node's children at `depth` (the root is 0)."""
    if depth == 0:
        return [Action.DEFINE] * count
    if depth >= max_depth - 1:
        return [Action.GENERATE] * count
    return [Action.REFINE] * (count - 1) + [Action.GENERATE]


def search(
    policy: Policy, box: BatchRunner, problems: Sequence[Problem], cfg: MCTSConfig, sampling: SamplingParams,
    prompt: PromptConfig = DEFAULT_PROMPT,
) -> list[ProblemSearch]:  # fmt: skip
    """Search every problem until its budget is spent (or it is solved, with early_stop)."""
    states = [ProblemSearch(problem, prompt) for problem in problems]
    one = sampling.model_copy(update={"n": 1, "stop": [STEP_STOP], "logprobs": cfg.rule == "puct"})
    while active := [s for s in states if not s.done(cfg)]:
        run_round(policy, box, active, cfg, one)
    return states


def run_round(
    policy: Policy,
    box: BatchRunner,
    states: Sequence[ProblemSearch],
    cfg: MCTSConfig,
    sampling: SamplingParams,
) -> None:
    leaves = [select(s.tree.root, cfg.exploration, cfg.rule) for s in states]
    for state, leaf in zip(states, leaves, strict=True):
        state.rollouts += 1
        if leaf.terminal:  # revisiting a finished program: its reward is known
            backup(leaf, leaf.reward or 0.0)
    expanding = [(s, leaf) for s, leaf in zip(states, leaves, strict=True) if not leaf.terminal]
    new_terminals = _expand(policy, expanding, cfg, sampling)
    simulated = _simulate(policy, expanding, cfg, sampling)
    _score(box, new_terminals + simulated, cfg)
    for _, leaf in expanding:
        if not leaf.children:  # the policy wrote nothing usable: a dead end
            leaf.terminal, leaf.reward = True, 0.0
            backup(leaf, 0.0)
    for _, terminal in new_terminals + simulated:
        backup(terminal, terminal.reward or 0.0)


def _expand(
    policy: Policy, expanding: list[tuple[ProblemSearch, Node]], cfg: MCTSConfig, sampling: SamplingParams
) -> list[tuple[ProblemSearch, Node]]:
    """Sample every leaf's children in one call; returns the new children that carry code."""
    requests = [
        (state, leaf, action)
        for state, leaf in expanding
        for action in child_actions(leaf.depth, cfg.children, cfg.max_depth)
    ]
    if not requests:
        return []
    prompts = [next_step_prompt(s.problem, leaf.steps(), action, s.prompt) for s, leaf, action in requests]
    completions = [samples[0] for samples in policy.generate(prompts, sampling)]
    made: dict[int, list[tuple[Node, float | None]]] = {}
    terminals = []
    for (state, leaf, action), completion in zip(requests, completions, strict=True):
        step, errors = parse_step_body(action, completion.text)
        state.errors.update(errors)
        if step is None:
            continue
        child = state.tree.add_child(leaf, step)
        per_token = completion.logprob / completion.num_tokens if completion.logprob is not None else None
        made.setdefault(leaf.id, []).append((child, per_token if completion.num_tokens else None))
        if action is Action.GENERATE:
            terminals.append((state, child))
    for siblings in made.values():
        for (child, _), prior in zip(siblings, priors([lp for _, lp in siblings]), strict=True):
            child.prior = prior
    return terminals


def _simulate(
    policy: Policy, expanding: list[tuple[ProblemSearch, Node]], cfg: MCTSConfig, sampling: SamplingParams
) -> list[tuple[ProblemSearch, Node]]:
    """From each leaf's first new non-code child, write the program straight away: a rollout's end."""
    starts = []
    for state, leaf in expanding:
        child = next((c for c in leaf.children if c.step and c.step.action is not Action.GENERATE), None)
        if child is not None:
            starts.append((state, child))
    if not starts:
        return []
    prompts = [next_step_prompt(s.problem, node.steps(), Action.GENERATE, s.prompt) for s, node in starts]
    completions = [samples[0] for samples in policy.generate(prompts, sampling)]
    terminals = []
    for (state, node), completion in zip(starts, completions, strict=True):
        step, errors = parse_step_body(Action.GENERATE, completion.text)
        state.errors.update(errors)
        terminal = state.tree.add_child(node, step or Step(Action.GENERATE, completion.text or "(empty)"))
        terminals.append((state, terminal))
    return terminals


def _score(box: BatchRunner, terminals: list[tuple[ProblemSearch, Node]], cfg: MCTSConfig) -> None:
    """Mark each as terminal and run its program; no program, or no tests, scores 0."""
    runnable = []
    for state, node in terminals:
        node.terminal = True
        node.reward = 0.0
        code, errors = extract_code(node.step)  # type: ignore[arg-type]
        state.errors.update(errors)
        node.code = code
        if code is not None and state.problem.tests:
            runnable.append((state, node))
    results = box.run_batch(
        [(state.problem.runnable(node.code), state.problem.tests) for state, node in runnable]
    )
    reward = pass_fraction if cfg.reward == "pass_fraction" else all_passed
    for (state, node), result in zip(runnable, results, strict=True):
        node.reward = reward(result)
        state.errors.update(t.verdict.value for t in result.tests if t.verdict is Verdict.SANDBOX_ERROR)
