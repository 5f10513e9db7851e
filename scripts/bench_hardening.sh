#!/usr/bin/env bash
# What the sandbox hardening (the seccomp filter, workers as an unprivileged uid) costs: tests/s of
# `coder-rl sandbox bench` before and after, measured in one run on one machine.
#
#   scripts/bench_hardening.sh [--rounds N] [--quick] [COMMIT] [-- BENCH FLAGS...]
#
# "Before" is COMMIT (default 193a1fa, the last commit before the hardening), checked out in a
# temporary git worktree that is removed at exit; "after" is this working tree, uncommitted changes
# included. Both run with the same interpreter (.venv/bin/python, or $PYTHON), each with PYTHONPATH
# and the working directory set to its own tree; every run prints where its `sandbox` and `coder_rl`
# packages come from and stops if that is not its tree (the worker's source is read from there too).
# The rounds alternate before/after, after/before, ... so that a machine's drift hits both alike.
# Each round's figure is already the fastest of the bench's --repeats; the table shows the median
# over the rounds, the ratio after/before of the medians, and the spread (min-max) of each side.
#
#   --rounds N   runs of each side (default 3)
#   --quick      small workloads and --repeats 1: checks that everything runs, in a minute or two;
#                its figures are noisy
#   BENCH FLAGS  passed to `coder-rl sandbox bench`, after --quick's (e.g. --backends local
#                --workers 4); its default backends are local,docker, and one that cannot start
#                is reported and left out
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
rounds=3
commit=193a1fa
bench_flags=()
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --rounds=*) rounds=${1#*=}; shift ;;
    --quick)
      bench_flags+=(--humaneval-programs 40 --stdin-programs 4 --stdin-tests 25 --overhead-tests 60 --repeats 1)
      shift ;;
    --) shift; bench_flags+=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench_hardening: unknown flag $1 (see --help)" >&2; exit 2 ;;
    *) commit=$1; shift ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench_hardening: --rounds wants a positive number" >&2; exit 2; }
[ -x "$python" ] || { echo "bench_hardening: no interpreter at $python (run scripts/setup.sh)" >&2; exit 2; }
git -C "$repo" rev-parse --verify --quiet "$commit^{commit}" >/dev/null \
  || { echo "bench_hardening: $commit is not a commit of $repo" >&2; exit 2; }

work=$(mktemp -d /tmp/bench-hardening-XXXXXX)
before=$work/before
cleanup() {
  git -C "$repo" worktree remove --force "$before" 2>/dev/null || true
  rm -rf "$work"
  git -C "$repo" worktree prune 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
git -C "$repo" worktree add --quiet --detach "$before" "$commit"
"$python" -m compileall -q "$before/sandbox" "$before/coder_rl" >/dev/null  # as warm as this tree

# Runs `coder-rl <args>` from the tree in $BENCH_TREE, after checking that the packages come from it.
runner='
import os, sys
tree = os.path.realpath(os.environ["BENCH_TREE"])
import coder_rl, sandbox
for package in (sandbox, coder_rl):
    where = os.path.realpath(package.__file__)
    print(f"  {package.__name__} from {where}", file=sys.stderr)
    if not where.startswith(tree + os.sep):
        sys.exit(f"bench_hardening: {package.__name__} comes from {where}, not from {tree}")
from coder_rl.cli.main import main
sys.argv = ["coder-rl", *sys.argv[1:]]
main()
'

run_side() {  # label tree round
  local label=$1 tree=$2 round=$3
  echo "== round $round: $label ($tree)" >&2
  (cd "$tree" && BENCH_TREE=$tree PYTHONPATH=$tree "$python" -c "$runner" \
    sandbox bench "${bench_flags[@]}" --out "$work/$label-$round.json") >&2
}

echo "before: $commit ($(git -C "$repo" log -1 --format='%h %cs %s' "$commit" | cut -c1-80))"
echo "after:  working tree at $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- sandbox coder_rl || echo ' + uncommitted changes')"
echo "python: $python; bench flags: ${bench_flags[*]:-(defaults)}; rounds: $rounds; started $(date -Is)"
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then
    run_side before "$before" "$round"
    run_side after "$repo" "$round"
  else
    run_side after "$repo" "$round"
    run_side before "$before" "$round"
  fi
done
echo "finished $(date -Is)"

"$python" - "$work" "$rounds" <<'EOF'
import json
import statistics
import sys
from pathlib import Path

work, rounds = Path(sys.argv[1]), int(sys.argv[2])
figures: dict[tuple[str, str], dict[str, list[float]]] = {}
skipped: dict[str, set[str]] = {"before": set(), "after": set()}
failing = []
for side in ("before", "after"):
    for round in range(1, rounds + 1):
        data = json.loads((work / f"{side}-{round}.json").read_text())
        skipped[side] |= set(data["skipped"])
        for row in data["rows"]:
            figures.setdefault((row["workload"], row["runner"]), {"before": [], "after": []})[side].append(
                row["tests_per_s"]
            )
            if row["passed"] != row["tests"]:
                failing.append(f"{side} round {round}: {row['workload']}/{row['runner']} "
                               f"{row['passed']}/{row['tests']} passed")

print(f"\ntests/s, median of {rounds} round(s) (min-max); ratio = after / before")
header = f"{'workload':<10} {'runner':<7} {'before':>9} {'':>17} {'after':>9} {'':>17} {'ratio':>6}"
print(header)
print("-" * len(header))
for (workload, runner), sides in figures.items():
    b, a = sides["before"], sides["after"]
    if not b or not a:
        print(f"{workload:<10} {runner:<7} only {'before' if b else 'after'} has this row")
        continue
    mb, ma = statistics.median(b), statistics.median(a)
    spread = lambda xs: f"({min(xs):7.1f}-{max(xs):7.1f})"  # noqa: E731
    print(f"{workload:<10} {runner:<7} {mb:9.1f} {spread(b):>17} {ma:9.1f} {spread(a):>17} {ma / mb:6.2f}")
print("(naive runs no sandbox at all: its ratio shows the noise between the two sides)")
for side, names in skipped.items():
    for name in sorted(names):
        print(f"{side}: backend {name} skipped")
for line in failing:
    print(f"WARNING, not every test passed: {line}")
EOF
