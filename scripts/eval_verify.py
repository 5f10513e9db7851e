"""How well `/v1/verify`'s ranking picks the reference out of its known-wrong mutants, on the bundled sample.

    python scripts/eval_verify.py [--tcg runs/tcg/dpo/final] [--prm runs/prm/final] [--mutants 6] [--out f.json]

Per problem: the candidates are the mutants of its first reference that fail at least one of its tests
(tcg.mutate; "known-wrong"), then the reference last (so a tie counts against it). Two figures:
- given tests: the problem's tests are sent with it (the issue asks for at least 95% ranked first);
- tests hidden: only what the verifier makes itself remains, the TCG's tests and the PRM's step scores.
A random pick (1 / number of candidates) is the baseline for both. Runs the Verifier in-process.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tcg", default="runs/tcg/dpo/final")
    parser.add_argument("--prm", default="runs/prm/final")
    parser.add_argument("--mutants", type=int, default=6)
    parser.add_argument("--generated-tests", type=int, default=4)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from coder_rl.data import DataConfig, load_problems
    from coder_rl.verify import Candidate, Verifier, VerifierConfig
    from sandbox import Limits
    from tcg.mutate import mutants

    cfg = VerifierConfig(
        sandbox={"workers": 2, "limits": {"time_s": 1}}, tcg_model=args.tcg, prm=args.prm, device="cpu"
    )
    verifier = Verifier(cfg)
    limits = Limits(time_s=1)
    problems = [p for p in load_problems(DataConfig(dataset="sample")).require_problems() if p.solutions]
    given_first = hidden_first = 0
    random_pick = 0.0
    start = time.perf_counter()
    try:
        for problem in problems:
            reference = problem.solutions[0]
            sources = [m.source for m in mutants(reference, limit=args.mutants)]
            results = verifier.execute(sources, problem.tests, limits) if sources else []
            wrong = [
                code
                for code, result in zip(sources, results, strict=True)
                if result.verdict.value != "passed"
            ]
            candidates = [Candidate(code) for code in wrong] + [Candidate(reference)]
            random_pick += 1 / len(candidates)
            ranked, _ = verifier.verify(problem, candidates, limits=limits)
            given_first += ranked[-1].rank == 1
            # the function's name stays known when the tests are hidden (call-based problems)
            hidden = replace(problem, tests=[], metadata={**problem.metadata, "fn_name": problem.fn_name})
            ranked, _ = verifier.verify(
                hidden, candidates, generated_tests=args.generated_tests, limits=limits
            )
            hidden_first += ranked[-1].rank == 1
    finally:
        verifier.close()
    n = len(problems)
    figures = {
        "problems": n,
        "given_tests_reference_first": given_first / n,
        "hidden_tests_reference_first": hidden_first / n,
        "random_pick": random_pick / n,
        "seconds": time.perf_counter() - start,
        "tcg": args.tcg,
        "prm": args.prm,
    }
    print("| setting | reference ranked first |\n|---|---|")
    print(f"| given tests ({n} problems) | {given_first}/{n} ({given_first / n:.1%}) |")
    print(f"| tests hidden: TCG tests + PRM | {hidden_first}/{n} ({hidden_first / n:.1%}) |")
    print(f"| baseline: a random pick | {random_pick / n:.1%} |")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
