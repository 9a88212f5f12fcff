#!/usr/bin/env bash
# Install the project's dependencies (Python packages and Debian's Chromium for
# the browser test) and run the whole test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r requirements.txt
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
# Lint first (ruff, ruff format --check, mypy: scripts/lint.sh); a finding fails the run before any test.
bash scripts/lint.sh
# Two passes: everything but the `serial` tests on one pytest-xdist worker per core (each pinned to
# its core: tests/conftest.py), then the `serial` ones (time bounds, every core, a Ray cluster, the
# browser) alone on the whole machine. Exit status 5 is "no test selected" (arguments that pick only
# one kind); any other failure fails the run.
workers=$(nproc)
status=0
python3 -m pytest -q -n "$workers" --dist loadfile -m "not serial" "$@" || status=$?
[ "$status" = 5 ] && status=0
serial_status=0
python3 -m pytest -q -m serial "$@" || serial_status=$?
[ "$serial_status" = 5 ] && serial_status=0
[ "$status" = 0 ] || exit "$status"
exit "$serial_status"
