#!/usr/bin/env bash
# The GPU runs that bench/gpu_stages.sh's bounds cut short, run to the end: the train stage
# under torchrun (NCCL, one process) for all its epochs, then sample and evaluate from what it
# wrote; the translation task through `evaluate`; and the train stage with `run.compile=on`
# on the GPU beside it. Spoils params.yaml and data/: run it in a throwaway copy.
# Usage: bash bench/gpu_complete.sh [out-dir]
set -uo pipefail
out=${1:-.}
source "$(dirname "$0")/gpu_part.sh"
part inputs 60 --stages fetch preprocess train_evaluator
part train_torchrun 170 --stages train --torchrun 1
part after_torchrun 70 --stages sample evaluate
part translate_cuda 170 --set task=translate --stages fetch preprocess train_evaluator train \
    sample evaluate
part train_compile 110 --set run.compile=on --stages fetch preprocess train_evaluator train
