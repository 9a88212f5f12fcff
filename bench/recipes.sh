#!/usr/bin/env bash
# Training recipes at CPU scale (issue 12), each against its single-task baseline with the same steps, model and lengths:
#   hinting/restrictions: sort trained on 1-10 (NoPE, as Awasthi & Gupta), alone / + successor hint / + predecessor hint
#                         / + restrictions of 4x longer inputs (Awasthi, Gupta & Kumar), tested to 4x (40);
#   reversal:             reversal of distinct symbols trained on 1-10 (RoPE: our choice, a step reads the
#                         previous output's left neighbour), alone / + restrictions of 4x longer inputs, tested to 4x (40);
#   transfer (Cai et al. 2025, RoPE as theirs): reversed addition trained on 1-8, alone / + no-carry & carry-only (1-16)
#                         / + reversed subtraction (1-16) / + copy-first-operand (1-16, the control), tested to 4x (32);
#                         string copy trained on 1-8, alone / + MQAR (1-16) / + reverse (1-16, the control), tested to 4x (32);
#                         capitalize-reverse trained on 1-8, alone / + capitalize & reverse of letters (1-16), tested to 4x (32).
# bash bench/recipes.sh DB SEEDS [WORKERS] [GROUPS]; GROUPS: any of hint,reversal,transfer,strings,arithmetic (default hint,transfer;
# at this budget (2 layers, d 64, 2000 steps) reversed addition does not learn its training range, see docs/results.md).
# RECIPE_STEPS (default 2000) sets every run's steps; HINT_RECIPES (default: all four) picks the sort arms;
# ARITH_TRAIN / ARITH_EVALS (default 1-8 / 4,8,...,32) the arithmetic group's main range and test lengths.
# Two of these at once on one machine: set OMP_NUM_THREADS=1, or each uses every core's threads.
# Then: python bench/recipes_report.py DB.
set -euo pipefail
db=${1:?usage: recipes.sh DB SEEDS [WORKERS] [GROUPS]}
seeds=${2:?usage: recipes.sh DB SEEDS [WORKERS] [GROUPS]}
workers=${3:-2}
groups=${4:-hint,transfer}
steps=${RECIPE_STEPS:-2000}
model=(--set model.n_layers=2 --set model.d_model=64 --set model.d_ff=256 --set model.n_heads=4 --set train.lr=2e-3
       --set train.distractor_examples=0 --set eval.samples_per_length=200)

sweep() {  # tag task scheme train-length eval-lengths [recipe]
  local tag=$1 task=$2 scheme=$3 lengths=$4 evals=$5 recipe=${6:-}
  python -m lengen_core --db "$db" sweep --tasks "$task" --schemes "$scheme" --seeds "$seeds" --workers "$workers" \
    --tag "$tag" --train-length "$lengths" --steps "$steps" ${recipe:+--recipe "$recipe"} "${model[@]}" --set eval.lengths="$evals"
}

if [[ $groups == *hint* ]]; then
  for recipe in ${HINT_RECIPES:-none successor_hint predecessor_hint restrictions}; do
    sweep "recipe-sort-$recipe" sort nope 1-10 5,10,15,20,25,30,40 "${recipe/none/}"
  done
fi
if [[ $groups == *reversal* ]]; then
  for recipe in none reverse_restrictions; do
    sweep "recipe-reversal-$recipe" copy_backward_unique rope 1-10 5,10,15,20,25,30,40 "${recipe/none/}"
  done
fi
if [[ $groups == *transfer* ]]; then
  for recipe in none transfer_recall control_copy_reverse; do
    sweep "recipe-copy-$recipe" copy_forward_nonunique rope 1-8 6,8,10,12,16,20,24,32 "${recipe/none/}"
  done
fi
if [[ $groups == *strings* ]]; then
  for recipe in none transfer_capitalize; do
    sweep "recipe-capitalize-$recipe" capitalize_reverse rope 1-8 6,8,10,12,16,20,24,32 "${recipe/none/}"
  done
fi
if [[ $groups == *arithmetic* ]]; then
  for recipe in none transfer_carries transfer_subtraction control_copy_operand; do
    sweep "recipe-addition-$recipe" reversed_addition rope "${ARITH_TRAIN:-1-8}" "${ARITH_EVALS:-4,8,10,12,16,20,24,32}" "${recipe/none/}"
  done
fi
