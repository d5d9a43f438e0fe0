#!/usr/bin/env bash
# On a lent GPU machine: the downstream classifiers' step on the GPU (one after another, grouped,
# vmap) beside the machine's own CPU, then GAN recipes screened on its 16 CPU cores, 8 runs of
# 2 threads at a time (bench/recipe_screen.py; the default beside them as the calibration).
# Usage: bash bench/gpu_screen.sh [out-dir] RECIPE...
set -uo pipefail
out=${1:-.}; shift
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
lscpu | grep -E 'Model name|^CPU\(s\)|Flags' | cut -c1-200 | tee -a "$out/gpu.txt"
{
    timeout 60 python3 bench/downstream_together.py --device cuda --steps 20 --markdown
    timeout 60 python3 bench/downstream_together.py --steps 5 --markdown
} 2>&1 | tee "$out/downstream_together.md"
rm -rf /tmp/screen
timeout "${SCREEN_S:-460}" python3 bench/recipe_screen.py --out /tmp/screen --jobs 8 --threads 2 \
    --limit 330 "$@" 2>&1 | tee "$out/screen.md"
cp /tmp/screen/screen.jsonl "$out/" 2>/dev/null
tail -n 30 /tmp/screen/runs/*-seed0/screen.log 2>/dev/null | grep -iE 'error|Traceback|stopped' | head
