#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite, slow end-to-end tests included: the sandbox tests
# run on bubblewrap and on a real Docker engine, which this starts if none answers; as root, the
# sandbox's suites run again as the unprivileged user nobody (scripts/test_unprivileged.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/setup_sandbox.sh --docker  # the docker backend's tests need an engine and the image
. .venv/bin/activate
python -m pytest -q "$@"
# As root, the sandbox's suites once more as an ordinary user (the promises hold both ways).
if [ "$(id -u)" = 0 ] && [ $# = 0 ]; then
  scripts/test_unprivileged.sh
fi
