#!/usr/bin/env bash
# The GPU checks in one run, for a machine lent with a GPU: the training step's throughput at
# 28-256 px against the tutorial loop and against the same loop on the machine's CPU, each of
# the GPU switches (autocast, channels-last, compile) turned off in turn, and whether a GPU
# repeats its own bytes with and without run.deterministic. Results in $1 (default: .).
# Usage: bash bench/gpu_checks.sh [out-dir]
set -euo pipefail
out=${1:-.}
export PYTHONUNBUFFERED=1 PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 bench/train_throughput.py --sizes 64 256 --steps 20 --cpu-steps 3 --ablate \
    | tee "$out/throughput_64_256.md"
python3 bench/train_throughput.py --sizes 28 128 --steps 20 --cpu-steps 3 \
    | tee "$out/throughput_28_128.md"
python3 bench/gpu_repeat.py --size 64 --steps 40 | tee "$out/repeat.md"
