#!/usr/bin/env bash
# The restyle task on a user's own folders (docs/style.md) on a lent GPU, at 128 and 256 px:
# bench/small_folder.py --restyle (outlines as content, filled shapes as style, CycleGAN's
# unpaired layout) through the six stages at the defaults on the GPU; then 20-odd steps of
# the same 128 px training on the machine's CPU cores for the time per step beside it;
# the 128 and 256 px runs again at restyle.seed=1. Each part's log (stage seconds, train
# time, metrics) lands in $1 (default: .); the parts after it (default: all) pick which run.
# Usage: bash bench/gpu_restyle_folder.sh [out-dir] [128 256 cpu 128_seed1 256_seed1 ...]
set -uo pipefail
out=${1:-.}
shift || true
parts=${*:-128 256 cpu 128_seed1 256_seed1}
export PYTHONUNBUFFERED=1 PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
part() {
    local name=$1 limit=$2; shift 2
    echo "== $name (limit ${limit} s)"
    timeout "$limit" python3 bench/small_folder.py --restyle --pairs 480 "$@" 2>&1 \
        | grep -v '%|' | grep -v 'UserWarning\|^$\|Type hint' | tee "$out/$name.log" | tail -n 25
}
for p in $parts; do
    case $p in
    128) part restyle_folder_128_cuda 170 --size 128 ;;
    256) part restyle_folder_256_cuda 330 --size 256 ;;
    128_seed1) part restyle_folder_128_cuda_seed1 170 --size 128 --set restyle.seed=1 ;;
    256_seed1) part restyle_folder_256_cuda_seed1 330 --size 256 --set restyle.seed=1 ;;
    cpu) part restyle_folder_128_cpu_steps 70 --size 128 --set run.device=cpu \
        --set evaluator.device=cpu --set restyle.steps=20 --set evaluator.steps=20 \
        --set evaluator.min_accuracy=0 ;;
    *) echo "unknown part: $p (128, 256, cpu, 128_seed1, 256_seed1)" >&2; exit 2 ;;
    esac
done
