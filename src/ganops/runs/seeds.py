"""Seeds: every random stream of a run derived from the task's one seed, so adding a stream
never shifts another and resume can rebuild each of them."""

from __future__ import annotations

from typing import Literal

import numpy as np

GLOBAL_STREAMS = 1000  # Python's and NumPy's global generators, apart from every task's streams


def derived_seed(seed: int, stream: int, *keys: int, bits: Literal[32, 63] = 63) -> int:
    """The seed of one random stream of a run (`stream`, and an epoch, a step or a rank in
    `keys`): the first word of NumPy's `SeedSequence` of them, or with `bits=63` the first
    two combined. The GAN seeds its streams with 63 bits, the translator with 32 (the
    bytes each was recorded with)."""
    words = np.random.SeedSequence([seed, stream, *keys]).generate_state(2, np.uint32)
    if bits == 32:
        return int(words[0])
    return (int(words[0]) << 31) ^ int(words[1])
