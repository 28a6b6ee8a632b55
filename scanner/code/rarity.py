"""How much a shared fingerprint says about where code comes from: its rarity in a corpus.

A k-gram that hundreds of corpus files hold (`self.I = I(I.I, I.I)` in every model) says
nothing about which one a file was copied from; one that a single file holds says much.
The rarity of a fingerprint held by `df` of a corpus's `files` files is log(files / df) /
log(files): 1 for one file, 0 for every file (an inverse document frequency on a 0-1
scale, so that evidence from corpora of different sizes adds up the same way).
"""

from __future__ import annotations

import math

import numpy as np


def rarity(df: np.ndarray, files: int) -> np.ndarray:
    n = max(files, 2)
    d = np.maximum(df.astype(np.float64), 1.0)
    return np.clip(np.log(n / d) / math.log(n), 0.0, 1.0)
