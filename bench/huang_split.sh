#!/usr/bin/env bash
# Huang et al. 2025's split at CPU scale: every task of their table, NoPE and learned APE trained with random
# offsets, trained on lengths 1-16 and tested to 3x (48), with distractor-free rows as in their setup. bash bench/huang_split.sh DB SEEDS [WORKERS] [TASKS] (SEEDS: e.g. 0,1,2)
# Then: python bench/huang_split_report.py DB (agreement per scheme, in-distribution accuracy, disagreements).
# Environment knobs (defaults: the first split's setting): STEPS=1500; SUPERVISION=answer, or every_prefix to train
# the recognition tasks on every prefix's label as well, or member_prefixes for Huang et al.'s format itself (strings that
# are prefixes of members, every prefix's label tested too); the other tasks keep the answer alone; TAG=huang-split, the
# tag's prefix (give the report --tag-prefix TAG-); the model: LAYERS=2, WIDTH=64 (d_ff = 4 x WIDTH), HEADS (default:
# the config's, 4); SCHEMES=nope,learned; LR=2e-3; WEIGHT_DECAY (default: the config's, 0.1; Huang et al. use 0.01).
set -euo pipefail
db=${1:?usage: huang_split.sh DB SEEDS [WORKERS] [TASKS]}
seeds=${2:?usage: huang_split.sh DB SEEDS [WORKERS]}
workers=${3:-2}
# Four consecutive lengths (every residue mod 4) near 0.5x, 1x, 1.5x, 2x, 2.5x and 3x the training maximum: a star
# language has members only at some residues, and at the others its hardest negatives (a^n for (aa)*) are all there is.
lengths=5,6,7,8,13,14,15,16,21,22,23,24,29,30,31,32,37,38,39,40,45,46,47,48
tasks=aa_star,aaaa_star,abab_star,tomita_1,tomita_2,tomita_3,tomita_4,tomita_5,tomita_6,tomita_7
tasks=$tasks,interleaved_majority,copy_unique,copy_repeated,sort,majority,binary_majority,parity,binary_addition,dyck_1
tasks=${4:-$tasks}  # a subset (comma-separated), to split the sweep
steps=${STEPS:-1500}
supervision=${SUPERVISION:-answer}
tag=${TAG:-huang-split}
layers=${LAYERS:-2}
width=${WIDTH:-64}
heads=()
if [ -n "${HEADS:-}" ]; then heads=(--set "model.n_heads=$HEADS"); fi
decay=()
if [ -n "${WEIGHT_DECAY:-}" ]; then decay=(--set "train.weight_decay=$WEIGHT_DECAY"); fi
python -m lengen_core --db "$db" sweep --tasks "$tasks" --schemes "${SCHEMES:-nope,learned}" --seeds "$seeds" --workers "$workers" \
  --tag "$tag-$(echo "$seeds" | tr , -)-$(echo "$tasks" | md5sum | cut -c1-6)" --train-length 1-16 --steps "$steps" --set task.supervision="$supervision" \
  --set model.n_layers="$layers" --set model.d_model="$width" --set model.d_ff=$((4 * width)) "${heads[@]}" --set train.lr="${LR:-2e-3}" "${decay[@]}" \
  --set train.distractor_examples=0 --set positions.max_position=160 \
  --set eval.lengths=$lengths --set eval.samples_per_length=100 \
  --scheme-set learned:positions.train_offset_max=160
