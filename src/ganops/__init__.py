"""ganops: a reproducible GAN pipeline (DVC stages, MLflow tracking, PyTorch models)."""

import os

__version__ = "0.1.0"

# The CPU kernels' instruction set, pinned before torch computes anything (each library reads
# its variable at its first call): ATen's vectorised kernels, oneDNN's convolutions and MKL's
# BLAS otherwise each take the widest the CPU has. ATen and oneDNN then give the same bytes on
# AVX2 and AVX-512 machines; MKL honours its pin on Intel CPUs only, so linear layers still
# round per kind of CPU. A value already in the environment wins; ranks and stage subprocesses
# inherit them. docs/gpu.md: "Reproducibility across machines".
CPU_KERNEL_PINS = {"ATEN_CPU_CAPABILITY": "avx2", "DNNL_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
for _name, _value in CPU_KERNEL_PINS.items():
    os.environ.setdefault(_name, _value)
