#!/usr/bin/env bash
# Passkey retrieval with HSA on the CPU: train on prompts of 32-128 tokens (15 minutes, 1 thread),
# then decode greedily at 512, 2K, 4K and 16K prompt tokens and write a Markdown table.
# Usage: bash bench/passkey/run.sh [config.json] [table.md]
#   database: $LENGEN_PASSKEY_DB or data/passkey.duckdb; checkpoints beside it (data/checkpoints/).
set -euo pipefail
cd "$(dirname "$0")/../.."
CONFIG=${1:-bench/passkey/hsa_swa.json}
TABLE=${2:-bench/passkey/table.md}
DB=${LENGEN_PASSKEY_DB:-data/passkey.duckdb}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}   # single-thread timings, as reported

log=$(mktemp)
nice -n 10 python3 -m lengen_core --db "$DB" train --config "$CONFIG" --seed "${SEED:-0}" --name passkey-hsa | tee "$log"
run_id=$(sed -n 's/^run \([^:]*\):.*/\1/p' "$log" | head -1)
rm -f "$log"
[ -n "$run_id" ] || { echo "no run id in the training output" >&2; exit 1; }

# the long sweep goes through bench/passkey/eval_long.py, which also times each length and records peak memory
nice -n 10 python3 bench/passkey/eval_long.py --db "$DB" --run "$run_id" \
  --lengths 512,2048,4096,16384 --samples 100,100,100,50 --batch-size 2 --out "$TABLE"
cat "$TABLE"
