#!/usr/bin/env bash
# The habits CI checks before the tests (scripts/test.sh runs this first): ruff's lint rules and its
# formatting over the whole tree, and mypy over lengen_core and kernels. Settings: pyproject.toml
# ([tool.ruff], [tool.mypy]). Each prints what it finds; any finding fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m ruff check .
python3 -m ruff format --check .
python3 -m mypy
