#!/usr/bin/env bash
# The sandbox's test suites again as an ordinary user (nobody), on the local backend: what the
# sandbox promises must hold both as root and not. Run by scripts/test.sh when it runs as root.
#
# The checkout and its virtualenv may live where nobody cannot read (/root), so this copies the
# sandbox package and its tests into a fresh directory under /tmp, with a virtualenv of the system's
# python3 holding pytest: that also checks that the sandbox runs from a virtualenv under /tmp.
# Skips (status 0, saying why) where the machine has no unprivileged user namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "test_unprivileged: run as root (it switches to nobody)" >&2; exit 2; }
user=nobody
group=$(id -gn nobody 2>/dev/null || echo nogroup)
python=${UNPRIVILEGED_PYTHON:-/usr/bin/python3}
as_user() { setpriv --reuid="$user" --regid="$group" --clear-groups --reset-env -- "$@"; }

if ! command -v setpriv >/dev/null || ! command -v bwrap >/dev/null || [ ! -x "$python" ]; then
  echo "test_unprivileged: skipped (needs setpriv, bwrap and $python)"
  exit 0
fi
if ! as_user bwrap --unshare-user --ro-bind / / true 2>/dev/null; then
  echo "test_unprivileged: skipped (this machine gives ordinary users no user namespaces)"
  exit 0
fi

work=$(mktemp -d /tmp/coder-rl-unprivileged-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tests" "$work/scripts"
cp -r sandbox "$work/"
cp scripts/soak_sandbox.py "$work/scripts/"  # the reliability tests read its process table
cp tests/__init__.py tests/conftest.py tests/sandbox_helpers.py tests/test_sandbox_*.py "$work/tests/"
find "$work" -name __pycache__ -prune -exec rm -rf {} +
printf '[pytest]\nmarkers =\n    slow: end-to-end tests\n' >"$work/pytest.ini"
chmod -R a+rX "$work"
chown -R "$user:$group" "$work"
as_user "$python" -m venv "$work/.venv"
as_user env HOME="$work" PIP_DISABLE_PIP_VERSION_CHECK=1 "$work/.venv/bin/pip" install --quiet pytest hypothesis numpy
# The slow tests (and TACO's, at collection) need the whole project: Ray, TACO's data, the soak's HTTP server; this copy
# lacks them on purpose. The docker tests skip: nobody has no access to the engine.
cd "$work"
as_user env HOME="$work" PYTHONDONTWRITEBYTECODE=1 .venv/bin/python -m pytest -q -p no:cacheprovider \
  -m "not slow" --ignore=tests/test_sandbox_taco.py "$@" tests
