"""The same bytes on another kind of CPU: tools/cpu_digests.py (the recorded models' outputs,
tiny translators and the default GAN after a few training steps, each memory layout, and the
evaluate stage's scores of fixed features) run
here and under QEMU's user-mode emulation of an Intel Haswell, a CPU of the other maker with
AVX2 only, must print the same digests. Emulation computes every instruction exactly as
IEEE 754 says, so it also shows that no kernel in these steps leans on the approximate
reciprocals whose last bits differ between Intel's and AMD's chips: those would round
otherwise here than under QEMU. docs/gpu.md, "Reproducibility across machines".

Both runs take the tool's --quick: every model, family, layout and score, through the same
kernels, in fewer repeats. The emulated run's bound is measured here first: a multiple of
how long the native run just took, so a machine that is slow or busy gets the time it
needs, and one that hangs is stopped."""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ganops import CPU_KERNEL_PINS
from ganops.params import load_params
from tests.helpers import ROOT, load_script, run_step

pytestmark = pytest.mark.slow

TOOL = ROOT / "tools" / "cpu_digests.py"
EMULATED = "Haswell"  # Intel, AVX2 and FMA, no AVX-512
MISSING = "missing system packages: qemu-user (install them: sudo apt-get install -y qemu-user)"
NATIVE, EMULATION = "cpu_digests.py --quick", f"cpu_digests.py --quick under -cpu {EMULATED}"
# The native run took 14 s on 2 cores beside three other test runs (load 9); the bound only
# stops one that hangs.
NATIVE_BOUND_S = 600
# The emulated run took 170 s there, 12 times the native one (at load 14, 282 s: torch's
# import 64 s, the default GAN's 2 steps in 2 layouts 154 s). How fast QEMU emulates depends
# on the host far more than native code does: on a 2-core Intel Xeon (2026-11-27) the native
# run took 4.9 s alone and the emulated one 14 min 10 s alone (170 times; one 64-channel
# convolution of the GAN, 8 ms natively, 54 s emulated), and 15 min 20 s in the suite: those
# were with 2 GAN steps; --quick now takes one (the census below shows it dispatches every op
# of the full run), and the emulated run took 7 min 37 s alone there. Its bound is SLOWER
# times the native run just measured (the machine as it is now), and never under FLOOR_S:
# wide, since it only stops a run that hangs.
SLOWER, FLOOR_S = 300, 2700


def _digests(step: str, prefix: tuple[str, ...], bound_s: float) -> tuple[dict[str, str], float]:
    """The tool's --quick digests and the seconds it took, run with `prefix` (an emulator)
    in a clean environment: ganops' pins as ganops sets them, torch's threads as the tool
    sets them."""
    env = {name: value for name, value in os.environ.items() if name not in CPU_KERNEL_PINS}
    command = [*prefix, sys.executable, str(TOOL), "--quick"]
    done, seconds = run_step(step, command, bound_s, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1])), seconds


def test_an_emulated_intel_avx2_cpu_computes_the_same_bytes() -> None:
    emulator = shutil.which("qemu-x86_64")
    if emulator is None:
        pytest.fail(MISSING)
    here, native_s = _digests(NATIVE, (), NATIVE_BOUND_S)
    bound_s = max(FLOOR_S, SLOWER * native_s)  # how fast this machine is now, measured
    there, _ = _digests(EMULATION, (emulator, "-cpu", EMULATED), bound_s)
    assert there.pop("cpu") == "AVX2"  # the emulated CPU has no AVX-512
    here.pop("cpu")
    assert there["pins"] == here["pins"] and here["aten"] == "AVX2"
    assert set(here) >= {
        "forward/mlp",
        "translator/paired",
        "translator/unpaired",
        "translator/cut",
        "default/contiguous",
        "default/channels-last",
        "scores",
    }
    assert there == here


class _Census(TorchDispatchMode):
    """Every ATen op torch dispatches, with each tensor argument's dtype, shape and layout
    (not torchvision's query of its CUDA version when it is first imported)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, tuple[tuple[str, tuple[int, ...], str], ...]]] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        tensors = [t for t in tree_flatten((args, kwargs or {}))[0] if isinstance(t, torch.Tensor)]
        if str(func).startswith("aten."):
            self.seen.add(
                (str(func), tuple((str(t.dtype), tuple(t.shape), _layout(t)) for t in tensors))
            )
        return func(*args, **(kwargs or {}))


def _layout(tensor: torch.Tensor) -> str:
    if tensor.is_contiguous():
        return "contiguous"
    channels_last = tensor.dim() == 4 and tensor.is_contiguous(memory_format=torch.channels_last)
    return "channels-last" if channels_last else "strided"


def test_the_quick_run_computes_through_every_kernel_of_the_full_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python tools/cpu_digests.py` and its --quick (in this process): the same digests
    named, and the quick run's fewer steps and images dispatch every op of the full run, on
    the same dtypes, shapes and memory layouts; only the random data sets drawn before
    training (10 images a translator, 3 batches of the GAN) are the full run's alone. (The
    scores differ only in how many KID subsets one loop draws.)"""
    tool = load_script("tools", "cpu_digests")
    threads = torch.get_num_threads()
    printed, seen = {}, {}
    try:
        for argv in ([], ["--quick"]):
            with _Census() as census:
                assert tool.main(argv) == 0
            printed[bool(argv)] = json.loads(capsys.readouterr().out)
            seen[bool(argv)] = census.seen
    finally:
        torch.set_num_threads(threads)  # the tool computes on one
    assert set(printed[True]) == set(printed[False])
    full_data = {10, 3 * load_params(ROOT / "params.yaml").train.batch_size}
    missed = {
        (op, tensors)
        for op, tensors in seen[False] - seen[True]
        if not any(shape and shape[0] in full_data for _, shape, _ in tensors)
    }
    assert not missed, sorted(missed)[:10]
