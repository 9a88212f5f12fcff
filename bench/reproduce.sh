#!/usr/bin/env bash
# Reproduce docs/results.md: length generalization at CPU scale, 3 seeds, through the CLI.
# Each sweep runs 2 worker processes with 1 torch thread each on a 2-core machine.
# Usage: bash bench/reproduce.sh [reverse|addition|all]   (database: data/reproduce.duckdb)
# LENGEN_REPRODUCE_SCHEMES narrows the schemes (default coupled,learned,nope).
# Tags: v1 = trainer with a background batch thread (before 2026-11-29's speed-up), v2 = after,
# v3 = training rows with up to 2 distractor examples (train.distractor_examples, in the configs),
# v4 = v3's configs on the trainer of issue 10 (packed rows, fused AdamW): more steps in the same time budget.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${LENGEN_REPRODUCE_DB:-data/reproduce.duckdb}
SCHEMES=${LENGEN_REPRODUCE_SCHEMES:-coupled,learned,nope}
what=${1:-all}

if [ "$what" = reverse ] || [ "$what" = all ]; then
  # reverse, trained on 1..10 symbols, tested up to 40 (4x); 3 minutes of training per run.
  python3 -m lengen_core --db "$DB" sweep --config bench/reproduce/reverse.json \
    --tasks reverse --schemes "$SCHEMES" --seeds 0,1,2 --workers 2 --tag reverse-v4 \
    --scheme-set learned:positions.max_position=96
  python3 bench/results_table.py --db "$DB" --tag reverse-v4 --factor 4
fi

if [ "$what" = addition ] || [ "$what" = all ]; then
  # addition, operands of 1..8 digits, tested up to 20 digits (2.5x); see addition.json for the budget.
  python3 -m lengen_core --db "$DB" sweep --config bench/reproduce/addition.json \
    --tasks addition --schemes "$SCHEMES" --seeds 0,1,2 --workers 2 --tag addition-v4 \
    --scheme-set learned:positions.max_position=96
  python3 bench/results_table.py --db "$DB" --tag addition-v4 --factor 2.5
fi
