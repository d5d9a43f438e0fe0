"""The same bytes on another kind of CPU: tools/cpu_digests.py (the recorded models' outputs,
tiny translators and the default GAN after a few training steps, each memory layout, and the
evaluate stage's scores of fixed features) run
here and under QEMU's user-mode emulation of an Intel Haswell, a CPU of the other maker with
AVX2 only, must print the same digests. Emulation computes every instruction exactly as
IEEE 754 says, so it also shows that no kernel in these steps leans on the approximate
reciprocals whose last bits differ between Intel's and AMD's chips: those would round
otherwise here than under QEMU. docs/gpu.md, "Reproducibility across machines"."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from ganops import CPU_KERNEL_PINS
from tests.helpers import ROOT

pytestmark = pytest.mark.slow

TOOL = ROOT / "tools" / "cpu_digests.py"
EMULATED = "Haswell"  # Intel, AVX2 and FMA, no AVX-512
MISSING = "missing system packages: qemu-user (install them: sudo apt-get install -y qemu-user)"


def _digests(*prefix: str) -> dict[str, str]:
    """The tool's digests, run with `prefix` (an emulator) in a clean environment: ganops'
    pins as ganops sets them, torch's threads as the tool sets them."""
    env = {name: value for name, value in os.environ.items() if name not in CPU_KERNEL_PINS}
    command = [*prefix, sys.executable, str(TOOL)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_an_emulated_intel_avx2_cpu_computes_the_same_bytes() -> None:
    emulator = shutil.which("qemu-x86_64")
    if emulator is None:
        pytest.fail(MISSING)
    here = _digests()
    there = _digests(emulator, "-cpu", EMULATED)
    assert there.pop("cpu") == "AVX2"  # the emulated CPU has no AVX-512
    here.pop("cpu")
    assert there["pins"] == here["pins"] and here["aten"] == "AVX2"
    assert set(here) >= {
        "forward/mlp",
        "translator/paired",
        "translator/unpaired",
        "default/contiguous",
        "default/channels-last",
        "scores",
    }
    assert there == here
