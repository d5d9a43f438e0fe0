"""ganops: a reproducible GAN pipeline (DVC stages, MLflow tracking, PyTorch models)."""

import os

__version__ = "0.1.0"

# The CPU kernels, pinned before torch or NumPy computes anything (each library reads its
# variable when it loads or first computes), so that any x86-64 CPU with AVX2, Intel or AMD,
# AVX2 or AVX-512, computes the same bytes: ATen's vectorised kernels and oneDNN's
# convolutions at AVX2 (they otherwise take the widest the CPU has); MKL's matrix products on
# its COMPATIBLE branch (its AVX2 setting holds on Intel CPUs only: other makers' take a branch
# of their own, which rounds otherwise); OpenBLAS (NumPy's and SciPy's, under the scores) at
# its Haswell kernels. A value already in the environment wins; ranks and stage subprocesses
# inherit them. docs/gpu.md: "Reproducibility across machines".
CPU_KERNEL_PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Haswell",
}
for _name, _value in CPU_KERNEL_PINS.items():
    os.environ.setdefault(_name, _value)
