#!/usr/bin/env bash
# Issue 14 in one go on a lent GPU: every item, each step with its own time limit, every result a file in OUT.
#
#   bash bench/gpu_session.sh OUT            # on the GPU machine (about 9 minutes in all; one `run` call)
#   bash bench/gpu_session.sh OUT --smoke    # the same steps, tiny, on a CPU (TRITON_INTERPRET=1): try it first
#
# Steps (a failed or timed-out step is recorded in OUT/steps.txt and the next one still runs):
#   1. kernels   pytest tests/kernels (the CUDA-only tests run on a GPU)
#   2. hsa       bench/bench_hsa.py: HSA vs SDPA flash, T = 4K..128K, forward at 1M, small groups -> hsa.json
#   3. coupled   bench/bench_coupled_attention.py: vs SDPA and FlexAttention, RoPE and ALiBi, 1K..16K -> coupled.json
#   4. passkey   train the HSA passkey model (bench/passkey/hsa_swa.json, prompts of 32-128 tokens) on the GPU,
#                then exact match at 64K, 256K and 1M tokens with time and peak memory -> passkey.md
#   5. app       one run through the app's job manager with train.device=cuda -> app.json
# Limits (seconds) can be changed from the environment: LIMIT_KERNELS, LIMIT_HSA, LIMIT_COUPLED, LIMIT_PASSKEY_TRAIN,
# LIMIT_PASSKEY_EVAL, LIMIT_APP. Their defaults sum to 540 s, to fit one 600 s call with the machine's start.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: gpu_session.sh OUT [--smoke]}
smoke=${2:-}
mkdir -p "$out"
: > "$out/steps.txt"

step() {  # name limit command...: run with a time limit, log to OUT/name.log, record rc and seconds
  local name=$1 limit=$2
  shift 2
  local started=$SECONDS
  echo "== $name (limit ${limit} s): $*"
  timeout --signal=INT --kill-after=15 "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc $((SECONDS - started)) s" | tee -a "$out/steps.txt"
  tail -n 8 "$out/$name.log"
}

{ nvidia-smi || echo "no nvidia-smi"; } > "$out/machine.txt" 2>&1
python3 -c "import platform, torch, triton; print('python', platform.python_version(), 'torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__, 'device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')" >> "$out/machine.txt" 2>&1
date -u +%Y-%m-%dT%H:%M:%SZ >> "$out/machine.txt"
db="$out/passkey.duckdb"

if [ "$smoke" = "--smoke" ]; then
  export TRITON_INTERPRET=1
  step kernels "${LIMIT_KERNELS:-300}" python3 -m pytest -q -p no:cacheprovider tests/kernels/test_bench_smoke.py
  step hsa "${LIMIT_HSA:-120}" python3 bench/bench_hsa.py --smoke
  step coupled "${LIMIT_COUPLED:-120}" python3 bench/bench_coupled_attention.py --smoke
  step passkey_train "${LIMIT_PASSKEY_TRAIN:-120}" python3 -m lengen_core --db "$db" train --config bench/passkey/hsa_swa.json \
    --set train.steps=20 --set train.time_budget_s=60 --set eval.samples_per_length=4 --name passkey-gpu-smoke
  device=cpu lengths=256,512 samples=2 batch=1
  step app "${LIMIT_APP:-120}" python3 bench/gpu_app_run.py --out "$out/app.json" --smoke
else
  step kernels "${LIMIT_KERNELS:-120}" python3 -m pytest -q -p no:cacheprovider tests/kernels
  step hsa "${LIMIT_HSA:-150}" python3 bench/bench_hsa.py --json "$out/hsa.json"
  step coupled "${LIMIT_COUPLED:-90}" python3 bench/bench_coupled_attention.py --json "$out/coupled.json"
  step passkey_train "${LIMIT_PASSKEY_TRAIN:-75}" python3 -m lengen_core --db "$db" train --config bench/passkey/hsa_swa.json \
    --set train.device=cuda --set train.time_budget_s=60 --name passkey-gpu
  device=cuda lengths=65536,262144,1048576 samples=20,10,5 batch=1
  step app "${LIMIT_APP:-45}" python3 bench/gpu_app_run.py --out "$out/app.json"
fi
run_id=$(sed -n 's/^run \([^:]*\):.*/\1/p' "$out/passkey_train.log" | head -1)
if [ -n "$run_id" ]; then
  step passkey_eval "${LIMIT_PASSKEY_EVAL:-60}" python3 bench/passkey/eval_long.py --db "$db" --run "$run_id" \
    --device "$device" --lengths "$lengths" --samples "$samples" --batch-size "$batch" --out "$out/passkey.md"
else
  echo "passkey_eval rc=skipped (no run id in passkey_train.log)" | tee -a "$out/steps.txt"
fi
echo "== steps"
cat "$out/steps.txt"
