#!/usr/bin/env bash
# Predictive position coupling against learned APE (with random offsets) and NoPE, on sort and one retrieval task (the right neighbour of a query that occurs once),
# where the coupled ids depend on the answer. bash bench/ppc_compare.sh DB [SEEDS] [WORKERS]; then bench/ppc_report.py DB.
set -euo pipefail
db=${1:?usage: ppc_compare.sh DB [SEEDS] [WORKERS]}
seeds=${2:-0}
workers=${3:-2}
python -m lengen_core --db "$db" sweep --tasks sort,retrieve_right_unique --schemes predictive_coupled,learned,nope \
  --seeds "$seeds" --workers "$workers" --tag ppc-compare --train-length 4-12 --steps 3000 \
  --set model.n_layers=2 --set model.d_model=64 --set model.d_ff=256 --set train.lr=2e-3 \
  --set train.distractor_examples=0 --set positions.max_position=128 \
  --set eval.lengths=4,8,12,16,20,24,30,36 --set eval.samples_per_length=200 \
  --scheme-set learned:positions.train_offset_max=128
