#!/usr/bin/env bash
# Huang et al.'s model selection at CPU scale: for each task, every architecture of their formal-language grid
# (formal_lang_suite/experiments/*.yaml: layers {1, 2, 4} x heads {1, 2, 4} at width 32), trained as bench/huang_split.sh
# trains (lengths 1-16, tested to 3x), in their format (task.supervision = member_prefixes) with APE and random offsets.
#   bash bench/huang_grid.sh DB SEEDS [WORKERS] [TASKS]   (defaults: 2 workers; aa_star,aaaa_star,abab_star)
# Then: python bench/huang_grid_report.py DB (every architecture, the one Huang et al.'s selection would keep, and how
# many architectures generalize). Knobs: STEPS=3000, SCHEMES=learned, SUPERVISION=member_prefixes, LAYER_GRID, HEAD_GRID,
# WIDTH=32.
set -euo pipefail
db=${1:?usage: huang_grid.sh DB SEEDS [WORKERS] [TASKS]}
seeds=${2:?usage: huang_grid.sh DB SEEDS [WORKERS] [TASKS]}
workers=${3:-2}
tasks=${4:-aa_star,aaaa_star,abab_star}
width=${WIDTH:-32}
here=$(dirname "$0")
for layers in ${LAYER_GRID:-1 2 4}; do
  for heads in ${HEAD_GRID:-1 2 4}; do
    STEPS=${STEPS:-3000} SUPERVISION=${SUPERVISION:-member_prefixes} SCHEMES=${SCHEMES:-learned} LAYERS=$layers HEADS=$heads \
      WIDTH=$width TAG="huang-grid-L$layers-H$heads-W$width" bash "$here/huang_split.sh" "$db" "$seeds" "$workers" "$tasks"
  done
done
