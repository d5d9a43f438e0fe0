#!/usr/bin/env bash
# The pipeline itself on a lent GPU machine (no DVC there): the seven stages of the default
# on the GPU, the train stage under torchrun (NCCL, one process per GPU), the same train stage
# on the machine's CPU cores, and the translation task's stages on the GPU; each part bounded
# so the rest still runs. Spoils params.yaml and data/: run it in a throwaway copy.
# Usage: bash bench/gpu_stages.sh [out-dir]
set -uo pipefail
out=${1:-.}
source "$(dirname "$0")/gpu_part.sh"
part pipeline_cuda 180
part train_torchrun 60 --stages train --torchrun 1
part train_cpu 110 --set run.device=cpu --stages train
echo "== throughput"
timeout 80 env PYTHONPATH="src:${PYTHONPATH:-}" python3 bench/train_throughput.py --sizes 64 256 \
    --steps 20 --cpu-steps 2 2>&1 | tee "$out/throughput.md"
part translate_cuda 110 --set task=translate
