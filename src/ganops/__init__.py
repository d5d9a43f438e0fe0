"""ganops: a reproducible GAN pipeline (DVC stages, MLflow tracking, PyTorch models)."""

import os

__version__ = "0.1.0"

# The CPU kernels, pinned before torch or NumPy computes anything (each library reads its
# variable when it loads or first computes), so that any x86-64 CPU with AVX2, Intel or AMD,
# AVX2 or AVX-512, computes the same bytes: ATen's vectorised kernels and oneDNN's
# convolutions at AVX2 (they otherwise take the widest the CPU has); MKL's matrix products on
# its COMPATIBLE branch (its AVX2 setting holds on Intel CPUs only: other makers' take a branch
# of their own, which rounds otherwise); OpenBLAS (NumPy's and SciPy's, under the scores) at
# its Haswell kernels; NumPy's own loops without their AVX-512 versions (its reductions sum in
# another order there: KID's last digit moved). A value already in the environment wins;
# ranks and stage subprocesses inherit them. docs/gpu.md: "Reproducibility across machines".
CPU_KERNEL_PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
}


def _lacks_avx2(cpuinfo_path: str = "/proc/cpuinfo") -> bool:
    """True on an x86-64 CPU without AVX2 (before 2013); Linux's cpuinfo tells, and where
    there is none, False."""
    try:
        with open(cpuinfo_path, encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError:
        return False
    return bool(flags) and "avx2" not in flags.split()


def pins_for(cpuinfo_path: str = "/proc/cpuinfo") -> dict[str, str]:
    """The pins this CPU can take. Without AVX2, which the promise of the same bytes does not
    cover, ATen and OpenBLAS made to run AVX2 kernels die of an illegal instruction (seen
    under QEMU's emulated Westmere), so they keep their own; oneDNN's, MKL's and NumPy's pins
    are ceilings and stay."""
    if not _lacks_avx2(cpuinfo_path):
        return dict(CPU_KERNEL_PINS)
    kept = ("DNNL_MAX_CPU_ISA", "MKL_CBWR", "NPY_DISABLE_CPU_FEATURES")
    return {name: value for name, value in CPU_KERNEL_PINS.items() if name in kept}


for _name, _value in pins_for().items():
    os.environ.setdefault(_name, _value)
