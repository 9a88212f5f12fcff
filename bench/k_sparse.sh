#!/usr/bin/env bash
# Golowich et al. 2025 at CPU scale: does length generalization degrade as k grows? The three k-sparse planted tasks
# (sparse_parity, sparse_sum, sparse_majority) at k = 1, 2, 3, 4, 6, trained on lengths 8-16 and tested to 4x (64),
# under position coupling (ids make the k tokens local) and learned APE with random offsets.
# bash bench/k_sparse.sh DB SEEDS [WORKERS]; then python bench/k_sparse_report.py DB.
set -euo pipefail
db=${1:?usage: k_sparse.sh DB SEEDS [WORKERS]}
seeds=${2:?usage: k_sparse.sh DB SEEDS [WORKERS]}
workers=${3:-2}
for task in sparse_parity sparse_sum sparse_majority; do
  for k in 1 2 3 4 6; do
    python -m lengen_core --db "$db" sweep --tasks "$task" --schemes coupled,learned \
      --seeds "$seeds" --workers "$workers" --tag "k-sparse-$task-k$k" --train-length 8-16 --steps 1000 \
      --set task.name="$task" --set task.options.k="$k" \
      --set model.n_layers=2 --set model.d_model=64 --set model.d_ff=256 --set train.lr=2e-3 \
      --set train.distractor_examples=0 --set positions.max_position=96 \
      --set eval.lengths=8,16,24,32,48,64 --set eval.samples_per_length=200 \
      --scheme-set learned:positions.train_offset_max=96
  done
done
