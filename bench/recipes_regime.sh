#!/usr/bin/env bash
# The seeds' recipes in their papers' regime (issue 22), each against the same model alone with the same main-task
# examples (a recipe arm's batch is the baseline's times 1 + its partners: lengen_core.recipes, same_main_examples):
#   hint:     sort with repeated values (sort_repeated) trained on 1-20 without positions, tested to 5x (100): alone /
#             + the dense successor hint (Awasthi & Gupta 2023) / + restrictions of 4x longer inputs that keep their
#             positions (Awasthi, Gupta & Kumar 2025); and alone / + hint with model.length_scaling=log, our labelled
#             stand-in for their length-dependent tempered softmax (its definition could not be read);
#   reversal: reversal of distinct symbols (copy_backward_unique) trained on 1-10 with RoPE, tested to 4x (40): alone /
#             + restrictions of 4x longer inputs at their long positions;
#   ppc:      the right neighbour of a query that occurs once, the query coupled to its occurrence
#             (retrieve_right_unique, query_coupled): the answer's id is the query's + 1, a sparse rule known only from
#             data; trained on 8-16, tested to 4x (64): predictive coupling / plain coupling / NoPE / learned APE with offsets;
#   transfer: Cai et al. 2025 at 4 layers x width 128 with RoPE (theirs: 6 x 384): string copy trained on 1-8, alone /
#             + MQAR on 1-16 / + reverse on 1-16 (their control); capitalize-reverse on 1-8, alone / + capitalize and
#             reverse of letters on 1-16; tested to 4x (32).
# bash bench/recipes_regime.sh DB SEEDS [WORKERS] [GROUPS]   (GROUPS: any of hint,reversal,ppc,transfer; default all)
# STEPS_HINT (4000), STEPS_REVERSAL (3000), STEPS_PPC (3000), STEPS_TRANSFER (6000) set each group's steps.
# Then: python bench/recipes_report.py DB --prefix regime-
set -euo pipefail
db=${1:?usage: recipes_regime.sh DB SEEDS [WORKERS] [GROUPS]}
seeds=${2:?usage: recipes_regime.sh DB SEEDS [WORKERS] [GROUPS]}
workers=${3:-2}
groups=${4:-hint,reversal,ppc,transfer}
small=(--set model.n_layers=2 --set model.d_model=64 --set model.d_ff=256 --set model.n_heads=4 --set train.lr=1e-3
       --set train.distractor_examples=0 --set eval.samples_per_length=100 --set train.log_every=100)

sweep() {  # tag task scheme train-length eval-lengths steps recipe [more flags...]
  local tag=$1 task=$2 scheme=$3 lengths=$4 evals=$5 steps=$6 recipe=$7
  shift 7
  python -m lengen_core --db "$db" sweep --tasks "$task" --schemes "$scheme" --seeds "$seeds" --workers "$workers" \
    --tag "$tag" --train-length "$lengths" --steps "$steps" ${recipe:+--recipe "$recipe"} "$@" --set eval.lengths="$evals"
}

if [[ $groups == *hint* ]]; then
  for recipe in none successor_hint_dense restrictions_repeated; do
    sweep "regime-sortrep-$recipe" sort_repeated nope 1-20 10,20,30,40,60,80,100 "${STEPS_HINT:-4000}" "${recipe/none/}" "${small[@]}"
  done
  for recipe in none successor_hint_dense; do
    sweep "regime-sortrep-$recipe+log" sort_repeated nope 1-20 10,20,30,40,60,80,100 "${STEPS_HINT:-4000}" "${recipe/none/}" "${small[@]}" \
      --set model.length_scaling=log
  done
fi
if [[ $groups == *reversal* ]]; then
  for recipe in none reverse_restrictions; do
    sweep "regime-reversal-$recipe" copy_backward_unique rope 1-10 5,10,15,20,30,40 "${STEPS_REVERSAL:-3000}" "${recipe/none/}" "${small[@]}" \
      --set positions.max_position=256
  done
fi
if [[ $groups == *ppc* ]]; then
  python -m lengen_core --db "$db" sweep --tasks retrieve_right_unique --schemes predictive_coupled,coupled,nope,learned --seeds "$seeds" \
    --workers "$workers" --tag regime-ppc --train-length 8-16 --steps "${STEPS_PPC:-3000}" "${small[@]}" \
    --set task.options.query_coupled=true --set positions.max_position=160 --set eval.lengths=8,16,24,32,48,64 \
    --scheme-set learned:positions.train_offset_max=160
fi
if [[ $groups == *transfer* ]]; then
  large=(--set model.n_layers=4 --set model.d_model=128 --set model.d_ff=512 --set model.n_heads=4 --set train.lr=1e-3
         --set train.distractor_examples=0 --set eval.samples_per_length=100 --set train.log_every=100)
  for recipe in none transfer_recall control_copy_reverse; do
    sweep "regime-copy-$recipe" copy_forward_nonunique rope 1-8 6,8,10,12,16,20,24,32 "${STEPS_TRANSFER:-6000}" "${recipe/none/}" "${large[@]}"
  done
  for recipe in none transfer_capitalize; do
    sweep "regime-capitalize-$recipe" capitalize_reverse rope 1-8 6,8,10,12,16,20,24,32 "${STEPS_TRANSFER:-6000}" "${recipe/none/}" "${large[@]}"
  done
fi
