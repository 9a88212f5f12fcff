#!/usr/bin/env bash
# Reproduce docs/results.md: length generalization at CPU scale, 3 seeds, through the CLI.
# Each sweep runs 2 worker processes with 1 torch thread each on a 2-core machine.
# Usage: bash bench/reproduce.sh [reverse|addition|all]   (database: data/reproduce.duckdb)
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${LENGEN_REPRODUCE_DB:-data/reproduce.duckdb}
what=${1:-all}

if [ "$what" = reverse ] || [ "$what" = all ]; then
  # reverse, trained on 1..10 symbols, tested up to 40 (4x); 3 minutes of training per run.
  python3 -m lengen_core --db "$DB" sweep --config bench/reproduce/reverse.json \
    --tasks reverse --schemes coupled,learned,nope --seeds 0,1,2 --workers 2 --tag reverse-v1 \
    --scheme-set learned:positions.max_position=96
  python3 bench/results_table.py --db "$DB" --tag reverse-v1 --factor 4
fi

if [ "$what" = addition ] || [ "$what" = all ]; then
  # addition, operands of 1..8 digits, tested up to 20 digits (2.5x); see addition.json for the budget.
  python3 -m lengen_core --db "$DB" sweep --config bench/reproduce/addition.json \
    --tasks addition --schemes coupled,learned,nope --seeds 0,1,2 --workers 2 --tag addition-v1 \
    --scheme-set learned:positions.max_position=96
  python3 bench/results_table.py --db "$DB" --tag addition-v1 --factor 2.5
fi
