#!/usr/bin/env bash
# The restyle task on a user's own folders (docs/style.md) on a lent GPU, at 128 and 256 px:
# bench/small_folder.py --restyle (outlines as content, filled shapes as style, CycleGAN's
# unpaired layout) through the six stages at the defaults on the GPU; then 20-odd steps of
# the same 128 px training on the machine's CPU cores for the time per step beside it;
# the 128 px run again at restyle.seed=1. Each part's JSON (stage seconds, train time,
# metrics) lands in $1 (default: .).
# Usage: bash bench/gpu_restyle_folder.sh [out-dir]
set -uo pipefail
out=${1:-.}
export PYTHONUNBUFFERED=1 PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
part() {
    local name=$1 limit=$2; shift 2
    echo "== $name (limit ${limit} s)"
    timeout "$limit" python3 bench/small_folder.py --restyle --pairs 480 "$@" 2>&1 \
        | grep -v '%|' | grep -v 'UserWarning\|^$\|Type hint' | tee "$out/$name.log" | tail -n 25
}
part restyle_folder_128_cuda 170 --size 128
part restyle_folder_256_cuda 215 --size 256
part restyle_folder_128_cpu_steps 70 --size 128 --set run.device=cpu --set evaluator.device=cpu \
    --set restyle.steps=20 --set evaluator.steps=20 --set evaluator.min_accuracy=0
