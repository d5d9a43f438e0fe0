#!/usr/bin/env bash
# The restyle task (docs/style.md) on a lent GPU: its seven stages' inputs, then the restyler
# trained, sampled and scored on the GPU; one epoch of the same training on the machine's CPU
# cores for the time per step; and a four-times-longer restyler on the GPU, to see
# whether the style targets the CPU default misses move with compute. Spoils params.yaml and
# data/: run it in a throwaway copy.
# Usage: bash bench/gpu_restyle.sh [out-dir]
set -uo pipefail
out=${1:-.}
source "$(dirname "$0")/gpu_part.sh"
part restyle_inputs 70 --set task=restyle --stages fetch preprocess train_evaluator
part restyle_cuda 150 --set task=restyle --stages train sample evaluate
cp data/eval/metrics.json "$out/restyle_cuda_metrics.json"
part restyle_cpu_1epoch 60 --set task=restyle --set restyle.epochs=1 --set run.device=cpu --stages train
part restyle_cuda_long 210 --set task=restyle --set restyle.epochs=40 \
    --stages train sample evaluate
cp data/eval/metrics.json "$out/restyle_cuda_long_metrics.json"
