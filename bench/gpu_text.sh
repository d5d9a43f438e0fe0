#!/usr/bin/env bash
# The text task on a lent GPU for a user's captioned folder (bench/text_folder.py's shapes):
# the six stages at 64 and 128 px on the GPU at the default text.steps, then 20 steps of the
# same 128 px training on the machine's CPU cores for the time per step beside it, and the
# 128 px run again at text.seed=1.
# Each part's JSON (stage seconds, the evaluate table) and log tail land in $1 (default: .).
# Usage: bash bench/gpu_text.sh [out-dir]
set -uo pipefail
out=${1:-.}
export PYTHONUNBUFFERED=1 PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
part() {
    local name=$1 limit=$2; shift 2
    echo "== $name (limit ${limit} s)"
    timeout "$limit" python3 bench/text_folder.py "$@" 2>&1 | grep -v '%|' \
        | grep -v '^ *[0-9.]*it/s' | tail -n 60 | tee "$out/$name.md"
}
part text_folder_64_cuda 170 --images 480 --size 64
part text_folder_128_cuda 220 --images 480 --size 128
part text_folder_128_cpu_20steps 100 --images 480 --size 128 --set run.device=cpu \
    --set evaluator.device=cpu --set text.steps=20 --set evaluator.steps=20 \
    --set evaluator.min_accuracy=0
part text_folder_128_cuda_seed1 230 --images 480 --size 128 --set text.seed=1
